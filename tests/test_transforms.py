"""Function transforms with JAX semantics (dg.grad, value_and_grad, vjp, jvp, jacfwd, jacrev,
hessian): argnums, has_aux, pytrees, composition, perturbation confusion and closures. Where torch is
installed the results are compared with torch.func in float64.

The test functions below use only operations that dg.Tensor and torch.Tensor spell the same way
(methods, operators, indexing), so one definition serves both frameworks."""
import numpy as np
import pytest

import deepgrad as dg

RNG = np.random.default_rng(1234)
XV = RNG.standard_normal(3)
YV = RNG.standard_normal(3)
WV = RNG.standard_normal((2, 3))


def T(values):
    return dg.tensor(values, dtype=dg.float64)


def scalar_fn(x):
    return (x.sin() * x.exp()).sum() + (x * x * x).sum() * 0.5


def vector_fn(x):                                  # R^3 -> R^2, couples all entries
    return (x * x[0]).tanh()[:2] + x[1:].exp() * x[2]


def two_arg_fn(x, y):
    return (x * y.sin()).sum() + (x * x * y).sum()


def matrix_fn(w, x):                               # (2,3), (3,) -> (2,)
    return (w @ x).tanh() * (w * w).sum()


def close(actual, expected, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol)


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tf(torch):
    return torch.func


def tt(torch, values):
    return torch.tensor(values, dtype=torch.float64)


# ---------------------------------------------------------------- grad / value_and_grad
def test_grad_matches_analytic_derivative():
    x = T(XV)
    expected = XV ** 2 * 1.5 + np.exp(XV) * (np.sin(XV) + np.cos(XV))
    close(dg.grad(scalar_fn)(x), expected)


def test_grad_does_not_touch_inputs():
    x = dg.tensor(XV, dtype=dg.float64, requires_grad=True)
    dg.grad(scalar_fn)(x)
    assert x.grad is None and x.is_leaf and x.requires_grad
    y = T(XV)
    dg.grad(scalar_fn)(y)
    assert not y.requires_grad


def test_grad_result_carries_no_graph_without_outer_transform():
    g = dg.grad(scalar_fn)(T(XV))
    assert not g.requires_grad and g.is_leaf


def test_value_and_grad_returns_value_and_gradient():
    x, y = T(XV), T(YV)
    value, grads = dg.value_and_grad(two_arg_fn, argnums=(0, 1))(x, y)
    close(value, np.sum(XV * np.sin(YV)) + np.sum(XV ** 2 * YV))
    gx, gy = grads
    close(gx, np.sin(YV) + 2 * XV * YV)
    close(gy, XV * np.cos(YV) + XV ** 2)


@pytest.mark.parametrize("argnums", [1, -1])
def test_grad_argnums_int_selects_one_argument(argnums):
    g = dg.grad(two_arg_fn, argnums=argnums)(T(XV), T(YV))
    assert isinstance(g, dg.Tensor)
    close(g, XV * np.cos(YV) + XV ** 2)


def test_grad_argnums_tuple_returns_tuple_in_order():
    gy, gx = dg.grad(two_arg_fn, argnums=(1, 0))(T(XV), T(YV))
    close(gx, np.sin(YV) + 2 * XV * YV)
    close(gy, XV * np.cos(YV) + XV ** 2)
    (only,) = dg.grad(two_arg_fn, argnums=(0,))(T(XV), T(YV))
    close(only, gx)


def test_grad_argnums_out_of_range():
    with pytest.raises(ValueError, match="argnums"):
        dg.grad(two_arg_fn, argnums=2)(T(XV), T(YV))


def test_non_differentiated_arguments_may_be_anything():
    def f(x, scale, name):
        assert name == "label"
        return (x * scale).sum()
    close(dg.grad(f)(T(XV), 3.0, "label"), np.full(3, 3.0))


def test_grad_has_aux():
    def f(x):
        loss = (x * x).sum()
        return loss, {"loss": loss, "double": x * 2.0}
    g, aux = dg.grad(f, has_aux=True)(T(XV))
    close(g, 2 * XV)
    close(aux["loss"], np.sum(XV ** 2))
    close(aux["double"], 2 * XV)
    (value, aux2), g2 = dg.value_and_grad(f, has_aux=True)(T(XV))
    close(value, np.sum(XV ** 2))
    close(g2, g)
    assert set(aux2) == {"loss", "double"}


