"""Module behaviour, compared with torch.nn.Module where torch defines it: registration of
parameters, buffers and submodules; traversal order and names; state_dict keys (buffers included)
and load_state_dict (strict errors list every missing, unexpected and shape-mismatched key);
train/eval propagation; hooks; apply; zero_grad; requires_grad_; repr."""
from collections import OrderedDict

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn

torch = pytest.importorskip("torch")
tnn = torch.nn


def lenet_like(m):
    """A small CNN with every kind of state: conv/linear parameters, BatchNorm buffers, nesting."""
    return m.Sequential(OrderedDict([
        ("features", m.Sequential(m.Conv2d(1, 4, 3), m.BatchNorm2d(4), m.ReLU(), m.MaxPool2d(2))),
        ("flatten", m.Flatten()),
        ("classifier", m.Sequential(m.Linear(4 * 3 * 3, 8), m.Dropout(0.5), m.Linear(8, 3, bias=False))),
    ]))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.register_buffer("scale", dg.ones(4))
        self.register_buffer("scratch", dg.zeros(2), persistent=False)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(4, 2)
        self.temperature = nn.Parameter(np.array(1.0, dtype=np.float32))
        self.note = "plain attribute"

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)) * self.scale) / self.temperature


class TorchNet(tnn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = tnn.Linear(3, 4)
        self.register_buffer("scale", torch.ones(4))
        self.register_buffer("scratch", torch.zeros(2), persistent=False)
        self.act = tnn.ReLU()
        self.fc2 = tnn.Linear(4, 2)
        self.temperature = tnn.Parameter(torch.tensor(1.0))
        self.note = "plain attribute"


# ------------------------------------------------------------------------------ registration, traversal
def test_registration_and_names_match_torch():
    d, t = Net(), TorchNet()
    assert [n for n, _ in d.named_parameters()] == [n for n, _ in t.named_parameters()] == \
        ["temperature", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert [n for n, _ in d.named_buffers()] == [n for n, _ in t.named_buffers()] == ["scale", "scratch"]
    assert [n for n, _ in d.named_children()] == [n for n, _ in t.named_children()] == ["fc1", "act", "fc2"]
    assert [n for n, _ in d.named_modules()] == [n for n, _ in t.named_modules()]
    assert list(d.state_dict()) == list(t.state_dict())          # persistent buffers only
    assert "scratch" not in d.state_dict() and d.note == "plain attribute"
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in d.parameters())
    assert not any(b.requires_grad for b in d.buffers())
    assert [n for n, _ in d.named_parameters(recurse=False)] == ["temperature"]


def test_nested_model_names_and_state_dict_keys_match_torch():
    d, t = lenet_like(nn), lenet_like(tnn)
    assert [n for n, _ in d.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert list(d.state_dict()) == list(t.state_dict())
    assert "features.1.num_batches_tracked" in d.state_dict()
    assert [type(m).__name__ for m in d.modules()] == [type(m).__name__ for m in t.modules()]
    assert [n for n, _ in d.named_modules()] == [n for n, _ in t.named_modules()]
    assert sum(p.numel() for p in d.parameters()) == sum(p.numel() for p in t.parameters())
    assert d.get_submodule("classifier.2") is d.classifier[2]
    with pytest.raises(AttributeError):
        d.get_submodule("classifier.7")


def test_shared_parameters_are_listed_once():
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    tshared = tnn.Linear(3, 3)
    tmodel = tnn.Sequential(tshared, tnn.ReLU(), tshared)
    names = [n for n, _ in model.named_parameters()]
    assert names == [n for n, _ in tmodel.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(model.modules())) == len(list(tmodel.modules())) == 3


def test_assignment_rules():
    net = Net()
    with pytest.raises(TypeError, match="Parameter or None"):
        net.temperature = dg.ones(())
    with pytest.raises(TypeError, match="Module or None"):
        net.fc1 = dg.ones(3)
    net.fc1 = None
    assert [n for n, _ in net.named_children()] == ["act", "fc2"]
    net.scale = dg.zeros(4)                          # a buffer can be replaced by a tensor
    assert "scale" in dict(net.named_buffers())
    net.extra = nn.Parameter(np.zeros(2, np.float32))
    assert "extra" in dict(net.named_parameters())
    del net.extra
    assert "extra" not in dict(net.named_parameters())
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        net.missing

    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)
    with pytest.raises(AttributeError, match="before Module.__init__"):
        Broken()


# ------------------------------------------------------------------------------ state_dict
def test_state_dict_shares_memory_and_round_trips():
    d = lenet_like(nn)
    state = d.state_dict()
    state["classifier.0.bias"].array[...] = 3.0                     # detached, but the same storage
    np.testing.assert_array_equal(d.classifier[0].bias.numpy(), 3.0)
    assert not state["classifier.0.bias"].requires_grad
    other = lenet_like(nn)
    other.load_state_dict({k: v.numpy().copy() for k, v in d.state_dict().items()})
    for k, v in other.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), d.state_dict()[k].numpy())


