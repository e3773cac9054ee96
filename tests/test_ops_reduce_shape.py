"""Reductions, softmax, shape ops, indexing and matmul (ops/reduce.py, shape.py, index.py, linalg.py)
against PyTorch.

REDUCE_SHAPE_CASES is the table that test_ops_conformance.py runs through every generic check
(forward values in float32/float64, VJP, JVP, Hessian, gradcheck/gradgradcheck). The tests in this
file cover what a table cannot: gradient accumulation, exact structure of results, errors.
"""
import numpy as np
import pytest

import deepgrad as dg
from _opcheck import DERIV_TOL, FORWARD_TOL, Case, assert_same, fixed, small_ints, torch, torch_func

# torch.func.jvp imports modules that call the deprecated torch.jit.script (PyTorch's own warning)
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

F = torch.nn.functional
SHAPE = (2, 3, 2)


def _all_dims(dim, ndim):
    return tuple(range(ndim)) if dim is None else dim


# ----------------------------------------------------------------------------- reductions
def _reduction_cases():
    cases = []
    for dim in (None, 0, -1, (0, 2)):
        for keepdim in (False, True):
            label = f"dim={dim}{'-keep' if keepdim else ''}"
            cases += [
                Case("sum", label, lambda x, d=dim, k=keepdim: dg.sum(x, d, keepdim=k),
                     lambda x, d=dim, k=keepdim: torch.sum(x, _all_dims(d, x.ndim), keepdim=k), (SHAPE,)),
                Case("mean", label, lambda x, d=dim, k=keepdim: dg.mean(x, d, keepdim=k),
                     lambda x, d=dim, k=keepdim: torch.mean(x, _all_dims(d, x.ndim), keepdim=k), (SHAPE,)),
                Case("max", label, lambda x, d=dim, k=keepdim: dg.amax(x, d, keepdim=k),
                     lambda x, d=dim, k=keepdim: torch.amax(x, _all_dims(d, x.ndim), keepdim=k), (SHAPE,)),
                Case("min", label, lambda x, d=dim, k=keepdim: x.amin(d, keepdim=k),
                     lambda x, d=dim, k=keepdim: torch.amin(x, _all_dims(d, x.ndim), keepdim=k), (SHAPE,)),
                Case("logsumexp", label, lambda x, d=dim, k=keepdim: dg.logsumexp(x, d, keepdim=k),
                     lambda x, d=dim, k=keepdim: torch.logsumexp(x, _all_dims(d, x.ndim), keepdim=k), (SHAPE,)),
                Case("prod", label, lambda x, d=dim, k=keepdim: dg.prod(x, d, keepdim=k),
                     lambda x, d=dim, k=keepdim: _torch_prod(x, d, k), (SHAPE,)),
            ]
    for dim in (None, 1, (0, 2)):
        for correction in (0, 1, 2):
            label = f"dim={dim}-corr={correction}"
            cases += [
                Case("var", label, lambda x, d=dim, c=correction: dg.var(x, d, correction=c),
                     lambda x, d=dim, c=correction: torch.var(x, _all_dims(d, x.ndim), correction=c), (SHAPE,)),
                Case("std", label, lambda x, d=dim, c=correction: dg.std(x, d, correction=c, keepdim=True),
                     lambda x, d=dim, c=correction: torch.std(x, _all_dims(d, x.ndim), correction=c, keepdim=True),
                     (SHAPE,)),
            ]
    cases += [
        Case("var", "unbiased=False", lambda x: dg.var(x, 0, unbiased=False),
             lambda x: torch.var(x, 0, unbiased=False), (SHAPE,)),
        Case("var", "default-correction", lambda x: x.var(), lambda x: x.var(), (SHAPE,)),
        Case("std", "axis-keepdims", lambda x: dg.std(x, axis=1, keepdims=True),
             lambda x: torch.std(x, 1, keepdim=True), (SHAPE,)),
        Case("sum", "axis-keepdims", lambda x: dg.sum(x, axis=(0, 1), keepdims=True),
             lambda x: torch.sum(x, (0, 1), keepdim=True), (SHAPE,)),
        Case("sum", "0d", lambda x: x.sum(), lambda x: x.sum(), ((),)),
        Case("logsumexp", "large", lambda x: dg.logsumexp(x * 500, 1), lambda x: torch.logsumexp(x * 500, 1),
             ((3, 4),)),
    ]
    for dim in (0, 1, -1):
        cases += [
            Case("softmax", f"dim={dim}", lambda x, d=dim: dg.softmax(x, d), lambda x, d=dim: torch.softmax(x, d),
                 (SHAPE,)),
            Case("log_softmax", f"dim={dim}", lambda x, d=dim: dg.log_softmax(x, d),
                 lambda x, d=dim: torch.log_softmax(x, d), (SHAPE,)),
        ]
    cases += [
        Case("softmax", "large", lambda x: dg.softmax(x * 1000, -1), lambda x: torch.softmax(x * 1000, -1),
             ((2, 3),)),
        Case("log_softmax", "large", lambda x: x.mul(1000).log_softmax(), lambda x: torch.log_softmax(x * 1000, -1),
             ((2, 3),)),
    ]
    # Products with 0, 1 and 2 zeros in a row (prod is a polynomial, so finite differences still work).
    zeros_in_rows = fixed([[1.5, -2.0, 0.5, 3.0],
                           [0.0, -2.0, 0.5, 3.0],
                           [1.5, 0.0, 0.5, 0.0],
                           [0.0, 0.0, 0.0, 1.2]])
    for dim in (None, 0, 1):
        cases.append(Case("prod", f"zeros-dim={dim}", lambda x, d=dim: dg.prod(x, d),
                          lambda x, d=dim: _torch_prod(x, d, False), ((4, 4),), zeros_in_rows))
    cases.append(Case("prod", "zeros-keepdim", lambda x: dg.prod(x, 1, keepdim=True),
                      lambda x: torch.prod(x, 1, keepdim=True), ((4, 4),), zeros_in_rows))
    # max/min with exact ties: the gradient is shared equally (torch.amax / amin); not differentiable
    # in the finite-difference sense, so no gradcheck.
    for dim in (None, 0, 1):
        cases += [
            Case("max", f"ties-dim={dim}", lambda x, d=dim: dg.amax(x, d),
                 lambda x, d=dim: torch.amax(x, _all_dims(d, x.ndim)), ((3, 4),), small_ints, smooth=False),
            Case("min", f"ties-dim={dim}", lambda x, d=dim: dg.amin(x, d),
                 lambda x, d=dim: torch.amin(x, _all_dims(d, x.ndim)), ((3, 4),), small_ints, smooth=False),
        ]
    for fn in ("argmax", "argmin"):
        for dim, keepdim in ((None, False), (None, True), (0, False), (-1, True)):
            cases.append(Case(fn, f"dim={dim}{'-keep' if keepdim else ''}",
                              lambda x, f=fn, d=dim, k=keepdim: getattr(dg, f)(x, d, keepdim=k),
                              lambda x, f=fn, d=dim, k=keepdim: getattr(torch, f)(x, d, keepdim=k),
                              (SHAPE,), derivatives=False))
    return cases


