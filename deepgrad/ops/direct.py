"""Direct convolution in the batch-last layout, as compiled kernels: the optional C extension
``_direct`` (``_direct.c``, built by ``setup.py`` where a C compiler is found; without it, or with
``DEEPGRAD_DIRECT=0`` in the environment, convolutions take im2col + GEMM).

Activations are moved to (C, *extent, lanes): the batch last, rounded up to whole 64-byte blocks of
images (zeros past it), with the windows' zero padding in place. For each output position and kernel
tap the kernels then read a vector of images at once and keep a block of outputs × images in
registers, so they multiply-add at the core's FMA rate straight from the moved input. im2col writes
and reads ∏kernel copies of the input instead, which makes layers with few channels memory-bound
(LeNet-5's C3: 7.7 MB of windows for a 0.6 MB input), and slow whenever memory is contended.

* ``conv``            y[o, t, :] = Σ_c,k w[o,c,k] · x[c, t + k·d − lo, :]     (seed eq. 4.1.7)
* ``conv_transpose``  the same kernel on y padded by (K−1)·d − lo, with the kernel rotated by 180°
                      and its channel axes swapped (seed eq. 4.1.14: rot180(W) ⊗̃ δ)
* ``conv_weight``     dw[o,c,k] = Σ_t,n y[o,t,n] · x[c, t + k·d − lo, n]      (seed eq. 4.3.2)

Unit stride only (a flat grid); any number of spatial axes, dilation and groups. Work is split over
output positions (``threads.parallel_for``: the parts depend on the work only, so results do not
depend on the number of threads).
"""
import ctypes
import functools
import math
import os

from .. import backend, threads

BLOCK_BYTES = 64           # images come in blocks of 16 floats or 8 doubles (two kernel vectors)
MIN_FILL = 0.75            # the least share of the lanes that must hold images for the layout to pay
PART_FLOPS = 1 << 22       # the least multiply-adds worth a thread of their own

_np = backend.numpy
_index, _pointer = ctypes.c_long, ctypes.c_void_p


@functools.cache
def _kernels():
    """{dtype: (conv, conv_weight, move_lanes)} from the extension, or None where it is not built."""
    if os.environ.get("DEEPGRAD_DIRECT", "1") == "0":
        return None
    try:
        from . import _direct
    except ImportError:
        return None
    library = ctypes.CDLL(_direct.__file__)
    kernels = {}
    for dtype, suffix in ((_np.dtype(_np.float32), "f32"), (_np.dtype(_np.float64), "f64")):
        conv, weight, move = (getattr(library, f"{name}_{suffix}") for name in ("conv", "conv_weight", "move_lanes"))
        conv.argtypes = [_pointer] * 3 + [_index] * 3 + [_pointer] * 4 + [_index] * 5
        weight.argtypes = [_pointer] * 3 + [_index] * 3 + [_pointer] * 2 + [_index] * 5
        move.argtypes = [_pointer, _pointer, _index, _index, _index, _pointer, _pointer] + [_index] * 3 + [ctypes.c_int]
        kernels[dtype] = conv, weight, move
    return kernels


