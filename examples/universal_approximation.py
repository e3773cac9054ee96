"""The universal approximation theorem (the chapter's eqs. 1.5-1.6), seen at work.

The theorem says that for a continuous f on the unit cube [0,1]^D and any ε > 0 there are M and
v_m, b_m ∈ R, w_m ∈ R^D such that

    F(x) = Σ_{m=1}^{M} v_m σ(w_mᵀ x + b_m)                        (eq. 1.5)

satisfies |F(x) − f(x)| < ε for every x in [0,1]^D                  (eq. 1.6).

The theorem only says such parameters exist.  Here deepgrad finds them: F is ONE hidden layer of M
logistic sigmoids and a linear read-out with no output bias (exactly eq. 1.5), fitted by least
squares on a training grid (200 points in 1-D, 30 × 30 in 2-D) with full-batch Adam (written
inline below).  We then measure max |F − f| on a much denser grid (2001 points, 201 × 201), whose
points are mostly not training points, and check it is below the stated ε.

* 1-D: f(x) = sin(2πx) + 0.5 cos(5πx) on [0,1], M = 30 hidden units, ε = 0.05;
* 2-D: f(x1, x2) = sin(πx1) cos(πx2) + 0.5 x1 x2 on [0,1]^2, M = 30 hidden units, ε = 0.05.

Deterministic (dg.manual_seed).  If matplotlib is installed, ``main(plot=True)`` (the default when
run as a script) saves ``universal_approximation.png`` in the current directory (or pass a path);
without matplotlib the plot is skipped silently.

    python examples/universal_approximation.py
"""
import math
import os
import time

import numpy as np

import deepgrad as dg

EPSILON = 0.05


def f_1d(x):
    """The 1-D target on [0,1]: two incommensurate oscillations."""
    return np.sin(2 * np.pi * x[:, 0]) + 0.5 * np.cos(5 * np.pi * x[:, 0])


def f_2d(x):
    """The 2-D target on [0,1]^2."""
    return np.sin(np.pi * x[:, 0]) * np.cos(np.pi * x[:, 1]) + 0.5 * x[:, 0] * x[:, 1]


def grid(n, dim):
    """n points per axis on [0,1]^dim, as an (n**dim) × dim array (one point per row)."""
    axes = np.meshgrid(*([np.linspace(0.0, 1.0, n)] * dim), indexing="ij")
    return np.stack([a.ravel() for a in axes], axis=1)


def init_params(M, dim, slope=10.0, dtype=dg.float64):
    """Sigmoid units with steps spread over the cube: w_m random of size ~ ``slope``, centre c_m
    uniform in [0,1]^dim, b_m = −w_mᵀ c_m, so unit m switches on across the hyperplane through c_m.
    The read-out v starts small."""
    w = dg.randn(M, dim, dtype=dtype) * (slope / math.sqrt(dim))
    c = dg.rand(M, dim, dtype=dtype)
    b = -(w * c).sum(dim=1)
    v = dg.randn(M, dtype=dtype) * 0.1
    return [t.detach().requires_grad_() for t in (w, b, v)]


def F(params, x):
    """Eq. 1.5 for a batch of points x (N × D): F(x)_n = Σ_m v_m σ(w_mᵀ x_n + b_m)."""
    w, b, v = params
    hidden = dg.sigmoid(x @ w.T + b)          # N × M: σ(w_mᵀ x_n + b_m)
    return hidden @ v                          # N: Σ_m v_m σ(...)


