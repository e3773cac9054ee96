"""The Tensor API ops PyTorch code reaches for (ops/pointwise, logical, scan, selection, sorting, layout,
products, norms) against PyTorch.

API_CASES is the table that test_ops_conformance.py runs through every generic check (forward values in
float32/float64, VJP, JVP, Hessian, gradcheck/gradgradcheck). The tests here cover what the table cannot:
indices and ties (stable sorts), NaN, integer dtypes, ops without gradient, and errors.
"""
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as DF
from _opcheck import (DERIV_TOL, Case, assert_same, avoiding, fixed, nonzero, normal, positive, torch, torch_func,
                      unit)

# torch.func.jvp imports modules that call the deprecated torch.jit.script (PyTorch's own warning)
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

S = (2, 3, 4)
_I64 = np.int64


def _lib(x):
    return dg if isinstance(x, dg.Tensor) else torch


def _t(array, like):
    """``array`` as a constant tensor of ``like``'s library (index and mask arguments of cases)."""
    return _lib(like).tensor(array)


def same(op, label, fn, shapes, kinds=normal, **kw):
    """A case whose deepgrad and torch functions are one expression, written once for both libraries
    (``fn(lib, *xs)``)."""
    return Case(op, label, lambda *xs: fn(dg, *xs), lambda *xs: fn(torch, *xs), shapes, kinds, **kw)


ROUNDING_SAFE = avoiding(*np.arange(-4.0, 4.5, 0.5), gap=0.02)   # away from integers and halves

POINTWISE = [
    same("sinh", "", lambda L, x: L.sinh(x), (S,)),
    same("cosh", "", lambda L, x: x.cosh(), (S,)),
    same("asin", "", lambda L, x: L.asin(x), (S,), unit),
    same("acos", "", lambda L, x: x.acos(), (S,), unit),
    same("atan", "", lambda L, x: L.atan(x), (S,)),
    same("log2", "", lambda L, x: L.log2(x), (S,), positive),
    same("log10", "", lambda L, x: x.log10(), (S,), positive),
    same("rsqrt", "", lambda L, x: L.rsqrt(x), (S,), positive),
    same("reciprocal", "", lambda L, x: x.reciprocal(), (S,), nonzero),
    same("square", "", lambda L, x: L.square(x), (S,)),
    same("tan", "", lambda L, x: L.tan(x), (S,), unit),
    same("exp2", "", lambda L, x: x.exp2(), (S,)),
    same("logit", "", lambda L, x: L.logit(x), (S,), lambda r, s: r.uniform(0.05, 0.95, s)),
    same("logit", "eps", lambda L, x: x.logit(eps=0.2), (S,),          # x = n / 4 + 0.5 away from 0.2 and 0.8
         lambda r, s: avoiding(-1.2, 1.2)(r, s) / 4 + 0.5),
    same("clamp_min", "", lambda L, x: L.clamp_min(x, 0.2), (S,), avoiding(0.2)),
    same("clamp_max", "", lambda L, x: x.clamp_max(-0.1), (S,), avoiding(-0.1)),
    same("true_divide", "", lambda L, a, b: L.true_divide(a, b), ((2, 3), (3,)), (normal, nonzero)),
    same("addcmul", "", lambda L, x, a, b: L.addcmul(x, a, b, value=0.5), ((2, 3), (3,), (2, 1))),
    same("addcdiv", "", lambda L, x, a, b: x.addcdiv(a, b), ((2, 3), (2, 3), (3,)), (normal, normal, nonzero)),
    same("floor", "", lambda L, x: L.floor(x), (S,), ROUNDING_SAFE),
    same("ceil", "", lambda L, x: x.ceil(), (S,), ROUNDING_SAFE),
    same("trunc", "", lambda L, x: L.trunc(x), (S,), ROUNDING_SAFE),
    same("round", "", lambda L, x: L.round(x), (S,), ROUNDING_SAFE),
    same("round", "decimals=1", lambda L, x: x.round(decimals=1), (S,), lambda r, s: ROUNDING_SAFE(r, s) / 10),
    same("sign", "", lambda L, x: L.sign(x), (S,), nonzero),
    same("atan2", "bcast", lambda L, y, x: L.atan2(y, x), ((2, 3), (3,)), (normal, nonzero)),
    same("atan2", "method", lambda L, y, x: y.atan2(x), ((3,), (3,))),
    same("remainder", "bcast", lambda L, a, b: L.remainder(a, b), ((2, 3), (3,)), (normal, positive)),
    same("remainder", "neg-divisor", lambda L, a, b: a.remainder(-b), ((2, 3), (2, 3)), (normal, positive)),
    same("remainder", "%-number", lambda L, a: a % 0.7, ((2, 3),)),
    same("fmod", "bcast", lambda L, a, b: L.fmod(a, b), ((2, 3), (2, 1)), (normal, positive)),
    same("lerp", "tensor-weight", lambda L, a, b, w: L.lerp(a, b, w), ((2, 3), (3,), (2, 3)),
         (normal, normal, unit)),
    same("lerp", "0.3", lambda L, a, b: a.lerp(b, 0.3), ((2, 3), (2, 3))),
    same("lerp", "0.8", lambda L, a, b: L.lerp(a, b, 0.8), ((2, 3), (2, 3))),
    same("nan_to_num", "finite", lambda L, x: L.nan_to_num(x), (S,)),
]

