"""deepgrad.signal: true convolution and correlation (seed eqs. 4.1.1–4.1.8) against scipy.signal, their
gradients by finite differences, and the chapter's filters."""
import itertools

import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import signal as S

scipy = pytest.importorskip("scipy")
import scipy.ndimage as ndimage  # noqa: E402
import scipy.signal as ss  # noqa: E402

MODES = ("full", "valid", "same")
OURS = {"convolve": (S.convolve1d, S.convolve2d), "correlate": (S.correlate1d, S.correlate2d)}
THEIRS = {"convolve": ss.convolve, "correlate": ss.correlate}
TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def rand(shape, dtype=np.float64, rng=np.random.default_rng(1)):
    return rng.standard_normal(shape).astype(dtype)


def check(ours, theirs, dtype):
    assert ours.shape == theirs.shape
    assert ours.dtype == dtype
    np.testing.assert_allclose(ours.numpy(), theirs, **TOL[dtype])


# ---------------------------------------------------------------- values against scipy.signal
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["convolve", "correlate"])
def test_1d_matches_scipy(kind, mode, dtype):
    """Every mode, odd and even lengths, the kernel shorter, equal and longer than the signal."""
    ours, theirs = OURS[kind][0], THEIRS[kind]
    for m, k in itertools.product((1, 2, 5, 6, 9), (1, 2, 3, 4, 7, 12)):
        x, w = rand(m, dtype), rand(k, dtype)
        want = theirs(x.astype(np.float64), w.astype(np.float64), mode, method="direct")
        check(ours(dg.tensor(x), dg.tensor(w), mode), want, dtype)


SHAPES_2D = [((5, 7), (3, 2)), ((6, 4), (2, 4)), ((4, 9), (4, 9)), ((3, 5), (1, 1)),
             ((2, 3), (4, 6)), ((1, 6), (3, 6)), ((7, 2), (2, 1)), ((3, 3), (5, 4)),
             ((2, 6), (4, 4)), ((6, 2), (3, 5))]   # the last two: the kernel is larger in one axis only


def mixed_ok(xs, ws):
    """scipy's rule for 'valid': one input at least as large as the other in every dimension."""
    return all(a >= b for a, b in zip(xs, ws)) or all(b >= a for a, b in zip(xs, ws))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["convolve", "correlate"])
def test_2d_matches_scipy(kind, mode, dtype):
    """Non-square images and kernels, odd/even sizes, and a kernel larger than the image in both axes."""
    ours, theirs = OURS[kind][1], THEIRS[kind]
    for xs, ws in SHAPES_2D:
        x, w = rand(xs, dtype), rand(ws, dtype)
        if mode == "valid" and not mixed_ok(xs, ws):
            with pytest.raises(ValueError):
                theirs(x, w, mode)
            with pytest.raises(ValueError):
                ours(x, w, mode)
            continue
        want = theirs(x.astype(np.float64), w.astype(np.float64), mode, method="direct")
        check(ours(dg.tensor(x), dg.tensor(w), mode), want, dtype)


@pytest.mark.parametrize("mode", MODES)
def test_2d_matches_scipy_convolve2d_and_correlate2d(mode):
    """scipy's dedicated 2-D functions (zero boundary) agree too."""
    for xs, ws in SHAPES_2D:
        x, w = rand(xs), rand(ws)
        if mode == "valid" and not mixed_ok(xs, ws):
            continue
        np.testing.assert_allclose(S.convolve2d(x, w, mode).numpy(), ss.convolve2d(x, w, mode), atol=1e-12)
        if mode != "same" or all(b % 2 for b in ws):
            np.testing.assert_allclose(S.correlate2d(x, w, mode).numpy(), ss.correlate2d(x, w, mode), atol=1e-12)


