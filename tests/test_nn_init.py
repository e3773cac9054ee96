"""deepgrad.nn.init: gains and fans as torch.nn.init computes them, the distributions each function
draws from (bounds, means, standard deviations checked statistically on large tensors),
in-place semantics on Parameters, and reproducibility with deepgrad's seeded generator."""
import math

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn
from deepgrad.nn import init

torch = pytest.importorskip("torch")


def param(*shape, dtype=dg.float32):
    return nn.Parameter(np.zeros(shape, dtype=dtype))


def check_uniform(values, lo, hi, what=""):
    v = np.asarray(values, dtype=np.float64).ravel()
    width = hi - lo
    assert v.min() >= lo and v.max() <= hi, f"{what}: values outside [{lo}, {hi}]"
    assert v.min() < lo + 0.01 * width and v.max() > hi - 0.01 * width, f"{what}: does not fill [{lo}, {hi}]"
    sd = width / math.sqrt(12)
    assert abs(v.mean() - (lo + hi) / 2) < 5 * sd / math.sqrt(v.size), f"{what}: mean {v.mean()}"
    np.testing.assert_allclose(v.std(), sd, rtol=0.02, err_msg=f"{what}: std")


def check_normal(values, mean, std, what=""):
    v = np.asarray(values, dtype=np.float64).ravel()
    assert abs(v.mean() - mean) < 5 * std / math.sqrt(v.size), f"{what}: mean {v.mean()}"
    np.testing.assert_allclose(v.std(), std, rtol=0.02, err_msg=f"{what}: std")
    # Gaussian tails: about 4.55% of the mass beyond 2 standard deviations
    assert abs((np.abs(v - mean) > 2 * std).mean() - 0.0455) < 0.005, f"{what}: not Gaussian"


# ------------------------------------------------------------------------------ gains and fans
@pytest.mark.parametrize("nonlinearity, param_", [("linear", None), ("conv1d", None), ("conv2d", None),
                                                  ("conv3d", None),
                                                  ("conv_transpose2d", None), ("sigmoid", None), ("tanh", None),
                                                  ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
                                                  ("leaky_relu", 3), ("leaky_relu", math.sqrt(5)), ("selu", None)])
def test_calculate_gain_matches_torch(nonlinearity, param_):
    expected = torch.nn.init.calculate_gain(nonlinearity, param_)
    assert init.calculate_gain(nonlinearity, param_) == pytest.approx(expected)


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)


