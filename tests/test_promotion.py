"""Type promotion follows PyTorch (issue 17): ``result_type``/``promote_types`` and every elementwise
operator over a table of every dtype pair and operand kind (tensor with dimensions, 0-dim tensor, Python
number, NumPy number), checked against torch."""
import itertools

import numpy as np
import pytest

import deepgrad as dg

torch = pytest.importorskip("torch")

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
SCALARS = [True, 3, 2.5, np.float64(2.5), np.float32(2.5), np.int64(3), np.int8(3), np.bool_(True)]


def _values(dtype, shape):
    """Small positive values, exact in every dtype (no overflow, no division by zero)."""
    a = np.arange(1, 1 + int(np.prod(shape)), dtype=np.int64).reshape(shape) % 3 + 1
    return np.asarray(a.astype(dtype))


def _pair(dtype, shape):
    a = _values(dtype, shape)
    return dg.tensor(a, dtype=dtype), torch.from_numpy(a.copy())


def _torch_scalar(s):
    return s.item() if isinstance(s, np.generic) else s


@pytest.mark.parametrize("a, b", list(itertools.product(DTYPES, DTYPES)))
def test_promote_types_matches_torch(a, b):
    assert dg.promote_types(a, b).name == str(torch.promote_types(getattr(torch, a), getattr(torch, b)))[6:]


@pytest.mark.parametrize("a, b", list(itertools.product(DTYPES, DTYPES)))
@pytest.mark.parametrize("shapes", [((2,), (2,)), ((2,), ()), ((), (2,)), ((), ())], ids=str)
def test_result_type_of_tensors_matches_torch(a, b, shapes):
    (x, tx), (y, ty) = _pair(a, shapes[0]), _pair(b, shapes[1])
    assert dg.result_type(x, y).name == str(torch.result_type(tx, ty))[6:]


@pytest.mark.parametrize("a", DTYPES)
@pytest.mark.parametrize("s", SCALARS, ids=repr)
@pytest.mark.parametrize("shape", [(2,), ()], ids=str)
def test_result_type_with_numbers_matches_torch(a, s, shape):
    x, tx = _pair(a, shape)
    assert dg.result_type(x, s).name == str(torch.result_type(tx, _torch_scalar(s)))[6:]


OPS = {
    "add": (lambda x, y: x + y), "sub": (lambda x, y: x - y), "mul": (lambda x, y: x * y),
    "div": (lambda x, y: x / y), "pow": (lambda x, y: x ** y), "rpow": (lambda x, y: y ** x),
    "rsub": (lambda x, y: y - x), "rdiv": (lambda x, y: y / x),
    "maximum": (lambda m, x, y: m.maximum(x, y)), "minimum": (lambda m, x, y: m.minimum(x, y)),
    "lt": (lambda x, y: x < y), "eq": (lambda x, y: x == y),
    "where": (lambda m, x, y: m.where(m.ones(()).bool() if m is torch else m.tensor(True), x, y)),
}
_WITH_MODULE = {"maximum", "minimum", "where"}


def _run(op, module, x, y):
    f = OPS[op]
    return f(module, x, y) if op in _WITH_MODULE else f(x, y)


def _compare(op, dgx, tx, dgy, ty):
    """Same dtype and values as torch, or an error where torch raises one."""
    try:
        expected = _run(op, torch, tx, ty)
    except RuntimeError:
        with pytest.raises((TypeError, ValueError)):
            _run(op, dg, dgx, dgy)
        return
    got = _run(op, dg, dgx, dgy)
    assert got.dtype.name == str(expected.dtype)[6:], (op, got.dtype, expected.dtype)
    np.testing.assert_allclose(got.numpy().astype(np.float64), expected.numpy().astype(np.float64),
                               rtol=2e-3)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("a, b", list(itertools.product(DTYPES, DTYPES)))
def test_operators_on_tensor_pairs_match_torch(op, a, b):
    for shapes in ((3,), (3,)), ((3,), ()), ((), (3,)):
        (x, tx), (y, ty) = _pair(a, shapes[0]), _pair(b, shapes[1])
        if op in ("pow", "rpow") and "bool" in (a, b):
            continue   # torch.pow refuses bool bases and exponents in some pairs and not others
        _compare(op, x, tx, y, ty)


@pytest.mark.parametrize("op", [o for o in OPS if o not in _WITH_MODULE])
@pytest.mark.parametrize("a", DTYPES)
@pytest.mark.parametrize("s", [True, 3, 2.5, np.float64(2.5), np.int64(2)], ids=repr)
def test_operators_with_numbers_match_torch(op, a, s):
    if a == "bool" and op in ("pow", "rpow", "sub", "rsub"):
        return   # torch refuses these for bool tensors (and so do we, with another wording)
    if isinstance(s, (bool, np.bool_)) and op in ("pow", "rpow", "sub", "rsub"):
        return
    x, tx = _pair(a, (3,))
    _compare(op, x, tx, s, _torch_scalar(s))


@pytest.mark.parametrize("a, b", list(itertools.product(DTYPES, DTYPES)))
def test_cat_promotes_as_torch(a, b):
    (x, tx), (y, ty) = _pair(a, (2,)), _pair(b, (3,))
    got, expected = dg.cat([x, y]), torch.cat([tx, ty])
    assert got.dtype.name == str(expected.dtype)[6:]
    np.testing.assert_array_equal(got.numpy().astype(np.float64), expected.numpy().astype(np.float64))


