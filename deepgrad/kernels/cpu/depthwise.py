"""Depthwise convolution (one input channel per group, the efficient variant of seed 4.6): per
kernel offset k one multiply-add over the whole batch, out += read_k · w[:, k], instead of many
tiny GEMMs.

With unit stride the flat grid of ``grid.py`` runs on across each image's channel planes, laid end
to end: offset k reads one long slice of the padded image and multiplies it by a row holding each
channel's w[c, k] repeated over its plane, two long vector loops per offset. With larger strides
offset k reads the grid's N-d strided view and the weights broadcast per channel. A channel
multiplier m > 1 (m filters per input channel) first repeats each input channel m times.

With numba installed, unit-stride float32/float64 NumPy arrays take compiled loops instead
(``numba_loops.py``): one pass per offset over a cache-resident plane, about 2.5x faster.
``DEEPGRAD_NUMBA=0`` in the environment keeps the NumPy loops.
"""
import math

from ... import backend, threads
from . import compiled
from ..windows import window_input, window_output


def _loops_for(grid, array):
    """The compiled loops if they apply: unit stride (a flat grid), an array they take."""
    return compiled.loops_for(array) if grid.flat else None


class _Planes:
    """Unit stride: the grid's positions over the C padded planes of an image laid end to end
    (``Grid.length``); positions between outputs read zeros or the next plane and are dropped."""
    def __init__(self, grid, channels):
        self.grid, self.channels = grid, channels
        self.length = grid.length(channels)

    def reads(self, padded):
        rows = backend.xp_of(padded).ascontiguousarray(padded).reshape(len(padded), -1)
        return [rows[:, s:s + self.length] for s in self.grid.starts]

    def weights(self, w):
        per_offset = w.reshape(self.channels, -1).T
        return backend.xp_of(w).repeat(per_offset, math.prod(self.grid.extent), axis=1)[:, :self.length]

    def empty(self, n, dtype, xp):
        return xp.empty((n, self.length), dtype)

    def outputs(self, total):
        return self.grid.outputs(total, self.channels)

    def inputs(self, y):
        """(N, C, *out_size) -> (N, length), zeros off the outputs."""
        return self.grid.rows(y)


class _Strided:
    """Stride > 1: the grid is the output shape, each offset reads an N-d strided view."""
    def __init__(self, grid, channels):
        self.grid, self.channels = grid, channels

    def reads(self, padded):
        return self.grid.taps(padded)

    def weights(self, w):
        return w.reshape(self.channels, -1).T.reshape((-1, self.channels) + (1,) * len(self.grid.shape))

    def empty(self, n, dtype, xp):
        return xp.empty((n, self.channels) + self.grid.shape, dtype)

    def outputs(self, total):
        return total

    def inputs(self, y):
        return y


def _layout(grid, channels):
    return (_Planes if grid.flat else _Strided)(grid, channels)


def _per_filter(x, multiplier):
    """(N, C, ...) -> (N, C·m, ...) with each input channel repeated for its m filters."""
    if multiplier == 1:
        return x
    xp = backend.xp_of(x)
    return xp.repeat(x, multiplier, axis=1)


