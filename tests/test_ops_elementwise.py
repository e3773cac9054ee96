"""Elementwise ops (ops/unary.py, ops/binary.py, ops/activation.py) against PyTorch.

ELEMENTWISE_CASES is the table that test_ops_conformance.py runs through every generic check
(forward values in float32/float64, VJP, JVP, Hessian, gradcheck/gradgradcheck). The tests in this
file cover what a table cannot: subgradient conventions at kinks, ties, dtype rules, stability.
"""
import math

import numpy as np
import pytest

import deepgrad as dg
from _opcheck import (DERIV_TOL, DTYPES, FORWARD_TOL, Case, assert_same, avoiding, nonzero, normal, positive,
                      small_ints, torch, torch_func, unit, wide)

# torch.func.jvp imports modules that call the deprecated torch.jit.script (PyTorch's own warning)
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

F = torch.nn.functional

# ----------------------------------------------------------------------------- unary
UNARY = [
    # op, deepgrad, torch, input values
    ("exp", dg.exp, torch.exp, normal),
    ("log", dg.log, torch.log, positive),
    ("log1p", dg.log1p, torch.log1p, unit),
    ("expm1", dg.expm1, torch.expm1, normal),
    ("sqrt", dg.sqrt, torch.sqrt, positive),
    ("abs", dg.abs, torch.abs, nonzero),
    ("sin", dg.sin, torch.sin, normal),
    ("cos", dg.cos, torch.cos, normal),
    ("erf", dg.erf, torch.erf, normal),
    ("tanh", dg.tanh, torch.tanh, normal),
    ("sigmoid", dg.sigmoid, torch.sigmoid, wide),
    ("relu", dg.relu, torch.relu, nonzero),
    ("neg", lambda x: -x, torch.neg, normal),
    ("identity", dg.identity, lambda x: x.clone(), normal),
    ("leaky_relu", dg.leaky_relu, F.leaky_relu, nonzero),
    ("elu", dg.elu, F.elu, nonzero),
    ("gelu", dg.gelu, F.gelu, wide),
    ("softplus", dg.softplus, F.softplus, wide),
]

UNARY_WITH_ARGS = [
    ("clip", "-0.5..0.5", lambda x: dg.clip(x, -0.5, 0.5), lambda x: torch.clamp(x, -0.5, 0.5),
     avoiding(-0.5, 0.5)),
    ("clip", "None..0.5", lambda x: dg.clip(x, None, 0.5), lambda x: torch.clamp(x, None, 0.5), avoiding(0.5)),
    ("clip", "-0.5..None", lambda x: dg.clip(x, min=-0.5), lambda x: torch.clamp(x, min=-0.5), avoiding(-0.5)),
    ("clamp", "method", lambda x: x.clamp(-1, 1), lambda x: x.clamp(-1, 1), avoiding(-1, 1)),
    ("leaky_relu", "slope0.2", lambda x: dg.leaky_relu(x, 0.2), lambda x: F.leaky_relu(x, 0.2), nonzero),
    ("elu", "alpha1.7", lambda x: dg.elu(x, alpha=1.7), lambda x: F.elu(x, alpha=1.7), nonzero),
    ("gelu", "tanh", lambda x: dg.gelu(x, approximate="tanh"), lambda x: F.gelu(x, approximate="tanh"), wide),
    ("softplus", "beta2-thr1", lambda x: dg.softplus(x, beta=2.0, threshold=1.0),
     lambda x: F.softplus(x, beta=2.0, threshold=1.0), wide),
    ("softplus", "beta0.5-thr3", lambda x: dg.softplus(x, beta=0.5, threshold=3.0),
     lambda x: F.softplus(x, beta=0.5, threshold=3.0), wide),
    ("pow", "x**2", lambda x: x ** 2, lambda x: x ** 2, normal),
    ("pow", "x**3", lambda x: x ** 3, lambda x: x ** 3, normal),
    ("pow", "x**0.5", lambda x: x ** 0.5, lambda x: x ** 0.5, positive),
    ("pow", "x**-1.5", lambda x: dg.pow(x, -1.5), lambda x: torch.pow(x, -1.5), positive),
    ("pow", "2**x", lambda x: 2.0 ** x, lambda x: 2.0 ** x, normal),
    ("add", "x+2.5", lambda x: x + 2.5, lambda x: x + 2.5, normal),
    ("add", "2.5+x", lambda x: 2.5 + x, lambda x: 2.5 + x, normal),
    ("sub", "1.5-x", lambda x: 1.5 - x, lambda x: 1.5 - x, normal),
    ("mul", "x*-3", lambda x: x * -3, lambda x: x * -3, normal),
    ("div", "3/x", lambda x: 3.0 / x, lambda x: 3.0 / x, nonzero),
    ("div", "x/4", lambda x: dg.div(x, 4.0), lambda x: torch.div(x, 4.0), normal),
    ("maximum", "x,0.3", lambda x: dg.maximum(x, 0.3), lambda x: torch.clamp_min(x, 0.3), avoiding(0.3)),
    ("where", "x,scalar", lambda x: dg.where(x > 0, x, 0.5), lambda x: torch.where(x > 0, x, 0.5), nonzero),
]

