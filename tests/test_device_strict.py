"""Device plumbing on the strict test device (tests/strict_device.py), registered as "cuda": arrays that refuse
implicit host conversions and NumPy operands, as CuPy's do. Whatever runs here reaches the host only through
explicit copies, so it runs on CuPy the same way."""
import copy
import json

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import models, nn

pytestmark = pytest.mark.usefixtures("strict_cuda")


def test_the_strict_device_refuses_what_cupy_refuses(strict_cuda):
    a = strict_cuda.xp.ones(3)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        a + np.ones(3)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        strict_cuda.xp.maximum(np.ones(3), a)
    assert isinstance(a.sum(), strict_cuda.StrictArray)       # reductions stay on the device, 0-d
    np.testing.assert_array_equal(a.get(), np.ones(3))


def test_tensor_round_trip_and_device_facts():
    x = dg.randn(3, 4)
    y = x.cuda()
    assert y.device == "cuda:0" and y.is_cuda and not x.is_cuda and str(x.device) == "cpu"
    assert y.to("cpu").device == "cpu" and y.cpu().device == "cpu"
    np.testing.assert_array_equal(y.cpu().numpy(), x.numpy())
    assert x.to("cuda").device == dg.device("cuda", 0) and x.to(y).device == y.device
    z = x.to("cuda", dg.float64)
    assert z.device == "cuda:0" and z.dtype == dg.float64
    assert y.to("cuda") is y and y.cuda() is y                 # already there: the same tensor
    assert "device='cuda:0'" in repr(y)
    assert y[0, 1].item() == x[0, 1].item() and y.tolist() == x.tolist()
    assert float(y.sum()) == pytest.approx(float(x.sum())) and bool(y[0, 0] == x[0, 0].item())


def test_numpy_of_a_device_tensor_points_to_cpu():
    y = dg.ones(2, device="cuda")
    with pytest.raises(TypeError, match=r"\.cpu\(\)"):
        y.numpy()
    with pytest.raises(TypeError, match=r"\.cpu\(\)"):
        np.asarray(y)


def test_mixing_devices_names_both():
    x, y = dg.ones(3), dg.ones(3, device="cuda")
    for op in (lambda: x + y, lambda: y * x, lambda: dg.maximum(y, x), lambda: dg.where(y > 0, x, y),
               lambda: dg.matmul(x, y)):
        with pytest.raises(RuntimeError, match=r"same device.*(cpu and cuda:0|cuda:0 and cpu)"):
            op()


@pytest.mark.parametrize("make", [
    lambda **k: dg.zeros(2, 3, **k), lambda **k: dg.ones(2, 3, **k), lambda **k: dg.empty(2, 3, **k),
    lambda **k: dg.full((2, 3), 1.5, **k), lambda **k: dg.eye(3, **k), lambda **k: dg.arange(5, **k),
    lambda **k: dg.linspace(0, 1, 5, **k), lambda **k: dg.tensor([[1.0, 2.0]], **k),
    lambda **k: dg.as_tensor(np.ones(3), **k), lambda **k: dg.rand(2, 3, **k), lambda **k: dg.randn(2, 3, **k),
    lambda **k: dg.randint(0, 5, (4,), **k), lambda **k: dg.randperm(6, **k)])
def test_every_factory_takes_device(make, strict_cuda):
    t = make(device="cuda")
    assert t.device == "cuda:0" and isinstance(t.array, strict_cuda.StrictArray)
    host = make()
    assert host.device == "cpu" and host.shape == t.shape and host.dtype == t.dtype


def test_like_and_new_keep_the_device():
    y = dg.ones(2, 3, device="cuda")
    for t in (dg.zeros_like(y), dg.ones_like(y), dg.empty_like(y), dg.rand_like(y), dg.randn_like(y),
              dg.full_like(y, 2.0), y.new_zeros(2), y.new_ones(2), y.new_full((2,), 3.0), dg.bernoulli(y * 0.5)):
        assert t.device == "cuda:0"
    assert y.new_zeros(2, device="cpu").device == "cpu" and dg.zeros_like(y, device="cpu").device == "cpu"


