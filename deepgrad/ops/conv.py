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
Windows are unfolded with one strided view and one copy (im2col) into a batched GEMM; the adjoint
folds back with one strided add per kernel offset (no ``np.add.at``).
"""
from .. import backend
from ..autograd.function import Primitive

_prod = backend.numpy.prod


def span(out_size, kernel, stride, dilation):
    """Input extent that ``out_size`` windows cover: (O − 1)·S + (K − 1)·D + 1 per axis."""
    return tuple((o - 1) * s + (k - 1) * d + 1 for o, k, s, d in zip(out_size, kernel, stride, dilation))


def window_input(x, lo, extent, fill=0):
    """x with each spatial axis i re-cut to [−lo[i], extent[i] − lo[i]): ``fill`` outside x, cropped where shorter."""
    spatial = x.shape[2:]
    if all(l == 0 for l in lo) and tuple(extent) == tuple(spatial):
        return x
    xp = backend.xp_of(x)
    out = xp.full(x.shape[:2] + tuple(extent), fill, x.dtype)
    src, dst = [slice(None)] * 2, [slice(None)] * 2
    for l, e, n in zip(lo, extent, spatial):
        a, b = max(0, -l), min(n, e - l)           # the part of x that lands inside
        src.append(slice(a, max(a, b)))
        dst.append(slice(a + l, a + l + max(0, b - a)))
    out[tuple(dst)] = x[tuple(src)]
    return out


def window_output(buf, lo, size):
    """The inverse cut: out[..., t] = buf[..., t + lo] for t in [0, size), zeros where buf has nothing."""
    if all(l == 0 for l in lo) and tuple(size) == tuple(buf.shape[2:]):
        return buf
    return window_input(buf, tuple(-l for l in lo), size)


def unfold(xpad, kernel, stride, dilation, out_size):
    """View of shape (N, C, *kernel, *out_size): element [n, c, k, t] is xpad[n, c, t·s + k·d]."""
    xp = backend.xp_of(xpad)
    n, c = xpad.shape[:2]
    sn, sc, *sx = xpad.strides
    shape = (n, c) + tuple(kernel) + tuple(out_size)
    strides = (sn, sc) + tuple(a * d for a, d in zip(sx, dilation)) + tuple(a * s for a, s in zip(sx, stride))
    return xp.lib.stride_tricks.as_strided(xpad, shape, strides, writeable=False)


def _tap(k, stride, dilation, out_size):
    """The slices of a padded input that kernel offset ``k`` reads for every output position."""
    return (slice(None), slice(None)) + tuple(slice(ki * d, ki * d + s * (o - 1) + 1, s)
                                              for ki, d, s, o in zip(k, dilation, stride, out_size))


def im2col(x, kernel, stride, lo, dilation, groups, out_size):
    """The unfolded windows, channel-major: (groups, C/groups · ∏kernel, N · ∏out_size), one contiguous
    buffer, so one GEMM per group multiplies the whole batch."""
    nd = len(kernel)
    xpad = window_input(x, lo, span(out_size, kernel, stride, dilation))
    n, c = x.shape[:2]
    view = unfold(xpad, kernel, stride, dilation, out_size)
    view = view.transpose((1,) + tuple(range(2, 2 + nd)) + (0,) + tuple(range(2 + nd, 2 + 2 * nd)))
    return view.reshape(groups, (c // groups) * int(_prod(kernel)), n * int(_prod(out_size)))


def col2im(piece, kernel, stride, dilation, shape, out_size):
    """Adjoint of unfolding: sum ``piece(k)`` (an array of ``shape`` + out_size, for kernel offset k)
    into the positions t·s + k·d of a zero buffer of the padded extent, one strided add per offset."""
    buf = None
    for k in backend.numpy.ndindex(*kernel):
        p = piece(k)
        if buf is None:
            buf = backend.xp_of(p).zeros(tuple(shape) + span(out_size, kernel, stride, dilation), p.dtype)
        buf[_tap(k, stride, dilation, out_size)] += p
    return buf


def _to_batch_major(a, n, size):
    """(C, N·∏size) -> an (N, C, *size) view."""
    return a.reshape((a.shape[0], n) + tuple(size)).swapaxes(0, 1)


def _channel_major(y, groups):
    """(N, C, *size) -> (groups, C/groups, N·∏size), contiguous."""
    n, c = y.shape[:2]
    return y.swapaxes(0, 1).reshape(groups, c // groups, -1)


def _depthwise(channels_per_group, groups):
    """Each input channel has its own filters (one input channel per group): then per-offset
    multiply-adds beat tiny GEMMs."""
    return groups > 1 and channels_per_group == 1


def _spatial(a):
    return tuple(a.shape[2:])


def _conv_forward(x, w, stride, lo, dilation, groups, size):
    n, kernel = x.shape[0], _spatial(w)
    if _depthwise(w.shape[1], groups):
        return depthwise.conv(x, w, stride, lo, dilation, groups, size)
    cols = im2col(x, kernel, stride, lo, dilation, groups, size)
    out = w.reshape(groups, w.shape[0] // groups, -1) @ cols
    return _to_batch_major(out.reshape(w.shape[0], -1), n, size)


def _conv_transpose_forward(y, w, stride, lo, dilation, groups, size):
    n, kernel, out_size = y.shape[0], _spatial(w), _spatial(y)
    if _depthwise(w.shape[1], groups):
        return depthwise.conv_transpose(y, w, stride, lo, dilation, groups, size)
    wm = w.reshape(groups, w.shape[0] // groups, -1)
    cols = (wm.swapaxes(-1, -2) @ _channel_major(y, groups)).reshape((groups * w.shape[1],) + kernel + (n,) + out_size)
    buf = col2im(lambda k: cols[(slice(None),) + k], kernel, stride, dilation, cols.shape[:1] + (n,), out_size)
    return window_output(buf.swapaxes(0, 1), lo, size)


def _conv_weight_forward(x, y, stride, lo, dilation, groups, kernel):
    n, o = y.shape[:2]
    out_size = _spatial(y)
    if _depthwise(x.shape[1] // groups, groups):
        return depthwise.conv_weight(x, y, stride, lo, dilation, groups, kernel)
    cols = im2col(x, kernel, stride, lo, dilation, groups, out_size)
    dw = _channel_major(y, groups) @ cols.swapaxes(-1, -2)
    return dw.reshape((o, x.shape[1] // groups) + tuple(kernel))


from . import depthwise  # noqa: E402  (it uses the helpers above)


class Conv(Primitive):
    """y = w ⊗ x: cross-correlation with stride, padding ``lo``, dilation and groups (seed eq. 4.2.2)."""
    def forward(self, x, w, stride, lo, dilation, groups, size):
        return _conv_forward(x, w, stride, lo, dilation, groups, size)

    def vjp(self, g, out, x, w, stride, lo, dilation, groups, size):
        return (conv_transpose(g, w, stride, lo, dilation, groups, _spatial(x)) if x.requires_grad else None,
                conv_weight(x, g, stride, lo, dilation, groups, _spatial(w)) if w.requires_grad else None)

    def jvp(self, tangents, out, x, w, stride, lo, dilation, groups, size):
        tx, tw = tangents
        a = None if tx is None else conv(tx, w, stride, lo, dilation, groups, size)
        b = None if tw is None else conv(x, tw, stride, lo, dilation, groups, size)
        return b if a is None else a if b is None else a + b


class ConvTranspose(Primitive):
    """The adjoint of ``conv`` in its input: each y[n,o,t] spreads w[o,c,k]·y over x[n,c,t·s+k·d−lo]
    (seed 4.5.1, transposed / fractionally-strided convolution; seed eq. 4.1.14 for the input gradient)."""
    def forward(self, y, w, stride, lo, dilation, groups, size):
        return _conv_transpose_forward(y, w, stride, lo, dilation, groups, size)

    def vjp(self, g, out, y, w, stride, lo, dilation, groups, size):
        return (conv(g, w, stride, lo, dilation, groups, _spatial(y)) if y.requires_grad else None,
                conv_weight(g, y, stride, lo, dilation, groups, _spatial(w)) if w.requires_grad else None)

    def jvp(self, tangents, out, y, w, stride, lo, dilation, groups, size):
        ty, tw = tangents
        a = None if ty is None else conv_transpose(ty, w, stride, lo, dilation, groups, size)
        b = None if tw is None else conv_transpose(y, tw, stride, lo, dilation, groups, size)
        return b if a is None else a if b is None else a + b


class ConvWeight(Primitive):
    """The adjoint of ``conv`` in its weight: dw[o,c,k] = Σ_n,t y[n,o,t] · x[n,c,t·s+k·d−lo]
    (seed eq. 4.3.2: ∂L/∂W = δ ⊗ X)."""
    def forward(self, x, y, stride, lo, dilation, groups, size):
        return _conv_weight_forward(x, y, stride, lo, dilation, groups, size)

    def vjp(self, g, out, x, y, stride, lo, dilation, groups, size):
        return (conv_transpose(y, g, stride, lo, dilation, groups, _spatial(x)) if x.requires_grad else None,
                conv(x, g, stride, lo, dilation, groups, _spatial(y)) if y.requires_grad else None)

    def jvp(self, tangents, out, x, y, stride, lo, dilation, groups, size):
        tx, ty = tangents
        a = None if tx is None else conv_weight(tx, y, stride, lo, dilation, groups, size)
        b = None if ty is None else conv_weight(x, ty, stride, lo, dilation, groups, size)
        return b if a is None else a if b is None else a + b


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
