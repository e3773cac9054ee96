"""Bad input gets a clear error that names the operation and the offending shapes or dtypes, raised
by deepgrad itself: never a bare NumPy exception, nor a NumPy error chained underneath."""
import re
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.autograd.function import Primitive, apply

NUMPY_DIR = Path(np.__file__).parent


@contextmanager
def clear_error(exc_type, *fragments):
    """Expect ``exc_type`` whose message contains every fragment (in any order), raised from deepgrad's
    code and not chained to another exception."""
    pattern = re.compile("".join(f"(?=.*{re.escape(f)})" for f in fragments), re.S)
    with pytest.raises(exc_type, match=pattern) as info:
        yield info
    error = info.value
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__), \
        f"the error is chained to {error.__context__!r}"
    raised_in = Path(str(info.traceback[-1].path))
    assert NUMPY_DIR not in raised_in.parents, f"raised inside NumPy ({raised_in})"


def f64(*shape):
    return dg.zeros(*shape, dtype=dg.float64)


# ---------------------------------------------------------------- matmul and broadcasting
def test_matmul_inner_dimension_mismatch():
    with clear_error(ValueError, "matmul", "(3, 4)", "(5, 6)"):
        dg.matmul(dg.zeros(3, 4), dg.zeros(5, 6))


def test_matmul_operator_and_batch_mismatch():
    with clear_error(ValueError, "matmul", "(2, 3, 4)", "(3, 4, 5)", "batch"):
        dg.zeros(2, 3, 4) @ dg.zeros(3, 4, 5)
    with clear_error(ValueError, "matmul", "(3,)", "(4,)"):
        dg.zeros(3) @ dg.zeros(4)


@pytest.mark.parametrize("left, right", [(dg.float32, dg.float64), (dg.int64, dg.float32)])
def test_matmul_of_mixed_dtypes(left, right):
    """As PyTorch: a matrix product does not promote silently."""
    with clear_error(TypeError, "matmul", "same dtype", str(left), str(right)):
        dg.zeros(2, 3, dtype=left) @ dg.zeros(3, 2, dtype=right)


def test_matmul_of_a_scalar():
    with clear_error(ValueError, "matmul", "at least 1 dimension", "()"):
        dg.matmul(dg.tensor(2.0), dg.zeros(3))


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "maximum", "minimum", "pow"])
def test_binary_broadcast_mismatch_names_op_and_shapes(name):
    with clear_error(ValueError, name, "(2, 3)", "(4,)", "broadcast"):
        getattr(dg, name)(dg.ones(2, 3), dg.ones(4))


def test_operator_broadcast_mismatch():
    with clear_error(ValueError, "add", "(2, 3)", "(4,)"):
        dg.zeros(2, 3) + dg.zeros(4)


def test_where_broadcast_mismatch():
    with clear_error(ValueError, "where", "(2, 3)", "(4,)"):
        dg.where(dg.zeros(2, 3) > 0, dg.zeros(4), 1.0)


def test_where_with_non_bool_condition():
    with clear_error(TypeError, "where", "bool", "float32"):
        dg.where(dg.zeros(3), dg.zeros(3), dg.ones(3))


# ---------------------------------------------------------------- shape ops
def test_reshape_to_incompatible_shape():
    with clear_error(ValueError, "reshape", "(2, 3)", "(4, 2)"):
        dg.zeros(2, 3).reshape(4, 2)
    with clear_error(ValueError, "reshape", "(2, 3)", "(4, -1)"):
        dg.zeros(2, 3).view(4, -1)
    with clear_error(ValueError, "reshape", "at most one -1"):
        dg.zeros(2, 3).reshape(-1, -1)


def test_expand_to_incompatible_shape():
    with clear_error(ValueError, "expand", "(2, 3)", "(2, 4)"):
        dg.zeros(2, 3).expand(2, 4)
    with clear_error(ValueError, "expand", "(3,)", "fewer dimensions"):
        dg.zeros(2, 3).expand(3)
    with clear_error(ValueError, "expand", "-1", "leading"):
        dg.zeros(2, 3).expand(-1, 2, 3)


@pytest.mark.parametrize("dims, fragment", [((0, 0), "not a permutation"), ((0, 1, 2), "not a permutation"),
                                            ((0, 5), "dim 5 is out of range"), ((-3, 1), "out of range")])
def test_permute_with_wrong_dims(dims, fragment):
    with clear_error(ValueError, "permute", fragment, "(2, 3)"):
        dg.zeros(2, 3).permute(*dims)


