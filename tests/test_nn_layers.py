"""The layers of deepgrad.nn against torch.nn: the same weights (loaded through load_state_dict from
the torch module's state_dict, so key names must match torch's), the same outputs and the same
gradients for the input and every parameter (float32, 1e-5 relative); BatchNorm running statistics
over several steps and eval mode; reprs identical to torch's; default initialisation
distributions; parameter counts (seed 4.2.2: P·D·U·V + P); dropout; and the special layers
(LeNet's trainable subsampling, residual units, highway layers) against hand-written torch equivalents.
"""
import math
import warnings

import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import nn

torch = pytest.importorskip("torch")
tnn = torch.nn
tF = torch.nn.functional

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")   # torch.jit inside torch

RTOL = 1e-5


# --------------------------------------------------------------------------------------------
# harness
# --------------------------------------------------------------------------------------------

def assert_close(actual, expected, what, rtol=RTOL):
    actual = actual.numpy() if isinstance(actual, dg.Tensor) else np.asarray(actual)
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != torch {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != torch {expected.dtype}"
    atol = rtol * max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def torch_state(tm):
    return {k: v.detach().numpy().copy() for k, v in tm.state_dict().items()}


def randomize(tm, seed=0):
    """Give every torch parameter (and BatchNorm running statistic) random values, so a test does not
    pass by accident on ones and zeros."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in tm.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5 + (1.0 if name.endswith("weight") and p.ndim == 1 else 0.0))
        for name, b in tm.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.3)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)
    return tm


def check_against_torch(dm, tm, x, train=True, randomize_params=True, seed=0, call=None):
    """Forward and backward (random cotangent) of a deepgrad and a torch module holding the same
    weights; compares outputs, input gradients, parameter gradients (names and order as torch's)
    and, afterwards, the whole state_dict (buffers updated in training)."""
    if randomize_params:
        randomize(tm, seed)
    missing, unexpected = dm.load_state_dict(torch_state(tm))
    assert missing == [] and unexpected == []
    dm.train(train)
    tm.train(train)
    call = call or (lambda m, inp: m(inp))
    dx = dg.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    d_out, t_out = call(dm, dx), call(tm, tx)
    if isinstance(t_out, tuple):        # (values, indices)
        assert_close(d_out[1], t_out[1], "indices")
        d_out, t_out = d_out[0], t_out[0]
    assert_close(d_out, t_out, "forward")
    cot = np.random.default_rng(seed + 1).standard_normal(t_out.shape).astype(np.float32)
    (d_out * dg.tensor(cot)).sum().backward()
    (t_out * torch.from_numpy(cot)).sum().backward()
    assert_close(dx.grad, tx.grad, "input gradient")
    d_params, t_params = list(dm.named_parameters()), list(tm.named_parameters())
    assert [n for n, _ in d_params] == [n for n, _ in t_params]
    for (name, dp), (_, tp) in zip(d_params, t_params):
        assert_close(dp.grad, tp.grad, f"gradient of {name}")
    d_state, t_state = dm.state_dict(), tm.state_dict()
    assert list(d_state) == list(t_state)
    for k in t_state:
        assert_close(d_state[k], t_state[k], f"state {k}")
    return d_out, t_out


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# --------------------------------------------------------------------------------------------
# every layer against torch: outputs and gradients (input and parameters)
# --------------------------------------------------------------------------------------------

# (id, deepgrad constructor, torch constructor, input shape): the same arguments for both
LAYERS = [
    ("linear", lambda m: m.Linear(5, 3), (4, 5)),
    ("linear-nobias-3d", lambda m: m.Linear(5, 3, bias=False), (2, 4, 5)),
    ("linear-1d-input", lambda m: m.Linear(5, 3), (5,)),
    ("conv1d", lambda m: m.Conv1d(3, 4, 3), (2, 3, 10)),
    ("conv1d-strided-dilated-groups", lambda m: m.Conv1d(4, 6, 3, stride=2, padding=1, dilation=2, groups=2),
     (2, 4, 11)),
    ("conv1d-same", lambda m: m.Conv1d(3, 4, 4, padding="same", dilation=2), (2, 3, 9)),
    ("conv1d-valid-unbatched", lambda m: m.Conv1d(3, 4, 3, padding="valid"), (3, 9)),
    ("conv2d", lambda m: m.Conv2d(3, 4, 3), (2, 3, 8, 8)),
    ("conv2d-general", lambda m: m.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2,
                                          bias=False), (2, 4, 9, 8)),
    ("conv2d-same", lambda m: m.Conv2d(3, 4, 3, padding="same"), (2, 3, 7, 6)),
    ("conv2d-depthwise", lambda m: m.Conv2d(3, 6, 3, padding=1, groups=3), (2, 3, 6, 6)),
    ("conv2d-unbatched", lambda m: m.Conv2d(3, 2, 2, stride=2), (3, 6, 6)),
    ("conv3d", lambda m: m.Conv3d(2, 3, 2, padding=1), (2, 2, 3, 4, 3)),
    ("convT1d", lambda m: m.ConvTranspose1d(3, 4, 3, stride=2, padding=1, output_padding=1), (2, 3, 7)),
    ("convT2d", lambda m: m.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2), (2, 4, 5, 5)),
    ("convT2d-dilated", lambda m: m.ConvTranspose2d(3, 2, (2, 3), stride=(2, 1), dilation=(1, 2), bias=False),
     (2, 3, 4, 5)),
    ("convT3d", lambda m: m.ConvTranspose3d(2, 3, 2, stride=2), (1, 2, 2, 3, 2)),
    ("maxpool1d", lambda m: m.MaxPool1d(3, 2, 1), (2, 3, 10)),
    ("maxpool2d", lambda m: m.MaxPool2d(2), (2, 3, 8, 8)),
    ("maxpool2d-ceil-dilated", lambda m: m.MaxPool2d(3, 2, 1, dilation=(1, 2), ceil_mode=True), (2, 3, 9, 10)),
    ("maxpool2d-indices", lambda m: m.MaxPool2d(2, return_indices=True), (2, 3, 6, 6)),
    ("avgpool1d", lambda m: m.AvgPool1d(3, 2, 1, count_include_pad=False), (2, 3, 10)),
    ("avgpool2d", lambda m: m.AvgPool2d(2), (2, 3, 8, 8)),
    ("avgpool2d-general", lambda m: m.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False), (2, 3, 9, 8)),
    ("avgpool2d-divisor", lambda m: m.AvgPool2d(2, divisor_override=3), (2, 3, 6, 6)),
    ("adaptiveavg1d", lambda m: m.AdaptiveAvgPool1d(4), (2, 3, 10)),
    ("adaptiveavg2d", lambda m: m.AdaptiveAvgPool2d(3), (2, 3, 7, 8)),
    ("adaptiveavg2d-none", lambda m: m.AdaptiveAvgPool2d((3, None)), (2, 3, 7, 5)),
    ("adaptivemax1d", lambda m: m.AdaptiveMaxPool1d(4), (2, 3, 10)),
    ("adaptivemax2d", lambda m: m.AdaptiveMaxPool2d((2, 3), return_indices=True), (2, 3, 7, 8)),
    ("batchnorm1d-2d", lambda m: m.BatchNorm1d(4), (8, 4)),
    ("batchnorm1d-3d", lambda m: m.BatchNorm1d(4, momentum=0.3), (5, 4, 6)),
    ("batchnorm2d", lambda m: m.BatchNorm2d(3), (4, 3, 5, 5)),
    ("batchnorm2d-noaffine", lambda m: m.BatchNorm2d(3, affine=False), (4, 3, 5, 5)),
    ("batchnorm2d-nobias", lambda m: m.BatchNorm2d(3, bias=False), (4, 3, 5, 5)),
    ("batchnorm2d-untracked", lambda m: m.BatchNorm2d(3, track_running_stats=False), (4, 3, 5, 5)),
    ("batchnorm3d", lambda m: m.BatchNorm3d(2), (2, 2, 3, 3, 3)),
    ("layernorm", lambda m: m.LayerNorm(6), (3, 6)),
    ("layernorm-2d", lambda m: m.LayerNorm((4, 5)), (2, 3, 4, 5)),
    ("layernorm-noaffine", lambda m: m.LayerNorm(6, elementwise_affine=False), (3, 6)),
    ("layernorm-nobias", lambda m: m.LayerNorm(6, eps=1e-3, bias=False), (3, 6)),
    ("groupnorm", lambda m: m.GroupNorm(2, 4), (3, 4, 5, 5)),
    ("groupnorm-noaffine", lambda m: m.GroupNorm(3, 6, affine=False), (2, 6, 4)),
    ("flatten", lambda m: m.Flatten(), (2, 3, 4, 5)),
    ("flatten-range", lambda m: m.Flatten(0, 2), (2, 3, 4, 5)),
    ("unflatten", lambda m: m.Unflatten(1, (2, 3)), (4, 6, 5)),
    ("identity", lambda m: m.Identity(3, unused=True), (2, 3)),
    ("relu", lambda m: m.ReLU(), (3, 7)),
    ("leakyrelu", lambda m: m.LeakyReLU(0.2), (3, 7)),
    ("elu", lambda m: m.ELU(0.7), (3, 7)),
    ("gelu", lambda m: m.GELU(), (3, 7)),
    ("gelu-tanh", lambda m: m.GELU(approximate="tanh"), (3, 7)),
    ("sigmoid", lambda m: m.Sigmoid(), (3, 7)),
    ("tanh", lambda m: m.Tanh(), (3, 7)),
    ("softplus", lambda m: m.Softplus(beta=2.0, threshold=3.0), (3, 7)),
    ("softmax", lambda m: m.Softmax(dim=1), (3, 4, 5)),
    ("logsoftmax", lambda m: m.LogSoftmax(dim=-1), (3, 4, 5)),
]


@pytest.mark.parametrize("make, shape", [c[1:] for c in LAYERS], ids=[c[0] for c in LAYERS])
def test_layer_matches_torch(make, shape):
    check_against_torch(make(nn), make(tnn), rand(*shape))


@pytest.mark.parametrize("make, shape", [c[1:] for c in LAYERS if "norm" in c[0]],
                         ids=[c[0] for c in LAYERS if "norm" in c[0]])
def test_normalization_eval_mode_matches_torch(make, shape):
    check_against_torch(make(nn), make(tnn), rand(*shape, seed=3), train=False)


def test_conv_full_padding_is_wide_convolution():
    """padding='full' (the chapter's wide convolution) is padding K'-1 on each side in torch."""
    dm = nn.Conv2d(2, 3, (2, 3), dilation=(2, 1), padding="full")
    tm = tnn.Conv2d(2, 3, (2, 3), dilation=(2, 1), padding=(2, 2))
    d_out, _ = check_against_torch(dm, tm, rand(2, 2, 5, 6))
    assert d_out.shape == (2, 3, 5 + 2, 6 + 2)


@pytest.mark.parametrize("output_size", [(9, 10), (2, 3, 10, 9), [10, 10]])
def test_conv_transpose_output_size(output_size):
    dm, tm = nn.ConvTranspose2d(3, 3, 3, stride=2, padding=1), tnn.ConvTranspose2d(3, 3, 3, stride=2, padding=1)
    call = lambda m, x: m(x, output_size=output_size)   # noqa: E731
    d_out, _ = check_against_torch(dm, tm, rand(2, 3, 5, 5), call=call)
    assert d_out.shape[-2:] == tuple(output_size)[-2:]
    with pytest.raises(ValueError, match="valid sizes range from"):
        dm(dg.tensor(rand(2, 3, 5, 5)), output_size=(12, 9))


def test_max_unpool_layers_match_torch():
    x = rand(2, 3, 6, 8)
    d_y, d_idx = nn.MaxPool2d(2, return_indices=True)(dg.tensor(x))
    t_y, t_idx = tnn.MaxPool2d(2, return_indices=True)(torch.tensor(x))
    assert_close(nn.MaxUnpool2d(2)(d_y, d_idx), tnn.MaxUnpool2d(2)(t_y, t_idx), "unpool2d")
    x1 = rand(2, 3, 9)
    d_y, d_idx = nn.MaxPool1d(3, return_indices=True)(dg.tensor(x1))
    t_y, t_idx = tnn.MaxPool1d(3, return_indices=True)(torch.tensor(x1))
    assert_close(nn.MaxUnpool1d(3)(d_y, d_idx, output_size=(10,)), tnn.MaxUnpool1d(3)(t_y, t_idx, output_size=(10,)),
                 "unpool1d")


def test_softmax_implicit_dim_like_torch():
    for shape in [(5,), (3, 5), (2, 3, 4), (2, 3, 4, 2)]:
        x = rand(*shape)
        with pytest.warns(UserWarning, match="Implicit dimension"):
            d = nn.Softmax()(dg.tensor(x))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = tnn.Softmax()(torch.tensor(x))
            t_log = tnn.LogSoftmax()(torch.tensor(x))
        assert_close(d, t, f"softmax {shape}")
        with pytest.warns(UserWarning):
            assert_close(nn.LogSoftmax()(dg.tensor(x)), t_log, f"log_softmax {shape}")


def test_float64_layers_keep_dtype():
    dm = nn.Linear(3, 2, dtype=dg.float64)
    assert dm.weight.dtype == dg.float64 and dm.bias.dtype == dg.float64
    bn = nn.BatchNorm2d(2, dtype="float64")
    assert bn.running_mean.dtype == dg.float64 and bn.num_batches_tracked.dtype == dg.int64
    assert dm(dg.ones(4, 3, dtype=dg.float64)).dtype == dg.float64
    with pytest.raises(RuntimeError, match="device 'cuda' is not available"):
        nn.Linear(3, 2, device="cuda")


# --------------------------------------------------------------------------------------------
# BatchNorm: running statistics, momentum, eval mode
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("cls, shape", [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)),
                                        ("BatchNorm2d", (4, 3, 4, 5))])
def test_batchnorm_running_stats_over_steps(cls, shape, momentum):
    dm, tm = getattr(nn, cls)(3, momentum=momentum), getattr(tnn, cls)(3, momentum=momentum)
    randomize(tm)
    dm.load_state_dict(torch_state(tm))
    for step in range(4):
        x = rand(*shape, seed=10 + step) * (step + 1) + step   # batches with different statistics
        assert_close(dm(dg.tensor(x)), tm(torch.tensor(x)), f"train output, step {step}")
        assert_close(dm.running_mean, tm.running_mean, f"running_mean, step {step}")
        assert_close(dm.running_var, tm.running_var, f"running_var, step {step}")
        assert int(dm.num_batches_tracked.item()) == int(tm.num_batches_tracked) == step + 1
    dm.eval()
    tm.eval()
    x = rand(*shape, seed=99)
    assert_close(dm(dg.tensor(x)), tm(torch.tensor(x)), "eval output")
    assert int(dm.num_batches_tracked.item()) == 4            # eval mode does not count
    assert_close(dm.running_mean, tm.running_mean, "running_mean unchanged in eval")


def test_batchnorm_cumulative_average_is_plain_mean():
    """momentum=None: running_mean is the plain average of the batch means seen so far."""
    bn = nn.BatchNorm1d(2, momentum=None)
    means = []
    for step in range(5):
        x = rand(8, 2, seed=step) + step
        means.append(x.mean(axis=0))
        bn(dg.tensor(x))
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean(means, axis=0), rtol=1e-5)


def test_batchnorm_eval_uses_running_stats_and_untracked_uses_batch():
    bn = nn.BatchNorm2d(2)
    bn.running_mean.array[...] = [1.0, -2.0]
    bn.running_var.array[...] = [4.0, 0.25]
    bn.eval()
    x = rand(3, 2, 2, 2)
    mean, var = np.array([1.0, -2.0]).reshape(1, 2, 1, 1), np.array([4.0, 0.25]).reshape(1, 2, 1, 1)
    expected = (x - mean) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(bn(dg.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)
    free = nn.BatchNorm2d(2, track_running_stats=False).eval()
    assert free.running_mean is None and "running_mean" not in free.state_dict()
    y = free(dg.tensor(x)).numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)   # batch statistics even in eval


def test_batchnorm_errors():
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        nn.BatchNorm2d(3)(dg.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        nn.BatchNorm1d(3)(dg.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(dg.zeros(1, 3))
    nn.BatchNorm1d(3).eval()(dg.zeros(1, 3))                # fine in eval mode
    with pytest.raises(ValueError, match=r"running_mean must have shape \(3,\)"):
        F.batch_norm(dg.zeros(2, 3), dg.zeros(4), dg.ones(3))


# --------------------------------------------------------------------------------------------
# functional: forward mode, second order
# --------------------------------------------------------------------------------------------

FUNCTIONAL = [
    ("linear", lambda f, x, w, b: f.linear(x, w, b), (3, 4), (5, 4), (5,)),
    ("batch_norm-train", lambda f, x, w, b: f.batch_norm(x, None, None, w, b, training=True), (4, 3, 2), (3,), (3,)),
    ("layer_norm", lambda f, x, w, b: f.layer_norm(x, (2, 3), w, b), (2, 2, 3), (2, 3), (2, 3)),
    ("group_norm", lambda f, x, w, b: f.group_norm(x, 2, w, b), (2, 4, 3), (4,), (4,)),
]


@pytest.mark.parametrize("fn, xs, ws, bs", [c[1:] for c in FUNCTIONAL], ids=[c[0] for c in FUNCTIONAL])
def test_functional_jvp_matches_torch(fn, xs, ws, bs):
    rng = np.random.default_rng(0)
    primals = [rng.standard_normal(s).astype(np.float32) for s in (xs, ws, bs)]
    tangents = [rng.standard_normal(s).astype(np.float32) for s in (xs, ws, bs)]
    d_out, d_tan = dg.jvp(lambda *a: fn(F, *a), tuple(map(dg.tensor, primals)), tuple(map(dg.tensor, tangents)))
    t_out, t_tan = torch.func.jvp(lambda *a: fn(tF, *a), tuple(map(torch.tensor, primals)),
                                  tuple(map(torch.tensor, tangents)))
    assert_close(d_out, t_out, "forward")
    assert_close(d_tan, t_tan, "jvp", rtol=1e-4)


@pytest.mark.parametrize("fn, xs, ws, bs", [c[1:] for c in FUNCTIONAL], ids=[c[0] for c in FUNCTIONAL])
def test_functional_second_order(fn, xs, ws, bs):
    rng = np.random.default_rng(1)
    inputs = tuple(dg.tensor(rng.standard_normal(s), dtype=dg.float64) for s in (xs, ws, bs))
    assert dg.gradcheck(lambda *a: fn(F, *a), inputs)
    assert dg.gradgradcheck(lambda *a: fn(F, *a), inputs)


def test_batch_norm_eval_second_order_and_running_stats_not_differentiated():
    rng = np.random.default_rng(2)
    mean, var = dg.tensor(rng.standard_normal(3)), dg.tensor(rng.random(3) + 0.5)
    x = dg.tensor(rng.standard_normal((4, 3)), dtype=dg.float64)
    w = dg.tensor(rng.standard_normal(3), dtype=dg.float64)
    assert dg.gradgradcheck(lambda x, w: F.batch_norm(x, mean, var, w, None, training=False) ** 2, (x, w))


# --------------------------------------------------------------------------------------------
# repr, parameter counts, default initialisation
# --------------------------------------------------------------------------------------------

REPRS = [
    lambda m: m.Linear(3, 4), lambda m: m.Linear(3, 4, bias=False),
    lambda m: m.Conv1d(3, 4, 3), lambda m: m.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
    lambda m: m.Conv2d(4, 8, (3, 5), padding="same", dilation=2, groups=2),
    lambda m: m.Conv2d(3, 4, 3, padding="valid"),
    lambda m: m.ConvTranspose2d(3, 4, 3, 2, 1, 1, bias=False), lambda m: m.ConvTranspose1d(3, 4, 3, dilation=2),
    lambda m: m.MaxPool1d(3), lambda m: m.MaxPool2d(2),
    lambda m: m.MaxPool2d((2, 3), stride=1, padding=1, ceil_mode=True),
    lambda m: m.AvgPool1d(2), lambda m: m.AvgPool2d(2), lambda m: m.AvgPool2d(3, 2, 1),
    lambda m: m.AdaptiveAvgPool1d(3), lambda m: m.AdaptiveAvgPool2d((2, None)), lambda m: m.AdaptiveMaxPool2d(3),
    lambda m: m.MaxUnpool2d(2), lambda m: m.BatchNorm1d(3), lambda m: m.BatchNorm2d(3, momentum=None, affine=False),
    lambda m: m.BatchNorm2d(3, track_running_stats=False, bias=False), lambda m: m.LayerNorm(4),
    lambda m: m.LayerNorm((3, 4), elementwise_affine=False), lambda m: m.GroupNorm(2, 4),
    lambda m: m.Dropout(), lambda m: m.Dropout2d(0.2, inplace=True), lambda m: m.Flatten(),
    lambda m: m.Unflatten(1, (2, 3)), lambda m: m.Identity(), lambda m: m.ReLU(), lambda m: m.ReLU(inplace=True),
    lambda m: m.LeakyReLU(), lambda m: m.LeakyReLU(0.2, True), lambda m: m.ELU(), lambda m: m.GELU(),
    lambda m: m.GELU("tanh"), lambda m: m.Sigmoid(), lambda m: m.Tanh(), lambda m: m.Softplus(),
    lambda m: m.Softmax(), lambda m: m.Softmax(1), lambda m: m.LogSoftmax(dim=-1),
    lambda m: m.Sequential(m.Conv2d(1, 6, 5), m.ReLU(), m.MaxPool2d(2), m.Flatten(), m.Linear(6, 2)),
]


@pytest.mark.parametrize("make", REPRS)
def test_repr_matches_torch(make):
    assert repr(make(nn)) == repr(make(tnn))


@pytest.mark.parametrize("P, D, U, V, groups", [(6, 1, 5, 5, 1), (16, 6, 5, 5, 1), (8, 4, 3, 2, 2), (4, 4, 3, 3, 4)])
def test_conv_parameter_counts(P, D, U, V, groups):
    """Seed 4.2.2: a convolutional layer from D to P maps has P·D·U·V weights and P biases (D/groups with groups)."""
    n = sum(p.numel() for p in nn.Conv2d(D, P, (U, V), groups=groups).parameters())
    assert n == P * (D // groups) * U * V + P
    assert n == sum(p.numel() for p in tnn.Conv2d(D, P, (U, V), groups=groups).parameters())
    assert sum(p.numel() for p in nn.Conv1d(D, P, U, bias=False).parameters()) == P * D * U
    assert sum(p.numel() for p in nn.ConvTranspose2d(D, P, (U, V)).parameters()) == D * P * U * V + P


def test_parameter_counts_match_torch():
    for make in [lambda m: m.Linear(7, 5), lambda m: m.BatchNorm2d(6), lambda m: m.LayerNorm((3, 4)),
                 lambda m: m.GroupNorm(2, 6), lambda m: m.ConvTranspose1d(4, 6, 3, groups=2), lambda m: m.MaxPool2d(2)]:
        assert sum(p.numel() for p in make(nn).parameters()) == sum(p.numel() for p in make(tnn).parameters())


def _check_uniform(values, bound, what):
    values = np.asarray(values, dtype=np.float64).ravel()
    assert values.min() >= -bound and values.max() <= bound, f"{what}: outside ±{bound}"
    assert values.max() > 0.98 * bound and values.min() < -0.98 * bound, f"{what}: does not fill ±{bound}"
    se = bound / math.sqrt(3) / math.sqrt(values.size)
    assert abs(values.mean()) < 5 * se, f"{what}: mean {values.mean()}"
    np.testing.assert_allclose(values.std(), bound / math.sqrt(3), rtol=0.03, err_msg=f"{what}: std")


def test_linear_default_init_distribution():
    """torch's default: W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform_(a=sqrt(5)))."""
    m = nn.Linear(400, 300)
    _check_uniform(m.weight.numpy(), 1 / math.sqrt(400), "Linear weight")
    biases = np.concatenate([nn.Linear(50, 300).bias.numpy() for _ in range(20)])
    _check_uniform(biases, 1 / math.sqrt(50), "Linear bias")


@pytest.mark.parametrize("cls, args, fan_in", [("Conv1d", (16, 64, 5), 16 * 5), ("Conv2d", (8, 64, (3, 5)), 8 * 15),
                                               ("Conv2d", (8, 64, 3), 4 * 9),       # groups=2: weight.shape[1] = 4
                                               ("ConvTranspose2d", (16, 40, 3), 40 * 9)])
def test_conv_default_init_distribution(cls, args, fan_in):
    kwargs = {"groups": 2} if fan_in == 4 * 9 else {}
    m = getattr(nn, cls)(*args, **kwargs)
    _check_uniform(m.weight.numpy(), 1 / math.sqrt(fan_in), f"{cls} weight")
    biases = np.concatenate([getattr(nn, cls)(*args, **kwargs).bias.numpy() for _ in range(40)])
    assert np.abs(biases).max() <= 1 / math.sqrt(fan_in)
    np.testing.assert_allclose(biases.std(), 1 / math.sqrt(3 * fan_in), rtol=0.1)


def test_normalization_default_init():
    bn = nn.BatchNorm2d(5)
    np.testing.assert_array_equal(bn.weight.numpy(), 1)
    np.testing.assert_array_equal(bn.bias.numpy(), 0)
    np.testing.assert_array_equal(bn.running_mean.numpy(), 0)
    np.testing.assert_array_equal(bn.running_var.numpy(), 1)
    assert bn.num_batches_tracked.item() == 0 and bn.num_batches_tracked.shape == ()
    ln = nn.LayerNorm((2, 3))
    np.testing.assert_array_equal(ln.weight.numpy(), np.ones((2, 3)))
    np.testing.assert_array_equal(ln.bias.numpy(), np.zeros((2, 3)))
    bn.running_mean.array[...] = 3
    bn(dg.randn(4, 5, 2, 2))
    bn.reset_running_stats()
    assert bn.num_batches_tracked.item() == 0 and (bn.running_mean.numpy() == 0).all()


def test_default_init_is_reproducible_with_manual_seed():
    dg.manual_seed(123)
    a = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Linear(4, 2), nn.Highway(3), nn.Subsampling(2)).state_dict()
    dg.manual_seed(123)
    b = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Linear(4, 2), nn.Highway(3), nn.Subsampling(2)).state_dict()
    c = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Linear(4, 2), nn.Highway(3), nn.Subsampling(2)).state_dict()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    assert not np.array_equal(a["0.weight"].numpy(), c["0.weight"].numpy())


