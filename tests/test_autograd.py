"""Reverse-mode engine semantics (``Tensor.backward`` and ``dg.autograd.grad``), checked against the
behaviour of PyTorch's autograd: accumulation, several paths, leaves, detach, grad modes, freeing the
graph, explicit seeds, higher-order gradients, deep graphs, aliasing and dtypes."""
import numpy as np
import pytest

import deepgrad as dg


def leaf(values, dtype=dg.float64):
    return dg.tensor(values, dtype=dtype, requires_grad=True)


# ---------------------------------------------------------------- accumulation and paths
def test_grad_accumulates_across_backward_calls():
    x = leaf([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0, 6.0])
    (x * 10.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [12.0, 14.0, 16.0])


def test_gradients_along_several_paths_are_summed():
    x = leaf([-1.0, 0.5, 2.0])
    y = x * x + x * 3.0          # x reaches y along three edges
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() + 3)


def test_diamond_graph_sums_both_branches():
    x = leaf(0.7)
    a = x.exp()
    y = a.sin() * a.cos()        # a feeds two branches that meet again
    y.backward()
    ea = np.exp(0.7)
    np.testing.assert_allclose(x.grad.item(), np.cos(2 * ea) * ea)


def test_same_tensor_used_twice_in_one_op():
    x = leaf([3.0])
    (x * x).sum().backward()
    assert x.grad.item() == 6.0
    y = leaf([3.0])
    (y + y).sum().backward()
    assert y.grad.item() == 2.0


# ---------------------------------------------------------------- leaves and non-leaves
def test_leaf_and_non_leaf_flags():
    x = leaf([1.0, 2.0])
    c = dg.tensor([1.0, 2.0])
    y = x * 2.0
    assert x.is_leaf and x.grad_fn is None
    assert c.is_leaf and not c.requires_grad
    assert not y.is_leaf and y.requires_grad and y.grad_fn.name() == "MulBackward0"
    assert not (c * 2.0).requires_grad, "ops on tensors without requires_grad record nothing"


def test_non_leaf_grad_is_none_unless_retained():
    x = leaf([1.0, 2.0])
    y = x * 3.0
    kept = x * 4.0
    kept.retain_grad()
    (y * kept).sum().backward()
    assert y.grad is None
    np.testing.assert_allclose(kept.grad.numpy(), y.numpy())          # d(y·kept)/d kept = y
    np.testing.assert_allclose(x.grad.numpy(), 24 * x.numpy())        # d(12 x²)/dx


def test_retain_grad_requires_a_tensor_that_requires_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        dg.tensor([1.0]).retain_grad()


def test_requires_grad_cannot_be_switched_off_on_a_non_leaf():
    y = leaf([1.0]) * 2.0
    with pytest.raises(RuntimeError, match="detach"):
        y.requires_grad_(False)


# ---------------------------------------------------------------- detach
def test_detach_shares_memory_and_cuts_the_graph():
    x = leaf([1.0, 2.0])
    y = x * x
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.numpy(), y.numpy())
    (y + d * x).sum().backward()          # d is a constant: d/dx (x² + c·x) = 2x + c
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() + x.numpy() ** 2)


# ---------------------------------------------------------------- grad modes
def test_no_grad_context_manager_records_nothing_and_restores():
    x = leaf([1.0])
    assert dg.is_grad_enabled()
    with dg.no_grad():
        assert not dg.is_grad_enabled()
        y = x * 2.0
        with dg.enable_grad():
            z = x * 2.0
        assert not dg.is_grad_enabled()
    assert dg.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    assert z.requires_grad and z.grad_fn.name() == "MulBackward0"


def test_grad_mode_is_per_thread():
    """As in PyTorch: a thread under no_grad (or one running backward, which turns recording off while
    it runs) leaves recording on in the others; a new thread starts with it on."""
    import threading
    x = leaf([3.0])
    inside, entered, leave = [], threading.Event(), threading.Event()

    def other():
        with dg.no_grad():
            entered.set()
            leave.wait(5)
            inside.append((dg.is_grad_enabled(), (x * 2.0).requires_grad))
    worker = threading.Thread(target=other)
    worker.start()
    entered.wait(5)
    assert dg.is_grad_enabled() and (x * 2.0).requires_grad      # the other thread's no_grad is its own
    leave.set()
    worker.join()
    assert inside == [(False, False)]
    with dg.no_grad():
        fresh = []
        starter = threading.Thread(target=lambda: fresh.append(dg.is_grad_enabled()))
        starter.start()
        starter.join()
    assert fresh == [True]


def test_grad_mode_restored_after_exception():
    with pytest.raises(KeyError):
        with dg.no_grad():
            raise KeyError("boom")
    assert dg.is_grad_enabled()


