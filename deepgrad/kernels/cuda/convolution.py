"""Convolutions on CUDA: cuDNN's three convolution graphs (``cudnn.py``), with the generic im2col +
cuBLAS kernels where cuDNN cannot take one (no frontend installed, an unsupported dtype or geometry).

cuDNN infers the groups from the channel counts and wants non-negative padding: the padding after each
axis is the smallest that gives the same output size (the windows' rows past the last reach nothing),
and 1-D convolutions run as 2-D ones on a unit axis.
"""
import cupy

from .. import generic
from . import cudnn


def _padding(inputs, outputs, kernel, stride, lo, dilation):
    """(pre, post) for cuDNN, or None where it would need negative padding: post is the smallest
    non-negative padding after that keeps ``outputs`` windows."""
    post = [(o - 1) * s + (k - 1) * d + 1 - l - m
            for m, o, k, s, l, d in zip(inputs, outputs, kernel, stride, lo, dilation)]
    if any(l < 0 for l in lo) or any(p + s - 1 < 0 for p, s in zip(post, stride)):
        return None
    return tuple(lo), tuple(max(0, p) for p in post)


def _planar(shape):
    """A 1-D (N, C, L) shape as (N, C, 1, L); others as they are."""
    return shape[:2] + (1,) + shape[2:] if len(shape) == 3 else tuple(shape)


def _run(kind, a, b, out_shape, inputs, outputs, kernel, stride, lo, dilation):
    """The cuDNN graph ``kind`` for these operands, or None where cuDNN cannot take it."""
    if a.size == 0 or b.size == 0:
        return None
    padding = _padding(inputs, outputs, kernel, stride, lo, dilation)
    if padding is None:
        return None
    extra = (1,) if len(inputs) == 1 else ()
    pre, post = ((0,) + padding[0], (0,) + padding[1]) if extra else padding
    a, b = (cupy.ascontiguousarray(t).reshape(_planar(t.shape)) for t in (a, b))
    out = cudnn.conv(kind, a, b, _planar(tuple(out_shape)), pre, post, extra + tuple(stride), extra + tuple(dilation))
    return None if out is None else out.reshape(out_shape)


def conv(x, w, stride, lo, dilation, groups, size):
    """y[n,o,t] = Σ_c,k w[o,c,k] · x[n,c, t·s + k·d − lo], (N, O, *size)."""
    out = _run("fprop", x, w, (len(x), len(w)) + tuple(size), x.shape[2:], size, w.shape[2:], stride, lo, dilation)
    return generic.conv(x, w, stride, lo, dilation, groups, size) if out is None else out


def conv_transpose(y, w, stride, lo, dilation, groups, size):
    """The adjoint of ``conv`` in x, (N, C, *size)."""
    shape = (len(y), w.shape[1] * groups) + tuple(size)
    out = _run("dgrad", y, w, shape, size, y.shape[2:], w.shape[2:], stride, lo, dilation)
    return generic.conv_transpose(y, w, stride, lo, dilation, groups, size) if out is None else out


def conv_weight(x, y, stride, lo, dilation, groups, kernel):
    """The adjoint of ``conv`` in w, (O, C/groups, *kernel)."""
    shape = (y.shape[1], x.shape[1] // groups) + tuple(kernel)
    out = _run("wgrad", x, y, shape, x.shape[2:], y.shape[2:], kernel, stride, lo, dilation)
    return generic.conv_weight(x, y, stride, lo, dilation, groups, kernel) if out is None else out
