"""The direct convolution kernels (``kernels/cpu/direct.py``, the C extension ``_direct``) that convolutions
take where it is built: where they are chosen, that they compute what the im2col + GEMM
path computes (1 to 3 spatial axes, strides, dilation, groups, cropping), the moves to and from the
batch-last layout, and that results do not depend on the number of threads. (The conformance grids
against PyTorch, and second derivatives, run on them in ``test_conv_conformance.py``.)"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import threads
from deepgrad.kernels.cpu import direct

pytestmark = [pytest.mark.skipif(direct._kernels() is None, reason="the C extension _direct is not built"),
              pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def test_chosen_for_float_batches_that_fill_the_lanes():
    x32, x64 = np.zeros((128, 6, 14, 14), np.float32), np.zeros((6, 6, 14, 14))
    assert direct.suits(x32)
    assert direct.suits(x32[:12]) and not direct.suits(x32[:11])    # 12 of 16 float lanes
    assert direct.suits(x64) and not direct.suits(x64[:5])          # 6 of 8 double lanes
    assert not direct.suits(x32.astype(np.float16))
    assert direct.lanes(17, np.float32) == 32 and direct.lanes(8, np.float64) == 8


def _step(conv, x0, w0, **kwargs):
    x, w = dg.tensor(x0, requires_grad=True), dg.tensor(w0, requires_grad=True)
    y = conv(x, w, **kwargs)
    y.backward(dg.tensor(np.cos(np.arange(y.numel())).reshape(y.shape).astype(x0.dtype)))
    return y.numpy(), x.grad.numpy(), w.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("conv,xs,ws,kwargs", [
    (F.conv2d, (128, 6, 14, 14), (16, 6, 5, 5), {}),                                      # LeNet-5's C3
    (F.conv2d, (32, 8, 9, 9), (12, 4, 3, 2), {"padding": (1, 2), "dilation": (2, 1), "groups": 2}),
    (F.conv1d, (24, 5, 30), (7, 5, 4), {"padding": "same"}),
    (F.conv3d, (16, 3, 5, 6, 4), (5, 3, 2, 3, 2), {"padding": (1, 0, 2)}),
    (F.conv_transpose2d, (24, 6, 7, 7), (6, 4, 3, 3), {"padding": 1}),
    (F.conv2d, (16, 2, 5, 5), (3, 2, 2, 2), {"padding": 3}),      # padding wider than the kernel's reach
    (F.conv2d, (32, 16, 16, 16), (32, 16, 3, 3), {"stride": 2, "padding": 1}),           # ResNet's downsampling
    (F.conv_transpose2d, (32, 8, 8, 8), (8, 4, 4, 4), {"stride": 2, "padding": 1}),     # upsampling 8 -> 16
    (F.conv_transpose1d, (16, 3, 9), (3, 5, 3), {"stride": 3, "output_padding": 2, "dilation": 2}),
])
def test_agrees_with_the_gemm_path(conv, xs, ws, kwargs, dtype, monkeypatch):
    rng = np.random.default_rng(7)
    x0, w0 = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
    taken = []
    monkeypatch.setattr(direct, "_correlate", lambda *a, real=direct._correlate: taken.append(1) or real(*a))
    fast = _step(conv, x0, w0, **kwargs)
    assert taken, "the direct kernels should take this convolution"
    monkeypatch.setattr(direct, "suits", lambda x: False)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for got, expected in zip(fast, _step(conv, x0, w0, **kwargs)):
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * np.abs(expected).max())


def test_results_do_not_depend_on_the_number_of_threads(monkeypatch):
    monkeypatch.setattr(threads, "usable_threads", threads.get_num_threads)   # all n threads, however busy
    rng = np.random.default_rng(2)
    x0 = rng.standard_normal((64, 16, 16, 16)).astype(np.float32)
    w0 = rng.standard_normal((24, 16, 3, 3)).astype(np.float32)
    before = threads.get_num_threads()
    try:
        results = []
        for n in (1, 3):
            threads.set_num_threads(n)
            results.append(_step(F.conv2d, x0, w0, padding=1))
    finally:
        threads.set_num_threads(before)
    for one, many in zip(*results):
        np.testing.assert_array_equal(one, many)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_moves_to_and_from_the_lanes_layout(data):
    """to_lanes puts x[n, c, s] at [c, s + lo, n] with zeros elsewhere (cropping what falls outside),
    from any memory order; from_lanes takes the first lanes back."""
    dims = data.draw(st.integers(1, 3))
    shape = tuple(data.draw(st.lists(st.integers(1, 5), min_size=dims + 2, max_size=dims + 2)))
    lo = tuple(data.draw(st.integers(-2, 3)) for _ in range(dims))
    extent = tuple(data.draw(st.integers(1, 8)) for _ in range(dims))
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    x = np.arange(np.prod(shape), dtype=dtype).reshape(shape) + 1
    order = data.draw(st.permutations(range(len(shape))))
    x = np.ascontiguousarray(x.transpose(order)).transpose(np.argsort(order))      # same values, other strides
    if data.draw(st.booleans()):
        x = x[..., ::-1]
    lanes = direct.lanes(shape[0], dtype)
    expected = np.zeros((shape[1],) + extent + (lanes,), dtype)
    for index in np.ndindex(*shape):
        at = tuple(i + l for i, l in zip(index[2:], lo))
        if all(0 <= a < e for a, e in zip(at, extent)):
            expected[(index[1],) + at + (index[0],)] = x[index]
    moved = direct.to_lanes(x, lo, extent, lanes)
    np.testing.assert_array_equal(moved, expected)
    np.testing.assert_array_equal(direct.from_lanes(moved, shape[0]), np.moveaxis(expected, -1, 0)[:shape[0]])


def test_switched_off_by_the_environment(monkeypatch):
    monkeypatch.setenv("DEEPGRAD_DIRECT", "0")
    direct._kernels.cache_clear()
    try:
        assert direct._kernels() is None
        assert not direct.suits(np.zeros((128, 6, 14, 14), np.float32))
    finally:
        monkeypatch.delenv("DEEPGRAD_DIRECT")
        direct._kernels.cache_clear()
    assert direct._kernels() is not None