def test_where_scipy_correlate2d_differs_from_scipy_correlate():
    """We follow scipy.signal.correlate. scipy.signal.correlate2d differs in one corner: 'same' with an
    even kernel dimension starts at K // 2 of the full correlation (correlate: (K − 1) // 2)."""
    x, w = np.arange(5.0)[None], np.array([[1.0, 2.0, 3.0, 4.0]])
    full = ss.correlate(x, w, "full")[0]
    np.testing.assert_array_equal(S.correlate2d(x, w, "same").numpy()[0], full[1:6])
    np.testing.assert_array_equal(S.correlate2d(x, w, "same").numpy(), ss.correlate(x, w, "same"))
    np.testing.assert_array_equal(ss.correlate2d(x, w, "same")[0], full[2:7])
    x, w = rand((2, 3)), rand((4, 5))
    np.testing.assert_allclose(S.correlate2d(x, w, "valid").numpy(), ss.correlate(x, w, "valid"), atol=1e-12)
    np.testing.assert_allclose(S.correlate2d(x, w, "valid").numpy(), ss.correlate2d(x, w, "valid"), atol=1e-12)


def test_same_takes_the_extra_element_from_the_end_like_scipy():
    """'same' is full[(K − 1) // 2 : … + M]: for even K the output is shifted to the end (scipy's rule)."""
    x, w = np.arange(5.0), np.array([1.0, 2.0, 3.0, 4.0])
    full = np.array([0.0, 1.0, 4.0, 10.0, 20.0, 25.0, 24.0, 16.0])
    np.testing.assert_array_equal(S.convolve1d(x, w, "full").numpy(), full)
    np.testing.assert_array_equal(S.convolve1d(x, w, "same").numpy(), full[1:6])
    np.testing.assert_array_equal(S.convolve1d(x, w, "same").numpy(), ss.convolve(x, w, "same"))
    # the kernel longer than the signal: still len(x) outputs, centred in 'full'
    w7 = np.arange(1.0, 8.0)
    np.testing.assert_array_equal(S.convolve1d(x, w7, "same").numpy(), np.convolve(x, w7)[3:8])


def test_valid_with_the_kernel_longer_than_the_signal():
    """scipy allows 'valid' when either input is the larger; convolution commutes, correlation reverses."""
    x, w = np.array([1.0, 2.0, 3.0]), np.array([1.0, 10.0, 100.0, 1000.0, 1e4])
    np.testing.assert_array_equal(S.convolve1d(x, w, "valid").numpy(), [123.0, 1230.0, 12300.0])
    np.testing.assert_array_equal(S.convolve1d(x, w, "valid").numpy(), S.convolve1d(w, x, "valid").numpy())
    np.testing.assert_array_equal(S.correlate1d(x, w, "valid").numpy(), [32100.0, 3210.0, 321.0])
    np.testing.assert_array_equal(S.correlate1d(x, w, "valid").numpy(), S.correlate1d(w, x, "valid").numpy()[::-1])
    for mode in MODES:
        np.testing.assert_array_equal(S.correlate1d(x, w, mode).numpy(), ss.correlate(x, w, mode))


def test_valid_2d_needs_one_input_at_least_as_large_in_every_dimension():
    x, w = rand((3, 5)), rand((4, 2))
    with pytest.raises(ValueError, match="at least as large"):
        ss.convolve(x, w, "valid")                      # the oracle refuses too
    for f in (S.convolve2d, S.correlate2d):
        with pytest.raises(ValueError, match="at least as large"):
            f(x, w, "valid")
        assert f(x, w, "full").shape == (6, 6) and f(x, w, "same").shape == (3, 5)


def test_correlation_is_convolution_with_the_rotated_kernel_eq_4_1_8():
    x, w = rand((6, 5)), rand((3, 2))
    for mode in MODES:
        np.testing.assert_allclose(S.correlate2d(x, w, mode).numpy(), S.convolve2d(x, w[::-1, ::-1], mode).numpy())
        np.testing.assert_allclose(S.correlate1d(x[0], w[0], mode).numpy(),
                                   S.convolve1d(x[0], w[0, ::-1], mode).numpy())
    # and the 'valid' correlation is exactly what a deep-learning conv layer computes (seed eq. 4.1.7)
    y = F.conv2d(dg.tensor(x[None, None]), dg.tensor(w[None, None]))
    np.testing.assert_allclose(y.numpy()[0, 0], S.correlate2d(x, w, "valid").numpy(), atol=1e-12)


