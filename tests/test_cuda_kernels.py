"""The CUDA kernels (``deepgrad/kernels/cuda``: cuDNN convolutions and batch norm, fused max pooling, the
generic kernels on CuPy) on a GPU: the conv and pool grids against the CPU and against PyTorch on CUDA,
every primitive's VJP and JVP against the CPU's, zoo models' outputs, 100 training steps equal to the
CPU's, and no memory growth over 200 steps. Marked ``cuda``: skipped with a reason without CuPy and a GPU.
float32 on the GPU runs without TF32 (``deepgrad.backends.cudnn.allow_tf32`` is off), so it matches the
CPU to float32 tolerance."""
import copy

import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import kernels, nn
from deepgrad.ops import conv as conv_ops
from deepgrad.ops import deform, normalize, pool
from test_kernels_generic import CONV, CONV_IDS, MAX_POOL, conv_case

torch = pytest.importorskip("torch")
tF = torch.nn.functional
pytestmark = pytest.mark.cuda

TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}


@pytest.fixture(autouse=True)
def exact_torch():
    """PyTorch's CUDA reference without TF32, as deepgrad's."""
    if torch.cuda.is_available():
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False


def torch_cuda():
    if not torch.cuda.is_available():
        pytest.skip("this PyTorch has no CUDA: compared with the CPU only")
    return "cuda"


def on_both(fn, *arrays):
    """``fn`` on Tensors made from ``arrays`` on the CPU and on CUDA (requires_grad), its outputs and the
    gradients of the sum of squares of its outputs, as NumPy arrays: [cpu results, cuda results]."""
    results = []
    for device in ("cpu", "cuda"):
        inputs = [dg.tensor(a).to(device).requires_grad_() for a in arrays]
        outs = fn(*inputs)
        outs = outs if isinstance(outs, tuple) else (outs,)
        sum((o * o).sum() for o in outs).backward()
        results.append([o.detach().cpu().numpy() for o in outs] + [t.grad.cpu().numpy() for t in inputs])
    return results


def assert_close(got, want, dtype):
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, **TOL[dtype])


def test_cuda_arrays_take_the_cuda_kernels_and_cudnn_is_used():
    import cupy
    from deepgrad.kernels import cuda
    from deepgrad.kernels.cuda import cudnn
    assert kernels.of(cupy.zeros(1)) is cuda
    assert cudnn.frontend() is not None, "the cuDNN frontend is not installed: pip install nvidia-cudnn-frontend"
    x = dg.randn(4, 3, 8, 8).cuda()
    F.conv2d(x, dg.randn(5, 3, 3, 3).cuda(), padding=1)
    hits = cudnn._conv_graph.cache_info().hits
    F.conv2d(x, dg.randn(5, 3, 3, 3).cuda(), padding=1)                # the same graph, from the cache
    assert cudnn._conv_graph.cache_info().hits == hits + 1
    assert cudnn.conv("fprop", cupy.ones((1, 1, 3, 3), "f4"), cupy.ones((1, 1, 3, 3), "f4"), (1, 1, 1, 1),
                      (0, 0), (0, 0), (1, 1), (1, 1)) is not None    # cuDNN has an engine for a plain conv


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CONV, ids=CONV_IDS)
def test_conv_grid_equals_the_cpu(case, dtype):
    x, w, (stride, padding, dilation, groups), _ = conv_case(case, np.random.default_rng(0), batch=3, dtype=dtype)
    nd = x.ndim - 2
    f = lambda x, w: getattr(F, f"conv{nd}d")(x, w, stride=stride, padding=padding, dilation=dilation,  # noqa: E731
                                              groups=groups)
    cpu, cuda = on_both(f, x, w)
    assert_close(cuda, cpu, dtype)


