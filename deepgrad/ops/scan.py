"""Running totals along a dimension: cumsum (a primitive whose VJP is the reversed cumsum) and cumprod."""
from .. import backend
from ..autograd.function import Primitive, apply
from .binary import where
from .common import constant, lift, normalize_axes
from .layout import movedim
from .reduce import prod
from .unary import astype


class Cumsum(Primitive):
    saved = ()

    def forward(self, x, axis):
        return backend.xp_of(x).cumsum(x, axis=axis, dtype=None if x.dtype.kind == "f" else backend.int64)

    def vjp(self, g, out, x, axis):
        return (_cumsum(g.flip(axis), axis).flip(axis),)

    def jvp(self, tangents, out, x, axis):
        return _cumsum(tangents[0], axis)


class Cumprod(Primitive):
    """The running product, for inputs without zeros: d out_i / d x_j = out_i / x_j for j <= i."""

    def forward(self, x, axis):
        return backend.xp_of(x).cumprod(x, axis=axis, dtype=None if x.dtype.kind == "f" else backend.int64)

    def vjp(self, g, out, x, axis):
        return (_cumsum((g * out).flip(axis), axis).flip(axis) / x,)

    def jvp(self, tangents, out, x, axis):
        return out * _cumsum(tangents[0] / x, axis)


_cumsum_prim, _cumprod_prim = Cumsum(), Cumprod()


def _cumsum(x, axis):
    return apply(_cumsum_prim, (x,), {"axis": axis})


def _scan_args(input, dim, dtype, op):
    x = lift(input)
    if dim is None:
        raise TypeError(f"{op}: dim is required (an int), as in torch.{op}")
    (axis,) = normalize_axes(dim, x.ndim, op) or (0,)
    if dtype is not None:
        x = astype(x, dtype)
    return x, axis


def cumsum(input, dim=None, *, dtype=None):
    """Running sums along ``dim``; integer and bool tensors sum in int64, as in PyTorch."""
    x, axis = _scan_args(input, dim, dtype, "cumsum")
    if x.ndim == 0:
        return _cumsum(x.reshape(1), 0).reshape(())
    return _cumsum(x, axis)


def cumprod(input, dim=None, *, dtype=None):
    """Running products along ``dim``. Without zeros a primitive (gradient from out / x); where x holds
    zeros, products of the masked prefixes (x_j for j <= i, 1 elsewhere), whose gradient stays exact
    at zeros, at O(n²) memory along ``dim``."""
    x, axis = _scan_args(input, dim, dtype, "cumprod")
    if x.ndim == 0:
        return cumprod(x.reshape(1), 0).reshape(())
    if not backend.is_floating(x.dtype) or not (x.array == 0).any():
        return apply(_cumprod_prim, (x,), {"axis": axis})
    n = x.shape[axis]
    xp = backend.xp_of(x.array)
    moved = movedim(x, axis, -1)
    prefix = constant(xp.tri(n, dtype=bool))             # prefix[i, j]: j <= i
    rows = where(prefix, moved.unsqueeze(-2), 1)         # (..., i, j)
    return movedim(prod(rows, -1), -1, axis)