def test_worked_example_eq_4_1_1():
    """y_t = 1·x_t + 1/2·x_{t−1} + 1/4·x_{t−2}, outputs indexed from t = K (the 'valid' part)."""
    x = np.array([1.0, 1.0, 2.0, -1.0, 0.5, 3.0])
    y = S.convolve1d(dg.tensor(x), S.decay_filter(dtype=dg.float64), "valid").numpy()
    want = [x[t] + x[t - 1] / 2 + x[t - 2] / 4 for t in range(2, len(x))]
    np.testing.assert_allclose(y, want, rtol=1e-15)


# ---------------------------------------------------------------- inputs and dtypes
def test_accepts_lists_arrays_and_tensors():
    want = np.convolve([1.0, 2.0, 3.0], [0.5, 1.0])
    for x, w in [([1.0, 2.0, 3.0], [0.5, 1.0]), (np.array([1.0, 2.0, 3.0]), np.array([0.5, 1.0])),
                 (dg.tensor([1.0, 2.0, 3.0]), [0.5, 1.0]), ([1, 2, 3], dg.tensor([0.5, 1.0]))]:
        y = S.convolve1d(x, w)
        assert isinstance(y, dg.Tensor)
        np.testing.assert_allclose(y.numpy(), want, rtol=1e-6)
    # 2-D from nested lists, and the dimension-generic spellings
    np.testing.assert_allclose(S.convolve([[1.0, 2.0], [3.0, 4.0]], [[1.0, 1.0]]).numpy(),
                               ss.convolve([[1.0, 2.0], [3.0, 4.0]], [[1.0, 1.0]]))
    np.testing.assert_allclose(S.correlate([1.0, 2.0, 3.0], [1.0, 0.0, -1.0], "same").numpy(),
                               ss.correlate([1.0, 2.0, 3.0], [1.0, 0.0, -1.0], "same"))


def test_dtype_rules():
    assert S.convolve1d([1.0, 2.0], [1.0]).dtype == dg.float32                  # Python floats: default float
    assert S.convolve1d([1, 2], [1]).dtype == dg.float32                        # integers become float
    assert S.convolve1d(np.ones(3), np.ones(2)).dtype == dg.float64             # NumPy arrays keep float64
    assert S.convolve1d(dg.ones(3, dtype=dg.float64), [1.0]).dtype == dg.float64  # a list follows the Tensor
    assert S.convolve1d(dg.ones(3), np.ones(2)).dtype == dg.float32
    assert S.correlate2d(dg.ones(3, 3), dg.ones(2, 2, dtype=dg.float64)).dtype == dg.float64  # promoted
    assert S.convolve1d(np.ones(3, np.float32), [1, 2]).dtype == dg.float32


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="mode"):
        S.convolve1d([1.0, 2.0], [1.0], "wide")
    with pytest.raises(ValueError, match="1-D"):
        S.convolve1d(np.ones((2, 2)), [1.0])
    with pytest.raises(ValueError, match="2-D"):
        S.correlate2d(np.ones((2, 2)), [1.0])
    with pytest.raises(ValueError, match="empty"):
        S.convolve1d([], [1.0])
    with pytest.raises(ValueError, match="1-D or 2-D"):
        S.convolve(np.ones((2, 2, 2)), np.ones((1, 1, 1)))
    with pytest.raises(TypeError):
        S.convolve1d(["a"], [1.0])


# ---------------------------------------------------------------- gradients
GRAD_CASES_1D = [(6, 3), (5, 4), (3, 6), (4, 4), (1, 3)]
GRAD_CASES_2D = [((4, 5), (2, 3)), ((3, 3), (4, 2)), ((2, 3), (3, 4)), ((2, 5), (4, 4))]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["convolve", "correlate"])
def test_gradcheck_1d(kind, mode):
    f = OURS[kind][0]
    for m, k in GRAD_CASES_1D:
        x = dg.tensor(rand(m), requires_grad=True)
        w = dg.tensor(rand(k), requires_grad=True)
        assert dg.gradcheck(lambda a, b: f(a, b, mode), (x, w))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["convolve", "correlate"])
