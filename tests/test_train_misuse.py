"""The training loop and its metrics checked against independent computations (issue 18): scikit-learn's
metrics, torch's clip_grad_norm_ and OneCycleLR, a per-sample loss over the whole set, early stopping's
patience; SIGTERM and double signals; the run's option checks; damaged pointers; empty class folders."""
import json
import os
import signal

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn
from deepgrad.data import DataLoader, TensorDataset
from deepgrad.train import Interrupted, Trainer, confusion_matrix, run, top_k_accuracy

torch = pytest.importorskip("torch")


def _data(n=50, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    return TensorDataset(dg.tensor(x), dg.tensor((x[:, 0] > 0).astype(np.int64) + 2 * (x[:, 1] > 0.3)))


def _trainer(out_dir=None, batch_size=16, **kwargs):
    dg.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4))
    optimizer = kwargs.pop("optimizer", None) or dg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loader = DataLoader(_data(), batch_size=batch_size, shuffle=True, prefetch=0)
    val = kwargs.pop("val", DataLoader(_data(21, seed=1), batch_size=8))
    return Trainer(model, optimizer, loader, val, out_dir=out_dir, progress=False, **kwargs)


def test_top_k_accuracy_and_confusion_matrix_agree_with_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((200, 7)), rng.integers(0, 7, 200)
    for k in (1, 2, 5):
        assert top_k_accuracy(logits, labels, k) == pytest.approx(
            metrics.top_k_accuracy_score(labels, logits, k=k, labels=range(7)))
    predictions = rng.integers(0, 7, 200)
    np.testing.assert_array_equal(confusion_matrix(predictions, labels, 7),
                                  metrics.confusion_matrix(labels, predictions, labels=range(7)))


def test_evaluate_averages_the_loss_per_sample_over_unequal_batches():
    trainer = _trainer()
    data = _data(21, seed=1)                    # batches of 8, 8 and 5
    result = trainer.evaluate(DataLoader(data, batch_size=8))
    model = trainer.model
    with dg.no_grad():
        logits = model(data.tensors[0]).numpy()
    expected = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(data.tensors[1].numpy()))
    assert result["loss"] == pytest.approx(float(expected), rel=1e-5)


def test_gradient_clipping_is_torchs_clip_grad_norm():
    trainer = _trainer(batch_size=50, clip_grad_norm=0.05, val=None,
                       optimizer=None)
    trainer.optimizer = dg.optim.SGD(trainer.model.parameters(), lr=1.0)
    reference = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    with torch.no_grad():
        for p, q in zip(reference.parameters(), trainer.model.parameters()):
            p.copy_(torch.tensor(q.numpy()))
    x, y = _data().tensors
    trainer.fit(1)                              # one batch of all 50 samples, in some order: same gradient
    loss = torch.nn.functional.cross_entropy(reference(torch.tensor(x.numpy())), torch.tensor(y.numpy()))
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.05)
    assert float(norm) > 0.05                  # clipping does something here
    with torch.no_grad():
        for p in reference.parameters():
            p -= p.grad
    for p, q in zip(reference.parameters(), trainer.model.parameters()):
        np.testing.assert_allclose(q.numpy(), p.detach().numpy(), rtol=1e-4, atol=1e-6)


def _onecycle(steps_per_epoch, epochs):
    params = [torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.SGD(params, lr=0.1)
    return opt, torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, epochs=epochs, steps_per_epoch=steps_per_epoch)


def test_per_batch_schedule_steps_every_batch_and_logs_each_epochs_starting_lr(tmp_path):
    trainer = _trainer(str(tmp_path))
    sched = dg.optim.lr_scheduler.OneCycleLR(trainer.optimizer, max_lr=0.1, epochs=3, steps_per_epoch=4)
    trainer.scheduler, trainer.scheduler_per_batch = sched, True
    trainer.fit(3)
    opt, ref = _onecycle(4, 3)
    starts = []
    for epoch in range(3):
        starts.append(opt.param_groups[0]["lr"])
        for _ in range(4):
            opt.step()
            ref.step()
    assert [r["lr"] for r in trainer.history] == pytest.approx(starts, rel=1e-12)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)


def _interrupt_at(monkeypatch, step, signum, times=1):
    real, calls = Trainer._train_step, {"n": 0}

    def interrupting(self, x, y):
        calls["n"] += 1
        if calls["n"] == step:
            for _ in range(times):
                os.kill(os.getpid(), signum)
        return real(self, x, y)
    monkeypatch.setattr(Trainer, "_train_step", interrupting)


def _weights(trainer):
    return {k: v.numpy().copy() for k, v in trainer.model.state_dict().items()}


def _per_batch(out):
    trainer = _trainer(out)
    trainer.scheduler = dg.optim.lr_scheduler.OneCycleLR(trainer.optimizer, max_lr=0.1, epochs=3, steps_per_epoch=4)
    trainer.scheduler_per_batch = True
    return trainer


