"""Operations that move elements without changing them: reshape, permute, expand, concatenate,
pad, flip, and those composed from them (squeeze, unsqueeze, flatten, stack, split)."""
import builtins

from .. import backend
from ..autograd.function import Primitive, apply
from ..autograd.tensor import Tensor
from .common import lift, normalize_axes, unbroadcast
from .unary import astype


class Reshape(Primitive):
    saved = ()
    view = True          # its result may share the input's memory

    def forward(self, x, shape):
        return x.reshape(shape)

    def vjp(self, g, out, x, shape):
        return (g.reshape(x.shape),)

    def jvp(self, tangents, out, x, shape):
        return tangents[0].reshape(shape)


class Permute(Primitive):
    saved = ()
    view = True          # its result may share the input's memory

    def forward(self, x, perm):
        return x.transpose(perm)

    def vjp(self, g, out, x, perm):
        inverse = [0] * len(perm)
        for i, p in enumerate(perm):
            inverse[p] = i
        return (g.permute(*inverse),)

    def jvp(self, tangents, out, x, perm):
        return tangents[0].permute(*perm)


class BroadcastTo(Primitive):
    saved = ()
    view = True          # its result may share the input's memory

    def forward(self, x, shape):
        return backend.xp_of(x).broadcast_to(x, shape)

    def vjp(self, g, out, x, shape):
        return (unbroadcast(g, x.shape),)

    def jvp(self, tangents, out, x, shape):
        return tangents[0].expand(shape)


class Concatenate(Primitive):
    saved = ()

    def forward(self, *xs, axis):
        return backend.xp_of(xs[0]).concatenate(xs, axis=axis)

    def vjp(self, g, out, *xs, axis):
        grads, start = [], 0
        for x in xs:
            stop = start + x.shape[axis]
            grads.append(g[(slice(None),) * axis + (slice(start, stop),)] if x.requires_grad else None)
            start = stop
        return tuple(grads)

    def jvp(self, tangents, out, *xs, axis):
        parts = [t if t is not None else _zeros_like(x) for t, x in zip(tangents, xs)]
        return concatenate(parts, axis)


class Pad(Primitive):
    saved = ()

    def forward(self, x, widths, value):
        if not widths:      # a 0-d tensor: NumPy's pad refuses an empty list of widths
            return x.copy()
        return backend.xp_of(x).pad(x, widths, mode="constant", constant_values=value)

    def vjp(self, g, out, x, widths, value):
        return (g[tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, x.shape))],)

    def jvp(self, tangents, out, x, widths, value):
        return apply(_pad, (tangents[0],), {"widths": widths, "value": 0})


class Flip(Primitive):
    saved = ()
    view = True          # its result may share the input's memory

    def forward(self, x, axes):
        return backend.xp_of(x).flip(x, axes)

    def vjp(self, g, out, x, axes):
        return (g.flip(axes),)

    def jvp(self, tangents, out, x, axes):
        return tangents[0].flip(axes)


_reshape, _permute, _broadcast_to, _concatenate, _pad, _flip = (
    Reshape(), Permute(), BroadcastTo(), Concatenate(), Pad(), Flip())


def _zeros_like(x):
    return Tensor.wrap(backend.xp_of(x.array).zeros(x.shape, x.dtype))


def _shape_args(shape, op):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for n in shape:
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"{op}: sizes must be ints, got {shape!r}")
    return tuple(shape)


