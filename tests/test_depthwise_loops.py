"""Depthwise convolution's two implementations agree: the compiled loops (numba, an optional extra)
and the NumPy loops, for values and all gradients, and the switch between them works. The conv
conformance grid checks whichever path is active against PyTorch."""
import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad.ops import depthwise

pytest.importorskip("numba")

# conv function, input shape, groups, output channels, kernel, padding, dilation, dtype
CASES = [
    (F.conv1d, (3, 4, 17), 4, 4, (3,), 1, 1, np.float32),
    (F.conv1d, (2, 3, 11), 3, 6, (4,), "same", 2, np.float64),
    (F.conv2d, (2, 5, 9, 7), 5, 5, (3, 3), 1, 1, np.float32),
    (F.conv2d, (3, 4, 8, 8), 4, 8, (5, 2), (2, 0), (1, 2), np.float64),
    (F.conv2d, (1, 6, 6, 10), 6, 6, (1, 1), 0, 1, np.float32),
    (F.conv2d, (2, 2, 5, 5), 2, 4, (3, 3), "full", 1, np.float64),
    (F.conv3d, (2, 3, 5, 6, 4), 3, 3, (3, 2, 3), 1, 1, np.float64),
]


def _run(case, compiled, monkeypatch):
    fn, shape, groups, cout, kernel, padding, dilation, dtype = case
    if not compiled:
        monkeypatch.setattr(depthwise, "_numba_loops", lambda: None)
    rng = np.random.default_rng(len(shape) + cout)
    x = dg.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)
    w = dg.tensor(rng.standard_normal((cout, shape[1] // groups) + kernel).astype(dtype), requires_grad=True)
    y = fn(x, w, padding=padding, dilation=dilation, groups=groups)
    y.backward(dg.tensor(rng.standard_normal(y.shape).astype(dtype)))
    monkeypatch.undo()
    return y.numpy(), x.grad.numpy(), w.grad.numpy()


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0].__name__}-{c[1]}-k{c[4]}-{np.dtype(c[7]).name}")
def test_compiled_and_numpy_loops_agree(case, monkeypatch):
    assert depthwise._numba_loops() is not None
    tol = 1e-5 if case[-1] == np.float32 else 1e-12
    for got, expected in zip(_run(case, True, monkeypatch), _run(case, False, monkeypatch)):
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


def test_environment_variable_turns_compiled_loops_off(monkeypatch):
    depthwise._numba_loops.cache_clear()
    monkeypatch.setenv("DEEPGRAD_NUMBA", "0")
    try:
        assert depthwise._numba_loops() is None
    finally:
        depthwise._numba_loops.cache_clear()
    monkeypatch.delenv("DEEPGRAD_NUMBA")
    assert depthwise._numba_loops() is not None


def test_compiled_loops_only_where_they_apply():
    from deepgrad.ops.grid import Grid
    unit, strided = Grid((3, 3), (1, 1), (1, 1), (4, 4)), Grid((3, 3), (2, 2), (1, 1), (4, 4))
    assert depthwise._loops_for(unit, np.zeros(1, np.float32)) is not None
    assert depthwise._loops_for(unit, np.zeros(1, np.float64)) is not None
    assert depthwise._loops_for(strided, np.zeros(1, np.float32)) is None
    assert depthwise._loops_for(unit, np.zeros(1, np.float16)) is None