def test_layer_constructor_errors_like_torch():
    for kwargs, match in [({"groups": 2}, "in_channels must be divisible by groups"),
                          ({"padding": "same", "stride": 2}, "not supported for strided"),
                          ({"padding": "middle"}, "Invalid padding string"),
                          ({"padding_mode": "mirror"}, "padding_mode must be one of")]:
        with pytest.raises(ValueError, match=match):
            nn.Conv2d(3, 4, 3, **kwargs)
        with pytest.raises(ValueError, match=match):
            tnn.Conv2d(3, 4, 3, **kwargs)
    with pytest.raises(NotImplementedError, match="only 'zeros'"):
        nn.Conv2d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        nn.Conv1d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="Invalid padding string"):
        nn.ConvTranspose2d(3, 4, 3, padding="same")
    with pytest.raises(ValueError, match="dropout probability"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="must be divisible by num_groups"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match="normalized_shape"):
        nn.LayerNorm(5)(dg.zeros(2, 4))
    with pytest.raises(ValueError, match=r"expected input \(\*, 5\)"):
        nn.Linear(5, 2)(dg.zeros(2, 4))


# --------------------------------------------------------------------------------------------
# dropout
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_scaling_and_rate(p):
    x = dg.ones(200, 100)
    y = nn.Dropout(p)(x).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-6)
    assert abs((~kept).mean() - p) < 0.015
    assert abs(y.mean() - 1.0) < 0.05            # E[dropout(x)] = x


