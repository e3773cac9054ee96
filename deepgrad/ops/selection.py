"""Selecting and placing elements by index, as PyTorch does: gather and scatter_add (two primitives, each
the other's transpose), scatter, index_select, masked_fill, masked_select, nonzero, where(condition),
one_hot and bincount. The index tensors are inputs of the primitives (not parameters), so a traced
graph reads them afresh at every call."""
from .. import backend
from ..autograd.function import Primitive, apply
from ..autograd.tensor import Tensor
from . import binary
from .common import constant, lift, normalize_axes
from .index import getitem


def _grid(index, axis):
    """The full NumPy index that addresses, for each entry of ``index``, its target along ``axis``."""
    xp = backend.xp_of(index)
    grid = list(backend.open_grid(index.shape, xp))
    grid[axis] = index
    return tuple(grid)


class Gather(Primitive):
    """out[i, j] = x[index[i, j], j] along ``axis`` (``torch.gather``); ``index`` may be smaller than x
    in the other dims."""
    saved = (1,)

    def forward(self, x, index, axis):
        return x[_grid(index, axis)]

    def vjp(self, g, out, x, index, axis):
        return (_scatter_sum(g, index, axis, x.shape), None)

    def jvp(self, tangents, out, x, index, axis):
        return _gather(tangents[0], index, axis)


class ScatterSum(Primitive):
    """zeros(shape) with src[i, j] added at [index[i, j], j] along ``axis`` (repeats accumulate): the
    transpose of Gather."""
    saved = (1,)

    def forward(self, src, index, axis, shape):
        xp = backend.xp_of(src)
        out = xp.zeros(shape, src.dtype)
        xp.add.at(out, _grid(index, axis), src)
        return out

    def vjp(self, g, out, src, index, axis, shape):
        return (_gather(g, index, axis), None)

    def jvp(self, tangents, out, src, index, axis, shape):
        return _scatter_sum(tangents[0], index, axis, shape)


_gather_prim, _scatter_sum_prim = Gather(), ScatterSum()


def _gather(x, index, axis):
    return apply(_gather_prim, (x, index), {"axis": axis})


def _scatter_sum(src, index, axis, shape):
    return apply(_scatter_sum_prim, (src, index), {"axis": axis, "shape": tuple(shape)})


def _checked_index(op, x, dim, index, src=None):
    """(axis, index) after PyTorch's checks: an int64 index with x's number of dims, no larger than x (and
    than src) outside ``dim``, and entries within x's size along ``dim``."""
    index = lift(index)
    if index.device != x.device:
        raise RuntimeError(f"{op}: index is on {index.device} but input is on {x.device}; they must be on one device")
    if index.dtype != backend.int64:
        raise TypeError(f"{op}: index must be an int64 tensor, got dtype {index.dtype}")
    (axis,) = normalize_axes(dim, x.ndim, op) or (0,)
    if index.ndim != x.ndim and index.numel() and x.ndim:
        raise ValueError(f"{op}: index has {index.ndim} dims but input has {x.ndim}; they must match")
    for name, t in (("input", x), ("src", src)):
        if t is not None and t.ndim and any(k != axis and i > n for k, (i, n) in enumerate(zip(index.shape, t.shape))):
            raise ValueError(f"{op}: index of shape {tuple(index.shape)} is larger than {name} of shape "
                             f"{tuple(t.shape)} outside dim {axis}")
    n = x.shape[axis] if x.ndim else 1
    if index.numel() and (index.array.min() < 0 or index.array.max() >= n):
        raise IndexError(f"{op}: index values must lie in [0, {n}) along dim {axis}, got "
                         f"[{index.array.min()}, {index.array.max()}]")
    return axis, index


def gather(input, dim, index):
    """Values of ``input`` along ``dim`` at ``index`` (an int64 tensor with input's number of dims)."""
    x = lift(input)
    axis, index = _checked_index("gather", x, dim, index)
    if x.ndim == 0:
        return _gather(x.reshape(1), index.reshape(-1), 0).reshape(index.shape)
    return _gather(x, index, axis)


def _region(src, index):
    """The part of ``src`` that ``index`` covers (PyTorch only reads that part)."""
    if tuple(src.shape) == tuple(index.shape):
        return src
    return getitem(src, tuple(slice(0, n) for n in index.shape))


def scatter_add(input, dim, index, src):
    """``input`` with each src[i, j] added at [index[i, j], j] along ``dim`` (repeated indices add up)."""
    x, src = lift(input), lift(src)
    if src.dtype != x.dtype:
        raise TypeError(f"scatter_add: src must have input's dtype {x.dtype}, got {src.dtype}")
    axis, index = _checked_index("scatter_add", x, dim, index, src)
    if x.ndim == 0:
        return scatter_add(x.reshape(1), 0, index.reshape(-1), src.reshape(-1)).reshape(())
    return binary.add(x, _scatter_sum(_region(src, index), index, axis, x.shape))


def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    """``input`` with src[i, j] (or the number ``value``) written at [index[i, j], j] along ``dim``.
    As in PyTorch, which of several values written to one place wins is unspecified (here they add up).
    ``reduce='add'`` is ``scatter_add``."""
    if reduce == "add":
        return scatter_add(input, dim, index, src)
    if reduce is not None:
        raise ValueError(f"scatter: reduce must be None or 'add', got {reduce!r}")
    x = lift(input)
    if (src is None) == (value is None):
        raise TypeError("scatter: give exactly one of src (a tensor or number) and value")
    src = value if src is None else src
    axis, index = _checked_index("scatter", x, dim, index, src if isinstance(src, Tensor) else None)
    if x.ndim == 0:
        return scatter(x.reshape(1), 0, index.reshape(-1), src.reshape(-1) if isinstance(src, Tensor) else src)[0]
    xp = backend.xp_of(x.array)
    written = xp.zeros(x.shape, bool)
    written[_grid(index.array, axis)] = True
    if isinstance(src, Tensor):
        if src.dtype != x.dtype:
            raise TypeError(f"scatter: src must have input's dtype {x.dtype}, got {src.dtype}")
        src = _scatter_sum(_region(src, index), index, axis, x.shape)
    else:
        src = constant(xp.asarray(src, x.dtype))
    return binary.where(constant(written), src, x)


