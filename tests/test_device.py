"""Devices without a GPU: the install error, DLPack with PyTorch and NumPy, deepgrad.cuda's answers; and, marked
``cuda``, the same code on a real GPU through CuPy (skipped with a reason where there is none)."""
import copy

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import backend, nn

torch = pytest.importorskip("torch")
needs_no_cuda = pytest.mark.skipif(dg.cuda.is_available(), reason="checks the errors of a machine without CUDA")


@needs_no_cuda
@pytest.mark.parametrize("make", [lambda: dg.ones(2).cuda(), lambda: dg.zeros(2, device="cuda:0"),
                                  lambda: nn.Linear(2, 2).cuda(), lambda: dg.ones(2).to("cuda"),
                                  lambda: dg.cuda.synchronize(), lambda: dg.cuda.memory_allocated()])
def test_cuda_without_cupy_says_what_to_install(make):
    with pytest.raises(RuntimeError, match=r"not available.*pip install \"deepgrad\[cuda13\]\".*\[cuda12\]"):
        make()


@needs_no_cuda
def test_cuda_module_without_a_gpu():
    assert dg.cuda.is_available() is False and dg.cuda.device_count() == 0
    dg.cuda.manual_seed(1)
    dg.cuda.manual_seed_all(1)          # accepted, as in PyTorch
    assert dg.accelerator.current_accelerator() is None
    assert dg.backends.cudnn.is_available() is False
    assert dg.backends.cudnn.allow_tf32 is False and dg.backends.cuda.matmul.allow_tf32 is False


def test_unknown_devices_are_refused():
    with pytest.raises(RuntimeError, match="no 'mps' backend"):
        dg.ones(2, device="mps")
    with pytest.raises(ValueError, match="CPU has no device 1"):
        dg.ones(2, device="cpu:1")
    restore = backend.register_device(_cpu_as("cuda"))
    try:
        with pytest.raises(ValueError, match="layers are built on the CPU"):
            nn.Linear(2, 2, device="cuda")
    finally:
        restore()


def _cpu_as(type):
    """A stand-in device of ``type`` holding NumPy subclass arrays (only to reach code that names a device)."""
    class Array(np.ndarray):
        pass
    return backend.ArrayBackend(type, np, Array, to_host=np.asarray, from_host=lambda a, i, nb=False: a.view(Array),
                                index_of=lambda a: 0, device_count=lambda: 1, current=lambda: 0,
                                use=lambda i: __import__("contextlib").nullcontext(),
                                rng=lambda seed, i: np.random.default_rng(seed))


def test_dlpack_both_ways_with_torch_and_numpy_shares_memory():
    x = dg.arange(6, dtype=dg.float32).reshape(2, 3)
    t = torch.from_dlpack(x)
    t[0, 0] = 10.0                                   # zero-copy: the write shows in deepgrad
    assert x[0, 0].item() == 10.0 and t.dtype == torch.float32 and tuple(t.shape) == (2, 3)
    a = torch.arange(4.0, dtype=torch.float64)
    y = dg.from_dlpack(a)
    a[1] = -1.0
    assert y.dtype == dg.float64 and y.tolist() == [0.0, -1.0, 2.0, 3.0]
    z = dg.from_dlpack(np.ones(3, np.int32))
    assert z.dtype == dg.int32 and np.from_dlpack(z).tolist() == [1, 1, 1]
    assert x.__dlpack_device__()[0] == 1
    with pytest.raises(RuntimeError, match="requires grad"):
        torch.from_dlpack(dg.ones(2, requires_grad=True))
    with pytest.raises(TypeError, match="__dlpack__"):
        dg.from_dlpack([1, 2])


def test_pin_memory_on_the_cpu_is_accepted_and_changes_nothing():
    data = dg.data.TensorDataset(dg.randn(6, 2), dg.arange(6))
    for (a, b), (c, d) in zip(dg.data.DataLoader(data, batch_size=4, pin_memory=True), dg.data.DataLoader(data, batch_size=4)):
        np.testing.assert_array_equal(a.numpy(), c.numpy())
        np.testing.assert_array_equal(b.numpy(), d.numpy())


def test_registry_restores_what_was_there():
    before = backend._backends.get("cuda")
    restore = backend.register_device(_cpu_as("cuda"))
    assert dg.cuda.is_available()
    restore()
    assert backend._backends.get("cuda") is before


# ---------------------------------------------------------------- on a real GPU (CuPy)
@pytest.mark.cuda
def test_cuda_round_trips_and_factories():
    import cupy
    x = dg.randn(3, 4, dtype=dg.float64)
    y = x.cuda()
    assert isinstance(y.array, cupy.ndarray) and y.device == "cuda:0"
    np.testing.assert_array_equal(y.cpu().numpy(), x.numpy())
    for t in (dg.zeros(2, device="cuda"), dg.ones(2, device="cuda"), dg.empty(2, device="cuda"),
              dg.full((2,), 3.0, device="cuda"), dg.eye(2, device="cuda"), dg.arange(3, device="cuda"),
              dg.linspace(0, 1, 3, device="cuda"), dg.rand(2, device="cuda"), dg.randn(2, device="cuda"),
              dg.randint(0, 4, (3,), device="cuda"), dg.randperm(4, device="cuda"), dg.tensor([1.0], device="cuda"),
              dg.zeros_like(y), y.new_ones(2)):
        assert isinstance(t.array, cupy.ndarray)
    with pytest.raises(TypeError, match=r"\.cpu\(\)"):
        y.numpy()
    with pytest.raises(RuntimeError, match="same device"):
        x + y
    t = torch.from_dlpack(y)
    assert t.is_cuda and dg.from_dlpack(t).device == "cuda:0"
    dg.cuda.synchronize()
    assert dg.cuda.memory_allocated() > 0 and dg.cuda.max_memory_allocated() >= dg.cuda.memory_allocated()


@pytest.mark.cuda
def test_cuda_training_step_equals_the_cpu():
    model = dg.models.lenet5()
    results = []
    for device in ("cpu", "cuda"):
        dg.manual_seed(0)
        m = copy.deepcopy(model).to(device)
        opt = dg.optim.Adam(m.parameters(), lr=1e-3)
        for _ in range(3):
            x, y = dg.randn(16, 1, 28, 28), dg.randint(0, 10, (16,))
            loss = nn.functional.cross_entropy(m(x.to(device)), y.to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
        results.append([p.detach().cpu().numpy() for p in m.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
