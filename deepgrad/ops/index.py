"""Indexing: ``x[index]`` with ints, slices, None, Ellipsis, integer arrays and boolean masks; its
gradient scatters back into zeros, adding up where an index repeats."""
from .. import backend
from ..autograd import function
from ..autograd.function import Primitive
from ..autograd.tensor import Tensor
from .common import apply, lift

_BASIC = (int, slice, type(None), type(Ellipsis))


class GetItem(Primitive):
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


def normalize_index(index, shape):
    """``index`` as a tuple of ints, slices, None, Ellipsis and integer arrays; boolean masks become the
    integer arrays of their true positions, Tensors and lists become arrays."""
    if not isinstance(index, tuple):
        index = (index,)
    out = []
    for i in index:
        if isinstance(i, Tensor):
            i = i.data
        elif isinstance(i, (list, range)):
            i = backend.numpy.asarray(i)
        if isinstance(i, bool):
            raise IndexError("getitem: a Python bool is not a supported index; use a boolean tensor mask")
        if getattr(i, "dtype", None) == backend.bool_:
            mask = backend.xp_of(i).asarray(i)
            out.extend(mask.nonzero())
        elif hasattr(i, "dtype") and getattr(i, "ndim", 0) >= 0 and not isinstance(i, _BASIC):
            if i.dtype.kind not in "iu":
                raise IndexError(f"getitem: index arrays must be integers or bools, got dtype {i.dtype}")
            out.append(i)
        elif isinstance(i, _BASIC):
            out.append(i)
        else:
            raise IndexError(f"getitem: unsupported index {i!r} of type {type(i).__name__} for a tensor "
                             f"of shape {shape}")
    return tuple(out)


def getitem(x, index):
    x = lift(x)
    return apply(_getitem, (x,), {"index": normalize_index(index, x.shape)})


def setitem(x, index, value):
    """In-place assignment ``x[index] = value`` on a tensor outside any gradient computation."""
    if x.requires_grad and function.is_grad_enabled():
        raise RuntimeError("in-place assignment to a tensor that requires grad would corrupt its gradient; "
                           "build a new tensor with where() or concatenate(), or assign under dg.no_grad()")
    x.data[normalize_index(index, x.shape)] = value.data if isinstance(value, Tensor) else value
