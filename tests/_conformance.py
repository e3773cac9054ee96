"""Shared machinery of the randomized conformance grids against PyTorch (conv and pooling).

Each configuration is checked for its forward output, the VJP of every input for a random
cotangent (``dg.vjp`` vs ``torch.func.vjp``) and the JVP for random tangents (``dg.jvp`` vs
``torch.func.jvp``), in float64 (rtol 1e-10) and float32 (rtol 1e-5), with
atol = rtol * max(1, max |reference|). The first ``FAST_SHARE`` of every family runs by default;
the rest are marked ``slow``.
"""
import numpy as np
import pytest

import deepgrad as dg

torch = pytest.importorskip("torch")

RTOL = {np.float64: 1e-10, np.float32: 1e-5}
FAST_SHARE = 0.12         # share of each family that is not marked slow (`-m "not slow"`)


def assert_close(actual, expected, dtype, what):
    actual = actual.numpy() if isinstance(actual, dg.Tensor) else np.asarray(actual)
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != torch {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != torch {expected.dtype}"
    rtol = RTOL[dtype]
    atol = rtol * max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def check_against_torch(dg_fn, torch_fn, arrays, dtype, rng, check_vjp=True):
    """Forward, VJP (all inputs, random cotangent; skipped with ``check_vjp=False``) and JVP (random
    tangents for all inputs) of functions of the tensors made from ``arrays``."""
    dg_in = [dg.tensor(a) for a in arrays]
    t_in = [torch.from_numpy(a.copy()) for a in arrays]

    ref = torch_fn(*t_in)
    out = dg_fn(*dg_in)
    assert_close(out, ref, dtype, "forward")

    if check_vjp:
        cot = rng.standard_normal(ref.shape).astype(dtype)
        _, t_vjp = torch.func.vjp(torch_fn, *t_in)
        _, d_vjp = dg.vjp(dg_fn, *dg_in)
        t_grads = t_vjp(torch.from_numpy(cot.copy()))
        d_grads = d_vjp(dg.tensor(cot))
        assert len(d_grads) == len(t_grads) == len(arrays)
        for i, (g, r) in enumerate(zip(d_grads, t_grads)):
            assert_close(g, r, dtype, f"vjp wrt input {i}")

    tangents = [rng.standard_normal(a.shape).astype(dtype) for a in arrays]
    _, t_tan = torch.func.jvp(torch_fn, tuple(t_in), tuple(torch.from_numpy(t.copy()) for t in tangents))
    _, d_tan = dg.jvp(dg_fn, tuple(dg_in), tuple(dg.tensor(t) for t in tangents))
    assert_close(d_tan, t_tan, dtype, "jvp")


def n_fast(configs):
    return max(1, int(round(len(configs) * FAST_SHARE)))


def as_params(configs, ident):
    return [pytest.param(c, id=ident(c), marks=() if i < n_fast(configs) else pytest.mark.slow)
            for i, c in enumerate(configs)]


def fmt(t):
    return "x".join(map(str, t)) if isinstance(t, (tuple, list)) else str(t)
