"""Pooling's kernels (the primitives of ``ops/pool.py``) on strided slices of the padded input, one per
window offset (``windows.Windows``): sums, maxima, the offset of each maximum, picks and routes by
offset, and the flat gather / scatter of adaptive pooling and unpooling.

``Pooling`` is written against the array namespace alone, with no value read back to the host (no
data-dependent branch), so it runs on any NumPy-like array; the CPU's subclass (``cpu/pooling.py``) lays
unit-stride windows on its flat grid and adds shortcuts that look at the data.
"""
import math

from ... import backend
from ..windows import Windows, window_input, window_output


KERNELS = ("window_sum", "window_spread", "window_max", "max_offsets", "window_pick", "window_route")


class Pooling:
    grid = Windows

    def kernels(self):
        """The bound kernels, in the order of ``KERNELS``."""
        return tuple(getattr(self, name) for name in KERNELS)

    def window_sum(self, x, kernel, stride, lo, size):
        """y[n,c,t] = Σ_k x[n,c, t·s + k − lo] over windows of ``kernel`` (zero padding)."""
        grid = self.grid(kernel, stride, (1,) * len(kernel), size)
        taps = grid.taps(window_input(x, lo, grid.extent))
        total = taps[0].copy()
        for t in taps[1:]:
            total += t
        return grid.from_grid(total)

    def window_spread(self, y, kernel, stride, lo, size):
        """The adjoint of ``window_sum``: each y[n,c,t] added to every element of its window."""
        grid = self.grid(kernel, stride, (1,) * len(kernel), y.shape[2:])
        spread = grid.to_grid(y)
        return window_output(grid.fold(lambda i: spread, y.shape[:2]), lo, size)

    def window_max(self, x, kernel, stride, lo, dilation, size):
        """The maximum of every window (-inf padding); a NaN in a window makes its maximum NaN."""
        xp = backend.xp_of(x)
        grid = self.grid(kernel, stride, dilation, size)
        taps = grid.taps(window_input(x, lo, grid.extent, fill=-xp.inf))
        best = taps[0].copy()
        for t in taps[1:]:
            best = self._maximum(xp, best, t)
        return grid.from_grid(best)

    def _maximum(self, xp, best, t):
        return xp.maximum(best, t)

    def max_offsets(self, x, out, kernel, stride, lo, dilation, size):
        """Per output, the row-major offset in its window of the first element equal to the maximum
        ``out``, or of the last NaN where the maximum is NaN: the element PyTorch picks."""
        xp = backend.xp_of(x)
        grid = self.grid(kernel, stride, dilation, size)
        taps = grid.taps(window_input(x, lo, grid.extent, fill=-xp.inf))
        best = grid.to_grid(out)
        dtype = xp.int8 if len(taps) < 128 else xp.int32
        offsets = xp.zeros(best.shape, dtype=dtype)
        found = xp.zeros(best.shape, dtype=bool)
        for i, t in enumerate(taps):
            hit = t == best
            offsets += (hit & ~found).astype(dtype) * dtype(i)
            found |= hit
        offsets = self._nan_offsets(offsets, taps, best != best, dtype)
        return xp.ascontiguousarray(grid.from_grid(offsets))

    def _nan_offsets(self, offsets, taps, nan, dtype):
        """``offsets`` with the last NaN's offset where the maximum is NaN (arithmetic selection: masked
        writes and ``where`` are slow on large random masks)."""
        for i, t in enumerate(taps):
            is_nan = (t != t) & nan
            offsets = offsets * ~is_nan + is_nan.astype(dtype) * dtype(i)
        return offsets

    def _select(self, mask, values):
        """values where mask, else 0."""
        return backend.xp_of(values).where(mask, values, values.dtype.type(0))

    def window_pick(self, x, offsets, kernel, stride, lo, dilation, size):
        """y[n,c,t] = x[n,c, t·s + k·d − lo] with k = offsets[n,c,t]."""
        grid = self.grid(kernel, stride, dilation, size)
        taps = grid.taps(window_input(x, lo, grid.extent))
        which = grid.to_grid(offsets)
        out = self._select(which == 0, taps[0])
        for i, t in enumerate(taps[1:], 1):
            out += self._select(which == i, t)
        return grid.from_grid(out)

    def window_route(self, y, offsets, kernel, stride, lo, dilation, size):
        """The adjoint of ``window_pick``: each y[n,c,t] goes back to the one element its offset names."""
        grid = self.grid(kernel, stride, dilation, y.shape[2:])
        values, which = grid.to_grid(y), grid.to_grid(offsets)
        return window_output(grid.fold(lambda i: self._select(which == i, values), y.shape[:2]), lo, size)


def gather(x, index):
    """y[n,c,t] = x[n,c].flat[index[n,c,t]]."""
    n, c = x.shape[:2]     # explicit plane sizes: -1 is ambiguous for an empty batch
    flat = x.reshape(n, c, math.prod(x.shape[2:]))
    picked = backend.xp_of(x).take_along_axis(flat, index.reshape(n, c, math.prod(index.shape[2:])), axis=2)
    return picked.reshape(index.shape)


def scatter(y, index, size):
    """The adjoint of ``gather``: an (N, C, *size) plane of zeros with y[n,c,t] added at index[n,c,t]."""
    xp = backend.xp_of(y)
    n, c = y.shape[:2]
    plane = math.prod(size)
    offsets = (xp.arange(n * c, dtype=index.dtype) * plane).reshape((n, c) + (1,) * (index.ndim - 2))
    summed = xp.bincount((index + offsets).ravel(), weights=y.ravel(), minlength=n * c * plane)
    return summed.astype(y.dtype).reshape((n, c) + tuple(size))
