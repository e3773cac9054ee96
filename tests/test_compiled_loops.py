"""The compiled loops (numba, the optional extra deepgrad[fast]) and the NumPy code they stand in for
agree, for values and all gradients, and the switch between them works. The conv conformance grid
checks whichever path is active against PyTorch; here each case runs both ways."""
import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad.kernels.cpu import compiled
from deepgrad.kernels.cpu.grid import Grid

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
    (F.conv_transpose2d, (2, 3, 4, 5), (3, 2, 2, 2), dict(stride=2), np.float64),     # windows tile the output
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


def test_environment_variable_turns_compiled_loops_off(monkeypatch):
    compiled.loops.cache_clear()
    monkeypatch.setenv("DEEPGRAD_NUMBA", "0")
    try:
        assert compiled.loops() is None
    finally:
        compiled.loops.cache_clear()
    monkeypatch.delenv("DEEPGRAD_NUMBA")
    assert compiled.loops() is not None


def test_numba_failing_to_load_falls_back_to_numpy_with_a_warning(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def failing(name, globals=None, locals=None, fromlist=(), level=0):
        if fromlist and "numba_loops" in fromlist:
            raise RuntimeError("cannot cache function 'taps': no locator available")
        return real_import(name, globals, locals, fromlist, level)
    compiled.loops.cache_clear()
    monkeypatch.setattr(builtins, "__import__", failing)
    try:
        with pytest.warns(RuntimeWarning, match="compiled loops unavailable, using NumPy code"):
            assert compiled.loops() is None
    finally:
        monkeypatch.undo()
        compiled.loops.cache_clear()
    assert compiled.loops() is not None


def test_compiled_loops_only_where_they_apply():
    from deepgrad.kernels.cpu import depthwise
    f32, f64, f16 = (np.zeros(1, t) for t in (np.float32, np.float64, np.float16))
    assert compiled.loops_for(f32) is not None and compiled.loops_for(f64) is not None
    assert compiled.loops_for(f16) is None and compiled.loops_for(np.zeros(1, np.int64)) is None
    unit, strided = Grid((3, 3), (1, 1), (1, 1), (4, 4)), Grid((3, 3), (2, 2), (1, 1), (4, 4))
    assert depthwise._loops_for(unit, f32) is not None and depthwise._loops_for(strided, f32) is None
    assert strided.compiled_loops(f32) is not None and unit.compiled_loops(f32) is None
    assert Grid((2, 2, 2), (2, 2, 2), (1, 1, 1), (3, 3, 3)).compiled_loops(f32) is None   # strided 3-D
    sizes, steps = Grid((3,), (2,), (3,), (5,)).planar()
    assert sizes == ((1, 3), (1, 5), (1, 15)) and steps == (1, 2, 1, 3)


def test_lenet_training_does_not_load_numba():
    """numba with LLVM adds ~140 MB to a process: layers that gain little from it (unit-stride dense
    convolutions, pooling) must not load it, so LeNet-5 keeps its small memory footprint."""
    import subprocess
    import sys
    code = ("import sys, deepgrad as dg, deepgrad.nn.functional as F\n"
            "from deepgrad import models\n"
            "m = models.lenet5()\n"
            "x = dg.randn(4, 1, 28, 28)\n"
            "F.cross_entropy(m(x), dg.tensor([0, 1, 2, 3])).backward()\n"
            "print('numba' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