def test_no_grad_and_enable_grad_as_decorators():
    x = leaf([2.0])

    @dg.no_grad()
    def frozen(t):
        return t * t

    @dg.enable_grad()
    def tracked(t):
        return t * t

    assert not frozen(x).requires_grad
    with dg.no_grad():
        y = tracked(x)
    assert y.requires_grad
    assert frozen.__name__ == "frozen"
    y.sum().backward()
    assert x.grad.item() == 4.0


def test_set_grad_enabled_as_function_context_manager_and_decorator():
    """torch.set_grad_enabled's three uses: a call switches at once; ``with`` restores the mode at the
    end of the block (also after an exception); a decorator switches only while the function runs."""
    try:
        dg.set_grad_enabled(False)
        assert not dg.is_grad_enabled() and not (leaf([1.0]) * 2.0).requires_grad
        dg.set_grad_enabled(True)
        assert dg.is_grad_enabled()
        with dg.set_grad_enabled(False):
            assert not (leaf([1.0]) * 2.0).requires_grad
            with dg.set_grad_enabled(True):
                assert (leaf([1.0]) * 2.0).requires_grad
            assert not dg.is_grad_enabled()
        assert dg.is_grad_enabled()
        with pytest.raises(KeyError):
            with dg.set_grad_enabled(False):
                raise KeyError
        assert dg.is_grad_enabled()

        @dg.set_grad_enabled(False)
        def frozen(x):
            assert not dg.is_grad_enabled()
            return x * 2.0
        assert dg.is_grad_enabled()            # decorating did not switch the mode
        assert not frozen(leaf([1.0])).requires_grad and dg.is_grad_enabled()
        with pytest.raises(TypeError, match="bool"):
            dg.set_grad_enabled("no")
    finally:
        dg.set_grad_enabled(True)


# ---------------------------------------------------------------- freeing the graph
def test_second_backward_without_retain_graph_raises():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * x.numpy())


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        dg.tensor([1.0, 2.0]).sum().backward()


def test_grad_wrt_input_ignores_freed_graph_it_does_not_need():
    w, x = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    h = w * w
    h.sum().backward()                    # frees h's node
    (gx,) = dg.autograd.grad((x * h).sum(), x)
    np.testing.assert_allclose(gx.numpy(), h.numpy())


# ---------------------------------------------------------------- seeds
def test_non_scalar_backward_needs_a_gradient():
    y = leaf([1.0, 2.0]) * 2.0
    with pytest.raises(RuntimeError, match="scalar outputs"):
        y.backward()


def test_backward_of_a_one_element_non_scalar_is_implicit():
    x = leaf([[3.0]])
    (x * x).backward()
    assert x.grad.shape == (1, 1) and x.grad.item() == 6.0


def test_backward_with_explicit_gradient_is_a_vjp():
    x = leaf([1.0, 2.0, 3.0])
    v = np.array([0.5, -1.0, 2.0])
    (x * x).backward(gradient=dg.tensor(v, dtype=dg.float64))
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() * v)


def test_explicit_gradient_of_wrong_shape_raises():
    y = leaf([1.0, 2.0]) * 2.0
    with pytest.raises(RuntimeError, match=r"shape \(3,\).*shape \(2,\)"):
        y.backward(dg.ones(3, dtype=dg.float64))


def test_backward_of_a_leaf_and_retain_grad_on_the_root():
    x = leaf(2.0)
    x.backward()
    assert x.grad.item() == 1.0
    loss = (x * 3.0).sum()
    loss.retain_grad()
    loss.backward()
    assert loss.grad.item() == 1.0 and x.grad.item() == 4.0


def test_backward_does_not_alias_the_seed_gradient():
    x = leaf([1.0, 2.0])
    seed = dg.ones(2, dtype=dg.float64)
    (x + 0.0).backward(seed)
    (x + 0.0).backward(seed)
    np.testing.assert_allclose(seed.numpy(), [1.0, 1.0])     # accumulating must not write into the seed
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


# ---------------------------------------------------------------- higher order
def test_create_graph_gives_a_differentiable_gradient():
    x = leaf([0.3, -1.2, 2.0])
    y = (x.sin() * x * x).sum()
    (g,) = dg.autograd.grad(y, x, create_graph=True)
    assert g.requires_grad
    g.sum().backward()
    xv = x.numpy()
    # f = x² sin x, f' = 2x sin x + x² cos x, f'' = 2 sin x + 4x cos x − x² sin x
    np.testing.assert_allclose(g.numpy(), 2 * xv * np.sin(xv) + xv ** 2 * np.cos(xv))
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.sin(xv) + 4 * xv * np.cos(xv) - xv ** 2 * np.sin(xv))


