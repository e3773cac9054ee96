"""In-place operations with PyTorch's semantics under autograd (issue 13): the porting habits that used
to do nothing (``p -= lr * p.grad`` under no_grad), gradients through recorded in-place updates, and the
three refusals (a leaf that requires grad; a value a recorded operation reads, modified since; a dtype
or shape that does not fit)."""
import numpy as np
import pytest

import deepgrad as dg

torch = pytest.importorskip("torch")


def _both(values, requires_grad=True, dtype="float32"):
    a = np.asarray(values, dtype=dtype)
    return (dg.tensor(a, requires_grad=requires_grad),
            torch.tensor(a, requires_grad=requires_grad))


def test_manual_sgd_under_no_grad_updates_the_parameters_as_torch():
    """pytorch/tutorials' habit: with no_grad(): for p in model.parameters(): p -= lr * p.grad."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 3)).astype(np.float32), rng.standard_normal((8, 1)).astype(np.float32)
    model, ref = dg.nn.Linear(3, 1), torch.nn.Linear(3, 1)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(model.weight.numpy()))
        ref.bias.copy_(torch.tensor(model.bias.numpy()))
    for _ in range(3):
        for m, lib, xs, ys in ((model, dg, dg.tensor(x), dg.tensor(y)), (ref, torch, torch.tensor(x), torch.tensor(y))):
            loss = ((m(xs) - ys) ** 2).mean()
            loss.backward()
            with lib.no_grad():
                for p in m.parameters():
                    p -= 0.1 * p.grad
                    p.grad.zero_()
    for p, q in zip(model.parameters(), ref.parameters()):
        assert p.is_leaf and p.requires_grad
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_a_leaf_that_requires_grad_refuses_in_place_updates_outside_no_grad():
    w, _ = _both([1.0, 2.0])
    (w * w).sum().backward()
    for update in (lambda: w.sub_(0.1 * w.grad), lambda: w.__isub__(w.grad), lambda: w.zero_(),
                   lambda: w.__setitem__(0, 5.0), lambda: w.normal_()):
        with pytest.raises(RuntimeError, match="leaf"):
            update()
    np.testing.assert_array_equal(w.numpy(), [1.0, 2.0])
    assert w._version == 0


def test_augmented_assignment_is_in_place_and_keeps_identity_and_views():
    t = dg.zeros(2, 3)
    row = t[0]                      # a view of t's memory
    alias = t
    t += 1
    t *= 3
    t -= dg.tensor([1.0, 0.0, 0.0])
    t /= 2
    assert t is alias
    np.testing.assert_array_equal(t.numpy(), [[1.0, 1.5, 1.5]] * 2)
    np.testing.assert_array_equal(row.numpy(), [1.0, 1.5, 1.5])
    row.fill_(7)                    # writing through a view reaches the base, as in PyTorch
    np.testing.assert_array_equal(t.numpy()[0], [7, 7, 7])


IN_PLACE = {
    "add_": lambda t, o: t.add_(o, alpha=2), "sub_": lambda t, o: t.sub_(o), "mul_": lambda t, o: t.mul_(o),
    "div_": lambda t, o: t.div_(o), "pow_": lambda t, o: t.pow_(2), "exp_": lambda t, o: t.exp_(),
    "sigmoid_": lambda t, o: t.sigmoid_(), "tanh_": lambda t, o: t.tanh_(), "relu_": lambda t, o: t.relu_(),
    "clamp_": lambda t, o: t.clamp_(min=-0.5, max=1.5), "neg_": lambda t, o: t.neg_(),
    "sqrt_": lambda t, o: t.abs_().sqrt_(), "log_": lambda t, o: t.abs_().log_(),
    "addcmul_": lambda t, o: t.addcmul_(o, o, value=0.5), "addcdiv_": lambda t, o: t.addcdiv_(o, o + 3, value=2),
    "lerp_": lambda t, o: t.lerp_(o, 0.3), "copy_": lambda t, o: t.copy_(o * 2),
    "zero_": lambda t, o: t.zero_(), "fill_": lambda t, o: t.fill_(3.0),
    "masked_fill_": lambda t, o: t.masked_fill_(o > 0, 0.25),
    "iadd": lambda t, o: t.__iadd__(o), "imul": lambda t, o: t.__imul__(o), "itruediv": lambda t, o: t.__itruediv__(o + 3),
    "setitem": lambda t, o: t.__setitem__((slice(None), 1), o[:, 0] * 4) or t,
    "setitem_mask": lambda t, o: t.__setitem__(o > 0.5, 9.0) or t,
    # y.mul_(y): deepgrad multiplies by y's old value, whose gradient it keeps (PyTorch's backward refuses it)
    "mul_self": (lambda t, o: t.mul_(t), lambda t, o: t.mul_(t.clone())),
}


@pytest.mark.parametrize("name", IN_PLACE)
def test_gradients_through_recorded_in_place_operations_match_torch(name):
    """An in-place operation on a non-leaf is recorded: values, results and gradients of the leaf it came
    from and of the other operand equal PyTorch's, also for uses of the tensor before the update."""
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.2, 1.5, (2, 3)), rng.standard_normal((2, 3))
    results = []
    for lib in (dg, torch):
        x = lib.tensor(a, requires_grad=True)
        o = lib.tensor(b, requires_grad=True)
        y = x * 1.5                          # a non-leaf
        before = y * 2                       # a use recorded before the update
        fns = IN_PLACE[name] if isinstance(IN_PLACE[name], tuple) else (IN_PLACE[name],) * 2
        out = fns[lib is torch](y, o)
        assert out is y
        loss = (y * y).sum() + before.sum() + (y * o).sum()
        loss.backward()
        results.append([v.detach().numpy() if lib is torch else v.numpy() for v in (y, x.grad, o.grad)])
        assert y.requires_grad
    for got, expected in zip(*results):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_a_value_read_by_a_recorded_operation_and_modified_under_no_grad_is_refused():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()                       # exp's gradient reads its result
    z = y.sum()
    with dg.no_grad():
        y.mul_(2)
    with pytest.raises(RuntimeError, match="exp was modified by an in-place operation"):
        z.backward()
    w = dg.tensor([1.0, 2.0], requires_grad=True)
    c = dg.tensor([3.0, 4.0])
    loss = (w * c).sum()              # mul's gradient for w reads c
    c.add_(1)
    with pytest.raises(RuntimeError, match="mul .*input 1"):
        loss.backward()


