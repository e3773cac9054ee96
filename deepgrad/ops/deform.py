"""Deformable convolution (Dai et al. 2017, "Deformable convolutional networks"; v2 with the modulation
mask: Zhu et al. 2019), with torchvision.ops' signature and semantics.

Each kernel tap k of each output position t reads the input at p = t·s − pad + k·d + Δp(t, k), a
learned fractional offset, by bilinear interpolation of the four neighbouring pixels (pixels outside the
input read 0; a point with y ≤ −1, y ≥ H, x ≤ −1 or x ≥ W reads 0 outright), scaled by a mask m(t, k)
in v2; then the samples are weighted as in a convolution: y[n,o,t] = Σ_c,k w[o,c,k] · m · x(p).

The one new primitive pair is the sampling: ``Sample`` reads (N, C, H, W) at points (py, px) shaped
(N, G, K, Ho, Wo) (G offset groups, each serving C/G channels); ``Spread`` is its adjoint in the
input. Both take an ``order`` (a, b): with a = 1 the row weights (1 − ly, ly) of the interpolation are
replaced by their derivative in y, (−1, 1), likewise b for columns, so the derivative of a sample in
its point is again a sample, and every derivative of every order is one of the two primitives. As in
torchvision's kernels, the interpolant of the cell [⌊y⌋, ⌊y⌋ + 1] is used, so at integer coordinates
the value is the pixel's and the derivative the one-sided one towards the next pixel. Mask, weights
and bias enter through ordinary Tensor operations.
"""
from .. import backend, kernels
from ..autograd.function import Primitive, apply
from ..autograd.tensor import Tensor
from .common import lift


class Sample(Primitive):
    """out[n, c, k, i, j] = bilinear read of x[n, c] at (py, px)[n, g(c), k, i, j]; (N, C, K, Ho, Wo)."""
    saved = (0, 1, 2)

    def forward(self, x, py, px, order):
        return kernels.of(x).sample(x, py, px, order)

    def vjp(self, g, out, x, py, px, order):
        return (spread(g, py, px, order, x.shape[2:]) if x.requires_grad else None,
                _point_vjp(g, x, py, px, order, 0) if py.requires_grad else None,
                _point_vjp(g, x, py, px, order, 1) if px.requires_grad else None)

    def jvp(self, tangents, out, x, py, px, order):
        tx, tpy, tpx = tangents
        parts = [sample(tx, py, px, order)] if tx is not None else []
        for axis, t in enumerate((tpy, tpx)):
            if t is not None and order[axis] == 0:
                parts.append(sample(x, py, px, _raise(order, axis)) * _per_channel(t, x.shape[1]))
        return _total(parts)


class Spread(Primitive):
    """The adjoint of ``Sample`` in x: each v[n, c, k, i, j] is added to the four pixels around its
    point with the interpolation weights; (N, C, *size)."""
    saved = (0, 1, 2)

    def forward(self, v, py, px, order, size):
        return kernels.of(v).spread(v, py, px, order, size)

    def vjp(self, g, out, v, py, px, order, size):
        return (sample(g, py, px, order) if v.requires_grad else None,
                _point_vjp(v, g, py, px, order, 0) if py.requires_grad else None,
                _point_vjp(v, g, py, px, order, 1) if px.requires_grad else None)

    def jvp(self, tangents, out, v, py, px, order, size):
        tv, tpy, tpx = tangents
        parts = [spread(tv, py, px, order, size)] if tv is not None else []
        for axis, t in enumerate((tpy, tpx)):
            if t is not None and order[axis] == 0:
                parts.append(spread(_per_channel(t, v.shape[1]) * v, py, px, _raise(order, axis), size))
        return _total(parts)


def _raise(order, axis):
    return tuple(1 if i == axis else o for i, o in enumerate(order))