def fit(f, dim, M, steps, lr=0.1, slope=10.0, n_train=None, seed=0, dtype=dg.float64):
    """Least-squares fit of eq. 1.5 to f on a training grid by full-batch Adam.

    Adam, written out: m ← β1 m + (1−β1) g, s ← β2 s + (1−β2) g², θ ← θ − lr·m̂/(√ŝ + 1e-8) with
    bias corrections m̂ = m/(1−β1^t), ŝ = s/(1−β2^t); the step size decays with a cosine schedule
    so that the last steps polish the fit.  Returns the fitted parameters and the loss history.
    """
    dg.manual_seed(seed)
    n_train = n_train or (200 if dim == 1 else 30)
    x_np = grid(n_train, dim)
    x = dg.tensor(x_np, dtype=dtype)
    y = dg.tensor(f(x_np), dtype=dtype)
    params = init_params(M, dim, slope=slope, dtype=dtype)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    m = [np.zeros_like(p.array) for p in params]
    s = [np.zeros_like(p.array) for p in params]
    history = []
    for t in range(1, steps + 1):
        loss = ((F(params, x) - y) ** 2).mean()
        loss.backward()
        lr_t = lr * 0.5 * (1 + math.cos(math.pi * (t - 1) / steps))
        with dg.no_grad():
            for p, m_i, s_i in zip(params, m, s):
                g = p.grad.array
                m_i *= beta1
                m_i += (1 - beta1) * g
                s_i *= beta2
                s_i += (1 - beta2) * g * g
                p.array -= lr_t * (m_i / (1 - beta1 ** t)) / (np.sqrt(s_i / (1 - beta2 ** t)) + eps)
                p.grad = None
        history.append(loss.item())
    return params, history


def max_error(params, f, dim, n_test=None, dtype=dg.float64):
    """max |F(x) − f(x)| (eq. 1.6) over a dense test grid (2001 points in 1-D, 201² in 2-D)."""
    n_test = n_test or (2001 if dim == 1 else 201)
    x_np = grid(n_test, dim)
    with dg.no_grad():
        pred = F(params, dg.tensor(x_np, dtype=dtype)).numpy()
    return float(np.max(np.abs(pred - f(x_np))))


PROBLEMS = {   # name: (target, D, M hidden units, Adam steps, initial sigmoid slope)
    "1d": (f_1d, 1, 30, 10000, 30.0),
    "2d": (f_2d, 2, 30, 4000, 10.0),
}


def _plot(results, path, epsilon=EPSILON):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    params, f, _, _ = results["1d"]
    x = grid(1001, 1)
    with dg.no_grad():
        pred = F(params, dg.tensor(x, dtype=dg.float64)).numpy()
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].plot(x[:, 0], f(x), label="f(x)")
    ax[0].plot(x[:, 0], pred, "--", label=f"F(x), M = {params[2].shape[0]}")
    ax[0].set_title("eq. 1.5: one hidden layer of sigmoids")
    ax[0].legend()
    ax[1].plot(x[:, 0], pred - f(x))
    ax[1].axhline(epsilon, color="r", ls=":")
    ax[1].axhline(-epsilon, color="r", ls=":")
    ax[1].set_title("F(x) − f(x) and ±ε (eq. 1.6)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(problems=("1d", "2d"), epsilon=EPSILON, plot=False, verbose=True):
    """Fit each problem, print max |F − f|, assert it is below ε; return the worst max error."""
    results = {}
    for name in problems:
        f, dim, M, steps, slope = PROBLEMS[name]
        t0 = time.perf_counter()
        params, history = fit(f, dim, M, steps, slope=slope)
        err = max_error(params, f, dim)
        results[name] = (params, f, err, history)
        if verbose:
            print(f"[{name}] D = {dim}, M = {M} sigmoid units, {steps} Adam steps: "
                  f"train MSE {history[0]:.3e} -> {history[-1]:.3e}, "
                  f"max|F - f| on dense grid = {err:.4f} (ε = {epsilon}), {time.perf_counter() - t0:.1f} s")
        assert err < epsilon, f"{name}: max error {err:.4f} is not below ε = {epsilon}"
    if plot and "1d" in results:
        path = _plot(results, plot if isinstance(plot, (str, os.PathLike)) else "universal_approximation.png",
                     epsilon)
        if path and verbose:
            print(f"saved {path}")
    worst = max(r[2] for r in results.values())
    if verbose:
        print(f"Universal approximation (eqs. 1.5-1.6): max |F(x) - f(x)| = {worst:.4f} < ε = {epsilon}")
    return worst


if __name__ == "__main__":
    main(plot=True)
