"""Where the windows of a convolution or pooling read their input, on any NumPy-like namespace.

Windows of ``kernel`` taken every ``stride`` with ``dilation`` read a padded input of extent
(O − 1)·S + (K − 1)·D + 1 per axis (``span``). ``window_input`` cuts (and pads) an input to that
extent; per kernel offset, ``Windows.taps`` is the strided slice of it that the offset reads at every
output position, and ``Windows.fold`` is the adjoint: each offset's values added back where it reads.
Only basic slicing, so these run on NumPy, CuPy or any array type with NumPy's indexing; the CPU's
flat grid (``cpu/grid.py``) extends them with stride tricks.
"""
import functools
import itertools
import math

from .. import backend


def span(out_size, kernel, stride, dilation):
    """Input extent that ``out_size`` windows cover: (O − 1)·S + (K − 1)·D + 1 per axis."""
    return tuple((o - 1) * s + (k - 1) * d + 1 for o, k, s, d in zip(out_size, kernel, stride, dilation))


def window_input(x, lo, extent, fill=0):
    """x with each spatial axis i re-cut to [−lo[i], extent[i] − lo[i]): ``fill`` outside x, cropped where
    shorter. A window inside x is a view of it; otherwise a fresh buffer."""
    spatial = x.shape[2:]
    if all(l <= 0 and e - l <= n for l, e, n in zip(lo, extent, spatial)):
        return x[(slice(None), slice(None)) + tuple(slice(-l, e - l) for l, e in zip(lo, extent))]
    out = backend.xp_of(x).full(x.shape[:2] + tuple(extent), fill, dtype=x.dtype)
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


class Windows:
    """The windows of one convolution or pooling: the grid of positions they are computed at is the
    output shape itself (``shape``), and each kernel offset reads an N-d strided slice."""
    flat = False

    def __init__(self, kernel, stride, dilation, out_size):
        self.kernel, self.stride, self.dilation = tuple(kernel), tuple(stride), tuple(dilation)
        self.size = tuple(out_size)
        self.extent = span(out_size, kernel, stride, dilation)
        self.shape = self.size
        self.offsets = list(itertools.product(*(range(k) for k in self.kernel)))   # row-major, as PyTorch scans

    @property
    def numel(self):
        return math.prod(self.shape)

    def taps(self, padded):
        """Per kernel offset, the (A, B, *grid) slice of a padded (A, B, *extent) array that it reads;
        writable when ``padded`` is a fresh buffer."""
        return [padded[(slice(None), slice(None)) + tuple(slice(k * d, k * d + s * (o - 1) + 1, s)
                                                          for k, d, s, o in zip(off, self.dilation, self.stride, self.size))]
                for off in self.offsets]

    def from_grid(self, array):
        """(..., *grid) -> the (..., *out_size) outputs: the same array here."""
        return array

    def to_grid(self, y):
        """(..., *out_size) -> (..., *grid): the same array here."""
        return y

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
                buf = (xp.empty if self.tiles else xp.zeros)(tuple(lead) + self.extent, dtype=piece.dtype)
                views = self.taps(buf)
            if self.tiles:
                views[i][...] = piece
            else:
                views[i] += piece
        return buf