# Binary ops over broadcasting shape pairs (one differentiable input per side).
BROADCAST_SHAPES = [
    ((3, 1, 4), (2, 4)),
    ((4,), (2, 1)),
    ((2, 3), ()),
    ((), (3,)),
    ((), ()),
    ((2, 3), (2, 3)),
]

BINARY = [
    ("add", dg.add, torch.add, (normal, normal)),
    ("sub", dg.sub, torch.sub, (normal, normal)),
    ("mul", dg.mul, torch.mul, (normal, normal)),
    ("div", dg.div, torch.div, (normal, nonzero)),
    ("pow", dg.pow, torch.pow, (positive, normal)),
    ("maximum", dg.maximum, torch.maximum, (normal, normal)),
    ("minimum", dg.minimum, torch.minimum, (normal, normal)),
]

_COND = np.random.default_rng(7).random((2, 1, 3)) > 0.5

ELEMENTWISE_CASES = (
    [Case(op, "", f, t, ((2, 3),), kinds) for op, f, t, kinds in UNARY]
    + [Case(op, "0d", f, t, ((),), kinds) for op, f, t, kinds in UNARY[:3]]
    + [Case(op, label, f, t, ((2, 3),), kinds) for op, label, f, t, kinds in UNARY_WITH_ARGS]
    + [Case(op, f"{a}&{b}", f, t, (a, b), kinds) for op, f, t, kinds in BINARY for a, b in BROADCAST_SHAPES]
    + [
        Case("sub", "operator", lambda x, y: x - y, lambda x, y: x - y, ((3,), (2, 3))),
        Case("div", "operator", lambda x, y: x / y, lambda x, y: x / y, ((2, 3), (3,)), (normal, nonzero)),
        Case("pow", "operator", lambda x, y: x ** y, lambda x, y: x ** y, ((2, 3), (3,)), (positive, normal)),
        Case("where", "bcast", lambda x, y: dg.where(dg.tensor(_COND), x, y),
             lambda x, y: torch.where(torch.tensor(_COND), x, y), ((2, 3), (3,))),
        Case("where", "same-shape", lambda x, y: dg.where(x > y, x, y), lambda x, y: torch.where(x > y, x, y),
             ((2, 3), (2, 3))),
        Case("astype", "->other", lambda x: x.astype(dg.float32 if x.dtype == dg.float64 else dg.float64),
             lambda x: x.to(torch.float32 if x.dtype == torch.float64 else torch.float64), ((2, 3),),
             smooth=False),
        Case("astype", "round-trip", lambda x: dg.astype(dg.astype(x, "float32"), x.dtype) * x,
             lambda x: x.to(torch.float32).to(x.dtype) * x, ((2, 3),), smooth=False),
    ]
    # Comparisons and logical ops: values only (with exact ties from small integers).
    + [Case(name, label, f, t, ((2, 1, 3), (2, 3)), small_ints, derivatives=False) for name, label, f, t in [
        ("lt", "", dg.lt, torch.lt), ("le", "", dg.le, torch.le), ("gt", "", dg.gt, torch.gt),
        ("ge", "", dg.ge, torch.ge), ("eq", "", dg.eq, torch.eq), ("ne", "", dg.ne, torch.ne),
        ("logical_and", "", lambda x, y: dg.logical_and(x > 0, y > 0), lambda x, y: torch.logical_and(x > 0, y > 0)),
        ("logical_or", "", lambda x, y: dg.logical_or(x > 0, y > 0), lambda x, y: torch.logical_or(x > 0, y > 0)),
        ("eq", "operator", lambda x, y: x == y, lambda x, y: x == y),
        ("logical_and", "operator", lambda x, y: (x > 0) & (y < 1), lambda x, y: (x > 0) & (y < 1)),
    ]]
)


