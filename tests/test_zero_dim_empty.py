"""Every primitive of deepgrad/ops on 0-dim and on empty inputs, against PyTorch (issue 17).

NumPy gives scalars, not 0-d arrays, for 0-d arithmetic, and many of its reductions refuse empty
arrays; either can hide in any primitive. CASES runs the public functions on shapes (), (0,), (2, 0),
(0, 3)... and compares values, VJPs (torch.func.vjp) and JVPs (torch.func.jvp) with the machinery of
_opcheck.py; every deepgrad result, cotangent and tangent must hold a NumPy array (``arrays_only``).
test_every_primitive_is_reached records the primitives the cases apply (forward, VJP and JVP) and
fails for any primitive class under deepgrad/ops that none of them reaches, so a primitive added
later needs a case here. ERRORS holds the inputs PyTorch refuses: deepgrad must refuse them too, with
an error naming the operation; nn.functional's refusal of an empty batch, which PyTorch accepts, is
a strict xfail until it is lifted. Two hypothesis properties draw broadcastable pairs with zero-size
axes for the binary ops and random axes for the reductions.
"""
import contextlib
import importlib
import math
import pkgutil
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import _opcheck
import deepgrad as dg
import deepgrad.nn.functional as F
import deepgrad.ops
from _opcheck import DTYPES, Case, avoiding, check_forward, check_jvp, check_vjp, nonzero, params, positive, torch
from deepgrad.autograd import function
from deepgrad.autograd.function import Primitive
from deepgrad.ops import conv as conv_ops
from deepgrad.ops import normalize as normalize_ops
from deepgrad.ops import pool as pool_ops

# torch.func.jvp imports modules that call the deprecated torch.jit.script (PyTorch's own warning)
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

TF = torch.nn.functional
EMPTY = [(0,), (2, 0), (0, 3)]
SHAPES = [()] + EMPTY


def _is_edge(shape):
    return shape == () or 0 in shape


# ----------------------------------------------------------------------------- arrays, never scalars
def assert_arrays(tree, what):
    for k, leaf in enumerate(_opcheck.leaves(tree)):
        if isinstance(leaf, dg.Tensor):
            assert type(leaf.array) is np.ndarray, f"{what}[{k}]: data is a {type(leaf.array).__name__}, not an array"


@pytest.fixture(autouse=True)
def arrays_only(monkeypatch):
    """Every comparison of _opcheck (outputs, primal outputs, cotangents, tangents) first checks that
    deepgrad's side holds NumPy arrays."""
    same = _opcheck.assert_same

    def checked(actual, expected, tol, what=""):
        assert_arrays(actual, what)
        same(actual, expected, tol, what)
    monkeypatch.setattr(_opcheck, "assert_same", checked)


def test_a_numpy_scalar_result_is_caught():
    t = dg.tensor(1.0)
    t.array = np.float32(1.0)    # what NumPy returns for 0-d arithmetic
    with pytest.raises(AssertionError, match="float32, not an array"):
        _opcheck.assert_same(t, torch.tensor(1.0), _opcheck.FORWARD_TOL[np.float32], "out")