def test_dropout_gradient_is_the_mask():
    x = dg.tensor(rand(50, 40), requires_grad=True)
    y = F.dropout(x, 0.3)
    y.sum().backward()
    mask = y.numpy() / x.numpy()
    np.testing.assert_allclose(x.grad.numpy(), mask, rtol=1e-5)
    np.testing.assert_allclose(np.unique(np.round(mask, 4)), [0.0, 1 / 0.7], atol=1e-4)


def test_dropout_eval_mode_and_edge_probabilities():
    x = dg.tensor(rand(4, 5))
    for layer in (nn.Dropout(0.5), nn.Dropout1d(0.5), nn.Dropout2d(0.5), nn.Dropout3d(0.5)):
        layer.eval()
        shaped = x.reshape(1, 4, 5, 1, 1) if isinstance(layer, nn.Dropout3d) else (
            x.reshape(1, 4, 5, 1) if isinstance(layer, nn.Dropout2d) else x.reshape(1, 4, 5))
        np.testing.assert_array_equal(layer(shaped).numpy(), shaped.numpy())
    np.testing.assert_array_equal(F.dropout(x, 0.0).numpy(), x.numpy())
    np.testing.assert_array_equal(F.dropout(x, 1.0).numpy(), 0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, -0.1)


def test_dropout_reproducible_with_manual_seed():
    x = dg.ones(10, 10)
    dg.manual_seed(7)
    a = nn.Dropout(0.5)(x).numpy()
    b = nn.Dropout(0.5)(x).numpy()
    dg.manual_seed(7)
    np.testing.assert_array_equal(nn.Dropout(0.5)(x).numpy(), a)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("cls, shape", [("Dropout1d", (30, 20, 7)), ("Dropout1d", (600, 7)),
                                        ("Dropout2d", (30, 20, 3, 4)),
                                        ("Dropout3d", (40, 15, 2, 3, 2)), ("Dropout3d", (600, 2, 3, 2))])