def test_has_aux_requires_a_pair():
    with pytest.raises(TypeError, match="pair"):
        dg.grad(lambda x: (x.sum(), 1, 2), has_aux=True)(T(XV))


@pytest.mark.parametrize("fn", [lambda x: x * 2.0, lambda x: (x * 2.0).sum(0, keepdim=True)],
                         ids=["vector", "shape-(1,)"])
def test_grad_of_non_scalar_output_raises_type_error(fn):
    with pytest.raises(TypeError, match="scalar"):
        dg.grad(fn)(T(XV))


def test_grad_of_integer_input_raises_type_error():
    with pytest.raises(TypeError, match="floating"):
        dg.grad(lambda x: (x * 2).sum())(dg.tensor([1, 2, 3]))


def test_transforms_work_inside_no_grad():
    with dg.no_grad():
        g = dg.grad(scalar_fn)(T(XV))
        _, tangent = dg.jvp(scalar_fn, (T(XV),), (T(np.ones(3)),))
    close(g, dg.grad(scalar_fn)(T(XV)))
    close(tangent, g.numpy().sum())


def test_gradient_keeps_the_argument_dtype():
    x32 = dg.tensor(XV, dtype=dg.float32)
    assert dg.grad(scalar_fn)(x32).dtype == dg.float32
    assert dg.jvp(scalar_fn, (x32,), (T(np.ones(3)),))[1].dtype == dg.float32
    assert dg.jacrev(vector_fn)(x32).dtype == dg.float32


# ---------------------------------------------------------------- pytrees
def test_grad_of_tuple_list_and_dict_arguments():
    def f(params):
        return (params["w"] @ params["b"][0]).sum() * params["b"][1][0]
    params = {"w": T(WV), "b": (T(XV), [T(2.0)])}
    g = dg.grad(f)(params)
    assert set(g) == {"w", "b"} and isinstance(g["b"], tuple) and isinstance(g["b"][1], list)
    close(g["w"], 2.0 * np.outer(np.ones(2), XV))
    close(g["b"][0], 2.0 * WV.sum(0))
    close(g["b"][1][0], (WV @ XV).sum())


def test_vjp_and_jvp_with_pytree_outputs():
    def f(x, y):
        return {"prod": x * y, "pair": (x.sum(), [y.exp()])}
    out, vjp_fn = dg.vjp(f, T(XV), T(YV))
    cot = {"prod": T(np.ones(3)), "pair": (T(2.0), [T(np.arange(3.0))])}
    gx, gy = vjp_fn(cot)
    close(gx, YV + 2.0)
    close(gy, XV + np.arange(3.0) * np.exp(YV))
    assert isinstance(out["pair"][1], list)

    primals_out, tangents_out = dg.jvp(f, (T(XV), T(YV)), (T(np.ones(3)), T(np.zeros(3))))
    close(tangents_out["prod"], YV)
    close(tangents_out["pair"][0], 3.0)
    close(tangents_out["pair"][1][0], np.zeros(3))
    close(primals_out["prod"], XV * YV)


def test_jacrev_and_jacfwd_with_pytree_input_and_output():
    def f(d):
        return [d["a"] * d["b"], (d["a"] * d["a"]).sum()]
    d = {"a": T(XV), "b": T(YV)}
    for jac in (dg.jacrev(f)(d), dg.jacfwd(f)(d)):
        assert isinstance(jac, list) and set(jac[0]) == {"a", "b"}
        close(jac[0]["a"], np.diag(YV))
        close(jac[0]["b"], np.diag(XV))
        close(jac[1]["a"], 2 * XV)
        assert jac[1]["b"].shape == (3,)
        close(jac[1]["b"], np.zeros(3))


def test_vjp_cotangent_structure_must_match():
    _, vjp_fn = dg.vjp(lambda x: (x * 2.0, x.sum()), T(XV))
    with pytest.raises(ValueError, match="structure"):
        vjp_fn(T(np.ones(3)))


def test_vjp_of_unused_primal_is_zero():
    _, vjp_fn = dg.vjp(lambda x, y: x * 2.0, T(XV), T(YV))
    gx, gy = vjp_fn(T(np.ones(3)))
    close(gx, np.full(3, 2.0))
    close(gy, np.zeros(3))


