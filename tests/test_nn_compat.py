"""deepgrad.nn against torch.nn (issue 13): lazy modules, containers (ModuleDict, ParameterList,
ParameterDict, Sequential/ModuleList methods), Unflatten, module hooks (forward, full backward, global),
Module traversal/lookup/registration, nn.utils parameters_to_vector / vector_to_parameters."""
import warnings

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn

torch = pytest.importorskip("torch")
tnn = torch.nn


def to_dg(t, requires_grad=False):
    return dg.Tensor(t.detach().numpy().copy(), requires_grad=requires_grad)


def copy_weights(d, t):
    d.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})


def assert_state_like(d, t):
    ds, ts = d.state_dict(), t.state_dict()
    assert list(ds) == list(ts)
    for k in ts:
        assert tuple(ds[k].shape) == tuple(ts[k].shape), k


def torch_repr(module):
    return repr(module).replace("torch.", "deepgrad.")


# ------------------------------------------------------------------------------ lazy modules
LAZY = [  # (name, constructor args, concrete class, inferred attribute, input shape)
    ("LazyLinear", (5,), "Linear", "in_features", (2, 3)),
    ("LazyLinear", (5,), "Linear", "in_features", (4, 2, 7)),
    ("LazyLinear", (4, False), "Linear", "in_features", (3,)),
    ("LazyConv1d", (4, 3), "Conv1d", "in_channels", (2, 3, 9)),
    ("LazyConv1d", (4, 3), "Conv1d", "in_channels", (3, 9)),
    ("LazyConv2d", (4, 3, 1, 1, 1, 2), "Conv2d", "in_channels", (2, 6, 5, 5)),
    ("LazyConv2d", (3, (2, 3), 2), "Conv2d", "in_channels", (1, 5, 7, 8)),
    ("LazyConvTranspose1d", (4, 3, 2), "ConvTranspose1d", "in_channels", (2, 3, 5)),
    ("LazyConvTranspose2d", (4, 3, 2, 1, 1, 2), "ConvTranspose2d", "in_channels", (2, 6, 4, 4)),
    ("LazyBatchNorm1d", (), "BatchNorm1d", "num_features", (4, 3)),
    ("LazyBatchNorm1d", (), "BatchNorm1d", "num_features", (4, 3, 5)),
    ("LazyBatchNorm2d", (1e-3, 0.2), "BatchNorm2d", "num_features", (2, 3, 4, 4)),
]


