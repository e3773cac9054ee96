"""The chapter's convolution identities (seed 4.1.3, 4.1.4, 4.2.1–4.2.2, 4.5.1, 4.5.2) as tests, each
named after its equation or section. Cross-correlation (⊗, eq. 4.1.7) is what ``F.conv1d/conv2d``
compute; the wide convolution ⊗̃ (eq. 4.1.9) is ``padding="full"``; the independent oracles are
scipy.signal, explicit matrices and explicit loops."""
import itertools

import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import signal as S

scipy = pytest.importorskip("scipy")
import scipy.signal as ss  # noqa: E402

f64 = dg.float64


def rand(*shape, rng=np.random.default_rng(3)):
    return rng.standard_normal(shape)


def t(a, requires_grad=False):
    return dg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def rot180(a):
    return a[..., ::-1, ::-1] if a.ndim >= 2 else a[::-1]


def conv2d_1ch(x, w, **kw):
    """2-D cross-correlation of one image with one kernel through the layer function."""
    return F.conv2d(x.reshape((1, 1) + tuple(x.shape)), w.reshape((1, 1) + tuple(w.shape)), **kw)[0, 0]


# ---------------------------------------------------------------- 4.1.3: output sizes
def test_4_1_3_narrow_wide_equal_width_output_lengths():
    """Narrow (S=1, P=0): M − K + 1; wide (P = K − 1): M + K − 1; equal-width (P = (K − 1)/2): M;
    in general (M − K + 2P)/S + 1 — by the formula, by F.conv1d's output, and by signal's modes."""
    for m, k in itertools.product((5, 6, 9), (1, 2, 3, 4, 5)):
        x, w = t(rand(1, 1, m)), t(rand(1, 1, k))
        assert F.conv_output_size(m, k, padding="valid") == F.conv_output_size(m, k) == m - k + 1
        assert F.conv_output_size(m, k, padding="full") == F.conv_output_size(m, k, padding=k - 1) == m + k - 1
        assert F.conv_output_size(m, k, padding="same") == m
        assert F.conv1d(x, w).shape[-1] == m - k + 1
        assert F.conv1d(x, w, padding="full").shape[-1] == m + k - 1
        assert F.conv1d(x, w, padding="same").shape[-1] == m
        if k % 2:
            assert F.conv_output_size(m, k, padding=(k - 1) // 2) == m             # P = (K − 1)/2 for odd K
        for mode, n in (("valid", m - k + 1), ("full", m + k - 1), ("same", m)):
            assert S.convolve1d(rand(m), rand(k), mode).shape == (n,)
        for s, p in itertools.product((1, 2, 3), (0, 1, 2)):
            n = (m - k + 2 * p) // s + 1
            assert F.conv_output_size(m, k, stride=s, padding=p) == n
            assert F.conv1d(x, w, stride=s, padding=p).shape[-1] == n


def test_4_1_3_zero_padding_is_padding_the_input():
    x, w = rand(2, 3, 7), rand(4, 3, 3)
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2)))
    np.testing.assert_allclose(F.conv1d(t(x), t(w), padding=2).numpy(), F.conv1d(t(padded), t(w)).numpy(),
                               atol=1e-12)


# ---------------------------------------------------------------- 4.1.2 / 4.1.4: correlation, wide conv
def test_eq_4_1_8_cross_correlation_is_convolution_with_rot180_kernel():
    x, w = rand(6, 5), rand(3, 2)
    y = conv2d_1ch(t(x), t(w)).numpy()                                  # W ⊗ X, eq. 4.1.7
    np.testing.assert_allclose(y, ss.correlate2d(x, w, "valid"), atol=1e-12)
    np.testing.assert_allclose(y, ss.convolve2d(x, rot180(w), "valid"), atol=1e-12)   # rot180(W) * X
    np.testing.assert_allclose(y, S.convolve2d(x, rot180(w), "valid").numpy(), atol=1e-12)
    assert y.shape == (6 - 3 + 1, 5 - 2 + 1)                           # Y ∈ R^{(M−U+1)×(N−V+1)}


def test_eq_4_1_9_wide_convolution_is_correlation_with_the_fully_padded_input():
    x, w = rand(4, 6), rand(3, 2)
    x_tilde = np.pad(x, ((2, 2), (1, 1)))                               # (M + 2U − 2) × (N + 2V − 2)
    assert x_tilde.shape == (4 + 2 * 3 - 2, 6 + 2 * 2 - 2)
    wide = conv2d_1ch(t(x), t(w), padding="full").numpy()
    np.testing.assert_allclose(wide, conv2d_1ch(t(x_tilde), t(w)).numpy(), atol=1e-12)
    np.testing.assert_allclose(wide, ss.correlate2d(x, w, "full"), atol=1e-12)