@pytest.mark.parametrize("case", CONV, ids=CONV_IDS)
def test_conv_grid_without_cudnn_equals_the_cpu(case, monkeypatch):
    """The generic im2col + cuBLAS route on CuPy, where cuDNN cannot run a convolution."""
    from deepgrad.kernels.cuda import cudnn
    monkeypatch.setattr(cudnn, "conv", lambda *args: None)
    x, w, (stride, padding, dilation, groups), _ = conv_case(case, np.random.default_rng(1))
    nd = x.ndim - 2
    f = lambda x, w: getattr(F, f"conv{nd}d")(x, w, stride=stride, padding=padding, dilation=dilation,  # noqa: E731
                                              groups=groups)
    cpu, cuda = on_both(f, x, w)
    assert_close(cuda, cpu, np.float64)


@pytest.mark.parametrize("case", CONV, ids=CONV_IDS)
def test_conv_grid_equals_torch_cuda(case):
    device = torch_cuda()
    x0, w0, (stride, padding, dilation, groups), _ = conv_case(case, np.random.default_rng(2), dtype=np.float32)
    nd = x0.ndim - 2
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    x, w = dg.tensor(x0).cuda().requires_grad_(), dg.tensor(w0).cuda().requires_grad_()
    tx = torch.tensor(x0, device=device, requires_grad=True)
    tw = torch.tensor(w0, device=device, requires_grad=True)
    out, ref = getattr(F, f"conv{nd}d")(x, w, **kw), getattr(tF, f"conv{nd}d")(tx, tw, **kw)
    (out * out).sum().backward()
    (ref * ref).sum().backward()
    for got, want in ((out, ref), (x.grad, tx.grad), (w.grad, tw.grad)):
        np.testing.assert_allclose(got.detach().cpu().numpy(), want.detach().cpu().numpy(), **TOL[np.float32])


@pytest.mark.parametrize("nd,stride,padding,output_padding,groups", [(1, 2, 1, 1, 1), (2, 2, 1, 1, 2),
                                                                     (2, (3, 2), (1, 0), (2, 1), 1), (3, 2, 0, 1, 1)])
def test_conv_transpose_with_output_padding_equals_the_cpu(nd, stride, padding, output_padding, groups):
    rng = np.random.default_rng(3)
    y, w = rng.standard_normal((2, 4) + (4, 5, 3)[:nd]), rng.standard_normal((4, 6 // groups) + (3,) * nd)
    f = lambda y, w: getattr(F, f"conv_transpose{nd}d")(y, w, stride=stride, padding=padding,  # noqa: E731
                                                        output_padding=output_padding, groups=groups)
    cpu, cuda = on_both(f, y, w)
    assert_close(cuda, cpu, np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", MAX_POOL, ids=[str(c) for c in MAX_POOL])
def test_max_pool_grid_equals_the_cpu_and_torch_cuda(case, dtype):
    nd, kernel, stride, padding, dilation, ceil_mode = case
    rng = np.random.default_rng(4)
    shape = (2, 3) + (9, 8)[:nd]
    x0 = (rng.permutation(int(np.prod(shape))) / 10.0).reshape(shape).astype(dtype)
    kw = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)
    pool_fn = getattr(F, f"max_pool{nd}d")
    cpu, cuda = on_both(lambda x: pool_fn(x, **kw), x0)
    assert_close(cuda, cpu, dtype)
    index = pool_fn(dg.tensor(x0).cuda(), return_indices=True, **kw)[1]
    np.testing.assert_array_equal(index.cpu().numpy(), pool_fn(dg.tensor(x0), return_indices=True, **kw)[1].numpy())
    if torch.cuda.is_available():
        ref = getattr(tF, f"max_pool{nd}d")(torch.tensor(x0, device="cuda"), **kw)
        np.testing.assert_array_equal(cuda[0], ref.cpu().numpy())


def test_max_pool_nan_and_ties_equal_the_cpu():
    rng = np.random.default_rng(5)
    x0 = rng.integers(0, 3, (2, 2, 7, 6)).astype(np.float32)
    x0[0, 0, 1, 1] = x0[1, 1, 4, 2] = x0[1, 1, 4, 3] = np.nan
    kw = dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), return_indices=True)
    got = [t.cpu().numpy() for t in F.max_pool2d(dg.tensor(x0).cuda(), **kw)]
    want = [t.numpy() for t in F.max_pool2d(dg.tensor(x0), **kw)]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("nd,kernel,stride,padding,ceil_mode,count_include_pad", [
    (1, 3, 2, 1, True, False), (2, 3, 2, 1, False, True), (2, 3, 2, 1, True, False)])