def test_load_torch_state_dict_gives_torch_outputs():
    d, t = lenet_like(nn), lenet_like(tnn)
    d.load_state_dict(t.state_dict())                              # torch tensors are accepted as they are
    d.eval(), t.eval()
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(d(dg.tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_load_state_dict_strict_errors_list_every_problem_and_change_nothing():
    d = lenet_like(nn)
    before = {k: v.numpy().copy() for k, v in d.state_dict().items()}
    state = {k: v.numpy().copy() + 1 for k, v in lenet_like(nn).state_dict().items()}
    del state["features.0.bias"], state["features.1.running_var"]
    state["features.9.weight"] = np.zeros(3, np.float32)
    state["classifier.2.weight"] = np.zeros((3, 9), np.float32)
    with pytest.raises(RuntimeError) as err:
        d.load_state_dict(state)
    message = str(err.value)
    for key in ("features.0.bias", "features.1.running_var", "features.9.weight", "classifier.2.weight"):
        assert key in message
    assert "missing" in message and "unexpected" in message and "(3, 9)" in message and "(3, 8)" in message
    for k, v in d.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k], err_msg=f"{k} changed by a failed load")


def test_load_state_dict_non_strict():
    d = lenet_like(nn)
    state = {k: v.numpy() + 1 for k, v in lenet_like(nn).state_dict().items() if not k.startswith("classifier")}
    state["head.weight"] = np.zeros(2, np.float32)
    result = d.load_state_dict(state, strict=False)
    assert result.missing_keys == ["classifier.0.weight", "classifier.0.bias", "classifier.2.weight"]
    assert result.unexpected_keys == ["head.weight"]
    np.testing.assert_array_equal(d.features[0].weight.numpy(), state["features.0.weight"])
    with pytest.raises(RuntimeError, match="shape mismatch"):           # as torch: sizes are checked anyway
        d.load_state_dict({"features.0.weight": np.zeros((1, 1, 1, 1), np.float32)}, strict=False)


# ------------------------------------------------------------------------------ modes and gradients
def test_train_eval_propagate_to_every_submodule():
    d = lenet_like(nn)
    assert all(m.training for m in d.modules())
    assert d.eval() is d and not any(m.training for m in d.modules())
    x = dg.randn(4, 1, 8, 8)
    np.testing.assert_array_equal(d(x).numpy(), d(x).numpy())              # dropout off, BN on running stats
    d.classifier.train()
    assert d.classifier[1].training and not d.training and not d.features[1].training
    d.train()
    assert all(m.training for m in d.modules())
    assert not np.array_equal(d(x).numpy(), d(x).numpy())                  # dropout on


def test_zero_grad_and_requires_grad_():
    d = lenet_like(nn)
    d(dg.randn(2, 1, 8, 8)).sum().backward()
    assert all(p.grad is not None for p in d.parameters())
    d.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in d.parameters())
    d.zero_grad()
    assert all(p.grad is None for p in d.parameters())
    d.features.requires_grad_(False)
    d(dg.randn(2, 1, 8, 8)).sum().backward()
    assert all(p.grad is None for p in d.features.parameters())
    assert all(p.grad is not None for p in d.classifier.parameters())