_ZEROS1 = fixed([[1.5, 0.0, 2.0, -1.0], [0.5, -2.0, 1.5, 3.0]])     # one zero in a row
_ZEROS2 = fixed([[1.5, 0.0, 2.0, 0.0], [0.0, 0.0, 1.5, 3.0]])       # two per row
SCAN = [
    same("cumsum", "dim=0", lambda L, x: L.cumsum(x, 0), (S,)),
    same("cumsum", "dim=-1", lambda L, x: x.cumsum(-1), (S,)),
    same("cumsum", "0d", lambda L, x: L.cumsum(x, dim=0), ((),)),
    same("cumprod", "dim=1", lambda L, x: L.cumprod(x, 1), (S,), nonzero),
    same("cumprod", "dim=-1", lambda L, x: x.cumprod(-1), (S,), nonzero),
    same("cumprod", "one-zero", lambda L, x: L.cumprod(x, 1), ((2, 4),), _ZEROS1, smooth=False),
    same("cumprod", "two-zeros", lambda L, x: L.cumprod(x, -1), ((2, 4),), _ZEROS2, smooth=False),
    same("cumprod", "zeros-dim0", lambda L, x: L.cumprod(x, 0), ((2, 4),), _ZEROS2, smooth=False),
]

_GATHER_IDX = np.array([[[0, 2, 1, 0], [1, 1, 0, 2]], [[2, 0, 0, 1], [0, 2, 2, 2]]], _I64)    # (2, 2, 4) into dim 1
_SCATTER_IDX = np.array([[[0, 2], [1, 0], [2, 1]], [[1, 3], [0, 2], [3, 0]]], _I64)            # (2, 3, 2) into dim 2
_MASK = np.random.default_rng(5).random(S) > 0.5
SELECTION = [
    same("gather", "dim=1", lambda L, x: L.gather(x, 1, _t(_GATHER_IDX, x)), (S,)),
    same("gather", "dim=-1-smaller", lambda L, x: x.gather(-1, _t(_GATHER_IDX[:, :, :3] % 3, x)), (S,)),
    same("gather", "dim=0", lambda L, x: L.gather(x, 0, _t(_GATHER_IDX[:, :, :2] % 2, x)), (S,)),
    same("scatter_add", "dim=2", lambda L, x, s: L.scatter_add(x, 2, _t(_SCATTER_IDX, x), s), (S, (2, 3, 2))),
    same("scatter_add", "repeats", lambda L, x, s: x.scatter_add(2, _t(_SCATTER_IDX * 0, x), s), (S, (2, 3, 2))),
    same("scatter", "src", lambda L, x, s: L.scatter(x, 2, _t(_SCATTER_IDX, x), s), (S, (2, 3, 2))),
    same("scatter", "number", lambda L, x: x.scatter(2, _t(_SCATTER_IDX, x), 1.5), (S,)),
    same("index_select", "dim=1", lambda L, x: L.index_select(x, 1, _t([2, 0, 2], x)), (S,)),
    same("index_select", "dim=-1", lambda L, x: x.index_select(-1, _t([3, 1], x)), (S,)),
    same("masked_fill", "number", lambda L, x: L.masked_fill(x, _t(_MASK, x), -2.5), (S,)),
    same("masked_fill", "0d-value-bcast", lambda L, x, v: x.masked_fill(_t(_MASK[0, :, :1], x), v), (S, ())),
    same("masked_select", "bcast", lambda L, x: L.masked_select(x, _t(_MASK[0], x)), (S,)),
    same("where", "method", lambda L, x, y: x.where(_t(_MASK, x), y), (S, (4,))),
]


def _values(fn):
    return lambda *a, **k: fn(*a, **k).values


SORTING = [
    same("sort", "dim=-1", lambda L, x: L.sort(x).values, (S,)),
    same("sort", "dim=1-desc", lambda L, x: x.sort(1, descending=True).values, (S,)),
    same("sort", "0d", lambda L, x: L.sort(x, 0).values, ((),)),
    same("topk", "k=2", lambda L, x: L.topk(x, 2).values, (S,)),
    same("topk", "smallest-dim0", lambda L, x: x.topk(1, 0, largest=False).values, (S,)),
    same("kthvalue", "k=2", lambda L, x: L.kthvalue(x, 2, 1).values, (S,)),
    same("kthvalue", "keepdim", lambda L, x: x.kthvalue(3, -1, keepdim=True).values, (S,)),
    same("median", "all", lambda L, x: L.median(x), (S,)),
    same("median", "dim=1", lambda L, x: x.median(1).values, (S,)),
    same("median", "dim=-1-keep", lambda L, x: L.median(x, -1, keepdim=True).values, (S,)),
    same("mode", "dim=-1", lambda L, x: L.mode(x).values, (S,)),            # distinct values: the smallest
    same("mode", "dim=0-keep", lambda L, x: x.mode(0, keepdim=True).values, (S,)),
    same("quantile", "all", lambda L, x: L.quantile(x, 0.3), (S,)),
    same("quantile", "dim=1", lambda L, x: x.quantile(0.75, 1), (S,)),
    same("quantile", "q-tensor-keep", lambda L, x: L.quantile(x, _t([0.1, 0.5, 1.0], x).to(x.dtype), -1,
                                                             keepdim=True), (S,)),
] + [same("quantile", how, lambda L, x, h=how: L.quantile(x, 0.4, 1, interpolation=h), (S,))
     for how in ("lower", "higher", "midpoint", "nearest")]

