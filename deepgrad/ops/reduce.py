"""Reductions over axes (sum, max, min, prod, logsumexp, mean, var, std), softmax and log-softmax.
Every reduction takes PyTorch's ``dim``/``keepdim`` (NumPy's ``axis``/``keepdims`` also work)."""
from collections import namedtuple

from .. import backend
from ..autograd.function import Primitive, apply
from .binary import where
from .common import constant, lift, normalize_axes


def _kept_shape(shape, axes):
    return tuple(1 if axes is None or i in axes else n for i, n in enumerate(shape))


def _keep(t, x_shape, axes, keepdims):
    """A reduced tensor ``t`` reshaped so it broadcasts against the input (the reduced axes as 1s)."""
    return t if keepdims else t.reshape(_kept_shape(x_shape, axes))


def _reduced_shape(shape, axes):
    return () if axes is None else tuple(n for i, n in enumerate(shape) if i not in axes)


def _reduced_size(shape, axes):
    n = 1
    for i, d in enumerate(shape):
        if axes is None or i in axes:
            n *= d
    return n


def _refuse_empty(op, shape, axes):
    """max/min/argmax/argmin have no value over an empty group, as in PyTorch: refuse a reduction over
    an axis of size 0 (or over all elements of an empty tensor)."""
    if _reduced_size(shape, axes) == 0:
        if axes is None:
            raise ValueError(f"{op}: cannot reduce an empty tensor of shape {tuple(shape)}")
        raise ValueError(f"{op}: cannot reduce over dim {axes[0] if len(axes) == 1 else axes} of size 0 "
                         f"(an empty tensor of shape {tuple(shape)})")


def _total_dtype(dtype):
    """Sums and products of bool and integer tensors are int64, as in PyTorch (NumPy gives uint64 for
    unsigned types); floating ones keep their dtype."""
    return None if dtype.kind == "f" else backend.int64


class Sum(Primitive):
    saved = ()

    def forward(self, x, axes, keepdims):
        return x.sum(axis=axes, keepdims=keepdims, dtype=_total_dtype(x.dtype))

    def vjp(self, g, out, x, axes, keepdims):
        return (_keep(g, x.shape, axes, keepdims).expand(x.shape),)

    def jvp(self, tangents, out, x, axes, keepdims):
        return tangents[0].sum(axes, keepdim=keepdims)


class _Extremum(Primitive):
    """max / min over axes; ties share the gradient equally (as ``torch.amax``)."""
    def forward(self, x, axes, keepdims):
        _refuse_empty(self.name, x.shape, axes)
        return self.reduce(x, axis=axes, keepdims=keepdims)

    def _weights(self, out, x, axes, keepdims):
        o = out.array if keepdims else out.array.reshape(_kept_shape(x.shape, axes))
        hit = (x.array == o).astype(x.dtype)
        return constant(hit / hit.sum(axis=axes, keepdims=True))

    def vjp(self, g, out, x, axes, keepdims):
        return (_keep(g, x.shape, axes, keepdims) * self._weights(out, x, axes, keepdims),)

    def jvp(self, tangents, out, x, axes, keepdims):
        return (tangents[0] * self._weights(out, x, axes, keepdims)).sum(axes, keepdim=keepdims)


class Max(_Extremum):
    @staticmethod
    def reduce(x, **kw):
        return x.max(**kw)


class Min(_Extremum):
    @staticmethod
    def reduce(x, **kw):
        return x.min(**kw)