def test_gradcheck_2d(kind, mode):
    f = OURS[kind][1]
    for xs, ws in GRAD_CASES_2D:
        if mode == "valid" and xs in ((3, 3), (2, 5)):
            continue                                    # mixed sizes: 'valid' is undefined (tested above)
        x = dg.tensor(rand(xs), requires_grad=True)
        w = dg.tensor(rand(ws), requires_grad=True)
        assert dg.gradcheck(lambda a, b: f(a, b, mode), (x, w))


def test_second_order_gradients():
    x = dg.tensor(rand((3, 4)), requires_grad=True)
    w = dg.tensor(rand((2, 2)), requires_grad=True)
    assert dg.gradgradcheck(lambda a, b: S.convolve2d(a, b, "same"), (x, w))
    assert dg.gradgradcheck(lambda a, b: S.correlate1d(a, b, "full"), (x[0], w[0]))


def test_backward_is_a_correlation_with_the_output_gradient():
    """For y = x * w (full), ∂(g·y)/∂x = correlate(g, w, 'valid') and ∂/∂w = correlate(g, x, 'valid')."""
    x = dg.tensor(rand(7), requires_grad=True)
    w = dg.tensor(rand(3), requires_grad=True)
    g = rand(9)
    (S.convolve1d(x, w) * dg.tensor(g)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), ss.correlate(g, w.numpy(), "valid"), atol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), ss.correlate(g, x.numpy(), "valid"), atol=1e-12)


# ---------------------------------------------------------------- the chapter's filters
def test_1d_filters():
    np.testing.assert_allclose(S.decay_filter().numpy(), [1.0, 0.5, 0.25])
    np.testing.assert_allclose(S.decay_filter(4, rate=0.1, dtype=dg.float64).numpy(), [1.0, 0.1, 0.01, 0.001])
    np.testing.assert_allclose(S.moving_average(3).numpy(), [1 / 3] * 3, rtol=1e-7)
    assert S.moving_average(5).shape == (5,) and S.moving_average(5).dtype == dg.float32
    np.testing.assert_array_equal(S.second_difference().numpy(), [1.0, -2.0, 1.0])
    assert S.second_difference(dtype=dg.float64).dtype == dg.float64


def test_moving_average_is_the_windowed_mean():
    x = rand(20)
    y = S.convolve1d(x, S.moving_average(4, dtype=dg.float64), "valid").numpy()
    np.testing.assert_allclose(y, [x[t:t + 4].mean() for t in range(17)], rtol=1e-12)


def test_second_difference_approximates_the_second_derivative_eq_4_1_4():
    t = np.arange(12.0)
    # exact on a quadratic: (t+1)² + (t−1)² − 2t² = 2
    np.testing.assert_allclose(S.convolve1d(t ** 2, S.second_difference(dtype=dg.float64), "valid").numpy(), 2.0)
    # on a sampled sine with step h it is ≈ −ω² h² sin
    h, omega = 0.01, 3.0
    s = np.sin(omega * h * np.arange(200))
    d2 = S.convolve1d(s, S.second_difference(dtype=dg.float64), "valid").numpy() / h ** 2
    np.testing.assert_allclose(d2, -omega ** 2 * s[1:-1], atol=1e-3)


