"""Direct convolution in the batch-last layout, as compiled kernels: the optional C extension
``_direct`` (``_direct.c``, built by ``setup.py`` where a C compiler is found; without it, or with
``DEEPGRAD_DIRECT=0`` in the environment, convolutions take im2col + GEMM).

Activations are moved to (C, *extent, lanes): the batch last, rounded up to whole 64-byte blocks of
images (zeros past it), with the windows' zero padding in place. For each output position and kernel
tap the kernels then read a vector of images at once and keep a block of outputs × images in
registers, so they multiply-add at the core's FMA rate straight from the moved input. im2col writes
and reads ∏kernel copies of the input instead, which makes layers with few channels memory-bound
(LeNet-5's C3: 7.7 MB of windows for a 0.6 MB input), and slow whenever memory is contended.

* ``conv``            y[o, t, :] = Σ_c,k w[o,c,k] · x[c, t·S + k·d − lo, :]      (seed eq. 4.1.7)
* ``conv_transpose``  x[c, s, :] = Σ over the windows covering s of w[o,c,k] · y[o, t, :], gathered
                      per position of x (seed 4.5.1 and eq. 4.1.14), skipping the taps that would
                      read padding or inserted zeros
* ``conv_weight``     dw[o,c,k] = Σ_t,n y[o,t,n] · x[c, t·S + k·d − lo, n]         (seed eq. 4.3.2)

Any stride, dilation, groups and number of spatial axes. Work is split over output positions
(``threads.parallel_for``: the parts depend on the work only, so results do not depend on the number
of threads).
"""
import ctypes
import functools
import math
import os

from ... import backend, threads
from .. import sharing

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


