"""Helpers shared by the layers: PyTorch's factory arguments (device, dtype) and empty parameters."""
from ... import backend
from ..parameter import Parameter


def factory_dtype(device=None, dtype=None):
    """The dtype for a layer's parameters (float32 by default); only the CPU device is supported."""
    backend.check_device(device, "layer")
    dtype = backend.as_dtype(dtype) or backend.default_float
    if not backend.is_floating(dtype):
        raise TypeError(f"layer parameters must have a floating-point dtype, got {dtype}")
    return dtype


def empty_parameter(shape, dtype):
    """A Parameter of ``shape`` (zeros until the layer's ``reset_parameters`` fills it)."""
    return Parameter(backend.numpy.zeros(shape, dtype))


def ntuple(value, n):
    """PyTorch's ``_single``/``_pair``/``_triple``: an int repeated n times, a sequence as a tuple."""
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,) * n
