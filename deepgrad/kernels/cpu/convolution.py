"""The CPU's convolutions: the three primitives of ``ops/conv.py`` (forward, adjoint in x, adjoint in w).

Where the compiled direct kernels are built and the batch fills their lanes (``direct.py``), all
three run there, without unfolding windows. Otherwise windows are unfolded with one strided view and
one copy (im2col, on the flat grid of ``grid.py``) into one GEMM per group; the adjoint folds back
with one strided add per kernel offset (no ``np.add.at``). Where the flat grid would waste most of
its positions (kernels large next to the image, as in LeNet-5's C3), the operands are laid out
batch-last instead (``batch_last.py``). Depthwise convolutions take per-offset multiply-adds
(``depthwise.py``). Each VJP lays out the output gradient once for both its gradients
(``kernels/sharing.py``); the weight gradient's product is taken in pieces where the weights are tiny
(``gemm.py``).
"""
from ... import backend
from .. import sharing
from ..windows import window_input, window_output
from . import batch_last, depthwise, direct, gemm
from .grid import Grid


def _spatial(a):
    return tuple(a.shape[2:])


def _is_depthwise(channels_per_group, groups):
    """One input channel per group: then per-offset multiply-adds beat many tiny GEMMs."""
    return groups > 1 and channels_per_group == 1


def im2col(x, grid, lo, groups):
    """The unfolded windows, channel-major: (groups, C/groups · ∏kernel, N · grid size), one contiguous
    buffer, so one GEMM per group multiplies the whole batch."""
    n, c = x.shape[:2]
    cols = backend.empty_aligned((c,) + grid.kernel + (n,) + grid.shape, x.dtype, backend.xp_of(x))
    grid.unfold_into(cols, window_input(x, lo, grid.extent))
    return cols.reshape(groups, -1, n * grid.numel)


class _ChannelMajor:
    """The GEMM operands for ``grid`` with positions (N, *grid) per channel: ``im2col`` and the flat
    or strided grid of ``grid.py``."""
    def __init__(self, grid):
        self.grid = grid

    def unfold(self, x, lo, groups):
        return im2col(x, self.grid, lo, groups)

    def positions(self, y, groups):
        """(N, O, *out_size) -> (groups, O/groups, N · grid size), zeros off the outputs."""
        return self.grid.to_grid(y.swapaxes(0, 1)).reshape(groups, y.shape[1] // groups, -1)

    def rows(self, y, groups):
        """``positions`` for the transposed GEMM: on a flat grid, each plane's positions run on into
        the next (``Grid.rows``), so that ``fold`` adds one long run per kernel offset."""
        return self.grid.rows(y.swapaxes(0, 1)).reshape(groups, y.shape[1] // groups, -1)

    def outputs(self, out, batch):
        """(O, N · grid size) GEMM results -> the (N, O, *out_size) outputs, a view."""
        return self.grid.from_grid(out.reshape((len(out), batch) + self.grid.shape)).swapaxes(0, 1)

    def fold(self, cols, batch, lo, size):
        """Adjoint of ``unfold`` for (C, ∏kernel, positions of ``rows``), cut to spatial ``size``."""
        return window_output(self.grid.fold_rows(cols, batch).swapaxes(0, 1), lo, size)


def _layout(grid, batch):
    return batch_last.BatchLast(grid) if batch_last.suits(grid, batch) else _ChannelMajor(grid)


def _laid_out(layout, how, x, *args):
    """``layout.<how>(x, *args)``, computed once per array within a VJP (``sharing``; the key is the
    method itself: in the batch-last layout ``rows`` and ``positions`` are one)."""
    method, g = getattr(type(layout), how), layout.grid
    return sharing.once((method, g.kernel, g.stride, g.dilation, g.size) + args, x, lambda: method(layout, x, *args))


def _empty(a, b):
    """Whether an operand is empty (an empty batch): then there is nothing to sum, and the result is
    zeros (the kernels' reshapes and GEMMs refuse empty arrays)."""
    return a.size == 0 or b.size == 0


def _zeros(like, shape):
    return backend.xp_of(like).zeros(shape, like.dtype)


def conv(x, w, stride, lo, dilation, groups, size):
    """y[n,o,t] = Σ_c,k w[o,c,k] · x[n,c, t·s + k·d − lo], (N, O, *size)."""
    if _empty(x, w):
        return _zeros(x, (len(x), len(w)) + tuple(size))
    grid = Grid(_spatial(w), stride, dilation, size)
    if _is_depthwise(w.shape[1], groups):
        return depthwise.conv(x, w, grid, lo, groups)
    if direct.suits(x):
        return direct.conv(x, w, grid, lo, groups)
    layout = _layout(grid, len(x))
    out = w.reshape(groups, w.shape[0] // groups, -1) @ _laid_out(layout, "unfold", x, tuple(lo), groups)
    return layout.outputs(out.reshape(w.shape[0], -1), len(x))


def conv_transpose(y, w, stride, lo, dilation, groups, size):
    """The adjoint of ``conv`` in x, (N, C, *size)."""
    if _empty(y, w):
        return _zeros(y, (len(y), w.shape[1] * groups) + tuple(size))
    grid = Grid(_spatial(w), stride, dilation, _spatial(y))
    if _is_depthwise(w.shape[1], groups):
        return depthwise.conv_transpose(y, w, grid, lo, groups, size)
    if direct.suits(y):
        return direct.conv_transpose(y, w, grid, lo, groups, size)
    layout = _layout(grid, len(y))
    wt = w.reshape(groups, w.shape[0] // groups, -1).swapaxes(-1, -2)
    cols = wt @ _laid_out(layout, "rows", y, groups)
    return layout.fold(cols.reshape(groups * w.shape[1], len(grid.offsets), -1), len(y), lo, size)


def conv_weight(x, y, stride, lo, dilation, groups, kernel):
    """The adjoint of ``conv`` in w, (O, C/groups, *kernel)."""
    if _empty(x, y):
        return _zeros(x, (y.shape[1], x.shape[1] // groups) + tuple(kernel))
    grid = Grid(kernel, stride, dilation, _spatial(y))
    if _is_depthwise(x.shape[1] // groups, groups):
        return depthwise.conv_weight(x, y, grid, lo, groups)
    if direct.suits(x):
        return direct.conv_weight(x, y, grid, lo, groups)
    layout = _layout(grid, len(x))
    # dwᵀ = cols · yᵀ: with the long contraction this way round OpenBLAS runs up to twice as fast
    cols = _laid_out(layout, "unfold", x, tuple(lo), groups)
    dw = gemm.inner(cols, _laid_out(layout, "positions", y, groups)).swapaxes(-1, -2)
    return dw.reshape((y.shape[1], x.shape[1] // groups) + tuple(kernel))