# ----------------------------------------------------------------------------- the table
def _unary_cases():
    other = {dg.float32: dg.float64, dg.float64: dg.float32}
    table = [
        ("exp", dg.exp, torch.exp, None), ("log", dg.log, torch.log, positive),
        ("log1p", dg.log1p, torch.log1p, positive), ("expm1", dg.expm1, torch.expm1, None),
        ("sqrt", dg.sqrt, torch.sqrt, positive), ("abs", dg.abs, torch.abs, nonzero),
        ("sin", dg.sin, torch.sin, None), ("cos", dg.cos, torch.cos, None), ("erf", dg.erf, torch.erf, None),
        ("tanh", dg.tanh, torch.tanh, None), ("sigmoid", dg.sigmoid, torch.sigmoid, None),
        ("relu", dg.relu, torch.relu, nonzero), ("neg", lambda x: -x, lambda x: -x, None),
        ("identity", dg.identity, lambda x: x.view_as(x), None), ("clone", lambda x: x.clone(), torch.clone, None),
        ("astype", lambda x: x.astype(other[x.dtype]),
         lambda x: x.to(torch.float32 if x.dtype == torch.float64 else torch.float64), None),
        ("clip", lambda x: dg.clip(x, -0.5, 0.5), lambda x: torch.clamp(x, -0.5, 0.5), avoiding(-0.5, 0.5)),
        ("clip-min", lambda x: x.clip(min=0.2), lambda x: x.clamp(min=0.2), avoiding(0.2)),
        ("pow-2", lambda x: x ** 2, lambda x: x ** 2, None), ("pow-0", lambda x: x ** 0, lambda x: x ** 0, None),
        ("pow-half", lambda x: x ** 0.5, lambda x: x ** 0.5, positive),
        ("leaky_relu", dg.leaky_relu, TF.leaky_relu, nonzero), ("elu", dg.elu, TF.elu, nonzero),
        ("gelu", dg.gelu, TF.gelu, None),
        ("gelu-tanh", lambda x: dg.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh"), None),
        ("softplus", dg.softplus, TF.softplus, None),
    ]
    return [Case(op, f"{shape}", fn, t_fn, (shape,), kind or _opcheck.normal)
            for op, fn, t_fn, kind in table for shape in SHAPES]


BINARY = {
    "add": (dg.add, torch.add, None), "sub": (dg.sub, torch.sub, None), "mul": (dg.mul, torch.mul, None),
    "div": (dg.div, torch.div, (_opcheck.normal, nonzero)), "pow": (dg.pow, torch.pow, (positive, _opcheck.normal)),
    "maximum": (dg.maximum, torch.maximum, None), "minimum": (dg.minimum, torch.minimum, None),
    "where": (lambda x, y: dg.where(x > y, x, y), lambda x, y: torch.where(x > y, x, y), None),
}
COMPARE = {
    "lt": (dg.lt, torch.lt), "le": (dg.le, torch.le), "gt": (dg.gt, torch.gt), "ge": (dg.ge, torch.ge),
    "eq": (dg.eq, torch.eq), "ne": (dg.ne, torch.ne),
    "and": (lambda x, y: (x > 0) & (y > 0), lambda x, y: (x > 0) & (y > 0)),
    "or": (lambda x, y: (x > 0) | (y > 0), lambda x, y: (x > 0) | (y > 0)),
    "logical_and": (dg.logical_and, torch.logical_and), "logical_or": (dg.logical_or, torch.logical_or),
}
PAIRS = [((), ()), ((), (0, 3)), ((0,), ()), ((0, 3), (3,)), ((2, 0), (2, 1)), ((2, 0), (0,)), ((1, 0), (3, 1))]


def _binary_case(op, shapes):
    fn, t_fn, kinds = BINARY[op]
    return Case(op, f"{shapes[0]}x{shapes[1]}", fn, t_fn, shapes, kinds or _opcheck.normal)


def _ints(x):
    """1 or 2 as int64, deepgrad's or torch's."""
    return (x > 0).astype(dg.int64) + 1 if isinstance(x, dg.Tensor) else (x > 0).to(torch.int64) + 1


def _binary_cases():
    cases = [_binary_case(op, pair) for op in BINARY for pair in PAIRS]
    cases += [Case(op, f"{a}x{b}", fn, t_fn, (a, b), _opcheck.small_ints, derivatives=False)
              for op, (fn, t_fn) in COMPARE.items() for a, b in PAIRS[:4]]
    # torch.func.jvp gives a float64 tangent for float32 0-d x * 2.5: its side multiplies by a float32 tensor
    cases += [Case("div", f"int64-{shape}", lambda x: _ints(x) / _ints(x), lambda x: _ints(x) / _ints(x), (shape,),
                   derivatives=False) for shape in SHAPES]         # integer division gives float32
    cases += [Case("mul", f"{shape}-number", lambda x: x * 2.5, lambda x: x * torch.tensor(2.5, dtype=x.dtype),
                   (shape,)) for shape in SHAPES]
    return cases


def _torch_dims(dim, ndim):
    return tuple(range(ndim)) if dim is None else dim


def _torch_prod(x, dim, keepdim=False):
    """torch.prod takes one dim: reduce the axes one at a time, last first."""
    if dim is None:
        return torch.prod(x).reshape((1,) * x.ndim if keepdim else ())
    for d in sorted({d % max(x.ndim, 1) for d in ((dim,) if isinstance(dim, int) else dim)}, reverse=True):
        x = torch.prod(x, d, keepdim=keepdim)
    return x


REDUCTIONS = {
    "sum": (dg.sum, lambda x, d, k: torch.sum(x, _torch_dims(d, x.ndim), keepdim=k)),
    "prod": (dg.prod, _torch_prod),
    "mean": (dg.mean, lambda x, d, k: torch.mean(x, _torch_dims(d, x.ndim), keepdim=k)),
    "logsumexp": (dg.logsumexp, lambda x, d, k: torch.logsumexp(x, _torch_dims(d, x.ndim), keepdim=k)),
    "amax": (dg.amax, lambda x, d, k: torch.amax(x, _torch_dims(d, x.ndim), keepdim=k)),
    "amin": (dg.amin, lambda x, d, k: torch.amin(x, _torch_dims(d, x.ndim), keepdim=k)),
    "var": (lambda x, d, keepdim: dg.var(x, d, correction=0, keepdim=keepdim),
            lambda x, d, k: torch.var(x, _torch_dims(d, x.ndim), correction=0, keepdim=k)),
    "std": (lambda x, d, keepdim: dg.std(x, d, keepdim=keepdim),
            lambda x, d, k: torch.std(x, _torch_dims(d, x.ndim), keepdim=k)),
}


def _reduction_case(op, shape, dim, keepdim):
    fn, t_fn = REDUCTIONS[op]
    return Case(op, f"{shape}-dim={dim}{'-keep' if keepdim else ''}", lambda x: fn(x, dim, keepdim=keepdim),
                lambda x: t_fn(x, dim, keepdim), (shape,), positive if op == "std" else _opcheck.normal)


def _reduce_cases():
    cases = [_reduction_case(op, (), dim, keep) for op in REDUCTIONS for dim in (None, 0, -1) for keep in (False, True)
             if not (op == "std")]           # std of one element: see std-0d below
    cases += [_reduction_case(op, shape, dim, False) for op, shape, dim in [
        ("sum", (0, 3), None), ("sum", (0, 3), 0), ("sum", (0, 3), 1), ("sum", (2, 0), (0, 1)),
        ("prod", (0, 3), None), ("prod", (0, 3), 0), ("prod", (2, 0), 1), ("mean", (0, 3), 0),
        ("logsumexp", (0, 3), 0), ("logsumexp", (0,), None), ("logsumexp", (0, 3), 1),
        ("amax", (0, 3), 1), ("amin", (2, 0), 0), ("var", (0, 3), 1), ("var", (2, 0), 1), ("std", (0, 3), 0)]]
    cases += [
        Case("std", "()", lambda x: x.std(), lambda x: x.std(), ((),)),
        # (values, indices): torch.func refuses integer outputs, amax/amin above cover the derivatives
        Case("max", "()-dim=0", lambda x: tuple(dg.max(x, 0)), lambda x: tuple(torch.max(x, 0)), ((),),
             derivatives=False),
        Case("max", "(0, 3)-dim=1", lambda x: tuple(dg.max(x, 1)), lambda x: tuple(torch.max(x, 1)), ((0, 3),),
             derivatives=False),
        Case("min", "(2, 0)-dim=0-keep", lambda x: tuple(dg.min(x, 0, keepdim=True)),
             lambda x: tuple(torch.min(x, 0, keepdim=True)), ((2, 0),), derivatives=False),
        Case("sum", "int32-(0, 3)", lambda x: x.astype(dg.int32).sum(0), lambda x: x.to(torch.int32).sum(0),
             ((0, 3),), derivatives=False),
        Case("prod", "bool-()", lambda x: (x > 0).prod(), lambda x: (x > 0).prod(), ((),), derivatives=False),
    ]
    for op, fn, t_fn in [("argmax", dg.argmax, torch.argmax), ("argmin", dg.argmin, torch.argmin)]:
        cases += [Case(op, "()", fn, t_fn, ((),), derivatives=False),
                  Case(op, "()-dim=0-keep", lambda x, f=fn: f(x, 0, keepdim=True),
                       lambda x, f=t_fn: f(x, 0, keepdim=True), ((),), derivatives=False),
                  Case(op, "(0, 3)-dim=1", lambda x, f=fn: f(x, 1), lambda x, f=t_fn: f(x, 1), ((0, 3),),
                       derivatives=False)]
    for op, fn, t_fn in [("softmax", dg.softmax, torch.softmax), ("log_softmax", dg.log_softmax, torch.log_softmax)]:
        cases += [Case(op, f"{shape}-dim={dim}", lambda x, f=fn, d=dim: f(x, d), lambda x, f=t_fn, d=dim: f(x, d),
                       (shape,)) for shape, dim in [((), 0), ((), -1), ((0, 3), 0), ((0, 3), 1), ((2, 0), 1)]]
    return cases


def _shape_cases():
    def case(op, label, fn, t_fn, *shapes):
        return Case(op, label, fn, t_fn, shapes)
    return [
        case("reshape", "()->(1, 1)", lambda x: x.reshape(1, 1), lambda x: x.reshape(1, 1), ()),
        case("reshape", "(1,)->()", lambda x: x.reshape(()), lambda x: x.reshape(()), (1,)),
        case("reshape", "(0, 3)->(3, 0)", lambda x: x.reshape(3, 0), lambda x: x.reshape(3, 0), (0, 3)),
        case("reshape", "(0, 3)->(-1,)", lambda x: x.reshape(-1), lambda x: x.reshape(-1), (0, 3)),
        case("reshape", "(0, 3)->(3, -1)", lambda x: x.reshape(3, -1), lambda x: x.reshape(3, -1), (0, 3)),
        case("permute", "(0, 3)", lambda x: x.permute(1, 0), lambda x: x.permute(1, 0), (0, 3)),
        case("transpose", "(2, 0, 3)", lambda x: x.transpose(0, 2), lambda x: x.transpose(0, 2), (2, 0, 3)),
        case("expand", "()->(0, 3)", lambda x: x.expand(0, 3), lambda x: x.expand(0, 3), ()),
        case("expand", "()->(2, 3)", lambda x: x.expand(2, 3), lambda x: x.expand(2, 3), ()),
        case("expand", "(1, 3)->(0, 3)", lambda x: x.expand(0, 3), lambda x: x.expand(0, 3), (1, 3)),
        case("expand", "(0, 1)->(0, 4)", lambda x: x.expand(0, 4), lambda x: x.expand(0, 4), (0, 1)),
        case("squeeze", "()", lambda x: x.squeeze(), lambda x: x.squeeze(), ()),
        case("squeeze", "(1, 0)", lambda x: x.squeeze(0), lambda x: x.squeeze(0), (1, 0)),
        case("unsqueeze", "()", lambda x: x.unsqueeze(0), lambda x: x.unsqueeze(0), ()),
        case("unsqueeze", "(0, 3)", lambda x: x.unsqueeze(-1), lambda x: x.unsqueeze(-1), (0, 3)),
        case("flatten", "()", lambda x: x.flatten(), lambda x: x.flatten(), ()),
        case("flatten", "(2, 0, 3)", lambda x: x.flatten(), lambda x: x.flatten(), (2, 0, 3)),
        case("cat", "(0, 3)+(2, 3)", lambda x, y: dg.cat([x, y]), lambda x, y: torch.cat([x, y]), (0, 3), (2, 3)),
        case("cat", "(2, 0)+(2, 0)-dim=1", lambda x, y: dg.cat([x, y], 1), lambda x, y: torch.cat([x, y], 1),
             (2, 0), (2, 0)),
        case("cat", "(0,)+(0,)", lambda x, y: dg.cat([x, y]), lambda x, y: torch.cat([x, y]), (0,), (0,)),
        case("stack", "()+()", lambda x, y: dg.stack([x, y]), lambda x, y: torch.stack([x, y]), (), ()),
        case("stack", "(0, 3)+(0, 3)-dim=1", lambda x, y: dg.stack([x, y], 1), lambda x, y: torch.stack([x, y], 1),
             (0, 3), (0, 3)),
        case("split", "(0, 3)", lambda x: dg.split(x, 1), lambda x: torch.split(x, 1), (0, 3)),
        case("split", "(2, 0)-dim=1-sizes", lambda x: dg.split(x, [0, 0], 1), lambda x: torch.split(x, [0, 0], 1),
             (2, 0)),
        case("pad", "(0, 3)", lambda x: dg.pad(x, (1, 1)), lambda x: TF.pad(x, (1, 1)), (0, 3)),
        case("pad", "(2, 0)", lambda x: dg.pad(x, (1, 2, 0, 1)), lambda x: TF.pad(x, (1, 2, 0, 1)), (2, 0)),
        case("pad", "()", lambda x: dg.pad(x, ()), lambda x: TF.pad(x, ()), ()),
        case("flip", "(0, 3)", lambda x: dg.flip(x, (0,)), lambda x: torch.flip(x, (0,)), (0, 3)),
        case("flip", "(2, 0)-both", lambda x: dg.flip(x, (0, 1)), lambda x: torch.flip(x, (0, 1)), (2, 0)),
        case("flip", "()", lambda x: dg.flip(x, (0,)), lambda x: torch.flip(x, (0,)), ()),
    ]


def _index_cases():
    none = np.zeros(0, np.int64)

    def case(label, index, shape):
        t_index = tuple(torch.tensor(i) if isinstance(i, np.ndarray) else i for i in index)
        return Case("getitem", label, lambda x: x[index], lambda x: x[t_index], (shape,))
    return [
        case("()[...]", (Ellipsis,), ()), case("()[None]", (None,), ()), case("()[()]", (), ()),
        case("()[..., None]", (Ellipsis, None), ()),
        case("(0, 3)[:, 1]", (slice(None), 1), (0, 3)), case("(0, 3)[0:0]", (slice(0, 0),), (0, 3)),
        case("(2, 0)[1]", (1,), (2, 0)), case("(4, 3)[[]]", (none,), (4, 3)),
        case("(2, 0)[:, []]", (slice(None), none), (2, 0)), case("(0, 3)[[], 1]", (none, 1), (0, 3)),
        case("(3, 2)[2:1]", (slice(2, 1),), (3, 2)),
        case("(0, 3)[mask]", (np.zeros((0, 3), bool),), (0, 3)),
        case("(4,)[all-false mask]", (np.zeros(4, bool),), (4,)),
    ]


def _matmul_cases():
    pairs = [((2, 0), (0, 3)), ((0,), (0,)), ((0, 2), (2, 3)), ((2, 3), (3, 0)), ((0, 2, 3), (3, 4)),
             ((0,), (0, 3)), ((2, 0), (0,)), ((2, 1, 3, 0), (3, 0, 2))]
    return [Case("matmul", f"{a}@{b}", dg.matmul, torch.matmul, (a, b)) for a, b in pairs]


# Below nn.functional: the primitives of convolution, pooling and normalisation on an empty batch
# (nn.functional refuses empty inputs before reaching them; see test_functional_on_an_empty_batch).
def _conv(stride=1, padding=0, groups=1):
    def fn(x, w):
        k = w.shape[2:]
        size = tuple((n + 2 * padding - kk) // stride + 1 for n, kk in zip(x.shape[2:], k))
        return conv_ops.conv(x, w, (stride,) * len(k), (padding,) * len(k), (1,) * len(k), groups, size)
    return fn


def _conv_transpose(x, w):
    size = tuple(n + k - 1 for n, k in zip(x.shape[2:], w.shape[2:]))
    return conv_ops.conv_transpose(x, w, (1, 1), (0, 0), (1, 1), 1, size)


def _pool(fn, x, kernel=2, **extra):
    size = tuple(n // kernel for n in x.shape[2:])
    nd = len(size)
    return fn(x, (kernel,) * nd, (kernel,) * nd, (0,) * nd, **extra, size=size)


def _no_index(x, out_size):
    return np.zeros(x.shape[:2] + out_size, np.int64)


def _conv_pool_norm_cases():
    def case(op, label, fn, t_fn, *shapes):
        return Case(op, label, fn, t_fn, shapes)
    return [
        case("conv", "2d-batch=0", _conv(), TF.conv2d, (0, 3, 5, 5), (4, 3, 3, 3)),
        case("conv", "2d-batch=0-stride=2-padding=1", _conv(2, 1), lambda x, w: TF.conv2d(x, w, stride=2, padding=1),
             (0, 3, 5, 5), (4, 3, 3, 3)),
        case("conv", "1d-batch=0-depthwise", _conv(groups=2), lambda x, w: TF.conv1d(x, w, groups=2),
             (0, 2, 6), (4, 1, 3)),
        case("conv_transpose", "2d-batch=0", _conv_transpose, TF.conv_transpose2d, (0, 4, 3, 3), (4, 3, 3, 3)),
        case("deform_conv2d", "batch=0", lambda x, o, w: deepgrad.ops.deform_conv2d(x, o, w, padding=1),
             lambda x, o, w: TF.conv2d(x, w, padding=1) + 0 * o.sum(), (0, 2, 4, 4), (0, 18, 4, 4), (3, 2, 3, 3)),
        case("deform_conv2d", "batch=0-mask", lambda x, o, w, m: deepgrad.ops.deform_conv2d(x, o, w, mask=m),
             lambda x, o, w, m: TF.conv2d(x, w) + 0 * (o.sum() + m.sum()), (0, 2, 4, 4), (0, 18, 2, 2),
             (3, 2, 3, 3), (0, 9, 2, 2)),
        case("max_pool", "2d-batch=0", lambda x: _pool(pool_ops.max_pool, x, dilation=(1, 1)),
             lambda x: TF.max_pool2d(x, 2), (0, 3, 4, 4)),
        case("window_sum", "2d-batch=0", lambda x: _pool(pool_ops.window_sum, x),
             lambda x: TF.avg_pool2d(x, 2) * 4, (0, 3, 4, 4)),
        case("pool.gather", "2d-batch=0", lambda x: pool_ops.gather(x, _no_index(x, (2, 2))),
             lambda x: TF.adaptive_max_pool2d(x, 2), (0, 3, 4, 4)),
        case("pool.scatter", "2d-batch=0", lambda y: pool_ops.scatter(y, _no_index(y, (2, 2)), (4, 4)),
             lambda y: TF.max_unpool2d(y, torch.zeros(y.shape, dtype=torch.int64), 2), (0, 3, 2, 2)),
        case("normalize", "batch-norm-batch=0", lambda x: normalize_ops.normalize(x, (0, 2, 3), 1e-5),
             lambda x: TF.batch_norm(x, None, None, training=True), (0, 3, 4, 4)),
        case("layer_norm", "batch=0", lambda x: F.layer_norm(x, (4,)), lambda x: TF.layer_norm(x, (4,)), (0, 3, 4)),
        case("layer_norm", "(2, 0)", lambda x: F.layer_norm(x, (0,)), lambda x: TF.layer_norm(x, (0,)), (2, 0)),
        case("group_norm", "batch=0", lambda x: F.group_norm(x, 2), lambda x: TF.group_norm(x, 2), (0, 4, 3)),
        case("batch_norm", "eval-batch=0",
             lambda x: F.batch_norm(x, dg.zeros(3, dtype=x.dtype), dg.ones(3, dtype=x.dtype)),
             lambda x: TF.batch_norm(x, torch.zeros(3, dtype=x.dtype), torch.ones(3, dtype=x.dtype)), (0, 3, 4)),
    ]


@contextlib.contextmanager
def nan_by_design(case):
    """var/std with no degrees of freedom left are NaN or inf, as PyTorch's (which warns too): NumPy's
    warning about the 0·inf they compute is expected there."""
    with warnings.catch_warnings():
        if case.op in ("var", "std"):
            warnings.filterwarnings("ignore", "invalid value encountered in multiply", RuntimeWarning)
        yield


def group_size(shape, dim):
    """How many elements each group of a reduction over ``dim`` holds."""
    dims = range(len(shape)) if dim is None else (dim,) if isinstance(dim, int) else dim
    return math.prod(shape[d] for d in dims) if shape else 1


def _api_cases():
    """The ops of the Tensor API modules (pointwise, layout, norms, products, scan, selection)."""
    none = np.zeros(0, np.int64)
    cases = [Case(op, f"{shape}", fn, t_fn, (shape,), kind) for op, fn, t_fn, kind in [
        ("sinh", dg.sinh, torch.sinh, _opcheck.normal), ("asin", dg.asin, torch.asin, _opcheck.unit),
        ("rsqrt", dg.rsqrt, torch.rsqrt, positive), ("floor", dg.floor, torch.floor, _opcheck.normal),
        ("sign", dg.sign, torch.sign, nonzero), ("cumsum", lambda x: dg.cumsum(x, 0), lambda x: torch.cumsum(x, 0),
                                                 _opcheck.normal),
        ("cumprod", lambda x: dg.cumprod(x, -1), lambda x: torch.cumprod(x, -1), _opcheck.normal),
        ("roll", lambda x: dg.roll(x, 1), lambda x: torch.roll(x, 1), _opcheck.normal),
        ("norm", lambda x: dg.norm(x), lambda x: torch.linalg.vector_norm(x), nonzero),
        ("norm-1", lambda x: dg.norm(x, 1), lambda x: torch.linalg.vector_norm(x, 1), nonzero),
    ] for shape in SHAPES]
    cases += [Case(op, f"{a}x{b}", fn, t_fn, (a, b), kinds) for op, fn, t_fn, kinds in [
        ("atan2", dg.atan2, torch.atan2, nonzero), ("remainder", dg.remainder, torch.remainder, nonzero),
        ("fmod", dg.fmod, torch.fmod, nonzero)] for a, b in PAIRS[:4]]
    cases += [
        Case("roll", "(2, 0)-dim=1", lambda x: dg.roll(x, 1, 1), lambda x: torch.roll(x, 1, 1), ((2, 0),)),
        Case("norm", "(0, 3)-dim=1", lambda x: dg.norm(x, dim=1), lambda x: torch.linalg.vector_norm(x, dim=1),
             ((0, 3),)),
        Case("cumsum", "(2, 0)-dim=1", lambda x: dg.cumsum(x, 1), lambda x: torch.cumsum(x, 1), ((2, 0),)),
        Case("cumprod", "(0, 3)-dim=0", lambda x: dg.cumprod(x, 0), lambda x: torch.cumprod(x, 0), ((0, 3),)),
        Case("einsum", "ij,jk->ik-(2, 0)", lambda x, y: dg.einsum("ij,jk->ik", x, y),
             lambda x, y: torch.einsum("ij,jk->ik", x, y), ((2, 0), (0, 3))),
        Case("einsum", "i,i->", lambda x, y: dg.einsum("i,i->", x, y), lambda x, y: torch.einsum("i,i->", x, y),
             ((0,), (0,))),
        Case("einsum", "->-()", lambda x: dg.einsum("->", x), lambda x: torch.einsum("->", x), ((),)),
        Case("gather", "(2, 0)", lambda x: dg.gather(x, 1, dg.zeros(2, 0, dtype=dg.int64)),
             lambda x: torch.gather(x, 1, torch.zeros(2, 0, dtype=torch.int64)), ((2, 3),)),
        Case("gather", "(0, 3)", lambda x: dg.gather(x, 0, dg.zeros(0, 3, dtype=dg.int64)),
             lambda x: torch.gather(x, 0, torch.zeros(0, 3, dtype=torch.int64)), ((0, 3),)),
        Case("gather", "()", lambda x: dg.gather(x, 0, dg.zeros((), dtype=dg.int64)),
             lambda x: torch.gather(x, 0, torch.zeros((), dtype=torch.int64)), ((),)),
        Case("index_select", "(4, 3)[[]]", lambda x: dg.index_select(x, 0, dg.tensor(none)),
             lambda x: torch.index_select(x, 0, torch.tensor(none)), ((4, 3),)),
        Case("scatter_add", "(0, 3)", lambda x, y: dg.scatter_add(x, 0, dg.zeros(0, 3, dtype=dg.int64), y),
             lambda x, y: torch.scatter_add(x, 0, torch.zeros(0, 3, dtype=torch.int64), y), ((2, 3), (0, 3))),
    ]
    return cases


CASES = (_unary_cases() + _binary_cases() + _reduce_cases() + _shape_cases() + _index_cases() + _matmul_cases()
         + _conv_pool_norm_cases() + _api_cases())

# torch.func.jvp gives NaN tangents for logsumexp over empty groups, whose value is the constant -inf;
# deepgrad gives 0 (test_logsumexp_of_nothing_has_a_zero_tangent)
TORCH_JVP_NAN = {"logsumexp-(0, 3)-dim=0", "logsumexp-(0,)-dim=None"}


def check_all(case, dtype, jvp=True):
    """Values, VJP and JVP against PyTorch (derivatives where the case has them)."""
    with nan_by_design(case):
        check_forward(case, dtype)
        if case.derivatives:
            check_vjp(case, dtype)
            if jvp:
                check_jvp(case, dtype)


def test_cases_are_zero_dim_or_empty_and_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for c in CASES:
        with nan_by_design(c):
            t_out = _opcheck.leaves(c.torch_fn(*_opcheck.torch_tensors(c.arrays(np.float64))))
        edge = [s for s in c.shapes + tuple(tuple(o.shape) for o in t_out) if _is_edge(s)]
        assert edge, f"{c.id}: no 0-dim or empty input or output"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", params(CASES))
def test_values_vjp_and_jvp_match_torch(case, dtype):
    check_all(case, dtype, jvp=case.id not in TORCH_JVP_NAN)


def test_logsumexp_of_nothing_has_a_zero_tangent():
    x = dg.zeros(0, 3, dtype=dg.float64)
    out, tangent = dg.jvp(lambda x: dg.logsumexp(x, 0), (x,), (dg.ones(0, 3, dtype=dg.float64),))
    np.testing.assert_array_equal(out.numpy(), np.full(3, -np.inf))
    np.testing.assert_array_equal(tangent.numpy(), np.zeros(3))


# ----------------------------------------------------------------------------- every primitive reached
def ops_primitives():
    """The public Primitive classes defined in the modules of deepgrad/ops (all of them imported)."""
    for module in pkgutil.iter_modules(deepgrad.ops.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"deepgrad.ops.{module.name}")
    found, todo = set(), [Primitive]
    while todo:
        for cls in todo.pop().__subclasses__():
            todo.append(cls)
            if cls.__module__.startswith("deepgrad.ops.") and not cls.__name__.startswith("_"):
                found.add(cls)
    return found


def _run_deepgrad(case):
    """The case's function, its VJP and its JVP in deepgrad alone, on float64 inputs."""
    xs = _opcheck.dg_tensors(case.arrays(np.float64))
    if not case.derivatives:
        return case.dg_fn(*xs)
    out, vjp_fn = dg.vjp(case.dg_fn, *xs)
    vjp_fn(tuple(map(dg.ones_like, out)) if isinstance(out, tuple) else dg.ones_like(out))
    dg.jvp(case.dg_fn, tuple(xs), tuple(dg.ones_like(x) for x in xs))


def test_every_primitive_is_reached(monkeypatch):
    reached = set()
    finish = function.finish

    def recording(prim, inputs, params, out):      # apply() hands every result to finish()
        reached.add(type(prim))
        return finish(prim, inputs, params, out)
    monkeypatch.setattr(function, "finish", recording)
    for case in CASES:
        with nan_by_design(case):
            _run_deepgrad(case)
    missing = sorted(f"{cls.__module__}.{cls.__name__}" for cls in ops_primitives() - reached)
    assert not missing, f"no 0-dim/empty case reaches {missing}: add one to CASES"


# ----------------------------------------------------------------------------- what PyTorch refuses
ERRORS = [
    # label, deepgrad call, torch call, input shape, a word the message must contain
    ("amax-empty-all", lambda x: dg.amax(x), torch.amax, (0,), "max"),
    ("amax-empty-dim", lambda x: dg.amax(x, 0), lambda x: torch.amax(x, 0), (0, 3), "max"),
    ("amin-empty-dims", lambda x: x.amin((0, 1)), lambda x: x.amin((0, 1)), (2, 0), "min"),
    ("max-empty-dim", lambda x: dg.max(x, 0), lambda x: torch.max(x, 0), (0, 3), "max"),
    ("max-empty", lambda x: x.max(), lambda x: x.max(), (2, 0), "max"),
    ("argmax-empty", dg.argmax, torch.argmax, (0,), "argmax"),
    ("argmin-empty-dim", lambda x: dg.argmin(x, 0), lambda x: torch.argmin(x, 0), (0, 3), "argmin"),
    ("sum-0d-dim=1", lambda x: x.sum(1), lambda x: x.sum(1), (), "sum"),
    ("softmax-0d-dim=1", lambda x: dg.softmax(x, 1), lambda x: torch.softmax(x, 1), (), "softmax"),
    ("amax-0d-repeated-dim", lambda x: dg.amax(x, (0, -1)), lambda x: torch.amax(x, (0, -1)), (), "max"),
    ("matmul-0d", lambda x: x @ x, lambda x: x @ x, (), "matmul"),
    ("matmul-0d-and-empty", lambda x: dg.matmul(x, dg.zeros(0)), lambda x: torch.matmul(x, torch.zeros(0)),
     (), "matmul"),
    ("cat-0d", lambda x: dg.cat([x, x]), lambda x: torch.cat([x, x]), (), "concatenate"),
    ("getitem-0d-int", lambda x: x[0], lambda x: x[0], (), "getitem"),
    ("reshape-empty", lambda x: x.reshape(4), lambda x: x.reshape(4), (0, 3), "reshape"),
    ("expand-empty-to-2", lambda x: x.expand(2, 3), lambda x: x.expand(2, 3), (0, 3), "expand"),
    ("conv2d-0d", lambda x: F.conv2d(x, dg.ones(1, 1, 1, 1)), lambda x: TF.conv2d(x, torch.ones(1, 1, 1, 1)),
     (), "conv2d"),
    ("max_pool2d-0d", lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2), (), "max_pool2d"),
    ("avg_pool2d-0d", lambda x: F.avg_pool2d(x, 2), lambda x: TF.avg_pool2d(x, 2), (), "avg_pool2d"),
    ("batch_norm-0d", lambda x: F.batch_norm(x, None, None, training=True),
     lambda x: TF.batch_norm(x, None, None, training=True), (), "batch_norm"),
    ("layer_norm-0d", lambda x: F.layer_norm(x, (1,)), lambda x: TF.layer_norm(x, (1,)), (), "layer_norm"),
]


@pytest.mark.parametrize("label, fn, t_fn, shape, word", [pytest.param(*e, id=e[0]) for e in ERRORS])
def test_what_torch_refuses_is_refused_clearly(label, fn, t_fn, shape, word):
    with pytest.raises(Exception):
        t_fn(torch.zeros(shape))
    with pytest.raises((ValueError, TypeError, RuntimeError, IndexError), match=f"{word}:"):
        fn(dg.zeros(shape))


# ----------------------------------------------------------------------------- nn.functional, empty batch
EMPTY_BATCH = [
    ("conv2d", lambda x: F.conv2d(x, dg.ones(4, 3, 3, 3)), lambda x: TF.conv2d(x, torch.ones(4, 3, 3, 3))),
    ("conv_transpose2d", lambda x: F.conv_transpose2d(x, dg.ones(3, 2, 3, 3)),
     lambda x: TF.conv_transpose2d(x, torch.ones(3, 2, 3, 3))),
    ("max_pool2d", lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2)),
    ("avg_pool2d", lambda x: F.avg_pool2d(x, 2), lambda x: TF.avg_pool2d(x, 2)),
    ("adaptive_max_pool2d", lambda x: F.adaptive_max_pool2d(x, 2), lambda x: TF.adaptive_max_pool2d(x, 2)),
    ("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, 2), lambda x: TF.adaptive_avg_pool2d(x, 2)),
    ("batch_norm-training", lambda x: F.batch_norm(x, None, None, training=True),
     lambda x: TF.batch_norm(x, None, None, training=True)),
]


@pytest.mark.parametrize("label, fn, t_fn", [pytest.param(*e, id=e[0]) for e in EMPTY_BATCH])
def test_functional_on_an_empty_batch(label, fn, t_fn):
    check_forward(Case(label, "batch=0", fn, t_fn, ((0, 3, 4, 4),)), np.float32)


# ----------------------------------------------------------------------------- properties
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
EDGE_PAIRS = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0, max_side=3).filter(
    lambda s: any(_is_edge(shape) for shape in s.input_shapes))


@SETTINGS
@given(op=st.sampled_from(sorted(BINARY)), shapes=EDGE_PAIRS, dtype=st.sampled_from([np.float32, np.float64]))
def test_binary_ops_on_broadcast_pairs_with_empty_axes(op, shapes, dtype):
    check_all(_binary_case(op, shapes.input_shapes), dtype)


@st.composite
def reduction(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3).filter(_is_edge))
    ndim = max(len(shape), 1)
    if draw(st.booleans()):
        dim = None
    else:
        dims = draw(st.lists(st.integers(-ndim, ndim - 1), min_size=1, max_size=ndim,
                             unique_by=lambda d: d % ndim))
        dim = dims[0] if len(dims) == 1 else tuple(dims)
    return draw(st.sampled_from(sorted(REDUCTIONS))), shape, dim, draw(st.booleans())


