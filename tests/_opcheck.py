"""Shared machinery for the op conformance tests (tests/test_ops_*.py).

A ``Case`` pairs a deepgrad function with the PyTorch function it must agree with, plus the shapes
and value ranges of its tensor arguments. The ``check_*`` functions run one kind of comparison on a
case: forward values, VJP (torch.func.vjp), JVP (torch.func.jvp), Hessian (torch.func.hessian), and
deepgrad's own gradcheck/gradgradcheck against finite differences.

Non-tensor arguments (dims, exponents, masks, index tuples) are baked into the two functions, so
every positional argument of ``dg_fn``/``torch_fn`` is a differentiable floating-point tensor.
"""
import dataclasses
from typing import Callable

import numpy as np
import pytest

import deepgrad as dg

torch = pytest.importorskip("torch")
torch_func = pytest.importorskip("torch.func")

# float32 to 1e-5 relative, float64 to 1e-10 relative, with a small absolute floor for values near 0;
# the same for values (FORWARD_TOL) and derivatives (DERIV_TOL), kept as two names for the reader.
FORWARD_TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}
DERIV_TOL = FORWARD_TOL
DTYPES = [pytest.param(np.float32, id="f32"), pytest.param(np.float64, id="f64")]


# ----------------------------------------------------------------------------- random inputs
def normal(rng, shape):
    return rng.standard_normal(shape)


def positive(rng, shape):
    """In [0.5, 2]: for log, sqrt, pow bases and divisors."""
    return rng.uniform(0.5, 2.0, shape)


