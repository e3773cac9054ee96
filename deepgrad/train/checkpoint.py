"""Checkpoints: model weights, optimiser and scheduler state, random-number state and metadata in one
safetensors file, written atomically (``dg.save``), so a run can resume exactly where it stopped.

Nested state (an optimiser's ``state_dict`` holds dicts keyed by ints, lists and tensors) is split
into its tensors, stored as safetensors entries, and a JSON skeleton kept in the header that records
where each tensor goes and the type of every key, so nothing is pickled.
"""
import os

from .. import backend
from ..autograd.tensor import Tensor
from ..serialization import load, save

FORMAT = "deepgrad-checkpoint-1"


def _encode(value, prefix, tensors):
    """(JSON skeleton, with tensors moved into ``tensors``) of a nest of dicts, lists and tensors."""
    if isinstance(value, Tensor) or isinstance(value, backend.numpy.ndarray):
        tensors[prefix] = value
        return {"tensor": prefix}
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            if not isinstance(k, (str, int, float, bool)) and k is not None:
                raise TypeError(f"checkpoint: cannot store a dict key of type {type(k).__name__} ({k!r})")
            items.append([k, _encode(v, f"{prefix}.{k}", tensors)])
        return {"dict": items}
    if isinstance(value, (list, tuple)):
        return {"list" if isinstance(value, list) else "tuple":
                [_encode(v, f"{prefix}.{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, backend.numpy.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"checkpoint: cannot store a value of type {type(value).__name__} at {prefix!r}")


def _decode(skeleton, tensors):
    if isinstance(skeleton, dict):
        if "tensor" in skeleton:
            return tensors[skeleton["tensor"]]
        if "dict" in skeleton:
            return {k: _decode(v, tensors) for k, v in skeleton["dict"]}
        if "list" in skeleton:
            return [_decode(v, tensors) for v in skeleton["list"]]
        if "tuple" in skeleton:
            return tuple(_decode(v, tensors) for v in skeleton["tuple"])
    return skeleton


def save_checkpoint(path, model, optimizer=None, scheduler=None, **metadata):
    """Write model weights (keys ``model.<name>``), optimiser and scheduler state and any JSON-able
    ``metadata`` (epoch, metrics, RNG state, model name...) to ``path`` atomically."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    header = {"format": FORMAT, "metadata": metadata}
    if optimizer is not None:
        header["optimizer"] = _encode(optimizer.state_dict(), "optimizer", tensors)
    if scheduler is not None:
        header["scheduler"] = _encode(scheduler.state_dict(), "scheduler", tensors)
    save(tensors, path, metadata=header)


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
    tensors, header = load(path, with_metadata=True)
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{os.fspath(path)} is a safetensors file but not a deepgrad checkpoint "
                         f"(expected format {FORMAT!r} in its header)")
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    optimizer = _decode(header["optimizer"], tensors) if "optimizer" in header else None
    scheduler = _decode(header["scheduler"], tensors) if "scheduler" in header else None
    return Checkpoint(os.fspath(path), model_state, optimizer, scheduler, header.get("metadata", {}))
