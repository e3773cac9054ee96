"""Convolution's kernels (the three primitives of ``ops/conv.py``) as im2col + one batched matrix
product per group, on any NumPy-like namespace: any stride, dilation, groups and number of spatial axes.

The windows are unfolded by stacking one strided slice per kernel offset (``windows.Windows``) into
(groups, C/groups · ∏kernel, N · ∏out) columns; the forward is w @ cols, the adjoint in w is
y @ colsᵀ, and the adjoint in x is wᵀ @ y, folded back with one strided add per offset. Within a VJP
the output gradient's layout is made once for both gradients (``kernels/sharing.py``).
"""
from ... import backend
from .. import sharing
from ..windows import Windows, window_input, window_output


def _spread_axes(nd):
    """(A, B, *spatial) <-> (B, A, *spatial)."""
    return (1, 0) + tuple(range(2, 2 + nd))


def _columns(x, grid, lo, groups):
    """(groups, C/groups · ∏kernel, N · ∏out): the unfolded windows, channel-major."""
    def unfold():
        taps = grid.taps(window_input(x, lo, grid.extent))                  # ∏kernel × (N, C, *out)
        cols = backend.xp_of(x).stack(taps, axis=0)                        # (K, N, C, *out)
        cols = cols.transpose((2, 0, 1) + tuple(range(3, cols.ndim)))      # (C, K, N, *out)
        return cols.reshape(groups, -1, len(x) * grid.numel)
    return sharing.once((_columns, grid.kernel, grid.stride, grid.dilation, grid.size, tuple(lo), groups), x, unfold)


def _positions(y, groups):
    """(N, O, *out) -> (groups, O/groups, N · ∏out)."""
    return sharing.once((_positions, groups), y, lambda: y.transpose(_spread_axes(y.ndim - 2)).reshape(
        groups, y.shape[1] // groups, -1))


def _zeros(like, shape):
    return backend.xp_of(like).zeros(shape, dtype=like.dtype)


def conv(x, w, stride, lo, dilation, groups, size):
    """y[n,o,t] = Σ_c,k w[o,c,k] · x[n,c, t·s + k·d − lo], (N, O, *size)."""
    if x.size == 0 or w.size == 0:
        return _zeros(x, (len(x), len(w)) + tuple(size))
    grid = Windows(w.shape[2:], stride, dilation, size)
    out = w.reshape(groups, len(w) // groups, -1) @ _columns(x, grid, lo, groups)
    return out.reshape((len(w), len(x)) + tuple(size)).transpose(_spread_axes(len(size)))


def conv_transpose(y, w, stride, lo, dilation, groups, size):
    """The adjoint of ``conv`` in x, (N, C, *size)."""
    channels = w.shape[1] * groups
    if y.size == 0 or w.size == 0:
        return _zeros(y, (len(y), channels) + tuple(size))
    grid = Windows(w.shape[2:], stride, dilation, y.shape[2:])
    wt = w.reshape(groups, len(w) // groups, -1).transpose((0, 2, 1))
    cols = (wt @ _positions(y, groups)).reshape((channels, len(grid.offsets), len(y)) + grid.size)
    buf = grid.fold(lambda i: cols[:, i].transpose(_spread_axes(len(size))), (len(y), channels))
    return window_output(buf, lo, size)


def conv_weight(x, y, stride, lo, dilation, groups, kernel):
    """The adjoint of ``conv`` in w, (O, C/groups, *kernel)."""
    shape = (y.shape[1], x.shape[1] // groups) + tuple(kernel)
    if x.size == 0 or y.size == 0:
        return _zeros(x, shape)
    grid = Windows(kernel, stride, dilation, y.shape[2:])
    dw = _positions(y, groups) @ _columns(x, grid, lo, groups).transpose((0, 2, 1))
    return dw.reshape(shape)