LAYOUT = [
    same("chunk", "3", lambda L, x: L.chunk(x, 3, -1), (S,)),
    same("chunk", "method-dim1", lambda L, x: x.chunk(2, 1), (S,)),
    same("unbind", "dim=1", lambda L, x: L.unbind(x, 1), (S,)),
    same("unbind", "method", lambda L, x: x.unbind(), (S,)),
    same("unflatten", "", lambda L, x: L.unflatten(x, -1, (2, -1)), (S,)),
    same("unflatten", "method", lambda L, x: x.unflatten(1, (1, 3, 1)), (S,)),
    same("narrow", "", lambda L, x: L.narrow(x, -1, 1, 2), (S,)),
    same("narrow", "negative-start", lambda L, x: x.narrow(1, -2, 2), (S,)),
    same("movedim", "int", lambda L, x: L.movedim(x, 0, -1), (S,)),
    same("movedim", "tuple", lambda L, x: x.movedim((0, 2), (1, 0)), (S,)),
    same("t", "2d", lambda L, x: L.t(x), ((2, 3),)),
    same("t", "method-1d", lambda L, x: x.t() * 2, ((3,),)),
    same("repeat", "", lambda L, x: x.repeat(2, 1, 3), ((2, 3),)),
    same("repeat", "same-ndim", lambda L, x: x.repeat(1, 2, 1), (S,)),
    same("tile", "", lambda L, x: L.tile(x, (2,)), ((2, 3),)),
    same("roll", "dims", lambda L, x: L.roll(x, (1, -2), (0, 2)), (S,)),
    same("roll", "flat", lambda L, x: x.roll(5), (S,)),
    same("tril", "", lambda L, x: L.tril(x), (S,)),
    same("tril", "-1", lambda L, x: x.tril(-1), ((4, 3),)),
    same("triu", "1", lambda L, x: L.triu(x, 1), (S,)),
    same("triu", "method", lambda L, x: x.triu(), ((3, 3),)),
    same("diagonal", "", lambda L, x: L.diagonal(x), ((3, 4),)),
    same("diagonal", "offset-dims", lambda L, x: x.diagonal(1, 2, 0), (S,)),
    same("diagonal", "negative-offset", lambda L, x: L.diagonal(x, -1, -2, -1), (S,)),
    same("diag", "vector", lambda L, x: L.diag(x), ((3,),)),
    same("diag", "vector-offset", lambda L, x: L.diag(x, -2), ((3,),)),
    same("diag", "matrix", lambda L, x: x.diag(1), ((3, 4),)),
    Case("trace", "method", lambda x: x.trace(), lambda x: x.trace(), ((3, 4),)),
    same("meshgrid", "ij", lambda L, a, b: L.meshgrid(a, b, indexing="ij"), ((3,), (2,))),
    same("meshgrid", "xy", lambda L, a, b, c: L.meshgrid([a, b, c], indexing="xy"), ((3,), (2,), (4,))),
    same("view_as", "", lambda L, x: x.view_as(L.zeros(4, 6)), (S,)),
    Case("type_as", "", lambda x: x.type_as(dg.zeros(1, dtype=dg.float64)) * x,
         lambda x: x.type_as(torch.zeros(1, dtype=torch.float64)) * x, (S,), smooth=False),
]

PRODUCTS = [
    same("mm", "", lambda L, a, b: L.mm(a, b), ((2, 3), (3, 4))),
    same("bmm", "", lambda L, a, b: a.bmm(b), ((2, 2, 3), (2, 3, 4))),
    same("mv", "", lambda L, a, v: L.mv(a, v), ((2, 3), (3,))),
    same("dot", "", lambda L, a, b: a.dot(b), ((3,), (3,))),
    same("outer", "", lambda L, a, b: L.outer(a, b), ((3,), (2,))),
    same("addmm", "", lambda L, c, a, b: L.addmm(c, a, b), ((4,), (2, 3), (3, 4))),
    same("addmm", "beta-alpha", lambda L, c, a, b: c.addmm(a, b, beta=0.5, alpha=-2), ((2, 4), (2, 3), (3, 4))),
    same("addmm", "beta=0", lambda L, c, a, b: L.addmm(c, a, b, beta=0), ((2, 1), (2, 3), (3, 4))),
    same("baddbmm", "", lambda L, c, a, b: L.baddbmm(c, a, b, alpha=0.5), ((3, 4), (2, 3, 2), (2, 2, 4))),
] + [same("einsum", spec, lambda L, *xs, s=spec: L.einsum(s, *xs), shapes) for spec, shapes in [
    ("ij,jk->ik", ((2, 3), (3, 4))),
    ("bij,bjk->bik", ((2, 2, 3), (2, 3, 2))),
    ("ii->i", ((3, 3),)),
    ("ii", ((3, 3),)),
    ("iji->j", ((3, 2, 3),)),
    ("ij->", ((2, 3),)),
    ("ij->j", ((2, 3),)),
    ("i,i", ((3,), (3,))),
    ("i,j->ij", ((3,), (2,))),
    ("ij,jk", ((2, 3), (3, 4))),
    ("ij,ij->i", ((2, 3), (2, 3))),
    ("ij,jk,kl->il", ((2, 3), (3, 4), (4, 2))),
    ("...ij->...ji", (S,)),
    ("...ij,...jk->...ik", ((2, 1, 2, 3), (3, 3, 4))),
    ("bi,i->b", ((2, 1), (3,))),
]]