def nonzero(rng, shape):
    """|x| in [0.3, 2] with random sign: away from the kinks at 0 of abs, relu, leaky_relu, elu."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 2.0, shape)


def unit(rng, shape):
    return rng.uniform(-0.9, 0.9, shape)


def wide(rng, shape):
    """Normal values scaled by 4: reaches both branches of softplus's threshold and gelu's tails."""
    return 4 * rng.standard_normal(shape)


def avoiding(*points, gap=0.1):
    """Normal values at least ``gap`` away from each of ``points`` (e.g. clip bounds)."""
    def make(rng, shape):
        x = rng.standard_normal(shape)
        for p in points:
            near = np.abs(x - p) < gap
            x = np.where(near, p + np.sign(x - p + 1e-300) * gap * 2, x)
        return x
    return make


def small_ints(rng, shape):
    """Values from {-1, 0, 1, 2}: many exact ties (max/min/maximum/eq)."""
    return rng.integers(-1, 3, shape).astype(np.float64)


def fixed(array):
    """Always the given values (e.g. products with zeros in known places)."""
    def make(rng, shape):
        return np.array(array, dtype=np.float64).reshape(shape)
    return make


@dataclasses.dataclass
class Case:
    """One op at one configuration. ``op`` is the deepgrad function's public name (for the coverage
    check); ``kinds`` gives one input generator per tensor argument (or one for all)."""
    op: str
    label: str
    dg_fn: Callable
    torch_fn: Callable
    shapes: tuple
    kinds: object = normal
    smooth: bool = True         # finite differences are valid here (gradcheck, gradgradcheck)
    derivatives: bool = True    # has a gradient at all (False for comparisons, argmax)

    @property
    def id(self):
        return f"{self.op}-{self.label}" if self.label else self.op

    def arrays(self, dtype, seed=0):
        rng = np.random.default_rng(seed)
        kinds = self.kinds if isinstance(self.kinds, (tuple, list)) else (self.kinds,) * len(self.shapes)
        return [k(rng, s).astype(dtype) for k, s in zip(kinds, self.shapes)]


def params(cases, where=lambda c: True):
    return [pytest.param(c, id=c.id) for c in cases if where(c)]


# ----------------------------------------------------------------------------- conversions
def dg_tensors(arrays):
    return [dg.tensor(a) for a in arrays]


def torch_tensors(arrays):
    return [torch.tensor(a) for a in arrays]


def leaves(tree):
    """The tensors of a nest of tuples/lists, in order (deepgrad or torch)."""
    if isinstance(tree, (tuple, list)):
        return [leaf for t in tree for leaf in leaves(t)]
    return [tree]


def as_numpy(t):
    if isinstance(t, dg.Tensor):
        return t.numpy()
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return np.asarray(t)


def assert_same(actual, expected, tol, what=""):
    """Two nests of tensors agree: the same number of tensors, and each pair with the same shape,
    dtype and (to ``tol``) values."""
    a_leaves, e_leaves = leaves(actual), leaves(expected)
    assert len(a_leaves) == len(e_leaves), f"{what}: {len(a_leaves)} outputs, expected {len(e_leaves)}"
    for k, (a, e) in enumerate(zip(a_leaves, e_leaves)):
        a, e = as_numpy(a), as_numpy(e)
        assert a.shape == e.shape, f"{what}[{k}]: shape {a.shape}, expected {e.shape}"
        assert a.dtype == e.dtype, f"{what}[{k}]: dtype {a.dtype}, expected {e.dtype}"
        if a.dtype.kind in "biu":
            np.testing.assert_array_equal(a, e, err_msg=f"{what}[{k}]")
        else:
            np.testing.assert_allclose(a, e, **tol, err_msg=f"{what}[{k}]")


def _random_like(outputs, rng):
    """Random arrays shaped like each output leaf (cotangents / tangents)."""
    return [rng.standard_normal(as_numpy(o).shape).astype(as_numpy(o).dtype) for o in leaves(outputs)]


def _rebuild(tree, arrays, make):
    """``tree`` with its leaves replaced, in order, by ``make(array)``."""
    it = iter(arrays)

    def go(t):
        if isinstance(t, (tuple, list)):
            return type(t)(go(x) for x in t)
        return make(next(it))
    return go(tree)


# ----------------------------------------------------------------------------- the checks
def check_forward(case, dtype):
    xs = case.arrays(dtype)
    actual = case.dg_fn(*dg_tensors(xs))
    expected = case.torch_fn(*torch_tensors(xs))
    assert_same(actual, expected, FORWARD_TOL[dtype], f"{case.id} forward")


def check_vjp(case, dtype):
    xs = case.arrays(dtype)
    out, vjp_fn = dg.vjp(case.dg_fn, *dg_tensors(xs))
    t_out, t_vjp_fn = torch_func.vjp(case.torch_fn, *torch_tensors(xs))
    assert_same(out, t_out, FORWARD_TOL[dtype], f"{case.id} vjp primal out")
    cts = _random_like(t_out, np.random.default_rng(1))
    actual = vjp_fn(_rebuild(out, cts, dg.tensor))
    expected = t_vjp_fn(_rebuild(t_out, cts, torch.tensor))
    assert_same(actual, expected, DERIV_TOL[dtype], f"{case.id} vjp")


def check_jvp(case, dtype):
    xs = case.arrays(dtype)
    tangents = _random_like(xs, np.random.default_rng(2))
    out, t_dg = dg.jvp(case.dg_fn, tuple(dg_tensors(xs)), tuple(dg_tensors(tangents)))
    t_out, t_torch = torch_func.jvp(case.torch_fn, tuple(torch_tensors(xs)), tuple(torch_tensors(tangents)))
    assert_same(out, t_out, FORWARD_TOL[dtype], f"{case.id} jvp primal out")
    assert_same(t_dg, t_torch, DERIV_TOL[dtype], f"{case.id} jvp")


def _weighted_scalar(fn, weights, lib):
    """x -> Σ_k (w_k * out_k).sum(): a scalar function whose Hessian sees every output element."""
    def f(*xs):
        outs = leaves(fn(*xs))
        total = None
        for o, w in zip(outs, weights):
            term = (o * lib.tensor(w, dtype=o.dtype)).sum()
            total = term if total is None else total + term
        return total
    return f


def check_hessian(case):
    xs = case.arrays(np.float64)
    outs = leaves(case.torch_fn(*torch_tensors(xs)))
    weights = [np.random.default_rng(3).standard_normal(tuple(o.shape)) for o in outs]
    argnums = tuple(range(len(xs)))
    actual = dg.hessian(_weighted_scalar(case.dg_fn, weights, dg), argnums)(*dg_tensors(xs))
    expected = torch_func.hessian(_weighted_scalar(case.torch_fn, weights, torch), argnums)(*torch_tensors(xs))
    assert_same(actual, expected, DERIV_TOL[np.float64], f"{case.id} hessian")


def check_gradchecks(case):
    xs = dg_tensors(case.arrays(np.float64))
    assert dg.gradcheck(case.dg_fn, xs)
    assert dg.gradgradcheck(case.dg_fn, xs)
