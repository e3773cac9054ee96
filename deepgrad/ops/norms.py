"""Vector norms (``torch.norm``): a primitive whose gradient is zero where the norm is zero, as PyTorch's,
instead of the 0/0 of sqrt(Σ x²); and ``std_mean``/``var_mean``."""
import math

from .. import backend
from ..autograd.function import Primitive, apply
from .binary import where
from .common import constant, lift, normalize_axes
from .reduce import mean, std, var
from .unary import astype


def _kept(out, shape, axes, keepdims):
    """A reduced tensor reshaped to broadcast against the input (reduced axes as 1s)."""
    if keepdims:
        return out
    return out.reshape(tuple(1 if axes is None or i in axes else n for i, n in enumerate(shape)))


class Norm(Primitive):
    """(Σ |x|^p)^(1/p) over ``axes``; p = ±inf gives max/min |x| (ties share the gradient), p = 0 the
    number of non-zeros (zero gradient)."""

    def forward(self, x, p, axes, keepdims):
        xp = backend.xp_of(x)
        a = xp.abs(x)
        kw = {"axis": axes, "keepdims": keepdims}
        if p == math.inf:
            return a.max(**kw)
        if p == -math.inf:
            return a.min(**kw)
        if p == 0:
            return (a != 0).sum(**kw).astype(x.dtype)
        if p == 1:
            return a.sum(**kw)
        if p == 2:
            return xp.sqrt((x * x).sum(**kw))
        return (a ** p).sum(**kw) ** (1 / p)

    def _partials(self, out, x, p, axes, keepdims):
        """d norm / d x, broadcast against x."""
        xp = backend.xp_of(x.array)
        sign = constant(xp.sign(x.array))
        o = _kept(out, x.shape, axes, keepdims)
        if p == 0:
            return constant(xp.zeros(x.shape, x.dtype))
        if p == 1:
            return sign
        if p in (math.inf, -math.inf):
            hit = (xp.abs(x.array) == o.array).astype(x.dtype)
            return sign * constant(hit / hit.sum(axis=axes, keepdims=True))
        zero = constant(o.array == 0)
        safe = where(zero, 1, o)
        part = x / safe if p == 2 else sign * (x.abs() / safe) ** (p - 1)
        return where(zero, 0, part)

    def vjp(self, g, out, x, p, axes, keepdims):
        return (_kept(g, x.shape, axes, keepdims) * self._partials(out, x, p, axes, keepdims),)

    def jvp(self, tangents, out, x, p, axes, keepdims):
        return (tangents[0] * self._partials(out, x, p, axes, keepdims)).sum(axes, keepdim=keepdims)


_norm = Norm()


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """The p-norm of ``input`` over ``dim`` (all elements when None) treated as one vector: 'fro' and 2 are
    the Euclidean norm, inf and -inf the largest and smallest |x|, 0 the number of non-zeros."""
    x = lift(input)
    if dtype is not None:
        x = astype(x, dtype)
    if not backend.is_floating(x.dtype):
        raise TypeError(f"norm: input must be a floating-point tensor, got dtype {x.dtype}")
    if p == "fro":
        p = 2
    if isinstance(p, str) or isinstance(p, bool) or not isinstance(p, (int, float)):
        raise ValueError(f"norm: p must be a number or 'fro', got {p!r} (matrix norms such as 'nuc' are not "
                         "supported)")
    axes = normalize_axes(dim, x.ndim, "norm")
    return apply(_norm, (x,), {"p": float(p), "axes": axes, "keepdims": bool(keepdim)})


def var_mean(input, dim=None, *, correction=1, keepdim=False, unbiased=None):
    """(var, mean) over ``dim``, as ``torch.var_mean``."""
    return (var(input, dim, correction, keepdim, unbiased=unbiased), mean(input, dim, keepdim))


def std_mean(input, dim=None, *, correction=1, keepdim=False, unbiased=None):
    """(std, mean) over ``dim``, as ``torch.std_mean``."""
    return (std(input, dim, correction, keepdim, unbiased=unbiased), mean(input, dim, keepdim))