def test_avg_and_adaptive_pool_equal_the_cpu(nd, kernel, stride, padding, ceil_mode, count_include_pad):
    x0 = np.random.default_rng(6).standard_normal((2, 3) + (8, 7)[:nd])
    kw = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode,
              count_include_pad=count_include_pad)
    adaptive = getattr(F, f"adaptive_max_pool{nd}d"), getattr(F, f"adaptive_avg_pool{nd}d")
    cpu, cuda = on_both(lambda x: (getattr(F, f"avg_pool{nd}d")(x, **kw), adaptive[0](x, 3), adaptive[1](x, 3)), x0)
    assert_close(cuda, cpu, np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (4, 6, 5, 5), (2, 3, 2, 3, 4)])
def test_batch_norm_equals_the_cpu_and_torch_cuda(shape, dtype):
    x0 = (np.random.default_rng(7).standard_normal(shape) * 3 + 1).astype(dtype)

    def f(x):
        mean, var = dg.zeros(shape[1], dtype=x.dtype, device=x.device), dg.ones(shape[1], dtype=x.dtype, device=x.device)
        return F.batch_norm(x, mean, var, training=True), mean, var
    cpu, cuda = on_both(lambda x: f(x)[0], x0)
    assert_close(cuda, cpu, dtype)
    if torch.cuda.is_available():
        ref = tF.batch_norm(torch.tensor(x0, device="cuda"), None, None, training=True)
        np.testing.assert_allclose(cuda[0], ref.cpu().numpy(), **TOL[dtype])


# every primitive of the kernels, its VJP and its JVP on CUDA against the CPU
def _primitive_cases():
    rng = np.random.default_rng(8)
    x, w = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((6, 2, 3, 3))
    y = rng.standard_normal((2, 6, 4, 6))
    geometry = ((2, 1), (1, 1), (1, 1), 2)
    pooled = rng.standard_normal((2, 4, 4, 3))
    offsets = rng.integers(0, 4, (2, 4, 4, 3)).astype(np.int8)
    index = rng.integers(0, 42, (2, 4, 5))
    py, px = rng.uniform(-1, 7, (2, 2, 9, 3, 3)), rng.uniform(-1, 6, (2, 2, 9, 3, 3))
    window = ((2, 2), (2, 2), (1, 0), (1, 1))
    return {
        "conv": (lambda a, b: conv_ops.conv(a, b, *geometry, (4, 6)), (x, w), ()),
        "conv_transpose": (lambda a, b: conv_ops.conv_transpose(a, b, *geometry, (7, 6)), (y, w), ()),
        "conv_weight": (lambda a, b: conv_ops.conv_weight(a, b, *geometry, (3, 3)), (x, y), ()),
        "window_sum": (lambda a: pool.window_sum(a, (2, 2), (2, 2), (1, 0), (4, 3)), (x,), ()),
        "window_spread": (lambda a: pool.window_spread(a, (2, 2), (2, 2), (1, 0), (7, 6)), (pooled,), ()),
        "max_pool": (lambda a: pool.max_pool(a, (2, 2), (2, 2), (1, 0), (1, 1), (4, 3)), (x,), ()),
        "window_pick": (lambda a, o: pool.window_pick(a, o.array, *window, (4, 3)), (x,), (offsets,)),
        "window_route": (lambda a, o: pool.window_route(a, o.array, *window, (7, 6)), (pooled,), (offsets,)),
        "gather": (lambda a, i: pool.gather(a, i.array), (x,), (index,)),
        "scatter": (lambda a, i: pool.scatter(a, i.array, (7, 6)), (rng.standard_normal((2, 4, 5)),), (index,)),
        "normalize": (lambda a: normalize.normalize(a, (0, 2, 3), 1e-5), (x,), ()),
        "sample": (lambda a, p, q: deform.sample(a, p, q), (x,), (py, px)),
        "spread": (lambda a, p, q: deform.spread(a, p, q, (0, 0), (7, 6)),
                   (rng.standard_normal((2, 4, 9, 3, 3)),), (py, px)),
    }


