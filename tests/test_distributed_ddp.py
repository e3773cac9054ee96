"""DistributedDataParallel and SyncBatchNorm: p ranks x b samples against one process on the p·b samples
(tests/mpi_programs/ddp.py checks parameters and buffers after several optimiser steps), the errors under
mpiexec, and the single-process behaviour here."""
import numpy as np
import pytest

import deepgrad as dg
import deepgrad.distributed as dist
from deepgrad import nn
from deepgrad.nn.parallel import DistributedDataParallel

from test_distributed import expect_ok, mpirun, needs_mpi

torch = pytest.importorskip("torch")


@needs_mpi
@pytest.mark.parametrize("n, dtype, optimiser, mode", [
    (2, "float64", "sgd", "plain"), (2, "float64", "adam", "plain"), (2, "float32", "sgd", "plain"),
    (2, "float32", "adam", "plain"), (2, "float64", "sgd", "nosync"), (2, "float64", "adam", "syncbn"),
    (2, "float32", "sgd", "syncbn"), (2, "float64", "sgd", "buckets"), (3, "float64", "adam", "syncbn"),
    (3, "float32", "sgd", "nosync")])
def test_ddp_equals_one_process_on_the_whole_batch(n, dtype, optimiser, mode):
    expect_ok(mpirun(n, "ddp.py", dtype, optimiser, mode), n, "ddp ok")


@needs_mpi
def test_ddp_errors():
    expect_ok(mpirun(2, "ddp_errors.py"), 2, "ddp errors ok")


@pytest.fixture
def single():
    dist.init_process_group()
    yield
    dist.destroy_process_group()


def test_ddp_needs_a_process_group():
    with pytest.raises(RuntimeError, match="not been initialized"):
        DistributedDataParallel(nn.Linear(2, 2))


def _model_and_gradients():
    """A small model, an input and the gradients of one process (the model's .grad zeroed again)."""
    dg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    x = dg.randn(5, 3)
    model(x).pow(2).sum().backward()
    expected = [p.grad.array.copy() for p in model.parameters()]
    model.zero_grad()
    return model, x, expected


def test_ddp_single_process_gradients_and_misuse(single):
    model, x, expected = _model_and_gradients()
    ddp = DistributedDataParallel(model, bucket_cap_mb=1e-5)
    ddp(x).pow(2).sum().backward()
    for p, e in zip(model.parameters(), expected):
        np.testing.assert_allclose(p.grad.array, e, rtol=1e-6)
    assert all(isinstance(p, nn.Parameter) for p in model[0]._parameters.values())   # untouched
    assert list(ddp.state_dict()) == ["module." + k for k in model.state_dict()]
    with pytest.raises(ValueError, match="bucket_cap_mb must be a positive number"):
        DistributedDataParallel(model, bucket_cap_mb=0)
    with pytest.raises(TypeError, match="module must be a deepgrad.nn.Module"):
        DistributedDataParallel(lambda x: x)


def test_ddp_keeps_the_hooks_of_the_user_on_parameters(single):
    model, x, expected = _model_and_gradients()
    seen = []
    model[0].weight.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad.array.copy()))
    ddp = DistributedDataParallel(model)
    model[2].weight.register_hook(lambda g: g * 3)
    ddp(x).pow(2).sum().backward()
    np.testing.assert_allclose(model[2].weight.grad.array, 3 * expected[2], rtol=1e-6)
    np.testing.assert_allclose(model[0].weight.grad.array, expected[0], rtol=1e-6)
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], expected[0], rtol=1e-6)


def test_sync_batchnorm_alone_is_batchnorm_as_torch():
    x = np.random.default_rng(0).standard_normal((6, 3, 4, 4)).astype(np.float32)
    ours, theirs = nn.SyncBatchNorm(3, momentum=None), torch.nn.BatchNorm2d(3, momentum=None)
    for _ in range(2):
        out = ours(dg.tensor(x, requires_grad=True))
        expected = theirs(torch.tensor(x))
    np.testing.assert_allclose(out.array, expected.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.running_var.array, theirs.running_var.numpy(), rtol=1e-5)


def test_convert_sync_batchnorm_keeps_parameters_and_buffers():
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Sequential(nn.BatchNorm1d(5)))
    model.eval()
    bn = model[1]
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert converted is model
    assert isinstance(model[1], nn.SyncBatchNorm) and isinstance(model[2][0], nn.SyncBatchNorm)
    assert model[1].weight is bn.weight and model[1].running_mean is bn.running_mean
    assert not model[1].training
    assert isinstance(nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm2d(2)), nn.SyncBatchNorm)


# Tensor.register_post_accumulate_grad_hook: the engine's signal that a parameter's gradient is complete


def _post_hook_run(lib):
    """Hook calls (name, .grad then, whether the other leaf had its gradient yet) over three backward passes."""
    w1 = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w2 = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
    seen = []
    for name, w, other in (("w1", w1, w2), ("w2", w2, w1)):
        w.register_post_accumulate_grad_hook(
            lambda t, name=name, other=other: seen.append((name, t.grad.tolist(), other.grad is not None)))
    handle = w2.register_post_accumulate_grad_hook(lambda t: seen.append(("again", t.grad.tolist(), True)))
    h = (w1 * w1 + w1 * 3).tanh()            # w1 used by two operations, before w2: w2's gradient is first
    (h * w2).sum().backward()
    handle.remove()
    w2.register_hook(lambda g: g * 10)       # a gradient hook on the same leaf runs first
    ((w1 * w2).sum() * 2).backward()
    return seen, w1.grad.tolist(), w2.grad.tolist()


def test_post_accumulate_grad_hook_as_torch():
    ours, theirs = _post_hook_run(dg), _post_hook_run(torch)
    assert [(name, done) for name, _, done in ours[0]] == [(name, done) for name, _, done in theirs[0]]
    for (_, a, _), (_, b, _) in zip(ours[0], theirs[0]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-5, atol=1e-6)


def test_post_accumulate_grad_hook_errors():
    x = dg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="non-leaf"):
        (x * 2).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match="does not require gradient"):
        dg.ones(2).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(TypeError, match="expected a callable"):
        x.register_post_accumulate_grad_hook(3)
    calls = []
    x.register_post_accumulate_grad_hook(calls.append)
    dg.autograd.grad((x * x).sum(), x)         # autograd.grad accumulates nothing: no call
    assert calls == []
