"""Depthwise convolution (one input channel per group, seed 4.6's efficient variants): per kernel
offset, one multiply-add over the whole batch, which beats many tiny GEMMs.

With the same stride on every axis the padded input is read as one flat row per (n, c): kernel
offset k then reads the strided 1-D slice ``flat[off_k :: s]`` for all outputs at once (outputs are
computed on the padded grid, the few positions past each row's end being dropped). Long contiguous
runs keep NumPy's inner loops efficient. Otherwise each offset reads an N-d strided view."""
from .. import backend
from .conv import _tap, span, window_input, window_output

_np = backend.numpy


class _Taps:
    """Where each kernel offset reads (or, for the adjoint, writes) a padded (N, C, *extent) array."""

    def __init__(self, kernel, stride, dilation, out_size):
        self.kernel, self.stride, self.dilation, self.size = kernel, stride, dilation, tuple(out_size)
        self.extent = span(out_size, kernel, stride, dilation)
        self.flat = len(set(stride)) == 1
        if self.flat:
            self.row = [int(_np.prod(self.extent[i + 1:])) for i in range(len(kernel))]   # strides of the grid
            self.length = sum((o - 1) * r for o, r in zip(self.size, self.row)) + 1

    def views(self, padded):
        """One view per kernel offset (row-major): (N, C, L) on the flat grid, else (N, C, *out_size)."""
        if not self.flat:
            return [padded[_tap(k, self.stride, self.dilation, self.size)] for k in _np.ndindex(*self.kernel)]
        flat = padded.reshape(padded.shape[:2] + (-1,))
        s = self.stride[0]
        views = []
        for k in _np.ndindex(*self.kernel):
            off = sum(ki * d * r for ki, d, r in zip(k, self.dilation, self.row))
            views.append(flat[:, :, off:off + s * (self.length - 1) + 1:s])
        return views

    def from_grid(self, grid):
        """(N, C, L) on the flat grid -> the (N, C, *out_size) outputs (a strided view)."""
        if not self.flat:
            return grid
        item = grid.strides[-1]
        return backend.xp_of(grid).lib.stride_tricks.as_strided(
            grid, grid.shape[:2] + self.size, grid.strides[:2] + tuple(r * item for r in self.row))

    def to_grid(self, y):
        """(N, C, *out_size) -> (N, C, L) on the flat grid, zeros between rows."""
        if not self.flat:
            return y
        grid = backend.xp_of(y).zeros(y.shape[:2] + (self.length,), y.dtype)
        self.from_grid(grid)[...] = y
        return grid


def _per_tap(w, groups, nd_grid):
    """The weight of kernel offset k as (1, groups, multiplier, 1...) for broadcasting."""
    m = w.shape[0] // groups
    return [w[(slice(None), 0) + k].reshape((1, groups, m) + (1,) * nd_grid) for k in _np.ndindex(*w.shape[2:])]


def conv(x, w, stride, lo, dilation, groups, size):
    taps = _Taps(w.shape[2:], stride, dilation, size)
    views = taps.views(window_input(x, lo, taps.extent))
    n = x.shape[0]
    out = None
    for v, wk in zip(views, _per_tap(w, groups, views[0].ndim - 2)):
        term = v[:, :, None] * wk
        out = term if out is None else backend.xp_of(term).add(out, term, out=out)
    return taps.from_grid(out.reshape((n, w.shape[0]) + out.shape[3:]))


def conv_transpose(y, w, stride, lo, dilation, groups, size):
    kernel, out_size = w.shape[2:], y.shape[2:]
    taps = _Taps(kernel, stride, dilation, out_size)
    n = y.shape[0]
    grid = taps.to_grid(y)
    m = w.shape[0] // groups
    yr = grid.reshape((n, groups, m) + grid.shape[2:])
    buf = backend.xp_of(y).zeros((n, groups) + taps.extent, y.dtype)
    for v, wk in zip(taps.views(buf), _per_tap(w, groups, grid.ndim - 2)):
        v += (yr * wk).sum(axis=2) if m > 1 else yr[:, :, 0] * wk[:, :, 0]
    return window_output(buf, lo, size)


def conv_weight(x, y, stride, lo, dilation, groups, kernel):
    taps = _Taps(kernel, stride, dilation, y.shape[2:])
    n, o = y.shape[:2]
    grid = taps.to_grid(y)
    yr = grid.reshape(n, groups, o // groups, -1)
    xp = backend.xp_of(y)
    per_tap = [xp.einsum("ngml,ngl->gm", yr, v.reshape(n, groups, -1))
               for v in taps.views(window_input(x, lo, taps.extent))]
    return xp.stack(per_tap, axis=-1).reshape((o, 1) + tuple(kernel))
