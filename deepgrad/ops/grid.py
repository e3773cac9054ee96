"""Where the windows of a convolution or pooling read their input.

``Grid`` describes windows of ``kernel`` taken every ``stride`` with ``dilation`` over a padded input
of extent (O − 1)·S + (K − 1)·D + 1 per axis. With stride 1 it uses a flat grid: each (n, c) plane is
one row, kernel offset k reads the 1-D slice ``row[off_k : off_k + L]``, and outputs are computed at
every row position up to the last real one (the few past each line's end are dropped by
``from_grid``). Several planes can also run on as one row, each one padded plane after the last
(``length``, ``rows``, ``fold_rows``): depthwise convolution and the fold of ``conv_transpose`` work
on such rows. Long unit-stride runs keep NumPy's copies and elementwise loops fast. With larger
strides (where a flat grid would mostly hold unused positions) the grid is the output shape itself and
each offset reads an N-d strided view; there, for 1 or 2 spatial axes, im2col (``unfold_into``) and
its fold run as compiled loops when numba is installed (``compiled.py``), since NumPy would copy
those short strided runs element by element. They run on the calling thread: they sit between GEMMs,
and OpenBLAS's workers spin on the other cores for a while after each GEMM, so a second thread of
ours only competes with them (a stride-2 conv step is 2-6 % faster this way, measured in one process).
"""
import functools
import math

from .. import backend
from . import compiled

_np = backend.numpy


def span(out_size, kernel, stride, dilation):
    """Input extent that ``out_size`` windows cover: (O − 1)·S + (K − 1)·D + 1 per axis."""
    return tuple((o - 1) * s + (k - 1) * d + 1 for o, k, s, d in zip(out_size, kernel, stride, dilation))


def window_input(x, lo, extent, fill=0):
    """x with each spatial axis i re-cut to [−lo[i], extent[i] − lo[i]): ``fill`` outside x, cropped where
    shorter. A window inside x is a view of it; otherwise a fresh buffer."""
    spatial = x.shape[2:]
    if all(l <= 0 and e - l <= n for l, e, n in zip(lo, extent, spatial)):
        return x[(slice(None), slice(None)) + tuple(slice(-l, e - l) for l, e in zip(lo, extent))]
    out = backend.xp_of(x).full(x.shape[:2] + tuple(extent), fill, x.dtype)
    src, dst = [slice(None)] * 2, [slice(None)] * 2
    for l, e, n in zip(lo, extent, spatial):
        a, b = max(0, -l), min(n, e - l)           # the part of x that lands inside
        src.append(slice(a, max(a, b)))
        dst.append(slice(a + l, a + l + max(0, b - a)))
    out[tuple(dst)] = x[tuple(src)]
    return out


def window_output(buf, lo, size):
    """The inverse cut: out[..., t] = buf[..., t + lo] for t in [0, size), zeros where buf has nothing."""
    return window_input(buf, tuple(-l for l in lo), size)


def _strided(array, shape, strides):
    return backend.xp_of(array).lib.stride_tricks.as_strided(array, shape, strides)