def test_channel_dropout_zeroes_whole_channels(cls, shape):
    y = getattr(nn, cls)(0.4)(dg.ones(*shape)).numpy()
    batched = len(shape) == {"Dropout1d": 3, "Dropout2d": 4, "Dropout3d": 5}[cls]
    per_channel = y.reshape(shape[0] * shape[1] if batched else shape[0], -1)   # one row per channel
    assert all(len(np.unique(row)) == 1 for row in per_channel), "a channel is only partly dropped"
    np.testing.assert_allclose(np.unique(np.round(per_channel, 4)), [0.0, 1 / 0.6], atol=1e-4)
    assert abs((per_channel[:, 0] == 0).mean() - 0.4) < 0.07    # >= 600 channels: 3.5 standard errors


@pytest.mark.parametrize("fn, shape", [(F.dropout, (20, 30)), (F.dropout1d, (6, 5, 7)), (F.dropout1d, (5, 7)),
                                       (F.dropout2d, (6, 5, 3, 4)), (F.dropout3d, (4, 5, 2, 3, 2))])
def test_functional_dropout_inplace_writes_into_its_input(fn, shape):
    """As PyTorch: inplace=True changes the input and returns it; where the input is recorded for
    reverse mode (requires grad, grad mode on) it raises instead of silently leaving it unchanged."""
    x = dg.ones(*shape)
    y = fn(x, 0.5, inplace=True)
    assert y is x
    assert set(np.unique(x.numpy())) <= {0.0, 2.0} and (x.numpy() == 0).any()
    leaf = dg.ones(*shape, requires_grad=True)
    with pytest.raises(RuntimeError, match="inplace=True on a tensor that requires grad"):
        fn(leaf, 0.5, inplace=True)
    np.testing.assert_array_equal(leaf.numpy(), 1.0)
    with dg.no_grad():
        assert fn(leaf, 0.5, inplace=True) is leaf
    assert fn(dg.ones(*shape), 0.5, training=False, inplace=True).numpy().min() == 1.0