def test_device_randomness_is_seeded_by_manual_seed():
    dg.manual_seed(3)
    a = dg.randn(5, device="cuda").cpu().numpy()
    dg.manual_seed(3)
    b = dg.randn(5, device="cuda").cpu().numpy()
    dg.cuda.manual_seed_all(4)
    c = dg.randn(5, device="cuda").cpu().numpy()
    dg.cuda.manual_seed(4)
    d = dg.randn(5, device="cuda").cpu().numpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(c, d)
    assert not np.array_equal(a, c)
    with pytest.raises(ValueError, match="CPU generator"):
        dg.randn(2, device="cuda", generator=dg.Generator(1))


def test_to_device_is_differentiable():
    x = dg.randn(4, dtype=dg.float64, requires_grad=True)
    y = x.cuda()
    (y * y).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy())
    w = dg.randn(3, device="cuda", requires_grad=True)
    w.cpu().exp().sum().backward()
    assert w.grad.device == "cuda:0"
    np.testing.assert_allclose(w.grad.cpu().numpy(), np.exp(w.detach().cpu().numpy()), rtol=1e-6)



def test_function_transforms_answer_on_the_device(strict_cuda):
    """grad/vjp/jvp/jacfwd/jacrev/hessian give device results, zeros for unused inputs included."""
    x = dg.tensor([0.5, -1.0, 2.0], dtype=dg.float64, device="cuda")
    unused = dg.tensor([1.0, 2.0], dtype=dg.float64, device="cuda")
    f = lambda a, b: (a ** 3).sum()
    grads = dg.grad(f, argnums=(0, 1))(x, unused)
    assert all(isinstance(g.array, strict_cuda.StrictArray) for g in grads)
    np.testing.assert_allclose(grads[0].cpu().numpy(), 3 * np.array([0.5, -1.0, 2.0]) ** 2)
    np.testing.assert_array_equal(grads[1].cpu().numpy(), [0.0, 0.0])
    _, tangent = dg.jvp(lambda a, b: a * 2.0, (x, unused), (dg.ones_like(x), dg.ones_like(unused)))
    assert tangent.device == "cuda:0"
    for jac in (dg.jacfwd(f, argnums=(0, 1))(x, unused), dg.jacrev(f, argnums=(0, 1))(x, unused)):
        assert [j.device for j in jac] == ["cuda:0", "cuda:0"]
        np.testing.assert_array_equal(jac[1].cpu().numpy(), [0.0, 0.0])
    hessian = dg.hessian(lambda a: (a ** 3).sum())(x)
    assert hessian.device == "cuda:0"
    np.testing.assert_allclose(hessian.cpu().numpy(), np.diag(6 * np.array([0.5, -1.0, 2.0])))

def _train(model, device, make_optimizer, shape, steps=3, dtype=dg.float32):
    model = model.to(device, dtype)
    optimizer = make_optimizer(model.parameters())
    for _ in range(steps):
        x, y = dg.randn(8, *shape), dg.randint(0, 10, (8,))
        loss = nn.functional.cross_entropy(model(x.to(device, dtype)), y.to(device))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
    return model, optimizer, loss.item()


OPTIMIZERS = [lambda p: dg.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
              lambda p: dg.optim.Adam(p, lr=1e-3, amsgrad=True), lambda p: dg.optim.RMSprop(p, centered=True, momentum=0.5),
              lambda p: dg.optim.Adagrad(p), lambda p: dg.optim.Adadelta(p), lambda p: dg.optim.Adamax(p),
              lambda p: dg.optim.NAdam(p), lambda p: dg.optim.RAdam(p)]


@pytest.mark.parametrize("make_optimizer", OPTIMIZERS)
def test_mlp_training_equals_the_cpu_and_state_lives_on_the_device(make_optimizer, strict_cuda):
    model = nn.Sequential(nn.Linear(20, 16), nn.Tanh(), nn.Linear(16, 10))
    dg.manual_seed(1)
    cpu, _, cpu_loss = _train(copy.deepcopy(model), "cpu", make_optimizer, (20,))
    dg.manual_seed(1)
    gpu, optimizer, gpu_loss = _train(copy.deepcopy(model), "cuda", make_optimizer, (20,))
    assert gpu_loss == pytest.approx(cpu_loss, rel=1e-5)
    for p, q in zip(cpu.parameters(), gpu.parameters()):
        assert q.device == "cuda:0" and q.grad.device == "cuda:0"
        np.testing.assert_allclose(q.detach().cpu().numpy(), p.detach().numpy(), rtol=1e-5, atol=1e-6)
    for state in optimizer.state.values():
        for key, value in state.items():
            if isinstance(value, dg.Tensor) and value.ndim:
                assert isinstance(value.array, strict_cuda.StrictArray), key