# ----------------------------------------------------------------------------- kinks and ties
KINK_FUNCTIONS = [
    ("abs", dg.abs, torch.abs),
    ("relu", dg.relu, torch.relu),
    ("leaky_relu", lambda x: dg.leaky_relu(x, 0.1), lambda x: F.leaky_relu(x, 0.1)),
    ("elu", dg.elu, F.elu),
    ("softplus", dg.softplus, F.softplus),
    ("softplus-thr", lambda x: dg.softplus(x, beta=2.0, threshold=1.0),
     lambda x: F.softplus(x, beta=2.0, threshold=1.0)),
    ("clip", lambda x: dg.clip(x, -1.0, 1.0), lambda x: torch.clamp(x, -1.0, 1.0)),
    ("clip-lo", lambda x: dg.clip(x, min=0.0), lambda x: torch.clamp(x, min=0.0)),
    ("maximum-0", lambda x: dg.maximum(x, dg.zeros_like(x)), lambda x: torch.maximum(x, torch.zeros_like(x))),
    ("pow-0", lambda x: x ** 0, lambda x: x ** 0),
    ("pow-1", lambda x: x ** 1, lambda x: x ** 1),
    ("pow-2", lambda x: x ** 2, lambda x: x ** 2),
]
# 0 and the other breakpoints (±1 for clip, 0.5 = threshold/beta for softplus-thr), in both dtypes.
KINK_POINTS = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,f,tf", KINK_FUNCTIONS, ids=[k[0] for k in KINK_FUNCTIONS])
def test_derivative_at_kinks_uses_torch_convention(name, f, tf, dtype):
    x = KINK_POINTS.astype(dtype)
    g = np.linspace(0.5, 1.5, x.size).astype(dtype)
    out, fn = dg.vjp(f, dg.tensor(x))
    t_out, t_fn = torch_func.vjp(tf, torch.tensor(x))
    assert_same(out, t_out, FORWARD_TOL[dtype], "value")
    assert_same(fn(dg.tensor(g)), t_fn(torch.tensor(g)), DERIV_TOL[dtype], "vjp")
    _, tan = dg.jvp(f, (dg.tensor(x),), (dg.tensor(g),))
    _, t_tan = torch_func.jvp(tf, (torch.tensor(x),), (torch.tensor(g),))
    assert_same(tan, t_tan, DERIV_TOL[dtype], "jvp")


def test_softplus_gradient_at_zero_is_one_half():
    assert dg.grad(lambda x: dg.softplus(x).sum())(dg.zeros(3)).tolist() == [0.5, 0.5, 0.5]
    # and with beta: d/dx log(1 + e^(βx))/β = σ(βx) = 1/2 at 0 for any β
    assert dg.grad(lambda x: dg.softplus(x, beta=3.0).sum())(dg.zeros(1)).item() == 0.5


