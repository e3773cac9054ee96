"""Order statistics: sort, argsort, topk, kthvalue, median, mode, quantile, unique. Positions are found
on the arrays (no gradient, as in PyTorch); values are then ``gather``ed, so their gradient goes back to
the elements chosen. NaN counts as larger than every number, as in PyTorch."""
from .. import backend
from ..autograd.tensor import Tensor
from .common import constant, lift, normalize_axes
from .selection import gather
from .layout import movedim
from .pointwise import lerp
from .reduce import ValuesIndices


def _dim(x, dim, op):
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    return normalize_axes(dim, x.ndim, op)[0] if x.ndim else 0


def _argsort(a, axis, descending):
    """Stable sort order of array ``a`` along ``axis``; descending keeps equal elements in their order."""
    xp = backend.xp_of(a)
    if not descending:
        return xp.argsort(a, axis=axis, kind="stable")
    n = a.shape[axis]
    order = xp.argsort(xp.flip(a, axis), axis=axis, kind="stable")
    return xp.flip(n - 1 - order, axis)


def _positions(x, axis, descending=False):
    """The sort order of tensor ``x`` along ``axis`` as an int64 tensor (0-d tensors count as 1-D)."""
    a = x.array.reshape(1) if x.ndim == 0 else x.array
    order = _argsort(a, axis, descending).astype(backend.int64)
    return constant(order.reshape(x.shape))


def argsort(input, dim=-1, descending=False, stable=False):
    """The indices that sort ``input`` along ``dim`` (always stable here)."""
    x = lift(input)
    return _positions(x, _dim(x, dim, "argsort"), descending)


def sort(input, dim=-1, descending=False, stable=False):
    """(values, indices) sorted along ``dim``; equal elements keep their order (``stable`` is always on)."""
    x = lift(input)
    axis = _dim(x, dim, "sort")
    indices = _positions(x, axis, descending)
    return ValuesIndices(gather(x, axis, indices), indices)


def _take(x, axis, positions, keepdim):
    """(values, indices) of ``x`` at ``positions`` along ``axis``, one per slice (``positions`` holds
    the slice's dimension with size 1)."""
    values = gather(x, axis, positions)
    if not keepdim and x.ndim:
        values, positions = values.squeeze(axis), positions.squeeze(axis)
    return ValuesIndices(values, positions)


def topk(input, k, dim=-1, largest=True, sorted=True):
    """The ``k`` largest (or smallest) elements along ``dim`` and their indices, in sorted order."""
    x = lift(input)
    axis = _dim(x, dim, "topk")
    n = x.shape[axis] if x.ndim else 1
    if not isinstance(k, int) or not 0 <= k <= n:
        raise ValueError(f"topk: k ({k!r}) must be an int in [0, {n}] for dimension {dim} of size {n}")
    indices = _positions(x, axis, descending=largest)
    if x.ndim:
        indices = indices[(slice(None),) * axis + (slice(0, k),)]
    return ValuesIndices(gather(x, axis, indices), indices)


def _slice_positions(x, axis, pick):
    """The original positions of the sorted elements ``pick(n, sorted_array, order)`` chooses, one per slice."""
    xp = backend.xp_of(x.array)
    a = xp.moveaxis(x.array.reshape(1) if x.ndim == 0 else x.array, axis, -1)
    order = _argsort(a, -1, False)
    ranks = pick(a.shape[-1], xp.take_along_axis(a, order, -1), order)
    chosen = xp.take_along_axis(order, ranks[..., None], -1).astype(backend.int64)
    return constant(xp.moveaxis(chosen, -1, axis).reshape(x.shape[:axis] + (1,) + x.shape[axis + 1:])
                    if x.ndim else chosen.reshape(()))


def _nonempty(x, axis, op):
    """``axis``, after checking that the slices along it have elements."""
    if x.ndim and x.shape[axis] == 0:
        raise ValueError(f"{op}: cannot reduce dimension {axis} of size 0 (tensor of shape {tuple(x.shape)})")
    return axis


def _constant_rank(rank):
    return lambda n, s, order: backend.xp_of(s).full(s.shape[:-1], rank(n))


def kthvalue(input, k, dim=-1, keepdim=False):
    """(values, indices) of the k-th smallest element along ``dim`` (k counts from 1)."""
    x = lift(input)
    axis = _dim(x, dim, "kthvalue")
    n = x.shape[axis] if x.ndim else 1
    if not isinstance(k, int) or not 1 <= k <= n:
        raise ValueError(f"kthvalue: k ({k!r}) must be an int in [1, {n}] for dimension {dim} of size {n}")
    return _take(x, axis, _slice_positions(x, axis, _constant_rank(lambda n: k - 1)), keepdim)


