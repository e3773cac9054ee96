"""The weight gradient's product taken in pieces over positions (``kernels/cpu/gemm.py``) equals the whole
product, and a conv layer with few weights (LeNet-5's first) takes it and matches PyTorch."""
import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad.kernels.cpu import gemm

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("groups,k,m,p", [(1, 25, 6, 1000), (2, 3, 4, 777), (1, 7, 5, 0), (3, 40, 30, 500)])
def test_inner_in_pieces_equals_the_whole_product(groups, k, m, p, monkeypatch):
    rng = np.random.default_rng(p)
    cols, y = rng.standard_normal((groups, k, p)), rng.standard_normal((groups, m, p))
    monkeypatch.setattr(gemm, "SMALL_PRODUCT", 97 * k * m)     # pieces of 97 positions, the last shorter
    got = gemm.inner(cols, y)
    np.testing.assert_allclose(got, cols @ y.swapaxes(-1, -2), rtol=1e-12, atol=1e-12)
    assert got.shape == (groups, k, m)


def test_lenet_first_layer_weight_gradient_in_pieces_matches_torch():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((128, 1, 28, 28)), rng.standard_normal((6, 1, 5, 5))
    g = rng.standard_normal((128, 6, 28, 28))
    assert 6 * 25 <= gemm.FEW_WEIGHTS and 128 * 28 * 28 > gemm.SMALL_PRODUCT // (6 * 25)   # several pieces
    wd = dg.tensor(w, requires_grad=True)
    F.conv2d(dg.tensor(x), wd, padding=2).backward(dg.tensor(g))
    wt = torch.tensor(w, requires_grad=True)
    torch.nn.functional.conv2d(torch.tensor(x), wt, padding=2).backward(torch.tensor(g))
    np.testing.assert_allclose(wd.grad.numpy(), wt.grad.numpy(), rtol=1e-10, atol=1e-9)