def test_pow_with_zero_exponent_has_zero_gradient_at_zero_base():
    x = dg.tensor([0.0, 2.0], dtype=dg.float64)
    assert dg.grad(lambda x: (x ** 0).sum())(x).tolist() == [0.0, 0.0]
    y = dg.tensor([0.0, 0.0], dtype=dg.float64)
    gx, gy = dg.grad(lambda x, y: dg.pow(x, y).sum(), argnums=(0, 1))(x, y)
    tgx, tgy = torch_func.grad(lambda x, y: torch.pow(x, y).sum(), argnums=(0, 1))(
        torch.tensor([0.0, 2.0], dtype=torch.float64), torch.zeros(2, dtype=torch.float64))
    assert_same((gx, gy), (tgx, tgy), DERIV_TOL[np.float64], "pow grads")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_minimum_ties_split_gradient_like_torch(op, dtype):
    x = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]], dtype)
    y = np.array([1.0, 0.0, 5.0], dtype)          # ties at [0,0] and [1,2], broadcast over rows
    f, tf = getattr(dg, op), getattr(torch, op)
    g = np.arange(1.0, 7.0).reshape(2, 3).astype(dtype)
    out, fn = dg.vjp(f, dg.tensor(x), dg.tensor(y))
    t_out, t_fn = torch_func.vjp(tf, torch.tensor(x), torch.tensor(y))
    assert_same(out, t_out, FORWARD_TOL[dtype], "value")
    gx, gy = fn(dg.tensor(g))
    assert_same((gx, gy), t_fn(torch.tensor(g)), DERIV_TOL[dtype], "vjp")
    assert gx.numpy()[0, 0] == 0.5 * g[0, 0]
    # column 0: a tie in row 0 (half each) and, in row 1, y = 1 beats x = 0 for maximum only
    assert gy.numpy()[0] == 0.5 * g[0, 0] + (g[1, 0] if op == "maximum" else 0)
    tx, ty = np.full_like(x, 2.0), np.full_like(y, 4.0)
    _, tan = dg.jvp(f, (dg.tensor(x), dg.tensor(y)), (dg.tensor(tx), dg.tensor(ty)))
    _, t_tan = torch_func.jvp(tf, (torch.tensor(x), torch.tensor(y)), (torch.tensor(tx), torch.tensor(ty)))
    assert_same(tan, t_tan, DERIV_TOL[dtype], "jvp")
    assert tan.numpy()[0, 0] == 3.0


def test_clip_gradient_passes_at_the_bounds_like_torch_clamp():
    x = np.array([-0.7, -0.5, 0.0, 0.5, 0.7])
    g = dg.grad(lambda x: dg.clip(x, -0.5, 0.5).sum())(dg.tensor(x))
    tg = torch_func.grad(lambda x: torch.clamp(x, -0.5, 0.5).sum())(torch.tensor(x))
    np.testing.assert_array_equal(g.numpy(), tg.numpy())
    assert g.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


def test_clip_without_bounds_is_rejected():
    with pytest.raises(ValueError, match="at least one"):
        dg.clip(dg.ones(2))


def test_where_sends_no_gradient_to_the_unselected_branch_even_if_it_is_inf():
    # the double-where pattern: log of non-positive values is never differentiated
    x = dg.tensor([-1.0, 0.0, 2.0], dtype=dg.float64)

    def f(x):
        safe = dg.where(x > 0, x, 1.0)
        return dg.where(x > 0, dg.log(safe), 0.0).sum()
    np.testing.assert_array_equal(dg.grad(f)(x).numpy(), [0.0, 0.0, 0.5])


