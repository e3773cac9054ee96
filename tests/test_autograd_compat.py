"""PyTorch's autograd API on deepgrad (issue 13): custom ``autograd.Function``s, ``grad_fn`` nodes,
tensor hooks, anomaly detection, and the device / dtype names scripts use; checked against torch."""
import pathlib

import numpy as np
import pytest

import deepgrad as dg
from compat.porting import load

torch = pytest.importorskip("torch")


def _legendre(lib):
    """The custom Function of tests/compat's polynomial program (pytorch/tutorials' style): P3(x) = (5x³ − 3x)/2
    with its own backward, as written for torch or ported to deepgrad."""
    program = pathlib.Path(__file__).parent / "compat" / "programs" / "custom_function_fit.py"
    return load(program, ported=lib is dg).LegendrePolynomial3


def test_custom_function_values_gradients_and_second_derivatives_match_torch():
    x = np.linspace(-1, 1, 7)
    results = []
    for lib in (dg, torch):
        P3 = _legendre(lib)
        t = lib.tensor(x, requires_grad=True)
        y = P3.apply(t)
        (g,) = lib.autograd.grad(y.sum(), t, create_graph=True)   # backward's own ops are recorded
        (gg,) = lib.autograd.grad(g.sum(), t)
        results.append([np.asarray(v.detach().numpy()) for v in (y, g, gg)])
        assert y.grad_fn.name() == "LegendrePolynomial3Backward"
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def _scaled_pair(lib, new_style):
    """Two outputs, a non-tensor argument, needs_input_grad, and (optionally) the setup_context form."""
    class ScaledPair(lib.autograd.Function):
        if new_style:
            @staticmethod
            def forward(a, b, k):
                return a * b * k, a + b

            @staticmethod
            def setup_context(ctx, inputs, output):
                a, b, k = inputs
                ctx.save_for_backward(a, b)
                ctx.k = k
        else:
            @staticmethod
            def forward(ctx, a, b, k):
                ctx.save_for_backward(a, b)
                ctx.k = k
                return a * b * k, a + b

        @staticmethod
        def backward(ctx, g_prod, g_sum):
            a, b = ctx.saved_tensors
            assert ctx.needs_input_grad == (True, False, False)
            return g_prod * b * ctx.k + g_sum, None, None
    return ScaledPair


@pytest.mark.parametrize("new_style", [False, True])
def test_custom_function_with_two_outputs_and_a_number_argument(new_style):
    results = []
    for lib in (dg, torch):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = lib.tensor([3.0, -1.0])
        prod, total = _scaled_pair(lib, new_style).apply(a, b, 2.5)
        (prod * lib.tensor([1.0, 10.0])).sum().backward(retain_graph=True)
        first = a.grad.clone()
        total.sum().backward()
        results.append([v.detach().numpy() for v in (prod, total, first, a.grad)])
    for x, y in zip(*results):
        np.testing.assert_allclose(x, y)


