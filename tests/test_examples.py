"""The example scripts in examples/ run, and what they claim holds.

* backprop_by_hand: the chapter's δ-recursion (eqs. 2.7, 2.10, 2.11) equals loss.backward() to 1e-10 in
  float64 for every δ(l), W(l) and b(l), and equals an independent oracle (PyTorch) too;
* universal_approximation: one hidden layer of sigmoids (eq. 1.5) gets max |F − f| below ε (eq. 1.6);
* train_mlp_demo: the loss falls by a large factor and the accuracy is high; the script exits 0.
"""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import deepgrad as dg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def _load(name):
    spec = importlib.util.spec_from_file_location(f"deepgrad_example_{name}", os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bp():
    return _load("backprop_by_hand")


@pytest.fixture(scope="module")
def ua():
    return _load("universal_approximation")


@pytest.fixture(scope="module")
def demo():
    return _load("train_mlp_demo")


# ------------------------------------------------------------------ backprop_by_hand
@pytest.mark.parametrize("loss", ["cross_entropy", "squared"])
@pytest.mark.parametrize("sizes, hidden", [
    ((4, 5, 3, 2), ("sigmoid", "tanh")),
    ((3, 6, 4, 5, 3), ("tanh", "sigmoid", "tanh")),
    ((2, 7, 4), ("identity",)),
])
def test_manual_deltas_equal_autodiff(bp, sizes, hidden, loss):
    params = bp.init_params(sizes, seed=3)
    x, y = bp.make_sample(sizes, seed=4)
    manual = bp.manual_gradients(params, x, y, hidden, loss)
    auto = bp.autodiff_gradients(params, x, y, hidden, loss)
    L = len(sizes) - 1
    assert manual["loss"] == pytest.approx(auto["loss"], abs=1e-12)
    for key in ("deltas", "dW", "db"):
        assert len(manual[key]) == len(auto[key]) == L
    for l in range(1, L + 1):
        dW_m, dW_a = manual["dW"][l - 1], auto["dW"][l - 1]
        db_m, db_a = manual["db"][l - 1], auto["db"][l - 1]
        assert dW_m.dtype == dW_a.dtype == np.float64
        assert dW_m.shape == dW_a.shape == (sizes[l], sizes[l - 1])          # W(l) is M_l × M_{l-1}
        assert db_m.shape == db_a.shape == (sizes[l], 1)
        np.testing.assert_allclose(dW_m, dW_a, rtol=0, atol=1e-10, err_msg=f"dL/dW({l})")
        np.testing.assert_allclose(db_m, db_a, rtol=0, atol=1e-10, err_msg=f"dL/db({l})")
        # δ(l) is ∂L/∂z(l) (eq. 2.4): autodiff's gradient of the retained z(l)
        np.testing.assert_allclose(manual["deltas"][l - 1], auto["deltas"][l - 1], rtol=0, atol=1e-10)
        # eqs. 2.10 / 2.11 themselves: ∂L/∂W(l) = δ(l) a(l-1)ᵀ, ∂L/∂b(l) = δ(l)
        np.testing.assert_array_equal(db_m, manual["deltas"][l - 1])
        assert np.abs(dW_m).max() > 1e-6                                        # not trivially zero
    assert bp.max_difference(manual, auto) < 1e-10


def test_manual_gradients_match_torch(bp):
    torch = pytest.importorskip("torch")
    sizes, hidden = (4, 5, 3, 2), ("sigmoid", "tanh")
    for loss in ("cross_entropy", "squared"):
        params = bp.init_params(sizes, seed=7)
        x, y = bp.make_sample(sizes, seed=8)
        manual = bp.manual_gradients(params, x, y, hidden, loss)
        tp = [(torch.tensor(W.numpy(), requires_grad=True), torch.tensor(b.numpy(), requires_grad=True))
              for W, b in params]
        a = torch.tensor(x.numpy())
        fs = [torch.sigmoid, torch.tanh]
        for l, (W, b) in enumerate(tp):
            z = W @ a + b
            a = fs[l](z) if l < len(tp) - 1 else (torch.softmax(z, 0) if loss == "cross_entropy" else torch.sigmoid(z))
        ty = torch.tensor(y.numpy())
        value = -(ty * torch.log_softmax(z, 0)).sum() if loss == "cross_entropy" else 0.5 * ((ty - a) ** 2).sum()
        value.backward()
        assert manual["loss"] == pytest.approx(value.item(), abs=1e-12)
        for l, (W, b) in enumerate(tp):
            np.testing.assert_allclose(manual["dW"][l], W.grad.numpy(), rtol=0, atol=1e-12)
            np.testing.assert_allclose(manual["db"][l], b.grad.numpy(), rtol=0, atol=1e-12)


def test_backprop_main_prints_deltas(bp, capsys):
    worst = bp.main()
    out = capsys.readouterr().out
    assert worst < 1e-10
    for l in (1, 2, 3):
        assert f"δ({l}) =" in out
    assert "max difference" in out.splitlines()[-1]


# ------------------------------------------------------------------ universal_approximation
def test_universal_approximation_below_epsilon(ua):
    worst = ua.main(verbose=False)          # main asserts per problem; check the returned figure too
    assert 0 < worst < ua.EPSILON == 0.05


def test_universal_approximation_is_eq_1_5(ua):
    """F is one hidden layer of sigmoids and a linear read-out, nothing else (no output bias)."""
    dg.manual_seed(0)
    w, b, v = ua.init_params(7, 2, dtype=dg.float64)
    x = np.random.default_rng(0).random((5, 2))
    with dg.no_grad():
        out = ua.F((w, b, v), dg.tensor(x, dtype=dg.float64)).numpy()
    expected = [sum(v.numpy()[m] / (1 + np.exp(-(w.numpy()[m] @ xn + b.numpy()[m]))) for m in range(7))
                for xn in x]
    np.testing.assert_allclose(out, expected, rtol=1e-12)


# ------------------------------------------------------------------ train_mlp_demo
def test_demo_loss_falls_and_accuracy_high(demo):
    r = demo.main(verbose=False)
    assert r["losses"][-1] < r["initial_loss"] / 10
    assert r["losses"][-1] < r["losses"][0] / 5
    assert r["train_accuracy"] > 0.97 and r["test_accuracy"] > 0.97
    again = demo.main(verbose=False)                                  # deterministic
    assert again["losses"] == r["losses"]


def test_demo_script_exits_zero():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, "train_mlp_demo.py")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-1].startswith("done: loss") and "test accuracy" in lines[-1]
    assert sum(line.startswith("epoch") for line in lines) >= 5