def test_apply_visits_children_first_then_self():
    d, t = lenet_like(nn), lenet_like(tnn)
    seen_d, seen_t = [], []
    assert d.apply(lambda m: seen_d.append(type(m).__name__)) is d
    t.apply(lambda m: seen_t.append(type(m).__name__))
    assert seen_d == seen_t and seen_d[-1] == "Sequential"


# ------------------------------------------------------------------------------ hooks
def test_forward_hooks_and_pre_hooks():
    lin = nn.Linear(3, 2)
    calls = []
    h1 = lin.register_forward_pre_hook(lambda m, args: calls.append(("pre", args[0].shape)))
    h2 = lin.register_forward_hook(lambda m, args, out: calls.append(("post", out.shape)))
    x = dg.randn(4, 3)
    y = lin(x)
    assert calls == [("pre", (4, 3)), ("post", (4, 2))]
    h3 = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))     # replaces the input
    np.testing.assert_allclose(lin(x).numpy(), np.broadcast_to(lin.bias.numpy(), (4, 2)))
    h3.remove()
    h4 = lin.register_forward_hook(lambda m, args, out: out * 2)          # replaces the output
    np.testing.assert_allclose(lin(x).numpy(), 2 * y.numpy(), rtol=1e-6)
    for h in (h1, h2, h4):
        h.remove()
    calls.clear()
    np.testing.assert_allclose(lin(x).numpy(), y.numpy())
    assert calls == []


def test_forward_hook_collects_activations_of_a_model():
    d = lenet_like(nn)
    shapes = {}
    handles = [m.register_forward_hook(lambda m, a, out, name=name: shapes.__setitem__(name, out.shape))
               for name, m in d.named_modules() if name]
    d(dg.randn(2, 1, 8, 8))
    assert shapes["features.0"] == (2, 4, 6, 6) and shapes["features.3"] == (2, 4, 3, 3)
    assert shapes["flatten"] == (2, 36) and shapes["classifier"] == (2, 3)
    for h in handles:
        h.remove()


# ------------------------------------------------------------------------------ repr
def test_repr_matches_torch():
    assert repr(lenet_like(nn)) == repr(lenet_like(tnn))
    assert repr(nn.Sequential()) == repr(tnn.Sequential())
    assert repr(nn.ModuleDict({"a": nn.ReLU(), "b": nn.Linear(2, 3)})) == \
        repr(tnn.ModuleDict({"a": tnn.ReLU(), "b": tnn.Linear(2, 3)}))


def test_module_list_repr_folds_repeats_as_torch():
    def build(lib):
        return lib.ModuleList([lib.Linear(2, 2) for _ in range(3)] + [lib.ReLU(), lib.Linear(2, 2)]
                              + [lib.Sequential(lib.Linear(2, 3), lib.ReLU()) for _ in range(2)])
    assert repr(build(nn)) == repr(build(tnn))
    assert repr(nn.ModuleList()) == repr(tnn.ModuleList())
    assert repr(nn.ModuleList([nn.ReLU()])) == repr(tnn.ModuleList([tnn.ReLU()]))


def test_repr_of_a_custom_module_with_extra_repr():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(2, 2)

        def extra_repr(self):
            return "factor=2"
    assert repr(Scale()) == "Scale(\n  factor=2\n  (inner): Linear(in_features=2, out_features=2, bias=True)\n)"


def test_parameter_repr_and_leaf():
    p = nn.Parameter(np.ones(2, np.float32))
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert p.is_leaf and p.requires_grad
    assert not nn.Parameter(np.ones(2, np.float32), requires_grad=False).requires_grad


def test_to_casts_parameters_and_buffers_and_accepts_cpu():
    import deepgrad as dg
    from deepgrad import nn
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    assert model.to("cpu") is model
    model.double()
    assert all(p.dtype == dg.float64 for p in model.parameters())
    assert model[1].running_mean.dtype == dg.float64 and model[1].num_batches_tracked.dtype == dg.int64
    assert model(dg.randn(5, 3, dtype="float64")).dtype == dg.float64
    model.to("cpu", dg.float32)
    assert all(p.dtype == dg.float32 for p in model.parameters())
    with pytest.raises(RuntimeError, match="not available"):
        model.to("cuda")