def test_custom_function_errors():
    class Wrong(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g[:1]
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="shape"):
        Wrong.apply(x).sum().backward()
    with pytest.raises(RuntimeError, match="apply"):
        Wrong()
    with pytest.raises(RuntimeError, match="jvp"):
        dg.jvp(lambda t: Wrong.apply(t), (x.detach(),), (dg.ones(2),))

    class Saves(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * ctx.saved_tensors[0]
    y = x * 1
    out = Saves.apply(y)
    with dg.no_grad():
        y.add_(1)
    with pytest.raises(RuntimeError, match="saved tensor 0 .*in-place"):
        out.sum().backward()


def test_custom_function_forward_mode_through_its_jvp():
    class Square(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.x = x
            return x * x

        @staticmethod
        def jvp(ctx, tx):
            return 2 * ctx.x * tx
    x = dg.tensor([1.0, 3.0])
    out, tangent = dg.jvp(Square.apply, (x,), (dg.tensor([1.0, 1.0]),))
    np.testing.assert_array_equal(tangent.numpy(), [2.0, 6.0])


def test_grad_fn_nodes_and_next_functions_as_torch():
    """pytorch/tutorials' autograd_tutorial prints loss.grad_fn and walks next_functions."""
    names = []
    for lib in (dg, torch):
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        x = lib.tensor([3.0, 4.0])
        loss = (w * x).exp().sum()
        fn = loss.grad_fn
        exp = fn.next_functions[0][0]
        mul = exp.next_functions[0][0]
        acc, none = mul.next_functions
        names.append((fn.name(), exp.name(), mul.name(), type(acc[0]).__name__, none[0], acc[0].variable is w))
        assert w.grad_fn is None
    assert names[0] == names[1]


def test_tensor_hooks_see_and_replace_gradients_as_torch():
    seen = {dg: [], torch: []}
    grads = []
    for lib in (dg, torch):
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        y = w * 3
        handle = y.register_hook(lambda g: g * 10)
        w.register_hook(lambda g, lib=lib: seen[lib].append(g.numpy().copy()))
        (y * y + w).sum().backward()         # two paths reach w; its hook sees the total once
        grads.append(w.grad.numpy().copy())
        handle.remove()
        w.grad = None
        (w * 3).sum().backward()
        grads.append(w.grad.numpy().copy())
    np.testing.assert_allclose(grads[0], grads[2])
    np.testing.assert_allclose(grads[1], grads[3])
    assert len(seen[dg]) == len(seen[torch]) == 2
    np.testing.assert_allclose(seen[dg], seen[torch])
    with pytest.raises(RuntimeError, match="does not require"):
        dg.tensor([1.0]).register_hook(print)


def test_anomaly_detection_names_the_operation():
    class Broken(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * float("nan")
    x = dg.tensor([0.0, 1.0], requires_grad=True)
    with dg.autograd.detect_anomaly():
        with pytest.raises(RuntimeError, match="Broken"):
            (Broken.apply(x) * 3).sum().backward()
    assert not dg.autograd.is_anomaly_enabled()
    x.grad = None
    (Broken.apply(x) * 3).sum().backward()              # without it: NaN gradients, as in torch
    assert np.isnan(x.grad.numpy()).all()


def test_device_and_dtype_names_as_torch():
    assert dg.float is dg.float32 and dg.double is dg.float64 and dg.half is dg.float16
    assert dg.long is dg.int64 and dg.int is dg.int32 and dg.bool is dg.bool_
    for lib in (dg, torch):
        d = lib.device("cuda:1")
        assert (d.type, d.index, str(d)) == ("cuda", 1, "cuda:1")
        assert repr(lib.device("cpu")) == "device(type='cpu')"
        assert lib.device("cuda", 0) == lib.device("cuda:0")
        assert lib.tensor([1.0]).device == lib.device("cpu")
        assert lib.zeros(2, device="cpu", dtype=lib.long).dtype == lib.long
        t = lib.ones(2).to(lib.device("cpu"), lib.float64)
        assert t.dtype == lib.float64 and t.to(lib.zeros(1, dtype=lib.int32)).dtype == lib.int32
        assert lib.cuda.is_available() is False or lib is torch
        assert lib.backends.mps.is_available() is False or lib is torch
    assert dg.accelerator.is_available() is False and dg.accelerator.current_accelerator() is None
    with pytest.raises(ValueError, match="unknown device type"):
        dg.device("gpu")
    for make in (lambda: dg.zeros(2, device="cuda"), lambda: dg.ones(2).to("cuda"), lambda: dg.ones(2).cuda(),
                 lambda: dg.nn.Linear(2, 2).to(dg.device("cuda", 0)), lambda: dg.nn.Linear(2, 2, device="cuda")):
        with pytest.raises(RuntimeError, match="is_available"):
            make()
    model = dg.nn.Linear(2, 2)
    assert model.to(dg.device("cpu")) is model and model.cpu() is model
