"""Helpers shared by the layers: PyTorch's factory arguments (device, dtype) and empty parameters."""
from ... import backend
from ...ops.creation import zeros
from ..parameter import Parameter


def factory_dtype(device=None, dtype=None):
    """The dtype for a layer's parameters (float32 by default). Layers are built on the CPU: ``device`` may only
    name it (move a model with ``.to(device)``)."""
    if backend.check_device(device, "layer") is not backend.CPU:
        raise ValueError(f"layer: device={str(device)!r}: layers are built on the CPU; build the model, then move "
                         "it with model.to(device) (or model.cuda())")
    dtype = backend.as_dtype(dtype) or backend.default_float
    if not backend.is_floating(dtype):
        raise TypeError(f"layer parameters must have a floating-point dtype, got {dtype}")
    return dtype


def empty_parameter(shape, dtype):
    """A Parameter of ``shape`` (zeros until the layer's ``reset_parameters`` fills it)."""
    return Parameter(zeros(shape, dtype=dtype))


def ntuple(value, n):
    """PyTorch's ``_single``/``_pair``/``_triple``: an int repeated n times, a sequence as a tuple."""
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,) * n