def _per_channel(t, channels):
    """(N, G, K, Ho, Wo) -> (N, C, K, Ho, Wo): each group's value repeated over its C/G channels."""
    n, g = t.shape[:2]
    return t.unsqueeze(2).expand(n, g, channels // g, *t.shape[2:]).reshape((n, channels) + t.shape[2:])


def _point_vjp(g, x, py, px, order, axis):
    """Cotangent of a point coordinate: Σ over the group's channels of g · (the sample of x differentiated
    along ``axis``); None (zero) where the interpolation is already differentiated along it (linear there)."""
    if order[axis] == 1:
        return None
    d = sample(x, py, px, _raise(order, axis)) * g
    n, c = d.shape[:2]
    groups = py.shape[1]
    return d.reshape((n, groups, c // groups) + d.shape[2:]).sum(2)


def _total(parts):
    """The sum of the tangent ``parts``; None (zero) when there are none."""
    if not parts:
        return None
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out


_sample, _spread = Sample(), Spread()


def sample(x, py, px, order=(0, 0)):
    """Primitive bilinear sampling of x (N, C, H, W) at points (N, G, K, Ho, Wo) -> (N, C, K, Ho, Wo)."""
    return apply(_sample, (x, py, px), {"order": tuple(order)})


def spread(v, py, px, order, size):
    """Primitive adjoint of ``sample`` in x, producing (N, C, *size)."""
    return apply(_spread, (v, py, px), {"order": tuple(order), "size": tuple(size)})


def _pair(value, name, minimum):
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else tuple(value)
    if len(pair) != 2 or any(not isinstance(v, int) or isinstance(v, bool) or v < minimum for v in pair):
        raise ValueError(f"deform_conv2d: {name} must be an int or a pair of ints >= {minimum}, got {value!r}")
    return pair


def _check(name, t, shape):
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"deform_conv2d: {name} must have shape {tuple(shape)}, got {tuple(t.shape)}")


def deform_conv2d(input, offset, weight, bias=None, stride=1, padding=0, dilation=1, mask=None):
    """Deformable convolution (v1; v2 with ``mask``), as ``torchvision.ops.deform_conv2d``: input
    (N, C, H, W), offset (N, 2·G·kh·kw, Ho, Wo) holding (Δy, Δx) per offset group and tap, weight
    (O, C/groups, kh, kw) (groups from C), mask (N, G·kh·kw, Ho, Wo). Zero offsets and a unit mask give
    ``conv2d``."""
    x, offset, weight = lift(input), lift(offset), lift(weight)
    for name, t in (("input", x), ("offset", offset), ("weight", weight)) + ((("mask", lift(mask)),) if mask is not None else ()):
        if t.ndim != 4:
            raise ValueError(f"deform_conv2d: {name} must have 4 dimensions, got shape {tuple(t.shape)}")
        if t.dtype != x.dtype or not backend.is_floating(t.dtype):
            raise TypeError(f"deform_conv2d: {name} must be floating point with input's dtype {x.dtype}, got {t.dtype}")
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride, "stride", 1), _pair(padding, "padding", 0), _pair(dilation, "dilation", 1)
    n, c, h, w = x.shape
    o, cg, kh, kw = weight.shape
    if cg == 0 or c % cg or o % (c // cg):
        raise ValueError(f"deform_conv2d: weight {tuple(weight.shape)} does not fit input channels {c} "
                         f"(C must be a multiple of weight.shape[1], and O of the groups C / weight.shape[1])")
    groups, k = c // cg, kh * kw
    ho, wo = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"deform_conv2d: the kernel {kh}×{kw} (dilation {dh, dw}) does not fit the padded input "
                         f"{h + 2 * ph}×{w + 2 * pw}")
    g = offset.shape[1] // (2 * k)
    if g == 0 or offset.shape[1] % (2 * k) or c % g:
        raise ValueError(f"deform_conv2d: offset.shape[1] = {offset.shape[1]} must be 2·kh·kw·G = {2 * k}·G for "
                         f"G offset groups dividing the {c} input channels")
    _check("offset", offset, (n, 2 * g * k, ho, wo))
    deltas = offset.reshape(n, g, k, 2, ho, wo)
    ty, tx = kernels.of(x.array).tap_points(x.array, (kh, kw), (sh, sw), (ph, pw), (dh, dw), (ho, wo))
    py = deltas[:, :, :, 0] + Tensor.wrap(ty)
    px = deltas[:, :, :, 1] + Tensor.wrap(tx)
    cols = sample(x, py, px)                                                   # (N, C, K, Ho, Wo)
    if mask is not None:
        mask = lift(mask)
        _check("mask", mask, (n, g * k, ho, wo))
        cols = cols * _per_channel(mask.reshape(n, g, k, ho, wo), c)
    out = weight.reshape(groups, o // groups, cg * k) @ cols.reshape(n, groups, cg * k, ho * wo)
    out = out.reshape(n, o, ho, wo)
    if bias is not None:
        bias = lift(bias)
        _check("bias", bias, (o,))
        out = out + bias.reshape(1, o, 1, 1)
    return out