@pytest.mark.parametrize("fn", ["exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "log1p", "expm1", "erf"])
@pytest.mark.parametrize("a", ["bool", "uint8", "int8", "int32", "int64"])
def test_float_functions_of_integers_are_default_float(fn, a):
    x, tx = _pair(a, (3,))
    got, expected = getattr(dg, fn)(x), getattr(torch, fn)(tx)
    assert got.dtype == dg.float32 and expected.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6)


@pytest.mark.parametrize("a", ["bool", "uint8", "int8", "int32", "int64"])
def test_sums_and_products_of_integers_are_int64(a):
    x, tx = _pair(a, (2, 3))
    for name in ("sum", "prod"):
        got, expected = getattr(x, name)(), getattr(tx, name)()
        assert got.dtype == dg.int64 and expected.dtype == torch.int64
        assert got.item() == expected.item()


def test_clamp_of_integers_with_float_bounds_is_float32():
    x, tx = _pair("int64", (3,))
    got, expected = x.clamp(min=1.5), tx.clamp(min=1.5)
    assert got.dtype == dg.float32 and expected.dtype == torch.float32
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_matmul_refuses_mixed_dtypes_as_torch():
    with pytest.raises(TypeError, match="same dtype"):
        dg.ones(2, 2) @ dg.ones(2, 2, dtype="float64")


# ---------------------------------------------------------------- the issue's examples
def test_the_issues_examples_stay_float32():
    x = dg.linspace(-1, 1, 5)
    assert (x ** dg.tensor([2])).dtype == dg.float32
    assert (x + dg.tensor([1], dtype="int64")).dtype == dg.float32
    assert (dg.tensor([1, 2]) * 0.5).dtype == dg.float32


def test_polynomial_features_feed_a_float32_linear_layer():
    """pytorch/tutorials' polynomial fit: x.unsqueeze(-1).pow(tensor([1, 2, 3])) into Linear(3, 1)."""
    x = dg.linspace(-3.14, 3.14, 20)
    xx = x.unsqueeze(-1).pow(dg.tensor([1, 2, 3]))
    assert xx.dtype == dg.float32
    out = dg.nn.Linear(3, 1)(xx)
    tx = torch.linspace(-3.14, 3.14, 20)
    np.testing.assert_allclose(xx.numpy(), tx.unsqueeze(-1).pow(torch.tensor([1, 2, 3])).numpy(), rtol=1e-6)
    assert out.shape == (20, 1) and out.dtype == dg.float32


def test_gradients_come_back_in_each_inputs_dtype():
    x = dg.tensor([1.0, 2.0], dtype="float16", requires_grad=True)
    y = dg.tensor([3.0, 4.0], dtype="float32", requires_grad=True)
    (x * y).sum().backward()
    tx = torch.tensor([1.0, 2.0], dtype=torch.float16, requires_grad=True)
    ty = torch.tensor([3.0, 4.0], requires_grad=True)
    (tx * ty).sum().backward()
    assert x.grad.dtype == dg.float16 and y.grad.dtype == dg.float32
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy())


def test_numpy_numbers_and_arrays_on_either_side_keep_the_graph():
    w = dg.tensor([1.0, 2.0], requires_grad=True)
    for y in (np.float32(3) * w, w * np.float32(3), np.float64(3) * w, np.ones(2, np.float32) * 3 * w):
        assert isinstance(y, dg.Tensor) and y.dtype == dg.float32 and y.requires_grad
    y = np.ones(2) + w          # a float64 array is a tensor with dimensions: float64, as in torch
    assert isinstance(y, dg.Tensor) and y.dtype == dg.float64
    (np.float32(3) * w).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 3.0])
    with pytest.raises(TypeError, match="requires grad"):
        np.arctan2(w, w)
    assert isinstance(np.isnan(w.detach()), dg.Tensor)


def test_subtraction_and_negation_of_bools_are_refused_as_in_torch():
    b = dg.tensor([True, False])
    for bad in (lambda: b - b, lambda: b - 1, lambda: 1.0 - b, lambda: dg.ones(2) - b, lambda: -b,
                lambda: dg.ones(2) - True):
        with pytest.raises(TypeError, match="bool"):
            bad()


def test_tuples_and_lists_are_refused_by_operators():
    t = dg.tensor([[1.0, 2.0], [3.0, 0.0]])
    with pytest.raises(TypeError, match="values"):
        t + t.max(dim=0)
    with pytest.raises(TypeError, match="list"):
        t * [1.0, 2.0]


# ---------------------------------------------------------------- the default dtype
@pytest.fixture
def float64_default():
    dg.set_default_dtype(dg.float64)
    torch.set_default_dtype(torch.float64)
    yield
    dg.set_default_dtype(dg.float32)
    torch.set_default_dtype(torch.float32)


def test_default_dtype_governs_python_floats(float64_default):
    assert dg.get_default_dtype() == dg.float64
    assert dg.tensor([1.5]).dtype == dg.float64 and dg.zeros(2).dtype == dg.float64
    assert (dg.tensor([1, 2]) * 2.5).dtype == dg.float64 == np.dtype(str(
        (torch.tensor([1, 2]) * 2.5).dtype)[6:])
    assert (dg.tensor([1, 2]) / dg.tensor([2, 2])).dtype == dg.float64
    assert dg.exp(dg.tensor([1])).dtype == dg.float64


def test_set_default_dtype_refuses_integers():
    with pytest.raises(TypeError, match="floating"):
        dg.set_default_dtype(dg.int64)
    assert dg.get_default_dtype() == dg.float32
