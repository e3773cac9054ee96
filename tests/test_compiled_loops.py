"""The compiled loops (numba, the optional extra deepgrad[fast]) and the NumPy code they stand in for
agree, for values and all gradients, and the switch between them works. The conv conformance grid
checks whichever path is active against PyTorch; here each case runs both ways."""
import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad.ops import compiled
from deepgrad.ops.grid import Grid

pytest.importorskip("numba")

# function, input shape, weight shape, keyword arguments, dtype
CASES = [
    # depthwise, unit stride
    (F.conv1d, (3, 4, 17), (4, 1, 3), dict(padding=1, groups=4), np.float32),
    (F.conv1d, (2, 3, 11), (6, 1, 4), dict(padding="same", dilation=2, groups=3), np.float64),
    (F.conv2d, (2, 5, 9, 7), (5, 1, 3, 3), dict(padding=1, groups=5), np.float32),
    (F.conv2d, (3, 4, 8, 8), (8, 1, 5, 2), dict(padding=(2, 0), dilation=(1, 2), groups=4), np.float64),
    (F.conv2d, (1, 6, 6, 10), (6, 1, 1, 1), dict(groups=6), np.float32),
    (F.conv2d, (2, 2, 5, 5), (4, 1, 3, 3), dict(padding="full", groups=2), np.float64),
    (F.conv3d, (2, 3, 5, 6, 4), (3, 1, 3, 2, 3), dict(padding=1, groups=3), np.float64),
    # strided windows (im2col and its fold)
    (F.conv1d, (2, 3, 20), (4, 3, 3), dict(stride=3, padding=2), np.float32),
    (F.conv2d, (2, 3, 11, 9), (4, 3, 3, 2), dict(stride=(2, 3), padding=1, dilation=(2, 1)), np.float64),
    (F.conv2d, (3, 4, 10, 10), (6, 2, 3, 3), dict(stride=(2, 1), groups=2), np.float32),
    (F.conv2d, (2, 4, 9, 9), (4, 1, 3, 3), dict(stride=2, padding=1, groups=4), np.float64),
    (F.conv3d, (1, 2, 7, 6, 5), (3, 2, 2, 3, 2), dict(stride=2), np.float64),
    (F.conv_transpose1d, (2, 3, 7), (3, 2, 4), dict(stride=2, padding=1, output_padding=1), np.float32),
    (F.conv_transpose2d, (2, 4, 6, 5), (4, 3, 4, 4), dict(stride=2, padding=1), np.float32),
    (F.conv_transpose2d, (1, 2, 4, 4), (2, 2, 3, 3), dict(stride=(3, 2), dilation=2, output_padding=(1, 0)),
     np.float64),
]


def _run(case, use_compiled, monkeypatch):
    fn, x_shape, w_shape, kwargs, dtype = case
    if not use_compiled:
        monkeypatch.setattr(compiled, "loops", lambda: None)
    rng = np.random.default_rng(len(x_shape) + w_shape[0])
    x = dg.tensor(rng.standard_normal(x_shape).astype(dtype), requires_grad=True)
    w = dg.tensor(rng.standard_normal(w_shape).astype(dtype), requires_grad=True)
    y = fn(x, w, **kwargs)
    y.backward(dg.tensor(rng.standard_normal(y.shape).astype(dtype)))
    monkeypatch.undo()
    return y.numpy(), x.grad.numpy(), w.grad.numpy()


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0].__name__}-{c[1]}-{c[3]}-{np.dtype(c[4]).name}")
def test_compiled_and_numpy_code_agree(case, monkeypatch):
    assert compiled.loops() is not None
    tol = 1e-5 if case[-1] == np.float32 else 1e-12
    for got, expected in zip(_run(case, True, monkeypatch), _run(case, False, monkeypatch)):
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


POOLS = [
    (F.max_pool1d, (2, 3, 13), dict(kernel_size=3, stride=2, padding=1)),
    (F.max_pool2d, (2, 3, 8, 8), dict(kernel_size=2)),
    (F.max_pool2d, (2, 2, 9, 7), dict(kernel_size=(3, 2), stride=(2, 1), padding=1, dilation=(1, 2), ceil_mode=True)),
    (F.max_pool2d, (1, 2, 7, 7), dict(kernel_size=3, stride=1, padding=1)),     # overlapping windows
]


@pytest.mark.parametrize("ties_and_nans", [False, True], ids=["random", "ties-and-nans"])
@pytest.mark.parametrize("case", POOLS, ids=lambda c: f"{c[0].__name__}-{c[1]}-{c[2]}")
def test_max_pool_offsets_and_routing_agree(case, ties_and_nans, monkeypatch):
    """Max pooling's backward (window offsets of the maxima, routing the gradient back to them):
    ties pick the first maximum, a NaN window the last NaN, as PyTorch."""
    fn, shape, kwargs = case
    rng = np.random.default_rng(sum(shape))
    x0 = rng.standard_normal(shape)
    if ties_and_nans:
        x0 = np.round(x0)                       # many equal maxima in a window
        x0.flat[rng.choice(x0.size, 4, replace=False)] = np.nan
    results, g = [], None
    for use_compiled in (True, False):
        if not use_compiled:
            monkeypatch.setattr(compiled, "loops", lambda: None)
        x = dg.tensor(x0, requires_grad=True)
        y = fn(x, **kwargs)
        g = rng.standard_normal(y.shape) if g is None else g
        y.backward(dg.tensor(g))
        results.append((y.numpy(), x.grad.numpy()))
        monkeypatch.undo()
    (y_compiled, dx_compiled), (y_numpy, dx_numpy) = results
    np.testing.assert_array_equal(y_compiled, y_numpy)
    np.testing.assert_allclose(dx_compiled, dx_numpy, rtol=1e-12, atol=1e-12)   # overlaps add in another order


def test_environment_variable_turns_compiled_loops_off(monkeypatch):
    compiled.loops.cache_clear()
    monkeypatch.setenv("DEEPGRAD_NUMBA", "0")
    try:
        assert compiled.loops() is None
    finally:
        compiled.loops.cache_clear()
    monkeypatch.delenv("DEEPGRAD_NUMBA")
    assert compiled.loops() is not None


def test_compiled_loops_only_where_they_apply():
    from deepgrad.ops import depthwise
    f32, f64, f16 = (np.zeros(1, t) for t in (np.float32, np.float64, np.float16))
    assert compiled.loops_for(f32) is not None and compiled.loops_for(f64) is not None
    assert compiled.loops_for(f16) is None and compiled.loops_for(np.zeros(1, np.int64)) is None
    unit, strided = Grid((3, 3), (1, 1), (1, 1), (4, 4)), Grid((3, 3), (2, 2), (1, 1), (4, 4))
    assert depthwise._loops_for(unit, f32) is not None and depthwise._loops_for(strided, f32) is None
    assert strided.compiled_loops(f32) is not None and unit.compiled_loops(f32) is None
    assert Grid((2, 2, 2), (2, 2, 2), (1, 1, 1), (3, 3, 3)).compiled_loops(f32) is None   # strided 3-D
    sizes, steps = Grid((3,), (2,), (3,), (5,)).planar()
    assert sizes == ((1, 3), (1, 5), (1, 15)) and steps == (1, 2, 1, 3)
