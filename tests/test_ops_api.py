"""The Tensor API ops PyTorch code reaches for (ops/pointwise, logical, scan, selection, sorting, layout,
products, norms) against PyTorch.

API_CASES is the table that test_ops_conformance.py runs through every generic check (forward values in
float32/float64, VJP, JVP, Hessian, gradcheck/gradgradcheck). The tests here cover what the table cannot:
indices and ties (stable sorts), NaN, integer dtypes, ops without gradient, and errors.
"""
import math

import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as DF
from _opcheck import (DERIV_TOL, FORWARD_TOL, Case, assert_same, avoiding, fixed, nonzero, normal, positive,
                      small_ints, torch, torch_func, unit)

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
    same("mode", "dim=-1", lambda L, x: L.mode(x).values, (S,), small_ints, smooth=False),
    same("mode", "dim=0-keep", lambda L, x: x.mode(0, keepdim=True).values, (S,), small_ints, smooth=False),
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
           "fmod lerp nan_to_num cumsum cumprod gather scatter_add scatter index_select masked_fill masked_select "
           "sort topk kthvalue median mode quantile chunk unbind narrow movedim t repeat tile roll tril triu "
           "diagonal diag trace meshgrid view_as type_as mm bmm mv dot outer addmm baddbmm einsum norm std_mean "
           "var_mean")


def test_every_api_op_has_a_case():
    covered = {c.op for c in API_CASES}
    assert not [op for op in API_OPS.split() if op not in covered]