def test_jvp_requires_tuples_of_matching_structure():
    with pytest.raises(TypeError, match="tuples"):
        dg.jvp(scalar_fn, T(XV), T(XV))
    with pytest.raises(ValueError, match="structure"):
        dg.jvp(two_arg_fn, (T(XV), T(YV)), (T(XV),))


def test_jvp_has_aux():
    out, tangent, aux = dg.jvp(lambda x: (x.exp(), "note"), (T(XV),), (T(YV),), has_aux=True)
    close(out, np.exp(XV))
    close(tangent, np.exp(XV) * YV)
    assert aux == "note"


def test_jac_argnums_tuple_shapes():
    jf = dg.jacfwd(matrix_fn, argnums=(0, 1))(T(WV), T(XV))
    jr = dg.jacrev(matrix_fn, argnums=(0, 1))(T(WV), T(XV))
    for jac in (jf, jr):
        assert isinstance(jac, tuple) and len(jac) == 2
        assert jac[0].shape == (2, 2, 3) and jac[1].shape == (2, 3)
    close(jf[0], jr[0])
    close(jf[1], jr[1])


def test_jacrev_has_aux():
    jac, aux = dg.jacrev(lambda x: (x * x, x.sum()), has_aux=True)(T(XV))
    close(jac, np.diag(2 * XV))
    close(aux, XV.sum())


# ---------------------------------------------------------------- against torch.func
def test_vjp_matches_torch(torch, tf):
    ct = RNG.standard_normal(2)
    out, vjp_fn = dg.vjp(matrix_fn, T(WV), T(XV))
    gw, gx = vjp_fn(T(ct))
    t_out, t_vjp = tf.vjp(matrix_fn, tt(torch, WV), tt(torch, XV))
    t_gw, t_gx = t_vjp(tt(torch, ct))
    close(out, t_out.numpy())
    close(gw, t_gw.numpy())
    close(gx, t_gx.numpy())


def test_jvp_matches_torch(torch, tf):
    tw, tx = RNG.standard_normal((2, 3)), RNG.standard_normal(3)
    out, tan = dg.jvp(matrix_fn, (T(WV), T(XV)), (T(tw), T(tx)))
    t_out, t_tan = tf.jvp(matrix_fn, (tt(torch, WV), tt(torch, XV)), (tt(torch, tw), tt(torch, tx)))
    close(out, t_out.numpy())
    close(tan, t_tan.numpy())


@pytest.mark.parametrize("name", ["jacfwd", "jacrev"])
def test_jacobians_match_torch(torch, tf, name):
    jac = getattr(dg, name)(vector_fn)(T(XV))
    expected = getattr(tf, name)(vector_fn)(tt(torch, XV))
    assert jac.shape == (2, 3)
    close(jac, expected.numpy())
    jw, jx = getattr(dg, name)(matrix_fn, argnums=(0, 1))(T(WV), T(XV))
    ew, ex = getattr(tf, name)(matrix_fn, argnums=(0, 1))(tt(torch, WV), tt(torch, XV))
    close(jw, ew.numpy())
    close(jx, ex.numpy())


def test_hessian_matches_torch(torch, tf):
    h = dg.hessian(scalar_fn)(T(XV))
    close(h, tf.hessian(scalar_fn)(tt(torch, XV)).numpy())
    hxy = dg.hessian(two_arg_fn, argnums=1)(T(XV), T(YV))
    close(hxy, tf.hessian(two_arg_fn, argnums=1)(tt(torch, XV), tt(torch, YV)).numpy())


def test_hessian_argnums_tuple_matches_torch_block_structure(torch, tf):
    h = dg.hessian(two_arg_fn, argnums=(0, 1))(T(XV), T(YV))
    expected = tf.hessian(two_arg_fn, argnums=(0, 1))(tt(torch, XV), tt(torch, YV))
    for i in range(2):
        for j in range(2):
            assert h[i][j].shape == (3, 3)
            close(h[i][j], expected[i][j].numpy())


def test_hessian_of_dict_argument():
    def f(p):
        return (p["a"] * p["a"] * p["b"]).sum()      # Σ a_i² b_i
    h = dg.hessian(f)({"a": T(XV), "b": T(YV)})
    close(h["a"]["a"], np.diag(2 * YV))
    close(h["a"]["b"], np.diag(2 * XV))
    close(h["b"]["a"], np.diag(2 * XV))
    close(h["b"]["b"], np.zeros((3, 3)))


