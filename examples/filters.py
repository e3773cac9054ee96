"""The chapter's filters (seed 4.1.1), applied with deepgrad's true convolution (``deepgrad.signal``).

1-D (seed 4.1.1.1, eqs. 4.1.1–4.1.4): a noisy sine is convolved with

* the decaying kernel w = [1, 1/2, 1/4] of eq. 4.1.1 (delayed, decaying echoes add up),
* moving averages w = [1/K, …, 1/K] — low-frequency filters, they remove the noise,
* the second difference w = [1, −2, 1] — a high-frequency filter, x''(t) ≈ x(t+1) + x(t−1) − 2x(t)
  (eq. 4.1.4); on the clean sine it recovers −ω² sin, on the noisy one the noise dominates.

2-D (seed 4.1.1.2, eqs. 4.1.5–4.1.6): an image (a scikit-learn digit if scikit-learn is installed,
else a synthetic picture) is convolved with the mean filter, Gaussian filters (smoothing / denoising)
and edge filters (Sobel, the chapter's diagonal filter, the Laplacian): the feature maps of the
chapter's figure of common filters.

Finally, since a convolution kernel can be a learnable parameter (seed 4.1.2), a 3-tap kernel is
fitted by gradient descent so that ``convolve1d(x, w)`` reproduces a 3-point moving average of x,
and comes out ≈ [1/3, 1/3, 1/3].

The numbers are printed; figures are written to ``--out`` (default ./runs/filters) when matplotlib is
installed (the filtered arrays always go to ``filters.npz`` there).

    python examples/filters.py --out runs/filters
"""
import argparse
import os
import time

import numpy as np

import deepgrad as dg
from deepgrad import signal as S

F64 = dg.float64


def noisy_sine(n=200, cycles=3.0, noise=0.3, seed=0):
    """t in [0, 1), the clean sine sin(2π·cycles·t), and the same plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / n
    clean = np.sin(2 * np.pi * cycles * t)
    return t, clean, clean + noise * rng.standard_normal(n)


def load_image(seed=0):
    """(image in [0, 1], description): a scikit-learn digit scaled 4× if available, else a synthetic one."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        reason = "scikit-learn not installed" if getattr(e, "name", "") == "sklearn" else f"scikit-learn unusable: {e}"
        rng = np.random.default_rng(seed)
        n = 40
        yy, xx = np.mgrid[0:n, 0:n]
        img = np.zeros((n, n))
        img[6:20, 6:22] = 1.0                                               # a bright rectangle
        img[((yy - 27) ** 2 + (xx - 26) ** 2) < 8 ** 2] = 0.6               # a grey disc
        img[np.abs(yy - (n - 1 - xx)) <= 1] += 0.4                          # an anti-diagonal line
        img = np.clip(img, 0, 1) + 0.05 * rng.standard_normal((n, n))
        return img, f"synthetic image ({reason})"
    digit = load_digits().images[0] / 16.0
    return np.kron(digit, np.ones((4, 4))), "scikit-learn digit 0, scaled 4x"


def rms(a):
    return float(np.sqrt(np.mean(np.square(a))))


def filter_signal(t, clean, noisy):
    h = t[1] - t[0]
    omega = 2 * np.pi * 3.0
    # eq. 4.1.1 is causal (y_t sees x_t, x_{t−1}, x_{t−2}): the first len(x) outputs of the full convolution
    out = {"decay": S.convolve1d(noisy, S.decay_filter(dtype=F64), "full").numpy()[:len(noisy)]}
    for k in (3, 9):
        out[f"moving_average_{k}"] = S.convolve1d(noisy, S.moving_average(k, dtype=F64), "same").numpy()
    d2 = S.second_difference(dtype=F64)
    out["second_difference_clean"] = S.convolve1d(clean, d2, "valid").numpy() / h ** 2
    out["second_difference_noisy"] = S.convolve1d(noisy, d2, "valid").numpy() / h ** 2
    inner = slice(4, -4)
    print("1-D signal: sin(2π·3t) + 0.3·noise, 200 samples")
    print(f"  RMS error of the noisy signal                     {rms(noisy - clean):.4f}")
    for k in (3, 9):
        err = rms((out[f'moving_average_{k}'] - clean)[inner])
        print(f"  after the moving average, K = {k}                   {err:.4f}   (eq. 4.1.2 with w = 1/K)")
    exact = -omega ** 2 * clean[1:-1]
    print(f"  second difference / h² vs −ω² sin, clean signal   {rms(out['second_difference_clean'] - exact):.4f}"
          f"   (of amplitude ω² = {omega ** 2:.0f}, eq. 4.1.4)")
    print(f"  the same on the noisy signal                      {rms(out['second_difference_noisy'] - exact):.0f}"
          "   (a high-frequency filter amplifies noise)")
    return out


IMAGE_FILTERS = [
    ("mean 3x3", lambda: S.mean_filter(3, dtype=F64)),
    ("Gaussian 3x3 (chapter)", lambda: S.gaussian_filter(3, dtype=F64)),
    ("Gaussian 5x5, sigma=1", lambda: S.gaussian_filter(5, 1.0, dtype=F64)),
    ("diagonal edge (chapter)", lambda: S.diagonal_edge(dtype=F64)),
    ("Laplacian (chapter)", lambda: S.laplacian(dtype=F64)),
    ("Sobel, axis 0", lambda: S.sobel(0, dtype=F64)),
    ("Sobel, axis 1", lambda: S.sobel(1, dtype=F64)),
]


