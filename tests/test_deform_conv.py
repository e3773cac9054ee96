"""Deformable convolution (deepgrad.ops.deform): zero offsets and a unit mask give conv2d; integer offsets
give a shifted convolution; fractional offsets read what scipy.ndimage.map_coordinates(order=1) reads;
VJP, JVP and second derivatives against finite differences in float64; the DeformConv2d layer."""
import numpy as np
import pytest
from scipy import ndimage

import deepgrad as dg
from deepgrad.ops.deform import deform_conv2d, sample, spread

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def out_size(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


CONFIGS = [  # (N, C, H, W), (O, kh, kw), weight groups, offset groups, stride, padding, dilation
    ((2, 4, 7, 6), (6, 3, 3), 1, 1, 1, 0, 1),
    ((2, 4, 7, 6), (6, 3, 3), 2, 2, 2, 1, 1),
    ((1, 6, 8, 7), (4, 2, 3), 2, 3, (1, 2), (2, 1), (2, 1)),
]


def operands(config, rng, dtype=np.float64, spread_=1.5):
    shape, (o, kh, kw), groups, g, stride, padding, dilation = config
    n, c, h, w = shape
    pair = lambda v: (v, v) if isinstance(v, int) else v
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    ho, wo = out_size(h, kh, sh, ph, dh), out_size(w, kw, sw, pw, dw)
    x = rng.standard_normal(shape).astype(dtype)
    weight = rng.standard_normal((o, c // groups, kh, kw)).astype(dtype)
    offset = rng.uniform(-spread_, spread_, (n, 2 * g * kh * kw, ho, wo)).astype(dtype)
    mask = rng.uniform(0.2, 1.0, (n, g * kh * kw, ho, wo)).astype(dtype)
    return x, offset, weight, mask, dict(stride=stride, padding=padding, dilation=dilation)


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_zero_offsets_and_unit_mask_give_conv2d(config, dtype, tol):
    rng = np.random.default_rng(0)
    x, offset, weight, mask, kw = operands(config, rng, dtype)
    bias = rng.standard_normal(weight.shape[0]).astype(dtype)
    groups = x.shape[1] // weight.shape[1]
    expected = TF.conv2d(torch.from_numpy(x), torch.from_numpy(weight), torch.from_numpy(bias), groups=groups, **kw)
    zero, one = np.zeros_like(offset), np.ones_like(mask)
    for m in (None, dg.tensor(one)):
        got = deform_conv2d(dg.tensor(x), dg.tensor(zero), dg.tensor(weight), dg.tensor(bias), mask=m, **kw)
        assert got.dtype == dtype
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=tol, atol=tol * 10)


def test_a_constant_integer_offset_is_a_shifted_convolution():
    """Every tap moved by (dy, dx) = conv2d (padding 1) of the input shifted by (−dy, −dx), zeros beyond it."""
    rng = np.random.default_rng(1)
    x, weight = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((5, 3, 3, 3))
    for dy, dx in [(1, 0), (0, -2), (2, 3), (-1, -1)]:
        padded = np.pad(x, ((0, 0), (0, 0), (4, 4), (4, 4)))
        window = padded[:, :, 3 + dy:3 + dy + 11, 3 + dx:3 + dx + 10]      # the padded input, shifted
        expected = TF.conv2d(torch.from_numpy(window), torch.from_numpy(weight)).numpy()
        offset = np.zeros((2, 18) + expected.shape[2:])
        offset[:, 0::2], offset[:, 1::2] = dy, dx
        got = deform_conv2d(dg.tensor(x), dg.tensor(offset), dg.tensor(weight), padding=1).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("config", CONFIGS)
def test_fractional_offsets_sample_as_map_coordinates_order_1(config):
    """The sampled, masked columns against scipy's linear interpolation with zeros outside
    (mode "grid-constant", which interpolates towards the zeros up to one pixel out, as torchvision)."""
    rng = np.random.default_rng(2)
    x, offset, weight, mask, kw = operands(config, rng, spread_=3.0)   # many points land outside
    n, c, h, w = x.shape
    o, cg, kh, kwid = weight.shape
    g, k = mask.shape[1] // (kh * kwid), kh * kwid
    ho, wo = offset.shape[2:]
    pair = lambda v: (v, v) if isinstance(v, int) else v
    (sh, sw), (ph, pw), (dh, dw) = pair(kw["stride"]), pair(kw["padding"]), pair(kw["dilation"])
    cols = np.zeros((n, c, kh, kwid, ho, wo))
    for b in range(n):
        for ch in range(c):
            grp = ch // (c // g)
            for i in range(kh):
                for j in range(kwid):
                    tap = grp * k + i * kwid + j
                    ys = np.arange(ho)[:, None] * sh - ph + i * dh + offset[b, 2 * tap]
                    xs = np.arange(wo)[None, :] * sw - pw + j * dw + offset[b, 2 * tap + 1]
                    read = ndimage.map_coordinates(x[b, ch], [ys, xs], order=1, mode="grid-constant", cval=0.0)
                    cols[b, ch, i, j] = read * mask[b, tap]
    groups = c // cg
    expected = np.einsum("gockl,ngcklyx->ngoyx", weight.reshape(groups, o // groups, cg, kh, kwid),
                         cols.reshape(n, groups, cg, kh, kwid, ho, wo)).reshape(n, o, ho, wo)
    got = deform_conv2d(dg.tensor(x), dg.tensor(offset), dg.tensor(weight), mask=dg.tensor(mask), **kw).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


SMALL = [((1, 2, 4, 3), (2, 2, 2), 2, 2, 2, 1, 1),           # weight and offset groups, stride 2
         ((1, 2, 4, 4), (2, 2, 2), 1, 1, 1, 1, 2)]           # dilation 2


@pytest.mark.parametrize("config", SMALL)
@pytest.mark.parametrize("with_mask", [False, True])
def test_gradcheck_and_gradgradcheck_float64(config, with_mask):
    """Reverse mode, forward mode (JVP) and central differences agree for input, offsets, weight, mask and
    bias, to first and second order (points spread over cells and over the border, none on a cell edge)."""
    rng = np.random.default_rng(3)
    x, offset, weight, mask, kw = operands(config, rng)
    bias = rng.standard_normal(weight.shape[0])
    args = [x, offset, weight, bias] + ([mask] if with_mask else [])
    tensors = tuple(dg.tensor(a, requires_grad=True) for a in args)

    def f(x, offset, weight, bias, mask=None):
        return deform_conv2d(x, offset, weight, bias, mask=mask, **kw)
    assert dg.gradcheck(f, tensors)
    assert dg.gradgradcheck(f, tensors)


def test_sample_and_spread_are_adjoint_and_their_derivatives_check():
    """<spread(v, p), g> = <v, sample(g, p)> for every derivative order, and both primitives pass
    gradcheck / gradgradcheck in all their inputs (the VJP and JVP rules of each)."""
    rng = np.random.default_rng(4)
    x, v = rng.standard_normal((1, 4, 5, 6)), rng.standard_normal((1, 4, 2, 2, 2))
    py, px = rng.uniform(-1.5, 5.5, (1, 2, 2, 2, 2)), rng.uniform(-1.5, 6.5, (1, 2, 2, 2, 2))
    for order in [(0, 0), (1, 0), (0, 1), (1, 1)]:
        lhs = np.sum(spread(dg.tensor(v), dg.tensor(py), dg.tensor(px), order, (5, 6)).numpy() * x)
        rhs = np.sum(v * sample(dg.tensor(x), dg.tensor(py), dg.tensor(px), order).numpy())
        assert lhs == pytest.approx(rhs, rel=1e-12)
    for fn, first in [(lambda a, y, z: sample(a, y, z), x), (lambda a, y, z: spread(a, y, z, (0, 0), (5, 6)), v)]:
        inputs = tuple(dg.tensor(a, requires_grad=True) for a in (first, py, px))
        assert dg.gradcheck(fn, inputs) and dg.gradgradcheck(fn, inputs)


def test_offset_gradient_at_grid_points_is_the_one_sided_difference_towards_the_next_pixel():
    """At integer offsets the sample is a pixel; its derivative in the offset is the slope of the cell
    [y, y + 1] (as torchvision's kernels define it): (f(Δ + h) − f(Δ)) / h exactly, for small h > 0."""
    rng = np.random.default_rng(5)
    x, weight = rng.standard_normal((1, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3))
    offset = rng.integers(-2, 3, (1, 18, 4, 4)).astype(np.float64)
    off = dg.tensor(offset, requires_grad=True)
    out = deform_conv2d(dg.tensor(x), off, dg.tensor(weight))
    g = rng.standard_normal(out.shape)
    out.backward(dg.tensor(g))
    f = lambda o: np.sum(deform_conv2d(dg.tensor(x), dg.tensor(o), dg.tensor(weight)).numpy() * g)
    h, base = 1e-7, f(offset)
    for index in [(0, 0, 1, 2), (0, 7, 3, 0), (0, 10, 2, 2), (0, 17, 0, 3)]:
        step = offset.copy()
        step[index] += h
        assert off.grad.numpy()[index] == pytest.approx((f(step) - base) / h, rel=1e-6, abs=1e-6)


def test_jvp_matches_finite_differences_in_every_input():
    rng = np.random.default_rng(6)
    x, offset, weight, mask, kw = operands(CONFIGS[1], rng)
    args = (x, offset, weight, mask)
    tangents = tuple(rng.standard_normal(a.shape) for a in args)
    f = lambda *a: deform_conv2d(a[0], a[1], a[2], mask=a[3], **kw)
    _, tangent = dg.jvp(f, tuple(map(dg.tensor, args)), tuple(map(dg.tensor, tangents)))
    eps = 1e-6
    plus = f(*(dg.tensor(a + eps * t) for a, t in zip(args, tangents))).numpy()
    minus = f(*(dg.tensor(a - eps * t) for a, t in zip(args, tangents))).numpy()
    np.testing.assert_allclose(tangent.numpy(), (plus - minus) / (2 * eps), rtol=1e-6, atol=1e-6)


def test_deform_conv2d_layer_is_conv2d_with_offsets():
    dg.manual_seed(0)
    layer = dg.nn.DeformConv2d(4, 6, 3, stride=2, padding=1, groups=2)
    assert layer.weight.shape == (6, 2, 3, 3) and layer.bias.shape == (6,)
    bound = 1 / np.sqrt(2 * 9)                                   # Conv2d's (torchvision's) initialisation
    assert np.abs(layer.weight.numpy()).max() <= bound and np.abs(layer.bias.numpy()).max() <= bound
    assert repr(layer) == "DeformConv2d(4, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), groups=2)"
    x = dg.randn(2, 4, 8, 8)
    conv = dg.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)
    conv.load_state_dict(layer.state_dict())
    np.testing.assert_allclose(layer(x, dg.zeros(2, 18, 4, 4)).numpy(), conv(x).numpy(), rtol=1e-5, atol=1e-6)
    offset, mask = dg.randn(2, 18, 4, 4), dg.rand(2, 9, 4, 4)
    expected = deform_conv2d(x, offset, layer.weight, layer.bias, stride=2, padding=1, mask=mask)
    np.testing.assert_array_equal(layer(x, offset, mask).numpy(), expected.numpy())
    layer(x, offset, mask).sum().backward()
    assert layer.weight.grad.shape == (6, 2, 3, 3)
    with pytest.raises(ValueError, match="padding"):
        dg.nn.DeformConv2d(4, 6, 3, padding="same")


@pytest.mark.parametrize("call, message", [
    (lambda x, o, w: deform_conv2d(x, o[:, :17], w), "offset.shape\\[1\\] = 17"),
    (lambda x, o, w: deform_conv2d(x, o[:, :, :2], w), "offset must have shape \\(1, 18, 3, 3\\)"),
    (lambda x, o, w: deform_conv2d(x, o, w, mask=dg.ones(1, 8, 3, 3)), "mask must have shape \\(1, 9, 3, 3\\)"),
    (lambda x, o, w: deform_conv2d(x, o, w[:, :1]), "does not fit input channels 2"),
    (lambda x, o, w: deform_conv2d(x, o, w, bias=dg.zeros(4)), "bias must have shape \\(3,\\)"),
    (lambda x, o, w: deform_conv2d(x, o, w, stride=0), "stride"),
    (lambda x, o, w: deform_conv2d(x[0], o, w), "input must have 4 dimensions"),
    (lambda x, o, w: deform_conv2d(x, o.double(), w), "offset must be floating point"),
    (lambda x, o, w: deform_conv2d(x, o, dg.ones(3, 2, 9, 9)), "does not fit the padded input"),
])
def test_bad_arguments_are_named(call, message):
    x, offset, weight = dg.randn(1, 2, 5, 5), dg.zeros(1, 18, 3, 3), dg.randn(3, 2, 3, 3)
    with pytest.raises((ValueError, TypeError), match=message):
        call(x, offset, weight)


def test_hessian_in_the_offsets_matches_differences_of_the_gradient():
    """Forward over reverse (dg.hessian) runs the JVP rules of both primitives: the offsets' Hessian has
    the mixed y–x terms of the bilinear interpolation and no pure y–y or x–x terms."""
    rng = np.random.default_rng(7)
    x, weight = dg.tensor(rng.standard_normal((1, 2, 4, 4))), dg.tensor(rng.standard_normal((1, 2, 2, 2)))
    offset = rng.uniform(-1, 1, (1, 8, 3, 3))
    f = lambda o: (deform_conv2d(x, o, weight) ** 2).sum()
    hessian = dg.hessian(f)(dg.tensor(offset)).numpy().reshape(offset.size, offset.size)
    grad = lambda o: dg.grad(f)(dg.tensor(o)).numpy().ravel()
    eps = 1e-6
    for i in rng.choice(offset.size, 6, replace=False):
        step = np.zeros(offset.size)
        step[i] = eps
        column = (grad(offset + step.reshape(offset.shape)) - grad(offset - step.reshape(offset.shape))) / (2 * eps)
        np.testing.assert_allclose(hessian[:, i], column, rtol=1e-5, atol=1e-6)
    assert np.abs(hessian).max() > 0
