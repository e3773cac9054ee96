"""dg.compile and dg.static.compile_train_step: compiled results equal eager ones (1e-6 relative, float32)
for a sample of operations, their gradients, every model of the zoo, and whole training steps."""
import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import models, nn
from deepgrad.static import compile_train_step


def close(a, b, rtol=1e-6, atol=1e-6):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=rtol, atol=atol)


def close_trees(got, want, rtol=1e-6, atol=1e-6):
    got_leaves, got_tree = dg.pytree.tree_flatten(got)
    want_leaves, want_tree = dg.pytree.tree_flatten(want)
    assert got_tree == want_tree
    for g, w in zip(got_leaves, want_leaves):
        assert g.shape == w.shape and g.dtype == w.dtype
        close(g, w, rtol, atol)


# ---------------------------------------------------------------- a sample of operations, values and gradients
OPS = {
    "elementwise": lambda x, y: (x.exp() - y.sigmoid() * x.tanh() + (x * y).relu() / (y.abs() + 1)).log1p().sum(),
    "unary": lambda x, y: (x.sin() + x.cos() * y.erf() + F.gelu(x) + F.softplus(y) + F.elu(x) + F.leaky_relu(y)
                          + (y * y + 1).sqrt() + x.expm1() * 0.1).mean(),
    "binary": lambda x, y: (dg.maximum(x, y) - dg.minimum(x, 0.3) + dg.where(x > y, x, y * 2) + x ** 2
                           + (y * y + 0.5) ** x.clamp(-1, 1)).sum(),
    "reductions": lambda x, y: x.sum(1).max() + x.amin(0).prod() + x.logsumexp(1).mean() + x.var(0).std()
    + x.softmax(1)[0, 1] + x.log_softmax(0).sum() + y.amax((0, 1)),
    "shapes": lambda x, y: (x.reshape(6, 4).T @ y.reshape(4, 6).permute(1, 0)).flatten()[3:9].sum()
    + dg.cat([x, y], 1).flip(0)[1:, ::2].sum() + dg.stack([x, y]).unsqueeze(1).squeeze().sum(0).var()
    + F.pad(x, (1, 2)).expand(2, 4, 9).sum() + x.split(2, 1)[1].sum(),
    "indexing": lambda x, y: x[[0, 2, 2], [1, 3, 0]].sum() + x[:, dg.tensor([5, 0])].sum() + x[1].sum()
    + y[..., None, 2].sum(),
    "matmul": lambda x, y: (x @ y.T @ x).tanh().sum() + (x[0] @ y[1]) * (x @ y[2]).sum(),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_ops_and_their_gradients_equal_eager(name):
    fn = OPS[name]
    value = dg.compile(fn)
    grad = dg.compile(dg.value_and_grad(fn, argnums=(0, 1)))
    for _ in range(2):                        # the example the trace saw, then a new input
        x, y = dg.randn(4, 6), dg.randn(4, 6)
        close(value(x, y), fn(x, y))
        close_trees(grad(x, y), dg.value_and_grad(fn, argnums=(0, 1))(x, y), rtol=1e-5, atol=1e-6)
    assert value.traces == 1 and grad.traces == 1


def test_conv_and_pool_layers_and_their_gradients_equal_eager():
    def loss(x, w, wt):
        h = F.conv2d(x, w, stride=2, padding=1, dilation=1, groups=1).relu()
        h = F.max_pool2d(h, 2, ceil_mode=True) + F.avg_pool2d(h, 2, ceil_mode=True)
        d = F.conv2d(x, dg.ones(2, 1, 3, 3) * 0.5, padding="same", groups=2)
        t = F.conv_transpose2d(h, wt, stride=2, output_padding=1)
        return t.sum() + F.adaptive_avg_pool2d(d, 3).sum() + F.adaptive_max_pool2d(d, 2).sum()
    f = dg.compile(dg.value_and_grad(loss, argnums=(0, 1, 2)))
    w, wt = dg.randn(4, 2, 3, 3), dg.randn(4, 3, 2, 2)
    for _ in range(2):
        x = dg.randn(2, 2, 9, 9)
        close_trees(f(x, w, wt), dg.value_and_grad(loss, argnums=(0, 1, 2))(x, w, wt), rtol=1e-5, atol=1e-5)
    assert f.traces == 1


def test_jvp_hessian_and_vjp_inside_compiled_functions():
    f = lambda x: (x.sin() * x).sum() + x.prod()
    x, t = dg.randn(4), dg.randn(4)
    close_trees(dg.compile(lambda x, t: dg.jvp(f, (x,), (t,)))(x, t), dg.jvp(f, (x,), (t,)))
    close(dg.compile(dg.hessian(f))(x), dg.hessian(f)(x), rtol=1e-5)
    close(dg.compile(dg.jacrev(lambda x: x.exp() * x[0]))(x), dg.jacrev(lambda x: x.exp() * x[0])(x))

    def vjp_of(x, ct):
        out, fn = dg.vjp(lambda x: x.tanh() * 3, x)
        return out, fn(ct)
    close_trees(dg.compile(vjp_of)(x, t), vjp_of(x, t))


def test_compiled_functions_are_differentiable_from_outside():
    f = lambda x, w: (x @ w).sigmoid().sum()
    cf = dg.compile(f)
    x, w = dg.randn(3, 4), dg.randn(4, 2)
    close(dg.grad(cf, argnums=1)(x, w), dg.grad(f, argnums=1)(x, w))
    t = dg.randn(4, 2)
    close_trees(dg.jvp(cf, (x, w), (dg.zeros(3, 4), t)), dg.jvp(f, (x, w), (dg.zeros(3, 4), t)))
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 1))
    dg.compile(model)(x).sum().backward()
    compiled_grads = [p.grad.numpy().copy() for p in model.parameters()]
    model.zero_grad()
    model(x).sum().backward()
    for g, p in zip(compiled_grads, model.parameters()):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-6)