def _torch_prod(x, dim, keepdim):
    """torch.prod takes one int dim; reduce several one at a time."""
    if dim is None:
        out = torch.prod(x)
        return out.reshape((1,) * x.ndim) if keepdim else out
    if isinstance(dim, int):
        return torch.prod(x, dim, keepdim=keepdim)
    for d in sorted(dim, reverse=True):
        x = torch.prod(x, d, keepdim=keepdim)
    return x


# ----------------------------------------------------------------------------- shape ops
def _shape_cases():
    three = ((2, 3), (2, 1), (2, 2))
    return [
        Case("reshape", "(3,4)", lambda x: dg.reshape(x, (3, 4)), lambda x: x.reshape(3, 4), (SHAPE,)),
        Case("reshape", "-1", lambda x: x.reshape(-1), lambda x: x.reshape(-1), (SHAPE,)),
        Case("reshape", "view(4,-1)", lambda x: x.view(4, -1), lambda x: x.reshape(4, -1), (SHAPE,)),
        Case("reshape", "0d->(1,1)", lambda x: x.reshape(1, 1), lambda x: x.reshape(1, 1), ((),)),
        Case("permute", "(2,0,1)", lambda x: dg.permute(x, 2, 0, 1), lambda x: x.permute(2, 0, 1), (SHAPE,)),
        Case("permute", "negative", lambda x: x.permute(-1, 0, -2), lambda x: x.permute(-1, 0, -2), (SHAPE,)),
        Case("transpose", "(0,2)", lambda x: dg.transpose(x, 0, 2), lambda x: torch.transpose(x, 0, 2), (SHAPE,)),
        Case("transpose", ".T", lambda x: x.T, lambda x: x.permute(2, 1, 0), (SHAPE,)),
        Case("transpose", ".mT", lambda x: x.mT, lambda x: x.mT, (SHAPE,)),
        Case("swapaxes", "(1,-1)", lambda x: dg.swapaxes(x, 1, -1), lambda x: torch.swapaxes(x, 1, -1), (SHAPE,)),
        Case("expand", "(3,1)->(2,3,4)", lambda x: dg.expand(x, 2, 3, 4), lambda x: x.expand(2, 3, 4), ((3, 1),)),
        Case("expand", "-1", lambda x: x.expand(2, -1, 4), lambda x: x.expand(2, -1, 4), ((1, 3, 1),)),
        Case("expand", "0d", lambda x: x.expand(2, 3), lambda x: x.expand(2, 3), ((),)),
        Case("broadcast_to", "", lambda x: dg.broadcast_to(x, (2, 2, 3)),
             lambda x: torch.broadcast_to(x, (2, 2, 3)), ((2, 1, 3),)),
        Case("squeeze", "all", lambda x: dg.squeeze(x), lambda x: torch.squeeze(x), ((1, 3, 1, 2),)),
        Case("squeeze", "dim=2", lambda x: x.squeeze(2), lambda x: x.squeeze(2), ((1, 3, 1, 2),)),
        Case("squeeze", "non-1-dim", lambda x: x.squeeze(1), lambda x: x.squeeze(1), ((1, 3, 1, 2),)),
        Case("squeeze", "dim=-4", lambda x: x.squeeze(-4), lambda x: x.squeeze(-4), ((1, 3, 1, 2),)),
        Case("unsqueeze", "0", lambda x: dg.unsqueeze(x, 0), lambda x: x.unsqueeze(0), (SHAPE,)),
        Case("unsqueeze", "-1", lambda x: x.unsqueeze(-1), lambda x: x.unsqueeze(-1), (SHAPE,)),
        Case("unsqueeze", "2", lambda x: x.unsqueeze(2), lambda x: x.unsqueeze(2), (SHAPE,)),
        Case("unsqueeze", "0d", lambda x: x.unsqueeze(0), lambda x: x.unsqueeze(0), ((),)),
        Case("flatten", "all", lambda x: dg.flatten(x), lambda x: torch.flatten(x), (SHAPE,)),
        Case("flatten", "1", lambda x: x.flatten(1), lambda x: x.flatten(1), ((2, 3, 2, 2),)),
        Case("flatten", "0..1", lambda x: x.flatten(0, 1), lambda x: x.flatten(0, 1), ((2, 3, 2, 2),)),
        Case("flatten", "1..-2", lambda x: x.flatten(1, -2), lambda x: x.flatten(1, -2), ((2, 3, 2, 2),)),
        Case("flatten", "0d", lambda x: x.flatten(), lambda x: x.flatten(), ((),)),
        Case("concatenate", "dim=1", lambda *xs: dg.concatenate(xs, 1), lambda *xs: torch.cat(xs, 1), three),
        Case("concatenate", "dim=-1", lambda *xs: dg.concatenate([x.T for x in xs], -2),
             lambda *xs: torch.cat([x.T for x in xs], -2), three),
        Case("cat", "dim=0", lambda a, b: dg.cat([a, b]), lambda a, b: torch.cat([a, b]), ((1, 3), (2, 3))),
        Case("concatenate", "axis=0", lambda a, b: dg.concatenate((a, b), axis=0), lambda a, b: torch.cat((a, b)),
             ((3,), (2,))),
        Case("stack", "dim=0", lambda *xs: dg.stack(xs), lambda *xs: torch.stack(xs), ((2, 3),) * 3),
        Case("stack", "dim=-1", lambda *xs: dg.stack(xs, -1), lambda *xs: torch.stack(xs, -1), ((2, 3),) * 3),
        Case("stack", "dim=1", lambda *xs: dg.stack(xs, dim=1), lambda *xs: torch.stack(xs, 1), ((2, 3),) * 2),
        Case("stack", "0d", lambda *xs: dg.stack(xs), lambda *xs: torch.stack(xs), ((),) * 3),
        Case("split", "size=2", lambda x: dg.split(x, 2, 1), lambda x: torch.split(x, 2, 1), ((2, 5),)),
        Case("split", "sections", lambda x: x.split([1, 3, 1], 1), lambda x: x.split([1, 3, 1], 1), ((2, 5),)),
        Case("split", "dim=0", lambda x: dg.split(x, 1), lambda x: torch.split(x, 1), ((3, 2),)),
        Case("pad", "last", lambda x: dg.pad(x, (1, 2)), lambda x: F.pad(x, (1, 2)), (SHAPE,)),
        Case("pad", "last-two", lambda x: dg.pad(x, (1, 0, 2, 1), value=1.5),
             lambda x: F.pad(x, (1, 0, 2, 1), value=1.5), (SHAPE,)),
        Case("pad", "three", lambda x: dg.pad(x, (0, 0, 1, 1, 2, 0)), lambda x: F.pad(x, (0, 0, 1, 1, 2, 0)),
             (SHAPE,)),
        Case("flip", "0", lambda x: dg.flip(x, 0), lambda x: torch.flip(x, (0,)), (SHAPE,)),
        Case("flip", "(0,2)", lambda x: x.flip((0, 2)), lambda x: x.flip((0, 2)), (SHAPE,)),
        Case("flip", "-1", lambda x: dg.flip(x, [-1]), lambda x: torch.flip(x, [-1]), (SHAPE,)),
    ]