# ---------------------------------------------------------------- composition
def test_grad_of_grad_of_scalar_function():
    d2 = dg.grad(dg.grad(lambda x: x.sin() * x * x))(T(0.8))
    close(d2, 2 * np.sin(0.8) + 4 * 0.8 * np.cos(0.8) - 0.64 * np.sin(0.8))
    d3 = dg.grad(dg.grad(dg.grad(lambda x: x.exp() * x)))(T(0.8))
    close(d3, (0.8 + 3) * np.exp(0.8))


@pytest.mark.parametrize("outer, inner", [("jacfwd", "jacrev"), ("jacrev", "jacfwd"),
                                          ("jacfwd", "jacfwd"), ("jacrev", "jacrev")])
def test_composed_jacobians_give_the_hessian(torch, tf, outer, inner):
    h = getattr(dg, outer)(getattr(dg, inner)(scalar_fn))(T(XV))
    expected = tf.hessian(scalar_fn)(tt(torch, XV)).numpy()
    close(h, expected)
    close(h, h.numpy().T)


@pytest.mark.parametrize("outer, inner", [("jacfwd", "jacrev"), ("jacrev", "jacfwd")])
def test_second_derivative_of_vector_function(torch, tf, outer, inner):
    d2 = getattr(dg, outer)(getattr(dg, inner)(vector_fn))(T(XV))
    expected = getattr(tf, outer)(getattr(tf, inner)(vector_fn))(tt(torch, XV)).numpy()
    assert d2.shape == (2, 3, 3)
    close(d2, expected)


def test_jvp_of_grad_is_hessian_vector_product(torch, tf):
    v = RNG.standard_normal(3)
    grad_out, hvp = dg.jvp(dg.grad(scalar_fn), (T(XV),), (T(v),))
    hess = tf.hessian(scalar_fn)(tt(torch, XV)).numpy()
    close(hvp, hess @ v)
    close(grad_out, dg.grad(scalar_fn)(T(XV)))


def test_grad_of_jvp_reverse_over_forward(torch, tf):
    v = RNG.standard_normal(3)

    def directional(x):                  # x ↦ ∇f(x)·v, computed by forward mode
        return dg.jvp(scalar_fn, (x,), (T(v),))[1]

    hess = tf.hessian(scalar_fn)(tt(torch, XV)).numpy()
    close(dg.grad(directional)(T(XV)), hess @ v)


def test_vjp_of_jvp_of_vector_function(torch, tf):
    v, ct = RNG.standard_normal(3), RNG.standard_normal(2)
    _, vjp_fn = dg.vjp(lambda x: dg.jvp(vector_fn, (x,), (T(v),))[1], T(XV))
    (g,) = vjp_fn(T(ct))
    second = tf.jacfwd(tf.jacrev(vector_fn))(tt(torch, XV)).numpy()    # (2, 3, 3)
    close(g, np.einsum("i,ijk,k->j", ct, second, v))


# ---------------------------------------------------------------- perturbation confusion
def test_nested_jvp_has_no_perturbation_confusion():
    """Siskind & Pearlmutter: d/dx [x · d/dy (x + y)] = d/dx [x · 1] = 1, not 2."""
    def outer(x):
        _, inner = dg.jvp(lambda y: x + y, (T(3.0),), (T(1.0),))
        return x * inner
    _, d = dg.jvp(outer, (T(2.0),), (T(1.0),))
    close(d, 1.0)


def test_nested_grad_has_no_perturbation_confusion():
    def outer(x):
        return x * dg.grad(lambda y: x + y)(T(3.0))
    close(dg.grad(outer)(T(2.0)), 1.0)


@pytest.mark.parametrize("outer_mode, inner_mode", [("fwd", "rev"), ("rev", "fwd")])
def test_mixed_nesting_has_no_perturbation_confusion(outer_mode, inner_mode):
    def derivative(f, at, mode):
        if mode == "fwd":
            return dg.jvp(f, (at,), (T(1.0),))[1]
        return dg.grad(f)(at)

    def outer(x):
        return x * derivative(lambda y: x * y, T(3.0), inner_mode)    # x · d/dy (x y) = x²
    close(derivative(outer, T(2.0), outer_mode), 4.0)