def test_eq_4_1_10_wide_convolution_commutes():
    """rot180(W) ⊗̃ X = rot180(X) ⊗̃ W, i.e. true full convolution commutes: x * w = w * x."""
    for xs, ws in (((5, 4), (3, 2)), ((2, 3), (4, 6)), ((3, 3), (3, 3))):
        x, w = rand(*xs), rand(*ws)
        lhs = conv2d_1ch(t(x), t(rot180(w)), padding="full").numpy()
        rhs = conv2d_1ch(t(w), t(rot180(x)), padding="full").numpy()
        np.testing.assert_allclose(lhs, rhs, atol=1e-12)
        np.testing.assert_allclose(lhs, ss.convolve2d(x, w, "full"), atol=1e-12)
        np.testing.assert_allclose(S.convolve2d(x, w, "full").numpy(), S.convolve2d(w, x, "full").numpy(), atol=1e-12)
    for m, k in ((7, 3), (2, 5), (4, 4)):
        x, w = rand(m), rand(k)
        np.testing.assert_allclose(S.convolve1d(x, w, "full").numpy(), S.convolve1d(w, x, "full").numpy(), atol=1e-12)
        np.testing.assert_allclose(S.convolve1d(x, w, "full").numpy(), ss.convolve(w, x, "full"), atol=1e-12)


# ---------------------------------------------------------------- 4.1.4.2: derivatives
@pytest.mark.parametrize("xs,ws", [((6, 5), (3, 2)), ((4, 4), (4, 1)), ((5, 7), (1, 1))])
def test_eq_4_1_11_and_4_1_12_weight_gradient_is_dY_correlated_with_X(xs, ws):
    """∂f/∂W = ∂f/∂Y ⊗ X for Y = W ⊗ X and f(Y) = Σ G ⊙ Y (so ∂f/∂Y = G)."""
    x, w = rand(*xs), rand(*ws)
    g = rand(xs[0] - ws[0] + 1, xs[1] - ws[1] + 1)
    X, W = t(x), t(w, requires_grad=True)
    (conv2d_1ch(X, W) * t(g)).sum().backward()
    np.testing.assert_allclose(W.grad.numpy(), ss.correlate2d(x, g, "valid"), atol=1e-12)      # eq. 4.1.12
    loops = np.array([[sum(g[i, j] * x[u + i, v + j] for i in range(g.shape[0]) for j in range(g.shape[1]))
                       for v in range(ws[1])] for u in range(ws[0])])                         # eq. 4.1.11
    np.testing.assert_allclose(W.grad.numpy(), loops, atol=1e-12)


@pytest.mark.parametrize("xs,ws", [((6, 5), (3, 2)), ((4, 4), (4, 1)), ((5, 7), (1, 1))])
def test_eq_4_1_13_and_4_1_14_input_gradient_is_rot180_W_wide_correlated_with_dY(xs, ws):
    """∂f/∂X = rot180(W) ⊗̃ ∂f/∂Y = rot180(∂f/∂Y) ⊗̃ W (a true full convolution of G and W)."""
    x, w = rand(*xs), rand(*ws)
    g = rand(xs[0] - ws[0] + 1, xs[1] - ws[1] + 1)
    X, W = t(x, requires_grad=True), t(w)
    (conv2d_1ch(X, W) * t(g)).sum().backward()
    np.testing.assert_allclose(X.grad.numpy(), ss.correlate2d(np.pad(g, ((ws[0] - 1,) * 2, (ws[1] - 1,) * 2)),
                                                              rot180(w), "valid"), atol=1e-12)  # rot180(W) ⊗̃ G
    np.testing.assert_allclose(X.grad.numpy(), ss.correlate2d(np.pad(w, ((g.shape[0] - 1,) * 2, (g.shape[1] - 1,) * 2)),
                                                              rot180(g), "valid"), atol=1e-12)  # rot180(G) ⊗̃ W
    np.testing.assert_allclose(X.grad.numpy(), ss.convolve2d(g, w, "full"), atol=1e-12)
    # eq. 4.1.13: Σ_ij w_{s−i, t−j} g_ij with w zero outside its U × V support
    wpad = lambda a, b: w[a, b] if 0 <= a < ws[0] and 0 <= b < ws[1] else 0.0  # noqa: E731
    loops = np.array([[sum(wpad(s - i, c - j) * g[i, j] for i in range(g.shape[0]) for j in range(g.shape[1]))
                       for c in range(xs[1])] for s in range(xs[0])])
    np.testing.assert_allclose(X.grad.numpy(), loops, atol=1e-12)


