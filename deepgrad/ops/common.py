"""Helpers shared by the primitives: turning Python values into Tensors, summing gradients back to
broadcast shapes, and normalising axis arguments."""
from .. import backend
from ..autograd.tensor import Tensor

NO_PARAMS = {}


def lift(value, like=None):
    """``value`` as a Tensor. A Python or NumPy number next to tensor ``like`` takes the dtype PyTorch
    gives the pair (``backend.result_type``): ``x * 2.0`` keeps float32 ``x`` in float32, an integer
    tensor times 2.5 is float32 (the default dtype)."""
    if isinstance(value, Tensor):
        return value
    if like is not None and backend.is_scalar(value):
        return scalar(value, backend.result_type(like, value), like)
    return Tensor(value)


def scalar(value, dtype, like):
    """A 0-d Tensor of ``value`` in ``dtype`` on ``like``'s device. Integers wrap around as in a C cast
    (``uint8 + 300`` is ``uint8 + 44``, as in PyTorch)."""
    xp = backend.xp_of(like.array)
    try:
        return Tensor.wrap(xp.asarray(value, dtype))
    except OverflowError:
        return Tensor.wrap(xp.asarray(value).astype(dtype))


def operand(value, op):
    """An operator's operand as a Tensor or number: arrays are wrapped, anything else is refused (a
    tuple such as ``t.max(dim=0)``'s (values, indices) is never silently stacked into a tensor)."""
    if isinstance(value, Tensor) or backend.is_scalar(value):
        return value
    if isinstance(value, backend.numpy.ndarray) or hasattr(value, "__cuda_array_interface__"):
        return Tensor.wrap(value)
    hint = (" (a (values, indices) pair from max/min/sort/topk with dim=: take .values)"
            if isinstance(value, tuple) and any(isinstance(v, Tensor) for v in value) else
            "; make it a tensor first with deepgrad.tensor(...)")
    raise TypeError(f"{op}: expected a Tensor, an array or a number as operand, got a "
                    f"{type(value).__name__}{hint}")


def unbroadcast(g, shape):
    """Sum ``g`` over the axes that broadcasting added or stretched, giving a Tensor of ``shape``."""
    if g.array.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape)
                                      if n == 1 and g.array.shape[i + lead] != 1)
    if axes:
        g = g.sum(axes, keepdim=True)
    return g.reshape(shape)


def normalize_axes(axis, ndim, op):
    """``axis`` (None, an int or a sequence of ints, negatives allowed) as a sorted tuple, or None for all."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not isinstance(a, int) or not -max(ndim, 1) <= a < max(ndim, 1):
            raise ValueError(f"{op}: dim {a!r} is out of range for a tensor with {ndim} dimensions")
        out.append(a % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dim {axis!r} repeats an axis")
    return tuple(sorted(out)) if ndim else ()   # a 0-d tensor accepts dim 0 / -1 and has nothing to reduce


def constant(array, like=None):
    """A Tensor that carries no gradient, around a backend array; with ``like`` (a Tensor), a host (NumPy)
    array copied explicitly to ``like``'s device first."""
    return Tensor.wrap(array if like is None else backend.to_device(array, like.device))
