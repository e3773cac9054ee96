"""Checkpoints: model weights, optimiser and scheduler state, random-number state and metadata in one
safetensors file, written atomically (``dg.save``), so a run can resume exactly where it stopped.

A checkpoint is the dict ``{'model': state_dict, 'optimizer': ..., 'scheduler': ..., 'metadata': ...}``
saved by ``dg.save`` (which stores nested state without pickle), marked as one in the header; ``dg.load``
reads it back as that dict. Files of the first format (the skeleton of the optimiser and scheduler
state in the header's metadata) still load.
"""
import os

from ..serialization import decode, load, save

FORMAT = "deepgrad-checkpoint-2"
_FORMAT_1 = "deepgrad-checkpoint-1"   # flat tensors "model.<name>", skeletons in the header (read only)


def save_checkpoint(path, model, optimizer=None, scheduler=None, **metadata):
    """Write model weights, optimiser and scheduler state and any ``metadata`` (epoch, metrics,
    RNG state, model name...: numbers, strings, tensors nested in dicts and lists) to ``path`` atomically."""
    state = {"model": model.state_dict(), "metadata": metadata}
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    save(state, path, metadata={"format": FORMAT})


class Checkpoint:
    """What ``load_checkpoint`` read: ``model_state`` (a state_dict), ``optimizer_state``,
    ``scheduler_state`` (or None) and ``metadata``."""

    def __init__(self, path, model_state, optimizer_state, scheduler_state, metadata):
        self.path, self.model_state = path, model_state
        self.optimizer_state, self.scheduler_state, self.metadata = optimizer_state, scheduler_state, metadata

    def restore(self, model, optimizer=None, scheduler=None):
        """Load the states into ``model`` (strictly: a checkpoint of another model is refused with the
        list of mismatched keys) and, when given, the optimiser and scheduler."""
        model.load_state_dict(self.model_state)
        if optimizer is not None and self.optimizer_state is not None:
            optimizer.load_state_dict(self.optimizer_state)
        if scheduler is not None and self.scheduler_state is not None:
            scheduler.load_state_dict(self.scheduler_state)


def load_checkpoint(path):
    """Read a checkpoint written by ``save_checkpoint``; a file that is not one is refused clearly."""
    state, header = load(path, with_metadata=True)
    form = header.get("format") if isinstance(header, dict) else None
    if form == FORMAT:
        return Checkpoint(os.fspath(path), state["model"], state.get("optimizer"), state.get("scheduler"),
                          state["metadata"])
    if form == _FORMAT_1:
        model_state = {k[len("model."):]: v for k, v in state.items() if k.startswith("model.")}
        optimizer = decode(header["optimizer"], state) if "optimizer" in header else None
        scheduler = decode(header["scheduler"], state) if "scheduler" in header else None
        return Checkpoint(os.fspath(path), model_state, optimizer, scheduler, header.get("metadata", {}))
    raise ValueError(f"{os.fspath(path)} is a safetensors file but not a deepgrad checkpoint "
                     f"(expected format {FORMAT!r} in its header)")
