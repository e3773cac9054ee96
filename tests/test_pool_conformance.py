"""Randomized conformance grid: deepgrad's pooling functions against PyTorch.

max_pool1d/2d (padding, dilation, ceil_mode, return_indices), avg_pool1d/2d (padding, ceil_mode,
count_include_pad, divisor_override), adaptive_avg/max_pool1d/2d (output sizes that do not divide
the input, or exceed it) and max_unpool1d/2d after max pooling. Every configuration is drawn
deterministically and checked for the forward output (and indices), the VJP for a random cotangent
(``dg.vjp`` vs ``torch.func.vjp``) and the JVP for a random tangent (``dg.jvp`` vs ``torch.func.jvp``),
in float64 (rtol 1e-10) and float32 (rtol 1e-5), atol = rtol * max(1, max |reference|).
Max pooling inputs are permutations of distinct values, so the arg-max of every window is unique.
The first configurations of every family run by default; the rest are marked ``slow``.
"""
import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as F
from _conformance import RTOL, as_params, check_against_torch, fmt, torch

tF = torch.nn.functional

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

def tup(v, nd):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * nd


def maybe_int(t, rng):
    """A per-axis tuple, written as an int (when all equal) half of the time."""
    return t[0] if len(set(t)) == 1 and rng.random() < 0.5 else t


def distinct_values(rng, shape, dtype):
    """All entries different (a shuffled grid in [-2, 2)), so max pooling has no ties."""
    n = int(np.prod(shape))
    return ((rng.permutation(n) + rng.random()) * (4.0 / n) - 2.0).reshape(shape).astype(dtype)


def draw_common(rng, nd, max_channels=4):
    batch = None if rng.random() < 0.15 else int(rng.integers(1, 4))
    channels = int(rng.integers(1, max_channels + 1))
    dtype = np.float32 if rng.random() < 0.35 else np.float64
    return batch, channels, dtype


def lead_shape(c):
    return (() if c["batch"] is None else (c["batch"],)) + (c["channels"],)


def common_id(c):
    return (f"{np.dtype(c['dtype']).name}-{'nobatch' if c['batch'] is None else 'n%d' % c['batch']}"
            f"-c{c['channels']}-in{fmt(c['size'])}")


