"""The batch-last layout for GEMM convolutions whose flat grid would mostly hold unused positions.

The flat grid of ``grid.py`` computes outputs at every position of a padded plane's rows, up to the
last real output: cheap long copies, but when the kernel is large next to the image, most positions
are wasted. LeNet-5's C3 (5×5 windows on 14×14 planes, 10×10 outputs) puts 196 positions per plane
in the transposed GEMM for 100 outputs. Here activations are moved to (C, *spatial, N) first: each
window row is then one contiguous run of (output width) · N values, so im2col gathers exactly the
outputs' windows, still in long copies, and the GEMMs do no unused work. Moving the batch axis costs
a transposing copy of each activation, which pays off only where the flat grid wastes much
(``suits``).
"""
import math

from ... import backend
from ..windows import window_input, window_output

WASTE = 1.5          # padded plane positions per output at which the batch-last layout wins
MIN_RUN = 256        # the shortest contiguous run (output width · batch) it is worth it for


def suits(grid, batch):
    """Whether a unit-stride ``grid`` on ``batch`` images is faster in the batch-last layout."""
    return (grid.flat and math.prod(grid.extent) >= WASTE * math.prod(grid.size)
            and grid.size[-1] * batch >= MIN_RUN)


def _moved(a):
    """(N, C, *spatial) -> a contiguous, aligned (C, *spatial, N) copy."""
    out = backend.empty_aligned(a.shape[1:] + a.shape[:1], a.dtype, backend.xp_of(a))
    out[...] = backend.xp_of(a).moveaxis(a, 0, -1)
    return out


class BatchLast:
    """The GEMM operands of ``convolution.py`` for ``grid``, with positions (*out_size, N)."""
    def __init__(self, grid):
        self.grid = grid

    def _windows(self, padded):
        """View (C, *kernel, *out_size, N) of a padded (C, *extent, N) array: what each offset reads."""
        g = self.grid
        sc, *sx, sn = padded.strides
        return backend.xp_of(padded).lib.stride_tricks.as_strided(
            padded, padded.shape[:1] + g.kernel + g.size + padded.shape[-1:],
            (sc,) + tuple(a * d for a, d in zip(sx, g.dilation)) + tuple(sx) + (sn,))

    def unfold(self, x, lo, groups):
        """(groups, C/groups · ∏kernel, ∏out_size · N): im2col, each window row one long run."""
        view = self._windows(_moved(window_input(x, lo, self.grid.extent)))
        cols = backend.empty_aligned(view.shape, x.dtype, backend.xp_of(x))
        cols[...] = view
        return cols.reshape(groups, -1, math.prod(self.grid.size) * len(x))

    def positions(self, y, groups):
        """(N, O, *out_size) -> (groups, O/groups, ∏out_size · N)."""
        return _moved(y).reshape(groups, y.shape[1] // groups, -1)

    rows = positions

    def outputs(self, out, batch):
        """(O, ∏out_size · N) GEMM results -> the (N, O, *out_size) outputs, a view."""
        return backend.xp_of(out).moveaxis(out.reshape(out.shape[:1] + self.grid.size + (batch,)), -1, 0)

    def fold(self, cols, batch, lo, size):
        """Adjoint of ``unfold`` for (C, ∏kernel, ∏out_size · N) values: one add per kernel offset,
        then cut to the input's spatial ``size``."""
        g, xp = self.grid, backend.xp_of(cols)
        buf = xp.zeros(cols.shape[:1] + g.extent + (batch,), cols.dtype)
        reads, values = self._windows(buf), cols.reshape(cols.shape[:2] + g.size + (batch,))
        for i, offset in enumerate(g.offsets):
            reads[(slice(None),) + offset] += values[:, i]
        return window_output(xp.moveaxis(buf, -1, 0), lo, size)
