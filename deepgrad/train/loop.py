"""The training loop: epochs of minibatch gradient descent (seed 二: forward, backpropagate δ, update),
with validation, learning-rate schedules, gradient clipping, early stopping, progress bars, a
JSON-lines log and checkpoints that make ``resume`` continue exactly as if the run never stopped.

Exactness: a checkpoint holds the model, optimiser, scheduler, deepgrad's global random state
(dropout), the data loader's position (its epoch's permutation seed and the batches delivered; see
``DataLoader.state_dict``) and the epoch's running sums. Resuming restores all of that, so the next
batch, dropout mask and update are the ones the uninterrupted run would have made.
"""
import contextlib
import json
import math
import os
import signal
import threading
import time

from .. import backend
from ..autograd.function import no_grad
from ..nn import functional as F
from ..nn.utils import clip_grad_norm_
from ..serialization import atomic_write
from .checkpoint import load_checkpoint, save_checkpoint
from .metrics import confusion_matrix, top_k_accuracy

np = backend.numpy


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite; the message names the step and the last good checkpoint."""


class Trainer:
    """Train ``model`` with ``optimizer`` on ``train_loader`` (batches of (inputs, labels)).

    ``scheduler`` steps once per epoch (or per batch with ``scheduler_per_batch``);
    ``clip_grad_norm`` caps the global gradient norm; ``early_stopping`` is a patience in epochs on
    the validation loss; ``out_dir`` receives ``log.jsonl`` and ``checkpoints/`` (the last
    ``keep_last`` epochs and ``best.safetensors``, by validation accuracy)."""

    def __init__(self, model, optimizer, train_loader, val_loader=None, *, loss_fn=F.cross_entropy, scheduler=None,
                 scheduler_per_batch=False, clip_grad_norm=None, early_stopping=None, out_dir=None, keep_last=2,
                 progress=True, metadata=None):
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.train_loader, self.val_loader = train_loader, val_loader
        self.scheduler, self.scheduler_per_batch = scheduler, scheduler_per_batch
        self.clip_grad_norm, self.early_stopping = clip_grad_norm, early_stopping
        self.out_dir, self.keep_last, self.progress = out_dir, keep_last, progress
        self.metadata = dict(metadata or {})
        self.history, self.epoch, self.step = [], 0, 0
        self.best_accuracy, self.bad_epochs, self.best_val_loss = -1.0, 0, math.inf
        self._resume_sums = None     # the running sums of an epoch interrupted part-way
        self._stop_requested = False
        self.last_checkpoint = None
        if out_dir is not None:
            try:
                os.makedirs(os.path.join(out_dir, "checkpoints"), exist_ok=True)
            except OSError as e:
                raise PermissionError(f"cannot write to the output folder {out_dir}: {e.strerror}") from None
            if not os.access(out_dir, os.W_OK):
                raise PermissionError(f"cannot write to the output folder {out_dir}: it is read-only")

    # ------------------------------------------------------------ one epoch
    def _train_epoch(self):
        self.model.train()
        sums = self._resume_sums or {"loss": 0.0, "correct": 0, "count": 0}
        self._resume_sums = None
        bar = _progress(len(self.train_loader), f"epoch {self.epoch + 1}", self.progress)
        bar.update(self.train_loader.state_dict()["batch"])
        start, seen = time.perf_counter(), 0
        for x, y in self.train_loader:
            loss, logits = self._train_step(x, y)
            sums["loss"] += loss * len(y)
            sums["correct"] += int((logits.argmax(-1) == y.numpy()).sum())
            sums["count"] += len(y)
            seen += len(y)
            bar.set_postfix(loss=f"{sums['loss'] / sums['count']:.4f}", acc=f"{sums['correct'] / sums['count']:.4f}",
                            samples_s=f"{seen / max(time.perf_counter() - start, 1e-9):.0f}")
            bar.update(1)
            if self._stop_requested:     # Ctrl-C arrived during the step: it is complete, save and stop
                bar.close()
                self._save("interrupted", sums=sums)
                raise KeyboardInterrupt(f"stopped at step {self.step}; resume from {self.last_checkpoint}")
        bar.close()
        if self.scheduler is not None and not self.scheduler_per_batch:
            self.scheduler.step()
        return {"train_loss": sums["loss"] / max(sums["count"], 1),
                "train_accuracy": sums["correct"] / max(sums["count"], 1),
                "samples_per_s": seen / max(time.perf_counter() - start, 1e-9)}

    def _train_step(self, x, y):
        logits = self.model(x)
        loss = self.loss_fn(logits, y)
        value = float(loss.item())
        if not math.isfinite(value):
            where = self.last_checkpoint or "none saved yet"
            raise NonFiniteLoss(f"the loss became {value} at step {self.step + 1} (epoch {self.epoch + 1}); "
                                f"last good checkpoint: {where}. Try a lower learning rate or gradient clipping.")
        self.optimizer.zero_grad()
        loss.backward()
        if self.clip_grad_norm is not None:
            clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
        self.optimizer.step()
        if self.scheduler is not None and self.scheduler_per_batch:
            self.scheduler.step()
        self.step += 1
        return value, logits.data

    # ------------------------------------------------------------ evaluation
    def evaluate(self, loader, num_classes=None):
        """Loss, accuracy, top-5 accuracy and the confusion matrix of ``model`` on ``loader``."""
        was_training = self.model.training
        self.model.eval()
        logits, labels, total = [], [], 0.0
        with no_grad():
            for x, y in loader:
                out = self.model(x)
                total += float(self.loss_fn(out, y).item()) * len(y)
                logits.append(out.numpy())
                labels.append(y.numpy())
        self.model.train(was_training)
        logits, labels = np.concatenate(logits), np.concatenate(labels)
        num_classes = num_classes or logits.shape[-1]
        predictions = logits.argmax(-1)
        return {"loss": total / len(labels), "accuracy": float((predictions == labels).mean()),
                "top5_accuracy": top_k_accuracy(logits, labels, 5),
                "confusion": confusion_matrix(predictions, labels, num_classes), "predictions": predictions,
                "labels": labels}

    # ------------------------------------------------------------ the run
    def fit(self, epochs):
        """Train until ``epochs`` epochs are done (counting those before a resume) or early stopping.
        Ctrl-C lets the current step finish, saves an ``interrupted`` checkpoint (from which ``resume``
        continues exactly) and raises KeyboardInterrupt; a second Ctrl-C stops at once."""
        self._stop_requested = False
        with _deferred_interrupt(self):
            return self._fit(epochs)

    def _fit(self, epochs):
        while self.epoch < epochs:
            record = {"epoch": self.epoch + 1, "lr": self.optimizer.param_groups[0]["lr"]}
            t0 = time.perf_counter()
            record.update(self._train_epoch())
            if self.val_loader is not None:
                val = self.evaluate(self.val_loader)
                record.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
            record["seconds"] = time.perf_counter() - t0
            self.epoch += 1
            self.history.append(record)
            improved = record.get("val_accuracy", record["train_accuracy"]) > self.best_accuracy
            if improved:
                self.best_accuracy = record.get("val_accuracy", record["train_accuracy"])
            if self.early_stopping is not None and "val_loss" in record:
                if record["val_loss"] < self.best_val_loss:
                    self.best_val_loss, self.bad_epochs = record["val_loss"], 0
                else:
                    self.bad_epochs += 1
            self._log(record)
            self._save(f"epoch-{self.epoch:03d}", best=improved)
            if self.early_stopping is not None and self.bad_epochs >= self.early_stopping:
                break
        return self.history

    # ------------------------------------------------------------ files
    def _log(self, record):
        if self.out_dir is None:
            return
        with open(os.path.join(self.out_dir, "log.jsonl"), "a") as f:
            f.write(json.dumps(record) + "\n")

    def _state(self, sums=None):
        state = {"epoch": self.epoch, "step": self.step, "history": self.history,
                 "best_accuracy": self.best_accuracy, "best_val_loss": self.best_val_loss,
                 "bad_epochs": self.bad_epochs, "rng": backend.default_generator.get_state(),
                 "loader": self.train_loader.state_dict(), **self.metadata}
        if sums is not None:
            state["sums"] = sums
        return state

    def _save(self, name, best=False, sums=None):
        if self.out_dir is None:
            return
        folder = os.path.join(self.out_dir, "checkpoints")
        path = os.path.join(folder, f"{name}.safetensors")
        state = self._state(sums)
        save_checkpoint(path, self.model, self.optimizer, self.scheduler, **state)
        if best:
            save_checkpoint(os.path.join(folder, "best.safetensors"), self.model, self.optimizer, self.scheduler,
                            **state)
        atomic_write(os.path.join(folder, "latest.json"), json.dumps({"checkpoint": f"{name}.safetensors"}).encode())
        self.last_checkpoint = path
        epochs = sorted(f for f in os.listdir(folder) if f.startswith("epoch-") and f.endswith(".safetensors"))
        for old in epochs[:-self.keep_last] if self.keep_last else []:
            os.unlink(os.path.join(folder, old))

    def resume(self, out_dir=None):
        """Continue from the latest checkpoint in ``out_dir`` (default: this trainer's): weights,
        optimiser, scheduler, random state, position in the epoch and history."""
        folder = os.path.join(out_dir or self.out_dir, "checkpoints")
        pointer = os.path.join(folder, "latest.json")
        if not os.path.exists(pointer):
            raise FileNotFoundError(f"nothing to resume: {pointer} does not exist")
        with open(pointer) as f:
            path = os.path.join(folder, json.load(f)["checkpoint"])
        ckpt = load_checkpoint(path)
        ckpt.restore(self.model, self.optimizer, self.scheduler)
        meta = ckpt.metadata
        self.epoch, self.step, self.history = meta["epoch"], meta["step"], meta["history"]
        self.best_accuracy, self.best_val_loss = meta["best_accuracy"], meta["best_val_loss"]
        self.bad_epochs = meta["bad_epochs"]
        backend.default_generator.set_state(meta["rng"])
        self.train_loader.load_state_dict(meta["loader"])
        self._resume_sums = meta.get("sums")
        self.last_checkpoint = path
        return self


@contextlib.contextmanager
def _deferred_interrupt(trainer):
    """While training in the main thread, the first SIGINT only asks the loop to stop after its step."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(signum, frame):
        trainer._stop_requested = True
        signal.signal(signal.SIGINT, previous)    # a second Ctrl-C interrupts immediately

    previous = signal.signal(signal.SIGINT, request_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _Quiet:
    """A stand-in for a tqdm bar when progress display is off."""

    def update(self, n=1):
        pass

    def set_postfix(self, **kwargs):
        pass

    def close(self):
        pass


def _progress(total, desc, enabled):
    if not enabled:
        return _Quiet()
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True, disable=None)   # off when not a terminal