@pytest.mark.parametrize("name, args, concrete, attr, shape", LAZY)
def test_lazy_module_infers_becomes_concrete_and_matches_torch(name, args, concrete, attr, shape):
    d, t = getattr(nn, name)(*args), getattr(tnn, name)(*args)
    assert repr(d) == repr(t)
    assert list(d.state_dict()) == list(t.state_dict())
    assert all(type(v).__name__ == type(t.state_dict()[k]).__name__ for k, v in d.state_dict().items())
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    t_out = t(torch.tensor(x))
    dg.manual_seed(7)
    d_out = d(dg.Tensor(x))
    assert type(d) is getattr(nn, concrete) and type(t) is getattr(tnn, concrete)
    assert repr(d) == repr(t)
    assert getattr(d, attr) == getattr(t, attr) > 0
    assert not d._forward_pre_hooks and not d._load_state_dict_pre_hooks
    assert_state_like(d, t)
    # initialised exactly as the concrete layer built with the inferred size, from the same seed
    dg.manual_seed(7)
    ref = getattr(nn, concrete)(getattr(d, attr), *args)       # the inferred size is the first argument
    ref(dg.Tensor(x))                                            # the same forward (BatchNorm's running stats)
    for (k, a), (_, b) in zip(d.state_dict().items(), ref.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    # and with torch's weights it computes torch's output
    copy_weights(d, t)
    np.testing.assert_allclose(d(dg.Tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
    assert d_out.shape == tuple(t_out.shape)


def test_lazy_state_dict_load_materialises_and_forward_then_converts():
    t = tnn.Linear(3, 5)
    d = nn.LazyLinear(5)
    tl = tnn.LazyLinear(5)
    d.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    tl.load_state_dict(t.state_dict())
    assert type(d) is nn.LazyLinear and repr(d) == repr(tl)           # still lazy until forward
    assert type(d.weight) is nn.Parameter and d.weight.shape == (5, 3)
    np.testing.assert_array_equal(d.weight.numpy(), t.weight.detach().numpy())
    x = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(d(dg.Tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-6)
    tl(torch.tensor(x))
    assert type(d) is nn.Linear and repr(d) == repr(tl) == "Linear(in_features=3, out_features=5, bias=True)"


def test_lazy_batchnorm_load_materialises_buffers():
    t = tnn.BatchNorm2d(3)
    t(torch.randn(4, 3, 2, 2))
    d = nn.LazyBatchNorm2d()
    d.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    np.testing.assert_allclose(d.running_var.numpy(), t.running_var.numpy())
    assert type(d.running_mean) is dg.Tensor and d.num_batches_tracked.item() == 1


def test_uninitialized_parameter_errors_as_torch():
    d, t = nn.LazyLinear(3), tnn.LazyLinear(3)
    assert repr(d.weight) == repr(t.weight) == "<UninitializedParameter>"
    for call, error in ((lambda w: w.shape, RuntimeError), (lambda w: w + 1, ValueError)):
        with pytest.raises(error) as theirs:
            call(t.weight)
        with pytest.raises(error) as ours:
            call(d.weight)
        assert str(theirs.value).split(".")[0].split(" in ")[0] in str(ours.value)


def test_lazy_conv_errors_as_torch():
    for lib in (torch, dg):
        x = lib.zeros((2, 3, 5, 5)) if lib is torch else dg.Tensor(np.zeros((2, 3, 5, 5), np.float32))
        with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
            lib.nn.LazyConv2d(4, 3, groups=2)(x)
        y = lib.zeros((5, 5)) if lib is torch else dg.Tensor(np.zeros((5, 5), np.float32))
        with pytest.raises(RuntimeError, match=r"Expected 3D \(unbatched\) or 4D \(batched\) input to LazyConv2d"):
            lib.nn.LazyConv2d(4, 3)(y)


def test_optimiser_built_before_first_forward_works_as_torch():
    tt = tnn.Sequential(tnn.LazyLinear(4), tnn.ReLU(), tnn.LazyLinear(2))
    dd = nn.Sequential(nn.LazyLinear(4), nn.ReLU(), nn.LazyLinear(2))
    topt = torch.optim.Adam(tt.parameters(), lr=0.1)
    dopt = dg.optim.Adam(dd.parameters(), lr=0.1)
    x = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    tt(torch.tensor(x))
    dd(dg.Tensor(x))
    copy_weights(dd, tt)
    for _ in range(3):
        tl = (tt(torch.tensor(x)) ** 2).mean()
        dl = (dd(dg.Tensor(x)) ** 2).mean()
        topt.zero_grad()
        tl.backward()
        topt.step()
        dopt.zero_grad()
        dl.backward()
        dopt.step()
        np.testing.assert_allclose(dl.item(), tl.item(), rtol=1e-5)


def test_lazy_module_to_dtype_materialises_in_it():
    d = nn.LazyLinear(2).double()
    d(dg.Tensor(np.ones((1, 3))))
    assert d.weight.dtype == np.float64


# ------------------------------------------------------------------------------ containers
def test_moduledict_methods_keys_and_repr():
    def build(lib):
        m = lib.nn.ModuleDict({"b": lib.nn.Linear(2, 3), "a": lib.nn.ReLU()})
        m.update([("c", lib.nn.Linear(3, 1)), ("a", lib.nn.Tanh())])
        m["d"] = lib.nn.Identity()
        del m["b"]
        popped = m.pop("d")
        return m, popped
    (d, dp), (t, tp) = build(dg), build(torch)
    assert repr(d) == repr(t) and repr(dp) == repr(tp)
    assert list(d.keys()) == list(t.keys()) == list(d) and len(d) == len(t) == 2
    assert ("a" in d) and ("b" not in d)
    assert [n for n, _ in d.named_parameters()] == [n for n, _ in t.named_parameters()]
    d.clear()
    assert len(d) == 0
    for bad, error in ((3, TypeError), ([("x",)], ValueError), ([3], TypeError)):
        with pytest.raises(error) as theirs:
            tnn.ModuleDict().update(bad)
        with pytest.raises(error) as ours:
            nn.ModuleDict().update(bad)
        assert str(ours.value) == str(theirs.value)


def test_parameterlist_methods_keys_and_repr():
    tx = lambda *s: torch.zeros(*s)  # noqa: E731
    dx = lambda *s: dg.Tensor(np.zeros(s, np.float32))  # noqa: E731
    lists = []
    for lib, x in ((torch, tx), (dg, dx)):
        pl = lib.nn.ParameterList([lib.nn.Parameter(x(2, 3)), x(4)])
        pl.append(x(1, 5))
        pl.extend([x(2), 7])
        pl += [x(3, 3)]
        pl[1] = x(6)
        lists.append(pl)
    t, d = lists
    assert repr(d) == torch_repr(t)
    assert len(d) == len(t) == 6 and d[4] == 7 and d[-1].shape == (3, 3)
    assert type(d[1]) is nn.Parameter and d[1].requires_grad
    assert [(n, tuple(p.shape)) for n, p in d.named_parameters()] == [(n, tuple(p.shape)) for n, p in t.named_parameters()]
    assert list(d.state_dict()) == list(t.state_dict())
    sub, tsub = d[1:5:2], t[1:5:2]
    assert type(sub) is nn.ParameterList and repr(sub) == torch_repr(tsub)
    for bad, error in ((lambda pl: pl[6], IndexError), (lambda pl: pl.extend(5), TypeError), (lambda pl: pl(1), RuntimeError)):
        with pytest.raises(error):
            bad(t)
        with pytest.raises(error):
            bad(d)


def test_parameterdict_methods_keys_and_repr():
    dicts = []
    for lib, x in ((torch, lambda *s: torch.ones(*s)), (dg, lambda *s: dg.Tensor(np.ones(s, np.float32)))):
        pd = lib.nn.ParameterDict({"b": lib.nn.Parameter(x(2)), "a": x(1, 3)})      # a plain dict: sorted
        pd.update([("z", x(4)), ("c", x(2, 2))])                                   # pairs: in order
        pd["y"] = x(3)
        popped = pd.pop("c")
        pd.setdefault("w", x(5))
        item = pd.popitem()
        dicts.append((pd, popped, item))
    (t, tp, ti), (d, dp, di) = dicts
    assert repr(d) == torch_repr(t)
    assert list(d.keys()) == list(t.keys()) == ["a", "b", "z", "y"]
    assert dp.shape == tuple(tp.shape) and di[0] == ti[0] == "w"
    assert [(n, tuple(p.shape)) for n, p in d.named_parameters()] == [(n, tuple(p.shape)) for n, p in t.named_parameters()]
    assert "a" in d and d.get("nope", 3) == 3 and len(d.copy()) == 4
    assert list(reversed(d)) == list(reversed(t))
    for bad, error in ((lambda pd: pd[0], TypeError), (lambda pd: pd.update(3), TypeError),
                       (lambda pd: pd.update([("k",)]), ValueError), (lambda pd: pd(1), RuntimeError)):
        with pytest.raises(error) as theirs:
            bad(t)
        with pytest.raises(error) as ours:
            bad(d)
        assert str(ours.value).replace("deepgrad", "torch") == str(theirs.value)


def test_sequential_and_modulelist_methods_as_torch():
    def edit(lib):
        s = lib.nn.Sequential(lib.nn.Linear(1, 2), lib.nn.ReLU(), lib.nn.Linear(2, 3))
        s.insert(1, lib.nn.Tanh())
        s.append(lib.nn.Sigmoid())
        s.pop(0)
        del s[-1]
        s[0] = lib.nn.ELU()
        s += lib.nn.Sequential(lib.nn.Identity())
        ml = lib.nn.ModuleList([lib.nn.ReLU(), lib.nn.Tanh(), lib.nn.Linear(2, 2)])
        ml.insert(1, lib.nn.Identity())
        del ml[0:2]
        ml.pop(-1)
        ml += [lib.nn.Sigmoid()]
        return s, ml, s[1:], ml + ml
    for a, b in zip(edit(dg), edit(torch)):
        assert repr(a) == repr(b)
        assert list(a.state_dict()) == list(b.state_dict())
    for lib in (torch, dg):
        with pytest.raises(IndexError, match="index 5 is out of range"):
            lib.nn.Sequential(lib.nn.ReLU())[5]
        with pytest.raises(IndexError, match="index -3 is out of range"):
            lib.nn.ModuleList([lib.nn.ReLU()])[-3]
        with pytest.raises(TypeError, match="ModuleList.extend should be called with an iterable, but got int"):
            lib.nn.ModuleList().extend(3)
        with pytest.raises(ValueError, match="add operator supports only objects of Sequential class"):
            lib.nn.Sequential() + lib.nn.ModuleList()


def test_identity_flatten_unflatten_pair():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    for size in ((4, 5), [4, -1], (-1, 5)):
        t = tnn.Sequential(tnn.Identity(54, k=1), tnn.Flatten(2), tnn.Unflatten(2, size))
        d = nn.Sequential(nn.Identity(54, k=1), nn.Flatten(2), nn.Unflatten(2, size))
        assert repr(d) == repr(t)
        np.testing.assert_array_equal(d(dg.Tensor(x)).numpy(), t(torch.tensor(x)).numpy())
        np.testing.assert_array_equal(d(dg.Tensor(x)).numpy(), x)
    for args, error in (((1, 5), TypeError), ((1, (2.0, 3)), TypeError)):
        with pytest.raises(error) as theirs:
            tnn.Unflatten(*args)
        with pytest.raises(error) as ours:
            nn.Unflatten(*args)
        assert str(ours.value) == str(theirs.value)
    for size in ((2, 4), (4, -1), (0, -1)):
        with pytest.raises(RuntimeError) as theirs:
            tnn.Unflatten(1, size)(torch.zeros(2, 6))
        with pytest.raises(RuntimeError) as ours:
            nn.Unflatten(1, size)(dg.Tensor(np.zeros((2, 6), np.float32)))
        assert str(ours.value) == str(theirs.value)


# ------------------------------------------------------------------------------ Module API
def _tree(lib):
    n = lib.nn
    shared = n.Linear(2, 2)
    m = n.Sequential(shared, n.Sequential(n.BatchNorm1d(2), shared), n.Linear(2, 1, bias=False))
    m[1][0].register_buffer("scratch", lib.zeros(2) if lib is torch else dg.Tensor(np.zeros(2, np.float32)),
                            persistent=False)
    return m


def test_traversal_lookup_and_state_dict_keys_as_torch():
    d, t = _tree(dg), _tree(torch)
    for remove in (True, False):
        assert [k for k, _ in d.named_modules(remove_duplicate=remove)] == \
            [k for k, _ in t.named_modules(remove_duplicate=remove)]
        assert [k for k, _ in d.named_parameters(remove_duplicate=remove)] == \
            [k for k, _ in t.named_parameters(remove_duplicate=remove)]
        assert [k for k, _ in d.named_buffers(remove_duplicate=remove)] == \
            [k for k, _ in t.named_buffers(remove_duplicate=remove)]
    assert [k for k, _ in d.named_modules(prefix="net")] == [k for k, _ in t.named_modules(prefix="net")]
    assert list(d.state_dict()) == list(t.state_dict())      # the shared Linear under both names, no scratch
    assert list(d.state_dict(prefix="m.")) == list(t.state_dict(prefix="m."))
    assert d.get_submodule("1.0") is d[1][0] and d.get_parameter("1.1.bias") is d[0].bias
    assert d.get_buffer("1.0.scratch") is d[1][0].scratch
    for call in (lambda m: m.get_submodule("1.x"), lambda m: m.get_submodule("0.weight"),
                 lambda m: m.get_parameter("2.bias"), lambda m: m.get_parameter("1.0.running_mean"),
                 lambda m: m.get_buffer("1.0.weight"), lambda m: m.get_parameter("1.0.nope")):
        with pytest.raises(AttributeError) as theirs:
            call(t)
        with pytest.raises(AttributeError) as ours:
            call(d)
        assert str(ours.value) == str(theirs.value)


def test_registration_errors_as_torch():
    for call, error in ((lambda lib, m: m.register_buffer("a.b", None), KeyError),
                        (lambda lib, m: m.register_buffer("", None), KeyError),
                        (lambda lib, m: m.register_buffer("weight", None), KeyError),
                        (lambda lib, m: m.register_parameter("training", None), KeyError),
                        (lambda lib, m: m.add_module("x.y", lib.nn.ReLU()), KeyError),
                        (lambda lib, m: m.add_module("x", 3), TypeError),
                        (lambda lib, m: m.register_parameter("p", lib.ones(2) if lib is torch else dg.ones(2)),
                         TypeError),
                        (lambda lib, m: m.train("yes"), ValueError)):
        for lib in (torch, dg):
            with pytest.raises(error):
                call(lib, lib.nn.Linear(2, 2))


def test_apply_order_requires_grad_zero_grad_and_extra_repr():
    orders = []
    for lib in (torch, dg):
        seen = []
        _tree(lib).apply(lambda m: seen.append(type(m).__name__))
        orders.append(seen)
    assert orders[0] == orders[1]
    d = _tree(dg)
    d.requires_grad_(False)
    assert not any(p.requires_grad for p in d.parameters())
    d.requires_grad_()
    (d(dg.Tensor(np.ones((3, 2), np.float32))) ** 2).sum().backward()
    d.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in d.parameters())
    d.zero_grad()
    assert all(p.grad is None for p in d.parameters())

    class Multi(nn.Module):
        def extra_repr(self):
            return "a=1\nb=2"

    class TMulti(tnn.Module):
        def extra_repr(self):
            return "a=1\nb=2"
    assert repr(Multi()).replace("Multi", "X") == repr(TMulti()).replace("TMulti", "X")


# ------------------------------------------------------------------------------ forward hooks
def _hooked_calls(lib):
    calls = []
    m = lib.nn.Linear(2, 2)
    x = lib.ones(1, 2) if lib is torch else dg.Tensor(np.ones((1, 2), np.float32))
    hs = [m.register_forward_pre_hook(lambda m, a: calls.append("pre1")),
          m.register_forward_pre_hook(lambda m, a, k: calls.append(("pre_kw", sorted(k))) or None, with_kwargs=True),
          m.register_forward_pre_hook(lambda m, a: calls.append("pre0"), prepend=True),
          m.register_forward_hook(lambda m, a, o: calls.append("post1")),
          m.register_forward_hook(lambda m, a, k, o: calls.append(("post_kw", tuple(o.shape))), with_kwargs=True),
          m.register_forward_hook(lambda m, a, o: calls.append("post0"), prepend=True)]
    m(x)
    hs[0].remove()
    with m.register_forward_hook(lambda m, a, o: o * 0):
        zero = m(x)
    calls.append(float(zero.detach().sum()))
    calls.append(float(m(x).sum() != 0))
    return calls


def test_forward_hooks_order_kwargs_prepend_and_handles_as_torch():
    assert _hooked_calls(dg) == _hooked_calls(torch)


def test_forward_pre_hook_with_kwargs_replaces_args_and_kwargs():
    class Scale(nn.Module):
        def forward(self, x, scale=1.0):
            return x * scale
    m = Scale()
    m.register_forward_pre_hook(lambda mod, args, kwargs: ((args[0] + 1,), {"scale": 3.0}), with_kwargs=True)
    assert m(dg.Tensor(np.ones(2, np.float32))).numpy().tolist() == [6.0, 6.0]
    bad = Scale()
    bad.register_forward_pre_hook(lambda mod, args, kwargs: args, with_kwargs=True)
    with pytest.raises(RuntimeError, match="forward pre-hook must return None or a tuple"):
        bad(dg.Tensor(np.ones(2, np.float32)))


def test_always_call_forward_hook_runs_when_forward_raises():
    logs = []
    for lib in (torch, dg):
        log = []

        class Boom(lib.nn.Module):
            def forward(self, x):
                raise ValueError("boom")
        m = Boom()
        m.register_forward_hook(lambda mod, a, o: log.append(("always", o)), always_call=True)
        m.register_forward_hook(lambda mod, a, o: log.append("normal"))
        with pytest.raises(ValueError, match="boom"):
            m(1)
        logs.append(log)
    assert logs[0] == logs[1] == [("always", None)]


def test_global_module_hooks():
    from deepgrad.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
    seen = []
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    with register_module_forward_pre_hook(lambda m, a: seen.append(("pre", type(m).__name__))), \
            register_module_forward_hook(lambda m, a, o: seen.append(("post", type(m).__name__))):
        model.register_forward_hook(lambda m, a, o: seen.append(("own", type(m).__name__)))
        model(dg.Tensor(np.ones((1, 2), np.float32)))
    model(dg.Tensor(np.ones((1, 2), np.float32)))
    assert seen == [("pre", "Sequential"), ("pre", "Linear"), ("post", "Linear"), ("pre", "ReLU"),
                    ("post", "ReLU"), ("post", "Sequential"), ("own", "Sequential"), ("own", "Sequential")]


# ------------------------------------------------------------------------------ backward hooks
def _net(lib):
    n = lib.nn
    return n.Sequential(n.Conv2d(2, 3, 3), n.ReLU(), n.Flatten(), n.Linear(12, 4), n.ReLU(), n.Linear(4, 2))


def _arrays(grads):
    return [None if g is None else g.detach().numpy().copy() for g in grads]


def _backward_log(lib, model, x, input_requires_grad=True, replace=False):
    log = []
    for name, m in model.named_modules():
        m.register_full_backward_pre_hook(lambda m, go, name=name: log.append(("pre", name, _arrays(go))))
        m.register_full_backward_hook(lambda m, gi, go, name=name: log.append(("full", name, _arrays(gi), _arrays(go))))
    if replace:   # double grad_output of the ReLU and zero grad_input of the last Linear: both reach the input
        model[4].register_full_backward_pre_hook(lambda m, go: (go[0] * 2,))
        model[5].register_full_backward_hook(lambda m, gi, go: (gi[0] * 0 + 1,))
    xt = torch.tensor(x, requires_grad=input_requires_grad) if lib is torch else dg.Tensor(x, requires_grad=input_requires_grad)
    y = model(xt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (y * y).sum().backward()
    return log, (None if xt.grad is None else xt.grad.numpy()), [p.grad.numpy() for p in model.parameters()]


@pytest.mark.parametrize("input_requires_grad", [True, False])
@pytest.mark.parametrize("replace", [False, True])
def test_full_backward_hooks_order_and_values_as_torch(input_requires_grad, replace):
    t, d = _net(torch), _net(dg)
    copy_weights(d, t)
    x = np.random.default_rng(2).standard_normal((2, 2, 4, 4)).astype(np.float32)
    tlog, tgrad, tpgrads = _backward_log(torch, t, x, input_requires_grad, replace)
    dlog, dgrad, dpgrads = _backward_log(dg, d, x, input_requires_grad, replace)
    assert [entry[:2] for entry in dlog] == [entry[:2] for entry in tlog]
    for te, de in zip(tlog, dlog):
        for tg, dgr in zip(sum(te[2:], []), sum(de[2:], [])):
            assert (tg is None) == (dgr is None), te[:2]
            if tg is not None:
                np.testing.assert_allclose(dgr, tg, rtol=1e-4, atol=1e-5, err_msg=str(te[:2]))
    assert (tgrad is None) == (dgrad is None)
    if tgrad is not None:
        np.testing.assert_allclose(dgrad, tgrad, rtol=1e-4, atol=1e-5)
    for a, b in zip(dpgrads, tpgrads):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_backward_hook_several_inputs_and_outputs_as_torch():
    def run(lib):
        class Two(lib.nn.Module):
            def forward(self, x, y, k):
                return x * y * k, x + 1, 5
        log = []
        m = Two()
        m.register_full_backward_hook(lambda m, gi, go: log.append((_arrays(gi), _arrays(go))))
        m.register_full_backward_pre_hook(lambda m, go: log.append(_arrays(go)))
        make = torch.tensor if lib is torch else dg.Tensor
        x = make(np.array([1.0, 2.0], np.float32), requires_grad=True)
        y = make(np.array([3.0, 4.0], np.float32))
        a, b, c = m(x, y, 2.0)
        (a * a).sum().backward()
        return log, x.grad.numpy()
    (tlog, tg), (dlog, dgr) = run(torch), run(dg)
    np.testing.assert_allclose(dgr, tg)
    assert len(tlog) == len(dlog) == 2
    for te, de in zip(tlog[0], dlog[0]):       # grad_output of the pre-hook: (tensor, None, None)
        assert (te is None) == (de is None)
    gi_t, go_t = tlog[1]
    gi_d, go_d = dlog[1]
    assert [g is None for g in gi_d] == [g is None for g in gi_t] == [False, False, True]
    np.testing.assert_allclose(gi_d[0], gi_t[0])
    np.testing.assert_allclose(gi_d[1], gi_t[1])      # y does not require grad: zeros, as torch
    assert [g is None for g in go_d] == [g is None for g in go_t]


def test_backward_hook_errors_and_removal():
    m = nn.Linear(2, 2)
    h = m.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    x = dg.Tensor(np.ones((1, 2), np.float32), requires_grad=True)
    with pytest.raises(RuntimeError, match="Backward hook returned an invalid number of grad_input, got 2, but expected 1"):
        m(x).sum().backward()
    h.remove()
    p = m.register_full_backward_pre_hook(lambda m, go: (go[0], go[0]))
    with pytest.raises(RuntimeError, match="Backward pre hook returned an invalid number of grad_output"):
        m(x).sum().backward()
    p.remove()
    m(x).sum().backward()
    assert not m._backward_hooks and not m._backward_pre_hooks


# ------------------------------------------------------------------------------ nn.utils
def test_parameters_to_vector_and_back_as_torch():
    t = tnn.Sequential(tnn.Linear(3, 2), tnn.Conv1d(1, 2, 2))
    d = nn.Sequential(nn.Linear(3, 2), nn.Conv1d(1, 2, 2))
    copy_weights(d, t)
    tv, dv = tnn.utils.parameters_to_vector(t.parameters()), nn.utils.parameters_to_vector(d.parameters())
    np.testing.assert_array_equal(dv.numpy(), tv.detach().numpy())
    (dv * dg.Tensor(np.arange(dv.shape[0], dtype=np.float32))).sum().backward()
    np.testing.assert_array_equal(d[0].bias.grad.numpy(), [6.0, 7.0])          # gradient flows to the parameters
    new = np.arange(tv.shape[0] + 3, dtype=np.float32)
    tnn.utils.vector_to_parameters(torch.tensor(new), t.parameters())
    vec = dg.Tensor(new)
    nn.utils.vector_to_parameters(vec, d.parameters())
    for a, b in zip(d.parameters(), t.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.detach().numpy())
    vec.array[0] = -1.0                                                          # views of vec, as torch's
    assert d[0].weight.numpy()[0, 0] == -1.0
    with pytest.raises(TypeError, match="expected deepgrad.Tensor, but got: list"):
        nn.utils.vector_to_parameters([1.0], d.parameters())
    with pytest.raises(RuntimeError, match=r"shape '\[2, 3\]' is invalid for input of size 4"):
        nn.utils.vector_to_parameters(dg.Tensor(np.zeros(4, np.float32)), d.parameters())
    with pytest.raises(ValueError):
        nn.utils.parameters_to_vector([])
    assert callable(nn.utils.clip_grad_norm_) and callable(nn.utils.clip_grad_value_)