def suits(x):
    """Whether the direct kernels take a convolution of ``x``: they are built, and ``x`` is a NumPy
    float32/float64 array with enough images to fill most lanes."""
    return (backend.xp_of(x) is _np and x.dtype in (_np.float32, _np.float64) and x.size > 0
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
    as_index = functools.partial(_np.ascontiguousarray, dtype=_np.int64)
    return first, cut[-1][1] - cut[-1][0], as_index(rows), as_index(lane_rows)


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
    """(N, C, *spatial) -> (C, *extent, lanes): x[n, c, s] at [c, s + lo, n], zeros elsewhere; made
    once per array within a VJP (``sharing``), where both gradients read the output gradient."""
    def move():
        contiguous = x if x.strides[-1] == x.itemsize else _np.ascontiguousarray(x)
        buf = _np.zeros((x.shape[1],) + tuple(extent) + (lane_count,), x.dtype)
        _move(contiguous, buf, lo, extent, 1)
        return buf
    return sharing.once((to_lanes, tuple(lo), tuple(extent), lane_count), x, move)


def from_lanes(buf, batch):
    """(C, *spatial, lanes) -> the (N, C, *spatial) array of its first ``batch`` lanes."""
    out = _np.empty((batch, buf.shape[0]) + buf.shape[1:-1], buf.dtype)
    _move(out, buf, (0,) * (buf.ndim - 2), buf.shape[1:-1], 0)
    return out


@functools.lru_cache(maxsize=512)
def _windows(kernel, stride, dilation, size, extent, lane_count, lo=None):
    """Offsets in a lanes buffer of spatial ``extent`` for the windows at ``size`` output positions:
    where position t's window starts, and where each kernel tap reads from there. Without ``lo``, the
    windows of the convolution in its padded input: t·S + k·d. With ``lo``, those of its adjoint in x,
    one per position t of x, reading y: tap k reads y[u] where u·S + k·d − lo = t, that is at
    ⌊(t + lo)/S⌋ − ⌊k·d/S⌋ where k·d ≡ t + lo (mod S) and inside y (seed 4.5.1, without multiplying
    inserted zeros); then the taps each position uses are returned too, as runs of ``tap_ids`` that
    start at ``tap_first``."""
    row = [math.prod(extent[i + 1:]) * lane_count for i in range(len(extent))]
    axes = []
    for i, (n, k, s, d, e) in enumerate(zip(size, kernel, stride, dilation, extent)):
        t, reach = _np.arange(n), _np.arange(k) * d
        if lo is None:
            axes.append((t * s, reach, None))
        else:
            at, back = (t + lo[i]) // s, reach // s
            read = at[:, None] - back
            axes.append((at, -back, ((reach % s) == ((t + lo[i]) % s)[:, None]) & (read >= 0) & (read < e)))
    bases = functools.reduce(_np.add.outer, [a * r for (a, _, _), r in zip(axes, row)]).ravel()
    taps = functools.reduce(_np.add.outer, [b * r for (_, b, _), r in zip(axes, row)]).ravel()
    offsets = [_np.ascontiguousarray(a, _np.int64) for a in (bases, taps)]
    if lo is None:
        return offsets + [None, None]
    dims = len(axes)                          # (n0, k0, n1, k1, ...) -> (positions, taps)
    mask = functools.reduce(_np.logical_and.outer, [m for _, _, m in axes])
    mask = mask.transpose(tuple(range(0, 2 * dims, 2)) + tuple(range(1, 2 * dims, 2))).reshape(len(bases), len(taps))
    tap_first = _np.concatenate([[0], _np.cumsum(mask.sum(axis=1))])
    return offsets + [_np.ascontiguousarray(a, _np.int64) for a in (tap_first, _np.nonzero(mask)[1])]


def _groups(array, groups):
    """The start of each group's channels in a contiguous (C, ...) array, in bytes."""
    step = array.nbytes // groups
    return [array.ctypes.data + g * step for g in range(groups)]


def _address(array):
    return None if array is None else array.ctypes.data


def _correlate(xb, w, batch, size, windows, groups):
    """out[n, o, t] = Σ_c,k w[o,c,k] · (what tap k of position t's window reads in ``xb``) for t in
    ``size``, with ``windows`` from ``_windows``."""
    lane_count, w = xb.shape[-1], _np.ascontiguousarray(w)
    out = _np.empty((len(w),) + tuple(size) + (lane_count,), xb.dtype)
    bases, taps, tap_first, tap_ids = windows
    conv = _kernels()[xb.dtype][0]
    channels, per_group, positions = w.shape[1], len(w) // groups, len(bases)
    ins, weights, outs = _groups(xb, groups), _groups(w, groups), _groups(out, groups)

    def part(a, b):
        for xg, wg, og in zip(ins, weights, outs):
            conv(xg, wg, og, channels, len(taps), xb[0].size, bases.ctypes.data, taps.ctypes.data,
                 _address(tap_first), _address(tap_ids), per_group, positions, lane_count, a, b)
    per_position = len(w) * channels * len(taps) * lane_count
    threads.parallel_for(part, positions, -(-PART_FLOPS // max(1, per_position)))
    return from_lanes(out, batch)


def _forward_windows(grid, lane_count):
    return _windows(grid.kernel, grid.stride, grid.dilation, grid.size, grid.extent, lane_count)


def conv(x, w, grid, lo, groups):
    """The forward convolution (N, C, *spatial) -> (N, O, *grid.size), from x zero-padded by ``lo``."""
    lane_count = lanes(len(x), x.dtype)
    xb = to_lanes(x, lo, grid.extent, lane_count)
    return _correlate(xb, w, len(x), grid.size, _forward_windows(grid, lane_count), groups)


def conv_transpose(y, w, grid, lo, groups, size):
    """The adjoint of ``conv`` in x, (N, O, *grid.size) -> (N, C, *size): each position of x gathers
    the taps whose windows cover it, with each group's in/out channels swapped (seed eq. 4.1.14:
    rot180(W) ⊗̃ δ, where the rotation is in the offsets). Taps that would read padding or inserted
    zeros are skipped (in LeNet-5's C3 they are half of them; at stride 2, three quarters)."""
    outputs, channels = w.shape[:2]
    swapped = w.reshape((groups, outputs // groups, channels) + grid.kernel).swapaxes(1, 2)
    lane_count = lanes(len(y), y.dtype)
    yb = to_lanes(y, (0,) * len(size), grid.size, lane_count)
    windows = _windows(grid.kernel, grid.stride, grid.dilation, tuple(size), grid.size, lane_count, tuple(lo))
    return _correlate(yb, swapped.reshape((groups * channels, outputs // groups) + grid.kernel), len(y), size,
                      windows, groups)


def conv_weight(x, y, grid, lo, groups):
    """The adjoint of ``conv`` in w: (O, C/groups, *kernel)."""
    lane_count = lanes(len(x), x.dtype)
    xb = to_lanes(x, lo, grid.extent, lane_count)
    yb = to_lanes(y, (0,) * len(grid.size), grid.size, lane_count)
    bases, taps = _forward_windows(grid, lane_count)[:2]
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
    parts = threads.parallel_for(part, positions, -(-PART_FLOPS // max(1, per_position)))
    return sum(parts[1:], parts[0]).reshape((y.shape[1], channels) + grid.kernel)
