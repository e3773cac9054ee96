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

from .. import backend, cuda
from ..autograd.function import no_grad
from ..nn import functional as F
from ..nn.utils import clip_grad_norm_
from ..serialization import atomic_write
from .checkpoint import load_checkpoint, save_checkpoint
from .metrics import confusion_matrix, top_k_accuracy

np = backend.numpy


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite; the message names the step and the last good checkpoint."""


class Interrupted(KeyboardInterrupt):
    """Training was stopped by SIGINT (Ctrl-C) or SIGTERM: ``signum``, and ``checkpoint``, the file a
    resume continues from (None when nothing was saved yet)."""

    def __init__(self, signum, checkpoint):
        super().__init__(f"stopped by signal {signum}; resume from {checkpoint or 'nothing (none saved yet)'}")
        self.signum, self.checkpoint = signum, checkpoint


class Trainer:
    """Train ``model`` with ``optimizer`` on ``train_loader`` (batches of (inputs, labels)).

    ``scheduler`` steps once per epoch (or per batch with ``scheduler_per_batch``);
    ``clip_grad_norm`` caps the global gradient norm; ``early_stopping`` is a patience in epochs on
    the validation loss (training stops once it has not improved for that many epochs in a row, and
    ``stopped_early`` is set); ``out_dir`` receives ``log.jsonl`` (one line per epoch) and
    ``checkpoints/`` (the last ``keep_last`` epochs and ``best.safetensors``, by validation accuracy).
    ``device``: where the batches go (default: the device of the model's parameters, which the model and
    optimiser must already be on); the metrics come back to the host."""

    def __init__(self, model, optimizer, train_loader, val_loader=None, *, loss_fn=F.cross_entropy, scheduler=None,
                 scheduler_per_batch=False, clip_grad_norm=None, early_stopping=None, out_dir=None, keep_last=2,
                 progress=True, metadata=None, device=None):
        if clip_grad_norm is not None and not clip_grad_norm > 0:
            raise ValueError(f"Trainer: clip_grad_norm must be a number > 0, got {clip_grad_norm!r}")
        if early_stopping is not None:
            if isinstance(early_stopping, bool) or not isinstance(early_stopping, int) or early_stopping < 1:
                raise ValueError(f"Trainer: early_stopping must be an int >= 1 (epochs), got {early_stopping!r}")
            if val_loader is None:
                raise ValueError("Trainer: early_stopping watches the validation loss: it needs a val_loader")
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        first = next(iter(model.parameters()), None)
        self.device = backend.check_device(device if device is not None or first is None else first.device,
                                           "Trainer")
        self.train_loader, self.val_loader = train_loader, val_loader
        self.scheduler, self.scheduler_per_batch = scheduler, scheduler_per_batch
        self.clip_grad_norm, self.early_stopping = clip_grad_norm, early_stopping
        self.out_dir, self.keep_last, self.progress = out_dir, keep_last, progress
        self.metadata = dict(metadata or {})
        self.history, self.epoch, self.step = [], 0, 0
        self.best_accuracy, self.bad_epochs, self.best_val_loss = -1.0, 0, math.inf
        self.stopped_early = False
        self._resume_sums = None     # the running sums (and starting lr) of an epoch interrupted part-way
        self._stop_signal = None
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
        sums.setdefault("lr", self.optimizer.param_groups[0]["lr"])      # the lr the epoch started with
        self._resume_sums = None
        bar = _progress(len(self.train_loader), f"epoch {self.epoch + 1}", self.progress)
        bar.update(self.train_loader.state_dict()["batch"])
        start, seen = time.perf_counter(), 0
        for x, y in self.train_loader:
            x, y = self._to_device(x), self._to_device(y)
            loss, logits = self._train_step(x, y)
            sums["loss"] += loss * len(y)
            sums["correct"] += int((logits.argmax(-1) == y.array).sum())   # on the batch's device, then one number
            sums["count"] += len(y)
            seen += len(y)
            bar.set_postfix(loss=f"{sums['loss'] / sums['count']:.4f}", acc=f"{sums['correct'] / sums['count']:.4f}",
                            samples_s=f"{seen / max(time.perf_counter() - start, 1e-9):.0f}")
            bar.update(1)
            if self._stop_signal:     # Ctrl-C or SIGTERM arrived during the step: it is complete, save and stop
                bar.close()
                self._save("interrupted", sums=sums)
                raise Interrupted(self._stop_signal, self.last_checkpoint)
        bar.close()
        if self.scheduler is not None and not self.scheduler_per_batch:
            self.scheduler.step()
        return {"lr": sums["lr"], "train_loss": sums["loss"] / max(sums["count"], 1),
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
        return value, logits.array

    def _to_device(self, batch):
        return batch.to(self.device, non_blocking=True)

    # ------------------------------------------------------------ evaluation
    def evaluate(self, loader, num_classes=None):
        """Loss, accuracy, top-5 accuracy and the confusion matrix of ``model`` on ``loader``."""
        was_training = self.model.training
        self.model.eval()
        logits, labels, total = [], [], 0.0
        with no_grad():
            for x, y in loader:
                out = self.model(self._to_device(x))
                total += float(self.loss_fn(out, self._to_device(y)).item()) * len(y)
                logits.append(out.cpu().numpy())
                labels.append(y.cpu().numpy())
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
        Ctrl-C or SIGTERM lets the current step finish, saves an ``interrupted`` checkpoint (from which
        ``resume`` continues exactly) and raises ``Interrupted`` (a KeyboardInterrupt); a second signal
        raises it at once."""
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"fit: epochs must be an int >= 1, got {epochs!r}")
        self._stop_signal = None
        with _deferred_interrupt(self):
            return self._fit(epochs)

    def _fit(self, epochs):
        while self.epoch < epochs and not self.stopped_early:
            record = {"epoch": self.epoch + 1}
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
            self.stopped_early = self.early_stopping is not None and self.bad_epochs >= self.early_stopping
            self._log(record)
            self._save(f"epoch-{self.epoch:03d}", best=improved)
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
                 "bad_epochs": self.bad_epochs, "stopped_early": self.stopped_early,
                 "rng": backend.default_generator.get_state(),
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
        optimiser, scheduler, random state, position in the epoch and history. ``log.jsonl`` is
        rewritten to hold exactly the epochs of that history, and temporary files of saves cut short
        are removed."""
        folder = os.path.join(out_dir or self.out_dir, "checkpoints")
        pointer = os.path.join(folder, "latest.json")
        if not os.path.exists(pointer):
            raise FileNotFoundError(f"nothing to resume: {pointer} does not exist")
        try:
            with open(pointer) as f:
                path = os.path.join(folder, json.load(f)["checkpoint"])
        except (ValueError, TypeError, KeyError) as e:
            raise ValueError(f"{pointer} is damaged: expected {{\"checkpoint\": \"<file name>\"}} "
                             f"({type(e).__name__}: {e})") from None
        ckpt = load_checkpoint(path)
        ckpt.restore(self.model, self.optimizer, self.scheduler)
        meta = ckpt.metadata
        self.epoch, self.step, self.history = meta["epoch"], meta["step"], meta["history"]
        self.best_accuracy, self.best_val_loss = meta["best_accuracy"], meta["best_val_loss"]
        self.bad_epochs, self.stopped_early = meta["bad_epochs"], meta.get("stopped_early", False)
        backend.default_generator.set_state(meta["rng"])
        self.train_loader.load_state_dict(meta["loader"])
        self._resume_sums = meta.get("sums")
        self.last_checkpoint = path
        if self.out_dir is not None:
            for where in (self.out_dir, os.path.join(self.out_dir, "checkpoints")):
                for name in os.listdir(where):
                    if name.startswith(".tmp-"):          # atomic_write's, left by a kill
                        os.unlink(os.path.join(where, name))
            atomic_write(os.path.join(self.out_dir, "log.jsonl"),
                         "".join(json.dumps(r) + "\n" for r in self.history).encode())
        return self


def pick_device(name="auto"):
    """``deepgrad train --device``: 'auto' is the current CUDA device when one is available, else the CPU; 'cpu',
    'cuda' and 'cuda:N' are checked (an unavailable one raises, saying what to install)."""
    if name == "auto":
        name = "cuda" if cuda.is_available() else "cpu"
    return backend.check_device(name, "--device")


@contextlib.contextmanager
def _deferred_interrupt(trainer):
    """While training in the main thread, the first SIGINT or SIGTERM only asks the loop to stop after
    its step; a second one raises ``Interrupted`` at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(signum, frame):
        if trainer._stop_signal:
            raise Interrupted(signum, trainer.last_checkpoint)
        trainer._stop_signal = signum

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


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
