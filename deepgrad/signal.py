"""True convolution and correlation of signals and images (seed §4.1.1–4.1.2), differentiable.

Deep-learning "convolution" layers (``nn.functional.conv1d/conv2d``) compute a cross-correlation
(seed eq. 4.1.7). This module has the textbook operations, with ``scipy.signal.convolve`` /
``scipy.signal.correlate`` semantics for plain 1-D signals and 2-D images:

* ``convolve1d(x, w, mode)``   y_t = Σ_k w_k x_{t−k+1}                      (seed eq. 4.1.2, y = w * x eq. 4.1.3)
* ``convolve2d(X, W, mode)``   y_ij = Σ_u Σ_v w_uv x_{i−u+1, j−v+1}        (seed eq. 4.1.5, Y = W * X eq. 4.1.6)
* ``correlate1d/correlate2d``  y_ij = Σ_u Σ_v w_uv x_{i+u−1, j+v−1}        (seed eq. 4.1.7)
* ``convolve`` / ``correlate`` pick 1-D or 2-D from the inputs.

True convolution is the cross-correlation with the kernel rotated by 180° (seed eq. 4.1.8):
``convolve(x, w) == correlate(x, rot180(w))``. Both are computed by the convolution primitive of
``deepgrad.ops.conv``, so they are differentiable in ``x`` and ``w`` to any order.

``mode`` is scipy's:

* ``"full"``  the wide convolution (seed eq. 4.1.9), every overlap: M + K − 1 outputs per axis;
* ``"valid"`` the narrow convolution, no zero padding used: M − K + 1 outputs per axis. As in scipy,
  either input may be the larger one (the output has max − min + 1 elements), but one of them must be
  at least as large as the other along every axis;
* ``"same"``  as large as ``x``, the centre of the "full" output: it starts at index (K − 1) // 2 of
  "full", so for even K the extra element comes from the end (scipy's rule, not PyTorch's). For
  correlation this is ``scipy.signal.correlate``'s rule; ``scipy.signal.correlate2d`` alone starts at
  K // 2 when a kernel dimension is even.

Inputs may be Tensors, NumPy arrays or (nested) lists. A non-Tensor operand takes the dtype of a
Tensor operand; two non-Tensors follow ``deepgrad.tensor`` (Python floats → float32, NumPy arrays keep
their float dtype); two Tensors of different floating dtypes are promoted; integer data becomes the
default float dtype.

The filters at the end are the chapter's examples (seed 4.1.1.1–4.1.1.2): the decaying kernel of
eq. 4.1.1, the moving average and the second difference (eq. 4.1.4), the mean and Gaussian filters and
the edge filters of its figure of common image filters.
"""
import math

import numpy

from . import backend
from .autograd.tensor import Tensor
from .ops import conv as _prim
from .ops.shape import flip as _flip
from .ops.unary import astype as _astype

__all__ = ["convolve", "correlate", "convolve1d", "correlate1d", "convolve2d", "correlate2d", "MODES",
           "decay_filter", "moving_average", "second_difference", "mean_filter", "gaussian_filter",
           "sobel", "laplacian", "diagonal_edge"]

MODES = ("full", "valid", "same")


# ---------------------------------------------------------------- argument handling
def _to_tensor(v, dtype, op, name):
    if isinstance(v, Tensor):
        return v if dtype is None or v.dtype == dtype else _astype(v, dtype)
    try:
        data = backend.as_array(v, dtype)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{op}: {name} must be a Tensor, an array or a (nested) list of numbers; {e}") from None
    return Tensor(data)


def _operands(x, w, nd, op):
    """x and w as Tensors of one floating dtype, each with exactly ``nd`` non-empty dimensions."""
    xt, wt = isinstance(x, Tensor), isinstance(w, Tensor)
    if xt and not wt:
        x, w = x, _to_tensor(w, x.dtype, op, "w")
    elif wt and not xt:
        x, w = _to_tensor(x, w.dtype, op, "x"), w
    else:
        x, w = _to_tensor(x, None, op, "x"), _to_tensor(w, None, op, "w")
    floats = [t.dtype for t in (x, w) if backend.is_floating(t.dtype)]   # integer data adapts to the float
    dtype = numpy.result_type(*floats) if floats else backend.default_float
    x, w = _to_tensor(x, dtype, op, "x"), _to_tensor(w, dtype, op, "w")
    for name, t in (("x", x), ("w", w)):
        if t.ndim != nd:
            raise ValueError(f"{op}: {name} must be {nd}-D, got shape {tuple(t.shape)}")
        if 0 in t.shape:
            raise ValueError(f"{op}: {name} of shape {tuple(t.shape)} is empty")
    return x, w