def reshape(x, *shape):
    """The same elements in a new shape; one size may be -1 (inferred)."""
    x = lift(x)
    shape = _shape_args(shape, "reshape")
    if shape == x.shape:
        return x
    total = x.array.size
    known = 1
    for n in shape:
        if n != -1:
            known *= n
    if shape.count(-1) > 1 or builtins.any(n < -1 for n in shape):
        raise ValueError(f"reshape: invalid shape {shape}: sizes must be >= 0 with at most one -1")
    if -1 in shape:
        if known == 0 or total % known:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({total} elements) into {shape}")
        shape = tuple(total // known if n == -1 else n for n in shape)
    elif known != total:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({total} elements) into {shape}")
    return apply(_reshape, (x,), {"shape": shape})


def permute(x, *dims):
    """Reorder the axes: output axis i is input axis dims[i]."""
    x = lift(x)
    dims = _shape_args(dims, "permute")
    if len(dims) != x.ndim:
        raise ValueError(f"permute: dims {dims} are not a permutation of the {x.ndim} axes of a tensor of "
                         f"shape {x.shape} (got {len(dims)} dims)")
    for d in dims:
        if not -x.ndim <= d < x.ndim:
            raise ValueError(f"permute: dim {d} is out of range for a tensor of shape {x.shape} "
                             f"(expected dims in [{-x.ndim}, {x.ndim - 1}])")
    if sorted(d % x.ndim if x.ndim else d for d in dims) != list(range(x.ndim)) or len(dims) != x.ndim:
        raise ValueError(f"permute: dims {dims} are not a permutation of the {x.ndim} axes of a tensor of shape {x.shape}")
    perm = tuple(d % x.ndim for d in dims)
    if perm == tuple(range(x.ndim)):
        return x
    return apply(_permute, (x,), {"perm": perm})


def transpose(x, dim0=-2, dim1=-1):
    """Swap two axes (``torch.transpose``); by default the last two."""
    x = lift(x)
    a, b = (normalize_axes(d, x.ndim, "transpose")[0] for d in (dim0, dim1))
    perm = list(range(x.ndim))
    perm[a], perm[b] = perm[b], perm[a]
    return permute(x, *perm)


def expand(x, *shape):
    """Broadcast ``x`` to ``shape`` without copying; -1 keeps a size (``torch.Tensor.expand``)."""
    x = lift(x)
    shape = _shape_args(shape, "expand")
    if len(shape) < x.ndim:
        raise ValueError(f"expand: the target shape {shape} has fewer dimensions than the tensor's {x.shape}")
    lead = len(shape) - x.ndim
    for i, n in enumerate(shape):
        if n < 0 and (n != -1 or i < lead):
            where = "a new leading dimension" if i < lead else "an existing dimension (only -1 keeps its size)"
            raise ValueError(f"expand: size {n} at position {i} of {shape} is not allowed in {where} "
                             f"(expanding a tensor of shape {x.shape})")
    target = tuple(x.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(shape))
    if target == x.shape:
        return x
    for i, n in enumerate(x.shape):
        if n != 1 and n != target[i + lead]:
            raise ValueError(f"expand: cannot broadcast a tensor of shape {x.shape} to {target} "
                             f"(axis {i} has size {n})")
    return apply(_broadcast_to, (x,), {"shape": target})


broadcast_to = expand


def squeeze(x, dim=None):
    """Remove axes of size 1 (only ``dim`` when given, which must then have size 1 to be removed)."""
    x = lift(x)
    axes = normalize_axes(dim, x.ndim, "squeeze")
    shape = tuple(n for i, n in enumerate(x.shape) if not (n == 1 and (axes is None or i in axes)))
    return reshape(x, shape)


def unsqueeze(x, dim):
    """Insert an axis of size 1 at position ``dim`` (negative counts from the end of the result)."""
    x = lift(x)
    if not isinstance(dim, int) or not -(x.ndim + 1) <= dim <= x.ndim:
        raise ValueError(f"unsqueeze: dim {dim!r} is out of range for a tensor of shape {x.shape} "
                         f"(expected a dim in [{-(x.ndim + 1)}, {x.ndim}])")
    (d,) = normalize_axes(dim, x.ndim + 1, "unsqueeze")
    return reshape(x, x.shape[:d] + (1,) + x.shape[d:])


def flatten(x, start_dim=0, end_dim=-1):
    """Merge axes start_dim..end_dim into one (``torch.flatten``)."""
    x = lift(x)
    if x.ndim == 0:
        return reshape(x, (1,))
    s, e = (normalize_axes(d, x.ndim, "flatten")[0] for d in (start_dim, end_dim))
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    n = 1
    for d in x.shape[s:e + 1]:
        n *= d
    return reshape(x, x.shape[:s] + (n,) + x.shape[e + 1:])


def concatenate(tensors, dim=0, *, axis=None):
    """Join tensors along an existing axis (``torch.cat``)."""
    tensors = [lift(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate: needs at least one tensor")
    first = tensors[0]
    for i, t in enumerate(tensors):
        if t.ndim == 0:
            raise ValueError(f"concatenate: tensor {i} is zero-dimensional and cannot be concatenated; "
                             "use stack() to join scalars")
    (a,) = normalize_axes(axis if axis is not None else dim, first.ndim, "concatenate")
    for i, t in enumerate(tensors):
        if t.ndim != first.ndim or t.shape[:a] + t.shape[a + 1:] != first.shape[:a] + first.shape[a + 1:]:
            raise ValueError(f"concatenate: tensor {i} has shape {t.shape}, which does not match tensor 0's "
                             f"{first.shape} outside axis {a}")
    if len(tensors) == 1:
        return first
    dtype = backend.result_type(*tensors)    # PyTorch's promotion: int64 with float32 gives float32
    tensors = [astype(t, dtype) for t in tensors]
    return apply(_concatenate, tuple(tensors), {"axis": a})


cat = concatenate


def stack(tensors, dim=0, *, axis=None):
    """Join same-shaped tensors along a new axis."""
    tensors = [lift(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {t.shape} but tensor 0 has {tensors[0].shape}")
    d = axis if axis is not None else dim
    return concatenate([unsqueeze(t, d) for t in tensors], d)


def split(x, split_size_or_sections, dim=0):
    """Split into pieces of ``split_size`` along ``dim`` (the last may be smaller), or into pieces of
    the listed sizes (``torch.split``)."""
    x = lift(x)
    (a,) = normalize_axes(dim, x.ndim, "split")
    n = x.shape[a]
    if isinstance(split_size_or_sections, int):
        if split_size_or_sections <= 0:
            raise ValueError(f"split: split_size must be positive, got {split_size_or_sections}")
        # an empty axis gives one empty piece, as in PyTorch
        sizes = [min(split_size_or_sections, n - s) for s in range(0, max(n, 1), split_size_or_sections)]
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} add up to {builtins.sum(sizes)} but axis {a} has size {n}")
    pieces, start = [], 0
    for size in sizes:
        pieces.append(x[(slice(None),) * a + (slice(start, start + size),)])
        start += size
    return tuple(pieces)


def pad(x, pad, mode="constant", value=0.0):
    """Constant padding in ``torch.nn.functional.pad``'s order: (left, right) of the last axis first,
    then of the axis before it, and so on."""
    x = lift(x)
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is supported, got {mode!r}")
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected an even number of sizes, at most 2 per axis ({2 * x.ndim}), got {pad}")
    if builtins.any(not isinstance(p, int) or p < 0 for p in pad):
        raise ValueError(f"pad: sizes must be non-negative ints, got {pad}")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return apply(_pad, (x,), {"widths": tuple(widths), "value": value})


def flip(x, dims):
    """Reverse the order of elements along ``dims``."""
    x = lift(x)
    axes = normalize_axes(dims, x.ndim, "flip")
    return apply(_flip, (x,), {"axes": axes}) if axes and x.ndim else x


def swapaxes(x, axis0, axis1):
    return transpose(x, axis0, axis1)