# ----------------------------------------------------------------------------- dtypes and stability
@pytest.mark.parametrize("src,dst", [("float32", "float64"), ("float64", "float32")])
def test_astype_casts_values_and_casts_gradients_back(src, dst):
    x = dg.tensor(np.random.default_rng(0).standard_normal(4), dtype=src)
    y = dg.astype(x, dst)
    assert y.dtype == np.dtype(dst)
    np.testing.assert_array_equal(y.numpy(), x.numpy().astype(dst))
    out, fn = dg.vjp(lambda x: dg.astype(x, dst), x)
    (g,) = fn(dg.ones(4, dtype=dst))
    assert g.dtype == np.dtype(src)
    _, tan = dg.jvp(lambda x: dg.astype(x, dst), (x,), (dg.ones(4, dtype=src),))
    assert tan.dtype == np.dtype(dst)
    # via the methods too
    assert x.to(dst).dtype == np.dtype(dst) and x.double().dtype == dg.float64 and x.float().dtype == dg.float32


def test_astype_to_integer_is_not_differentiable_and_truncates_like_torch():
    x = dg.tensor([1.7, -1.7, 2.5], requires_grad=True)
    y = dg.astype(x, dg.int64)
    assert y.dtype == dg.int64 and not y.requires_grad
    assert y.tolist() == torch.tensor([1.7, -1.7, 2.5]).to(torch.int64).tolist()


@pytest.mark.parametrize("dtype", DTYPES)
def test_python_scalars_keep_the_tensor_dtype(dtype):
    x = dg.tensor(np.ones(3, dtype))
    for y in (x + 1, 2 * x, x - 0.5, 1.5 / x, x ** 2, 2.0 ** x, dg.maximum(x, 0.3), dg.where(x > 0, x, 0.0)):
        assert y.dtype == np.dtype(dtype)


def test_mixed_float_dtypes_promote_like_torch():
    a, b = np.ones(2, np.float32), np.ones(2, np.float64)
    assert (dg.tensor(a) * dg.tensor(b)).dtype == torch.tensor(a).mul(torch.tensor(b)).numpy().dtype


def test_integer_division_gives_float32_like_torch():
    out = dg.tensor([1, 2, 3]) / dg.tensor([2, 2, 2])
    assert_same(out, torch.tensor([1, 2, 3]) / torch.tensor([2, 2, 2]), FORWARD_TOL[np.float32], "int div")


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_and_softplus_are_stable_for_large_inputs(dtype):
    x = np.array([-1000.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1000.0], dtype)
    for f, tf in [(dg.sigmoid, torch.sigmoid), (dg.softplus, F.softplus)]:
        out, fn = dg.vjp(f, dg.tensor(x))
        t_out, t_fn = torch_func.vjp(tf, torch.tensor(x))
        assert_same(out, t_out, FORWARD_TOL[dtype], "value")
        assert_same(fn(dg.ones(7, dtype=dtype)), t_fn(torch.ones(7, dtype=t_out.dtype)), DERIV_TOL[dtype], "grad")
    # Without the threshold deepgrad stays finite where PyTorch's float32 log1p(exp(100)) overflows:
    # compare with the exact log(1 + e^(βx))/β instead.
    out, fn = dg.vjp(lambda x: dg.softplus(x, beta=0.1, threshold=1e6), dg.tensor(x))
    exact = np.logaddexp(0, 0.1 * x.astype(np.float64)) / 0.1
    np.testing.assert_allclose(out.numpy(), exact.astype(dtype), **FORWARD_TOL[dtype])
    (g,) = fn(dg.ones(7, dtype=dtype))
    np.testing.assert_allclose(g.numpy(), 1 / (1 + np.exp(-0.1 * x.astype(np.float64))), **DERIV_TOL[dtype])


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="approximate"):
        dg.gelu(dg.ones(2), approximate="fast")


def test_erf_matches_math_erf():
    x = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(dg.erf(dg.tensor(x)).numpy(), [math.erf(v) for v in x], rtol=1e-14)


def test_comparisons_carry_no_gradient():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    for y in (x < 1.5, x <= 1.5, x > 1.5, x >= 1.5, x == 1.0, x != 1.0):
        assert y.dtype == dg.bool_ and not y.requires_grad