# ----------------------------------------------------------------------------- indexing
_MASK = np.random.default_rng(5).random((3, 4)) > 0.4
_ROW_MASK = np.array([True, False, True])


def _by_positions(x, positions, axis):
    """PyTorch has no negative-step slices: the reference picks the same positions with an index array."""
    index = [slice(None)] * x.ndim
    index[axis] = torch.tensor(positions)
    return x[tuple(index)]


INDEXES = [
    # label, index, torch reference (None: the same index works in torch)
    ("int", 1, None),
    ("negative-int", -1, None),
    ("ints", (1, -2), None),
    ("slice", slice(1, 3), None),
    ("step", (slice(None), slice(0, None, 2)), None),
    ("negative-step", slice(None, None, -1), lambda x: _by_positions(x, [2, 1, 0], 0)),
    ("negative-step-2", (slice(None), slice(3, 0, -2)), lambda x: _by_positions(x, [3, 1], 1)),
    ("negative-steps-both", (slice(None, None, -2), slice(None, None, -1)),
     lambda x: _by_positions(_by_positions(x, [2, 0], 0), [3, 2, 1, 0], 1)),
    ("None", (None, slice(None), None), None),
    ("Ellipsis", (Ellipsis, 1), None),
    ("Ellipsis-None", (None, Ellipsis, None), None),
    ("int-Ellipsis-slice", (0, Ellipsis, slice(1, None)), None),
    ("int-array-repeats", ([0, 2, 0, 0],), None),
    ("2d-int-array", (np.array([[0, 1], [1, 1]]),), None),
    ("paired-arrays", ([0, 1, 1, 2], [3, 0, 3, 3]), None),
    ("array-after-slice", (slice(None), [1, 1, 0]), None),
    ("slice-array", (slice(1, None), [0, 0]), None),
    ("None-array-step", (None, [1, 0], slice(None, None, 2)), None),
    ("array-negative", ([-1, 0, -1],), None),
    ("bool-mask-full", _MASK, None),
    ("bool-mask-rows", _ROW_MASK, None),
    ("bool-mask-cols", (slice(None), np.array([True, False, True, True])), None),
    ("bool-mask-and-int-array", (_ROW_MASK, [1, 3]), None),
]