NORMS = [
    same("norm", "", lambda L, x: L.norm(x), (S,)),
    same("norm", "p=1-dim", lambda L, x: x.norm(1, 1), (S,), nonzero),
    same("norm", "inf", lambda L, x: L.norm(x, float("inf"), -1), (S,)),
    same("norm", "-inf", lambda L, x: L.norm(x, -math.inf, (0, 2)), (S,)),
    same("norm", "p=3-keep", lambda L, x: x.norm(3, (0, 1), keepdim=True), (S,), nonzero),
    same("norm", "fro-dims", lambda L, x: L.norm(x, "fro", (1, 2)), (S,)),
    same("norm", "p=0.5", lambda L, x: L.norm(x, 0.5, 0), (S,), nonzero),
    same("std_mean", "", lambda L, x: L.std_mean(x), (S,)),
    same("std_mean", "dim", lambda L, x: L.std_mean(x, 1, keepdim=True), (S,)),
    same("var_mean", "dim-correction", lambda L, x: L.var_mean(x, (0, 2), correction=0), (S,)),
]

API_CASES = POINTWISE + SCAN + SELECTION + SORTING + LAYOUT + PRODUCTS + NORMS

# The differentiable ops of the API files, each of which must have a case above.
API_OPS = ("sinh cosh asin acos atan log2 log10 rsqrt reciprocal square floor ceil trunc round sign atan2 remainder "
           "fmod lerp nan_to_num tan exp2 logit clamp_min clamp_max true_divide addcmul addcdiv unflatten cumsum "
           "cumprod gather scatter_add scatter index_select masked_fill masked_select sort topk kthvalue median mode "
           "quantile chunk unbind narrow movedim t repeat tile roll tril triu diagonal diag trace meshgrid view_as "
           "type_as mm bmm mv dot outer addmm baddbmm einsum norm std_mean var_mean")


def test_every_api_op_has_a_case():
    covered = {c.op for c in API_CASES}
    assert not [op for op in API_OPS.split() if op not in covered]


# ----------------------------------------------------------------------------- values, indices, ties, NaN
def both(array, dtype=None):
    return dg.tensor(array, dtype=dtype), torch.tensor(array, dtype=getattr(torch, dtype) if dtype else None)


def agree(actual, expected):
    """Equal structure, shapes, dtypes and values (NaN equal to NaN)."""
    assert_same(actual, expected, dict(rtol=1e-6, atol=0, equal_nan=True), "value")


TIES = [[2.0, 1.0, 2.0, 1.0, 3.0, 1.0], [0.0, 0.0, -1.0, 5.0, 5.0, 0.0]]
WITH_NAN = [[1.0, math.nan, -2.0, 3.0, math.nan], [4.0, 0.5, 0.5, -1.0, 2.0]]


@pytest.mark.parametrize("data", [TIES, WITH_NAN], ids=["ties", "nan"])
@pytest.mark.parametrize("dim", [-1, 0])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_and_argsort_are_stable_and_put_nan_last_like_torch(data, dim, descending):
    x, tx = both(data)
    agree(dg.sort(x, dim, descending), torch.sort(tx, dim=dim, descending=descending, stable=True))
    agree(x.argsort(dim, descending=descending), torch.argsort(tx, dim=dim, descending=descending, stable=True))
    assert type(dg.sort(x)).__name__ == "ValuesIndices" and dg.sort(x).indices.dtype == dg.int64


@pytest.mark.parametrize("dtype", ["int64", "uint8", "bool"])
def test_sort_of_integer_and_bool_tensors(dtype):
    x, tx = both([[3, 0, 1, 1], [2, 2, 0, 1]], dtype)
    for descending in (False, True):
        agree(x.sort(-1, descending=descending), torch.sort(tx, dim=-1, descending=descending, stable=True))


def test_topk_kthvalue_median_mode_values_and_indices():
    rng = np.random.default_rng(0)
    x, tx = both(rng.permutation(24).reshape(2, 3, 4).astype(np.float32))   # distinct values
    for k, dim, largest in ((2, -1, True), (3, 1, False), (0, 0, True), (4, 2, True)):
        agree(dg.topk(x, k, dim, largest), torch.topk(tx, k, dim, largest))
    for k, dim, keep in ((1, -1, False), (3, 1, True), (2, 0, False)):
        agree(x.kthvalue(k, dim, keepdim=keep), tx.kthvalue(k, dim, keepdim=keep))
    for dim, keep in ((0, False), (1, True), (-1, False)):
        agree(x.median(dim, keepdim=keep), tx.median(dim, keepdim=keep))
    agree(dg.median(x), torch.median(tx))


def test_nan_in_topk_median_quantile_like_torch():
    x, tx = both(WITH_NAN)
    agree(dg.topk(x, 2), torch.topk(tx, 2))
    agree(dg.median(x, 1), torch.median(tx, 1))
    agree(dg.median(x), torch.median(tx))
    agree(dg.quantile(x, 0.5, 1), torch.quantile(tx, 0.5, 1))
    q, tq = both([0.2, 0.9])
    agree(dg.quantile(x, q, 0), torch.quantile(tx, tq, 0))


