"""Randomized conformance grid: deepgrad's conv1d/conv2d and conv_transpose1d/2d against PyTorch.

Each configuration is drawn deterministically (seeded NumPy RNG) and checked for
* the forward output,
* the VJP of every differentiable input (input, weight, bias) for a random cotangent
  (``dg.vjp`` vs ``torch.func.vjp``),
* the JVP for random tangents of all inputs (``dg.jvp`` vs ``torch.func.jvp``),
in float64 (rtol 1e-10) and float32 (rtol 1e-5), with atol = rtol * max(1, max |reference|).
The first configurations of every family run by default; the rest are marked ``slow``.
"""
import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as F
from _conformance import as_params, check_against_torch, fmt, n_fast, torch
from deepgrad.kernels.cpu import batch_last, direct

tF = torch.nn.functional

pytestmark = [pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def eff(kernel, dilation):
    return tuple(k + (k - 1) * (d - 1) for k, d in zip(kernel, dilation))


# --------------------------------------------------------------------------------------------
# conv1d / conv2d
# --------------------------------------------------------------------------------------------

def _draw_conv(rng, nd):
    batch = None if rng.random() < 0.12 else int(rng.integers(1, 4))
    mode = rng.choice(["one", "two", "depthwise"], p=[0.5, 0.25, 0.25])
    if mode == "one":
        groups, cin, cout = 1, int(rng.integers(1, 9)), int(rng.integers(1, 9))
    elif mode == "two":
        groups, cin, cout = 2, 2 * int(rng.integers(1, 5)), 2 * int(rng.integers(1, 5))
    else:
        cin = int(rng.integers(1, 9))
        groups, cout = cin, cin * int(rng.integers(1, 3))      # channel multiplier 1 or 2
    kernel = tuple(int(k) for k in rng.integers(1, 6, size=nd))
    dilation = tuple(int(d) for d in rng.integers(1, 4, size=nd)) if rng.random() < 0.5 else (1,) * nd
    kind = rng.choice(["int", "tuple", "valid", "same", "full"], p=[0.3, 0.2, 0.15, 0.2, 0.15])
    stride = tuple(int(s) for s in rng.integers(1, 4, size=nd)) if rng.random() < 0.6 else (1,) * nd
    if kind == "same":
        stride = (1,) * nd
    k_eff = eff(kernel, dilation)
    if kind == "int":
        padding = int(rng.integers(0, 4))
        lo = hi = (padding,) * nd
    elif kind == "tuple":
        padding = tuple(int(p) for p in rng.integers(0, 4, size=nd))
        lo = hi = padding
    elif kind == "valid":
        padding = "valid"
        lo = hi = (0,) * nd
    elif kind == "same":
        padding = "same"
        lo = tuple((k - 1) // 2 for k in k_eff)
        hi = tuple(k - 1 - l for k, l in zip(k_eff, lo))
    else:
        padding = "full"
        lo = hi = tuple(k - 1 for k in k_eff)
    max_size = 14 if nd == 1 else 9
    size = tuple(int(rng.integers(max(1, k - l - h), max(1, k - l - h) + max_size - 4))
                 for k, l, h in zip(k_eff, lo, hi))
    dtype = np.float32 if rng.random() < 0.35 else np.float64
    return dict(nd=nd, batch=batch, cin=cin, cout=cout, groups=groups, kernel=kernel, stride=stride,
                padding=padding, dilation=dilation, bias=bool(rng.random() < 0.6), size=size, dtype=dtype,
                seed=int(rng.integers(2 ** 31)))


def _conv_configs():
    rng = np.random.default_rng(20240601)
    return [_draw_conv(rng, nd) for _ in range(150) for nd in (1, 2)]


def _conv_id(c):
    return (f"conv{c['nd']}d-{np.dtype(c['dtype']).name}-{'nobatch' if c['batch'] is None else 'n%d' % c['batch']}"
            f"-c{c['cin']}to{c['cout']}-g{c['groups']}-k{fmt(c['kernel'])}-s{fmt(c['stride'])}"
            f"-p{fmt(c['padding'])}-d{fmt(c['dilation'])}-{'bias' if c['bias'] else 'nobias'}-in{fmt(c['size'])}")


def _torch_padding(c):
    if c["padding"] == "full":
        return tuple(k - 1 for k in eff(c["kernel"], c["dilation"]))
    return c["padding"]


CONV_CONFIGS = _conv_configs()



@pytest.mark.parametrize("c", as_params(CONV_CONFIGS, _conv_id))
def test_conv_matches_torch(c):
    rng = np.random.default_rng(c["seed"])
    dtype, nd = c["dtype"], c["nd"]
    lead = () if c["batch"] is None else (c["batch"],)
    x = rng.standard_normal(lead + (c["cin"],) + c["size"]).astype(dtype)
    w = rng.standard_normal((c["cout"], c["cin"] // c["groups"]) + c["kernel"]).astype(dtype)
    arrays = [x, w] + ([rng.standard_normal(c["cout"]).astype(dtype)] if c["bias"] else [])
    kw = dict(stride=c["stride"], dilation=c["dilation"], groups=c["groups"])
    dg_conv, t_conv = (F.conv1d, tF.conv1d) if nd == 1 else (F.conv2d, tF.conv2d)
    tpad = _torch_padding(c)

    def dg_fn(x, w, b=None):
        return dg_conv(x, w, b, padding=c["padding"], **kw)

    def torch_fn(x, w, b=None):
        return t_conv(x, w, b, padding=tpad, **kw)

    check_against_torch(dg_fn, torch_fn, arrays, dtype, rng)


def test_conv_grid_covers_the_brief():
    """The drawn grid really contains every feature the conformance brief asks for."""
    cs = CONV_CONFIGS
    assert len(cs) >= 300
    assert {c["nd"] for c in cs} == {1, 2}
    assert {c["batch"] for c in cs} == {None, 1, 2, 3}
    assert {type(c["padding"]).__name__ for c in cs} == {"int", "tuple", "str"}
    assert {c["padding"] for c in cs if isinstance(c["padding"], str)} == {"valid", "same", "full"}
    same = [c for c in cs if c["padding"] == "same"]
    assert any(any(k % 2 == 0 for k in c["kernel"]) for c in same)          # asymmetric split
    assert any(any(d > 1 for d in c["dilation"]) for c in same)
    assert any(c["groups"] == c["cin"] > 1 and c["cout"] == 2 * c["cin"] for c in cs)   # depthwise, multiplier 2
    assert any(c["groups"] == 2 for c in cs)
    assert any(c["nd"] == 2 and c["kernel"][0] != c["kernel"][1] for c in cs)
    assert {s for c in cs for s in c["stride"]} == {1, 2, 3}
    assert {d for c in cs for d in c["dilation"]} == {1, 2, 3}
    assert {k for c in cs for k in c["kernel"]} == {1, 2, 3, 4, 5}
    assert {c["bias"] for c in cs} == {True, False}
    assert {c["dtype"] for c in cs} == {np.float32, np.float64}
    fast = cs[:n_fast(cs)]     # what `-m "not slow"` runs is representative too
    assert {c["nd"] for c in fast} == {1, 2} and {c["dtype"] for c in fast} == {np.float32, np.float64}
    assert {c["padding"] for c in fast if isinstance(c["padding"], str)} == {"valid", "same", "full"}
    assert {c["groups"] > 1 for c in fast} == {True, False} and None in {c["batch"] for c in fast}


# --------------------------------------------------------------------------------------------
# conv_transpose1d / conv_transpose2d
# --------------------------------------------------------------------------------------------

def _draw_conv_transpose(rng, nd):
    batch = None if rng.random() < 0.12 else int(rng.integers(1, 4))
    groups = int(rng.choice([1, 1, 2, 3]))
    cin = groups * int(rng.integers(1, 4))
    cout_per_group = int(rng.integers(1, 4))
    kernel = tuple(int(k) for k in rng.integers(1, 6, size=nd))
    stride = tuple(int(s) for s in rng.integers(1, 4, size=nd))
    dilation = tuple(int(d) for d in rng.integers(1, 4, size=nd)) if rng.random() < 0.5 else (1,) * nd
    output_padding = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
    size = tuple(int(s) for s in rng.integers(1, 7 if nd == 1 else 5, size=nd))
    # padding may crop, but the output must stay non-empty: (M-1)S - 2P + D(K-1) + OP + 1 >= 1
    padding = []
    for m, s, d, k, op in zip(size, stride, dilation, kernel, output_padding):
        full = (m - 1) * s + d * (k - 1) + op
        padding.append(int(rng.integers(0, min(3, full // 2) + 1)))
    padding = padding[0] if nd == 1 or rng.random() < 0.4 else tuple(padding)
    if isinstance(padding, int):
        padding = min(padding, min((m - 1) * s + d * (k - 1) + op for m, s, d, k, op
                                   in zip(size, stride, dilation, kernel, output_padding)) // 2)
    if nd == 1:
        output_padding = output_padding[0]
    dtype = np.float32 if rng.random() < 0.35 else np.float64
    return dict(nd=nd, batch=batch, cin=cin, cout=cout_per_group * groups, groups=groups, kernel=kernel,
                stride=stride, padding=padding, output_padding=output_padding, dilation=dilation,
                bias=bool(rng.random() < 0.6), size=size, dtype=dtype, seed=int(rng.integers(2 ** 31)))


def _conv_transpose_configs():
    rng = np.random.default_rng(31337)
    return [_draw_conv_transpose(rng, nd) for _ in range(60) for nd in (1, 2)]


def _conv_transpose_id(c):
    return (f"convT{c['nd']}d-{np.dtype(c['dtype']).name}-{'nobatch' if c['batch'] is None else 'n%d' % c['batch']}"
            f"-c{c['cin']}to{c['cout']}-g{c['groups']}-k{fmt(c['kernel'])}-s{fmt(c['stride'])}"
            f"-p{fmt(c['padding'])}-op{fmt(c['output_padding'])}-d{fmt(c['dilation'])}"
            f"-{'bias' if c['bias'] else 'nobias'}-in{fmt(c['size'])}")


CONV_TRANSPOSE_CONFIGS = _conv_transpose_configs()


@pytest.mark.parametrize("c", as_params(CONV_TRANSPOSE_CONFIGS, _conv_transpose_id))
def test_conv_transpose_matches_torch(c):
    rng = np.random.default_rng(c["seed"])
    dtype, nd = c["dtype"], c["nd"]
    lead = () if c["batch"] is None else (c["batch"],)
    x = rng.standard_normal(lead + (c["cin"],) + c["size"]).astype(dtype)
    w = rng.standard_normal((c["cin"], c["cout"] // c["groups"]) + c["kernel"]).astype(dtype)
    arrays = [x, w] + ([rng.standard_normal(c["cout"]).astype(dtype)] if c["bias"] else [])
    kw = dict(stride=c["stride"], padding=c["padding"], output_padding=c["output_padding"],
              groups=c["groups"], dilation=c["dilation"])
    dg_op, t_op = (F.conv_transpose1d, tF.conv_transpose1d) if nd == 1 else (F.conv_transpose2d, tF.conv_transpose2d)

    def dg_fn(x, w, b=None):
        return dg_op(x, w, b, **kw)

    def torch_fn(x, w, b=None):
        return t_op(x, w, b, **kw)

    check_against_torch(dg_fn, torch_fn, arrays, dtype, rng)


def test_conv_transpose_grid_covers_the_brief():
    cs = CONV_TRANSPOSE_CONFIGS
    assert len(cs) >= 100
    assert {c["groups"] for c in cs} >= {1, 2, 3}
    assert any(any(o > 0 for o in np.atleast_1d(c["output_padding"])) for c in cs)
    assert any(any(p > 0 for p in np.atleast_1d(c["padding"])) for c in cs)
    assert {s for c in cs for s in c["stride"]} == {1, 2, 3}
    assert {d for c in cs for d in c["dilation"]} == {1, 2, 3}
    assert {c["batch"] for c in cs} == {None, 1, 2, 3}
    assert {c["dtype"] for c in cs} == {np.float32, np.float64}



# --------------------------------------------------------------------------------------------
# the routes taken at larger sizes, each forced on part of the grids: the batch-last GEMM layout
# (``kernels/cpu/batch_last.py``, unit stride) and the direct kernels (``kernels/cpu/direct.py``, where built)
# --------------------------------------------------------------------------------------------

ROUTES = ("batch-last GEMM", "direct kernels")


def _force(route, monkeypatch):
    """Every convolution the route can take takes it, whatever its size."""
    if route == "direct kernels":
        if direct._kernels() is None:
            pytest.skip("the C extension _direct is not built")
        monkeypatch.setattr(direct, "MIN_FILL", 0)
    else:
        monkeypatch.setattr(direct, "suits", lambda x: False)
        monkeypatch.setattr(batch_last, "suits", lambda grid, batch: grid.flat)


def _route_cases(configs, ids, per_route):
    """Up to ``per_route`` configurations for each route (not depthwise; unit stride for batch-last)."""
    cases = []
    for route in ROUTES:
        taken = [c for c in configs if not (c["groups"] > 1 and c["cin"] == c["groups"])
                 and (route == "direct kernels" or all(s == 1 for s in c["stride"]))]
        cases += [pytest.param(route, c, id=f"{route}-{ids(c)}") for c in taken[:per_route]]
    return cases


@pytest.mark.parametrize("route,c", _route_cases(CONV_CONFIGS, _conv_id, 80))
def test_conv_grid_matches_torch_on_each_route(route, c, monkeypatch):
    _force(route, monkeypatch)
    test_conv_matches_torch(c)


@pytest.mark.parametrize("route,c", _route_cases(CONV_TRANSPOSE_CONFIGS, _conv_transpose_id, 40))
def test_conv_transpose_grid_matches_torch_on_each_route(route, c, monkeypatch):
    _force(route, monkeypatch)
    test_conv_transpose_matches_torch(c)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name,fn,shapes", [
    ("conv2d-g2-d2-pad", lambda x, w: F.conv2d(x, w, padding=(1, 2), dilation=(2, 1), groups=2),
     [(2, 4, 5, 5), (4, 2, 2, 3)]),
    ("conv1d-full", lambda x, w: F.conv1d(x, w, padding="full"), [(2, 2, 5), (3, 2, 3)]),
    ("conv_transpose2d-crop", lambda x, w: F.conv_transpose2d(x, w, padding=1), [(2, 2, 3, 4), (2, 3, 3, 2)]),
    ("conv2d-s2-d2", lambda x, w: F.conv2d(x, w, stride=(2, 3), dilation=(1, 2), padding=1),
     [(2, 2, 6, 7), (3, 2, 2, 2)]),
    ("conv_transpose2d-s2-op", lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1),
     [(2, 2, 3, 3), (2, 3, 3, 2)]),
])
def test_second_derivatives_on_each_route(name, fn, shapes, route, monkeypatch):
    _force(route, monkeypatch)
    rng = np.random.default_rng(11)
    assert dg.gradgradcheck(fn, [dg.tensor(rng.standard_normal(s)) for s in shapes])

# --------------------------------------------------------------------------------------------
# second derivatives
# --------------------------------------------------------------------------------------------

def _gg_inputs(rng, *shapes):
    return [dg.tensor(rng.standard_normal(s)) for s in shapes]


GRADGRAD_CASES = [
    ("conv1d-s2-d2-pfull-bias", (1, 2, 6), (2, 2, 2), (2,),
     lambda x, w, b: F.conv1d(x, w, b, stride=2, padding="full", dilation=2)),
    ("conv2d-g2-k2x3-psame-d2", (1, 2, 4, 4), (2, 1, 2, 3), None,
     lambda x, w: F.conv2d(x, w, padding="same", dilation=(2, 1), groups=2)),
    ("conv2d-s2x1-p1-bias", (2, 1, 4, 3), (2, 1, 2, 2), (2,),
     lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1)),
    ("conv_transpose1d-s2-op1-d1", (1, 2, 3), (2, 1, 3), (1,),
     lambda x, w, b: F.conv_transpose1d(x, w, b, stride=2, padding=1, output_padding=1)),
    ("conv_transpose2d-g2-s2-d2", (1, 2, 2, 2), (2, 1, 2, 2), None,
     lambda x, w: F.conv_transpose2d(x, w, stride=2, output_padding=1, groups=2, dilation=2)),
]


@pytest.mark.parametrize("name,xs,ws,bs,fn", GRADGRAD_CASES, ids=[c[0] for c in GRADGRAD_CASES])
def test_conv_gradgradcheck(name, xs, ws, bs, fn):
    rng = np.random.default_rng(7)
    inputs = _gg_inputs(rng, *[s for s in (xs, ws, bs) if s is not None])
    assert dg.gradgradcheck(fn, inputs)