def _lower_median(n, s, order):
    """The rank of the lower median, or of the first NaN where a slice holds NaNs (the median is NaN)."""
    xp = backend.xp_of(s)
    nans = xp.isnan(s).sum(-1) if s.dtype.kind == "f" else xp.zeros(s.shape[:-1], int)
    return xp.where(nans > 0, n - nans, (n - 1) // 2)


def median(input, dim=None, keepdim=False):
    """The lower median: of all elements (a 0-d tensor) when ``dim`` is None, else (values, indices)
    along ``dim``. NaN wherever the elements include NaN."""
    x = lift(input)
    if dim is None:
        flat = x.reshape(-1)
        _nonempty(flat, 0, "median")
        return _take(flat, 0, _slice_positions(flat, 0, _lower_median), False).values
    axis = _nonempty(x, _dim(x, dim, "median"), "median")
    return _take(x, axis, _slice_positions(x, axis, _lower_median), keepdim)


def _most_frequent(n, s, order):
    """The rank of the last of the longest run of equal sorted values (the smallest such value), so the
    last position of the most frequent value (PyTorch leaves which position unspecified)."""
    xp = backend.xp_of(s)
    starts = xp.ones(s.shape, bool)
    starts[..., 1:] = s[..., 1:] != s[..., :-1]
    ends = xp.ones(s.shape, bool)
    ends[..., :-1] = starts[..., 1:]
    at = xp.arange(n)
    run_start = xp.maximum.accumulate(xp.where(starts, at, 0), axis=-1)
    return xp.argmax(xp.where(ends, at - run_start + 1, 0), axis=-1)


def mode(input, dim=-1, keepdim=False):
    """(values, indices): the most frequent value along ``dim`` (the smallest if several are) and its
    last position."""
    x = lift(input)
    axis = _nonempty(x, _dim(x, dim, "mode"), "mode")
    return _take(x, axis, _slice_positions(x, axis, _most_frequent), keepdim)


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """The ``q``-th quantiles (a number, or a 0-d or 1-D tensor of them in [0, 1]) of all elements, or
    along ``dim``; a 1-D q adds a first dimension. NaN wherever the elements include NaN."""
    x = lift(input)
    if not backend.is_floating(x.dtype):
        raise TypeError(f"quantile: input must be a floating-point tensor, got dtype {x.dtype}")
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"quantile: interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}")
    xp = backend.xp_of(x.array)
    if hasattr(q, "dtype") and q.dtype != x.dtype:
        raise TypeError(f"quantile: q must have input's dtype {x.dtype}, got {q.dtype}")
    qs = xp.asarray(q.array if isinstance(q, Tensor) else q, dtype=x.dtype)
    if qs.ndim > 1 or (qs.size and (qs.min() < 0 or qs.max() > 1)):
        raise ValueError(f"quantile: q must be a number or a 0-d or 1-D tensor of values in [0, 1], got {q!r}")
    if x.numel() == 0:
        raise ValueError(f"quantile: cannot take quantiles of an empty tensor of shape {tuple(x.shape)}")
    shape = x.shape
    if dim is None:
        x, axis = x.reshape(-1), 0
    else:
        axis = _dim(x, dim, "quantile")
        x = x.reshape(1) if x.ndim == 0 else x
    s = movedim(gather(x, axis, _positions(x, axis)), axis, -1)   # (..., n), sorted
    n = s.shape[-1]
    nans = xp.isnan(s.array).any(-1, keepdims=True)
    rank = xp.where(nans, n - 1, qs.reshape(-1) * (n - 1))       # (..., Q): NaN slices take the last (NaN)
    lo, hi = xp.floor(rank), xp.ceil(rank)
    if interpolation == "nearest":
        lo = hi = xp.round(rank)
    elif interpolation == "lower":
        hi = lo
    elif interpolation == "higher":
        lo = hi
    frac = xp.full(rank.shape, 0.5, x.dtype) if interpolation == "midpoint" else (rank - lo).astype(x.dtype)
    below = gather(s, -1, constant(lo.astype(backend.int64)))
    above = gather(s, -1, constant(hi.astype(backend.int64)))
    out = movedim(lerp(below, above, constant(frac)), -1, 0)     # (Q, ...)
    if keepdim:
        kept = tuple(1 if dim is None or i == axis else k for i, k in enumerate(shape))
        out = out.reshape((out.shape[0],) + kept)
    return out if qs.ndim else out[0]


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct values (sorted), or distinct slices along ``dim``; with ``return_inverse`` also where
    each element went, with ``return_counts`` how often each occurs. No gradient."""
    x = lift(input)
    xp = backend.xp_of(x.array)
    axis = None if dim is None else _dim(x, dim, "unique")
    values, inverse, counts = xp.unique(x.array, return_inverse=True, return_counts=True, axis=axis)
    inverse = inverse.reshape(x.shape if axis is None else (x.shape[axis],)).astype(backend.int64)
    out = (constant(values), constant(inverse), constant(counts.astype(backend.int64)))
    chosen = (True, return_inverse, return_counts)
    picked = tuple(o for o, c in zip(out, chosen) if c)
    return picked[0] if len(picked) == 1 else picked