def test_eq_4_1_12_and_4_1_14_for_a_multichannel_layer():
    """With D input and P output maps and a batch, the same rules hold per (p, d) pair, summed:
    ∂f/∂W^{p,d} = Σ_n G^{n,p} ⊗ X^{n,d}  and  ∂f/∂X^{n,d} = Σ_p rot180(W^{p,d}) ⊗̃ G^{n,p}."""
    n, d, p = 2, 3, 4
    x, w = rand(n, d, 6, 5), rand(p, d, 3, 2)
    g = rand(n, p, 4, 4)
    X, W = t(x, requires_grad=True), t(w, requires_grad=True)
    (F.conv2d(X, W) * t(g)).sum().backward()
    dw = np.array([[sum(ss.correlate2d(x[b, j], g[b, i], "valid") for b in range(n)) for j in range(d)]
                   for i in range(p)])
    dx = np.array([[sum(ss.convolve2d(g[b, i], w[i, j], "full") for i in range(p)) for j in range(d)]
                   for b in range(n)])
    np.testing.assert_allclose(W.grad.numpy(), dw, atol=1e-12)
    np.testing.assert_allclose(X.grad.numpy(), dx, atol=1e-12)


# ---------------------------------------------------------------- 4.2.1–4.2.2: the conv layer
def test_4_2_1_local_connections_and_weight_sharing():
    """A 1-D conv layer with kernel K: M_l = M_{l−1} − K + 1 neurons, M_l × K connections (not
    M_l × M_{l−1}), every neuron using the same K weights, K + 1 parameters."""
    m, k = 9, 3
    w = rand(k)
    jac = dg.jacrev(lambda a: F.conv1d(a.reshape(1, 1, m), t(w).reshape(1, 1, k)).reshape(-1))(t(rand(m))).numpy()
    m_l = m - k + 1
    assert jac.shape == (m_l, m)
    assert np.count_nonzero(jac) == m_l * k < m_l * m
    for i in range(m_l):
        np.testing.assert_array_equal(jac[i, i:i + k], w)                  # shared weights, shifted
    assert k + 1 == w.size + 1                                             # w ∈ R^K and one bias