def pool_out_size(m, k_eff, s, p, ceil_mode):
    room = m + 2 * p - k_eff
    n = (-(-room // s) if ceil_mode else room // s) + 1
    if ceil_mode and (n - 1) * s >= m + p:
        n -= 1
    return n


# --------------------------------------------------------------------------------------------
# max_pool1d / max_pool2d
# --------------------------------------------------------------------------------------------

def _every_window_touches_input(m, k, s, p, d, n):
    return all(any(0 <= t * s - p + j * d < m for j in range(k)) for t in range(n))


def _draw_max_pool(rng, nd):
    batch, channels, dtype = draw_common(rng, nd)
    while True:
        kernel = tuple(int(k) for k in rng.integers(1, 6, size=nd))
        dilation = tuple(int(d) for d in rng.integers(1, 4, size=nd)) if rng.random() < 0.5 else (1,) * nd
        stride = None if rng.random() < 0.3 else tuple(int(s) for s in rng.integers(1, 4, size=nd))
        ceil_mode = bool(rng.random() < 0.4)
        k_eff = tuple(k + (k - 1) * (d - 1) for k, d in zip(kernel, dilation))
        # PyTorch allows padding <= kernel_size // 2; deepgrad also up to half the dilated extent
        # (checked against PyTorch on an explicitly -inf-padded input, see test_max_pool_matches_torch)
        extended = any(ke // 2 > k // 2 for k, ke in zip(kernel, k_eff)) and not ceil_mode and rng.random() < 0.3
        padding = tuple(int(rng.integers(0, (ke if extended else k) // 2 + 1)) for k, ke in zip(kernel, k_eff))
        size = tuple(int(rng.integers(max(1, ke - 2 * p), max(1, ke - 2 * p) + (8 if nd == 1 else 6)))
                     for ke, p in zip(k_eff, padding))
        strides = kernel if stride is None else stride
        outs = [pool_out_size(m, ke, s, p, ceil_mode) for m, ke, s, p in zip(size, k_eff, strides, padding)]
        if all(_every_window_touches_input(m, k, s, p, d, n)
               for m, k, s, p, d, n in zip(size, kernel, strides, padding, dilation, outs)):
            break
    return dict(nd=nd, batch=batch, channels=channels, dtype=dtype, kernel=maybe_int(kernel, rng),
                stride=stride if stride is None else maybe_int(stride, rng), padding=maybe_int(padding, rng),
                dilation=maybe_int(dilation, rng), ceil_mode=ceil_mode, size=size,
                extended=any(p > k // 2 for p, k in zip(padding, kernel)),
                via_indices=bool(rng.random() < 0.5), seed=int(rng.integers(2 ** 31)))


MAX_POOL_CONFIGS = [_draw_max_pool(np.random.default_rng(1000 + 2 * i + nd), nd)
                    for i in range(70) for nd in (1, 2)]


def _max_pool_id(c):
    return (f"maxpool{c['nd']}d-{common_id(c)}-k{fmt(c['kernel'])}-s{fmt(c['stride'])}-p{fmt(c['padding'])}"
            f"-d{fmt(c['dilation'])}{'-ceil' if c['ceil_mode'] else ''}{'-extpad' if c['extended'] else ''}")


@pytest.mark.parametrize("c", as_params(MAX_POOL_CONFIGS, _max_pool_id))
def test_max_pool_matches_torch(c):
    rng = np.random.default_rng(c["seed"])
    nd, dtype = c["nd"], c["dtype"]
    x = distinct_values(rng, lead_shape(c) + c["size"], dtype)
    dg_op, t_op = (F.max_pool1d, tF.max_pool1d) if nd == 1 else (F.max_pool2d, tF.max_pool2d)
    kw = dict(kernel_size=c["kernel"], stride=c["stride"], padding=c["padding"], dilation=c["dilation"],
              ceil_mode=c["ceil_mode"])
    pad = tup(c["padding"], nd)

    def dg_fn(x):
        return dg_op(x, **kw, return_indices=True)[0] if c["via_indices"] else dg_op(x, **kw)

    if c["extended"]:   # beyond PyTorch's padding limit: pad with -inf explicitly, pool unpadded
        tpad = [p for p in reversed(pad) for _ in (0, 1)]

        def torch_fn(x, return_indices=False):
            return t_op(tF.pad(x, tpad, value=-float("inf")), **dict(kw, padding=0), return_indices=return_indices)
    else:
        def torch_fn(x, return_indices=False):
            return t_op(x, **kw, return_indices=return_indices)

    check_against_torch(dg_fn, torch_fn, [x], dtype, rng)

    _, d_idx = dg_op(dg.tensor(x), **kw, return_indices=True)
    _, t_idx = torch_fn(torch.from_numpy(x), return_indices=True)
    t_idx = t_idx.numpy()
    if c["extended"]:   # PyTorch's indices address the padded plane: map them back
        padded = [m + 2 * p for m, p in zip(c["size"], pad)]
        rows = np.unravel_index(t_idx, padded)
        t_idx = np.ravel_multi_index([r - p for r, p in zip(rows, pad)], c["size"])
    assert d_idx.dtype == dg.int64
    np.testing.assert_array_equal(d_idx.numpy(), t_idx)


def test_max_pool_window_wholly_in_padding():
    """Dilation can make a window skip every input element (PyTorch accepts this configuration):
    the output is -inf there, as in PyTorch, with PyTorch's index, and the derivative is zero."""
    x = np.array([[[1.0, 2.0]]])
    ref, ref_idx = tF.max_pool1d(torch.from_numpy(x), 2, 1, 1, 3, return_indices=True)
    out, idx = F.max_pool1d(dg.tensor(x), 2, 1, 1, 3, return_indices=True)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    assert out.numpy()[0, 0, 0] == -np.inf
    np.testing.assert_array_equal(idx.numpy(), ref_idx.numpy())
    # beyond PyTorch's padding limit, only the middle window misses the input: windows at -2, -1, 0
    # read positions (-2, 1), (-1, 2), (0, 3) of a 2-element input
    x2 = np.array([[[1.0, 2.0]]])
    f = lambda x: F.max_pool1d(x, 2, 1, padding=2, dilation=3)   # noqa: E731
    out, idx = F.max_pool1d(dg.tensor(x2), 2, 1, padding=2, dilation=3, return_indices=True)
    np.testing.assert_array_equal(out.numpy(), [[[2.0, -np.inf, 1.0]]])
    np.testing.assert_array_equal(idx.numpy(), [[[1, 2, 0]]])
    grad = dg.vjp(f, dg.tensor(x2))[1](dg.tensor(np.array([[[10.0, 20.0, 30.0]]])))[0]
    np.testing.assert_array_equal(grad.numpy(), [[[30.0, 10.0]]])
    _, tangent = dg.jvp(f, (dg.tensor(x2),), (dg.tensor(np.array([[[1.0, 2.0]]])),))
    np.testing.assert_array_equal(tangent.numpy(), [[[2.0, 0.0, 1.0]]])


def test_max_pool_minus_inf_input_index_like_torch():
    """Where the real elements of a window are all -inf, the arg-max is the first of them, never padding."""
    x = np.array([[[-np.inf, -np.inf, 1.0], [-np.inf, 0.0, -np.inf]]])
    ref, ref_idx = tF.max_pool1d(torch.from_numpy(x), 3, 1, 1, return_indices=True)
    out, idx = F.max_pool1d(dg.tensor(x), 3, 1, 1, return_indices=True)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    np.testing.assert_array_equal(idx.numpy(), ref_idx.numpy())


def test_max_pool_grid_covers_the_brief():
    cs = MAX_POOL_CONFIGS
    assert {c["nd"] for c in cs} == {1, 2} and {c["batch"] for c in cs} == {None, 1, 2, 3}
    assert {c["ceil_mode"] for c in cs} == {True, False}
    assert any(c["stride"] is None for c in cs)
    assert any(max(tup(c["dilation"], c["nd"])) > 1 and max(tup(c["padding"], c["nd"])) > 0 for c in cs)
    assert any(c["extended"] for c in cs) and sum(not c["extended"] for c in cs) > 100
    assert {c["dtype"] for c in cs} == {np.float32, np.float64}


# --------------------------------------------------------------------------------------------
# avg_pool1d / avg_pool2d
# --------------------------------------------------------------------------------------------

def _draw_avg_pool(rng, nd):
    batch, channels, dtype = draw_common(rng, nd)
    kernel = tuple(int(k) for k in rng.integers(1, 6, size=nd))
    stride = None if rng.random() < 0.3 else tuple(int(s) for s in rng.integers(1, 4, size=nd))
    padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
    size = tuple(int(rng.integers(max(1, k - 2 * p), max(1, k - 2 * p) + (8 if nd == 1 else 6)))
                 for k, p in zip(kernel, padding))
    divisor = int(rng.integers(1, 10)) if nd == 2 and rng.random() < 0.25 else None
    return dict(nd=nd, batch=batch, channels=channels, dtype=dtype, kernel=maybe_int(kernel, rng),
                stride=stride if stride is None else maybe_int(stride, rng), padding=maybe_int(padding, rng),
                ceil_mode=bool(rng.random() < 0.4), count_include_pad=bool(rng.random() < 0.5),
                divisor_override=divisor, size=size, seed=int(rng.integers(2 ** 31)))


AVG_POOL_CONFIGS = [_draw_avg_pool(np.random.default_rng(2000 + 2 * i + nd), nd)
                    for i in range(55) for nd in (1, 2)]


def _avg_pool_id(c):
    return (f"avgpool{c['nd']}d-{common_id(c)}-k{fmt(c['kernel'])}-s{fmt(c['stride'])}-p{fmt(c['padding'])}"
            f"{'-ceil' if c['ceil_mode'] else ''}{'-countpad' if c['count_include_pad'] else '-nocountpad'}"
            f"{'' if c['divisor_override'] is None else '-div%d' % c['divisor_override']}")


@pytest.mark.parametrize("c", as_params(AVG_POOL_CONFIGS, _avg_pool_id))
def test_avg_pool_matches_torch(c):
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal(lead_shape(c) + c["size"]).astype(c["dtype"])
    kw = dict(kernel_size=c["kernel"], stride=c["stride"], padding=c["padding"], ceil_mode=c["ceil_mode"],
              count_include_pad=c["count_include_pad"])
    if c["nd"] == 1:
        dg_op, t_op = F.avg_pool1d, tF.avg_pool1d
    else:
        dg_op, t_op = F.avg_pool2d, tF.avg_pool2d
        kw["divisor_override"] = c["divisor_override"]
    check_against_torch(lambda x: dg_op(x, **kw), lambda x: t_op(x, **kw), [x], c["dtype"], rng)


def test_avg_pool_grid_covers_the_brief():
    cs = AVG_POOL_CONFIGS
    assert {c["nd"] for c in cs} == {1, 2} and {c["batch"] for c in cs} == {None, 1, 2, 3}
    for key in ("ceil_mode", "count_include_pad"):
        assert {c[key] for c in cs} == {True, False}
    assert any(c["divisor_override"] for c in cs)
    assert any(c["ceil_mode"] and max(tup(c["padding"], c["nd"])) > 0 for c in cs)
    assert {c["dtype"] for c in cs} == {np.float32, np.float64}


# --------------------------------------------------------------------------------------------
# adaptive_avg_pool1d/2d, adaptive_max_pool1d/2d
# --------------------------------------------------------------------------------------------

def _draw_adaptive(rng, nd, kind):
    batch, channels, dtype = draw_common(rng, nd)
    size = tuple(int(m) for m in rng.integers(1, 12 if nd == 1 else 9, size=nd))
    out = []
    for m in size:
        r = rng.random()
        o = int(rng.integers(1, m + 3)) if r < 0.8 else m      # mostly not dividing m, sometimes larger
        out.append(o)
    out = tuple(out)
    if nd == 1:
        output_size = out[0] if rng.random() < 0.7 else out
    else:
        r = rng.random()
        output_size = out[0] if r < 0.2 else (out[0], None) if r < 0.3 else out
    return dict(nd=nd, kind=kind, batch=batch, channels=channels, dtype=dtype, size=size,
                output_size=output_size, via_indices=bool(kind == "max" and rng.random() < 0.5),
                seed=int(rng.integers(2 ** 31)))


ADAPTIVE_CONFIGS = [_draw_adaptive(np.random.default_rng(3000 + 4 * i + 2 * nd + int(kind == "max")), nd, kind)
                    for i in range(22) for kind in ("avg", "max") for nd in (1, 2)]


def _adaptive_id(c):
    return f"adaptive_{c['kind']}_pool{c['nd']}d-{common_id(c)}-out{fmt(c['output_size'])}"


@pytest.mark.parametrize("c", as_params(ADAPTIVE_CONFIGS, _adaptive_id))
def test_adaptive_pool_matches_torch(c):
    rng = np.random.default_rng(c["seed"])
    dtype, shape = c["dtype"], lead_shape(c) + c["size"]
    name = f"adaptive_{c['kind']}_pool{c['nd']}d"
    dg_op, t_op, out = getattr(F, name), getattr(tF, name), c["output_size"]
    if c["kind"] == "avg":
        x = rng.standard_normal(shape).astype(dtype)
        check_against_torch(lambda x: dg_op(x, out), lambda x: t_op(x, out), [x], dtype, rng)
        return
    x = distinct_values(rng, shape, dtype)

    def dg_fn(x):
        return dg_op(x, out, return_indices=True)[0] if c["via_indices"] else dg_op(x, out)

    check_against_torch(dg_fn, lambda x: t_op(x, out), [x], dtype, rng)
    _, d_idx = dg_op(dg.tensor(x), out, return_indices=True)
    _, t_idx = t_op(torch.from_numpy(x), out, return_indices=True)
    np.testing.assert_array_equal(d_idx.numpy(), t_idx.numpy())


def test_adaptive_grid_covers_the_brief():
    cs = ADAPTIVE_CONFIGS
    def sizes(c):
        return [(m, o) for m, o in zip(c["size"], tup(c["output_size"], c["nd"])) if o is not None]
    assert any(m % o and o < m for c in cs for m, o in sizes(c))       # windows of unequal width
    assert any(o > m for c in cs for m, o in sizes(c))                  # overlapping windows
    assert any(isinstance(c["output_size"], tuple) and None in c["output_size"] for c in cs)
    assert {(c["kind"], c["nd"]) for c in cs} == {("avg", 1), ("avg", 2), ("max", 1), ("max", 2)}


# --------------------------------------------------------------------------------------------
# max_unpool1d / max_unpool2d after max pooling
# --------------------------------------------------------------------------------------------

def _draw_unpool(rng, nd):
    batch, channels, dtype = draw_common(rng, nd)
    kernel = tuple(int(k) for k in rng.integers(1, 4, size=nd))
    overlap = bool(rng.random() < 0.3)
    stride = tuple(int(rng.integers(1, k + 1)) if overlap else int(rng.integers(k, k + 2)) for k in kernel)
    overlap = any(s < k for s, k in zip(stride, kernel))
    padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
    size = tuple(int(rng.integers(max(1, k - 2 * p), max(1, k - 2 * p) + (9 if nd == 1 else 6)))
                 for k, p in zip(kernel, padding))
    n_out = [(m + 2 * p - k) // s + 1 for m, k, s, p in zip(size, kernel, stride, padding)]
    default = [(n - 1) * s - 2 * p + k for n, s, p, k in zip(n_out, stride, padding, kernel)]
    # the default output size can be smaller than the input: then output_size must be given
    explicit_size = default != list(size) or bool(rng.random() < 0.5)
    return dict(nd=nd, batch=batch, channels=channels, dtype=dtype, kernel=maybe_int(kernel, rng),
                stride=maybe_int(stride, rng), padding=maybe_int(padding, rng), size=size, overlap=overlap,
                explicit_size=explicit_size, seed=int(rng.integers(2 ** 31)))


UNPOOL_CONFIGS = [_draw_unpool(np.random.default_rng(4000 + 2 * i + nd), nd)
                  for i in range(25) for nd in (2, 1)]


def _unpool_id(c):
    return (f"unpool{c['nd']}d-{common_id(c)}-k{fmt(c['kernel'])}-s{fmt(c['stride'])}-p{fmt(c['padding'])}"
            f"{'-overlap' if c['overlap'] else ''}{'-outsize' if c['explicit_size'] else ''}")


@pytest.mark.parametrize("c", as_params(UNPOOL_CONFIGS, _unpool_id))
def test_max_unpool_round_trip_matches_torch(c):
    """unpool(pool(x)) keeps each window's maximum in place and zeros elsewhere, as in PyTorch.
    Where windows overlap PyTorch's VJP hands each duplicate index its gradient again (so its
    gradient of the round trip counts a maximum once per window), although its forward writes only
    once; deepgrad differentiates what it computes, so there the VJP is checked by the adjoint identity."""
    rng = np.random.default_rng(c["seed"])
    nd, dtype = c["nd"], c["dtype"]
    x = distinct_values(rng, lead_shape(c) + c["size"], dtype)
    pool = dict(kernel_size=c["kernel"], stride=c["stride"], padding=c["padding"])
    out_size = c["size"] if c["explicit_size"] else None
    dg_pool, dg_unpool = (F.max_pool1d, F.max_unpool1d) if nd == 1 else (F.max_pool2d, F.max_unpool2d)
    t_pool, t_unpool = (tF.max_pool1d, tF.max_unpool1d) if nd == 1 else (tF.max_pool2d, tF.max_unpool2d)

    def dg_fn(x):
        return dg_unpool(*dg_pool(x, **pool, return_indices=True), **pool, output_size=out_size)

    def torch_fn(x):
        return t_unpool(*t_pool(x, **pool, return_indices=True), **pool, output_size=out_size)

    check_against_torch(dg_fn, torch_fn, [x], dtype, rng, check_vjp=not c["overlap"])
    # the unpooling alone, with given indices: linear in its input (PyTorch's result is undefined
    # where indices repeat and the values differ, so it is compared without overlap only)
    y, idx = t_pool(torch.from_numpy(x), **pool, return_indices=True)
    v = rng.standard_normal(tuple(y.shape)).astype(dtype)
    unpool_t = lambda v: t_unpool(v, idx, **pool, output_size=out_size)   # noqa: E731
    unpool_d = lambda v: dg_unpool(v, dg.tensor(idx.numpy()), **pool, output_size=out_size)   # noqa: E731
    if not c["overlap"]:
        check_against_torch(unpool_d, unpool_t, [v], dtype, rng)
    else:                # <ct, J t> == <J^T ct, t>
        for f in (dg_fn, unpool_d):
            arg = x if f is dg_fn else v
            t = rng.standard_normal(arg.shape)
            ct = rng.standard_normal(f(dg.tensor(arg)).shape)
            _, jt = dg.jvp(f, (dg.tensor(arg),), (dg.tensor(t.astype(dtype)),))
            (vt,) = dg.vjp(f, dg.tensor(arg))[1](dg.tensor(ct.astype(dtype)))
            lhs, rhs = float((ct * jt.numpy()).sum()), float((vt.numpy() * t).sum())
            assert abs(lhs - rhs) <= RTOL[dtype] * 100 * (1 + abs(lhs))


def test_unpool_grid_covers_the_brief():
    cs = UNPOOL_CONFIGS
    assert {c["nd"] for c in cs} == {1, 2}
    assert any(c["overlap"] for c in cs) and sum(not c["overlap"] for c in cs) > 20
    assert {c["explicit_size"] for c in cs} == {True, False}
    assert any(max(tup(c["padding"], c["nd"])) > 0 for c in cs)


def test_max_unpool_overlapping_windows_write_once():
    """A maximum that several overlapping windows picked is written back once (PyTorch), not summed."""
    x = np.array([[[1.0, 5.0, 2.0, 0.0, 3.0]]])
    y, idx = F.max_pool1d(dg.tensor(x), 3, 1, return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), [[[1, 1, 4]]])
    np.testing.assert_array_equal(F.max_unpool1d(y, idx, 3, 1).numpy(), [[[0.0, 5.0, 0.0, 0.0, 3.0]]])
    ref = tF.max_unpool1d(*tF.max_pool1d(torch.from_numpy(x), 3, 1, return_indices=True), 3, 1)
    np.testing.assert_array_equal(F.max_unpool1d(y, idx, 3, 1).numpy(), ref.numpy())


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("padding,size", [(0, (8, 8)), (0, (9, 7)), (1, (8, 8)), (1, (7, 10))])
def test_tiling_windows_backward_matches_torch(kind, padding, size):
    """Windows with stride = kernel tile the padded input: the backward pass writes each position
    once instead of adding into zeros. Ties (ReLU zeros), ±inf, cropped and padded edges included."""
    rng = np.random.default_rng(sum(size) + padding)
    x = np.maximum(rng.standard_normal((2, 3) + size), 0)
    x[0, 0, 0, :3] = np.inf
    x[1, 2, 1, 1] = -np.inf
    g = rng.standard_normal(tuple(tF.max_pool2d(torch.from_numpy(x), 2, padding=padding).shape))
    g[0, 1, 0, 0] = np.inf
    dg_fn, t_fn = (F.max_pool2d, tF.max_pool2d) if kind == "max" else (F.avg_pool2d, tF.avg_pool2d)
    xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    dg_fn(xd, 2, padding=padding).backward(dg.tensor(g))
    t_fn(xt, 2, padding=padding).backward(torch.from_numpy(g))
    np.testing.assert_array_equal(xd.grad.numpy(), xt.grad.numpy())


# --------------------------------------------------------------------------------------------
# second derivatives
# --------------------------------------------------------------------------------------------

GRADGRAD_CASES = [
    ("max_pool2d-s1-p1-d2", (1, 2, 4, 4), lambda x: F.max_pool2d(x, 2, 1, padding=1, dilation=2)),
    ("max_pool1d-ceil", (2, 1, 6), lambda x: F.max_pool1d(x, 3, 2, padding=1, ceil_mode=True)),
    ("avg_pool2d-ceil-nocount", (1, 1, 5, 4),
     lambda x: F.avg_pool2d(x, (3, 2), 2, padding=1, ceil_mode=True, count_include_pad=False)),
    ("avg_pool1d-p1", (1, 2, 5), lambda x: F.avg_pool1d(x, 3, 2, padding=1)),
    ("adaptive_avg_pool2d-3x2", (1, 1, 5, 5), lambda x: F.adaptive_avg_pool2d(x, (3, 2))),
    ("adaptive_max_pool1d-3", (1, 2, 7), lambda x: F.adaptive_max_pool1d(x, 3)),
    ("max_pool2d-tiling", (1, 2, 4, 6), lambda x: F.max_pool2d(x, 2)),
    ("avg_pool2d-tiling-p1", (1, 1, 4, 5), lambda x: F.avg_pool2d(x, (2, 3), padding=1)),
    ("max_unpool2d-round-trip", (1, 1, 4, 4),
     lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2)),
]


@pytest.mark.parametrize("name,shape,fn", GRADGRAD_CASES, ids=[c[0] for c in GRADGRAD_CASES])
def test_pool_gradgradcheck(name, shape, fn):
    x = dg.tensor(distinct_values(np.random.default_rng(11), shape, np.float64))
    assert dg.gradgradcheck(fn, [x])