# ---------------------------------------------------------------- the model zoo (forward, eval mode)
ZOO = [
    ("mlp", lambda: models.mlp((12, 8, 3), "tanh"), (4, 12)),
    ("mlp-relu", lambda: models.mlp((20, 16, 16, 5)), (3, 20)),
    ("highway_mlp", lambda: models.highway_mlp(12, width=8, depth=3, num_classes=3), (4, 3, 4)),
    ("lenet5-modern", lambda: models.lenet5("modern"), (2, 1, 28, 28)),
    ("lenet5-classic", lambda: models.lenet5("classic"), (2, 1, 32, 32)),
    ("resnet20", lambda: models.resnet20(), (2, 3, 16, 16)),
    ("resnet18", lambda: models.resnet18(num_classes=7), (1, 3, 32, 32)),
    ("alexnet", lambda: models.alexnet(num_classes=5), (1, 3, 64, 64)),
    pytest.param("resnet50", lambda: models.resnet50(num_classes=7), (1, 3, 32, 32), marks=pytest.mark.slow),
    pytest.param("googlenet", lambda: models.googlenet(num_classes=5), (1, 3, 64, 64), marks=pytest.mark.slow),
    pytest.param("resnet32", lambda: models.resnet32(), (1, 3, 32, 32), marks=pytest.mark.slow),
]


@pytest.mark.parametrize("name, build, shape", ZOO, ids=[z.values[0] if hasattr(z, "marks") else z[0] for z in ZOO])
def test_zoo_models_compiled_equal_eager(name, build, shape):
    model = build().eval()
    compiled = dg.compile(model)
    with dg.no_grad():
        for _ in range(2):
            x = dg.randn(*shape)
            close(compiled(x), model(x), rtol=1e-6, atol=1e-6)
    executable = compiled.executable(x)
    assert compiled.traces == 1 and len(executable.graph) <= len(executable.traced)
    assert executable.plan.peak_bytes <= executable.plan.naive_bytes


def test_zoo_models_in_training_mode_with_batchnorm_and_dropout():
    dg.manual_seed(0)
    eager = models.alexnet(num_classes=4)
    dg.manual_seed(0)
    twin = models.alexnet(num_classes=4)
    compiled = dg.compile(twin)
    x = dg.randn(2, 3, 64, 64)
    for seed in (3, 4):
        dg.manual_seed(seed)
        with dg.no_grad():
            want = eager(x)
        dg.manual_seed(seed)
        with dg.no_grad():
            got = compiled(x)
        close(got, want)


# ---------------------------------------------------------------- whole training steps
def _twins(build):
    dg.manual_seed(0)
    eager = build()
    dg.manual_seed(0)
    return eager, build()


def _check_training(build, make_opt, shape, classes, steps=3, loss_fn=F.cross_entropy, rtol=1e-6):
    eager, twin = _twins(build)
    opt_e, opt_c = make_opt(eager.parameters()), make_opt(twin.parameters())
    step = compile_train_step(twin, loss_fn, opt_c)
    rng = np.random.default_rng(1)
    for i in range(steps):
        x = dg.tensor(rng.standard_normal(shape).astype(np.float32))
        y = dg.tensor(rng.integers(0, classes, shape[0]))
        dg.manual_seed(100 + i)
        opt_e.zero_grad()
        want = loss_fn(eager(x), y)
        want.backward()
        opt_e.step()
        dg.manual_seed(100 + i)
        got = step(x, y)
        close(got, want, rtol=rtol)
        for (name, a), b in zip(eager.state_dict().items(), twin.state_dict().values()):
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=rtol, atol=1e-7, err_msg=name)
    for p_e, p_c in zip(eager.parameters(), twin.parameters()):
        for key, value in opt_e.state[p_e].items():
            np.testing.assert_allclose(opt_c.state[p_c][key].numpy(), value.numpy(), rtol=rtol, atol=1e-7)
    return step


