"""The generic kernels (``deepgrad/kernels/generic``: the array namespace alone, what CuPy without cuDNN
and any NumPy-like device run) on NumPy arrays: against the CPU's kernels called with the same
arguments, and, with every primitive dispatched to them, deepgrad's layers and their VJPs (and a JVP)
against PyTorch; a few run on the strict test device (tests/strict_device.py), which refuses implicit
host conversions."""
import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import kernels
from deepgrad.kernels import cpu, generic

torch = pytest.importorskip("torch")
tF = torch.nn.functional


@pytest.fixture
def generic_only(monkeypatch):
    """Every primitive takes the generic kernels, NumPy arrays included."""
    monkeypatch.setattr(kernels, "of", lambda array: generic)


def ntuple(v, nd):
    return tuple(v) if isinstance(v, tuple) else (v,) * nd


# nd, in channels, out channels, groups, kernel, stride, padding, dilation
CONV = [
    (1, 4, 6, 1, 3, 1, 0, 1),
    (1, 4, 6, 2, 3, 2, 1, 2),
    (2, 3, 4, 1, 3, 1, 1, 1),
    (2, 4, 8, 2, (3, 2), (2, 1), (1, 0), (1, 2)),
    (2, 4, 4, 4, 3, 2, 1, 1),                      # depthwise
    (2, 3, 6, 3, 3, 1, 1, 1),                      # depthwise, channel multiplier 2
    (2, 2, 3, 1, 1, 2, 0, 1),                      # 1×1, stride 2: the windows miss the last row
    (3, 2, 3, 1, (2, 3, 2), (1, 2, 1), 1, (2, 1, 1)),
    (3, 4, 4, 2, 3, 2, 1, 1),
]
CONV_IDS = [f"{c[0]}d-c{c[1]}-o{c[2]}-g{c[3]}-k{c[4]}-s{c[5]}-p{c[6]}-d{c[7]}" for c in CONV]


def conv_case(case, rng, batch=2, dtype=np.float64):
    nd, cin, cout, groups, kernel, stride, padding, dilation = case
    kernel, stride, padding, dilation = (ntuple(v, nd) for v in (kernel, stride, padding, dilation))
    spatial = (7, 6, 5)[:nd]
    x = rng.standard_normal((batch, cin) + spatial).astype(dtype)
    w = rng.standard_normal((cout, cin // groups) + kernel).astype(dtype)
    size = tuple((m + 2 * p - d * (k - 1) - 1) // s + 1
                 for m, p, d, k, s in zip(spatial, padding, dilation, kernel, stride))
    return x, w, (stride, padding, dilation, groups), size


@pytest.mark.parametrize("case", CONV, ids=CONV_IDS)
def test_conv_kernels_equal_the_cpu_kernels(case):
    rng = np.random.default_rng(0)
    x, w, params, size = conv_case(case, rng)
    y = rng.standard_normal((len(x), len(w)) + size)
    for name, a, b, out_size in (("conv", x, w, size), ("conv_transpose", y, w, x.shape[2:]),
                                 ("conv_weight", x, y, w.shape[2:])):
        got = getattr(generic, name)(a, b, *params, out_size)
        want = getattr(cpu, name)(a, b, *params, out_size)
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10, err_msg=name)


@pytest.mark.parametrize("case", CONV, ids=CONV_IDS)
def test_conv_and_its_vjp_match_torch(case, generic_only):
    rng = np.random.default_rng(1)
    x0, w0, (stride, padding, dilation, groups), size = conv_case(case, rng)
    nd = x0.ndim - 2
    g0 = rng.standard_normal((len(x0), len(w0)) + size)
    x, w = dg.tensor(x0, requires_grad=True), dg.tensor(w0, requires_grad=True)
    tx, tw = torch.tensor(x0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    out = getattr(F, f"conv{nd}d")(x, w, **kw)
    ref = getattr(tF, f"conv{nd}d")(tx, tw, **kw)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-10)
    out.backward(dg.tensor(g0))
    ref.backward(torch.tensor(g0))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("nd,stride,padding,output_padding,dilation,groups", [
    (1, 2, 1, 1, 1, 1), (2, 2, 1, 1, 1, 2), (2, (3, 2), (1, 0), (2, 1), (1, 2), 1), (3, 2, 0, 1, 1, 1)])
def test_conv_transpose_with_output_padding_matches_torch(nd, stride, padding, output_padding, dilation, groups,
                                                          generic_only):
    rng = np.random.default_rng(2)
    y0 = rng.standard_normal((2, 4) + (4, 5, 3)[:nd])
    w0 = rng.standard_normal((4, 6 // groups) + (3,) * nd)
    y, w = dg.tensor(y0, requires_grad=True), dg.tensor(w0, requires_grad=True)
    ty, tw = torch.tensor(y0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups)
    out = getattr(F, f"conv_transpose{nd}d")(y, w, **kw)
    ref = getattr(tF, f"conv_transpose{nd}d")(ty, tw, **kw)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-10)
    g0 = rng.standard_normal(ref.shape)
    out.backward(dg.tensor(g0))
    ref.backward(torch.tensor(g0))
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_conv_jvp_and_double_backward_match_torch(generic_only):
    """The tangent (conv of the tangents) and the gradient of a gradient (conv_weight's and
    conv_transpose's VJPs) through the generic kernels."""
    rng = np.random.default_rng(3)
    x0, w0 = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3))
    tx0, tw0 = rng.standard_normal(x0.shape), rng.standard_normal(w0.shape)
    f = lambda x, w: F.conv2d(x, w, stride=2, padding=1)                         # noqa: E731
    tf = lambda x, w: tF.conv2d(x, w, stride=2, padding=1)                       # noqa: E731
    _, tangent = dg.jvp(f, (dg.tensor(x0), dg.tensor(w0)), (dg.tensor(tx0), dg.tensor(tw0)))
    _, ref = torch.func.jvp(tf, (torch.tensor(x0), torch.tensor(w0)), (torch.tensor(tx0), torch.tensor(tw0)))
    np.testing.assert_allclose(tangent.numpy(), ref.numpy(), rtol=1e-10, atol=1e-10)
    x, w = dg.tensor(x0, requires_grad=True), dg.tensor(w0, requires_grad=True)
    tx, tw = torch.tensor(x0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    (gx,) = dg.autograd.grad((f(x, w) ** 2).sum(), (x,), create_graph=True)
    (tgx,) = torch.autograd.grad((tf(tx, tw) ** 2).sum(), (tx,), create_graph=True)
    (gx * gx).sum().backward()
    (tgx * tgx).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-9)


