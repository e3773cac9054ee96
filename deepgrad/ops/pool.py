"""Primitives for pooling (seed 4.2.3) and its backward pass (seed 4.3, eq. 4.3.4):

* ``window_sum(x)``  sums every (strided, padded) window — mean pooling divides it by the window size;
  its adjoint ``window_spread`` hands each output's gradient evenly back to its window ("up-sampling").
* ``gather(x, index)``  picks, per output, the element at a flat position of the input plane — max
  pooling gathers the arg-max of each window; its adjoint ``scatter`` routes each gradient back to
  that one position (summing where windows overlap), and ``max_unpool`` is a scatter too.
Both pairs are each other's VJPs, so pooling has derivatives of every order.
"""
from .. import backend
from ..autograd.function import Primitive
from .conv import col2im, span, unfold, window_input, window_output


class WindowSum(Primitive):
    """y[n,c,t] = Σ_k x[n,c, t·s + k − lo] over windows of ``kernel`` (zero padding)."""
    def forward(self, x, kernel, stride, lo, size):
        ones = (1,) * len(kernel)
        windows = unfold(window_input(x, lo, span(size, kernel, stride, ones)), kernel, stride, ones, size)
        return windows.sum(axis=tuple(range(2, 2 + len(kernel))))

    def vjp(self, g, out, x, kernel, stride, lo, size):
        return (window_spread(g, kernel, stride, lo, x.shape[2:]),)

    def jvp(self, tangents, out, x, kernel, stride, lo, size):
        return window_sum(tangents[0], kernel, stride, lo, size)


class WindowSpread(Primitive):
    """The adjoint of ``window_sum``: each y[n,c,t] is added to every element of its window."""
    def forward(self, y, kernel, stride, lo, size):
        ones = (1,) * len(kernel)
        buf = col2im(lambda k: y, kernel, stride, ones, y.shape[:2], y.shape[2:])
        return window_output(buf, lo, size)

    def vjp(self, g, out, y, kernel, stride, lo, size):
        return (window_sum(g, kernel, stride, lo, y.shape[2:]),)

    def jvp(self, tangents, out, y, kernel, stride, lo, size):
        return window_spread(tangents[0], kernel, stride, lo, size)


class Gather(Primitive):
    """y[n,c,t] = x[n,c].flat[index[n,c,t]]: one element of the input plane per output."""
    def forward(self, x, index):
        n, c = x.shape[:2]
        flat = x.reshape(n, c, -1)
        picked = backend.xp_of(x).take_along_axis(flat, index.reshape(n, c, -1), axis=2)
        return picked.reshape(index.shape)

    def vjp(self, g, out, x, index):
        return (scatter(g, index, x.shape[2:]),)

    def jvp(self, tangents, out, x, index):
        return gather(tangents[0], index)


class Scatter(Primitive):
    """The adjoint of ``gather``: an (N, C, *size) plane of zeros with y[n,c,t] added at
    index[n,c,t] (several outputs naming one position add up)."""
    def forward(self, y, index, size):
        xp = backend.xp_of(y)
        n, c = y.shape[:2]
        plane = int(backend.numpy.prod(size))
        offsets = (xp.arange(n * c, dtype=index.dtype) * plane).reshape(n, c, *([1] * (index.ndim - 2)))
        summed = xp.bincount((index + offsets).ravel(), weights=y.ravel(), minlength=n * c * plane)
        return summed.astype(y.dtype).reshape((n, c) + tuple(size))

    def vjp(self, g, out, y, index, size):
        return (gather(g, index),)

    def jvp(self, tangents, out, y, index, size):
        return scatter(tangents[0], index, size)


_window_sum, _window_spread, _gather, _scatter = WindowSum(), WindowSpread(), Gather(), Scatter()


def window_sum(x, kernel, stride, lo, size):
    return _window_sum(x, kernel=tuple(kernel), stride=tuple(stride), lo=tuple(lo), size=tuple(size))


def window_spread(y, kernel, stride, lo, size):
    return _window_spread(y, kernel=tuple(kernel), stride=tuple(stride), lo=tuple(lo), size=tuple(size))


def gather(x, index):
    """``index``: a backend integer array of shape (N, C, *out) of flat positions in x's plane."""
    return _gather(x, index=index)


def scatter(y, index, size):
    return _scatter(y, index=index, size=tuple(size))
