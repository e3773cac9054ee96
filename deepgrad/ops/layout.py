"""Rearranging and selecting elements, as PyTorch names it: chunk, unbind, narrow, movedim, t, repeat,
tile, roll (a primitive), tril/triu, diagonal/diag/trace, meshgrid, and the ``view_as``/``type_as``/``type``
conveniences. All but roll are compositions of reshape, permute, expand, indexing and where, whose
gradients are exact."""
import builtins
import math

from .. import backend
from ..autograd.function import Primitive, apply
from .binary import where
from .common import constant, lift, normalize_axes
from .creation import zeros
from .selection import scatter_add
from .shape import permute, reshape, split, transpose
from .unary import astype


def _axis(dim, x, op):
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    if x.ndim == 0:
        raise ValueError(f"{op}: dim {dim} given but the tensor is 0-dimensional")
    (a,) = normalize_axes(dim, x.ndim, op)
    return a


def _along(a, ndim, entry):
    """An index that puts ``entry`` at axis ``a`` and takes everything elsewhere."""
    return (slice(None),) * a + (entry,)


def chunk(input, chunks, dim=0):
    """``chunks`` pieces of equal size along ``dim`` (the last may be smaller, and there may be fewer
    pieces when the size does not allow that many), as ``torch.chunk``."""
    x = lift(input)
    if not isinstance(chunks, int) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    a = _axis(dim, x, "chunk")
    n = x.shape[a]
    if n == 0:
        return split(x, [0] * chunks, a)
    return split(x, -(-n // chunks), a)


def unbind(input, dim=0):
    """The slices along ``dim``, as a tuple of tensors with that dimension removed."""
    x = lift(input)
    a = _axis(dim, x, "unbind")
    return tuple(x[_along(a, x.ndim, i)] for i in range(x.shape[a]))


def narrow(input, dim, start, length):
    """``length`` elements from ``start`` along ``dim`` (start may be negative)."""
    x = lift(input)
    a = _axis(dim, x, "narrow")
    n = x.shape[a]
    if not -n <= start <= n:
        raise IndexError(f"narrow: start {start} is out of range for dimension {dim} of size {n}")
    start = start + n if start < 0 else start
    if length < 0 or start + length > n:
        raise ValueError(f"narrow: start ({start}) + length ({length}) exceeds dimension {dim} of size {n}")
    return x[_along(a, x.ndim, slice(start, start + length))]


def unflatten(input, dim, sizes):
    """Dim ``dim`` split into dims of ``sizes`` (one may be -1), as ``torch.unflatten``."""
    x = lift(input)
    a = _axis(dim, x, "unflatten")
    sizes, n = tuple(sizes), x.shape[a]
    known = math.prod(k for k in sizes if k != -1)
    if sizes.count(-1) > 1 or (not known or n % known if -1 in sizes else known != n):
        raise ValueError(f"unflatten: sizes {sizes} do not multiply to dim {dim}'s size {x.shape[a]}")
    return reshape(x, x.shape[:a] + sizes + x.shape[a + 1:])


def movedim(input, source, destination):
    """Move the dims ``source`` to positions ``destination`` (ints or tuples), keeping the others in order."""
    x = lift(input)
    src = (source,) if isinstance(source, int) else tuple(source)
    dst = (destination,) if isinstance(destination, int) else tuple(destination)
    if len(src) != len(dst):
        raise ValueError(f"movedim: source {source!r} and destination {destination!r} must have the same "
                         "number of dims")
    src = [normalize_axes(d, x.ndim, "movedim")[0] if x.ndim else 0 for d in src]
    dst = [normalize_axes(d, x.ndim, "movedim")[0] if x.ndim else 0 for d in dst]
    for name, dims in (("source", src), ("destination", dst)):
        if len(set(dims)) != len(dims):
            raise ValueError(f"movedim: repeated dim in {name} {dims}")
    if not x.ndim:
        return x
    order = [d for d in range(x.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(x, *order)


moveaxis = movedim


def t(input):
    """The transpose of a matrix; 0-d and 1-D tensors are returned as they are (``torch.t``)."""
    x = lift(input)
    if x.ndim > 2:
        raise ValueError(f"t: expects a tensor with at most 2 dimensions, got shape {tuple(x.shape)}; "
                         "use transpose(dim0, dim1) or .mT")
    return transpose(x, 0, 1) if x.ndim == 2 else x


def repeat(input, *sizes):
    """The tensor repeated ``sizes[i]`` times along each dim (``Tensor.repeat``; extra leading sizes add dims)."""
    x = lift(input)
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if builtins.any(not isinstance(r, int) or isinstance(r, bool) or r < 0 for r in sizes):
        raise ValueError(f"repeat: sizes must be non-negative ints, got {sizes!r}")
    if len(sizes) < x.ndim:
        raise ValueError(f"repeat: {len(sizes)} sizes given for a tensor with {x.ndim} dimensions "
                         f"(shape {tuple(x.shape)}); give at least one per dimension")
    shape = (1,) * (len(sizes) - x.ndim) + tuple(x.shape)
    spread = reshape(x, tuple(v for n in shape for v in (1, n)))
    spread = spread.expand(tuple(v for r, n in zip(sizes, shape) for v in (r, n)))
    return reshape(spread, tuple(r * n for r, n in zip(sizes, shape)))


def tile(input, dims):
    """``repeat`` with ``dims`` padded on the left with 1s to the tensor's number of dimensions."""
    x = lift(input)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    return repeat(x, *((1,) * (x.ndim - len(dims)) + dims))


class Roll(Primitive):
    saved = ()

    def forward(self, x, shifts, axes):
        return backend.xp_of(x).roll(x, shifts, axes)

    def vjp(self, g, out, x, shifts, axes):
        return (apply(_roll, (g,), {"shifts": tuple(-s for s in shifts), "axes": axes}),)

    def jvp(self, tangents, out, x, shifts, axes):
        return apply(_roll, (tangents[0],), {"shifts": shifts, "axes": axes})


_roll = Roll()


def roll(input, shifts, dims=None):
    """Elements shifted cyclically by ``shifts`` along ``dims`` (of the flattened tensor when None)."""
    x = lift(input)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    if dims is None:
        if len(shifts) != 1:
            raise ValueError(f"roll: without dims, shifts must be one int, got {shifts!r}")
        return reshape(roll(reshape(x, -1), shifts, 0), x.shape)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(dims) != len(shifts):
        raise ValueError(f"roll: shifts {shifts!r} and dims {dims!r} must have the same length")
    axes = tuple(_axis(d, x, "roll") for d in dims)
    return apply(_roll, (x,), {"shifts": shifts, "axes": axes})


def _triangle(name, lower):
    def triangle(input, diagonal=0):
        x = lift(input)
        if x.ndim < 2:
            raise ValueError(f"{name}: input must have at least 2 dimensions, got shape {tuple(x.shape)}")
        n, m = x.shape[-2:]
        xp = backend.xp_of(x.array)
        keep = xp.tri(n, m, diagonal, bool) if lower else ~xp.tri(n, m, diagonal - 1, bool)
        return where(constant(keep), x, constant(xp.zeros((), x.dtype)))
    triangle.__name__ = name
    side = "on and below" if lower else "on and above"
    triangle.__doc__ = f"The elements {side} the ``diagonal``-th diagonal of the last two dims; zeros elsewhere."
    return triangle


tril, triu = _triangle("tril", True), _triangle("triu", False)


def _diagonal_positions(n, m, offset):
    """Row and column indices of the ``offset``-th diagonal of an n×m matrix."""
    length = builtins.max(0, builtins.min(n + builtins.min(offset, 0), m - builtins.max(offset, 0)))
    xp = backend.numpy
    rows = xp.arange(length) + builtins.max(-offset, 0)
    return rows, rows - builtins.max(-offset, 0) + builtins.max(offset, 0)


def diagonal(input, offset=0, dim1=0, dim2=1):
    """The ``offset``-th diagonal of the matrices in dims (dim1, dim2), as a new last dimension."""
    x = lift(input)
    a, b = _axis(dim1, x, "diagonal"), _axis(dim2, x, "diagonal")
    if a == b:
        raise ValueError(f"diagonal: dim1 and dim2 must differ, got {dim1} and {dim2}")
    x = movedim(x, (a, b), (-2, -1))
    rows, cols = _diagonal_positions(*x.shape[-2:], offset)
    return x[..., rows, cols]


def diag(input, diagonal=0):
    """For a vector, the square matrix with it on the ``diagonal``-th diagonal; for a matrix, that diagonal."""
    x = lift(input)
    if x.ndim == 2:
        return x[_diagonal_positions(*x.shape, diagonal)]
    if x.ndim != 1:
        raise ValueError(f"diag: expects a 1-D or 2-D tensor, got shape {tuple(x.shape)}")
    m = x.shape[0] + builtins.abs(diagonal)
    rows, cols = _diagonal_positions(m, m, diagonal)
    flat = constant(backend.xp_of(x.array).asarray(rows * m + cols, backend.int64))
    return reshape(scatter_add(zeros(m * m, dtype=x.dtype, device=x.device), 0, flat, x), (m, m))


def trace(input):
    """The sum of the main diagonal of a matrix (``torch.trace``; ``deepgrad.trace`` is the static tracer,
    so this one is ``Tensor.trace`` and ``deepgrad.ops.layout.trace``)."""
    x = lift(input)
    if x.ndim != 2:
        raise ValueError(f"trace: expects a matrix, got shape {tuple(x.shape)}")
    return diagonal(x).sum()


def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids from 1-D tensors: with ``indexing='ij'`` output i varies along dim i; with 'xy'
    the first two dims are swapped (Cartesian, as NumPy's default)."""
    if len(tensors) == 1 and isinstance(tensors[0], (tuple, list)):
        tensors = tuple(tensors[0])
    tensors = [lift(v) for v in tensors]
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    for i, v in enumerate(tensors):
        if v.ndim > 1:
            raise ValueError(f"meshgrid: tensor {i} has shape {tuple(v.shape)}; expected 0-d or 1-D tensors")
        if v.dtype != tensors[0].dtype:
            raise TypeError(f"meshgrid: all tensors must have the same dtype, got {tensors[0].dtype} and {v.dtype}")
    dims = list(range(len(tensors)))
    if indexing == "xy" and len(dims) > 1:
        dims[0], dims[1] = 1, 0
    sizes = [0] * len(tensors)
    for d, v in zip(dims, tensors):
        sizes[d] = v.numel()
    return tuple(reshape(v, tuple(-1 if k == d else 1 for k in range(len(dims)))).expand(tuple(sizes))
                 for d, v in zip(dims, tensors))


def view_as(input, other):
    """``input`` in ``other``'s shape."""
    return reshape(input, tuple(other.shape))


def type_as(input, other):
    """``input`` cast to ``other``'s dtype."""
    return astype(input, other.dtype)


_TYPE_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long", "int32": "Int",
               "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def type(input, dtype=None):
    """Without ``dtype`` the type's name ('deepgrad.FloatTensor', PyTorch's 'torch.FloatTensor'); with a
    dtype (or such a name) the tensor cast to it."""
    x = lift(input)
    if dtype is None:
        return f"deepgrad.{_TYPE_NAMES[x.dtype.name]}Tensor"
    if isinstance(dtype, str) and dtype.endswith("Tensor"):
        names = {v: k for k, v in _TYPE_NAMES.items()}
        key = dtype.rsplit(".", 1)[-1][:-len("Tensor")]
        if key not in names:
            raise TypeError(f"type: unknown tensor type {dtype!r}; expected e.g. 'torch.FloatTensor'")
        dtype = names[key]
    return astype(x, dtype)