# nd, kernel, stride, padding, dilation, ceil_mode
MAX_POOL = [(1, 3, 2, 1, 1, False), (1, 2, 1, 0, 2, True), (2, 2, 2, 0, 1, False), (2, 3, 2, 1, 1, True),
            (2, (3, 2), (1, 2), (1, 0), (2, 1), False)]


@pytest.mark.parametrize("case", MAX_POOL, ids=[str(c) for c in MAX_POOL])
def test_max_pool_with_indices_and_its_vjp_match_torch(case, generic_only):
    nd, kernel, stride, padding, dilation, ceil_mode = case
    rng = np.random.default_rng(4)
    shape = (2, 3) + (9, 8)[:nd]
    x0 = (rng.permutation(int(np.prod(shape))) / 10.0).reshape(shape)        # distinct: one arg-max per window
    kw = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode,
              return_indices=True)
    x, tx = dg.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    out, index = getattr(F, f"max_pool{nd}d")(x, **kw)
    ref, tindex = getattr(tF, f"max_pool{nd}d")(tx, **kw)
    np.testing.assert_array_equal(out.numpy(), ref.detach().numpy())
    np.testing.assert_array_equal(index.numpy(), tindex.numpy())
    g0 = rng.standard_normal(ref.shape)
    out.backward(dg.tensor(g0))
    ref.backward(torch.tensor(g0))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_max_pool_kernels_equal_the_cpu_kernels_with_nan_and_ties():
    """The first maximum at ties, the last NaN where the maximum is NaN; the pick and its route back."""
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, (2, 2, 7, 6)).astype(np.float32)                  # many ties
    x[0, 0, 1, 1] = x[1, 1, 4, 2] = x[1, 1, 4, 3] = np.nan
    params = ((3, 2), (2, 1), (1, 0), (1, 2))
    size = (4, 4)
    out = generic.window_max(x, *params, size)
    np.testing.assert_array_equal(out, cpu.window_max(x, *params, size))
    offsets = generic.max_offsets(x, out, *params, size)
    np.testing.assert_array_equal(offsets, cpu.max_offsets(x, out, *params, size))
    y = rng.standard_normal(out.shape).astype(np.float32)
    np.testing.assert_array_equal(generic.window_pick(x, offsets, *params, size),
                                  cpu.window_pick(x, offsets, *params, size))
    np.testing.assert_array_equal(generic.window_route(y, offsets, *params, x.shape[2:]),
                                  cpu.window_route(y, offsets, *params, x.shape[2:]))