def test_backward_with_create_graph_makes_grad_differentiable():
    x = leaf(1.5)
    (x ** 3).backward(create_graph=True)
    first = x.grad
    assert first.requires_grad
    np.testing.assert_allclose(first.item(), 3 * 1.5 ** 2)
    (second,) = dg.autograd.grad(first, x)
    np.testing.assert_allclose(second.item(), 6 * 1.5)


def test_double_backward_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    xv, wv = rng.standard_normal(4), rng.standard_normal((4, 4))

    x, w = leaf(xv), leaf(wv)
    y = ((w @ x).tanh() * x).sum()
    (gx,) = dg.autograd.grad(y, x, create_graph=True)
    ggx, ggw = dg.autograd.grad((gx * gx).sum(), (x, w))

    tx = torch.tensor(xv, requires_grad=True)
    tw = torch.tensor(wv, requires_grad=True)
    ty = (torch.tanh(tw @ tx) * tx).sum()
    (tgx,) = torch.autograd.grad(ty, tx, create_graph=True)
    tggx, tggw = torch.autograd.grad((tgx * tgx).sum(), (tx, tw))

    np.testing.assert_allclose(gx.numpy(), tgx.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ggx.numpy(), tggx.numpy(), rtol=1e-10)
    np.testing.assert_allclose(ggw.numpy(), tggw.numpy(), rtol=1e-10)


def test_third_derivative_by_repeated_grad():
    x = leaf(0.4)
    y = x.exp() * x
    for _ in range(3):
        (y,) = dg.autograd.grad(y, x, create_graph=True)
    # d³/dx³ (x eˣ) = (x + 3) eˣ
    np.testing.assert_allclose(y.item(), (0.4 + 3) * np.exp(0.4))


# ---------------------------------------------------------------- deep graphs
def test_chain_of_100000_ops_backpropagates_without_recursion_error():
    x = leaf(1.5)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0
    del y          # freeing the long chain must not overflow the stack either


def test_deep_chain_with_retained_graph_can_be_freed():
    x = leaf(2.0)
    y = x
    for _ in range(50_000):
        y = y + 0.0
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.item() == 2.0
    del y


# ---------------------------------------------------------------- dg.autograd.grad
def test_autograd_grad_returns_tuple_and_leaves_grad_untouched():
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    y = (x * w).sum()
    gx, gw = dg.autograd.grad(y, [x, w])
    np.testing.assert_allclose(gx.numpy(), w.numpy())
    np.testing.assert_allclose(gw.numpy(), x.numpy())
    assert x.grad is None and w.grad is None


def test_autograd_grad_allow_unused():
    x, unused = leaf([1.0]), leaf([2.0])
    y = (x * 2.0).sum()
    with pytest.raises(RuntimeError, match="allow_unused"):
        dg.autograd.grad(y, [x, unused], retain_graph=True)
    gx, gu = dg.autograd.grad(y, [x, unused], allow_unused=True)
    assert gu is None and gx.item() == 2.0


def test_autograd_grad_with_respect_to_non_leaf_inputs():
    x = leaf([1.0, 2.0])
    h = x * 3.0
    y = (h * h).sum()
    (gh,) = dg.autograd.grad(y, h, retain_graph=True)
    np.testing.assert_allclose(gh.numpy(), 2 * h.numpy())
    gh2, gx = dg.autograd.grad(y, [h, x])
    np.testing.assert_allclose(gh2.numpy(), 2 * h.numpy())
    np.testing.assert_allclose(gx.numpy(), 18 * x.numpy())
    assert h.grad is None and x.grad is None


def test_autograd_grad_with_grad_outputs_and_several_outputs():
    x = leaf([1.0, 2.0])
    a, b = x * x, x * 5.0
    ga = dg.tensor([1.0, 10.0], dtype=dg.float64)
    gb = dg.tensor([2.0, 3.0], dtype=dg.float64)
    (gx,) = dg.autograd.grad([a, b], x, grad_outputs=[ga, gb])
    np.testing.assert_allclose(gx.numpy(), 2 * x.numpy() * ga.numpy() + 5 * gb.numpy())


def test_autograd_grad_with_the_same_leaf_output_twice():
    x = leaf(1.0)
    (gx,) = dg.autograd.grad([x, x], x)
    assert gx.item() == 2.0


def test_autograd_grad_rejects_inputs_that_do_not_require_grad():
    x = leaf([1.0])
    with pytest.raises(RuntimeError, match="input 0 .*does not require grad"):
        dg.autograd.grad((x * 2.0).sum(), dg.tensor([1.0]))


def test_autograd_grad_frees_graph_unless_retained():
    x = leaf([1.0])
    y = (x * x).sum()
    dg.autograd.grad(y, x)
    with pytest.raises(RuntimeError, match="retain_graph"):
        dg.autograd.grad(y, x)


