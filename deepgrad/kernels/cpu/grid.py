"""The flat grid: the CPU's layout of unit-stride windows (``windows.py`` has the strided ones).

With stride 1 each (n, c) plane is one row, kernel offset k reads the 1-D slice
``row[off_k : off_k + L]``, and outputs are computed at every row position up to the last real one
(the few past each line's end are dropped by ``from_grid``). Several planes can also run on as one row,
each one padded plane after the last (``length``, ``rows``, ``fold_rows``): depthwise convolution and
the fold of ``conv_transpose`` work on such rows. Long unit-stride runs keep NumPy's copies and
elementwise loops fast. With larger strides (where a flat grid would mostly hold unused positions) the
grid is the output shape itself and each offset reads an N-d strided view; there, for 1 or 2 spatial
axes, im2col (``unfold_into``) and its fold run as compiled loops when numba is installed
(``compiled.py``), since NumPy would copy those short strided runs element by element. They run on the
calling thread: they sit between GEMMs, and OpenBLAS's workers spin on the other cores for a while
after each GEMM, so a second thread of ours only competes with them (a stride-2 conv step is 2-6 %
faster this way, measured in one process).
"""
import functools
import math

from ... import backend
from ..windows import Windows
from . import compiled

_np = backend.numpy


def _strided(array, shape, strides):
    return backend.xp_of(array).lib.stride_tricks.as_strided(array, shape, strides)


class Grid(Windows):
    def __init__(self, kernel, stride, dilation, out_size):
        super().__init__(kernel, stride, dilation, out_size)
        self.flat = all(s == 1 for s in self.stride)   # strided windows would leave most grid positions unused
        if self.flat:
            self.row = tuple(math.prod(self.extent[i + 1:]) for i in range(len(kernel)))   # element strides
            self.shape = (sum((o - 1) * r for o, r in zip(self.size, self.row)) + 1,)
            # where each offset's slice of a flat row starts
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
        """``Windows.taps``; on a flat grid, slices of each plane's row."""
        if not self.flat:
            return super().taps(padded)
        rows = padded.reshape(padded.shape[:2] + (-1,))
        return [rows[:, :, i:i + self.numel] for i in self.starts]

    def from_grid(self, array):
        """(..., *grid) -> the (..., *out_size) outputs, a view."""
        if not self.flat:
            return super().from_grid(array)
        item = array.strides[-1]
        return _strided(array, array.shape[:-1] + self.size, array.strides[:-1] + tuple(r * item for r in self.row))

    def to_grid(self, y):
        """(..., *out_size) -> (..., *grid), zeros at grid positions that are not outputs."""
        if not self.flat:
            return super().to_grid(y)
        grid = backend.zeros_aligned(y.shape[:-len(self.size)] + self.shape, y.dtype, backend.xp_of(y))
        self.from_grid(grid)[...] = y
        return grid