def test_transpose_and_unsqueeze_out_of_range():
    with clear_error(ValueError, "transpose", "dim 2"):
        dg.zeros(2, 3).transpose(0, 2)
    with clear_error(ValueError, "unsqueeze", "dim 3", "(3,)"):
        dg.zeros(3).unsqueeze(3)


def test_concatenate_mismatched_shapes():
    with clear_error(ValueError, "concatenate", "tensor 1", "(2, 4)", "(2, 3)"):
        dg.cat([dg.zeros(2, 3), dg.zeros(2, 4)], 0)
    with clear_error(ValueError, "concatenate", "(3,)", "(2, 3)"):
        dg.concatenate([dg.zeros(2, 3), dg.zeros(3)])
    with clear_error(ValueError, "concatenate", "zero-dimensional"):
        dg.cat([dg.tensor(1.0), dg.tensor(2.0)])
    with clear_error(ValueError, "concatenate", "at least one"):
        dg.cat([])


def test_stack_mismatched_shapes():
    with clear_error(ValueError, "stack", "(3, 2)", "(2, 3)"):
        dg.stack([dg.zeros(2, 3), dg.zeros(3, 2)])


def test_pad_and_split_arguments():
    with clear_error(ValueError, "pad", "(1,)"):
        dg.pad(dg.zeros(2, 3), (1,))
    with clear_error(ValueError, "split", "[1, 2]", "size 4"):
        dg.split(dg.zeros(4), [1, 2])


# ---------------------------------------------------------------- reductions
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "prod", "logsumexp", "var", "softmax"])
def test_reduction_over_out_of_range_dim(name):
    with clear_error(ValueError, name, "dim 2", "2 dimensions"):
        getattr(dg, name)(dg.zeros(2, 3), 2)


def test_reduction_over_repeated_dim():
    with clear_error(ValueError, "sum", "repeats"):
        dg.zeros(2, 3).sum((0, -2))


@pytest.mark.parametrize("name, shape, dim", [("max", (0,), None), ("min", (2, 0), 1), ("argmax", (0,), None)])
def test_extremum_of_empty_tensor(name, shape, dim):
    with clear_error(ValueError, name, "empty", str(shape)):
        getattr(dg, name)(dg.zeros(*shape), dim)


def test_mean_of_integer_tensor():
    with clear_error(TypeError, "mean", "int64"):
        dg.tensor([1, 2]).mean()


# ---------------------------------------------------------------- indexing
@pytest.mark.parametrize("index, fragment", [(5, "index 5"), ((0, 3), "index 3"),
                                             ([0, 7], "index 7"), ((0, 0, 0), "too many indices")])
def test_getitem_out_of_bounds(index, fragment):
    with clear_error(IndexError, "getitem", fragment, "(2, 3)"):
        dg.zeros(2, 3)[dg.tensor(index) if isinstance(index, list) else index]


def test_getitem_unsupported_index():
    with clear_error(IndexError, "getitem", "1.5", "float"):
        dg.zeros(2, 3)[1.5]
    with clear_error(IndexError, "getitem", "float32"):
        dg.zeros(3)[dg.tensor([0.0])]


@pytest.mark.parametrize("shape, mask_shape", [((3,), (2,)), ((2, 3), (3,)), ((2, 3), (3, 2))])
def test_getitem_boolean_mask_of_wrong_shape(shape, mask_shape):
    # a shorter mask used to select silently, as if padded with False
    with clear_error(IndexError, "getitem", "mask", str(mask_shape), str(shape)):
        dg.zeros(*shape)[dg.ones(*mask_shape, dtype=dg.bool_)]


def test_setitem_errors():
    with clear_error(ValueError, "setitem", "(5,)", "(3, 3)"):
        dg.zeros(3, 3)[0] = dg.zeros(5)
    with clear_error(IndexError, "setitem", "index 5", "(3, 3)"):
        dg.zeros(3, 3)[5] = 1.0
    with clear_error(RuntimeError, "in-place", "no_grad"):
        dg.zeros(3, requires_grad=True)[0] = 1.0


# ---------------------------------------------------------------- tensors and dtypes
def test_requires_grad_on_integer_tensor():
    with clear_error(TypeError, "floating-point", "int64"):
        dg.tensor([1, 2], requires_grad=True)
    with clear_error(TypeError, "floating-point", "int32"):
        dg.tensor([1, 2], dtype=dg.int32).requires_grad_()
    with clear_error(TypeError, "floating-point", "bool"):
        dg.ones(2, dtype=dg.bool_, requires_grad=True)