@pytest.mark.parametrize("name", sorted(_primitive_cases()))
def test_every_primitive_vjp_and_jvp_equal_the_cpu(name):
    fn, primals, constants = _primitive_cases()[name]
    rng = np.random.default_rng(9)
    tangents = [rng.standard_normal(p.shape) for p in primals]
    results = []
    for device in ("cpu", "cuda"):
        on = lambda arrays: [dg.tensor(a).to(device) for a in arrays]                    # noqa: E731
        fixed = on(constants)
        g = lambda *p: fn(*p, *fixed)                                                     # noqa: E731
        out, vjp_fn = dg.vjp(g, *on(primals))
        cotangent = dg.tensor(np.random.default_rng(10).standard_normal(tuple(out.shape))).to(device)
        _, tangent = dg.jvp(g, tuple(on(primals)), tuple(on(tangents)))
        results.append([out.cpu().numpy(), tangent.cpu().numpy()] + [c.cpu().numpy() for c in vjp_fn(cotangent)])
    assert_close(results[1], results[0], np.float64)


@pytest.mark.parametrize("name,shape", [("lenet5", (4, 1, 28, 28)), ("resnet20", (4, 3, 32, 32)),
                                        ("resnet18", (2, 3, 64, 64)), ("mlp", (4, 1, 28, 28)),
                                        ("googlenet", (2, 3, 64, 64))])
def test_zoo_outputs_equal_the_cpu(name, shape):
    dg.manual_seed(0)
    model = dg.models.get_model(name).eval()
    x = dg.randn(*shape)
    want = model(x).detach().numpy()
    got = copy.deepcopy(model).to("cuda")(x.cuda()).detach().cpu().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def _train(model, device, steps, batch=32):
    """``steps`` SGD steps (momentum) of ``model`` on ``device`` with data drawn on the CPU."""
    dg.manual_seed(1)
    m = copy.deepcopy(model).to(device)
    opt = dg.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(steps):
        x, y = dg.randn(batch, 1, 28, 28), dg.randint(0, 10, (batch,))
        loss = nn.functional.cross_entropy(m(x.to(device)), y.to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return m, losses


def test_100_training_steps_equal_the_cpu():
    dg.manual_seed(0)
    model = dg.models.lenet5()
    cpu_model, cpu_losses = _train(model, "cpu", 100)
    cuda_model, cuda_losses = _train(model, "cuda", 100)
    np.testing.assert_allclose(cuda_losses, cpu_losses, rtol=1e-3, atol=1e-4)
    for (name, p), q in zip(cpu_model.named_parameters(), cuda_model.parameters()):
        np.testing.assert_allclose(q.detach().cpu().numpy(), p.detach().numpy(), rtol=1e-3, atol=1e-4, err_msg=name)


def test_no_memory_growth_over_200_steps():
    dg.manual_seed(0)
    model = dg.models.lenet5()
    m, _ = _train(model, "cuda", 10)                  # warm: optimiser state and the pool's blocks exist
    dg.cuda.synchronize()
    before = dg.cuda.memory_allocated()
    opt = dg.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
    for _ in range(200):
        loss = nn.functional.cross_entropy(m(dg.randn(32, 1, 28, 28, device="cuda")),
                                           dg.randint(0, 10, (32,), device="cuda"))
        opt.zero_grad()
        loss.backward()
        opt.step()
    del loss
    dg.cuda.synchronize()
    assert dg.cuda.memory_allocated() <= before + (1 << 20), (before, dg.cuda.memory_allocated())