def test_nested_jvp_keeps_both_tangent_levels():
    # d/dx d/dy (x² y³) = 6 x y² at (x, y) = (2, 3)
    def dfdy(x):
        return dg.jvp(lambda y: x * x * y * y * y, (T(3.0),), (T(1.0),))[1]
    _, d = dg.jvp(dfdy, (T(2.0),), (T(1.0),))
    close(d, 6 * 2.0 * 9.0)


# ---------------------------------------------------------------- closures
def test_grad_closing_over_a_tensor_that_requires_grad_is_differentiable():
    w = dg.tensor(WV, dtype=dg.float64, requires_grad=True)
    g = dg.grad(lambda x: ((w @ x).tanh()).sum())(T(XV))
    assert g.requires_grad
    (g * g).sum().backward()

    torch = pytest.importorskip("torch")
    tw = torch.tensor(WV, requires_grad=True)
    tg = torch.func.grad(lambda x: torch.tanh(tw @ x).sum())(tt(torch, XV))
    (tg * tg).sum().backward()
    close(g.detach(), tg.detach().numpy())
    close(w.grad, tw.grad.numpy())


def test_grad_closing_over_a_tensor_gives_the_mixed_second_derivative():
    w = dg.tensor(2.0, dtype=dg.float64, requires_grad=True)
    g = dg.grad(lambda x: w * x * x * x)(T(3.0))        # 3 w x²
    close(g.detach(), 54.0)
    (dgw,) = dg.autograd.grad(g, w)
    close(dgw, 27.0)                                     # d/dw 3 w x² = 3 x²


def test_closure_over_constant_tensor_gives_plain_gradient():
    c = T(WV)
    g = dg.grad(lambda x: (c @ x).sum())(T(XV))
    assert not g.requires_grad
    close(g, WV.sum(0))


def test_vjp_fn_can_be_called_several_times():
    _, vjp_fn = dg.vjp(vector_fn, T(XV))
    jac = dg.jacrev(vector_fn)(T(XV)).numpy()
    for ct in (np.array([1.0, 0.0]), np.array([0.3, -2.0])):
        (g,) = vjp_fn(T(ct))
        close(g, ct @ jac)


# ---------------------------------------------------------------- degenerate functions
def test_identity_and_constant_functions():
    close(dg.grad(lambda x: x)(T(2.0)), 1.0)
    close(dg.grad(lambda x: T(5.0))(T(2.0)), 0.0)
    close(dg.grad(dg.grad(lambda x: x * 3.0))(T(2.0)), 0.0)
    assert dg.jvp(lambda x: x, (T(2.0),), (T(3.0),))[1].item() == 3.0
    assert dg.jvp(lambda x: T(1.0), (T(2.0),), (T(3.0),))[1].item() == 0.0
    for jac in (dg.jacrev, dg.jacfwd):
        close(jac(lambda x: T([1.0, 2.0]))(T(XV)), np.zeros((2, 3)))


@pytest.mark.parametrize("jac", ["jacrev", "jacfwd"])
@pytest.mark.parametrize("fn, in_size, shape", [(lambda x: x * 2.0, 0, (0, 0)), (lambda x: x[:0], 3, (0, 3)),
                                                (lambda x: x.sum(0, keepdim=True) + 1.0, 0, (1, 0))],
                         ids=["empty-to-empty", "to-empty", "from-empty"])
def test_jacobians_with_empty_inputs_or_outputs(jac, fn, in_size, shape):
    assert getattr(dg, jac)(fn)(T(np.zeros(in_size))).shape == shape


def test_closure_over_the_differentiated_tensor_is_a_constant():
    """grad(lambda y: y · x)(x): the argument y is differentiated, the captured x is not."""
    x = dg.tensor(XV, dtype=dg.float64, requires_grad=True)
    g = dg.grad(lambda y: (y * x).sum())(x)
    close(g.detach(), XV)
    g.sum().backward()                        # g = x, so d(Σ g)/dx = 1
    close(x.grad, np.ones(3))


def test_output_returned_twice_gets_the_sum_of_its_cotangents():
    _, vjp_fn = dg.vjp(lambda x: (x, x), T(XV))
    (g,) = vjp_fn((T(np.ones(3)), T(np.full(3, 2.0))))
    close(g, np.full(3, 3.0))
    for jac in dg.jacrev(lambda x: (x, x * 2.0, x))(T(XV)):
        assert jac.shape == (3, 3)
    assert dg.gradgradcheck(lambda x, y: x + y, (T(XV), T(YV)))     # its VJP returns one tensor twice
