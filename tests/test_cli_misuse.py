"""The ``deepgrad`` command under misuse (issue 18), run as a real command in subprocesses: nothing saved
is overwritten without --overwrite, nonsense options are refused before anything is written, kills
(SIGKILL at each save point, SIGTERM, a double Ctrl-C) lose nothing and resume to the uninterrupted
run's numbers, damaged files and full disks give errors naming the file, never tracebacks.
Faults are injected at exact points by tests/cli_faults/sitecustomize.py, not by timing."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

PIL = pytest.importorskip("PIL.Image")
FAULTS = os.path.join(os.path.dirname(__file__), "cli_faults")
RUN = ["--model", "mlp", "--epochs", "3", "--batch-size", "8", "--quiet", "--no-plots"]


def deepgrad(*args, cwd=None, fault=None, **kwargs):
    """Run the real command; returns the CompletedProcess (text)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([FAULTS, os.getcwd()]),
               PYTHONWARNINGS="error::RuntimeWarning")          # no NumPy warning may leak out of deepgrad
    if fault:
        env["DEEPGRAD_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "deepgrad", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300, **kwargs)


def _image(path, value, size=(8, 8), mode="L"):
    rng = np.random.default_rng(abs(hash(str(path))) % 2**32)
    shape = size[::-1] + ((3,) if mode == "RGB" else ())
    pixels = np.clip(value + rng.integers(-40, 40, shape), 0, 255).astype(np.uint8)
    PIL.fromarray(pixels, mode).save(path)
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Three classes of 12 grey 8x8 images each, told apart by brightness."""
    root = tmp_path_factory.mktemp("images") / "shapes"
    for c, value in (("dark", 40), ("mid", 128), ("light", 215)):
        (root / c).mkdir(parents=True)
        for i in range(12):
            _image(root / c / f"{i:02d}.png", value)
    return root


@pytest.fixture(scope="module")
def reference(folder, tmp_path_factory):
    """An uninterrupted run: the numbers every interrupted-and-resumed run must reproduce."""
    out = tmp_path_factory.mktemp("ref") / "run"
    result = deepgrad("train", "--data", folder, "--out", out, *RUN)
    assert result.returncode == 0, result.stderr
    return out


def _log(run):
    return [{k: v for k, v in json.loads(line).items() if k not in ("seconds", "samples_per_s")}
            for line in (run / "log.jsonl").read_text().splitlines()]


def _no_traceback(result):
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


def _contents(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_bare_command_prints_help_instead_of_training(tmp_path):
    result = deepgrad(cwd=tmp_path)
    assert result.returncode == 2 and "usage: deepgrad" in result.stdout and "train" in result.stdout
    assert os.listdir(tmp_path) == []


def test_nonsense_options_are_refused_before_anything_is_written(tmp_path, folder):
    cases = {("train", "--epochs", "0"): "--epochs: expected an integer >= 1, got 0",
             ("train", "--epochs", "-1"): "--epochs: expected an integer >= 1, got -1",
             ("train", "--batch-size", "0"): "--batch-size: expected an integer >= 1",
             ("train", "--val-fraction", "1"): "val_fraction must be in [0, 1), got 1.0",
             ("train", "--val-fraction", "-0.1"): "val_fraction must be in [0, 1), got -0.1",
             ("train", "--clip", "0"): "clip (the largest gradient norm) must be a number > 0, got 0.0",
             ("train", "--clip", "-1"): "must be a number > 0, got -1.0",
             ("train", "--early-stopping", "0"): "--early-stopping: expected an integer >= 1, got 0",
             ("train", "--early-stopping", "2", "--val-fraction", "0"): "early_stopping watches the validation loss",
             ("train", "--data", folder / "dark"): "has no class sub-folders",
             ("predict", "x.safetensors", "a.png", "--top", "0"): "--top: expected an integer >= 1, got 0",
             ("predict", "x.safetensors", "a.png", "--top", "-1"): "--top: expected an integer >= 1, got -1",
             ("summary", "lenet5", "--input-shape", "1", "32", "32"): "lenet5 takes inputs of (C, H, W) = (any, 28, 28)",
             ("evaluate", tmp_path / "nowhere"): "no such checkpoint file or run folder"}
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    procs = {args: subprocess.Popen([sys.executable, "-m", "deepgrad", *map(str, args)], cwd=tmp_path, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for args in cases}
    for args, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 2, (args, err)
        assert cases[args] in err and "Traceback" not in err, (args, err)
    assert os.listdir(tmp_path) == []              # no run folder started


def test_summary_builds_the_model_for_the_given_input_shape():
    result = deepgrad("summary", "mlp", "--input-shape", "1", "16", "16")
    assert result.returncode == 0 and "Total params: 213,610" in result.stdout   # 256*800+800 + 800*10+10


def test_an_empty_class_folder_is_refused_not_made_a_class(tmp_path, folder):
    import shutil
    shutil.copytree(folder, tmp_path / "data")
    (tmp_path / "data" / "empty").mkdir()
    result = deepgrad("train", "--data", tmp_path / "data", "--out", tmp_path / "run", *RUN)
    assert result.returncode == 2 and "the class folder" in result.stderr and "empty has no images" in result.stderr
    _no_traceback(result)


@pytest.mark.slow
def test_out_never_overwrites_a_run_without_overwrite(tmp_path, folder):
    run = tmp_path / "run"
    assert deepgrad("train", "--data", folder, "--out", run, *RUN).returncode == 0
    before = _contents(run)
    again = deepgrad("train", "--data", folder, "--out", run, *RUN, "--epochs", "1")
    assert again.returncode == 2 and "already exists and is not empty: pass --overwrite" in again.stderr
    assert _contents(run) == before
    (run / "stale.txt").write_text("from the old run")
    replaced = deepgrad("train", "--data", folder, "--out", run, *RUN[:2], "--epochs", "1", "--quiet",
                        "--no-plots", "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert [r["epoch"] for r in _log(run)] == [1] and not (run / "stale.txt").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    refused = deepgrad("train", "--data", folder, "--out", mine, *RUN, "--overwrite")
    assert refused.returncode == 2 and "is not a run folder" in refused.stderr
    assert (mine / "notes.txt").read_text() == "precious"


@pytest.mark.slow
def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path, folder):
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    args = [sys.executable, "-m", "deepgrad", "train", "--data", str(folder), *RUN[:2], "--epochs", "1",
            "--quiet", "--no-plots"]
    procs = [subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2 and all([r["epoch"] for r in _log(run)] == [1] for run in runs)


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["kill:epoch-002.safetensors:1",   # epoch 2 logged, not saved
                                   "kill:latest.json:2",             # epoch 2 saved, latest.json not updated
                                   "kill:latest.json:3",             # all epochs saved, no report yet
                                   "kill:report.json:1"])
def test_kill_9_at_every_save_point_then_resume_equals_the_uninterrupted_run(tmp_path, folder, reference, fault):
    run = tmp_path / "run"
    killed = deepgrad("train", "--data", folder, "--out", run, *RUN, fault=fault)
    assert killed.returncode == -signal.SIGKILL
    resumed = deepgrad("train", "--resume", run, "--quiet", "--no-plots")
    assert resumed.returncode == 0, resumed.stderr
    assert _log(run) == _log(reference)                        # every epoch once, same numbers
    assert json.loads((run / "report.json").read_text())["test_accuracy"] == \
        json.loads((reference / "report.json").read_text())["test_accuracy"]
    assert not [p for p in run.rglob(".tmp-*")]


@pytest.mark.slow
def test_sigterm_saves_like_ctrl_c_and_resume_equals_the_uninterrupted_run(tmp_path, folder, reference):
    run = tmp_path / "run"
    stopped = deepgrad("train", "--data", folder, "--out", run, *RUN, fault="signal:SIGTERM:6")
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr
    assert f"SIGTERM: saved {run}/checkpoints/interrupted.safetensors; continue with: deepgrad train --resume " \
           f"{run}" in stopped.stdout
    resumed = deepgrad("train", "--resume", run, "--quiet", "--no-plots")
    assert resumed.returncode == 0 and "resuming" in resumed.stdout
    assert _log(run) == _log(reference)


@pytest.mark.slow
def test_double_ctrl_c_before_the_first_checkpoint_says_so_and_its_resume_command_works(tmp_path, folder, reference):
    run = tmp_path / "run"
    stopped = deepgrad("train", "--data", folder, "--out", run, *RUN, fault="signal:SIGINT:2,2")
    assert stopped.returncode == 130 and "None" not in stopped.stdout
    assert "stopped before the first checkpoint, nothing trained is saved" in stopped.stdout
    command = stopped.stdout.strip().rsplit("start again with: ", 1)[1].split()
    assert command == ["deepgrad", "train", "--resume", str(run)]
    resumed = deepgrad(*command[1:], "--quiet", "--no-plots")
    assert resumed.returncode == 0, resumed.stderr
    assert _log(run) == _log(reference)


@pytest.mark.slow
def test_run_files_are_readable_as_the_log_is(reference):
    log_mode = (reference / "log.jsonl").stat().st_mode & 0o777
    for name in ("config.json", "report.json", "checkpoints/best.safetensors", "checkpoints/latest.json"):
        assert (reference / name).stat().st_mode & 0o777 == log_mode, name


@pytest.mark.slow
def test_resume_refuses_changed_options_and_finished_runs(reference):
    changed = deepgrad("train", "--resume", reference, "--epochs", "5")
    assert changed.returncode == 2 and "keeps the options it was started with: epochs=5 (the run has 3)" in changed.stderr
    same = deepgrad("train", "--resume", reference, "--epochs", "3")
    assert same.returncode == 2 and "is finished (it has its report.json): nothing to resume" in same.stderr


@pytest.mark.slow
def test_report_gives_the_last_and_best_weights_and_evaluate_takes_the_folder(reference, tmp_path):
    report = json.loads((reference / "report.json").read_text())
    config = json.loads((reference / "config.json").read_text())
    assert report["weights"] == "last epoch" and report["best"]["checkpoint"] == "checkpoints/best.safetensors"
    best_epoch = max(_log(reference), key=lambda r: r["val_accuracy"])["epoch"]     # first of the highest
    assert report["best"]["epoch"] == best_epoch
    assert os.path.isabs(config["data"])
    result = deepgrad("evaluate", reference, cwd=tmp_path)                 # another folder: the data path holds
    assert result.returncode == 0, result.stderr
    assert f"test accuracy {report['best']['test_accuracy']:.4f}" in result.stdout
    last = deepgrad("evaluate", reference / "checkpoints" / "epoch-003.safetensors", cwd=tmp_path)
    assert f"test accuracy {report['test_accuracy']:.4f}" in last.stdout


@pytest.mark.slow
def test_predict_takes_the_training_images_and_shows_at_most_every_class(reference, folder):
    image = folder / "dark" / "00.png"                     # grey, as trained on (converted to RGB by ImageFolder)
    result = deepgrad("predict", reference, image, "--top", "20")
    assert result.returncode == 0, result.stderr
    assert sorted(c.split(":")[0] for c in result.stdout.split("(")[1].split(", ")) == ["dark", "light", "mid"]


@pytest.mark.slow
def test_unreadable_and_odd_sized_images_are_skipped_up_front_with_a_count(tmp_path, folder):
    import shutil
    shutil.copytree(folder, tmp_path / "data")
    (tmp_path / "data" / "mid" / "broken.png").write_bytes(b"not a png")
    _image(tmp_path / "data" / "light" / "big.png", 200, size=(9, 8))
    result = deepgrad("train", "--data", tmp_path / "data", "--out", tmp_path / "run", *RUN[:2], "--epochs", "1",
                      "--quiet", "--no-plots")
    assert result.returncode == 0, result.stderr
    warning = result.stdout.splitlines()[0]
    assert warning.startswith("skipped 2 of 38 images") and "1 unreadable, 1 not 8x8 like the others" in warning
    assert "broken.png" in warning


@pytest.mark.slow
def test_a_full_disk_is_an_error_naming_the_file_not_a_traceback(tmp_path, folder):
    import resource

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, resource.RLIM_INFINITY))   # Python ignores SIGXFSZ
    run = tmp_path / "run"
    result = deepgrad("train", "--data", folder, "--out", run, *RUN, preexec_fn=small_files)
    assert result.returncode == 1
    assert "deepgrad train: the run failed: File too large" in result.stderr and "epoch-001.safetensors" in result.stderr
    _no_traceback(result)
    assert not [p for p in run.rglob(".tmp-*")]


@pytest.mark.slow
def test_damaged_run_files_are_errors_naming_the_file(reference, tmp_path):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    (run / "report.json").unlink()
    (run / "checkpoints" / "latest.json").write_text("{garbage")
    result = deepgrad("train", "--resume", run)
    assert result.returncode == 2 and f"{run}/checkpoints/latest.json is damaged" in result.stderr
    config = json.loads((run / "config.json").read_text())
    del config["lr"], config["mean"]
    (run / "config.json").write_text(json.dumps(config))
    result = deepgrad("train", "--resume", run)
    assert result.returncode == 2 and "config.json: the run configuration lacks lr, mean" in result.stderr
    _no_traceback(result)


@pytest.mark.slow
def test_export_checks_the_opset_and_never_overwrites(reference, tmp_path):
    pytest.importorskip("onnx")
    target = tmp_path / "m.onnx"
    bad = deepgrad("export", reference, "--onnx", target, "--opset", "99")
    assert bad.returncode == 2 and "opset must be an integer from 13 to" in bad.stderr and not target.exists()
    assert deepgrad("export", reference, "--onnx", target).returncode == 0
    data = target.read_bytes()
    again = deepgrad("export", reference, "--onnx", target, "--opset", "13")
    assert again.returncode == 2 and "already exists: pass --overwrite" in again.stderr and target.read_bytes() == data
    assert deepgrad("export", reference, "--onnx", target, "--opset", "13", "--overwrite").returncode == 0


@pytest.mark.slow
def test_threads_option_sets_the_threads_the_run_uses(tmp_path, folder):
    run = tmp_path / "run"
    result = deepgrad("train", "--data", folder, "--out", run, *RUN[:2], "--epochs", "1", "--quiet", "--no-plots",
                      "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert json.loads((run / "report.json").read_text())["threads"] == 1
    assert "--threads N" in deepgrad("train", "--help").stdout