@pytest.mark.parametrize("build, shape", [(lambda: models.lenet5(), (1, 28, 28)),
                                          (lambda: nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4),
                                                                 nn.ReLU(), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(3),
                                                                 nn.Flatten(), nn.Linear(36, 10)), (1, 8, 8)),
                                          pytest.param(lambda: models.resnet20(), (3, 32, 32), marks=pytest.mark.slow)])
def test_convnet_training_equals_the_cpu(build, shape):
    """In float64, so that the devices' different summation orders stay far below the tolerance (Adam divides
    tiny gradients by their own size, which amplifies float32 rounding)."""
    model = build()
    dg.manual_seed(2)
    cpu, _, cpu_loss = _train(copy.deepcopy(model), "cpu", OPTIMIZERS[1], shape, dtype=dg.float64)
    dg.manual_seed(2)
    gpu, _, gpu_loss = _train(copy.deepcopy(model), "cuda", OPTIMIZERS[1], shape, dtype=dg.float64)
    assert gpu_loss == pytest.approx(cpu_loss, rel=1e-10)
    for (name, a), b in zip(cpu.state_dict().items(), gpu.state_dict().values()):
        assert b.device == "cuda:0", name
        np.testing.assert_allclose(b.cpu().numpy(), a.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


def test_module_to_moves_parameters_buffers_and_grads():
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    model(dg.randn(4, 3)).sum().backward()
    weight = model[0].weight
    assert model.cuda() is model and model[0].weight is weight
    assert all(t.device == "cuda:0" for t in list(model.parameters()) + list(model.buffers()))
    assert weight.grad.device == "cuda:0"
    model.to("cpu", dg.float64)
    assert weight.device == "cpu" and weight.dtype == dg.float64 and model[1].running_var.device == "cpu"
    lazy = nn.LazyLinear(2).cuda()
    assert lazy(dg.randn(4, 3, device="cuda")).device == "cuda:0" and lazy.weight.device == "cuda:0"


def test_save_copies_to_the_host_and_load_maps_to_the_device(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)).cuda()
    optimizer = dg.optim.Adam(model.parameters())
    model(dg.randn(4, 3, device="cuda")).sum().backward()
    optimizer.step()
    dg.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, tmp_path / "run.safetensors")
    on_host = dg.load(tmp_path / "run.safetensors")
    on_device = dg.load(tmp_path / "run.safetensors", map_location="cuda")
    for k, v in model.state_dict().items():
        assert on_host["model"][k].device == "cpu" and on_device["model"][k].device == "cuda:0"
        np.testing.assert_array_equal(on_host["model"][k].numpy(), v.cpu().numpy())
    fresh = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)).cuda()
    fresh.load_state_dict(on_host["model"])                      # host values into device parameters
    assert fresh[0].weight.device == "cuda:0"
    np.testing.assert_array_equal(fresh[0].weight.cpu().numpy(), model[0].weight.cpu().numpy())
    resumed = dg.optim.Adam(fresh.parameters())
    resumed.load_state_dict(on_host["optimizer"])                 # the moments go to the parameters' device
    assert resumed.state[fresh[0].weight]["exp_avg"].device == "cuda:0"


def test_pinned_loader_and_non_blocking_copies_give_the_same_batches():
    data = dg.data.TensorDataset(dg.randn(10, 3), dg.arange(10))
    for pinned, plain in zip(dg.data.DataLoader(data, batch_size=4, pin_memory=True),
                             dg.data.DataLoader(data, batch_size=4)):
        for a, b in zip(pinned, plain):
            np.testing.assert_array_equal(a.to("cuda", non_blocking=True).cpu().numpy(), b.numpy())


def test_cuda_module_reports_the_registered_device():
    assert dg.cuda.is_available() and dg.cuda.device_count() == 1 and dg.cuda.current_device() == 0
    assert dg.accelerator.current_accelerator() == "cuda"
    with pytest.raises(RuntimeError, match="not available: 1 cuda device"):
        dg.ones(1, device="cuda:1")


