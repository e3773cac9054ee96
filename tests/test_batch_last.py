"""The batch-last layout (``kernels/cpu/batch_last.py``) that unit-stride GEMM convolutions take where the flat
grid would waste most positions: where it is chosen, and that it computes what the channel-major
layout and PyTorch compute (values, VJPs, JVPs, second derivatives)."""
import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad.kernels.cpu import batch_last, direct
from deepgrad.kernels.cpu.grid import Grid

pytestmark = [pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(autouse=True)
def gemm_only(monkeypatch):
    """These tests are about the im2col + GEMM layouts: the direct kernels (``direct.py``) stay out."""
    monkeypatch.setattr(direct, "suits", lambda x: False)


def test_chosen_where_the_flat_grid_wastes_most_positions():
    lenet_c3 = Grid((5, 5), (1, 1), (1, 1), (10, 10))          # 196 plane positions for 100 outputs
    assert batch_last.suits(lenet_c3, 128)
    assert not batch_last.suits(lenet_c3, 1)                    # runs of 10 values: too short
    assert not batch_last.suits(Grid((3, 3), (1, 1), (1, 1), (32, 32)), 128)     # 34² / 32²: little waste
    assert not batch_last.suits(Grid((3, 3), (2, 2), (1, 1), (16, 16)), 128)     # strided: not a flat grid


def _lenet_c3_step(dtype):
    rng = np.random.default_rng(5)
    x = dg.tensor(rng.standard_normal((128, 6, 14, 14)).astype(dtype), requires_grad=True)
    w = dg.tensor(rng.standard_normal((16, 6, 5, 5)).astype(dtype), requires_grad=True)
    y = F.conv2d(x, w, groups=1)
    y.backward(dg.tensor(rng.standard_normal(y.shape).astype(dtype)))
    return y.numpy(), x.grad.numpy(), w.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lenet_c3_takes_the_batch_last_layout_and_agrees_with_the_channel_major_one(dtype, monkeypatch):
    used = []
    monkeypatch.setattr(batch_last.BatchLast, "__init__",
                        lambda self, grid: (used.append(grid.size), setattr(self, "grid", grid))[0])
    fast = _lenet_c3_step(dtype)
    assert used, "LeNet-5's C3 at batch 128 should take the batch-last layout"
    monkeypatch.setattr(batch_last, "suits", lambda grid, batch: False)
    tol = 1e-4 if dtype == np.float32 else 1e-11
    for got, expected in zip(fast, _lenet_c3_step(dtype)):
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * np.abs(expected).max())


def test_three_spatial_axes_agree_across_layouts(monkeypatch):
    rng = np.random.default_rng(3)
    x0, w0 = rng.standard_normal((3, 4, 6, 5, 7)), rng.standard_normal((2, 4, 3, 2, 4))
    results = []
    for suits in (lambda grid, batch: grid.flat, lambda grid, batch: False):
        monkeypatch.setattr(batch_last, "suits", suits)
        x, w = dg.tensor(x0, requires_grad=True), dg.tensor(w0, requires_grad=True)
        y = F.conv3d(x, w, padding=(1, 0, 2))
        y.backward(dg.tensor(np.cos(np.arange(y.numel())).reshape(y.shape)))
        results.append((y.numpy(), x.grad.numpy(), w.grad.numpy()))
    for got, expected in zip(*results):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
