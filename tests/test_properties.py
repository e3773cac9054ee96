"""Property tests over random shapes: broadcasting binary ops and reductions agree with NumPy in
value, in shape and in their (reverse- and forward-mode) derivatives.

The references are written independently of deepgrad: partial derivatives by hand and the sum over
broadcast axes by a loop, not by deepgrad's ``unbroadcast``."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import deepgrad as dg

SETTINGS = settings(max_examples=40, deadline=None)


def T(array, requires_grad=False):
    return dg.tensor(np.asarray(array, dtype=np.float64), dtype=dg.float64, requires_grad=requires_grad)


def sum_to_shape(a, shape):
    """Reference for the gradient of a broadcast input: sum the leading axes broadcasting added and
    the axes it stretched from size 1."""
    while a.ndim > len(shape):
        a = a.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and a.shape[axis] != 1:
            a = a.sum(axis=axis, keepdims=True)
    return a


def floats(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


# ---------------------------------------------------------------- binary ops
def _max_share(x, y):
    return (x > y) + 0.5 * (x == y)


BINARY = {
    # name: (values of x, values of y, numpy op, (∂/∂x, ∂/∂y) as functions of x, y)
    "add": (floats(-3, 3), floats(-3, 3), np.add,
            (lambda x, y: np.ones_like(x * y), lambda x, y: np.ones_like(x * y))),
    "sub": (floats(-3, 3), floats(-3, 3), np.subtract,
            (lambda x, y: np.ones_like(x * y), lambda x, y: -np.ones_like(x * y))),
    "mul": (floats(-3, 3), floats(-3, 3), np.multiply,
            (lambda x, y: y + 0 * x, lambda x, y: x + 0 * y)),
    "div": (floats(-3, 3), floats(0.5, 3) | floats(-3, -0.5), np.divide,
            (lambda x, y: 1 / y + 0 * x, lambda x, y: -x / y ** 2)),
    # small integers make ties frequent: at a tie each side gets half the gradient
    "maximum": (st.integers(-2, 2).map(float), st.integers(-2, 2).map(float), np.maximum,
                (lambda x, y: _max_share(x, y), lambda x, y: 1 - _max_share(x, y))),
    "minimum": (st.integers(-2, 2).map(float), st.integers(-2, 2).map(float), np.minimum,
                (lambda x, y: _max_share(y, x), lambda x, y: 1 - _max_share(y, x))),
    "pow": (floats(0.1, 3), floats(-2, 2), np.power,
            (lambda x, y: y * x ** (y - 1), lambda x, y: x ** y * np.log(x))),
}


@st.composite
def binary_case(draw, name):
    x_values, y_values = BINARY[name][:2]
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3))
    x = draw(hnp.arrays(np.float64, shapes.input_shapes[0], elements=x_values))
    y = draw(hnp.arrays(np.float64, shapes.input_shapes[1], elements=y_values))
    cot = draw(hnp.arrays(np.float64, shapes.result_shape, elements=floats(-2, 2)))
    return x, y, cot


def _binary_property(name):
    _, _, np_op, (d_dx, d_dy) = BINARY[name]
    op = getattr(dg, name)

    @SETTINGS
    @given(case=binary_case(name))
    def check(case):
        xv, yv, cot = case
        x, y = T(xv, True), T(yv, True)
        out = op(x, y)
        assert out.shape == np.broadcast_shapes(xv.shape, yv.shape)
        np.testing.assert_allclose(out.numpy(), np_op(xv, yv), rtol=1e-12)

        gx, gy = dg.autograd.grad(out, (x, y), grad_outputs=T(cot))
        assert gx.shape == xv.shape and gy.shape == yv.shape
        np.testing.assert_allclose(gx.numpy(), sum_to_shape(cot * d_dx(xv, yv), xv.shape), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gy.numpy(), sum_to_shape(cot * d_dy(xv, yv), yv.shape), rtol=1e-10, atol=1e-12)

        # forward mode: the tangent (1, 0) gives ∂op/∂x, broadcast to the output's shape
        _, tangent = dg.jvp(op, (T(xv), T(yv)), (T(np.ones_like(xv)), T(np.zeros_like(yv))))
        assert tangent.shape == out.shape
        np.testing.assert_allclose(tangent.numpy(), np.broadcast_to(d_dx(xv, yv), out.shape), rtol=1e-10)

    return check


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_op_broadcasting_values_and_gradients(name):
    _binary_property(name)()


# ---------------------------------------------------------------- reductions
@st.composite
def reduction_case(draw, min_side=1, elements=floats(-3, 3)):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=min_side, max_side=4))
    x = draw(hnp.arrays(np.float64, shape, elements=elements))
    ndim = len(shape)
    axes = draw(st.none() | st.integers(-ndim, ndim - 1)
                | st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple))
    keepdim = draw(st.booleans())
    return x, axes, keepdim


def _axes_tuple(axes, ndim):
    if axes is None:
        return tuple(range(ndim))
    return tuple(a % ndim for a in ((axes,) if isinstance(axes, int) else axes))


def _expand(r, shape, axes):
    """A reduced array with keepdims=False broadcast back against the input."""
    return np.broadcast_to(np.expand_dims(r, axes), shape)


def _count(shape, axes):
    return int(np.prod([shape[a] for a in axes]))


def _extremum_grad(np_reduce):
    def grad(x, axes):
        hit = (x == np_reduce(x, axis=axes, keepdims=True)).astype(np.float64)
        return hit / hit.sum(axis=axes, keepdims=True)
    return grad


def _logsumexp(x, axis, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _var(x, axis, keepdims=False):
    """Bessel-corrected variance (torch.var's default correction=1)."""
    d = x - x.mean(axis=axis, keepdims=True)
    return (d * d).sum(axis=axis, keepdims=keepdims) / (_count(x.shape, axis) - 1)


REDUCTIONS = {
    # name: (numpy reference f(x, axis, keepdims), ∂ out / ∂ x as a function of (x, axes), elements)
    "sum": (np.sum, lambda x, axes: np.ones_like(x), floats(-3, 3)),
    "mean": (np.mean, lambda x, axes: np.ones_like(x) / _count(x.shape, axes), floats(-3, 3)),
    "amax": (np.max, _extremum_grad(np.max), st.integers(-2, 2).map(float)),
    "amin": (np.min, _extremum_grad(np.min), st.integers(-2, 2).map(float)),
    "prod": (np.prod, lambda x, axes: np.prod(x, axis=axes, keepdims=True) / x,
             floats(0.5, 2) | floats(-2, -0.5)),
    "logsumexp": (_logsumexp, lambda x, axes: np.exp(x - _logsumexp(x, axes, keepdims=True)), floats(-3, 3)),
    "var": (_var, lambda x, axes: 2 * (x - x.mean(axis=axes, keepdims=True)) / (_count(x.shape, axes) - 1),
            floats(-3, 3)),
}


def _reduction_property(name):
    np_reduce, d_dx, elements = REDUCTIONS[name]
    op = getattr(dg, name)
    min_side = 2 if name == "var" else 1       # keep n - 1 > 0 so the gradient is finite

    @SETTINGS
    @given(case=reduction_case(min_side=min_side, elements=elements))
    def check(case):
        xv, axes, keepdim = case
        ax = _axes_tuple(axes, xv.ndim)
        x = T(xv, True)
        out = op(x, axes, keepdim=keepdim)
        expected = np_reduce(xv, axis=ax, keepdims=keepdim)
        assert out.shape == np.shape(expected)
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)

        cot = np.linspace(-1.0, 2.0, int(np.prod(out.shape))).reshape(out.shape)
        (gx,) = dg.autograd.grad(out, x, grad_outputs=T(cot))
        assert gx.shape == xv.shape
        cot_full = _expand(cot if not keepdim else np.squeeze(cot, axis=ax), xv.shape, ax)
        np.testing.assert_allclose(gx.numpy(), cot_full * d_dx(xv, ax), rtol=1e-9, atol=1e-12)

    return check


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_values_and_gradients(name):
    _reduction_property(name)()


def test_reduction_over_dim_zero_of_a_0d_tensor():
    x = T(2.0, True)
    out = dg.sum(x, 0)
    assert out.shape == () and out.item() == 2.0
