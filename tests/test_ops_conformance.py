"""Every op of deepgrad/ops against PyTorch 2.x (CPU), through one table of cases.

The cases live next to their op-specific tests: ELEMENTWISE_CASES in test_ops_elementwise.py,
REDUCE_SHAPE_CASES in test_ops_reduce_shape.py and API_CASES in test_ops_api.py. Each case is checked here for
  * forward values and dtypes, float32 (rtol 1e-5) and float64 (rtol 1e-10);
  * the VJP against torch.func.vjp with the same random cotangent, for every input;
  * the JVP against torch.func.jvp with the same random tangents;
  * the Hessian of Σ w·op(x) (fixed random w) against torch.func.hessian, float64;
  * dg.gradcheck and dg.gradgradcheck (finite differences), float64, away from kinks and ties.
test_every_public_op_is_covered checks that each op named in the API (API_OPS) has a case.
"""
import pytest

import deepgrad as dg
from _opcheck import DTYPES, check_forward, check_gradchecks, check_hessian, check_jvp, check_vjp, params
from test_ops_api import API_CASES
from test_ops_elementwise import ELEMENTWISE_CASES
from test_ops_reduce_shape import REDUCE_SHAPE_CASES

# torch.func.jvp imports modules that call the deprecated torch.jit.script (PyTorch's own warning)
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

CASES = ELEMENTWISE_CASES + REDUCE_SHAPE_CASES + API_CASES
DIFFERENTIABLE = params(CASES, lambda c: c.derivatives)

# The ops listed in the API (ops/ modules), by public name.
API_OPS = {
    "unary": "exp log log1p expm1 sqrt abs sin cos erf tanh sigmoid relu astype clip identity neg",
    "binary": "add sub mul div pow maximum minimum where lt le gt ge eq ne logical_and logical_or",
    "reduce": "sum max min prod logsumexp mean var std argmax argmin softmax log_softmax",
    "shape": "reshape permute transpose expand broadcast_to squeeze unsqueeze flatten concatenate cat stack "
             "split pad flip swapaxes",
    "index": "getitem",
    "linalg": "matmul",
    "activation": "leaky_relu elu gelu softplus",
}


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


@pytest.mark.parametrize("module", sorted(API_OPS))
def test_every_public_op_is_covered(module):
    covered = {c.op for c in CASES}
    missing = [op for op in API_OPS[module].split() if op not in covered]
    assert not missing, f"ops/{module}.py: no conformance case for {missing}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", params(CASES))
def test_forward_matches_torch(case, dtype):
    check_forward(case, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", DIFFERENTIABLE)
def test_vjp_matches_torch_func_vjp(case, dtype):
    check_vjp(case, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", DIFFERENTIABLE)
def test_jvp_matches_torch_func_jvp(case, dtype):
    check_jvp(case, dtype)


@pytest.mark.parametrize("case", params(CASES, lambda c: c.derivatives))
def test_hessian_matches_torch_func_hessian_float64(case):
    check_hessian(case)


@pytest.mark.parametrize("case", params(CASES, lambda c: c.derivatives and c.smooth))
def test_gradcheck_and_gradgradcheck_float64(case):
    check_gradchecks(case)


def test_vjp_of_a_function_returning_the_same_input_twice_adds_the_cotangents():
    # add's VJP returns the cotangent itself for both inputs, so gradgradcheck(add) differentiates
    # a function whose two outputs are one tensor.
    x = dg.tensor(1.0, dtype=dg.float64)
    _, vjp_fn = dg.vjp(lambda x: (x, x), x)
    (g,) = vjp_fn((dg.tensor(1.0, dtype=dg.float64), dg.tensor(2.0, dtype=dg.float64)))
    assert g.item() == 3.0   # as torch.func.vjp