def _index_case(label, index, reference):
    t_index = tuple(torch.tensor(i) if isinstance(i, np.ndarray) else i for i in
                    (index if isinstance(index, tuple) else (index,)))
    reference = reference or (lambda x: x[t_index])
    return Case("getitem", label, lambda x: x[index], reference, ((3, 4),))


def _index_cases():
    cases = [_index_case(*spec) for spec in INDEXES]
    cases += [
        Case("getitem", "3d-int-slice-array", lambda x: x[1, :, [0, 0, 1]], lambda x: x[1, :, [0, 0, 1]],
             ((2, 3, 2),)),
        Case("getitem", "3d-array-int-array", lambda x: x[[0, 1], 1, [1, 1]], lambda x: x[[0, 1], 1, [1, 1]],
             ((2, 3, 2),)),
        Case("getitem", "3d-arrays-split-by-slice", lambda x: x[[0, 1, 1], :, [1, 0, 1]],
             lambda x: x[[0, 1, 1], :, [1, 0, 1]], ((2, 3, 2),)),
        Case("getitem", "3d-None-array-Ellipsis-int", lambda x: x[None, [0, 0, 1], ..., 1],
             lambda x: x[None, [0, 0, 1], ..., 1], ((2, 3, 2),)),
        Case("getitem", "3d-int-Ellipsis-array", lambda x: x[1, ..., [1, 0]], lambda x: x[1, ..., [1, 0]],
             ((2, 3, 2),)),
        Case("getitem", "dg-int-tensor", lambda x: x[dg.tensor([2, 0, 2])], lambda x: x[torch.tensor([2, 0, 2])],
             ((3, 4),)),
        Case("getitem", "dg-bool-tensor-mask", lambda x: x[dg.tensor(_MASK)], lambda x: x[torch.tensor(_MASK)],
             ((3, 4),)),
        Case("getitem", "mask-from-values", lambda x: x[x > 0], lambda x: x[x > 0], ((3, 4),)),
        Case("getitem", "0d-Ellipsis", lambda x: x[...], lambda x: x[...], ((),)),
        Case("getitem", "0d-None", lambda x: x[None], lambda x: x[None], ((),)),
    ]
    return cases