class Prod(Primitive):
    """Product over axes; the gradient is exact also where inputs are zero."""
    def forward(self, x, axes, keepdims):
        return x.prod(axis=axes, keepdims=keepdims, dtype=_total_dtype(x.dtype))

    def _partials(self, out, x, axes, keepdims):
        """d out / d x_i: the product of the other elements of x_i's group, built so that its own
        derivatives are right too (Hessians): exact to all orders where a group holds at most two
        zeros, and to second order with more. Write x = zs·nz, with zs the zero elements (1
        elsewhere) and nz the others (1 at zeros); then for a non-zero x_i the partial is
        prod(zs)·prod(nz)/x_i, and for a zero x_i it is prod(nz) times the product of the *other*
        zeros: 1 with one zero, the other zero (Σ zeros − x_i) with two, and 0 (with a zero
        gradient) with three or more."""
        zero = x.array == 0
        if not zero.any():
            return _keep(out, x.shape, axes, keepdims) / x
        is_zero = constant(zero)
        nz = where(is_zero, 1, x)
        rest = nz.prod(axes, keepdim=True)
        count = zero.sum(axis=axes, keepdims=True)
        zeros_product = where(is_zero, x, 1).prod(axes, keepdim=True)
        other_zero = where(is_zero, x, 0).sum(axes, keepdim=True) - x
        other_zeros = where(constant(count == 1), 1, where(constant(count == 2), other_zero, 0))
        return where(is_zero, rest * other_zeros, zeros_product * rest / nz)

    def vjp(self, g, out, x, axes, keepdims):
        return (_keep(g, x.shape, axes, keepdims) * self._partials(out, x, axes, keepdims),)

    def jvp(self, tangents, out, x, axes, keepdims):
        return (tangents[0] * self._partials(out, x, axes, keepdims)).sum(axes, keepdim=keepdims)


class LogSumExp(Primitive):
    """log Σ exp(x), computed stably around the maximum."""
    def forward(self, x, axes, keepdims):
        xp = backend.xp_of(x)
        # the maxima to subtract; an empty x has empty groups or none (and NumPy's max refuses it)
        m = x.max(axis=axes, keepdims=True) if x.size else xp.zeros(_kept_shape(x.shape, axes), x.dtype)
        m = xp.where(xp.isfinite(m), m, 0)
        s = xp.exp(x - m).sum(axis=axes, keepdims=True)
        # log(0) = -inf (all of a group -inf) without NumPy's divide-by-zero warning
        out = xp.where(s > 0, xp.log(xp.where(s > 0, s, 1)), -xp.inf) + m
        return out if keepdims else out.reshape(_reduced_shape(x.shape, axes))

    def _softmax(self, out, x, axes, keepdims):
        return (x - _keep(out, x.shape, axes, keepdims)).exp()

    def vjp(self, g, out, x, axes, keepdims):
        return (_keep(g, x.shape, axes, keepdims) * self._softmax(out, x, axes, keepdims),)

    def jvp(self, tangents, out, x, axes, keepdims):
        return (tangents[0] * self._softmax(out, x, axes, keepdims)).sum(axes, keepdim=keepdims)


class Softmax(Primitive):
    saved = ("out",)

    def forward(self, x, axis):
        if x.size == 0:     # nothing to normalise (and NumPy's max refuses empty arrays)
            return x.copy()
        xp = backend.xp_of(x)
        e = xp.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)

    def vjp(self, g, out, x, axis):
        return (out * (g - (g * out).sum(axis, keepdim=True)),)

    def jvp(self, tangents, out, x, axis):
        t = tangents[0]
        return out * (t - (t * out).sum(axis, keepdim=True))


class LogSoftmax(Primitive):
    saved = ("out",)

    def forward(self, x, axis):
        if x.size == 0:     # nothing to normalise (and NumPy's max refuses empty arrays)
            return x.copy()
        xp = backend.xp_of(x)
        shifted = x - x.max(axis=axis, keepdims=True)
        return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))

    def vjp(self, g, out, x, axis):
        return (g - out.exp() * g.sum(axis, keepdim=True),)

    def jvp(self, tangents, out, x, axis):
        t = tangents[0]
        return t - (out.exp() * t).sum(axis, keepdim=True)


_sum, _max, _min, _prod, _logsumexp = Sum(), Max(), Min(), Prod(), LogSumExp()
_softmax, _log_softmax = Softmax(), LogSoftmax()


def _reduce_args(x, dim, keepdim, axis, keepdims, op):
    dim = axis if dim is None else dim
    keepdim = keepdims if keepdims is not None else keepdim
    return normalize_axes(dim, x.ndim, op), bool(keepdim)