def _window(mode, m, k, op):
    """(start, size): which part of the full convolution (M + K − 1 per axis) ``mode`` keeps."""
    if mode == "full":
        return (0,) * len(m), tuple(a + b - 1 for a, b in zip(m, k))
    if mode == "same":
        return tuple((b - 1) // 2 for b in k), tuple(m)
    if mode == "valid":
        if all(a >= b for a, b in zip(m, k)):
            return tuple(b - 1 for b in k), tuple(a - b + 1 for a, b in zip(m, k))
        if all(b >= a for a, b in zip(m, k)):
            return tuple(a - 1 for a in m), tuple(b - a + 1 for a, b in zip(m, k))
        raise ValueError(f"{op}: for mode 'valid' one input must be at least as large as the other in every "
                         f"dimension, got shapes {tuple(m)} and {tuple(k)}")
    raise ValueError(f"{op}: mode must be one of {', '.join(repr(s) for s in MODES)}, got {mode!r}")


def _true_convolve(x, w, mode, nd, op, correlate=False):
    x, w = _operands(x, w, nd, op)
    if correlate:                       # seed eq. 4.1.8: W ⊗ X = rot180(W) * X
        w = _flip(w, tuple(range(nd)))
    start, size = _window(mode, x.shape, w.shape, op)
    # True convolution commutes (seed 4.1.4.1), so the smaller operand can be the kernel of the
    # cross-correlation primitive: y[t] = Σ_j rot180(b)[j] · a[t + start − (K_b − 1) + j].
    a, b = (x, w) if w.numel() <= x.numel() else (w, x)
    lo = tuple(kb - 1 - s for kb, s in zip(b.shape, start))
    one = (1,) * nd
    a4 = a.reshape((1, 1) + tuple(a.shape))
    b4 = _flip(b, tuple(range(nd))).reshape((1, 1) + tuple(b.shape))
    y = _prim.conv(a4, b4, one, lo, one, 1, size)
    return y.reshape(size)


# ---------------------------------------------------------------- convolution and correlation
def convolve1d(x, w, mode="full"):
    """True 1-D convolution y = w * x, y_t = Σ_k w_k x_{t−k+1} (seed eqs. 4.1.2–4.1.3), like
    ``scipy.signal.convolve`` on 1-D inputs; ``mode`` is "full", "valid" or "same" (module docstring)."""
    return _true_convolve(x, w, mode, 1, "convolve1d")


def correlate1d(x, w, mode="full"):
    """1-D cross-correlation y_t = Σ_k w_k x_{t+k−1} (seed eq. 4.1.7 in 1-D), like
    ``scipy.signal.correlate``: the convolution with the reversed kernel (seed eq. 4.1.8). Swapping the
    arguments reverses the output."""
    return _true_convolve(x, w, mode, 1, "correlate1d", correlate=True)


def convolve2d(x, w, mode="full"):
    """True 2-D convolution Y = W * X, y_ij = Σ_u Σ_v w_uv x_{i−u+1, j−v+1} (seed eqs. 4.1.5–4.1.6), like
    ``scipy.signal.convolve`` (and ``convolve2d`` with zero boundaries) on 2-D inputs."""
    return _true_convolve(x, w, mode, 2, "convolve2d")


def correlate2d(x, w, mode="full"):
    """2-D cross-correlation Y = W ⊗ X, y_ij = Σ_u Σ_v w_uv x_{i+u−1, j+v−1} (seed eq. 4.1.7), like
    ``scipy.signal.correlate`` on 2-D inputs; equals ``convolve2d(x, rot180(w))`` (seed eq. 4.1.8)."""
    return _true_convolve(x, w, mode, 2, "correlate2d", correlate=True)


def _ndim_of(v):
    return v.ndim if isinstance(v, Tensor) else numpy.ndim(v)


def convolve(x, w, mode="full"):
    """``convolve1d`` or ``convolve2d``, chosen by the number of dimensions of ``x`` (1 or 2)."""
    nd = _ndim_of(x)
    if nd not in (1, 2):
        raise ValueError(f"convolve: x must be 1-D or 2-D, got {nd} dimensions")
    return (convolve1d if nd == 1 else convolve2d)(x, w, mode)


def correlate(x, w, mode="full"):
    """``correlate1d`` or ``correlate2d``, chosen by the number of dimensions of ``x`` (1 or 2)."""
    nd = _ndim_of(x)
    if nd not in (1, 2):
        raise ValueError(f"correlate: x must be 1-D or 2-D, got {nd} dimensions")
    return (correlate1d if nd == 1 else correlate2d)(x, w, mode)


# ---------------------------------------------------------------- the chapter's filters
def _filter(values, dtype):
    return Tensor(numpy.asarray(values, dtype=backend.as_dtype(dtype) or backend.default_float))


def _positive(k, name, op):
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"{op}: {name} must be a positive int, got {k!r}")
    return k


