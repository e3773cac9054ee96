"""Primitives for pooling (seed 4.2.3) and its backward pass (seed 4.3, eq. 4.3.4):

* ``window_sum(x)``  sums every (strided, padded) window — mean pooling divides it by the window size;
  its adjoint ``window_spread`` hands each output's gradient evenly back to its window ("up-sampling").
* ``max_pool(x)``  the maximum of every window (first one at ties, NaN wins, as PyTorch); its
  derivatives use ``window_pick`` (take, per output, the element at a given offset of its window) and
  ``window_route`` (its adjoint: send each gradient back to that one element, adding where windows
  overlap) with the window offsets of the maxima.
* ``gather(x, index)`` / ``scatter``: the same for flat positions in the input plane (adaptive max
  pooling, max unpooling).
Each pair is each other's VJP, so pooling has derivatives of every order.
"""
from .. import kernels
from ..autograd.function import Primitive


def max_offsets(x, out, kernel, stride, lo, dilation, size):
    """Per output, the row-major offset in its window of the first element equal to the maximum
    ``out``, or of the last NaN where the maximum is NaN: the element PyTorch picks (an array)."""
    return kernels.of(x).max_offsets(x, out, kernel, stride, lo, dilation, size)


class WindowSum(Primitive):
    """y[n,c,t] = Σ_k x[n,c, t·s + k − lo] over windows of ``kernel`` (zero padding)."""
    def forward(self, x, kernel, stride, lo, size):
        return kernels.of(x).window_sum(x, kernel, stride, lo, size)

    def vjp(self, g, out, x, kernel, stride, lo, size):
        return (window_spread(g, kernel, stride, lo, x.shape[2:]),)

    def jvp(self, tangents, out, x, kernel, stride, lo, size):
        return window_sum(tangents[0], kernel, stride, lo, size)


class WindowSpread(Primitive):
    """The adjoint of ``window_sum``: each y[n,c,t] is added to every element of its window."""
    def forward(self, y, kernel, stride, lo, size):
        return kernels.of(y).window_spread(y, kernel, stride, lo, size)

    def vjp(self, g, out, y, kernel, stride, lo, size):
        return (window_sum(g, kernel, stride, lo, y.shape[2:]),)

    def jvp(self, tangents, out, y, kernel, stride, lo, size):
        return window_spread(tangents[0], kernel, stride, lo, size)


class MaxPool(Primitive):
    """y = max over each window (seed eq. 4.2.3), with -inf padding."""
    def forward(self, x, kernel, stride, lo, dilation, size):
        return kernels.of(x).window_max(x, kernel, stride, lo, dilation, size)

    def _offsets(self, out, x, kernel, stride, lo, dilation, size):
        return max_offsets(x.array, out.array, kernel, stride, lo, dilation, size)

    def vjp(self, g, out, x, kernel, stride, lo, dilation, size):
        offsets = self._offsets(out, x, kernel, stride, lo, dilation, size)
        return (window_route(g, offsets, kernel, stride, lo, dilation, x.shape[2:]),)

    def jvp(self, tangents, out, x, kernel, stride, lo, dilation, size):
        offsets = self._offsets(out, x, kernel, stride, lo, dilation, size)
        return window_pick(tangents[0], offsets, kernel, stride, lo, dilation, size)


class WindowPick(Primitive):
    """y[n,c,t] = x[n,c, t·s + k·d − lo] with k = offsets[n,c,t], a per-output window offset."""
    def forward(self, x, offsets, kernel, stride, lo, dilation, size):
        return kernels.of(x).window_pick(x, offsets, kernel, stride, lo, dilation, size)

    def vjp(self, g, out, x, offsets, kernel, stride, lo, dilation, size):
        return (window_route(g, offsets, kernel, stride, lo, dilation, x.shape[2:]),)

    def jvp(self, tangents, out, x, offsets, kernel, stride, lo, dilation, size):
        return window_pick(tangents[0], offsets, kernel, stride, lo, dilation, size)


class WindowRoute(Primitive):
    """The adjoint of ``window_pick`` (seed eq. 4.3.4 for max pooling): each y[n,c,t] goes back to the
    one element its window offset names; where windows overlap, contributions add."""
    def forward(self, y, offsets, kernel, stride, lo, dilation, size):
        return kernels.of(y).window_route(y, offsets, kernel, stride, lo, dilation, size)

    def vjp(self, g, out, y, offsets, kernel, stride, lo, dilation, size):
        return (window_pick(g, offsets, kernel, stride, lo, dilation, y.shape[2:]),)

    def jvp(self, tangents, out, y, offsets, kernel, stride, lo, dilation, size):
        return window_route(tangents[0], offsets, kernel, stride, lo, dilation, size)


class Gather(Primitive):
    """y[n,c,t] = x[n,c].flat[index[n,c,t]]: one element of the input plane per output."""
    def forward(self, x, index):
        return kernels.of(x).gather(x, index)

    def vjp(self, g, out, x, index):
        return (scatter(g, index, x.shape[2:]),)

    def jvp(self, tangents, out, x, index):
        return gather(tangents[0], index)


class Scatter(Primitive):
    """The adjoint of ``gather``: an (N, C, *size) plane of zeros with y[n,c,t] added at
    index[n,c,t] (several outputs naming one position add up)."""
    def forward(self, y, index, size):
        return kernels.of(y).scatter(y, index, size)

    def vjp(self, g, out, y, index, size):
        return (gather(g, index),)

    def jvp(self, tangents, out, y, index, size):
        return scatter(tangents[0], index, size)


_window_sum, _window_spread, _gather, _scatter = WindowSum(), WindowSpread(), Gather(), Scatter()
_max_pool, _window_pick, _window_route = MaxPool(), WindowPick(), WindowRoute()


def _window_params(kernel, stride, lo, dilation, size):
    return {"kernel": tuple(kernel), "stride": tuple(stride), "lo": tuple(lo), "dilation": tuple(dilation),
            "size": tuple(size)}


def max_pool(x, kernel, stride, lo, dilation, size):
    return _max_pool(x, **_window_params(kernel, stride, lo, dilation, size))


def window_pick(x, offsets, kernel, stride, lo, dilation, size):
    return _window_pick(x, offsets=offsets, **_window_params(kernel, stride, lo, dilation, size))


def window_route(y, offsets, kernel, stride, lo, dilation, size):
    return _window_route(y, offsets=offsets, **_window_params(kernel, stride, lo, dilation, size))


def window_sum(x, kernel, stride, lo, size):
    return _window_sum(x, kernel=tuple(kernel), stride=tuple(stride), lo=tuple(lo), size=tuple(size))


def window_spread(y, kernel, stride, lo, size):
    return _window_spread(y, kernel=tuple(kernel), stride=tuple(stride), lo=tuple(lo), size=tuple(size))


def gather(x, index):
    """``index``: a backend integer array of shape (N, C, *out) of flat positions in x's plane."""
    return _gather(x, index=index)


def scatter(y, index, size):
    return _scatter(y, index=index, size=tuple(size))
