"""Depthwise convolution (one input channel per group, the efficient variant of seed 4.6): per
kernel offset one multiply-add over the whole batch, on the grid of ``grid.py``, instead of many
tiny GEMMs."""
from .. import backend
from .grid import window_input, window_output


def _per_tap(w, groups, grid_ndim):
    """The weight of each kernel offset as (1, groups, multiplier, 1...) for broadcasting."""
    m = w.shape[0] // groups
    return [w[(slice(None), 0) + k].reshape((1, groups, m) + (1,) * grid_ndim) for k in backend.numpy.ndindex(*w.shape[2:])]


def conv(x, w, grid, lo, groups):
    n = x.shape[0]
    out = None
    for tap, wk in zip(grid.taps(window_input(x, lo, grid.extent)), _per_tap(w, groups, len(grid.shape))):
        term = tap[:, :, None] * wk
        out = term if out is None else backend.xp_of(term).add(out, term, out=out)
    return grid.from_grid(out.reshape((n, w.shape[0]) + grid.shape))


def conv_transpose(y, w, grid, lo, groups, size):
    n, m = y.shape[0], w.shape[0] // groups
    yr = grid.to_grid(y).reshape((n, groups, m) + grid.shape)
    weights = _per_tap(w, groups, len(grid.shape))

    def piece(i):
        return (yr * weights[i]).sum(axis=2) if m > 1 else yr[:, :, 0] * weights[i][:, :, 0]
    return window_output(grid.fold(piece, (n, groups)), lo, size)


def conv_weight(x, y, grid, lo, groups):
    n, o = y.shape[:2]
    yr = grid.to_grid(y).reshape(n, groups, o // groups, -1)
    xp = backend.xp_of(y)
    per_tap = [xp.einsum("ngml,ngl->gm", yr, tap.reshape(n, groups, -1))
               for tap in grid.taps(window_input(x, lo, grid.extent))]
    return xp.stack(per_tap, axis=-1).reshape((o, 1) + grid.kernel)
