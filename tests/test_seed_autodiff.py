"""The seed chapter's worked example of automatic differentiation (section 三, eqs. 3.1-3.5).

    f(x; w, b) = 1 / (exp(-(w x + b)) + 1)                                   (3.1)

is split into six primitive nodes h1 = w·x, h2 = h1 + b, h3 = -h2, h4 = exp(h3), h5 = h4 + 1,
h6 = 1/h5 and evaluated at x = 1, w = 0, b = 0. Every number the chapter prints is checked: the
forward values, the local derivatives multiplied in eq. 3.3, the forward-mode accumulation of eq. 3.4,
the reverse-mode accumulation of eq. 3.5, and the rule that several paths add up."""
import numpy as np
import pytest

import deepgrad as dg

X, W, B = 1.0, 0.0, 0.0
NODES = ("h1", "h2", "h3", "h4", "h5", "h6")


def T(value, requires_grad=False):
    return dg.tensor(value, dtype=dg.float64, requires_grad=requires_grad)


def nodes(x, w, b):
    """The computation graph of eq. 3.1, one primitive per node."""
    h1 = w * x
    h2 = h1 + b
    h3 = h2 * -1.0
    h4 = h3.exp()
    h5 = h4 + 1.0
    h6 = 1.0 / h5
    return h1, h2, h3, h4, h5, h6


def f(x, w, b):
    return nodes(x, w, b)[-1]


def test_forward_values_on_the_graph():
    values = [h.item() for h in nodes(T(X), T(W), T(B))]
    assert values == [0.0, 0.0, 0.0, 1.0, 2.0, 0.5]


def test_each_node_is_one_primitive():
    hs = nodes(T(X), T(W, True), T(B, True))
    assert [h.grad_fn.name() for h in hs] == [f"{n}Backward0" for n in ("Mul", "Add", "Mul", "Exp", "Add", "Div")]


@pytest.mark.parametrize("x, w, b", [(1.0, 0.0, 0.0), (0.5, -1.3, 0.7), (-2.0, 0.4, 1.1)])
def test_nodes_compose_to_the_logistic_function(x, w, b):
    np.testing.assert_allclose(f(T(x), T(w), T(b)).item(), 1.0 / (np.exp(-(w * x + b)) + 1.0))
    np.testing.assert_allclose(f(T(x), T(w), T(b)).item(), dg.sigmoid(T(w * x + b)).item())


def test_local_derivatives_of_eq_3_3():
    """∂f/∂w = ∂f/∂h6 · ∂h6/∂h5 · ∂h5/∂h4 · ∂h4/∂h3 · ∂h3/∂h2 · ∂h2/∂h1 · ∂h1/∂w
             = 1 × -0.25 × 1 × 1 × -1 × 1 × 1 = 0.25"""
    w = T(W, True)
    hs = nodes(T(X), w, T(B))
    chain = [w, *hs]
    local = [1.0]                                               # ∂f/∂h6 with f = h6
    for upper, lower in zip(reversed(chain[1:]), reversed(chain[:-1])):
        (d,) = dg.autograd.grad(upper, lower, retain_graph=True)
        local.append(d.item())
    assert local == [1.0, -0.25, 1.0, 1.0, -1.0, 1.0, 1.0]
    assert np.prod(local) == 0.25


def test_reverse_mode_gives_df_dw_and_df_db():
    x, w, b = T(X, True), T(W, True), T(B, True)
    f(x, w, b).backward()
    assert w.grad.item() == 0.25
    assert b.grad.item() == 0.25
    assert x.grad.item() == 0.0                                 # ∂f/∂x = w σ'(0) = 0


@pytest.mark.parametrize("argnum", [1, 2], ids=["w", "b"])
def test_forward_mode_gives_the_same_derivative(argnum):
    primals = (T(X), T(W), T(B))
    tangents = tuple(T(1.0 if i == argnum else 0.0) for i in range(3))
    value, derivative = dg.jvp(f, primals, tangents)
    assert value.item() == 0.5
    assert derivative.item() == 0.25


def test_forward_mode_accumulation_table_of_eq_3_4():
    """∂h_i/∂w, pushed forward with the tangent ẇ = 1 in one pass."""
    _, tangents = dg.jvp(lambda w: nodes(T(X), w, T(B)), (T(W),), (T(1.0),))
    table = dict(zip(NODES, (t.item() for t in tangents)))
    assert table == {"h1": 1.0, "h2": 1.0, "h3": -1.0, "h4": -1.0, "h5": -1.0, "h6": 0.25}


def test_reverse_mode_accumulation_table_of_eq_3_5():
    """∂f/∂h_i, pulled back from ∂f/∂h6 = 1 in one pass; retain_grad keeps them on the nodes."""
    w, b = T(W, True), T(B, True)
    hs = nodes(T(X), w, b)
    for h in hs:
        h.retain_grad()
    hs[-1].backward()
    table = dict(zip(NODES, (h.grad.item() for h in hs)))
    assert table == {"h6": 1.0, "h5": -0.25, "h4": -0.25, "h3": -0.25, "h2": 0.25, "h1": 0.25}
    assert w.grad.item() == 0.25                                # ∂f/∂h1 · ∂h1/∂w = 0.25 × x


def test_transforms_agree_with_the_chapter():
    args = (T(X), T(W), T(B))
    gw, gb = dg.grad(f, argnums=(1, 2))(*args)
    assert (gw.item(), gb.item()) == (0.25, 0.25)
    jf = dg.jacfwd(f, argnums=(1, 2))(*args)
    jr = dg.jacrev(f, argnums=(1, 2))(*args)
    assert [j.item() for j in jf] == [j.item() for j in jr] == [0.25, 0.25]


def f_of_h1_and_b(h1, b):
    """The graph of eq. 3.1 from node h1 on, with b as an input."""
    return 1.0 / ((-(h1 + b)).exp() + 1.0)


def test_several_paths_add_up():
    """"If there are several paths between the function and a parameter, add the derivatives along
    them": with b tied to w, f(x; w) = σ(w x + w) reaches w through h1 and through h2."""
    x, w = T(X), T(W, True)
    h1 = w * x
    h1.retain_grad()
    out = f_of_h1_and_b(h1, w)
    out.backward()
    via_h1 = h1.grad.item() * X                                 # ∂f/∂h1 · ∂h1/∂w
    via_b = 0.25                                                # ∂f/∂h2 · ∂h2/∂b
    assert via_h1 == 0.25
    assert w.grad.item() == via_h1 + via_b == 0.5

    _, forward = dg.jvp(lambda w: f(T(X), w, w), (T(W),), (T(1.0),))
    assert forward.item() == 0.5


def test_forward_needs_n_passes_and_reverse_one_for_a_scalar_output(monkeypatch):
    """Section 三: for f: R^N -> R forward mode needs N passes, reverse mode one."""
    engine = dg.autograd.engine
    backward_passes = []
    real = engine.run_backward

    def counting(*args, **kwargs):
        backward_passes.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "run_backward", counting)
    calls = []

    def loss(v):                          # f(x; w, b) with v = (w, b, x)
        calls.append(1)
        return f(v[2], v[0], v[1])

    v = T([W, B, X])
    jr = dg.jacrev(loss)(v)
    assert (len(calls), len(backward_passes)) == (1, 1)
    calls.clear()
    jf = dg.jacfwd(loss)(v)
    assert len(calls) == 3 and len(backward_passes) == 1        # N = 3 forward passes, no reverse
    np.testing.assert_array_equal(jr.numpy(), [0.25, 0.25, 0.0])
    np.testing.assert_array_equal(jf.numpy(), jr.numpy())