def test_values_no_recorded_operation_reads_may_change():
    """PyTorch accepts these, and so do we: add never reads its operands."""
    for lib in (dg, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        c = lib.tensor([3.0, 4.0])
        loss = (x + c).sum()
        c.add_(1)
        loss.backward()
        np.testing.assert_array_equal(np.asarray(x.grad.numpy()), [1.0, 1.0])


def test_in_place_results_must_fit_the_tensors_dtype_and_shape():
    i = dg.tensor([1, 2])
    with pytest.raises(TypeError, match="int64"):
        i.mul_(1.5)
    with pytest.raises(TypeError, match="int64"):
        i += dg.tensor([0.5, 0.5])
    i += 2                              # ints stay ints
    np.testing.assert_array_equal(i.numpy(), [3, 4])
    f = dg.zeros(3)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        f.add_(dg.ones(2, 3))
    f.add_(dg.ones((), dtype="float64"))   # a wider dtype of the same category is cast, as in PyTorch
    assert f.dtype == dg.float32
    np.testing.assert_array_equal(f.numpy(), [1, 1, 1])


def test_fill_uniform_normal_copy_respect_dtype_and_generator():
    t = dg.zeros(1000, dtype="float64")
    t.uniform_(-2.0, 3.0, generator=dg.Generator(1))
    assert t.dtype == dg.float64 and -2.0 <= t.numpy().min() and t.numpy().max() < 3.0
    u = dg.zeros(1000, dtype="float64").uniform_(-2.0, 3.0, generator=dg.Generator(1))
    np.testing.assert_array_equal(t.numpy(), u.numpy())
    n = dg.zeros(20000).normal_(2.0, 0.5)
    assert abs(n.numpy().mean() - 2.0) < 0.02 and abs(n.numpy().std() - 0.5) < 0.02
    c = dg.zeros(2, 3).copy_(dg.tensor([1, 2, 3]))     # broadcast and cast, as torch's copy_
    np.testing.assert_array_equal(c.numpy(), [[1, 2, 3]] * 2)
    assert c.dtype == dg.float32


def test_in_place_updates_of_the_gradient_buffer():
    """p.grad.zero_() and p.grad.array.mul_: the usual gradient-clipping and accumulation habits."""
    w = dg.tensor([1.0, 2.0], requires_grad=True)
    (w * 3).sum().backward()
    w.grad.mul_(0.5)
    np.testing.assert_array_equal(w.grad.numpy(), [1.5, 1.5])
    w.grad.zero_()
    (w * 3).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 3.0])


def test_data_is_a_detached_tensor_sharing_memory_as_torch():
    """The blitz tutorial's `f.data.sub_(f.grad.data * learning_rate)` and DCGAN's `m.weight.data.normal_(0, 0.02)`:
    `.data` is a tensor cut off from the graph that writes into the parameter, unseen by autograd."""
    results = []
    for lib in (dg, torch):
        w = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        (w * w).sum().backward()
        d = w.data
        assert type(d) is lib.Tensor and not d.requires_grad and d.is_leaf
        w.data.sub_(w.grad.data * 0.1)                 # a leaf that requires grad, outside no_grad: allowed
        y = w * 3
        w.data.mul_(2)                                 # not tracked: no version error at backward
        y.sum().backward()
        w.data = lib.zeros(2)                          # new values, new shape
        results.append([w.tolist(), w.grad.tolist(), w.requires_grad, w.is_leaf, tuple(w.shape)])
    assert results[0] == results[1]
    linear = dg.nn.Linear(3, 4)
    linear.weight.data.normal_(0.0, 0.02)
    assert isinstance(linear.weight, dg.nn.Parameter) and abs(linear.weight.numpy().std() - 0.02) < 0.02
    with pytest.raises(TypeError, match="Tensor"):
        linear.weight.data = 3.0


def test_in_place_on_a_view_of_a_graph_tensor_is_refused_not_silently_wrong():
    """Writing through y[0] or y.view(...) would change y behind its recorded users' backs (PyTorch shares version
    counters between views; deepgrad refuses): refused while recording, allowed under no_grad."""
    x = dg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x * 1
    for view in (lambda: y[0], lambda: y.reshape(4), lambda: y.T, lambda: y.expand(2, 2, 2)):
        with pytest.raises(RuntimeError, match="view"):
            view().mul_(2)
    with dg.no_grad():
        y[0].mul_(2)
    np.testing.assert_array_equal(y.numpy(), [[2.0, 4.0], [3.0, 4.0]])
    free = dg.zeros(2, 3)
    free[0].add_(1)                    # no graph involved: writes through the view, as torch
    np.testing.assert_array_equal(free.numpy()[0], [1, 1, 1])