def test_ties_give_torchs_values_and_the_positions_of_a_stable_sort():
    """PyTorch leaves which of equal elements topk, kthvalue and mode return unspecified (its CPU kernels
    differ from run to run of the inputs' layout); here it is the one a stable sort puts there."""
    x, tx = both(TIES)
    i, ti = both([[3, 1, 1, 3, 2], [0, 4, 4, 0, 0]])
    agree(dg.median(i, 1), torch.median(ti, 1))
    for a, ta, expected in ((x, tx, {"kthvalue": [5, 1], "mode": [5, 5], "topk": [[4, 0], [3, 4]]}),
                            (i, ti, {"kthvalue": [4, 4], "mode": [2, 4], "topk": [[0, 3], [1, 2]]})):
        for name, call in (("kthvalue", lambda L, a: L.kthvalue(a, 3, 1)), ("mode", lambda L, a: L.mode(a, 1)),
                           ("topk", lambda L, a: L.topk(a, 2, 1))):
            values, indices = call(dg, a)
            agree(values, call(torch, ta).values)
            assert indices.tolist() == expected[name], name
            agree(a.gather(1, indices.reshape(2, -1)), values.reshape(2, -1))


@pytest.mark.parametrize("q", [0.0, 0.37, 1.0, [0.25, 0.5, 0.8]])
@pytest.mark.parametrize("how", ["linear", "lower", "higher", "midpoint", "nearest"])
def test_quantile_matches_torch(q, how):
    x, tx = both(np.random.default_rng(1).standard_normal((3, 5)))
    qd, qt = both(q, "float64") if isinstance(q, list) else (q, q)
    for dim, keep in ((None, False), (None, True), (1, False), (0, True)):
        agree(dg.quantile(x, qd, dim, keep, interpolation=how), torch.quantile(tx, qt, dim, keep, interpolation=how))


def test_unique_matches_torch():
    x, tx = both([[2, 1, 2], [0, 1, 2], [2, 1, 2]])
    agree(dg.unique(x), torch.unique(tx))
    agree(x.unique(return_inverse=True, return_counts=True), tx.unique(return_inverse=True, return_counts=True))
    agree(dg.unique(x, return_counts=True, dim=0), torch.unique(tx, return_counts=True, dim=0))
    agree(dg.unique(x, return_inverse=True, dim=1), torch.unique(tx, return_inverse=True, dim=1))


def test_selection_without_gradient_matches_torch():
    x, tx = both([[0.0, 1.5, 0.0], [-2.0, 0.0, 3.0]])
    agree(dg.nonzero(x), torch.nonzero(tx))
    agree(x.nonzero(as_tuple=True), tx.nonzero(as_tuple=True))
    agree(dg.argwhere(x), torch.argwhere(tx))
    agree(dg.where(x > 0), torch.where(tx > 0))
    agree(dg.nonzero(dg.tensor(2.0)), torch.nonzero(torch.tensor(2.0)))
    c, tc = both([1, 3, 3, 0, 3])
    agree(dg.bincount(c), torch.bincount(tc))
    agree(c.bincount(minlength=7), tc.bincount(minlength=7))
    w, tw = both([0.5, 1.0, 2.0, 1.0, 0.25])
    agree(dg.bincount(c, w), torch.bincount(tc, tw))
    agree(dg.bincount(c, dg.tensor([1, 2, 3, 4, 5])), torch.bincount(tc, torch.tensor([1, 2, 3, 4, 5])))
    agree(DF.one_hot(c), torch.nn.functional.one_hot(tc))
    agree(dg.one_hot(c.reshape(5, 1), 6), torch.nn.functional.one_hot(tc.reshape(5, 1), 6))


def test_value_tests_match_torch():
    special = [[math.nan, math.inf, -math.inf, 0.0, -1.5]]
    x, tx = both(special)
    for name in ("isnan", "isinf", "isfinite", "isposinf", "isneginf"):
        agree(getattr(dg, name)(x), getattr(torch, name)(tx))
        agree(getattr(dg, name)(dg.tensor([1, 2])), getattr(torch, name)(torch.tensor([1, 2])))
    agree(dg.nan_to_num(x), torch.nan_to_num(tx))
    agree(x.nan_to_num(1.0, posinf=5.0, neginf=-7.0), tx.nan_to_num(1.0, posinf=5.0, neginf=-7.0))
    b, tb = both([[0, 2, 0], [1, 1, 0]], "uint8")
    for dim, keep in ((None, False), (0, False), (-1, True), ((0, 1), False)):
        agree(dg.any(b, dim, keep), torch.any(tb, dim, keepdim=keep))
        agree(x.all(dim, keep), tx.all(dim, keepdim=keep) if dim is not None else tx.all())


def test_nan_to_num_gradient_is_zero_at_replaced_elements_like_torch():
    x = np.array([1.0, math.inf, math.nan, -math.inf, -2.0])
    w = np.array([1.0, 2, 3, 4, 5])
    g = dg.grad(lambda x: (dg.nan_to_num(x, posinf=9.0, neginf=-9.0) * dg.tensor(w)).sum())(dg.tensor(x))
    tg = torch_func.grad(lambda x: (torch.nan_to_num(x, posinf=9.0, neginf=-9.0) * torch.tensor(w)).sum())(
        torch.tensor(x))
    agree(g, tg)