# ----------------------------------------------------------------------------- matmul
MATMUL_SHAPES = [
    ((3,), (3,)),             # dot product
    ((3,), (3, 2)),           # vector @ matrix
    ((2, 3), (3,)),           # matrix @ vector
    ((2, 3), (3, 2)),
    ((2, 2, 3), (3, 4)),      # batched @ matrix
    ((2, 3), (2, 3, 4)),      # matrix @ batched
    ((2, 2, 3), (2, 3, 2)),   # batched @ batched
    ((2, 1, 2, 3), (3, 3, 2)),  # broadcast batch dims -> (2, 3)
    ((1, 2, 3), (2, 3, 1)),   # size-1 batch broadcast
    ((3,), (2, 3, 2)),        # vector @ batched
    ((2, 2, 3), (3,)),        # batched @ vector
]


def _matmul_cases():
    cases = [Case("matmul", f"{a}@{b}", dg.matmul, torch.matmul, (a, b)) for a, b in MATMUL_SHAPES]
    cases += [
        Case("matmul", "operator", lambda a, b: a @ b, lambda a, b: a @ b, ((2, 3), (3, 2))),
        Case("matmul", "method-T", lambda a, b: a.matmul(b.T), lambda a, b: a.matmul(b.T), ((2, 3), (2, 3))),
        Case("matmul", "xWx", lambda x, w: x @ w @ x, lambda x, w: x @ w @ x, ((3,), (3, 3))),
    ]
    return cases


REDUCE_SHAPE_CASES = _reduction_cases() + _shape_cases() + _index_cases() + _matmul_cases()


# ----------------------------------------------------------------------------- specific behaviour
def test_repeated_indices_accumulate_gradient():
    x = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 2, 0, 0]].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]
    x = dg.tensor(np.ones((2, 3)), requires_grad=True)
    (x[[1, 1], [2, 2]] * dg.tensor([2.0, 5.0], dtype=dg.float64)).sum().backward()
    assert x.grad.tolist() == [[0, 0, 0], [0, 0, 7.0]]


