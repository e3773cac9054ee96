"""Helpers shared by the primitives: turning Python values into Tensors, summing gradients back to
broadcast shapes, and normalising axis arguments."""
from .. import backend
from ..autograd.tensor import Tensor

NO_PARAMS = {}


def lift(value, like=None):
    """``value`` as a Tensor. Python scalars take ``like``'s dtype (a float next to an integer tensor
    becomes float32), as in PyTorch, so ``x * 2.0`` keeps ``x`` in float32."""
    if isinstance(value, Tensor):
        return value
    if like is not None and isinstance(value, (bool, int, float)):
        dtype = like.data.dtype
        if isinstance(value, float) and dtype.kind != "f":
            dtype = backend.default_float
        elif isinstance(value, int) and not isinstance(value, bool) and dtype.kind == "b":
            dtype = backend.int64
        return Tensor.wrap(backend.xp_of(like.data).asarray(value, dtype=dtype))
    return Tensor(value)


def pair(x, y):
    """Both operands of a binary op as Tensors (at least one of them already is)."""
    if not isinstance(x, Tensor):
        return lift(x, lift(y)), lift(y)
    return x, lift(y, x)


def unbroadcast(g, shape):
    """Sum ``g`` over the axes that broadcasting added or stretched, giving a Tensor of ``shape``."""
    if g.data.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape)
                                      if n == 1 and g.data.shape[i + lead] != 1)
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


def constant(array):
    """A Tensor that carries no gradient, around a backend array."""
    return Tensor.wrap(array)