def test_dropout_modules_with_inplace_return_a_new_tensor_during_training():
    x = dg.ones(8, 4, 3, 3, requires_grad=True)
    for layer in (nn.Dropout(0.5, inplace=True), nn.Dropout2d(0.5, inplace=True)):
        y = layer(x * 1.0)
        y.sum().backward()
    np.testing.assert_array_equal(x.numpy(), 1.0)
    assert x.grad is not None


def test_dropout2d_3d_input_is_channelwise_1d_like_torch():
    with pytest.warns(UserWarning, match="3D input"):
        y = F.dropout2d(dg.ones(40, 8, 5), 0.5).numpy()
    assert all(len(np.unique(row)) == 1 for row in y.reshape(40 * 8, 5))


# --------------------------------------------------------------------------------------------
# special layers: LeNet subsampling, residual units, highway
# --------------------------------------------------------------------------------------------

class TorchSubsampling(tnn.Module):
    """LeCun 1998's S2 in torch: weight·(2×2 window sum) + bias per map, then A·tanh(S·a)."""

    def __init__(self, c, k=2, pooling="sum", act=True):
        super().__init__()
        self.weight, self.bias = tnn.Parameter(torch.randn(c)), tnn.Parameter(torch.randn(c))
        self.k, self.pooling, self.act = k, pooling, act

    def forward(self, x):
        pooled = tF.avg_pool2d(x, self.k, divisor_override=1 if self.pooling == "sum" else None)
        y = pooled * self.weight.reshape(-1, 1, 1) + self.bias.reshape(-1, 1, 1)
        return 1.7159 * torch.tanh(y * (2 / 3)) if self.act else y