def test_getitem_second_derivative_through_scatter():
    # d²/dx² Σ (x[idx])³ with repeats: 6·x_i·count_i on the diagonal
    x = dg.tensor([1.0, 2.0, 3.0], dtype=dg.float64)
    h = dg.hessian(lambda x: (x[[0, 0, 2]] ** 3).sum())(x)
    np.testing.assert_allclose(h.numpy(), np.diag([12.0, 0.0, 18.0]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prod_gradient_with_zeros_matches_torch(dtype):
    # rows with 0, 1, 2 and 3 zeros; also reduced over everything (several zeros in total)
    x = np.array([[2.0, 3.0, 4.0], [0.0, 3.0, 4.0], [0.0, 0.0, 4.0], [0.0, 0.0, 0.0]], dtype)
    g = np.array([1.0, -2.0, 0.5, 3.0], dtype)
    (grad,) = dg.vjp(lambda x: dg.prod(x, 1), dg.tensor(x))[1](dg.tensor(g))
    (t_grad,) = torch_func.vjp(lambda x: torch.prod(x, 1), torch.tensor(x))[1](torch.tensor(g))
    assert_same(grad, t_grad, DERIV_TOL[dtype], "prod vjp")
    np.testing.assert_array_equal(grad.numpy()[1], [12.0 * -2, 0, 0])
    np.testing.assert_array_equal(grad.numpy()[2:], 0)
    full = dg.grad(lambda x: dg.prod(x))(dg.tensor(x))
    np.testing.assert_array_equal(full.numpy(), 0)


def test_prod_hessian_with_zeros_matches_torch():
    # second derivatives of a product survive one or two zeros: d²(x0·x1·x2)/dx0dx1 = x2
    for row in ([0.0, 3.0, 4.0], [0.0, 0.0, 4.0], [0.0, 0.0, 0.0], [2.0, 3.0, 4.0]):
        x = np.array(row)
        h = dg.hessian(lambda x: dg.prod(x))(dg.tensor(x))
        th = torch_func.hessian(torch.prod)(torch.tensor(x))
        assert_same(h, th, DERIV_TOL[np.float64], f"prod hessian at {row}")


def test_max_ties_share_the_gradient_equally_like_amax():
    x = dg.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], requires_grad=True)
    dg.amax(x, 1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    x.grad = None
    dg.max(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5], [0, 0, 0]])


def test_max_and_min_with_a_dim_return_values_and_indices_like_torch():
    x = dg.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 7.0]], requires_grad=True)
    values, indices = dg.max(x, 1)
    tv, ti = torch.max(torch.tensor(x.numpy()), 1)
    np.testing.assert_array_equal(values.numpy(), tv.numpy())
    np.testing.assert_array_equal(indices.numpy(), ti.numpy())
    assert x.min(0, keepdim=True).indices.shape == (1, 3) and x.max().shape == ()
    values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0], [0.5, 0, 0.5]])
    with pytest.raises(TypeError, match="use amax"):
        dg.max(x, (0, 1))


def test_reductions_accept_numpy_spelling():
    x = dg.tensor(np.arange(6.0).reshape(2, 3))
    for f in (dg.sum, dg.mean, dg.amax, dg.amin, dg.prod, dg.logsumexp, dg.var, dg.std):
        np.testing.assert_array_equal(f(x, axis=1, keepdims=True).numpy(), f(x, 1, keepdim=True).numpy())


def test_var_with_no_degrees_of_freedom_left_is_inf_like_torch():
    x = np.array([[1.0, 2.0], [3.0, 5.0]])
    with pytest.warns(UserWarning):
        expected = torch.var(torch.tensor(x), 1, correction=2)
    assert_same(dg.var(dg.tensor(x), 1, correction=2), expected, FORWARD_TOL[np.float64], "var")
    assert np.isinf(expected.numpy()).all()