@pytest.mark.parametrize("make_opt", [
    lambda p: dg.optim.SGD(p, lr=0.1),
    lambda p: dg.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=1e-3),
    lambda p: dg.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, maximize=True),
    lambda p: dg.optim.Adam(p, lr=0.01),
    lambda p: dg.optim.Adam(p, lr=0.01, weight_decay=1e-2, amsgrad=True),
    lambda p: dg.optim.AdamW(p, lr=0.01, betas=(0.3, 0.9)),
], ids=["sgd", "sgd-momentum-dampening-wd", "sgd-nesterov-maximize", "adam", "adam-l2-amsgrad", "adamw"])
def test_compiled_training_step_equals_the_eager_step(make_opt):
    step = _check_training(lambda: models.mlp((20, 16, 16, 5)), make_opt, (8, 20), 5)
    assert step.traces <= 2          # SGD with momentum: a first-step graph, then the steady one
    assert step.plan.donate_update or step.plan.reused_buffers


def test_compiled_training_of_lenet_and_a_batchnorm_dropout_net():
    _check_training(lambda: models.lenet5("modern"), lambda p: dg.optim.Adam(p, lr=1e-3), (4, 1, 28, 28), 10, steps=2)
    _check_training(lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.3),
                                          nn.Flatten(), nn.Linear(4 * 6 * 6, 3)),
                    lambda p: dg.optim.SGD(p, lr=0.1, momentum=0.5), (5, 1, 8, 8), 3, steps=3)


def test_learning_rate_changes_need_no_retrace_and_eager_steps_can_interleave():
    eager, twin = _twins(lambda: models.mlp((6, 5, 3)))
    opt_e = dg.optim.Adam(eager.parameters(), lr=0.1)
    opt_c = dg.optim.Adam(twin.parameters(), lr=0.1)
    step = compile_train_step(twin, F.mse_loss, opt_c)
    x, y = dg.randn(4, 6), dg.randn(4, 3)
    for i, lr in enumerate((0.1, 0.05, 0.01, 0.01)):
        for group in opt_e.param_groups + opt_c.param_groups:
            group["lr"] = lr
        opt_e.zero_grad()
        F.mse_loss(eager(x), y).backward()
        opt_e.step()
        if i == 2:                        # an eager step on the compiled twin's optimiser in between
            opt_c.zero_grad()
            F.mse_loss(twin(x), y).backward()
            opt_c.step()
        else:
            step(x, y)
        for a, b in zip(eager.parameters(), twin.parameters()):
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6, atol=1e-7)
    assert step.traces == 1


def test_compile_value_and_grad_of_a_loss_over_parameters():
    def loss(params, x, y):
        w1, b1, w2 = params
        return F.cross_entropy((x @ w1 + b1).relu() @ w2, y)
    params = (dg.randn(10, 8) * 0.3, dg.zeros(8), dg.randn(8, 4) * 0.3)
    vg = dg.compile(dg.value_and_grad(loss))
    for _ in range(3):
        x, y = dg.randn(16, 10), dg.randint(0, 4, (16,))
        got, want = vg(params, x, y), dg.value_and_grad(loss)(params, x, y)
        close_trees(got, want)
        params = tuple(p - 0.1 * g for p, g in zip(params, got[1]))
    assert vg.traces == 1


def test_a_resnet_training_step_is_bit_identical_to_eager():
    """Reused buffers keep the memory layout eager NumPy would produce (see passes.layout_safe), so even
    the matrix products downstream sum in the same order."""
    eager, twin = _twins(lambda: models.resnet20())
    opt_e, opt_c = dg.optim.SGD(eager.parameters(), lr=0.1, momentum=0.9), dg.optim.SGD(twin.parameters(), lr=0.1,
                                                                                          momentum=0.9)
    step = compile_train_step(twin, F.cross_entropy, opt_c)
    for _ in range(2):
        x, y = dg.randn(4, 3, 16, 16), dg.randint(0, 10, (4,))
        opt_e.zero_grad()
        F.cross_entropy(eager(x), y).backward()
        opt_e.step()
        step(x, y)
    for (name, a), b in zip(eager.state_dict().items(), twin.state_dict().values()):
        np.testing.assert_array_equal(b.numpy(), a.numpy(), err_msg=name)
    assert step.plan.reused_buffers > 0 and step.plan.donate_update