@pytest.mark.parametrize("p,d,u,v,groups", [(6, 3, 5, 5, 1), (16, 6, 5, 5, 1), (4, 1, 3, 2, 1), (8, 4, 3, 3, 2)])
def test_4_2_2_parameter_count(p, d, u, v, groups):
    """Weight (P, D, U, V) + bias (P,): P·D·U·V + P parameters (P·(D/groups)·U·V + P with groups); the
    layer maps D input feature maps to P output maps and its gradients have the parameters' shapes."""
    weight = t(rand(p, d // groups, u, v), requires_grad=True)
    bias = t(rand(p), requires_grad=True)
    x = t(rand(2, d, 8, 7))
    y = F.conv2d(x, weight, bias, groups=groups)
    assert y.shape == (2, p, 8 - u + 1, 7 - v + 1)
    assert weight.numel() + bias.numel() == p * (d // groups) * u * v + p
    if groups == 1:
        assert weight.numel() + bias.numel() == p * d * u * v + p
    y.sum().backward()
    assert weight.grad.shape == weight.shape and bias.grad.shape == bias.shape
    np.testing.assert_allclose(bias.grad.numpy(), np.full(p, 2 * (8 - u + 1) * (7 - v + 1)))
    # LeNet-5's C3-size layer: 16 maps from 6 with 5×5 kernels, fully connected: 16·6·25 + 16
    assert (p, d, u, v, groups) != (16, 6, 5, 5, 1) or weight.numel() + bias.numel() == 2416


# ---------------------------------------------------------------- 4.5.1: transposed convolution
def conv_matrix_1d(w, m, stride=1, padding=0, dilation=1):
    """C (M' × M) with z = C x for z = w ⊗ x: row i holds w[k] at column i·S + k·D − P."""
    k = len(w)
    m_out = F.conv_output_size(m, k, stride=stride, padding=padding, dilation=dilation)
    c = np.zeros((m_out, m))
    for i in range(m_out):
        for j in range(k):
            col = i * stride + j * dilation - padding
            if 0 <= col < m:
                c[i, col] += w[j]
    return c


def test_4_5_1_the_chapters_matrix_C():
    """A 5-vector and a 3-kernel give z = C x with the chapter's 3 × 5 band matrix; x = Cᵀ z = rot180(w) ⊗̃ z."""
    w1, w2, w3 = w = np.array([2.0, -3.0, 5.0])
    c = conv_matrix_1d(w, 5)
    np.testing.assert_array_equal(c, [[w1, w2, w3, 0, 0], [0, w1, w2, w3, 0], [0, 0, w1, w2, w3]])
    x, z = rand(5), rand(3)
    np.testing.assert_allclose(F.conv1d(t(x).reshape(1, 1, 5), t(w).reshape(1, 1, 3)).numpy().ravel(), c @ x)
    ct_z = F.conv_transpose1d(t(z).reshape(1, 1, 3), t(w).reshape(1, 1, 3)).numpy().ravel()
    np.testing.assert_allclose(ct_z, c.T @ z, atol=1e-12)
    wide = F.conv1d(t(z).reshape(1, 1, 3), t(w[::-1].copy()).reshape(1, 1, 3), padding="full").numpy().ravel()
    np.testing.assert_allclose(ct_z, wide, atol=1e-12)                     # rot180(w) ⊗̃ z
    assert ct_z.shape == (3 + 3 - 1,)                                      # M + K − 1


CASES_1D = [(m, k, s, p, d) for m, k, s, p, d in itertools.product((7, 8), (2, 3), (1, 2, 3), (0, 1), (1, 2))
            if m + 2 * p >= (k - 1) * d + 1]


@pytest.mark.parametrize("m,k,s,p,d", CASES_1D)
def test_4_5_1_transposed_convolution_is_multiplying_by_C_transpose(m, k, s, p, d):
    """conv1d is C, its backward and conv_transpose1d are Cᵀ — for stride 1 and 2 (and 3), with padding
    and dilation; output_padding picks the M that C had."""
    w, x = rand(k), rand(m)
    c = conv_matrix_1d(w, m, s, p, d)
    m_out = c.shape[0]
    z = rand(m_out)
    W = t(w).reshape(1, 1, k)
    X = t(x, requires_grad=True)
    y = F.conv1d(X.reshape(1, 1, m), W, stride=s, padding=p, dilation=d).reshape(-1)
    np.testing.assert_allclose(y.numpy(), c @ x, atol=1e-12)
    (y * t(z)).sum().backward()
    np.testing.assert_allclose(X.grad.numpy(), c.T @ z, atol=1e-12)          # backprop is the transpose
    extra = m - ((m_out - 1) * s - 2 * p + d * (k - 1) + 1)
    out = F.conv_transpose1d(t(z).reshape(1, 1, m_out), W, stride=s, padding=p, output_padding=extra, dilation=d)
    np.testing.assert_allclose(out.numpy().ravel(), c.T @ z, atol=1e-12)


@pytest.mark.parametrize("stride", [1, 2, (2, 3)])
def test_4_5_1_transposed_convolution_2d_is_C_transpose(stride):
    m, n, u, v = 6, 7, 3, 2
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    w = rand(u, v)
    mo, no = (m - u) // sh + 1, (n - v) // sw + 1
    c = np.zeros((mo * no, m * n))
    for i, j, a, b in itertools.product(range(mo), range(no), range(u), range(v)):
        c[i * no + j, (i * sh + a) * n + (j * sw + b)] += w[a, b]
    x, z = rand(m, n), rand(mo, no)
    W = t(w).reshape(1, 1, u, v)
    y = F.conv2d(t(x).reshape(1, 1, m, n), W, stride=stride)
    np.testing.assert_allclose(y.numpy().ravel(), c @ x.ravel(), atol=1e-12)
    extra = (m - u) % sh, (n - v) % sw
    out = F.conv_transpose2d(t(z).reshape(1, 1, mo, no), W, stride=stride, output_padding=extra)
    np.testing.assert_allclose(out.numpy().reshape(m, n), (c.T @ z.ravel()).reshape(m, n), atol=1e-12)


def insert_zeros(z, n, axes=None):
    """n zeros between neighbouring elements along ``axes`` (all by default)."""
    axes = range(z.ndim) if axes is None else axes
    for ax in axes:
        shape = list(z.shape)
        shape[ax] = (z.shape[ax] - 1) * (n + 1) + 1
        out = np.zeros(shape)
        idx = [slice(None)] * z.ndim
        idx[ax] = slice(None, None, n + 1)
        out[tuple(idx)] = z
        z = out
    return z


@pytest.mark.parametrize("m,k", [(4, 3), (5, 2), (1, 3), (3, 1)])
@pytest.mark.parametrize("s", [1, 2, 3])
def test_4_5_1_fractionally_strided_is_zero_insertion_then_wide_convolution(m, k, s):
    """Stride-S transposed conv = insert S − 1 zeros between the inputs, pad K − 1 zeros at both ends and
    convolve with stride 1 (by rot180(w) ⊗̃ …): S(M − 1) + K outputs ((D + 1)(M − 1) + K with D = S − 1)."""
    z, w = rand(m), rand(k)
    out = F.conv_transpose1d(t(z).reshape(1, 1, m), t(w).reshape(1, 1, k), stride=s).numpy().ravel()
    assert out.shape == (s * (m - 1) + k,) == ((s - 1 + 1) * (m - 1) + k,)
    up = insert_zeros(z, s - 1)
    wide = F.conv1d(t(np.pad(up, k - 1)).reshape(1, 1, -1), t(w[::-1].copy()).reshape(1, 1, k)).numpy().ravel()
    np.testing.assert_allclose(out, wide, atol=1e-12)
    np.testing.assert_allclose(out, ss.convolve(up, w, "full"), atol=1e-12)
    np.testing.assert_allclose(out, S.convolve1d(up, w, "full").numpy(), atol=1e-12)


def test_4_5_1_fractionally_strided_2d():
    z, w = rand(3, 4), rand(3, 2)
    for stride in ((2, 2), (2, 3), (1, 3)):
        out = F.conv_transpose2d(t(z).reshape(1, 1, 3, 4), t(w).reshape(1, 1, 3, 2), stride=stride).numpy()[0, 0]
        up = insert_zeros(insert_zeros(z, stride[0] - 1, [0]), stride[1] - 1, [1])
        assert out.shape == (stride[0] * 2 + 3, stride[1] * 3 + 2)
        np.testing.assert_allclose(out, ss.convolve2d(up, w, "full"), atol=1e-12)


# ---------------------------------------------------------------- 4.5.2: dilated convolution
@pytest.mark.parametrize("k,d", [(3, 1), (3, 2), (2, 3), (4, 2), (1, 5)])
def test_4_5_2_dilated_kernel_size_and_explicit_dilation(k, d):
    """K' = K + (K − 1)(D − 1); a dilated conv is a conv with the kernel after inserting D − 1 holes."""
    k_eff = k + (k - 1) * (d - 1)
    w = rand(2, 3, k)
    w_dil = insert_zeros(w, d - 1, axes=[2])
    assert w_dil.shape[-1] == k_eff
    m = 12
    x = rand(2, 3, m)
    assert F.conv_output_size(m, k, dilation=d) == m - k_eff + 1
    for padding, stride in ((0, 1), (2, 1), (1, 2), ("same", 1), ("full", 1)):
        a = F.conv1d(t(x), t(w), stride=stride, padding=padding, dilation=d).numpy()
        b = F.conv1d(t(x), t(w_dil), stride=stride, padding=padding).numpy()
        np.testing.assert_allclose(a, b, atol=1e-12)
    # transposed conv with dilation = with the explicitly dilated kernel
    y = rand(2, 2, 5)
    np.testing.assert_allclose(F.conv_transpose1d(t(y), t(w), dilation=d).numpy(),
                               F.conv_transpose1d(t(y), t(w_dil)).numpy(), atol=1e-12)


def test_4_5_2_dilated_conv_2d():
    w = rand(4, 2, 3, 2)
    x = rand(1, 2, 11, 9)
    for dil in ((2, 2), (3, 1), (1, 4)):
        w_dil = insert_zeros(insert_zeros(w, dil[0] - 1, [2]), dil[1] - 1, [3])
        assert w_dil.shape[2:] == (3 + 2 * (dil[0] - 1), 2 + (dil[1] - 1))
        np.testing.assert_allclose(F.conv2d(t(x), t(w), dilation=dil, padding=1).numpy(),
                                   F.conv2d(t(x), t(w_dil), padding=1).numpy(), atol=1e-12)
    # one output's receptive field grows to K' × K' with the same 9 weights (seed 4.5.2)
    x1 = t(rand(1, 1, 7, 7), requires_grad=True)
    F.conv2d(x1, t(np.ones((1, 1, 3, 3))), dilation=3).sum().backward()
    assert F.conv_output_size(7, 3, dilation=3) == 1
    np.testing.assert_array_equal(np.nonzero(x1.grad.numpy()[0, 0])[0], np.repeat([0, 3, 6], 3))