def test_autograd_grad_matches_torch_for_non_leaf():
    torch = pytest.importorskip("torch")
    v = np.array([[0.5, -1.0], [2.0, 0.1]])
    x = leaf(v)
    h = x.exp()
    y = (h @ h).sum()
    gh, gx = dg.autograd.grad(y, (h, x))
    tx = torch.tensor(v, requires_grad=True)
    th = tx.exp()
    tgh, tgx = torch.autograd.grad((th @ th).sum(), (th, tx))
    np.testing.assert_allclose(gh.numpy(), tgh.numpy(), rtol=1e-12)
    np.testing.assert_allclose(gx.numpy(), tgx.numpy(), rtol=1e-12)


# ---------------------------------------------------------------- aliasing and dtypes
def test_gradients_of_an_add_are_not_aliased():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()
    assert a.grad.numpy() is not b.grad.numpy()
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    (a * 5.0).sum().backward()           # accumulates into a.grad in place
    np.testing.assert_allclose(a.grad.numpy(), [6.0, 6.0])
    np.testing.assert_allclose(b.grad.numpy(), [1.0, 1.0])


def test_gradient_not_aliased_with_a_broadcast_view():
    a = leaf(1.0)
    b = leaf([1.0, 1.0, 1.0])
    (a + b).sum().backward()
    b.grad.numpy()[0] = 100.0            # writing into one gradient leaves the other intact
    (a * 1.0).backward()
    assert a.grad.item() == 4.0
    np.testing.assert_allclose(b.grad.numpy(), [100.0, 1.0, 1.0])


def test_retained_grad_not_aliased_with_leaf_grad():
    x = leaf([1.0, 2.0])
    h = x + 0.0
    h.retain_grad()
    h.sum().backward()
    assert not np.shares_memory(h.grad.numpy(), x.grad.numpy())
    x.grad.numpy()[:] = 0.0
    np.testing.assert_allclose(h.grad.numpy(), [1.0, 1.0])


@pytest.mark.parametrize("dtype", [dg.float32, dg.float64])
def test_grad_dtype_equals_leaf_dtype(dtype):
    other = dg.float64 if dtype == dg.float32 else dg.float32
    x = leaf([1.0, 2.0], dtype=dtype)
    c = dg.tensor([0.5, 0.25], dtype=other)
    y = (x.astype(other) * c).sum()       # the output has the other dtype
    y.backward()
    assert x.grad.dtype == dtype
    np.testing.assert_allclose(x.grad.numpy(), [0.5, 0.25])


def test_grad_shape_equals_leaf_shape_under_broadcasting():
    x = leaf([[1.0], [2.0]])               # (2, 1)
    y = leaf([1.0, 2.0, 3.0])              # (3,)
    (x * y).sum().backward()
    assert x.grad.shape == (2, 1) and y.grad.shape == (3,)
    np.testing.assert_allclose(x.grad.numpy(), [[6.0], [6.0]])
    np.testing.assert_allclose(y.grad.numpy(), [3.0, 3.0, 3.0])


# ---------------------------------------------------------------- backward(inputs=...)
def test_backward_inputs_only_accumulates_into_those():
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (x * w).sum().backward(inputs=[w])
    assert x.grad is None
    np.testing.assert_allclose(w.grad.numpy(), x.numpy())
    (x * w).sum().backward(inputs=[x, w])
    np.testing.assert_allclose(x.grad.numpy(), w.numpy())
    np.testing.assert_allclose(w.grad.numpy(), 2 * x.numpy())


def test_backward_inputs_accepts_a_non_leaf():
    x = leaf([1.0, 2.0])
    h = x * 2.0
    (h * h).sum().backward(inputs=h)
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.numpy())
    assert x.grad is None


def test_clone_copies_memory_and_passes_gradients():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    c.array[0] = 5.0
    assert x.numpy()[0] == 1.0 and c.grad_fn.name() == "CopyBackward0"
    (c * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_from_numpy_shares_memory_like_torch():
    a = np.arange(3.0)
    t = dg.from_numpy(a)
    a[0] = 9.0
    assert t.dtype == dg.float64 and t.numpy()[0] == 9.0
    with pytest.raises(TypeError, match="expected a NumPy array"):
        dg.from_numpy([1, 2])


def test_no_grad_decorates_with_or_without_parentheses():
    x = dg.ones(2, requires_grad=True)

    @dg.no_grad
    def bare(t):
        return t * 2

    @dg.no_grad()
    def called(t):
        return t * 2

    assert not bare(x).requires_grad and not called(x).requires_grad and bare.__name__ == "bare"
    assert (x * 2).requires_grad