def conv(x, w, grid, lo, groups):
    x = _per_filter(x, w.shape[0] // groups)
    loops = _loops_for(grid, x)
    return _conv_numpy(x, w, grid, lo) if loops is None else _conv_compiled(loops, x, w, grid, lo)


def conv_transpose(y, w, grid, lo, groups, size):
    loops = _loops_for(grid, y)
    buf = _conv_transpose_numpy(y, w, grid) if loops is None else _conv_transpose_compiled(loops, y, w, grid)
    x = window_output(buf, lo, size)
    m = w.shape[0] // groups
    return x if m == 1 else x.reshape((len(x), groups, m) + x.shape[2:]).sum(axis=2)


def conv_weight(x, y, grid, lo, groups):
    x = _per_filter(x, y.shape[1] // groups)
    loops = _loops_for(grid, y)
    per_part = _conv_weight_numpy(x, y, grid, lo) if loops is None else _conv_weight_compiled(loops, x, y, grid, lo)
    return sum(per_part[1:], per_part[0]).reshape((y.shape[1], 1) + grid.kernel)


def _conv_numpy(x, w, grid, lo):
    xp, layout = backend.xp_of(x), _layout(grid, w.shape[0])
    reads, weights = layout.reads(window_input(x, lo, grid.extent)), layout.weights(w)
    total = layout.empty(len(x), x.dtype, xp)

    def part(a, b):
        out, scratch = total[a:b], xp.empty_like(total[a:b])
        xp.multiply(reads[0][a:b], weights[0], out=out)
        for read, wk in zip(reads[1:], weights[1:]):
            out += xp.multiply(read[a:b], wk, out=scratch)
    threads.parallel_for(part, len(x), threads.min_part(total[0].nbytes))
    return layout.outputs(total)


def _conv_transpose_numpy(y, w, grid):
    xp, layout = backend.xp_of(y), _layout(grid, w.shape[0])
    g = layout.inputs(y)
    buf = xp.zeros(y.shape[:2] + grid.extent, y.dtype)
    views, weights = layout.reads(buf), layout.weights(w)

    def part(a, b):
        scratch = xp.empty_like(g[a:b])
        for view, wk in zip(views, weights):
            view[a:b] += xp.multiply(g[a:b], wk, out=scratch)
    threads.parallel_for(part, len(y), threads.min_part(g[0].nbytes))
    return buf


def _conv_weight_numpy(x, y, grid, lo):
    """Per part of the batch, its (C, ∏kernel) share of the weight gradient."""
    xp, g = backend.xp_of(y), grid.to_grid(y)
    reads, each = grid.taps(window_input(x, lo, grid.extent)), "nc" + "defghijklm"[:len(grid.shape)]

    def part(a, b):
        return xp.stack([xp.einsum(f"{each},{each}->c", g[a:b], read[a:b]) for read in reads], axis=-1)
    return threads.parallel_for(part, len(y), threads.min_part(g[0].nbytes))


def _padded_rows(x, lo, grid):
    """(N, C, ∏extent): the padded input, each (n, c) plane one contiguous row."""
    return backend.numpy.ascontiguousarray(window_input(x, lo, grid.extent)).reshape(x.shape[:2] + (-1,))


def _conv_compiled(loops, x, w, grid, lo):
    taps, starts = backend.numpy.ascontiguousarray(w.reshape(len(w), -1)), grid.start_array
    out = backend.numpy.empty(x.shape[:2] + grid.shape, x.dtype)

    def part(a, b):
        loops.taps(_padded_rows(x[a:b], lo, grid), taps, starts, out[a:b])
    threads.parallel_for(part, len(x), threads.min_part(out[0].nbytes))
    return grid.from_grid(out)


def _conv_transpose_compiled(loops, y, w, grid):
    taps, starts = backend.numpy.ascontiguousarray(w.reshape(len(w), -1)), grid.start_array
    buf = backend.numpy.empty(y.shape[:2] + (math.prod(grid.extent),), y.dtype)

    def part(a, b):
        loops.scatter_taps(grid.to_grid(y[a:b]), taps, starts, buf[a:b])
    threads.parallel_for(part, len(y), threads.min_part(buf[0].nbytes))
    return buf.reshape(y.shape[:2] + grid.extent)


def _conv_weight_compiled(loops, x, y, grid, lo):
    starts = grid.start_array

    def part(a, b):
        dw = backend.numpy.zeros((y.shape[1], len(starts)), y.dtype)
        loops.tap_dots(_padded_rows(x[a:b], lo, grid), grid.to_grid(y[a:b]), starts, dw)
        return dw
    return threads.parallel_for(part, len(y), threads.min_part(y[0].nbytes))
