"""Convolution as deep-learning layers compute it (cross-correlation, seed eq. 4.1.7), for any number
of spatial dimensions, with stride, zero padding, dilation (seed 4.5.2) and groups.

Three primitives close under differentiation, so every derivative of every order is again one of
them (seed eqs. 4.1.12 and 4.1.14, 4.3.2 and 4.3.6):

* ``conv(x, w)``            y[n,o,t] = Σ_c,k w[o,c,k] · x[n,c, t·s + k·d − lo]
* ``conv_transpose(y, w)``  its adjoint in x (seed 4.5.1: multiplying by Cᵀ; "rot180(W) ⊗̃ δ")
* ``conv_weight(x, y)``     its adjoint in w (seed eq. 4.3.2: ∂L/∂W = δ ⊗ X)

All three share the parameters (stride, lo, dilation, groups) plus one size: the output size of
``conv``, the input size for ``conv_transpose``, the kernel size for ``conv_weight``. ``lo`` is the
padding before each spatial axis; the padding after follows from the sizes (negative means cropped).
How each is computed on each device is ``deepgrad.kernels``' business (``kernels.of(array)``).
"""
from .. import kernels
from ..autograd.function import Primitive


def _spatial(a):
    return tuple(a.shape[2:])


def _bilinear_jvp(op, tangents, a, b, params):
    """The tangent of op(a, b) for an op linear in each argument: op(ta, b) + op(a, tb)."""
    ta, tb = tangents
    first = None if ta is None else op(ta, b, *params)
    second = None if tb is None else op(a, tb, *params)
    return second if first is None else first if second is None else first + second


class Conv(Primitive):
    """y = w ⊗ x: cross-correlation with stride, padding ``lo``, dilation and groups (seed eq. 4.2.2)."""
    saved = (0, 1)
    def forward(self, x, w, stride, lo, dilation, groups, size):
        return kernels.of(x).conv(x, w, stride, lo, dilation, groups, size)

    def vjp(self, g, out, x, w, stride, lo, dilation, groups, size):
        with kernels.scope():    # both gradients read g laid out the same way
            return (conv_transpose(g, w, stride, lo, dilation, groups, _spatial(x)) if x.requires_grad else None,
                    conv_weight(x, g, stride, lo, dilation, groups, _spatial(w)) if w.requires_grad else None)

    def jvp(self, tangents, out, x, w, stride, lo, dilation, groups, size):
        return _bilinear_jvp(conv, tangents, x, w, (stride, lo, dilation, groups, size))


class ConvTranspose(Primitive):
    """The adjoint of ``conv`` in its input: each y[n,o,t] spreads w[o,c,k]·y over x[n,c,t·s+k·d−lo]
    (seed 4.5.1, transposed / fractionally-strided convolution; seed eq. 4.1.14 for the input gradient)."""
    saved = (0, 1)
    def forward(self, y, w, stride, lo, dilation, groups, size):
        return kernels.of(y).conv_transpose(y, w, stride, lo, dilation, groups, size)

    def vjp(self, g, out, y, w, stride, lo, dilation, groups, size):
        with kernels.scope():    # both gradients read the windows of g
            return (conv(g, w, stride, lo, dilation, groups, _spatial(y)) if y.requires_grad else None,
                    conv_weight(g, y, stride, lo, dilation, groups, _spatial(w)) if w.requires_grad else None)

    def jvp(self, tangents, out, y, w, stride, lo, dilation, groups, size):
        return _bilinear_jvp(conv_transpose, tangents, y, w, (stride, lo, dilation, groups, size))


class ConvWeight(Primitive):
    """The adjoint of ``conv`` in its weight: dw[o,c,k] = Σ_n,t y[n,o,t] · x[n,c,t·s+k·d−lo]
    (seed eq. 4.3.2: ∂L/∂W = δ ⊗ X)."""
    saved = (0, 1)
    def forward(self, x, y, stride, lo, dilation, groups, size):
        return kernels.of(x).conv_weight(x, y, stride, lo, dilation, groups, size)

    def vjp(self, g, out, x, y, stride, lo, dilation, groups, size):
        return (conv_transpose(y, g, stride, lo, dilation, groups, _spatial(x)) if x.requires_grad else None,
                conv(x, g, stride, lo, dilation, groups, _spatial(y)) if y.requires_grad else None)

    def jvp(self, tangents, out, x, y, stride, lo, dilation, groups, size):
        return _bilinear_jvp(conv_weight, tangents, x, y, (stride, lo, dilation, groups, size))


_conv, _conv_transpose, _conv_weight = Conv(), ConvTranspose(), ConvWeight()


def _params(stride, lo, dilation, groups, size):
    return {"stride": tuple(stride), "lo": tuple(lo), "dilation": tuple(dilation), "groups": int(groups),
            "size": tuple(size)}


def conv(x, w, stride, lo, dilation, groups, size):
    """Primitive cross-correlation producing spatial ``size`` (arguments already validated)."""
    return _conv(x, w, **_params(stride, lo, dilation, groups, size))


def conv_transpose(y, w, stride, lo, dilation, groups, size):
    """Primitive adjoint of ``conv`` in x, producing spatial ``size``."""
    return _conv_transpose(y, w, **_params(stride, lo, dilation, groups, size))


def conv_weight(x, y, stride, lo, dilation, groups, size):
    """Primitive adjoint of ``conv`` in w, producing a kernel of spatial ``size``."""
    return _conv_weight(x, y, **_params(stride, lo, dilation, groups, size))
