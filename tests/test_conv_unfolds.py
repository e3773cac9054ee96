"""How often the GEMM convolutions lay out their operands: ConvTranspose's VJP unfolds the cotangent
once for both gradients, Conv's VJP makes one batch-last copy of it, and nothing is reused outside
that scope (an array changed in place between two calls is unfolded afresh)."""
import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad.kernels import sharing
from deepgrad.kernels.cpu import batch_last, direct
from deepgrad.kernels.cpu import convolution as cpu_conv
from deepgrad.ops import conv


@pytest.fixture(autouse=True)
def gemm_only(monkeypatch):
    """These tests are about the im2col + GEMM layouts: the direct kernels (``direct.py``) stay out."""
    monkeypatch.setattr(direct, "suits", lambda x: False)


@pytest.fixture
def unfolds(monkeypatch):
    count = []
    for layout in (cpu_conv._ChannelMajor, batch_last.BatchLast):
        real = layout.unfold

        def counting(self, x, lo, groups, real=real):
            count.append(x.shape)
            return real(self, x, lo, groups)
        monkeypatch.setattr(layout, "unfold", counting)
    return count


@pytest.mark.parametrize("stride", [1, 2])
def test_conv_transpose_backward_unfolds_the_cotangent_once(stride, unfolds):
    rng = np.random.default_rng(0)
    y = dg.tensor(rng.standard_normal((4, 3, 5, 5)), requires_grad=True)
    w = dg.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    out = F.conv_transpose2d(y, w, stride=stride, padding=1)
    assert unfolds == []                       # the forward pass folds, it does not unfold
    g = dg.tensor(rng.standard_normal(out.shape))
    out.backward(g)
    assert unfolds == [out.shape]
    # the shared windows give what the two gradients give computed apart
    np.testing.assert_allclose(y.grad.numpy(), F.conv2d(g, w, stride=stride, padding=1).numpy(), rtol=1e-12)
    dw = conv.conv_weight(g, y, (stride, stride), (1, 1), (1, 1), 1, (3, 3))
    np.testing.assert_allclose(w.grad.numpy(), dw.numpy(), rtol=1e-12)
    assert len(unfolds) == 3


def test_nothing_is_reused_outside_the_vjp(unfolds):
    x = dg.tensor(np.ones((2, 1, 4, 4)))
    w = dg.tensor(np.ones((1, 1, 3, 3)))
    first = F.conv2d(x, w).numpy().copy()
    x.array[...] = 2.0                              # the same array, changed in place
    np.testing.assert_array_equal(F.conv2d(x, w).numpy(), 2 * first)
    assert len(unfolds) == 2


def test_conv_backward_moves_the_cotangent_to_batch_last_once(monkeypatch):
    moved = []
    real = batch_last._moved
    monkeypatch.setattr(batch_last, "_moved", lambda a: (moved.append(a.shape), real(a))[1])
    rng = np.random.default_rng(1)
    x = dg.tensor(rng.standard_normal((128, 6, 14, 14)), requires_grad=True)     # LeNet-5's C3: batch-last
    w = dg.tensor(rng.standard_normal((16, 6, 5, 5)), requires_grad=True)
    y = F.conv2d(x, w)
    assert moved == [x.shape]
    y.backward(dg.tensor(rng.standard_normal(y.shape)))
    assert moved[1:].count(y.shape) == 1 and moved[1:].count(x.shape) == 1    # g once; x again for dw


@pytest.mark.skipif(direct._kernels() is None, reason="the C extension _direct is not built")
def test_conv_backward_moves_the_cotangent_to_the_direct_kernels_lanes_once(monkeypatch):
    moved = []
    real = direct._move
    monkeypatch.setattr(direct, "suits", lambda x: True)      # (the fixture above keeps them out)
    monkeypatch.setattr(direct, "_move", lambda a, *rest: (moved.append((a.shape, rest[-1])), real(a, *rest))[1])
    rng = np.random.default_rng(1)
    x = dg.tensor(rng.standard_normal((16, 6, 14, 14)), requires_grad=True)
    w = dg.tensor(rng.standard_normal((16, 6, 5, 5)), requires_grad=True)
    y = F.conv2d(x, w)
    g = rng.standard_normal(y.shape)
    y.backward(dg.tensor(g))
    into = [shape for shape, into_lanes in moved if into_lanes]
    assert into.count(y.shape) == 1 and into.count(x.shape) == 2     # g once; x in the forward and for dw
    dw = conv.conv_weight(x, dg.tensor(g), (1, 1), (0, 0), (1, 1), 1, (5, 5))     # computed apart
    np.testing.assert_allclose(w.grad.numpy(), dw.numpy(), rtol=1e-12)


def test_a_sharing_scope_belongs_to_the_thread_that_opened_it():
    import threading

    seen = []
    with sharing.scope():
        other = threading.Thread(target=lambda: seen.append(getattr(sharing._scope, "shared", None)))
        other.start()
        other.join()
        assert sharing._scope.shared == {}
    assert seen == [None]
    assert sharing._scope.shared is None