@SETTINGS
@given(reduction=reduction(), dtype=st.sampled_from([np.float32, np.float64]))
def test_reductions_over_random_axes(reduction, dtype):
    op, shape, dim, keepdim = reduction
    case = _reduction_case(op, shape, dim, keepdim)
    if op in ("amax", "amin") and group_size(shape, dim) == 0:     # no maximum of nothing, as in torch
        with pytest.raises((RuntimeError, IndexError)):
            case.torch_fn(torch.zeros(shape))
        with pytest.raises(ValueError, match=f"{op[1:]}: cannot reduce"):
            case.dg_fn(dg.zeros(shape))
        return
    check_all(case, dtype, jvp=not (op == "logsumexp" and group_size(shape, dim) == 0))


@pytest.mark.parametrize("name", ["lenet5", "resnet20", "mlp"])
def test_whole_models_take_an_empty_batch(name):
    """A last batch of zero samples (issue 18): empty logits, zero gradients, running statistics untouched."""
    model = dg.models.get_model(name)
    model.train()
    shape = {"lenet5": (0, 1, 28, 28), "resnet20": (0, 3, 32, 32), "mlp": (0, 784)}[name]
    buffers = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    out = model(dg.zeros(*shape))
    assert out.shape == (0, 10)
    out.sum().backward()
    assert all(p.grad is None or not p.grad.numpy().any() for p in model.parameters())
    for k, v in model.state_dict().items():
        if "running" in k:
            np.testing.assert_array_equal(v.numpy(), buffers[k])