@pytest.mark.parametrize("pooling, act, shape", [("sum", True, (2, 6, 28, 28)), ("mean", False, (2, 3, 6, 4)),
                                                 ("sum", False, (3, 6, 6))])
def test_subsampling_matches_torch_composite(pooling, act, shape):
    dm = nn.Subsampling(shape[-3], pooling=pooling, activation=nn.ScaledTanh() if act else None)
    check_against_torch(dm, TorchSubsampling(shape[-3], pooling=pooling, act=act), rand(*shape))


def test_subsampling_lenet_s2_facts():
    s2 = nn.Subsampling(6, activation=nn.ScaledTanh())
    assert sum(p.numel() for p in s2.parameters()) == 12            # LeCun 1998: "S2 has 12 trainable parameters"
    assert s2(dg.zeros(1, 6, 28, 28)).shape == (1, 6, 14, 14)
    ws = np.concatenate([nn.Subsampling(100).weight.numpy() for _ in range(20)])
    _check_uniform(ws, 2.4 / 4, "Subsampling weight")               # U(-2.4/F, 2.4/F), F = 4
    # the sum pooling: a map of ones gives w·4 + b everywhere
    s = nn.Subsampling(1)
    s.weight.array[...] = 0.5
    s.bias.array[...] = -1.0
    np.testing.assert_allclose(s(dg.ones(1, 1, 4, 4)).numpy(), 0.5 * 4 - 1.0)
    a = nn.ScaledTanh()(dg.tensor([1.0, -1.0, 0.0])).numpy()
    np.testing.assert_allclose(a, [1.0, -1.0, 0.0], atol=2e-4)       # LeCun's f(±1) = ±1
    with pytest.raises(ValueError, match="pooling"):
        nn.Subsampling(3, pooling="max")