def _size2(k, op):
    ks = (k, k) if isinstance(k, int) and not isinstance(k, bool) else tuple(k)
    if len(ks) != 2:
        raise ValueError(f"{op}: k must be an int or a pair (U, V), got {k!r}")
    return tuple(_positive(v, "k", op) for v in ks)


def decay_filter(k=3, rate=0.5, dtype=None):
    """w_k = rate^(k−1): the delayed, decaying signal of seed eq. 4.1.1 ([1, 1/2, 1/4] for k=3)."""
    _positive(k, "k", "decay_filter")
    return _filter([rate ** i for i in range(k)], dtype)


def moving_average(k, dtype=None):
    """w = [1/K, …, 1/K] (K taps): convolving gives the simple moving average of window K (seed 4.1.1.1,
    after eq. 4.1.3; K = 3 is the low-frequency filter of its figure)."""
    _positive(k, "k", "moving_average")
    return _filter([1.0 / k] * k, dtype)


def second_difference(dtype=None):
    """w = [1, −2, 1]: x''(t) ≈ x(t+1) + x(t−1) − 2x(t) (seed eq. 4.1.4), the high-frequency filter.
    Symmetric, so convolution and correlation agree."""
    return _filter([1.0, -2.0, 1.0], dtype)


def mean_filter(k=3, dtype=None):
    """The mean filter w_uv = 1/(UV) (seed 4.1.1.2); ``k`` is an int (K × K) or a pair (U, V)."""
    u, v = _size2(k, "mean_filter")
    return _filter(numpy.full((u, v), 1.0 / (u * v)), dtype)


def gaussian_filter(k=3, sigma=None, dtype=None):
    """A K × K Gaussian smoothing filter that sums to 1 (seed 4.1.1.2, the top filter of its figure).

    With ``sigma`` given: w_uv ∝ exp(−(u² + v²) / 2σ²), u, v measured from the centre. With
    ``sigma=None``: the binomial approximation (outer product of a row of Pascal's triangle), which for
    K = 3 is the chapter's [[1, 2, 1], [2, 4, 2], [1, 2, 1]] / 16."""
    k = _positive(k, "k", "gaussian_filter")
    if sigma is None:
        row = numpy.array([math.comb(k - 1, i) for i in range(k)], dtype=numpy.float64)
    else:
        if not sigma > 0:
            raise ValueError(f"gaussian_filter: sigma must be > 0, got {sigma!r}")
        t = numpy.arange(k, dtype=numpy.float64) - (k - 1) / 2
        row = numpy.exp(-t * t / (2.0 * sigma * sigma))
    w = numpy.outer(row, row)
    return _filter(w / w.sum(), dtype)


def sobel(axis=0, dtype=None):
    """The 3 × 3 Sobel edge filter differentiating along ``axis`` (0: rows, responds to horizontal
    edges; 1: columns, vertical edges) and smoothing [1, 2, 1] across it.

    Written as a cross-correlation kernel, the way conv layers use it (seed eq. 4.1.7):
    ``correlate2d(x, sobel(a), "same")`` is +(x[i+1] − x[i−1]) smoothed, like ``scipy.ndimage.sobel``
    in the interior; ``convolve2d`` with it gives the negative (the kernel is antisymmetric, eq. 4.1.8)."""
    if axis not in (0, 1, -1, -2):
        raise ValueError(f"sobel: axis must be 0 or 1 (or -2, -1), got {axis!r}")
    w = numpy.outer([-1.0, 0.0, 1.0], [1.0, 2.0, 1.0])
    return _filter(w if axis % 2 == 0 else w.T, dtype)


def laplacian(dtype=None):
    """[[0, 1, 0], [1, −4, 1], [0, 1, 0]]: the 2-D second difference (eq. 4.1.4 along both axes), the
    bottom edge filter of the chapter's figure of common filters. Symmetric."""
    return _filter([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype)


def diagonal_edge(dtype=None):
    """[[0, 1, 1], [−1, 0, 1], [−1, −1, 0]]: the middle (diagonal edge) filter of the chapter's figure of
    common filters (seed 4.1.1.2); it sums to 0, so flat regions map to 0."""
    return _filter([[0.0, 1.0, 1.0], [-1.0, 0.0, 1.0], [-1.0, -1.0, 0.0]], dtype)