def filter_image(img, what):
    print(f"\n2-D image: {what}, {img.shape[0]}x{img.shape[1]}, Y = W * X (eq. 4.1.6, mode 'same')")
    maps = {}
    for name, make in IMAGE_FILTERS:
        w = make()
        y = S.convolve2d(img, w, "same").numpy()
        maps[name] = (w.numpy(), y)
        print(f"  {name:26s} kernel sum {w.numpy().sum():+.3f}   output range [{y.min():+.3f}, {y.max():+.3f}]")
    gy, gx = maps["Sobel, axis 0"][1], maps["Sobel, axis 1"][1]
    maps["Sobel magnitude"] = (None, np.hypot(gx, gy))
    return maps


def learn_a_filter(steps=300, lr=0.5, seed=0):
    """Fit w (3 taps) so that w * x matches the 3-point moving average of x: the kernel is learnable."""
    dg.manual_seed(seed)
    x = dg.randn(64, dtype=F64)
    target = S.convolve1d(x, S.moving_average(3, dtype=F64), "valid").detach()
    w = (dg.randn(3, dtype=F64) * 0.1).requires_grad_()
    for _ in range(steps):
        loss = ((S.convolve1d(x, w, "valid") - target) ** 2).mean()
        w.grad = None
        loss.backward()
        with dg.no_grad():
            w.array -= lr * w.grad.array
    print(f"\nlearned kernel after {steps} gradient steps: {np.round(w.numpy(), 4)}  "
          f"(target [1/3, 1/3, 1/3], final loss {loss.item():.2e})")
    return w.numpy()


def save_figures(out_dir, t, clean, noisy, sig, img, maps):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"\nmatplotlib is not available: skipping the figures (arrays are in {out_dir}/filters.npz)")
        return []
    paths = []
    fig, axes = plt.subplots(4, 1, figsize=(8, 10), sharex=True)
    axes[0].plot(t, noisy, lw=0.8, color="0.6", label="noisy x")
    axes[0].plot(t, clean, lw=1.2, color="k", label="clean")
    axes[0].set_title("input signal")
    axes[1].plot(t, sig["moving_average_3"], label="w = [1/3, 1/3, 1/3]")
    axes[1].plot(t, sig["moving_average_9"], label="w = [1/9] * 9")
    axes[1].plot(t, sig["decay"], lw=0.8, label="w = [1, 1/2, 1/4] (eq. 4.1.1, causal)")
    axes[1].set_title("low-frequency filters on the noisy signal")
    axes[2].plot(t[1:-1], sig["second_difference_noisy"] * (t[1] - t[0]) ** 2, lw=0.8, color="C3")
    axes[2].set_title("high-frequency filter w = [1, -2, 1] on the noisy signal")
    axes[3].plot(t[1:-1], sig["second_difference_clean"], color="k", label="(w * clean) / h²")
    axes[3].plot(t, -(2 * np.pi * 3.0) ** 2 * clean, ls="--", color="C1", label="exact x'' = -ω² sin")
    axes[3].set_title("w = [1, -2, 1] on the clean signal approximates x'' (eq. 4.1.4)")
    for ax in (axes[0], axes[1], axes[3]):
        ax.legend(loc="upper right", fontsize=8)
    axes[3].set_xlabel("t")
    fig.tight_layout()
    paths.append(os.path.join(out_dir, "filters_1d.png"))
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    names = list(maps)
    fig, axes = plt.subplots(2, len(names) + 1, figsize=(2.2 * (len(names) + 1), 4.6))
    axes[0, 0].imshow(img, cmap="gray")
    axes[0, 0].set_title("input", fontsize=8)
    axes[1, 0].axis("off")
    for i, name in enumerate(names, start=1):
        w, y = maps[name]
        axes[0, i].imshow(y, cmap="gray")
        axes[0, i].set_title(name, fontsize=8)
        if w is None:
            axes[1, i].axis("off")
            continue
        axes[1, i].imshow(w, cmap="coolwarm", vmin=-np.abs(w).max(), vmax=np.abs(w).max())
        for (a, b), v in np.ndenumerate(w):
            if w.shape[0] <= 3:
                axes[1, i].text(b, a, f"{v:.3g}", ha="center", va="center", fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("feature maps Y = W * X (top) and kernels W (bottom)")
    fig.tight_layout()
    paths.append(os.path.join(out_dir, "filters_2d.png"))
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    for p in paths:
        print(f"saved {p}")
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(".", "runs", "filters"), help="output directory")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()
    t, clean, noisy = noisy_sine(seed=args.seed)
    sig = filter_signal(t, clean, noisy)
    img, what = load_image(args.seed)
    maps = filter_image(img, what)
    learned = learn_a_filter(seed=args.seed)
    np.savez(os.path.join(args.out, "filters.npz"), t=t, clean=clean, noisy=noisy, image=img, learned=learned,
             **{f"signal_{k}": v for k, v in sig.items()},
             **{"image_" + k.replace(" ", "_").replace(",", "").replace("=", ""): v[1] for k, v in maps.items()})
    paths = save_figures(args.out, t, clean, noisy, sig, img, maps)
    print(f"done in {time.perf_counter() - start:.2f} s")
    return {"signal": sig, "maps": maps, "learned": learned, "figures": paths}


if __name__ == "__main__":
    main()
