"""Indexing: ``x[index]`` with ints, slices, None, Ellipsis, integer arrays and boolean masks; its
gradient scatters back into zeros, adding up where an index repeats."""
from .. import backend
from ..autograd import function
from ..autograd.function import Primitive, apply
from ..autograd.inplace import update
from ..autograd.tensor import Tensor
from .binary import where
from .common import constant, lift

_BASIC = (int, slice, type(None), type(Ellipsis))


class GetItem(Primitive):
    saved = ()
    view = True          # its result may share the input's memory

    def forward(self, x, index):
        try:
            return x[index]
        except IndexError as e:
            raise IndexError(f"getitem: {e} (indexing a tensor of shape {tuple(x.shape)})") from None

    def vjp(self, g, out, x, index):
        return (apply(_scatter_add, (g,), {"index": index, "shape": x.shape}),)

    def jvp(self, tangents, out, x, index):
        return apply(_getitem, (tangents[0],), {"index": index})


class ScatterAdd(Primitive):
    """zeros(shape) with ``g`` added at ``index`` (repeated indices accumulate): the transpose of GetItem."""
    saved = ()
    def forward(self, g, index, shape):
        xp = backend.xp_of(g)
        z = xp.zeros(shape, g.dtype)
        if all(isinstance(i, _BASIC) for i in index):
            z[index] = g
        else:
            xp.add.at(z, index, g)
        return z

    def vjp(self, gg, out, g, index, shape):
        return (apply(_getitem, (gg,), {"index": index}),)

    def jvp(self, tangents, out, g, index, shape):
        return apply(_scatter_add, (tangents[0],), {"index": index, "shape": shape})


_getitem, _scatter_add = GetItem(), ScatterAdd()


def normalize_index(index, shape, device=backend.CPU):
    """``index`` as a tuple of ints, slices, None, Ellipsis and integer arrays; boolean masks become the
    integer arrays of their true positions (after checking that they match the axes they cover),
    Tensors and lists become arrays, on ``device`` (that of the indexed tensor: index arrays from the host
    are copied there, as PyTorch allows)."""
    if not isinstance(index, tuple):
        index = (index,)
    items = []
    for i in index:
        if isinstance(i, Tensor):
            i = i.array
        elif isinstance(i, (list, range)):
            i = backend.numpy.asarray(i)
        if isinstance(i, bool):
            raise IndexError("getitem: a Python bool is not a supported index; use a boolean tensor mask")
        if getattr(i, "dtype", None) == backend.bool_:
            if i.ndim == 0:
                raise IndexError("getitem: a zero-dimensional boolean mask is not a supported index")
        elif hasattr(i, "dtype") and getattr(i, "ndim", 0) >= 0 and not isinstance(i, _BASIC):
            if i.dtype.kind not in "iu":
                raise IndexError(f"getitem: index arrays must be integers or bools, got dtype {i.dtype}")
        elif not isinstance(i, _BASIC):
            raise IndexError(f"getitem: unsupported index {i!r} of type {type(i).__name__} for a tensor "
                             f"of shape {shape}")
        if device is not backend.CPU and not isinstance(i, _BASIC):
            i = backend.to_device(backend.array_of(i), device)
        items.append(i)
    out = []
    for axis, i in zip(_axes_of(items, shape), items):
        if getattr(i, "dtype", None) == backend.bool_:
            covered = tuple(shape[axis:axis + i.ndim])
            if tuple(i.shape) != covered:
                axes = f"axis {axis}" if i.ndim == 1 else f"axes {axis}..{axis + i.ndim - 1}"
                raise IndexError(f"getitem: the boolean mask of shape {tuple(i.shape)} does not match the "
                                 f"indexed tensor of shape {tuple(shape)} at {axes}")
            out.extend(backend.xp_of(i).asarray(i).nonzero())
        else:
            out.append(i)
    return tuple(out)


def _consumed(i):
    """How many axes of the indexed tensor one index entry covers."""
    if i is None or i is Ellipsis:
        return 0
    if getattr(i, "dtype", None) == backend.bool_:
        return i.ndim
    return 1


def _axes_of(items, shape):
    """The first axis of the indexed tensor that each index entry covers (entries after an Ellipsis
    are counted from the end)."""
    total = sum(_consumed(i) for i in items)
    ellipsis_span = max(len(shape) - total, 0)
    axes, axis = [], 0
    for i in items:
        axes.append(axis)
        axis += ellipsis_span if i is Ellipsis else _consumed(i)
    return axes


def _ints_first(index):
    """PyTorch applies integer indices before index arrays, while NumPy counts them as index arrays
    (so ``x[0, :, [1, 2]]`` has shape (3, 2) in PyTorch but (2, 3) in NumPy). When both kinds are
    present, split ``index`` into a basic index with the integers (and None/Ellipsis) and the rest,
    to apply one after the other; else None."""
    def is_int(i):
        return isinstance(i, int) or (getattr(i, "ndim", None) == 0 and i.dtype.kind in "iu")
    if not (any(is_int(i) for i in index) and any(getattr(i, "ndim", 0) > 0 for i in index)):
        return None
    first = tuple(int(i) if is_int(i) else i if i is None or i is Ellipsis else slice(None) for i in index)
    rest = tuple(slice(None) if i is None else i for i in index if not is_int(i))
    return first, rest


def getitem(x, index):
    x = lift(x)
    index = normalize_index(index, x.shape, x.device)
    split = _ints_first(index)
    if split is not None:
        x = apply(_getitem, (x,), {"index": split[0]})
        index = split[1]
    return apply(_getitem, (x,), {"index": index})


def setitem(x, index, value):
    """``x[index] = value`` in place. While gradients are recorded this is an in-place operation like
    PyTorch's: the positions written get their gradient from ``value``, the others keep ``x``'s history."""
    if function.is_grad_enabled() and (x.requires_grad or getattr(value, "requires_grad", False)):
        update(x, lambda old: _assigned(old, index, value), "setitem")
        return
    index = normalize_index(index, x.shape, x.device)
    target, split = x.array, _ints_first(index)
    if split is not None:
        target, index = target[split[0]], split[1]   # a view: basic indexing only
    try:
        target[index] = value.array if isinstance(value, Tensor) else value
    except (ValueError, IndexError) as e:
        got = f"a value of shape {tuple(value.shape)}" if hasattr(value, "shape") else repr(value)
        raise type(e)(f"setitem: cannot assign {got} into a tensor of shape {tuple(x.shape)}: {e}") from None
    function.bump_version(x)


def _assigned(x, index, value):
    """x with ``value`` at ``index``, as a recorded function of both: where(written, value placed, x)."""
    index = normalize_index(index, x.shape, x.device)
    xp = backend.xp_of(x.array)
    written = xp.zeros(x.shape, bool)
    written[index] = True
    region = written[index].shape
    value = lift(value, x).astype(x.dtype)
    try:
        placed = apply(_scatter_add, (value.expand(region),), {"index": index, "shape": x.shape})
    except ValueError as e:
        raise ValueError(f"setitem: cannot assign a value of shape {tuple(value.shape)} into a region of "
                         f"shape {region} of a tensor of shape {tuple(x.shape)}: {e}") from None
    return where(constant(written), placed, x)