def lanes(batch, dtype):
    """The batch rounded up to whole blocks of ``BLOCK_BYTES``."""
    block = BLOCK_BYTES // _np.dtype(dtype).itemsize
    return -(-batch // block) * block


def suits(grid, x):
    """Whether the direct kernels take this convolution: built, a unit-stride ``grid``, ``x`` a NumPy
    float32/float64 array with enough images to fill most lanes."""
    return (grid.flat and backend.xp_of(x) is _np and x.dtype in (_np.float32, _np.float64)
            and _kernels() is not None and len(x) >= MIN_FILL * lanes(len(x), x.dtype))


@functools.lru_cache(maxsize=512)
def _rows(shape, strides, lo, extent, lane_count):
    """For ``move_lanes``: the part of an array of ``shape`` and ``strides`` (in elements) that lands in
    (C, *extent, lanes) when shifted by ``lo`` (the rest is cropped, or zero padding), as (offset of its
    first element, row width, each row's start in the array, each row's start in the lanes buffer);
    None if nothing lands."""
    cut = [(max(0, -l), min(n, e - l)) for l, e, n in zip(lo, extent, shape[2:])]
    if any(b <= a for a, b in cut):
        return None
    index = _np.indices((shape[1],) + tuple(b - a for a, b in cut[:-1])).reshape(len(cut), -1)
    lane_strides = [math.prod(extent[i:]) * lane_count for i in range(len(extent) + 1)]   # C, then each axis
    shifts = (0,) + tuple(a + l for (a, _), l in zip(cut, lo))      # where each axis' first element lands
    rows = sum(i * s for i, s in zip(index, strides[1:-1]))
    lane_rows = sum((i + shift) * s for i, shift, s in zip(index, shifts, lane_strides)) + shifts[-1] * lane_count
    first = sum(a * s for (a, _), s in zip(cut, strides[2:]))
    return first, cut[-1][1] - cut[-1][0], _np.ascontiguousarray(rows, _np.int64), _np.ascontiguousarray(lane_rows, _np.int64)


def _move(array, buf, lo, extent, into_lanes):
    """Copy between ``array`` (N, C, *spatial) and ``buf`` (C, *extent, lanes), shifted by ``lo``."""
    item = array.itemsize
    found = _rows(array.shape, tuple(s // item for s in array.strides), tuple(lo), tuple(extent), buf.shape[-1])
    if found is None:
        return
    first, width, rows, lane_rows = found
    move = _kernels()[array.dtype][2]
    start = array.ctypes.data + first * item

    def part(a, b):
        move(start, buf.ctypes.data, len(array), array.strides[0] // item, width, rows.ctypes.data,
             lane_rows.ctypes.data, buf.shape[-1], a, b, into_lanes)
    threads.parallel_for(part, len(rows), threads.min_part(len(array) * width * item))


def to_lanes(x, lo, extent, lane_count):
    """(N, C, *spatial) -> (C, *extent, lanes): x[n, c, s] at [c, s + lo, n], zeros elsewhere."""
    if x.strides[-1] != x.itemsize:
        x = _np.ascontiguousarray(x)
    buf = _np.zeros((x.shape[1],) + tuple(extent) + (lane_count,), x.dtype)
    _move(x, buf, lo, extent, 1)
    return buf


def from_lanes(buf, batch):
    """(C, *spatial, lanes) -> the (N, C, *spatial) array of its first ``batch`` lanes."""
    out = _np.empty((batch, buf.shape[0]) + buf.shape[1:-1], buf.dtype)
    _move(out, buf, (0,) * (buf.ndim - 2), buf.shape[1:-1], 0)
    return out


@functools.lru_cache(maxsize=512)
def _windows(size, kernel, dilation, shift, extent, lane_count, ragged):
    """Offsets in a lanes buffer of spatial ``extent`` for windows that start at t + ``shift`` (output
    position t): where each window starts (may lie outside the buffer), and where each kernel tap reads
    from there. With ``ragged``, also which taps land inside the buffer, per position: the positions'
    runs of ``tap_ids`` start at ``tap_first``. (Without, every tap must land inside.)"""
    row = [math.prod(extent[i + 1:]) * lane_count for i in range(len(extent))]
    first = [_np.arange(n) + s for n, s in zip(size, shift)]                    # per axis
    reach = [_np.arange(k) * d for k, d in zip(kernel, dilation)]
    bases = functools.reduce(_np.add.outer, [f * r for f, r in zip(first, row)]).ravel()
    taps = functools.reduce(_np.add.outer, [k * r for k, r in zip(reach, row)]).ravel()
    offsets = [_np.ascontiguousarray(a, _np.int64) for a in (bases, taps)]
    if not ragged:
        return offsets + [None, None]
    inside = [(f[:, None] + k >= 0) & (f[:, None] + k < e) for f, k, e in zip(first, reach, extent)]
    dims = len(size)
    mask = functools.reduce(_np.logical_and, [m.reshape(tuple(m.shape[0] if j == i else 1 for j in range(dims))
                                                        + tuple(m.shape[1] if j == i else 1 for j in range(dims)))
                                              for i, m in enumerate(inside)])
    mask = _np.broadcast_to(mask, tuple(size) + tuple(kernel)).reshape(len(bases), len(taps))
    tap_first = _np.concatenate([[0], _np.cumsum(mask.sum(axis=1))])
    return offsets + [_np.ascontiguousarray(a, _np.int64) for a in (tap_first, _np.nonzero(mask)[1])]


def _groups(array, groups):
    """The start of each group's channels in a contiguous (C, ...) array, in bytes."""
    step = array.nbytes // groups
    return [array.ctypes.data + g * step for g in range(groups)]


def _address(array):
    return None if array is None else array.ctypes.data


def _correlate(xb, w, batch, size, kernel, dilation, shift, groups, ragged):
    """y[n, o, t] = Σ_c,k w[o,c,k] · xb[c, t + shift + k·d, n] for t in ``size``, from the lanes
    buffer ``xb``; with ``ragged``, the taps that fall outside xb are left out."""
    lane_count, w = xb.shape[-1], _np.ascontiguousarray(w)
    out = _np.empty((len(w),) + tuple(size) + (lane_count,), xb.dtype)
    bases, taps, tap_first, tap_ids = _windows(tuple(size), tuple(kernel), tuple(dilation), tuple(shift),
                                               xb.shape[1:-1], lane_count, ragged)
    conv = _kernels()[xb.dtype][0]
    channels, per_group, positions = w.shape[1], len(w) // groups, len(bases)
    ins, weights, outs = _groups(xb, groups), _groups(w, groups), _groups(out, groups)

    def part(a, b):
        for xg, wg, og in zip(ins, weights, outs):
            conv(xg, wg, og, channels, len(taps), xb[0].size, bases.ctypes.data, taps.ctypes.data,
                 _address(tap_first), _address(tap_ids), per_group, positions, lane_count, a, b)
    per_position = len(w) * channels * len(taps) * lane_count
    threads.parallel_for(part, positions, -(-PART_FLOPS // per_position))
    return from_lanes(out, batch)


def conv(x, w, grid, lo, groups):
    """The forward convolution (N, C, *spatial) -> (N, O, *grid.size), from x zero-padded by ``lo``."""
    xb = to_lanes(x, lo, grid.extent, lanes(len(x), x.dtype))
    return _correlate(xb, w, len(x), grid.size, grid.kernel, grid.dilation, (0,) * len(lo), groups, False)


def conv_transpose(y, w, grid, lo, groups, size):
    """The adjoint of ``conv`` in x: the correlation of y, padded by (K−1)·d − lo, with each group's
    kernel rotated by 180° and its in/out channels swapped (seed eq. 4.1.14). Taps that would read
    the padding are skipped rather than multiplied by zeros (in LeNet-5's C3 they are half of them)."""
    outputs, channels = w.shape[:2]
    k = len(grid.kernel)
    flipped = _np.flip(w, tuple(range(2, 2 + k))).reshape((groups, outputs // groups, channels) + grid.kernel)
    rotated = flipped.swapaxes(1, 2).reshape((groups * channels, outputs // groups) + grid.kernel)
    yb = to_lanes(y, (0,) * k, grid.size, lanes(len(y), y.dtype))
    shift = tuple(l - (kk - 1) * d for l, kk, d in zip(lo, grid.kernel, grid.dilation))
    return _correlate(yb, rotated, len(y), size, grid.kernel, grid.dilation, shift, groups, True)


def conv_weight(x, y, grid, lo, groups):
    """The adjoint of ``conv`` in w: (O, C/groups, *kernel)."""
    lane_count = lanes(len(x), x.dtype)
    xb = to_lanes(x, lo, grid.extent, lane_count)
    yb = to_lanes(y, (0,) * len(grid.size), grid.size, lane_count)
    bases, taps = _windows(grid.size, grid.kernel, grid.dilation, (0,) * len(lo), grid.extent, lane_count, False)[:2]
    weight = _kernels()[x.dtype][1]
    channels, per_group, positions = x.shape[1] // groups, y.shape[1] // groups, len(bases)
    ins, grads = _groups(xb, groups), _groups(yb, groups)

    def part(a, b):
        dw = _np.empty((groups, per_group, channels, len(taps)), x.dtype)
        for xg, yg, dg in zip(ins, grads, dw):
            weight(xg, yg, dg.ctypes.data, channels, len(taps), xb[0].size, bases.ctypes.data,
                   taps.ctypes.data, per_group, positions, lane_count, a, b)
        return dw
    per_position = y.shape[1] * channels * len(taps) * lane_count
    parts = threads.parallel_for(part, positions, -(-PART_FLOPS // per_position))
    return sum(parts[1:], parts[0]).reshape((y.shape[1], channels) + grid.kernel)