@pytest.mark.parametrize("dtype", ["int64", "int32", "bool", "uint8"])
def test_integer_dtypes_follow_torch(dtype):
    data = {"bool": [[1, 0, 1], [1, 1, 0]], "uint8": [[3, 2, 7], [0, 5, 4]]}.get(dtype, [[3, -2, 7], [0, 5, -4]])
    x, tx = both(data, dtype)
    agree(dg.cumsum(x, 1), torch.cumsum(tx, 1))
    agree(x.cumprod(0), tx.cumprod(0))
    agree(dg.sign(x), torch.sign(tx))
    for name in ("floor", "ceil", "trunc", "round"):
        if dtype != "bool":
            agree(getattr(dg, name)(x), getattr(torch, name)(tx))
    for name in ("sinh", "atan", "rsqrt", "reciprocal", "log2"):
        agree(getattr(dg, name)(x), getattr(torch, name)(tx))
    if dtype != "bool":
        agree(dg.remainder(x, 3), torch.remainder(tx, 3))
        agree(x.fmod(-3), tx.fmod(-3))
        agree(dg.square(x), torch.square(tx))


def test_logical_ops_floor_divide_and_count_nonzero_match_torch():
    a, ta = both([[0, 3, -2], [1, 0, 0]])
    b, tb = both([True, False, True])
    f, tf = both([-7.5, 0.0, 2.0, 7.5])
    for name in ("logical_not", "bitwise_not"):
        agree(getattr(dg, name)(a), getattr(torch, name)(ta))
        agree(getattr(b, name)(), getattr(tb, name)())
    for name in ("logical_and", "logical_or", "logical_xor"):
        agree(getattr(dg, name)(a, b), getattr(torch, name)(ta, tb))
        agree(getattr(a, name)(f[:3]), getattr(ta, name)(tf[:3]))
    for dim in (None, 0, (0, 1), -1):
        agree(dg.count_nonzero(a, dim), torch.count_nonzero(ta, dim))
    for x, tx in ((a, ta), (f, tf)):
        agree(x // 2, tx // 2)
        agree(dg.floor_divide(x, -4), torch.floor_divide(tx, -4))
        agree(7 // x[x != 0], 7 // tx[tx != 0])
    with pytest.raises(ZeroDivisionError, match="floor_divide"):
        a // 0
    with pytest.raises(TypeError, match="bool or integer"):
        dg.bitwise_not(f)


def test_remainder_and_fmod_signs_and_python_operator():
    a, ta = both([-7.5, -3.0, 2.0, 7.5])
    agree(a % 2, ta % 2)
    agree(5 % dg.tensor([3, -3]), 5 % torch.tensor([3, -3]))
    agree(dg.remainder(a, -2.0), torch.remainder(ta, -2.0))
    agree(dg.fmod(a, -2.0), torch.fmod(ta, -2.0))
    with pytest.raises(ZeroDivisionError, match="remainder"):
        dg.remainder(dg.tensor([1, 2]), 0)


def test_rounding_halves_to_even_and_keeps_a_zero_gradient():
    x, tx = both([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.125, 0.135])
    agree(dg.round(x), torch.round(tx))
    agree(x.round(decimals=2), tx.round(decimals=2))
    y = dg.tensor([0.3, 1.7], requires_grad=True)
    (dg.floor(y) + dg.ceil(y) + dg.round(y) + dg.trunc(y) + dg.sign(y)).sum().backward()
    assert y.grad.tolist() == [0.0, 0.0]


def test_norm_gradient_at_zero_is_zero_like_torch():
    for p in (2, "fro", 3.0):
        g = dg.grad(lambda x: dg.norm(x, p))(dg.zeros(3, dtype=dg.float64))
        tg = torch_func.grad(lambda x: torch.norm(x, p))(torch.zeros(3, dtype=torch.float64))
        agree(g, tg)
    x, tx = both([[1.0, -3.0, 3.0], [0.0, 0.0, 0.0]])
    agree(dg.norm(x, 0, 1), torch.norm(tx, 0, 1))
    w = np.array([2.0, 3.0])
    _, fn = dg.vjp(lambda x: dg.norm(x, math.inf, 1), x)
    _, tfn = torch_func.vjp(lambda x: torch.norm(x, math.inf, 1), tx)
    agree(fn(dg.tensor(w, dtype=dg.float32)), tfn(torch.tensor(w, dtype=torch.float32)))   # ties share


def test_cumsum_and_cumprod_at_zeros_have_torch_hessians():
    x = np.array([2.0, 0.0, -1.5, 0.0, 3.0])
    w = np.array([0.5, -1.0, 2.0, 1.5, -0.5])
    for fn in ("cumprod", "cumsum"):
        h = dg.hessian(lambda x: (getattr(dg, fn)(x, 0) * dg.tensor(w)).sum())(dg.tensor(x))
        th = torch_func.hessian(lambda x: (getattr(torch, fn)(x, 0) * torch.tensor(w)).sum())(torch.tensor(x))
        assert_same(h, th, DERIV_TOL[np.float64], fn)


def test_layout_results_match_torch():
    x, tx = both(np.arange(24.0).reshape(2, 3, 4))
    agree(dg.chunk(x, 5, 2), torch.chunk(tx, 5, 2))        # fewer pieces than asked, as torch
    agree(dg.chunk(dg.zeros(0), 3), torch.chunk(torch.zeros(0), 3))
    agree(x.repeat(2, 1, 1, 2), tx.repeat(2, 1, 1, 2))
    agree(dg.tile(x, (2, 1, 1, 1)), torch.tile(tx, (2, 1, 1, 1)))
    agree(x.diagonal(0, -1, 1), tx.diagonal(0, -1, 1))
    agree(dg.diag(dg.tensor([1, 2])), torch.diag(torch.tensor([1, 2])))
    agree(x[0].trace(), tx[0].trace())
    agree(dg.meshgrid(dg.tensor([1, 2]), dg.tensor(5), indexing="xy"),
          torch.meshgrid(torch.tensor([1, 2]), torch.tensor(5), indexing="xy"))
    assert dg.zeros(1).type() == "deepgrad.FloatTensor" and dg.tensor([1]).type() == "deepgrad.LongTensor"
    assert x.type(dg.float64).dtype == dg.float64 and x.type("torch.IntTensor").dtype == dg.int32


EDGE = {   # on an empty (0, 3) tensor and a 0-d tensor
    "sort": lambda L, x: L.sort(x, 0).values, "cumsum": lambda L, x: L.cumsum(x, 0),
    "cumprod": lambda L, x: L.cumprod(x, -1), "topk": lambda L, x: L.topk(x, 0, 0),
    "gather": lambda L, x: L.gather(x, -1, L.zeros((0,) * x.ndim, dtype=L.int64)), "norm": lambda L, x: L.norm(x),
    "einsum": lambda L, x: L.einsum("...->", x), "roll": lambda L, x: L.roll(x, 2),
    "repeat": lambda L, x: x.repeat(2, *x.shape), "unbind": lambda L, x: L.unbind(x.reshape(-1), 0),
    "masked_select": lambda L, x: L.masked_select(x, x > 0), "nonzero": lambda L, x: L.nonzero(x),
    "any": lambda L, x: L.any(x, 0), "median": lambda L, x: L.median(x, -1), "kthvalue": lambda L, x: L.kthvalue(x, 1, -1),
    "mode": lambda L, x: L.mode(x, -1, keepdim=True), "argsort": lambda L, x: L.argsort(x, 0),
    "count_nonzero": lambda L, x: L.count_nonzero(x), "unique": lambda L, x: L.unique(x, return_counts=True),
    "scatter_add": lambda L, x: L.scatter_add(x, 0, L.zeros(x.shape, dtype=L.int64), x),
}


@pytest.mark.parametrize("shape", [(0, 3), ()], ids=["empty", "0d"])
@pytest.mark.parametrize("name", EDGE)
def test_empty_and_zero_dim_inputs_match_torch(name, shape):
    x, tx = both(np.full(shape, 1.5, np.float32))
    agree(EDGE[name](dg, x), EDGE[name](torch, tx))


ERRORS = [
    (lambda: dg.gather(dg.zeros(2, 3), 1, dg.tensor([[0]], dtype=dg.int32)), TypeError, "int64"),
    (lambda: dg.gather(dg.zeros(2, 3), 1, dg.tensor([[3]])), IndexError, r"\[0, 3\)"),
    (lambda: dg.gather(dg.zeros(2, 3), 1, dg.tensor([0, 1])), ValueError, "dims"),
    (lambda: dg.gather(dg.zeros(2, 3), 1, dg.tensor([[0], [1], [0]])), ValueError, "larger"),
    (lambda: dg.scatter(dg.zeros(2), 0, dg.tensor([0])), TypeError, "one of src"),
    (lambda: dg.scatter(dg.zeros(2), 0, dg.tensor([0]), 1.0, reduce="max"), ValueError, "reduce"),
    (lambda: dg.masked_fill(dg.zeros(2), dg.tensor([1, 0]), 1.0), TypeError, "bool"),
    (lambda: dg.masked_fill(dg.zeros(2), dg.tensor([True, False]), dg.zeros(2)), ValueError, "0-dim"),
    (lambda: dg.masked_select(dg.zeros(2), dg.tensor([True, False, True])), ValueError, "broadcast"),
    (lambda: dg.index_select(dg.zeros(2, 3), 1, dg.tensor([[0]])), TypeError, "1-D"),
    (lambda: dg.one_hot(dg.tensor([0.0])), TypeError, "int64"),
    (lambda: dg.one_hot(dg.tensor([3]), 3), ValueError, "num_classes"),
    (lambda: dg.one_hot(dg.tensor([-1])), ValueError, "non-negative"),
    (lambda: dg.bincount(dg.tensor([[1]])), TypeError, "1-D"),
    (lambda: dg.bincount(dg.tensor([-1])), ValueError, "non-negative"),
    (lambda: dg.topk(dg.zeros(3), 4), ValueError, r"\[0, 3\]"),
    (lambda: dg.kthvalue(dg.zeros(3), 0), ValueError, r"\[1, 3\]"),
    (lambda: dg.sort(dg.zeros(3), 1), ValueError, "out of range"),
    (lambda: dg.median(dg.zeros(0)), ValueError, "size 0"),
    (lambda: dg.mode(dg.zeros(2, 0)), ValueError, "size 0"),
    (lambda: dg.quantile(dg.zeros(3), 1.5), ValueError, r"\[0, 1\]"),
    (lambda: dg.quantile(dg.tensor([1, 2]), 0.5), TypeError, "floating"),
    (lambda: dg.quantile(dg.zeros(2), dg.tensor(0.5, dtype=dg.float64)), TypeError, "q must have"),
    (lambda: dg.quantile(dg.zeros(3), 0.5, interpolation="cubic"), ValueError, "interpolation"),
    (lambda: dg.cumsum(dg.zeros(3)), TypeError, "dim is required"),
    (lambda: dg.chunk(dg.zeros(3), 0), ValueError, "positive"),
    (lambda: dg.narrow(dg.zeros(3), 0, 2, 2), ValueError, "exceeds"),
    (lambda: dg.movedim(dg.zeros(2, 3), (0, 1), 0), ValueError, "same number"),
    (lambda: dg.t(dg.zeros(2, 3, 4)), ValueError, "at most 2"),
    (lambda: dg.repeat(dg.zeros(2, 3), 2), ValueError, "at least one per dimension"),
    (lambda: dg.roll(dg.zeros(2, 3), (1, 2)), ValueError, "one int"),
    (lambda: dg.roll(dg.tensor(1.0), 1, 0), ValueError, "0-dimensional"),
    (lambda: dg.unbind(dg.tensor(1.0)), ValueError, "0-dimensional"),
    (lambda: dg.tril(dg.zeros(3)), ValueError, "at least 2"),
    (lambda: dg.diagonal(dg.zeros(2, 3), 0, 1, -1), ValueError, "differ"),
    (lambda: dg.diag(dg.zeros(2, 3, 4)), ValueError, "1-D or 2-D"),
    (lambda: dg.zeros(2, 3, 4).trace(), ValueError, "matrix"),
    (lambda: dg.meshgrid(dg.zeros(2), dg.zeros(2), indexing="ab"), ValueError, "indexing"),
    (lambda: dg.unflatten(dg.zeros(2, 6), 1, (4, -1)), ValueError, "multiply"),
    (lambda: dg.unflatten(dg.zeros(2, 6), 1, (2, 2)), ValueError, "multiply"),
    (lambda: dg.logical_and(dg.zeros(2), dg.zeros(3)), ValueError, "broadcast"),
    (lambda: dg.mm(dg.zeros(3), dg.zeros(3, 2)), ValueError, "2-D"),
    (lambda: dg.bmm(dg.zeros(2, 2, 3), dg.zeros(3, 3, 2)), ValueError, "batch"),
    (lambda: dg.dot(dg.zeros(2), dg.zeros(3)), ValueError, "sizes"),
    (lambda: dg.addmm(dg.zeros(3, 2, 2), dg.zeros(2, 3), dg.zeros(3, 2)), ValueError, "broadcast"),
    (lambda: dg.einsum("ij,jk->ik", dg.zeros(2, 3)), ValueError, "operands"),
    (lambda: dg.einsum("ij->i", dg.zeros(2, 3, 4)), ValueError, "do not fit"),
    (lambda: dg.einsum("ij,jk->ik", dg.zeros(2, 3), dg.zeros(4, 2)), ValueError, "sizes 3 and 4"),
    (lambda: dg.einsum("ij->iz", dg.zeros(2, 3)), ValueError, "output"),
    (lambda: dg.einsum("i,i->", dg.zeros(2), dg.zeros(2, dtype=dg.float64)), TypeError, "dtype"),
    (lambda: dg.norm(dg.zeros(2), "nuc"), ValueError, "'nuc'"),
    (lambda: dg.norm(dg.tensor([1, 2])), TypeError, "floating"),
    (lambda: dg.lerp(dg.zeros(2), dg.zeros(2, dtype=dg.float64), 0.5), TypeError, "same dtype"),
    (lambda: dg.atan2(dg.zeros(2), dg.zeros(3)), ValueError, "broadcast"),
    (lambda: dg.round(dg.zeros(2), decimals=0.5), TypeError, "decimals"),
    (lambda: dg.zeros(2).type("torch.ComplexTensor"), TypeError, "unknown"),
]


@pytest.mark.parametrize("call,error,match", ERRORS, ids=[f"{i}-{e[2]}" for i, e in enumerate(ERRORS)])
def test_bad_arguments_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_functions_and_methods_exist_under_torchs_names():
    names = ("gather scatter scatter_add index_select masked_fill masked_select nonzero where topk sort argsort "
             "cumsum cumprod chunk unbind repeat tile roll tril triu norm isnan isinf isfinite nan_to_num eq ne lt "
             "le gt ge view_as type type_as t mm bmm mv dot outer addmm baddbmm unique bincount any all sign floor "
             "ceil round trunc remainder fmod sinh cosh asin acos atan atan2 log2 log10 rsqrt reciprocal square lerp "
             "narrow movedim diagonal diag trace median mode kthvalue quantile")
    for name in names.split():
        assert hasattr(torch.Tensor, name) and hasattr(dg.Tensor, name), name
        if name not in ("type", "trace", "repeat"):   # dg.trace is the static tracer; torch has no torch.type
            assert callable(getattr(dg, name)), name
    for name in ("einsum", "meshgrid", "std_mean", "var_mean"):
        assert callable(getattr(dg, name)) and callable(getattr(torch, name))
    assert DF.one_hot is dg.one_hot


def test_api_coverage_table_is_up_to_date():
    path = Path(__file__).resolve().parents[1] / "docs" / "api_coverage.py"
    spec = importlib.util.spec_from_file_location("api_coverage", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = module.render()
    assert module.TABLE.read_text() == text, "docs/api_coverage.md is out of date: run python docs/api_coverage.py"
    assert "| `gather` | yes | yes |" in text and "| `index_fill_` |  | **no** |" in text   # the marks mean what they say
