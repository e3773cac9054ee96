"""Pooling (seed 4.2.3, eqs. 4.2.3–4.2.4) with PyTorch's semantics: max and average pooling with
padding, dilation and ceil_mode, adaptive pooling, and max unpooling. Max pooling routes the gradient
to the arg-max of each window (the first one at ties, as PyTorch); mean pooling spreads it evenly (eq. 4.3.4)."""
import math

from ... import backend
from ...autograd.tensor import Tensor
from ...ops import pool as prim
from ...ops import where
from ...ops.common import constant, lift
from ._args import check_input, effective_kernel, ntuple


def _pool_sizes(op, spatial, kernel, stride, pad, dilation, ceil_mode):
    """PyTorch's pooling output size, per axis: floor (or ceil) of (M + 2P − K') / S, plus 1; with
    ceil_mode a last window that would start in the right padding is dropped."""
    sizes = []
    for i, (m, k, s, p) in enumerate(zip(spatial, effective_kernel(kernel, dilation), stride, pad)):
        if 2 * p > k:
            raise ValueError(f"{op}: padding {p} on axis {i} must be at most half of the (dilated) kernel extent {k}")
        room = m + 2 * p - k
        n = (-(-room // s) if ceil_mode else room // s) + 1
        if ceil_mode and (n - 1) * s >= m + p:
            n -= 1
        if room < 0 or n < 1:
            raise ValueError(f"{op}: the (dilated) kernel extent {k} on spatial axis {i} is larger than the "
                             f"padded input ({m} + 2·{p} = {m + 2 * p}); the output would be empty")
        sizes.append(n)
    return tuple(sizes)


def _pool_args(op, nd, input, kernel_size, stride, padding, dilation):
    x, batched = check_input(op, lift(input), nd)
    if not backend.is_floating(x.dtype):
        raise TypeError(f"{op}: needs a floating-point tensor, got dtype {x.dtype}")
    kernel = ntuple(kernel_size, nd, f"{op}: kernel_size")
    stride = kernel if stride is None or stride == () or stride == [] else ntuple(stride, nd, f"{op}: stride")
    pad = ntuple(padding, nd, f"{op}: padding", minimum=0)
    dilation = ntuple(dilation, nd, f"{op}: dilation")
    return x, batched, kernel, stride, pad, dilation


def _flat_positions(x_shape, per_axis):
    """Flat index into the input plane from per-axis positions (broadcastable integer arrays)."""
    index = 0
    for axis, pos in enumerate(per_axis):
        index = index * x_shape[2 + axis] + pos
    return index


def _max_pool(nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    op = f"max_pool{nd}d"
    x, batched, kernel, stride, pad, dilation = _pool_args(op, nd, input, kernel_size, stride, padding, dilation)
    size = _pool_sizes(op, x.shape[2:], kernel, stride, pad, dilation, ceil_mode)
    y = prim.max_pool(x, kernel, stride, pad, dilation, size)
    out = y if batched else y.squeeze(0)
    if not return_indices:
        return out
    offsets = prim.max_offsets(x.array, y.array, kernel, stride, pad, dilation, size)
    idx = Tensor.wrap(_flat_index(x.shape, offsets, kernel, stride, pad, dilation, size))
    return out, (idx if batched else idx.squeeze(0))


def _flat_index(x_shape, offsets, kernel, stride, pad, dilation, size):
    """PyTorch's indices: the flat position in the (unpadded) input plane of each window's maximum.
    Where that is padding (the window's elements are all -inf, or it has none), PyTorch's: the
    window's first non-negative position on each axis (out of range if the window misses the input)."""
    xp = backend.xp_of(offsets)
    nd = len(kernel)
    per_offset = xp.unravel_index(offsets.astype(backend.int64), kernel)
    positions, firsts, padding = [], [], False
    for axis in range(nd):
        start = xp.arange(size[axis]).reshape((-1,) + (1,) * (nd - 1 - axis)) * stride[axis] - pad[axis]
        pos = start + per_offset[axis] * dilation[axis]
        positions.append(pos)
        firsts.append(start + (-(start // dilation[axis])).clip(0) * dilation[axis])
        padding = padding | (pos < 0) | (pos >= x_shape[2 + axis])
    if xp.any(padding):
        positions = [xp.where(padding, f, p) for f, p in zip(firsts, positions)]
    return _flat_positions(x_shape, positions)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """y = max over each window (seed eq. 4.2.3), windows of ``kernel_size`` every ``stride`` (default: kernel_size)."""
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """y = max over each window (seed eq. 4.2.3); with ``return_indices`` also the flat arg-max positions."""
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _avg_divisor(spatial, kernel, stride, pad, size, count_include_pad):
    """PyTorch's divisor per output position: the window clipped to the padded input (or to the input
    itself when padding is not counted), as a host array of shape ``size``."""
    xp = backend.numpy
    divisor = 1
    for axis, (m, k, s, p, n) in enumerate(zip(spatial, kernel, stride, pad, size)):
        start = xp.arange(n) * s - p
        end = xp.minimum(start + k, m + p)
        length = end - start if count_include_pad else xp.minimum(end, m) - xp.maximum(start, 0)
        divisor = xp.multiply.outer(divisor, length) if axis else length
    return divisor


def _avg_pool(nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    op = f"avg_pool{nd}d"
    x, batched, kernel, stride, pad, _ = _pool_args(op, nd, input, kernel_size, stride, padding, 1)
    size = _pool_sizes(op, x.shape[2:], kernel, stride, pad, (1,) * nd, ceil_mode)
    sums = prim.window_sum(x, kernel, stride, pad, size)
    if divisor_override is not None:
        if not isinstance(divisor_override, int) or divisor_override == 0:
            raise ValueError(f"{op}: divisor_override must be a non-zero int, got {divisor_override!r}")
        y = sums * (1.0 / divisor_override)
    else:
        divisor = _avg_divisor(x.shape[2:], kernel, stride, pad, size, count_include_pad)
        y = sums * constant((1.0 / divisor).astype(x.dtype), x)
    return y if batched else y.squeeze(0)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over each window (seed eq. 4.2.4)."""
    return _avg_pool(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over each window (seed eq. 4.2.4), PyTorch's divisor rules for padding and ceil_mode."""
    return _avg_pool(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def _adaptive_bounds(m, n):
    """PyTorch's adaptive windows: [floor(i·M/N), ceil((i+1)·M/N)) for i < N."""
    start = [(i * m) // n for i in range(n)]
    end = [-(-((i + 1) * m) // n) for i in range(n)]
    return start, end


def _adaptive_args(op, nd, input, output_size):
    x, batched = check_input(op, lift(input), nd)
    if isinstance(output_size, int) or output_size is None:
        output_size = (output_size,) * nd
    output_size = tuple(m if o is None else o for o, m in zip(output_size, x.shape[2:]))
    ntuple(output_size, nd, f"{op}: output_size")
    return x, batched, output_size


def _adaptive_avg(nd, input, output_size):
    op = f"adaptive_avg_pool{nd}d"
    x, batched, size = _adaptive_args(op, nd, input, output_size)
    y = x
    for axis, (m, n) in enumerate(zip(x.shape[2:], size)):
        start, end = _adaptive_bounds(m, n)
        a = backend.numpy.zeros((m, n), x.dtype)   # column i averages window i
        for i, (s, e) in enumerate(zip(start, end)):
            a[s:e, i] = 1.0 / (e - s)
        y = (y.swapaxes(2 + axis, -1) @ constant(a, x)).swapaxes(2 + axis, -1)
    return y if batched else y.squeeze(0)


def adaptive_avg_pool1d(input, output_size):
    return _adaptive_avg(1, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    """Mean pooling to a fixed output size with PyTorch's window boundaries."""
    return _adaptive_avg(2, input, output_size)


def _adaptive_max(nd, input, output_size, return_indices):
    op = f"adaptive_max_pool{nd}d"
    x, batched, size = _adaptive_args(op, nd, input, output_size)
    xp = backend.xp_of(x.array)
    candidates = []   # per axis: (n, L) positions, the last valid one repeated to pad short windows
    for m, n in zip(x.shape[2:], size):
        start, end = _adaptive_bounds(m, n)
        width = max(e - s for s, e in zip(start, end))
        j = xp.arange(width)
        candidates.append(xp.minimum(xp.asarray(start)[:, None] + j, xp.asarray(end)[:, None] - 1))
    # broadcast to (*size, *widths): axis a's outputs on dim a, its window offsets on dim nd + a
    per_axis = []
    for a, cand in enumerate(candidates):
        shape = [1] * (2 * nd)
        shape[a], shape[nd + a] = cand.shape
        per_axis.append(cand.reshape(shape))
    flat = _flat_positions(x.shape, per_axis).reshape(size + (-1,))
    n, c = x.shape[:2]
    values = x.array.reshape(n, c, math.prod(x.shape[2:]))[:, :, flat]      # (not -1: n may be 0)
    arg = values.argmax(axis=-1)
    index = xp.take_along_axis(xp.broadcast_to(flat, (n, c) + flat.shape), arg[..., None], axis=-1)[..., 0]
    y = prim.gather(x, index)
    out = y if batched else y.squeeze(0)
    if return_indices:
        idx = Tensor.wrap(index.astype(backend.int64))
        return out, (idx if batched else idx.squeeze(0))
    return out


def adaptive_max_pool1d(input, output_size, return_indices=False):
    return _adaptive_max(1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed output size with PyTorch's window boundaries."""
    return _adaptive_max(2, input, output_size, return_indices)


def _max_unpool(nd, input, indices, kernel_size, stride, padding, output_size):
    op = f"max_unpool{nd}d"
    x, batched = check_input(op, lift(input), nd)
    idx = indices.array if isinstance(indices, Tensor) else backend.to_device(backend.numpy.asarray(indices), x.device)
    idx = idx if batched else idx[None]
    if idx.shape != x.shape:
        raise ValueError(f"{op}: indices have shape {tuple(idx.shape)} but the input has shape {x.shape}")
    kernel = ntuple(kernel_size, nd, f"{op}: kernel_size")
    stride = kernel if stride is None else ntuple(stride, nd, f"{op}: stride")
    pad = ntuple(padding, nd, f"{op}: padding", minimum=0)
    default = tuple((m - 1) * s - 2 * p + k for m, s, p, k in zip(x.shape[2:], stride, pad, kernel))
    size = default if output_size is None else tuple(output_size)[-nd:]
    if len(size) != nd:
        raise ValueError(f"{op}: output_size must give {nd} spatial sizes, got {output_size!r}")
    plane = math.prod(size)
    if idx.size and (idx.min() < 0 or idx.max() >= plane):
        raise ValueError(f"{op}: indices must lie in [0, {plane}) for output size {size}, got "
                         f"[{int(idx.min())}, {int(idx.max())}]")
    # PyTorch writes (does not add): where windows overlapped and several entries name one position,
    # only the last of them lands there, so unpooling stays a partial inverse of max pooling
    xp = backend.xp_of(idx)
    n, c = idx.shape[:2]
    ids = (idx.reshape(n * c, -1) + xp.arange(n * c).reshape(-1, 1) * plane).ravel()[::-1]
    last = xp.zeros(ids.size, dtype=bool)
    last[ids.size - 1 - xp.unique(ids, return_index=True)[1]] = True
    if not last.all():
        x = x * constant(last.reshape(idx.shape).astype(x.dtype))
    y = prim.scatter(x, idx, size)
    return y if batched else y.squeeze(0)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool(1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Put each value back at the position ``max_pool2d(..., return_indices=True)`` took it from; zeros elsewhere."""
    return _max_unpool(2, input, indices, kernel_size, stride, padding, output_size)