class Grid:
    def __init__(self, kernel, stride, dilation, out_size):
        self.kernel, self.stride, self.dilation = tuple(kernel), tuple(stride), tuple(dilation)
        self.size = tuple(out_size)
        self.extent = span(out_size, kernel, stride, dilation)
        self.flat = all(s == 1 for s in self.stride)   # strided windows would leave most grid positions unused
        if self.flat:
            self.row = tuple(math.prod(self.extent[i + 1:]) for i in range(len(kernel)))   # element strides
            self.shape = (sum((o - 1) * r for o, r in zip(self.size, self.row)) + 1,)
        else:
            self.shape = self.size
        self.offsets = list(_np.ndindex(*self.kernel))
        if self.flat:   # where each offset's slice of a flat row starts
            self.starts = [sum(k * d * r for k, d, r in zip(off, self.dilation, self.row)) for off in self.offsets]

    @functools.cached_property
    def start_array(self):
        """``starts`` as an integer array, for the compiled loops."""
        return _np.array(self.starts, _np.intp)

    def compiled_loops(self, array):
        """The compiled loops (``numba_loops``) for unfolding and folding ``array`` on this strided grid of
        1 or 2 spatial axes (``planar``), or None. (On flat grids NumPy's long runs are as fast.)"""
        return None if self.flat or len(self.kernel) > 2 else compiled.loops_for(array)

    def planar(self):
        """This grid of 1 or 2 spatial axes in the 2-D terms of the compiled loops (a 1-D grid is one row):
        ((kh, kw), (oh, ow), (eh, ew)) and (sh, sw, dh, dw)."""
        pad = (1,) * (2 - len(self.kernel))
        sizes = tuple(pad + t for t in (self.kernel, self.size, self.extent))
        return sizes, (pad + self.stride) + (pad + self.dilation)

    def unfold_into(self, cols, padded):
        """cols[c, *k, n, *q] = what offset k reads at grid position q of padded (N, C, *extent): one
        strided copy, or the compiled loop."""
        n, c = padded.shape[:2]
        loops = self.compiled_loops(padded)
        if loops is None:
            nk = len(self.kernel)
            view = self.unfolded(padded)                                 # (N, C, *kernel, *grid)
            cols[...] = view.transpose((1,) + tuple(range(2, 2 + nk)) + (0,) + tuple(range(2 + nk, view.ndim)))
            return cols
        (kernel, shape, extent), steps = self.planar()
        planes = _np.ascontiguousarray(padded).reshape((n, c) + extent)
        loops.unfold_strided(planes, *steps, cols.reshape((c,) + kernel + (n,) + shape))
        return cols

    @property
    def numel(self):
        return math.prod(self.shape)

    def unfolded(self, padded):
        """View (A, B, *kernel, *grid) of a padded (A, B, *extent) array: [a, b, k, q] is what offset
        k reads for grid position q."""
        a, b = padded.shape[:2]
        if self.flat:
            padded = padded.reshape(a, b, -1)
            sa, sb, item = padded.strides
            steps = tuple(d * r * item for d, r in zip(self.dilation, self.row)) + (self.stride[0] * item,)
        else:
            sa, sb, *sx = padded.strides
            steps = (tuple(x * d for x, d in zip(sx, self.dilation)) + tuple(x * s for x, s in zip(sx, self.stride)))
        return _strided(padded, (a, b) + self.kernel + self.shape, (sa, sb) + steps)

    def length(self, planes):
        """Positions of ``planes`` consecutive padded planes laid end to end as one row, on a flat grid:
        each plane's grid starts one padded plane after the last."""
        return (planes - 1) * math.prod(self.extent) + self.numel

    def outputs(self, rows, planes):
        """(A, length(planes)) rows -> the (A, planes, *out_size) outputs on them, a view."""
        item = rows.strides[-1]
        return _strided(rows, (rows.shape[0], planes) + self.size,
                        (rows.strides[0], math.prod(self.extent) * item) + tuple(r * item for r in self.row))

    def rows(self, y):
        """(A, B, *out_size) -> (A, length(B)) on a flat grid (zeros where no output is, so that
        ``fold_rows`` adds long runs); otherwise (A, B · out size), the outputs in order."""
        a, b = y.shape[:2]
        if not self.flat:
            return y.reshape(a, -1)
        buf = backend.zeros_aligned((a, self.length(b)), y.dtype, backend.xp_of(y))
        self.outputs(buf, b)[...] = y
        return buf

    def fold_rows(self, cols, planes):
        """Adjoint of reading, for (A, ∏kernel, length) values on ``rows``' positions: the zero
        (A, planes, *extent) buffer with each offset's values added where it reads; on a flat grid
        one long strided add per offset."""
        a = cols.shape[0]
        loops = self.compiled_loops(cols)
        if loops is not None:
            (kernel, shape, extent), steps = self.planar()
            buf = backend.numpy.empty((a, planes) + self.extent, cols.dtype)
            loops.fold_strided(cols.reshape((a,) + kernel + (planes,) + shape), *steps,
                               buf.reshape((a, planes) + extent))
            return buf
        if not self.flat:
            return self.fold(lambda i: cols[:, i].reshape((a, planes) + self.size), (a, planes))
        buf = backend.xp_of(cols).zeros((a, planes * math.prod(self.extent)), cols.dtype)
        n = cols.shape[-1]
        for i, start in enumerate(self.starts):
            buf[:, start:start + n] += cols[:, i]
        return buf.reshape((a, planes) + self.extent)

    def taps(self, padded):
        """Per kernel offset (row-major, the order PyTorch scans a window), the (A, B, *grid) view of a
        padded (A, B, *extent) array that it reads; writable when ``padded`` is a fresh contiguous buffer."""
        if self.flat:
            rows = padded.reshape(padded.shape[:2] + (-1,))
            return [rows[:, :, i:i + self.numel] for i in self.starts]
        return [padded[(slice(None), slice(None)) + tuple(slice(k * d, k * d + s * (o - 1) + 1, s)
                                                          for k, d, s, o in zip(off, self.dilation, self.stride, self.size))]
                for off in self.offsets]

    def from_grid(self, array):
        """(..., *grid) -> the (..., *out_size) outputs, a view."""
        if not self.flat:
            return array
        item = array.strides[-1]
        return _strided(array, array.shape[:-1] + self.size, array.strides[:-1] + tuple(r * item for r in self.row))

    def to_grid(self, y):
        """(..., *out_size) -> (..., *grid), zeros at grid positions that are not outputs."""
        if not self.flat:
            return y
        grid = backend.zeros_aligned(y.shape[:-len(self.size)] + self.shape, y.dtype, backend.xp_of(y))
        self.from_grid(grid)[...] = y
        return grid

    @functools.cached_property
    def tiles(self):
        """Whether the windows tile the padded input: each position is read once, by one offset at one
        grid position (stride = kernel, no dilation), as in the usual 2×2 pooling."""
        return self.stride == self.kernel and all(d == 1 for d in self.dilation)

    def fold(self, pieces, lead):
        """Adjoint of reading: a zero (*lead, *extent) buffer with ``pieces(i)`` ((*lead, *grid), for the
        i-th offset) added where that offset reads, one strided add per offset; where the windows tile
        the input, one strided write per offset instead (no zero fill, no add)."""
        buf = None
        for i in range(len(self.offsets)):
            piece = pieces(i)
            if buf is None:
                xp = backend.xp_of(piece)
                buf = (xp.empty if self.tiles else xp.zeros)(tuple(lead) + self.extent, piece.dtype)
                views = self.taps(buf)
            if self.tiles:
                views[i][...] = piece
            else:
                views[i] += piece
        return buf