def index_select(input, dim, index):
    """The entries of ``input`` at positions ``index`` (a 1-D or 0-d integer tensor) along ``dim``."""
    x, index = lift(input), lift(index)
    if index.dtype.kind not in "iu" or index.ndim > 1:
        raise TypeError(f"index_select: index must be a 1-D integer tensor, got dtype {index.dtype} and "
                        f"shape {tuple(index.shape)}")
    (axis,) = normalize_axes(dim, x.ndim, "index_select") or (0,)
    if x.ndim == 0:
        return getitem(x.reshape(1), index.reshape(-1)).reshape(index.shape)
    return getitem(x, (slice(None),) * axis + (index.reshape(-1),))


def _mask(mask, op):
    mask = lift(mask)
    if mask.dtype != backend.bool_:
        raise TypeError(f"{op}: mask must be a bool tensor, got dtype {mask.dtype}")
    return mask


def masked_fill(input, mask, value):
    """``input`` with ``value`` (a number or 0-d tensor, cast to input's dtype) where ``mask`` is true."""
    x, mask = lift(input), _mask(mask, "masked_fill")
    if isinstance(value, Tensor):
        if value.ndim:
            raise ValueError(f"masked_fill: value must be a number or a 0-dim tensor, got shape "
                             f"{tuple(value.shape)}")
        value = value.astype(x.dtype)
    else:
        value = constant(backend.xp_of(x.array).asarray(value).astype(x.dtype))
    return binary.where(mask, value, x)


def masked_select(input, mask):
    """The elements of ``input`` where ``mask`` is true, as a 1-D tensor (the two broadcast together)."""
    x, mask = lift(input), _mask(mask, "masked_select")
    try:
        shape = backend.numpy.broadcast_shapes(x.shape, mask.shape)
    except ValueError:
        raise ValueError(f"masked_select: shapes {tuple(x.shape)} and {tuple(mask.shape)} (mask) cannot be "
                         "broadcast together") from None
    return getitem(x.expand(shape).reshape(-1), mask.expand(shape).reshape(-1))


def nonzero(input, *, as_tuple=False):
    """The indices of the non-zero elements: an (n, ndim) int64 tensor, or one 1-D tensor per dim."""
    x = lift(input)
    xp = backend.xp_of(x.array)
    found = xp.nonzero(x.array.reshape(1) if x.ndim == 0 else x.array)
    if as_tuple:
        return tuple(constant(i.astype(backend.int64)) for i in found)
    return constant(xp.stack(found, axis=1).astype(backend.int64) if x.ndim else
                    xp.zeros((len(found[0]), 0), backend.int64))


def argwhere(input):
    """``nonzero(input)``: one row of indices per non-zero element."""
    return nonzero(input)


def where(condition, input=None, other=None):
    """``where(condition, input, other)`` chooses elementwise (``binary.where``); ``where(condition)`` is
    ``nonzero(condition, as_tuple=True)``."""
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    if input is None or other is None:
        raise TypeError("where: give both input and other, or neither")
    return binary.where(condition, input, other)


def one_hot(tensor, num_classes=-1):
    """int64 class indices as one-hot int64 vectors in a new last dim of size ``num_classes`` (one more
    than the largest index when -1)."""
    x = lift(tensor)
    if x.dtype != backend.int64:
        raise TypeError(f"one_hot: expects an int64 tensor of class indices, got dtype {x.dtype}")
    xp = backend.xp_of(x.array)
    if x.numel() and x.array.min() < 0:
        raise ValueError("one_hot: class indices must be non-negative")
    if num_classes == -1:
        if not x.numel():
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor; give num_classes")
        num_classes = int(x.array.max()) + 1
    elif x.numel() and x.array.max() >= num_classes:
        raise ValueError(f"one_hot: class index {int(x.array.max())} is out of range for num_classes={num_classes}")
    return constant((x.array[..., None] == xp.arange(num_classes)).astype(backend.int64))


def bincount(input, weights=None, minlength=0):
    """Counts of each value of a 1-D non-negative integer tensor (sums of ``weights`` when given: in their
    dtype if floating, else float64), at least ``minlength`` long."""
    x = lift(input)
    if x.ndim != 1 or x.dtype.kind not in "iu":
        raise TypeError(f"bincount: expects a 1-D integer tensor, got dtype {x.dtype} and shape {tuple(x.shape)}")
    if x.numel() and x.array.min() < 0:
        raise ValueError("bincount: values must be non-negative")
    xp = backend.xp_of(x.array)
    if weights is None:
        return constant(xp.bincount(x.array, minlength=minlength).astype(backend.int64))
    w = lift(weights)
    if w.shape != x.shape:
        raise ValueError(f"bincount: weights of shape {tuple(w.shape)} must match input's {tuple(x.shape)}")
    dtype = w.dtype if backend.is_floating(w.dtype) else backend.float64
    return constant(xp.bincount(x.array, w.array, minlength=minlength).astype(dtype))