def _reduction(prim):
    def reduce(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
        x = lift(x)
        axes, keep = _reduce_args(x, dim, keepdim, axis, keepdims, prim.name)
        return apply(prim, (x,), {"axes": axes, "keepdims": keep})
    reduce.__name__ = prim.name
    reduce.__doc__ = f"{prim.name} over ``dim`` (all dims when None), keeping them as size 1 if ``keepdim``."
    return reduce


sum, amax, amin, prod, logsumexp = map(_reduction, (_sum, _max, _min, _prod, _logsumexp))
amax.__doc__ = "The maximum over ``dim`` (an int or a tuple; all when None); ties share the gradient equally."
amin.__doc__ = "The minimum over ``dim`` (an int or a tuple; all when None); ties share the gradient equally."

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _extremum(name, values_of, indices_of):
    def extremum(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
        d = axis if dim is None else dim
        keep = keepdims if keepdims is not None else keepdim
        if d is None:
            return values_of(x, None, keepdim=keep)
        if not isinstance(d, int) or isinstance(d, bool):
            raise TypeError(f"{name}: dim must be an int, as in torch.{name} (which then returns values and "
                            f"indices); use a{name} to reduce over several dims, got dim={d!r}")
        return ValuesIndices(values_of(x, d, keepdim=keep), indices_of(x, d, keepdim=keep))
    extremum.__name__ = name
    extremum.__doc__ = (f"torch.{name}: without ``dim`` the {name}imum of all elements; with an int ``dim`` a "
                        f"named pair (values, indices) along it.")
    return extremum


def mean(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    x = lift(x)
    axes, keep = _reduce_args(x, dim, keepdim, axis, keepdims, "mean")
    if not backend.is_floating(x.dtype):
        raise TypeError(f"mean: needs a floating-point tensor, got dtype {x.dtype}")
    n = _reduced_size(x.shape, axes)
    return x.sum(axes, keepdim=keep) * (1.0 / n if n else float("nan"))


def var(x, dim=None, correction=1, keepdim=False, *, axis=None, keepdims=None, unbiased=None):
    """Variance with Bessel's ``correction`` (1 by default, as ``torch.var``; 0 for the population)."""
    x = lift(x)
    axes, keep = _reduce_args(x, dim, keepdim, axis, keepdims, "var")
    if unbiased is not None:
        correction = int(unbiased)
    d = x - mean(x, axes, keepdim=True)
    n = _reduced_size(x.shape, axes)
    squares = (d * d).sum(axes, keepdim=keep)
    if n == 0:      # of no elements: NaN, as in PyTorch, with the zero derivatives of a sum of nothing
        return squares + float("nan")
    # with no degrees of freedom left, PyTorch divides by max(n, 0) = 0: inf (nan where all equal)
    return squares * (1.0 / (n - correction) if n > correction else float("inf"))


def std(x, dim=None, correction=1, keepdim=False, *, axis=None, keepdims=None, unbiased=None):
    return var(x, dim, correction, keepdim, axis=axis, keepdims=keepdims, unbiased=unbiased).sqrt()


def _arg(fn_name):
    def arg(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
        x = lift(x)
        dim = axis if dim is None else dim
        keepdim = keepdims if keepdims is not None else keepdim
        axes = normalize_axes(dim, x.ndim, fn_name)
        _refuse_empty(fn_name, x.shape, axes)
        if not axes:    # over all elements (dim None, or any dim of a 0-d tensor)
            idx = getattr(x.array.reshape(-1), fn_name)()
            out = backend.xp_of(x.array).asarray(idx, dtype=backend.int64)
            return constant(out.reshape((1,) * x.ndim) if keepdim else out)
        (axis_,) = axes
        return constant(getattr(x.array, fn_name)(axis=axis_, keepdims=keepdim).astype(backend.int64))
    arg.__name__ = fn_name
    arg.__doc__ = f"Indices of the {fn_name[3:]}imum along ``dim`` (of the flattened tensor when None); no gradient."
    return arg


argmax, argmin = _arg("argmax"), _arg("argmin")
max, min = _extremum("max", amax, argmax), _extremum("min", amin, argmin)


def _axis_op(prim):
    def op(x, dim=-1, *, axis=None):
        x = lift(x)
        dim = axis if axis is not None else dim
        if x.ndim == 0:     # a group of one element, along dim 0 or -1
            normalize_axes(dim, 0, prim.name)
            return op(x.reshape(1), 0).reshape(())
        (a,) = normalize_axes(dim, x.ndim, prim.name)
        return apply(prim, (x,), {"axis": a})
    op.__name__ = prim.name
    return op


softmax = _axis_op(_softmax)
softmax.__doc__ = "exp(x) / Σ exp(x) along ``dim`` (default the last)."
log_softmax = _axis_op(_log_softmax)
log_softmax.__doc__ = "x − logsumexp(x) along ``dim`` (default the last), computed stably."