@pytest.mark.parametrize("nd,kernel,stride,padding,ceil_mode,count_include_pad", [
    (1, 3, 2, 1, True, False), (2, 3, 2, 1, False, True), (2, 3, 2, 1, True, False), (2, 2, 1, 0, False, True)])
def test_avg_pool_and_its_vjp_match_torch(nd, kernel, stride, padding, ceil_mode, count_include_pad, generic_only):
    rng = np.random.default_rng(6)
    x0 = rng.standard_normal((2, 3) + (8, 7)[:nd])
    kw = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode,
              count_include_pad=count_include_pad)
    x, tx = dg.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    out, ref = getattr(F, f"avg_pool{nd}d")(x, **kw), getattr(tF, f"avg_pool{nd}d")(tx, **kw)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12)
    g0 = rng.standard_normal(ref.shape)
    out.backward(dg.tensor(g0))
    ref.backward(torch.tensor(g0))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("kind", ["avg", "max"])
def test_adaptive_pool_and_its_vjp_match_torch(kind, generic_only):
    rng = np.random.default_rng(7)
    x0 = rng.permutation(2 * 3 * 7 * 9).reshape(2, 3, 7, 9) / 7.0
    x, tx = dg.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    name = f"adaptive_{kind}_pool2d"
    out, ref = getattr(F, name)(x, (3, 4)), getattr(tF, name)(tx, (3, 4))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12)
    g0 = rng.standard_normal(ref.shape)
    out.backward(dg.tensor(g0))
    ref.backward(torch.tensor(g0))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("shape", [(4, 3), (4, 3, 5), (3, 2, 4, 5), (2, 3, 2, 3, 4)])
def test_batch_norm_statistics_equal_the_cpu_and_batch_norm_matches_torch(shape, generic_only):
    rng = np.random.default_rng(8)
    x0 = rng.standard_normal(shape) * 3 + 1
    axes = (0,) + tuple(range(2, len(shape)))
    for got, want in zip(generic.moments(x0, axes), cpu.moments(x0, axes)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    x, tx = dg.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    mean, var = dg.zeros(shape[1], dtype=dg.float64), dg.ones(shape[1], dtype=dg.float64)
    tmean, tvar = torch.zeros(shape[1], dtype=torch.float64), torch.ones(shape[1], dtype=torch.float64)
    out = F.batch_norm(x, mean, var, training=True)
    ref = tF.batch_norm(tx, tmean, tvar, training=True)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(mean.numpy(), tmean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(var.numpy(), tvar.numpy(), rtol=1e-12)
    g0 = rng.standard_normal(shape)
    out.backward(dg.tensor(g0))
    ref.backward(torch.tensor(g0))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-9)


def test_kernels_are_chosen_by_array_type():
    assert kernels.of(np.zeros(1)) is cpu
    assert kernels.of(object()) is generic


# a few on the strict device, where every array refuses implicit conversion to the host
STRICT = [CONV[1], CONV[3], CONV[4], CONV[7]]


@pytest.mark.parametrize("case", STRICT, ids=[CONV_IDS[CONV.index(c)] for c in STRICT])
def test_conv_on_the_strict_device_equals_the_cpu(case, strict_cuda):
    rng = np.random.default_rng(9)
    x0, w0, (stride, padding, dilation, groups), _ = conv_case(case, rng)
    nd = x0.ndim - 2
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    results = []
    for device in ("cpu", "cuda"):
        x = dg.tensor(x0, requires_grad=True).to(device).detach().requires_grad_()
        w = dg.tensor(w0).to(device).detach().requires_grad_()
        out = getattr(F, f"conv{nd}d")(x, w, **kw)
        (out * out).sum().backward()
        results.append([t.cpu().numpy() for t in (out, x.grad, w.grad)])
    assert kernels.of(x.array) is generic
    for got, want in zip(results[1], results[0]):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_pooling_and_batch_norm_on_the_strict_device_equal_the_cpu(strict_cuda):
    rng = np.random.default_rng(10)
    x0 = rng.standard_normal((2, 3, 8, 7))
    results = []
    for device in ("cpu", "cuda"):
        x = dg.tensor(x0).to(device).requires_grad_()
        mean, var = dg.zeros(3, dtype=dg.float64, device=device), dg.ones(3, dtype=dg.float64, device=device)
        y = F.batch_norm(x, mean, var, training=True)
        y = F.max_pool2d(y, 3, stride=2, padding=1) + F.avg_pool2d(y, 2, ceil_mode=True, count_include_pad=False)[:, :, :4]
        (y * y).sum().backward()
        results.append([t.cpu().numpy() for t in (y, x.grad, mean, var)])
    for got, want in zip(results[1], results[0]):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