def test_split_pieces_are_views_with_independent_gradients():
    x = dg.tensor(np.arange(10.0).reshape(2, 5), requires_grad=True)
    a, b, c = dg.split(x, [1, 3, 1], 1)
    assert (a.shape, b.shape, c.shape) == ((2, 1), (2, 3), (2, 1))
    (a.sum() * 2 + c.sum() * 3).backward()
    assert x.grad.tolist() == [[2, 0, 0, 0, 3]] * 2


def test_setitem_under_no_grad_matches_numpy_and_refuses_when_tracking():
    x = dg.zeros(3, 4)
    with dg.no_grad():
        x[1, 1:3] = 5.0
        x[np.array([False, False, True]), 0] = 2.0
        x[[0, 0], [3, 2]] = dg.tensor([7.0, 8.0])
    expected = np.zeros((3, 4), np.float32)
    expected[1, 1:3] = 5
    expected[2, 0] = 2
    expected[0, 3], expected[0, 2] = 7, 8
    np.testing.assert_array_equal(x.numpy(), expected)
    # integers are applied before index arrays, as in PyTorch (NumPy would give shape (2, 3) here)
    y, t = dg.zeros(2, 3, 4), torch.zeros(2, 3, 4)
    value = np.arange(6.0).reshape(3, 2)
    with dg.no_grad():
        y[1, :, [0, 2]] = dg.tensor(value)
    t[1, :, [0, 2]] = torch.tensor(value, dtype=torch.float32)
    np.testing.assert_array_equal(y.numpy(), t.numpy())
    w = dg.zeros(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        w[0] = 1.0


@pytest.mark.parametrize("a,b", [((), (3,)), ((3,), ()), ((2, 3), (2, 3)), ((2, 3, 4), (2, 5, 6))])
def test_matmul_rejects_shapes_torch_rejects(a, b):
    with pytest.raises(ValueError, match="matmul"):
        dg.matmul(dg.ones(*a), dg.ones(*b))
    with pytest.raises(RuntimeError):
        torch.matmul(torch.ones(a), torch.ones(b))


def test_pad_in_torch_order_and_jvp_pads_with_zero():
    x = dg.tensor(np.ones((1, 2)))
    out = dg.pad(x, (1, 2, 1, 0), value=9.0)
    np.testing.assert_array_equal(out.numpy(), F.pad(torch.ones(1, 2, dtype=torch.float64), (1, 2, 1, 0), value=9.0))
    _, tan = dg.jvp(lambda x: dg.pad(x, (1, 1), value=9.0), (x,), (dg.tensor(np.ones((1, 2))),))
    assert tan.tolist() == [[0.0, 1.0, 1.0, 0.0]]


def test_softmax_over_a_single_element_axis_is_one():
    x = dg.tensor(np.random.default_rng(0).standard_normal((3, 1)))
    np.testing.assert_array_equal(dg.softmax(x, 1).numpy(), 1.0)
    np.testing.assert_array_equal(dg.log_softmax(x, 1).numpy(), 0.0)


def test_logsumexp_of_all_minus_infinity_is_minus_infinity():
    out = dg.logsumexp(dg.tensor([[-np.inf, -np.inf], [0.0, -np.inf]]), 1)
    np.testing.assert_array_equal(out.numpy(), torch.logsumexp(torch.tensor([[-np.inf, -np.inf], [0.0, -np.inf]]), 1))



@pytest.mark.parametrize("shape,axes", [((4, 3, 5, 6), (0, 2, 3)), ((4, 3, 5), (0, 2)), ((2, 7), (0,)),
                                        ((3, 4, 5), (1, 2)), ((3, 4, 5), (2,)), ((3, 4, 5), (0, 2))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_normalize_array_mean_equals_numpy_mean(shape, axes, dtype):
    """The per-channel / trailing means that batch, layer and group norm take by matrix-vector products."""
    from deepgrad.kernels.generic import mean as array_mean
    rng = np.random.default_rng(len(shape) + sum(axes))
    a = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    for arr in (a, np.asfortranarray(a)):
        got = array_mean(arr, axes)
        expected = arr.mean(axes, keepdims=True)
        assert got.shape == expected.shape and got.dtype == expected.dtype
        tol = {np.float16: 1e-2, np.float32: 1e-6, np.float64: 1e-14}[dtype]
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
