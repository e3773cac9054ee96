"""``deepgrad train`` on several processes (``--nproc`` and ``mpiexec``), as real subprocesses: the accuracy
of one process, rank 0 alone writing, figures of the whole data, resume on the same and on other numbers of
processes, signals and failures ending every rank."""
import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.cli import main
from deepgrad.train import parallel

from test_distributed import PROGRAMS, mpirun, needs_mpi

pytest.importorskip("sklearn", reason="the digits dataset comes with scikit-learn")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = ["--epochs", "3", "--quiet", "--no-plots"]


def deepgrad(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "deepgrad", "train", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def ok(result):
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def log(folder):
    """The epochs of a run's log, without their timings."""
    records = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("seconds", "samples_per_s")} for r in records]


def metadata(path):
    return dg.train.load_checkpoint(path).metadata


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    """A 3-epoch run on 2 processes of 16 images each, and its printout."""
    out = tmp_path_factory.mktemp("nproc") / "two"
    return out, ok(deepgrad("--nproc", "2", "--batch-size", "16", "--out", str(out), *RUN))


@needs_mpi
@pytest.mark.slow
def test_two_processes_reach_the_accuracy_of_one(two, tmp_path):
    out, printed = two
    assert main(["train", "--batch-size", "32", "--out", str(tmp_path / "one"), *RUN]) == 0
    alone = json.loads((tmp_path / "one" / "report.json").read_text())["test_accuracy"]
    assert json.loads((out / "report.json").read_text())["test_accuracy"] >= alone - 0.02 > 0.85
    assert "batch 16 per process, global batch 32" in printed
    assert printed.count("training lenet5 on digits") == 1 and printed.count("epoch   3") == 1


@needs_mpi
@pytest.mark.slow
def test_rank_zero_alone_writes_and_reports_the_whole_test_set(two, capsys):
    out, _ = two
    assert sorted(os.listdir(out)) == ["checkpoints", "config.json", "log.jsonl", "report.json"]
    assert sorted(os.listdir(out / "checkpoints")) == ["best.safetensors", "epoch-002.safetensors",
                                                       "epoch-003.safetensors", "latest.json"]
    assert [r["epoch"] for r in log(out)] == [1, 2, 3]
    # 1294 images in shards of 647, 41 batches of 16 per epoch
    assert metadata(out / "checkpoints" / "epoch-003.safetensors")["step"] == 3 * 41
    report = json.loads((out / "report.json").read_text())
    assert sum(map(sum, report["confusion"])) == 359
    assert main(["evaluate", str(out / "checkpoints" / "epoch-003.safetensors")]) == 0
    printed = capsys.readouterr().out
    assert f"test accuracy {report['test_accuracy']:.4f}" in printed and f"loss {report['test_loss']:.4f}" in printed
    model, config = dg.train.run.load_run(out / "checkpoints" / "epoch-003.safetensors")
    one = dg.train.Trainer(model, None, None, progress=False)
    test = dg.train.run.with_transform(dg.data.digits(train=False), dg.train.recipes.preprocessing(
        tuple(config["in_shape"]), tuple(config["input"]), config["mean"], config["std"]))
    alone = one.evaluate(dg.data.DataLoader(test, batch_size=512), 10)
    assert abs(alone["loss"] - report["test_loss"]) < 1e-5
    assert alone["accuracy"] == report["test_accuracy"] and alone["top5_accuracy"] == report["top5_accuracy"]
    assert alone["confusion"].tolist() == report["confusion"]


def _cut_after_epoch_2(source, target):
    """A copy of a finished run as a kill right after its second epoch's checkpoint would leave it."""
    shutil.copytree(source, target)
    (target / "report.json").unlink()
    (target / "checkpoints" / "latest.json").write_text(json.dumps({"checkpoint": "epoch-002.safetensors"}))
    return target


@needs_mpi
@pytest.mark.slow
@pytest.mark.parametrize("n, steps", [(2, 41), (1, 81), (3, 27)])
def test_resume_on_the_same_and_other_numbers_of_processes(two, tmp_path, n, steps):
    """Epoch 3 continues from epoch 2's weights on n processes: 1294 images in n shards of batches of 16."""
    out, _ = two
    cut = _cut_after_epoch_2(out, tmp_path / "cut")
    printed = ok(deepgrad("--nproc", str(n), "--resume", str(cut), "--quiet", "--no-plots"))
    assert "resuming" in printed and printed.count("epoch   3") == 1
    assert log(cut)[:2] == log(out)[:2]
    last = metadata(cut / "checkpoints" / "epoch-003.safetensors")
    assert last["step"] == 2 * 41 + steps and last.get("world_size", 1) == n
    if n == 2:                # the same number of processes continues exactly
        assert log(cut) == log(out)
        ours = dg.load(cut / "checkpoints" / "epoch-003.safetensors")["model"]
        theirs = dg.load(out / "checkpoints" / "epoch-003.safetensors")["model"]
        assert all(np.array_equal(ours[k].numpy(), theirs[k].numpy()) for k in theirs)
    else:
        assert log(cut)[2] != log(out)[2] and log(cut)[2]["train_accuracy"] > 0.8