def test_item_and_bool_of_multi_element_tensor():
    with clear_error(ValueError, "item()", "(2, 3)"):
        dg.zeros(2, 3).item()
    with clear_error(ValueError, "ambiguous", "3 elements"):
        bool(dg.zeros(3))


@pytest.mark.parametrize("name", ["complex64", "float128", "object"])
def test_unsupported_dtype_name(name):
    with clear_error(TypeError, "unsupported dtype", name, "float32"):
        dg.zeros(3, dtype=name)


def test_unknown_dtype_name():
    with clear_error(TypeError, "dtype", "'banana'"):
        dg.tensor([1.0], dtype="banana")
    with clear_error(TypeError, "unsupported dtype", "complex128"):
        dg.zeros(3).astype("complex128")


def test_tensor_from_strings():
    with clear_error(TypeError, "cannot make a tensor", "str"):
        dg.tensor("abc")


# ---------------------------------------------------------------- transforms and gradcheck
def test_gradcheck_needs_float64_tensors():
    with clear_error(TypeError, "gradcheck", "input 0", "float32", "float64"):
        dg.gradcheck(lambda x: x * 2.0, (dg.zeros(3),))
    with clear_error(TypeError, "gradcheck", "input 1", "ndarray"):
        dg.gradcheck(lambda x, y: x * y, (f64(3), np.zeros(3)))
    with clear_error(TypeError, "gradcheck", "float32"):
        dg.gradgradcheck(lambda x: x * x, (dg.zeros(3),))


class _WrongSquare(Primitive):
    """x², with a VJP that forgets the factor 2 and a correct JVP."""
    def forward(self, x):
        return x * x

    def vjp(self, g, out, x):
        return (g * x,)

    def jvp(self, tangents, out, x):
        return tangents[0] * x * 2.0


def test_gradcheck_names_mode_input_and_element_of_a_wrong_derivative():
    x = dg.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=dg.float64)
    with clear_error(dg.GradcheckError, "reverse mode", "output[0][0, 0]", "input[0][0, 0]", "(2, 2)"):
        dg.gradcheck(lambda t: apply(_WrongSquare(), (t,), {}), (x,))
    assert dg.gradcheck(lambda t: apply(_WrongSquare(), (t,), {}), (x,), raise_exception=False) is False
    assert dg.gradcheck(lambda t: apply(_WrongSquare(), (t,), {}), (x,), check_backward_ad=False)


def test_jvp_with_mismatched_tangent():
    with clear_error(ValueError, "jvp", "tangent 0", "(4,)", "(3,)"):
        dg.jvp(lambda x: x * 2.0, (f64(3),), (f64(4),))
    with clear_error(TypeError, "jvp", "tuples"):
        dg.jvp(lambda x: x * 2.0, f64(3), f64(3))


def test_vjp_fn_with_wrong_cotangent():
    _, vjp_fn = dg.vjp(lambda x: x * 2.0, f64(3))
    with clear_error(ValueError, "vjp_fn", "cotangent 0", "(4,)", "(3,)"):
        vjp_fn(f64(4))
    with clear_error(ValueError, "vjp_fn", "structure"):
        vjp_fn((f64(3), f64(3)))


def test_transforms_reject_integer_primals():
    with clear_error(TypeError, "vjp primals", "int64"):
        dg.vjp(lambda x: x * 2, dg.tensor([1, 2]))
    with clear_error(TypeError, "jvp primals", "int64"):
        dg.jvp(lambda x: x * 2, (dg.tensor([1, 2]),), (dg.tensor([1, 1]),))


def test_vjp_of_function_returning_non_tensor():
    with clear_error(TypeError, "vjp", "Tensors", "float"):
        dg.vjp(lambda x: 3.0, f64(3))


def test_to_accepts_cpu_and_dtypes_and_refuses_other_devices():
    x = dg.ones(2)
    assert x.to("cpu") is x and x.to("float64").dtype == dg.float64 and x.to("cpu", dg.float16).dtype == dg.float16
    with pytest.raises(RuntimeError, match="device 'cuda' is not available"):
        x.to("cuda")


def test_python_abs_works_on_tensors_and_is_differentiable():
    x = dg.tensor([-1.5, 2.0], requires_grad=True)
    abs(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [-1.0, 1.0])