def torch_basic_block(inplanes, planes, stride=1, projection=False):
    """torchvision's BasicBlock, written out (torchvision is not a test dependency)."""

    class Block(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(planes)
            self.relu = tnn.ReLU(inplace=True)
            self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(planes)
            self.downsample = (tnn.Sequential(tnn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                              tnn.BatchNorm2d(planes)) if projection else None)

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    return Block()


@pytest.mark.parametrize("cin, cout, stride", [(4, 4, 1), (3, 6, 2), (4, 4, 2)])
@pytest.mark.parametrize("train", [True, False])
def test_residual_unit_matches_torch_basic_block(cin, cout, stride, train):
    dm = nn.ResidualUnit(cin, cout, stride)
    projection = stride != 1 or cin != cout
    assert (dm.downsample is not None) == projection
    check_against_torch(dm, torch_basic_block(cin, cout, stride, projection), rand(2, cin, 6, 6), train=train)


def test_basic_block_and_bottleneck_structure():
    block = nn.BasicBlock(8, 8)
    assert [n for n, _ in block.named_children()] == ["conv1", "bn1", "relu", "conv2", "bn2"]
    assert block(dg.randn(1, 8, 5, 5)).shape == (1, 8, 5, 5)
    down = nn.Sequential(nn.Conv2d(16, 32, 1, stride=2, bias=False), nn.BatchNorm2d(32))
    neck = nn.Bottleneck(16, 8, stride=2, downsample=down)
    assert [n for n, _ in neck.named_children()] == ["conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "relu",
                                                     "downsample"]
    assert neck(dg.randn(2, 16, 6, 6)).shape == (2, 32, 3, 3)
    assert neck.conv2.stride == (2, 2) and nn.Bottleneck.expansion == 4
    with pytest.raises(ValueError, match="identity shortcut"):
        nn.ResidualUnit(3, 6, projection=False)
    with pytest.raises(ValueError, match="groups=1"):
        nn.BasicBlock(8, 8, groups=2)


def test_residual_is_f_plus_x():
    """Seed 4.4.4: the unit outputs f(x) + x; with f = 0 it is the identity, and its Jacobian is I + f'."""
    body = nn.Linear(4, 4)
    body.weight.array[...] = 0
    body.bias.array[...] = 0
    unit = nn.Residual(body)
    x = dg.tensor(rand(3, 4), requires_grad=True)
    np.testing.assert_allclose(unit(x).numpy(), x.numpy())
    body.weight.array[...] = rand(4, 4)
    jac = dg.jacrev(lambda v: unit(v))(dg.tensor(rand(4)))
    np.testing.assert_allclose(jac.numpy(), np.eye(4) + body.weight.numpy(), rtol=1e-6)
    proj = nn.Residual(nn.Linear(4, 6), shortcut=nn.Linear(4, 6, bias=False), activation=nn.ReLU())
    assert proj(x).shape == (3, 6) and (proj(x).numpy() >= 0).all()


class TorchHighway(tnn.Module):
    def __init__(self, n):
        super().__init__()
        self.transform, self.gate, self.activation = tnn.Linear(n, n), tnn.Linear(n, n), tnn.ReLU()

    def forward(self, x):
        t = torch.sigmoid(self.gate(x))
        return self.activation(self.transform(x)) * t + x * (1 - t)


def test_highway_matches_torch_composite():
    check_against_torch(nn.Highway(5), TorchHighway(5), rand(4, 5))


def test_highway_gate_bias_and_carry():
    hw = nn.Highway(6, gate_bias=-2.0, activation=nn.Tanh())
    np.testing.assert_array_equal(hw.gate.bias.numpy(), -2.0)
    assert isinstance(hw.activation, nn.Tanh)
    # a gate that is fully closed carries x; fully open gives H(x)
    x = dg.tensor(rand(3, 6))
    hw.gate.weight.array[...] = 0
    hw.gate.bias.array[...] = -60
    np.testing.assert_allclose(hw(x).numpy(), x.numpy(), atol=1e-6)
    hw.gate.bias.array[...] = 60
    np.testing.assert_allclose(hw(x).numpy(), np.tanh(x.numpy() @ hw.transform.weight.numpy().T
                                                      + hw.transform.bias.numpy()), atol=1e-6)
    assert sum(p.numel() for p in hw.parameters()) == 2 * (6 * 6 + 6)