@pytest.mark.parametrize("shape", [(3, 4), (6, 3, 5, 5), (4, 2, 3), (2, 3, 2, 2, 2), (7, 1)])
def test_fans_match_torch(shape):
    assert init._calculate_fan_in_and_fan_out(param(*shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


def test_fans_need_two_dims():
    for fn in (init._calculate_fan_in_and_fan_out, init.xavier_uniform_, init.kaiming_normal_):
        with pytest.raises(ValueError, match="fewer than 2 dimensions"):
            fn(param(5))
    with pytest.raises(ValueError, match="2 or more dimensions"):
        init.orthogonal_(param(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(param(3, 3), mode="fan_avg")


# ------------------------------------------------------------------------------ distributions
def test_uniform_and_normal():
    check_uniform(init.uniform_(param(300, 400), -0.5, 2.0).numpy(), -0.5, 2.0, "uniform_")
    check_uniform(init.uniform_(param(300, 400)).numpy(), 0.0, 1.0, "uniform_ default U(0, 1)")
    check_normal(init.normal_(param(300, 400), 1.5, 0.3).numpy(), 1.5, 0.3, "normal_")
    check_normal(init.normal_(param(300, 400)).numpy(), 0.0, 1.0, "normal_ default N(0, 1)")


def test_constant_zeros_ones_eye():
    np.testing.assert_array_equal(init.constant_(param(2, 3), 0.25).numpy(), 0.25)
    np.testing.assert_array_equal(init.zeros_(init.normal_(param(2, 3))).numpy(), 0)
    np.testing.assert_array_equal(init.ones_(param(4)).numpy(), 1)
    np.testing.assert_array_equal(init.eye_(param(3, 5)).numpy(), np.eye(3, 5))
    t = dg.zeros((), dtype=dg.int64)
    init.constant_(t, 7)
    assert t.item() == 7 and t.dtype == dg.int64


@pytest.mark.parametrize("shape", [(300, 200), (64, 32, 3, 3)])
@pytest.mark.parametrize("gain", [1.0, 5 / 3])
def test_xavier(shape, gain):
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(param(*shape))
    a = gain * math.sqrt(6 / (fan_in + fan_out))
    check_uniform(init.xavier_uniform_(param(*shape), gain).numpy(), -a, a, "xavier_uniform_")
    check_normal(init.xavier_normal_(param(*shape), gain=gain).numpy(), 0, gain * math.sqrt(2 / (fan_in + fan_out)),
                 "xavier_normal_")


@pytest.mark.parametrize("a, mode, nonlinearity", [(0, "fan_in", "leaky_relu"), (0, "fan_in", "relu"),
                                                   (0.2, "fan_out", "leaky_relu"),
                                                   (math.sqrt(5), "fan_in", "leaky_relu"),
                                                   (0, "fan_out", "tanh"), (0, "FAN_IN", "linear")])
def test_kaiming(a, mode, nonlinearity):
    shape = (128, 16, 5, 5)
    fan = 16 * 25 if mode.lower() == "fan_in" else 128 * 25
    std = torch.nn.init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    w = init.kaiming_uniform_(param(*shape), a=a, mode=mode, nonlinearity=nonlinearity)
    check_uniform(w.numpy(), -math.sqrt(3) * std, math.sqrt(3) * std, "kaiming_uniform_")
    w = init.kaiming_normal_(param(*shape), a=a, mode=mode, nonlinearity=nonlinearity)
    check_normal(w.numpy(), 0, std, "kaiming_normal_")


def test_kaiming_uniform_sqrt5_is_torch_layer_default():
    """kaiming_uniform_(a=sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), torch's Linear/Conv default."""
    w = init.kaiming_uniform_(param(200, 300), a=math.sqrt(5))
    check_uniform(w.numpy(), -1 / math.sqrt(300), 1 / math.sqrt(300))


def test_kaiming_zero_element_tensor_is_a_no_op_with_warning():
    with pytest.warns(UserWarning, match="zero-element"):
        assert init.kaiming_uniform_(param(0, 3)).shape == (0, 3)


@pytest.mark.parametrize("shape", [(6, 10), (10, 6), (8, 8), (6, 2, 3, 3), (5, 40)])
@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_orthogonal(shape, gain):
    w = init.orthogonal_(param(*shape, dtype=dg.float64), gain=gain).numpy().reshape(shape[0], -1)
    rows, cols = w.shape
    gram = w @ w.T if rows <= cols else w.T @ w
    np.testing.assert_allclose(gram, gain ** 2 * np.eye(min(rows, cols)), atol=1e-12)


def test_orthogonal_is_haar_distributed():
    """With the sign fix, entries of a random orthogonal n×n matrix have mean 0 and variance 1/n (no bias
    towards a positive diagonal, which plain QR would give)."""
    diag = np.stack([np.diag(init.orthogonal_(param(4, 4, dtype=dg.float64)).numpy()) for _ in range(2000)])
    assert abs(diag.mean()) < 0.03
    np.testing.assert_allclose(diag.var(), 1 / 4, rtol=0.1)


# ------------------------------------------------------------------------------ in place, seeds
def test_in_place_on_parameters():
    p = param(4, 3, dtype=dg.float64)
    buffer = p.array
    for fn in (init.uniform_, init.normal_, init.xavier_uniform_, init.xavier_normal_, init.kaiming_uniform_,
               init.kaiming_normal_, init.orthogonal_, init.zeros_, init.ones_, init.eye_):
        out = fn(p)
        assert out is p and p.array is buffer and p.dtype == dg.float64
        assert p.is_leaf and p.requires_grad and p.grad is None
    init.normal_(p)
    (p * 2).sum().backward()                        # still an ordinary trainable leaf
    np.testing.assert_array_equal(p.grad.numpy(), 2)


def test_init_on_a_layer_and_through_apply():
    lin = nn.Linear(20, 30)
    init.xavier_uniform_(lin.weight)
    init.zeros_(lin.bias)
    assert np.abs(lin.weight.numpy()).max() <= math.sqrt(6 / 50) and (lin.bias.numpy() == 0).all()

    def reinit(m):
        if isinstance(m, nn.Conv2d):
            init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            init.constant_(m.weight, 0.5)
    net = nn.Sequential(nn.Conv2d(3, 64, 3), nn.BatchNorm2d(64), nn.ReLU()).apply(reinit)
    np.testing.assert_allclose(net[0].weight.numpy().std(), math.sqrt(2 / (64 * 9)), rtol=0.05)
    np.testing.assert_array_equal(net[1].weight.numpy(), 0.5)


@pytest.mark.parametrize("fn", [init.uniform_, init.normal_, init.xavier_uniform_, init.xavier_normal_,
                                init.kaiming_uniform_, init.kaiming_normal_, init.orthogonal_])
def test_reproducible_with_manual_seed_and_generator(fn):
    dg.manual_seed(42)
    a = fn(param(5, 7)).numpy().copy()
    b = fn(param(5, 7)).numpy().copy()
    dg.manual_seed(42)
    np.testing.assert_array_equal(fn(param(5, 7)).numpy(), a)
    assert not np.array_equal(a, b)
    g1, g2 = dg.Generator(3), dg.Generator(3)
    np.testing.assert_array_equal(fn(param(5, 7), generator=g1).numpy(), fn(param(5, 7), generator=g2).numpy())


def test_argument_errors():
    with pytest.raises(ValueError, match="std >= 0"):
        init.normal_(param(2, 2), std=-1.0)
    with pytest.raises(ValueError, match="a <= b"):
        init.uniform_(param(2, 2), 1.0, 0.0)


def test_trunc_normal_stays_in_its_absolute_bounds_with_the_truncated_moments():
    """torch.nn.init.trunc_normal_: N(mean, std²) cut to [a, b] (absolute bounds): here N(1, 1) on [0.5, 2],
    whose mean and variance the truncated-normal formulas give (checked against torch's own sampler)."""
    from math import erf, exp, pi, sqrt
    t = nn.init.trunc_normal_(dg.zeros(200_000, dtype=dg.float64), mean=1.0, std=1.0, a=0.5, b=2.0,
                              generator=dg.Generator(0))
    x = t.numpy()
    assert x.min() >= 0.5 and x.max() <= 2.0
    phi = lambda z: exp(-z * z / 2) / sqrt(2 * pi)          # noqa: E731
    cdf = lambda z: 0.5 * (1 + erf(z / sqrt(2)))            # noqa: E731
    al, be = -0.5, 1.0
    z = cdf(be) - cdf(al)
    mean = 1.0 + (phi(al) - phi(be)) / z
    var = 1 + (al * phi(al) - be * phi(be)) / z - ((phi(al) - phi(be)) / z) ** 2
    assert abs(x.mean() - mean) < 0.005 and abs(x.var() - var) < 0.005
    ref = torch.nn.init.trunc_normal_(torch.zeros(200_000, dtype=torch.float64), 1.0, 1.0, 0.5, 2.0).numpy()
    assert abs(ref.mean() - mean) < 0.005 and abs(ref.var() - var) < 0.005
    with pytest.raises(ValueError, match="a < b"):
        nn.init.trunc_normal_(dg.zeros(3), a=1.0, b=0.0)


def test_skipped_leaves_tensors_as_they_are_and_ends_with_its_block():
    with init.skipped():
        layer = nn.Linear(300, 200)
        w = init.orthogonal_(dg.ones(3, 3))
        t = init.trunc_normal_(dg.full((4,), 7.0))
    assert not layer.weight.numpy().any() and not layer.bias.numpy().any()
    assert (w.numpy() == 1).all() and (t.numpy() == 7).all()
    assert nn.Linear(300, 200).weight.numpy().any()          # drawn again after the block