def test_sigterm_mid_epoch_saves_and_resume_is_exact_with_the_logged_lr_of_the_epoch(tmp_path, monkeypatch):
    full = _per_batch(str(tmp_path / "full"))
    full.fit(3)
    split = _per_batch(str(tmp_path / "split"))
    _interrupt_at(monkeypatch, 6, signal.SIGTERM)          # part-way through epoch 2 (4 batches per epoch)
    with pytest.raises(Interrupted) as stop:
        split.fit(3)
    assert stop.value.signum == signal.SIGTERM and stop.value.checkpoint.endswith("interrupted.safetensors")
    monkeypatch.undo()
    resumed = _per_batch(str(tmp_path / "split")).resume()
    resumed.fit(3)
    assert [r["lr"] for r in resumed.history] == [r["lr"] for r in full.history]
    for k, v in _weights(full).items():
        np.testing.assert_array_equal(_weights(resumed)[k], v)
    log = [json.loads(line)["epoch"] for line in (tmp_path / "split" / "log.jsonl").read_text().splitlines()]
    assert log == [1, 2, 3]


def test_a_second_signal_stops_at_once_naming_no_checkpoint_before_the_first(tmp_path, monkeypatch):
    trainer = _trainer(str(tmp_path))
    _interrupt_at(monkeypatch, 2, signal.SIGINT, times=2)
    with pytest.raises(Interrupted) as stop:
        trainer.fit(2)
    assert stop.value.checkpoint is None and not os.listdir(tmp_path / "checkpoints")
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL    # handlers restored


def _scripted_val_losses(monkeypatch, losses):
    real, it = Trainer.evaluate, iter(losses)

    def evaluate(self, loader, num_classes=None):
        result = real(self, loader, num_classes)
        return dict(result, loss=next(it)) if loader is self.val_loader else result
    monkeypatch.setattr(Trainer, "evaluate", evaluate)


def _stop_epoch(losses, patience):
    """When early stopping must stop: the first epoch ending `patience` epochs in a row without a new best."""
    best, bad = float("inf"), 0
    for epoch, loss in enumerate(losses, 1):
        best, bad = (loss, 0) if loss < best else (best, bad + 1)
        if bad == patience:
            return epoch
    return len(losses)


@pytest.mark.parametrize("patience", [1, 2, 3])
def test_early_stopping_patience_and_no_training_after_a_resume(tmp_path, monkeypatch, patience):
    losses = [1.0, 0.8, 0.9, 0.7, 0.75, 0.72, 0.71, 0.9, 0.95, 0.99]
    _scripted_val_losses(monkeypatch, losses)
    trainer = _trainer(str(tmp_path), early_stopping=patience)
    trainer.fit(10)
    assert trainer.epoch == _stop_epoch(losses, patience) and trainer.stopped_early
    resumed = _trainer(str(tmp_path), early_stopping=patience).resume()
    resumed.fit(10)
    assert resumed.epoch == trainer.epoch and resumed.stopped_early


def test_a_damaged_latest_json_is_named(tmp_path):
    trainer = _trainer(str(tmp_path))
    trainer.fit(1)
    (tmp_path / "checkpoints" / "latest.json").write_text("[1, 2")
    with pytest.raises(ValueError, match=f"{tmp_path}/checkpoints/latest.json is damaged"):
        _trainer(str(tmp_path)).resume()


def test_trainer_refuses_nonsense_settings():
    for kwargs, message in (({"clip_grad_norm": 0}, "clip_grad_norm must be a number > 0"),
                            ({"clip_grad_norm": -1.0}, "clip_grad_norm must be a number > 0"),
                            ({"early_stopping": 0}, "early_stopping must be an int >= 1"),
                            ({"early_stopping": 2, "val": None}, "needs a val_loader")):
        with pytest.raises(ValueError, match=message):
            _trainer(**kwargs)
    for epochs in (0, -1, 2.0):
        with pytest.raises(ValueError, match="epochs must be an int >= 1"):
            _trainer().fit(epochs)


@pytest.mark.parametrize("options, message", [
    ({"epochs": 0}, "epochs must be an integer >= 1"), ({"batch_size": -3}, "batch_size must be"),
    ({"lr": 0.0}, "lr must be a number > 0"), ({"lr": float("nan")}, "lr must be"),
    ({"val_fraction": 1.0}, r"val_fraction must be in \[0, 1\)"), ({"clip": -1}, "clip .* must be a number > 0"),
    ({"early_stopping": 0}, "early_stopping must be an integer >= 1"),
    ({"early_stopping": 3, "val_fraction": 0}, "needs val_fraction > 0"),
    ({"optimizer": "lbfgs"}, "unknown optimizer 'lbfgs'"), ({"schedule": "warm"}, "unknown schedule")])
def test_run_options_are_checked_naming_the_option(options, message):
    with pytest.raises(ValueError, match=message):
        run.check_options(options)
    with pytest.raises(TypeError, match="unknown run options: epoch"):
        run.check_options({"epoch": 3})


def test_image_folder_refuses_an_empty_class_folder_as_torchvision(tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image
    from deepgrad.data import ImageFolder
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
    Image.new("L", (4, 4)).save(tmp_path / "a" / "x.png")
    with pytest.raises(FileNotFoundError, match=r"class folder .*b has no images"):
        ImageFolder(tmp_path)
    assert ImageFolder(tmp_path, allow_empty=True).classes == ["a", "b"]