@pytest.mark.slow
def test_cli_trains_on_the_device_as_on_the_cpu(tmp_path, monkeypatch):
    """``deepgrad train --device cuda`` in-process: the model lives on the device, and the run's figures equal
    the CPU run's."""
    pytest.importorskip("sklearn", reason="the digits dataset comes with scikit-learn")
    from deepgrad.cli import main
    from deepgrad.train import loop
    devices = []
    fit = loop.Trainer.fit

    def recording_fit(self, epochs):
        devices.append({str(p.device) for p in self.model.parameters()})
        return fit(self, epochs)
    monkeypatch.setattr(loop.Trainer, "fit", recording_fit)
    reports = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / device
        args = ["train", "--epochs", "1", "--batch-size", "64", "--out", str(out), "--quiet", "--no-plots", "--device",
                device]
        assert main(args) == 0
        reports[device] = json.loads((out / "report.json").read_text())
    assert devices == [{"cpu"}, {"cuda:0"}]
    assert reports["cuda"]["test_accuracy"] == pytest.approx(reports["cpu"]["test_accuracy"], abs=0.01)
    assert main(["train", "--device", "cuda:3", "--out", str(tmp_path / "x"), "--quiet"]) == 2


def test_random_in_place_dropout_diag_and_collate_stay_on_the_device(strict_cuda):
    w = dg.zeros(3, 4, device="cuda")
    w.uniform_(-1, 1)
    assert isinstance(w.array, strict_cuda.StrictArray) and 0 < abs(w).max().item() <= 1
    w.normal_(generator=dg.Generator(5))                       # a CPU generator: drawn on the host, then copied
    np.testing.assert_array_equal(w.cpu().numpy(), dg.zeros(3, 4).normal_(generator=dg.Generator(5)).numpy())
    x = dg.ones(200, device="cuda")
    y = nn.functional.dropout(x, 0.5, training=True)
    kept = y.cpu().numpy()
    assert y.device == "cuda:0" and set(np.unique(kept)) == {0.0, 2.0} and 50 < (kept > 0).sum() < 150
    assert dg.diag(dg.arange(3.0, device="cuda")).device == "cuda:0"
    batch = dg.data.default_collate([dg.ones(2, device="cuda"), dg.zeros(2, device="cuda")])
    assert batch.device == "cuda:0" and batch.shape == (2, 2)


def _leaves(x):
    if isinstance(x, dg.Tensor):
        return [x]
    return [leaf for v in x for leaf in _leaves(v)] if isinstance(x, (tuple, list)) else []


@pytest.mark.slow
def test_every_op_case_runs_on_the_device_as_on_the_cpu():
    """The op tables of the conformance tests (850 cases), float64, inputs moved to the device: each result and
    input gradient lands on the device with the CPU's values. Cases whose functions hold CPU tensors of their own
    (index, mask, running statistics) must be refused with an error naming both devices, as PyTorch refuses them."""
    from test_ops_conformance import CASES
    from test_zero_dim_empty import CASES as EMPTY_CASES
    failures = []
    with np.errstate(all="ignore"):         # some cases make NaN and inf by design, on both devices alike
        _compare_cases(CASES + EMPTY_CASES, failures)
    assert not failures, "\n".join(failures)


def _compare_cases(cases, failures):
    refused = 0
    for case in cases:
        if case.op in ("pool.gather", "pool.scatter"):          # primitives called with NumPy index arrays
            continue
        xs = case.arrays(np.float64)
        expected = _leaves(case.dg_fn(*[dg.tensor(a) for a in xs]))
        inputs = [dg.tensor(a, device="cuda", requires_grad=case.derivatives) for a in xs]
        try:
            outputs = _leaves(case.dg_fn(*inputs))
        except RuntimeError as e:
            refused += 1
            if "cpu" not in str(e) or "cuda:0" not in str(e):
                failures.append(f"{case.id}: {e}")
            continue
        try:
            for a, b in zip(expected, outputs):
                assert b.device == "cuda:0", f"result on {b.device}"
                np.testing.assert_allclose(b.cpu().numpy(), a.numpy(), rtol=1e-10, atol=1e-12)
            differentiable = [o for o in outputs if o.requires_grad]
            if differentiable:
                sum((o.astype(dg.float64) * 1.5).sum() for o in differentiable).backward()
                assert all(i.grad is None or i.grad.device == "cuda:0" for i in inputs), "gradient off the device"
        except (AssertionError, TypeError, ValueError) as e:
            failures.append(f"{case.id}: {type(e).__name__}: {e}")
    if refused >= 20:
        failures.append(f"{refused} cases refused: more than the 18 that hold CPU tensors of their own")
