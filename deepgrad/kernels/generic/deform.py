"""Deformable convolution's kernels (``ops/deform.py``): bilinear sampling of (N, C, H, W) planes at
fractional points and its adjoint, with the interpolation weights of order (a, b) (a = 1: the row
weights replaced by their derivative in y, likewise b for columns), and the points of a regular
convolution's taps that the learned offsets move."""
import math

from ... import backend


def _corners(x_shape, py, px, order):
    """The four neighbours of each point: (flat pixel index, weight) pairs, weight 0 for pixels
    outside and for every neighbour of a point outside the input."""
    xp = backend.xp_of(py)
    h, w = x_shape[-2:]
    y0, x0 = xp.floor(py), xp.floor(px)
    ly, lx = py - y0, px - x0
    inside = (py > -1) & (py < h) & (px > -1) & (px < w)
    wy = ((1 - ly, ly) if order[0] == 0 else (-xp.ones_like(ly), xp.ones_like(ly)))
    wx = ((1 - lx, lx) if order[1] == 0 else (-xp.ones_like(lx), xp.ones_like(lx)))
    for dy in (0, 1):
        for dx in (0, 1):
            yc, xc = y0 + dy, x0 + dx
            valid = inside & (yc >= 0) & (yc < h) & (xc >= 0) & (xc < w)
            index = xp.where(valid, yc * w + xc, 0).astype(xp.intp)
            yield index, xp.where(valid, wy[dy] * wx[dx], 0).astype(py.dtype)


def _grouped(a, groups):
    """(N, C, ...) -> (N, G, C/G, ...)."""
    return a.reshape((a.shape[0], groups, a.shape[1] // groups) + a.shape[2:])


def sample(x, py, px, order):
    """out[n, c, k, i, j] = bilinear read of x[n, c] at (py, px)[n, g(c), k, i, j]; (N, C, K, Ho, Wo)."""
    xp = backend.xp_of(x)
    n, c, h, w = x.shape
    g = py.shape[1]
    planes = _grouped(x.reshape(n, c, h * w), g)                       # (N, G, C/G, H·W)
    shape = (n, g, 1, math.prod(py.shape[2:]))
    out = 0
    for index, weight in _corners(x.shape, py, px, order):
        out = out + xp.take_along_axis(planes, index.reshape(shape), -1) * weight.reshape(shape)
    return xp.asarray(out, dtype=x.dtype).reshape((n, c) + py.shape[2:])


def spread(v, py, px, order, size):
    """The adjoint of ``sample`` in x: each v[n, c, k, i, j] added to the four pixels around its point
    with the interpolation weights; (N, C, *size)."""
    xp = backend.xp_of(v)
    n, c = v.shape[:2]
    g = py.shape[1]
    hw = size[0] * size[1]
    base = xp.arange(n * c).reshape(n, g, c // g, 1) * hw                 # each (n, c) plane's start
    points = (n, g, 1, math.prod(py.shape[2:]))
    values = _grouped(v.reshape(n, c, points[-1]), g)
    total = 0
    for index, weight in _corners((n, c) + tuple(size), py, px, order):
        flat = (base + index.reshape(points)).ravel()
        weights = (values * weight.reshape(points)).ravel()
        total = total + xp.bincount(flat, weights, minlength=n * c * hw)
    return xp.asarray(total, dtype=v.dtype).reshape((n, c) + tuple(size))


def tap_points(like, kernel, stride, padding, dilation, out_size):
    """Where each tap k of each output (i, j) of a regular convolution reads: (ty, tx), each (K, Ho, Wo),
    t·s − pad + k·d per axis, in ``like``'s dtype and namespace."""
    xp = backend.xp_of(like)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (ho, wo) = kernel, stride, padding, dilation, out_size
    ty = (xp.arange(ho) * sh - ph)[None, :, None] + (xp.arange(kh) * dh).repeat(kw)[:, None, None]
    tx = (xp.arange(wo) * sw - pw)[None, None, :] + xp.tile(xp.arange(kw) * dw, kh)[:, None, None]
    return tuple(xp.broadcast_to(t, (kh * kw, ho, wo)).astype(like.dtype) for t in (ty, tx))
