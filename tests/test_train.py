"""The training loop: learning, exact resume (after an epoch or an interruption part-way), NaN stops,
checkpoints that are never half-written."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn
from deepgrad.data import DataLoader, TensorDataset
from deepgrad.train import NonFiniteLoss, Trainer, load_checkpoint, save_checkpoint


def _problem(n=192, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(np.int64) + 2 * (x[:, 3] > 0.5)
    return TensorDataset(dg.tensor(x), dg.tensor(y))


def _trainer(out_dir, seed=0, epochs_data=None, **kwargs):
    dg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 4))
    optimizer = dg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = dg.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    loader = DataLoader(_problem(), batch_size=16, shuffle=True, prefetch=0)
    val = DataLoader(_problem(64, seed=1), batch_size=32)
    return Trainer(model, optimizer, loader, val, scheduler=scheduler, out_dir=out_dir, progress=False, **kwargs)


def _metrics(history):
    return [{k: v for k, v in r.items() if k not in ("seconds", "samples_per_s")} for r in history]


def _weights(trainer):
    return {k: v.numpy().copy() for k, v in trainer.model.state_dict().items()}


def test_training_learns_and_logs_every_epoch(tmp_path):
    trainer = _trainer(str(tmp_path))
    history = trainer.fit(6)
    assert history[-1]["train_loss"] < 0.6 * history[0]["train_loss"]
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4, 5, 6]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "samples_per_s"} <= set(json.loads(lines[0]))
    files = sorted(os.listdir(tmp_path / "checkpoints"))
    assert files == ["best.safetensors", "epoch-005.safetensors", "epoch-006.safetensors", "latest.json"]


def test_resume_after_an_epoch_equals_the_uninterrupted_run(tmp_path):
    full = _trainer(str(tmp_path / "full"))
    full.fit(4)
    first = _trainer(str(tmp_path / "split"))
    first.fit(2)
    second = _trainer(str(tmp_path / "split"), seed=123).resume()   # different seed: all state comes from the checkpoint
    second.fit(4)
    assert _metrics(second.history) == _metrics(full.history)
    for k, v in _weights(full).items():
        np.testing.assert_array_equal(_weights(second)[k], v)


def test_interrupt_mid_epoch_saves_and_resume_is_exact(tmp_path, monkeypatch):
    full = _trainer(str(tmp_path / "full"))
    full.fit(3)
    trainer = _trainer(str(tmp_path / "split"))
    real_step, calls = Trainer._train_step, {"n": 0}

    def interrupting_step(self, x, y):
        calls["n"] += 1
        if calls["n"] == 17:   # Ctrl-C part-way through epoch 2 (12 batches per epoch), during a step
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(self, x, y)

    monkeypatch.setattr(Trainer, "_train_step", interrupting_step)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(3)
    monkeypatch.setattr(Trainer, "_train_step", real_step)
    pointer = json.loads((tmp_path / "split" / "checkpoints" / "latest.json").read_text())
    assert pointer["checkpoint"] == "interrupted.safetensors"
    resumed = _trainer(str(tmp_path / "split"), seed=7).resume()
    resumed.fit(3)
    for k, v in _weights(full).items():
        np.testing.assert_array_equal(_weights(resumed)[k], v)
    assert resumed.history[-1]["train_loss"] == pytest.approx(full.history[-1]["train_loss"], rel=1e-12)


def test_nan_loss_stops_naming_the_step_and_the_last_checkpoint(tmp_path):
    trainer = _trainer(str(tmp_path))
    trainer.fit(1)
    trainer.model[0].weight.array[0, 0] = np.nan     # what a diverging run ends up with
    with pytest.raises(NonFiniteLoss, match=r"at step \d+ \(epoch 2\).*epoch-001.safetensors"):
        trainer.fit(3)


def test_checkpoint_of_another_model_is_refused_with_the_key_list(tmp_path):
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 4))
    save_checkpoint(tmp_path / "a.safetensors", model)
    other = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4), nn.Linear(4, 4))
    with pytest.raises(RuntimeError, match=r"missing keys: 3.weight, 3.bias.*shape mismatch: 0.weight: checkpoint \(32, 6\), model \(8, 6\)"):
        load_checkpoint(tmp_path / "a.safetensors").restore(other)


def test_plain_safetensors_file_is_not_taken_for_a_checkpoint(tmp_path):
    dg.save({"w": dg.ones(2)}, tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match="not a deepgrad checkpoint"):
        load_checkpoint(tmp_path / "w.safetensors")


def test_unwritable_output_folder_is_reported(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        target = str(folder / "run") if not os.access(folder, os.W_OK) else "/proc/deepgrad-run"   # root writes anywhere else
        with pytest.raises(PermissionError, match="cannot write to the output folder"):
            _trainer(target)
    finally:
        folder.chmod(0o700)


def test_kill_during_saves_leaves_the_previous_checkpoint_loadable(tmp_path):
    """A process saving big checkpoints in a loop is killed with SIGKILL at a random moment; the file
    named by latest.json must load, and no other file may be a half-written checkpoint."""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.getcwd()!r})
        import deepgrad as dg
        from deepgrad import nn
        from deepgrad.train import save_checkpoint
        from deepgrad.serialization import atomic_write
        model = nn.Linear(1500, 1500)
        print("ready", flush=True)
        i = 0
        while True:
            i += 1
            save_checkpoint({str(tmp_path)!r} + f"/epoch-{{i % 3}}.safetensors", model, epoch=i)
            atomic_write({str(tmp_path)!r} + "/latest.json", ('{{"checkpoint": "epoch-%d.safetensors"}}' % (i % 3)).encode())
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"ready"
    import time
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    latest = json.loads((tmp_path / "latest.json").read_text())["checkpoint"]
    ckpt = load_checkpoint(tmp_path / latest)
    assert ckpt.model_state["weight"].shape == (1500, 1500)
    for name in os.listdir(tmp_path):
        if name.endswith(".safetensors") and not name.startswith("."):
            load_checkpoint(tmp_path / name)