def test_2d_filters():
    np.testing.assert_allclose(S.mean_filter().numpy(), np.full((3, 3), 1 / 9), rtol=1e-7)
    np.testing.assert_allclose(S.mean_filter((2, 4), dtype=dg.float64).numpy(), np.full((2, 4), 1 / 8))
    np.testing.assert_array_equal(S.gaussian_filter().numpy() * 16, [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    g5 = S.gaussian_filter(5, sigma=1.2, dtype=dg.float64).numpy()
    row = ss.windows.gaussian(5, 1.2)
    np.testing.assert_allclose(g5, np.outer(row, row) / np.outer(row, row).sum(), rtol=1e-12)
    assert abs(g5.sum() - 1) < 1e-12 and g5[2, 2] == g5.max()
    np.testing.assert_allclose(S.gaussian_filter(5).numpy().sum(), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(S.laplacian().numpy(), [[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    np.testing.assert_array_equal(S.diagonal_edge().numpy(), [[0, 1, 1], [-1, 0, 1], [-1, -1, 0]])
    np.testing.assert_array_equal(S.sobel(0).numpy(), [[-1, -2, -1], [0, 0, 0], [1, 2, 1]])
    np.testing.assert_array_equal(S.sobel(1).numpy(), S.sobel(0).numpy().T)
    np.testing.assert_array_equal(S.sobel(-1).numpy(), S.sobel(1).numpy())
    for bad in (lambda: S.moving_average(0), lambda: S.mean_filter((1, 2, 3)), lambda: S.sobel(2),
                lambda: S.gaussian_filter(3, sigma=0.0), lambda: S.decay_filter(1.5)):
        with pytest.raises(ValueError):
            bad()


def test_edge_filters_against_scipy_ndimage():
    img = rand((9, 11))
    inner = (slice(1, -1), slice(1, -1))
    for axis in (0, 1):
        ours = S.correlate2d(img, S.sobel(axis, dtype=dg.float64), "same").numpy()
        np.testing.assert_allclose(ours[inner], ndimage.sobel(img, axis=axis)[inner], atol=1e-12)
        # antisymmetric kernel: true convolution gives the negative (eq. 4.1.8)
        np.testing.assert_allclose(S.convolve2d(img, S.sobel(axis, dtype=dg.float64), "same").numpy(), -ours,
                                   atol=1e-12)
    lap = S.convolve2d(img, S.laplacian(dtype=dg.float64), "same").numpy()
    np.testing.assert_allclose(lap[inner], ndimage.laplace(img)[inner], atol=1e-12)
    # the laplacian is the second difference along each axis, summed
    d2 = S.second_difference(dtype=dg.float64).numpy()
    both = S.convolve2d(img, d2[:, None], "same").numpy() + S.convolve2d(img, d2[None, :], "same").numpy()
    np.testing.assert_allclose(lap, both, atol=1e-12)


def test_filters_on_images():
    """Smoothing keeps a constant image (interior) constant; the edge filters map it to 0; the mean
    filter equals scipy's uniform filter; the Gaussian reduces noise."""
    const = np.full((6, 7), 3.0)
    for f, want in [(S.mean_filter(3, dtype=dg.float64), 3.0), (S.gaussian_filter(dtype=dg.float64), 3.0),
                    (S.laplacian(dtype=dg.float64), 0.0), (S.diagonal_edge(dtype=dg.float64), 0.0),
                    (S.sobel(0, dtype=dg.float64), 0.0)]:
        np.testing.assert_allclose(S.convolve2d(const, f, "valid").numpy(), want, atol=1e-12)
    img = rand((10, 12))
    np.testing.assert_allclose(S.convolve2d(img, S.mean_filter(3, dtype=dg.float64), "valid").numpy(),
                               ndimage.uniform_filter(img, 3)[1:-1, 1:-1], atol=1e-12)
    noise = rand((40, 40))
    assert S.convolve2d(noise, S.gaussian_filter(5, 1.0, dtype=dg.float64), "valid").numpy().std() < 0.5 * noise.std()


# ---------------------------------------------------------------- examples/filters.py
def test_filters_example_runs_and_learns_the_moving_average(tmp_path, capsys):
    import importlib.util
    import os
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "filters.py")
    spec = importlib.util.spec_from_file_location("deepgrad_example_filters", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--out", str(tmp_path)])
    np.testing.assert_allclose(result["learned"], [1 / 3] * 3, atol=1e-4)        # a learnable kernel (4.1.2)
    saved = np.load(tmp_path / "filters.npz")
    clean, noisy = saved["clean"], saved["noisy"]
    inner = slice(8, -8)
    assert np.std((saved["signal_moving_average_9"] - clean)[inner]) < 0.6 * np.std(noisy - clean)
    assert (tmp_path / "filters_1d.png").exists() == bool(result["figures"])
    assert "matplotlib" in capsys.readouterr().out or result["figures"]