@needs_mpi
@pytest.mark.slow
def test_sigterm_stops_every_rank_and_the_run_resumes(two, tmp_path):
    out, _ = two
    stopped = tmp_path / "stopped"
    env = dict(os.environ, PYTHONPATH=ROOT)
    process = subprocess.Popen([sys.executable, "-m", "deepgrad", "train", "--nproc", "2", "--batch-size", "16",
                                "--out", str(stopped), *RUN], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=ROOT)
    while not (stopped / "log.jsonl").exists() and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stdout + stderr
    assert "SIGTERM: saved" in stdout and stdout.count("continue with") == 1
    pointer = json.loads((stopped / "checkpoints" / "latest.json").read_text())
    assert pointer == {"checkpoint": "interrupted.safetensors"}
    assert metadata(stopped / "checkpoints" / "interrupted.safetensors")["epoch"] == 1
    elsewhere = shutil.copytree(stopped, tmp_path / "elsewhere")
    ok(deepgrad("--nproc", "2", "--resume", str(stopped), "--quiet", "--no-plots"))
    assert log(stopped) == log(out)            # exactly the uninterrupted run
    printed = ok(deepgrad("--nproc", "3", "--resume", str(elsewhere), "--quiet", "--no-plots"))
    assert "stopped inside epoch 2 on 2 process(es); on 3 that epoch starts again" in printed
    assert log(elsewhere)[0] == log(out)[0] and len(log(elsewhere)) == 3
    assert metadata(elsewhere / "checkpoints" / "epoch-003.safetensors")["step"] == 41 + 2 * 27


@needs_mpi
@pytest.mark.parametrize("how", ["raise", "exit"])
def test_a_failing_rank_ends_the_job(tmp_path, how):
    start = time.monotonic()
    result = mpirun(2, "cli_fault.py", how, str(tmp_path / "run"), timeout=60)
    assert time.monotonic() - start < 60
    assert result.returncode != 0
    assert "test accuracy" not in result.stdout
    if how == "raise":
        assert result.stderr.count("ZeroDivisionError: rank 1 fails on purpose") == 1, result.stderr
        assert "[rank 1] Traceback" in result.stderr


def test_nproc_one_trains_here_and_a_wrong_count_is_refused(tmp_path, monkeypatch):
    assert parallel.launch(1, []) is None and parallel.world().size == 1
    monkeypatch.setenv("PMI_SIZE", "4")
    with pytest.raises(ValueError, match="--nproc 2 was given but the MPI launcher started 4 processes"):
        parallel.launch(2, [])


@pytest.mark.parametrize("missing", ["mpiexec", "mpi4py"])
def test_nproc_without_mpi_names_the_extra(tmp_path, monkeypatch, capsys, missing):
    if missing == "mpiexec":
        monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
        monkeypatch.setenv("PATH", str(tmp_path))
    else:
        monkeypatch.setitem(sys.modules, "mpi4py", None)
    assert main(["train", "--nproc", "2", "--out", str(tmp_path / "run")]) == 2
    printed = capsys.readouterr().err
    assert missing in printed and 'pip install "deepgrad[mpi]"' in printed
    assert not (tmp_path / "run").exists()


def test_the_scaling_page_runs_the_ring_model():
    """docs/distributed.md's executed blocks (run by markdown-exec at site build) print both tables and the plot."""
    pytest.importorskip("matplotlib")
    with open(os.path.join(ROOT, "docs", "distributed.md"), encoding="utf-8") as f:
        blocks = re.findall(r'```python exec="on"[^\n]*\n(.*?)```', f.read(), re.S)
    ns, printed = {"__name__": "__main__"}, io.StringIO()
    with contextlib.redirect_stdout(printed):
        for code in blocks:
            exec(code, ns)
    assert printed.getvalue().count("| 64 |") == 2 and "<svg" in printed.getvalue()
    assert ns["allreduce"](2, 8e6, 1e9, 0.0) == pytest.approx(8e-3)           # n/B at p = 2
    assert ns["allreduce"](4, 8e6, 1e9, 1e-6) == pytest.approx(12e-3 + 6e-6)  # 2(p-1)/p·n/B + 2(p-1)·α
    assert ns["efficiency"](1.0, 0.5) == pytest.approx(1 / (1.5 - 0.5 * ns["F"]))    # f of it hidden
    assert ns["efficiency"](1.0, 3.0) == pytest.approx(1 / (4 - 2 / 3))          # at most the backward hides
