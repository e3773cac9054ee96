"""The zoo against the same networks written in torch.nn: each torch replica below mirrors
torchvision's (or the paper's) architecture with module names that give the same state_dict keys as
ours. Its weights and BatchNorm running statistics are randomised, its state_dict is copied into
the deepgrad model by key name, and the outputs must agree to 1e-4 relative to max |output| in eval
mode (and, for the small networks, in training mode too: outputs, gradients and running stats)."""
import numpy as np
import pytest

import deepgrad as dg
from deepgrad import models

torch = pytest.importorskip("torch")
tnn = torch.nn
TF = torch.nn.functional

RTOL = 1e-4


# ---------------------------------------------------------------- torch replicas
class TorchAlexNet(tnn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        conv, relu, pool = tnn.Conv2d, lambda: tnn.ReLU(inplace=True), lambda: tnn.MaxPool2d(3, 2)
        self.features = tnn.Sequential(conv(3, 64, 11, 4, 2), relu(), pool(), conv(64, 192, 5, padding=2), relu(),
                                       pool(), conv(192, 384, 3, padding=1), relu(), conv(384, 256, 3, padding=1),
                                       relu(), conv(256, 256, 3, padding=1), relu(), pool())
        self.avgpool = tnn.AdaptiveAvgPool2d((6, 6))
        self.classifier = tnn.Sequential(tnn.Dropout(0.5), tnn.Linear(9216, 4096), relu(), tnn.Dropout(0.5),
                                         tnn.Linear(4096, 4096), relu(), tnn.Linear(4096, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class TorchConvBN(tnn.Module):
    """GoogLeNet's conv (no bias) + BatchNorm(eps 1e-3) + ReLU."""

    def __init__(self, c_in, c_out, **kw):
        super().__init__()
        self.conv = tnn.Conv2d(c_in, c_out, bias=False, **kw)
        self.bn = tnn.BatchNorm2d(c_out, eps=0.001)

    def forward(self, x):
        return TF.relu(self.bn(self.conv(x)))


class TorchInception(tnn.Module):
    def __init__(self, c_in, c1, c3r, c3, c5r, c5, cp):
        super().__init__()
        self.branch1 = TorchConvBN(c_in, c1, kernel_size=1)
        self.branch2 = tnn.Sequential(TorchConvBN(c_in, c3r, kernel_size=1),
                                      TorchConvBN(c3r, c3, kernel_size=3, padding=1))
        self.branch3 = tnn.Sequential(TorchConvBN(c_in, c5r, kernel_size=1),
                                      TorchConvBN(c5r, c5, kernel_size=3, padding=1))
        self.branch4 = tnn.Sequential(tnn.MaxPool2d(3, 1, 1, ceil_mode=True), TorchConvBN(c_in, cp, kernel_size=1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class TorchGoogLeNet(tnn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = TorchConvBN(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = tnn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = TorchConvBN(64, 64, kernel_size=1)
        self.conv3 = TorchConvBN(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = tnn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception3a = TorchInception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = TorchInception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = tnn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception4a = TorchInception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = TorchInception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = TorchInception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = TorchInception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = TorchInception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = tnn.MaxPool2d(2, 2, ceil_mode=True)
        self.inception5a = TorchInception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = TorchInception(832, 384, 192, 384, 48, 128, 128)
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.dropout = tnn.Dropout(0.2)
        self.fc = tnn.Linear(1024, num_classes)

    def forward(self, x):
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4d(self.inception4c(self.inception4b(self.inception4a(x))))
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


def _conv3(c_in, c_out, stride=1):
    return tnn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)


class TorchBasic(tnn.Module):
    expansion = 1

    def __init__(self, c_in, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1, self.bn1 = _conv3(c_in, planes, stride), tnn.BatchNorm2d(planes)
        self.conv2, self.bn2 = _conv3(planes, planes), tnn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.bn2(self.conv2(TF.relu(self.bn1(self.conv1(x)))))
        return TF.relu(out + (x if self.downsample is None else self.downsample(x)))


class TorchBottleneck(tnn.Module):
    expansion = 4

    def __init__(self, c_in, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1, self.bn1 = tnn.Conv2d(c_in, planes, 1, bias=False), tnn.BatchNorm2d(planes)
        self.conv2, self.bn2 = _conv3(planes, planes, stride), tnn.BatchNorm2d(planes)
        self.conv3, self.bn3 = tnn.Conv2d(planes, planes * 4, 1, bias=False), tnn.BatchNorm2d(planes * 4)
        self.downsample = downsample

    def forward(self, x):
        out = TF.relu(self.bn1(self.conv1(x)))
        out = TF.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return TF.relu(out + (x if self.downsample is None else self.downsample(x)))


class TorchResNet(tnn.Module):
    def __init__(self, block, depths, num_classes=1000):
        super().__init__()
        self.conv1, self.bn1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False), tnn.BatchNorm2d(64)
        self.maxpool = tnn.MaxPool2d(3, 2, 1)
        c_in = 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), depths)):
            stride = 1 if i == 0 else 2
            down = None
            if stride != 1 or c_in != planes * block.expansion:
                down = tnn.Sequential(tnn.Conv2d(c_in, planes * block.expansion, 1, stride, bias=False),
                                      tnn.BatchNorm2d(planes * block.expansion))
            blocks = [block(c_in, planes, stride, down)]
            c_in = planes * block.expansion
            blocks += [block(c_in, planes) for _ in range(n - 1)]
            setattr(self, f"layer{i + 1}", tnn.Sequential(*blocks))
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.fc = tnn.Linear(512 * block.expansion, num_classes)

    def forward(self, x):
        x = self.maxpool(TF.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class TorchShortcutA(tnn.Module):
    """Option A (He et al. 2016): subsample and zero-pad the new channels evenly on both sides."""

    def __init__(self, extra, stride):
        super().__init__()
        self.extra, self.stride = extra, stride

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        return TF.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))


class TorchCifarResNet(tnn.Module):
    def __init__(self, n, num_classes=10):
        super().__init__()
        self.conv1, self.bn1 = _conv3(3, 16), tnn.BatchNorm2d(16)
        c_in = 16
        for i, (planes, stride) in enumerate(((16, 1), (32, 2), (64, 2))):
            blocks = []
            for j in range(n):
                s = stride if j == 0 else 1
                short = TorchShortcutA(planes - c_in, s) if s != 1 or c_in != planes else None
                blocks.append(TorchBasic(c_in, planes, s, short))
                c_in = planes
            setattr(self, f"layer{i + 1}", tnn.Sequential(*blocks))
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.fc = tnn.Linear(64, num_classes)

    def forward(self, x):
        x = TF.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def torch_lenet5_modern():
    return tnn.Sequential(tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Conv2d(6, 16, 5),
                          tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(400, 120), tnn.ReLU(),
                          tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, 10))


class TorchScaledTanh(tnn.Module):
    def forward(self, x):
        return 1.7159 * torch.tanh(x * (2 / 3))


class TorchSubsampling(tnn.Module):
    """LeCun's S2/S4: the 2×2 window's sum, times a per-map weight, plus a per-map bias, squashed."""

    def __init__(self, channels):
        super().__init__()
        self.weight, self.bias = tnn.Parameter(torch.randn(channels)), tnn.Parameter(torch.randn(channels))
        self.activation = TorchScaledTanh()

    def forward(self, x):
        pooled = TF.avg_pool2d(x, 2, divisor_override=1)
        return self.activation(pooled * self.weight[:, None, None] + self.bias[:, None, None])


class TorchPartialConv(tnn.Module):
    """C3 with its connection table: the full (16, 6, 5, 5) weight is gathered from the packed
    (60, 5, 5) weight plus a zero kernel for the pairs the table leaves out."""

    def __init__(self, connections):
        super().__init__()
        connections = np.asarray(connections, bool)          # (in, out)
        pairs = int(connections.sum())
        index = np.full(connections.T.shape, pairs)
        out_idx, in_idx = np.nonzero(connections.T)
        index[out_idx, in_idx] = np.arange(pairs)
        self.index = torch.as_tensor(index)                   # a plain attribute: not in the state_dict
        self.weight = tnn.Parameter(torch.randn(pairs, 5, 5) * 0.2)
        self.bias = tnn.Parameter(torch.randn(connections.shape[1]) * 0.1)

    def forward(self, x):
        full = torch.cat([self.weight, self.weight.new_zeros(1, 5, 5)])[self.index]
        return TF.conv2d(x, full, self.bias)


def torch_lenet5_classic():
    return tnn.Sequential(tnn.Conv2d(1, 6, 5), TorchScaledTanh(), TorchSubsampling(6),
                          TorchPartialConv(models.lenet.C3_CONNECTIONS), TorchScaledTanh(), TorchSubsampling(16),
                          tnn.Conv2d(16, 120, 5), TorchScaledTanh(), tnn.Flatten(), tnn.Linear(120, 84),
                          TorchScaledTanh(), tnn.Linear(84, 10))


# ---------------------------------------------------------------- helpers
def randomise(net, x=None, seed=0):
    """Fresh random weights (the defaults are random already; BatchNorm's affine parameters and running
    statistics are not) so that a mix-up of any two tensors would show. With an input batch ``x``,
    the running statistics are first set from that batch (so activations keep a sensible scale through
    deep networks) and then scaled and shifted at random, channel by channel."""
    gen = torch.Generator().manual_seed(seed)
    bns = [m for m in net.modules() if isinstance(m, tnn.BatchNorm2d)]
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (tnn.Conv2d, tnn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
            elif isinstance(m, (TorchSubsampling, TorchPartialConv)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (0.5 if m.weight.ndim == 1 else 0.2))
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
        for m in bns:
            m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
            m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.2)
        if bns and x is not None:
            was_training = net.training
            for m in bns:
                m.momentum = 1.0
            net.train()(torch.from_numpy(x))
            net.train(was_training)
            for m in bns:
                m.momentum = 0.1
        for m in bns:
            m.running_var.mul_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
            m.running_mean.add_(torch.randn(m.running_mean.shape, generator=gen) * 0.2 * m.running_var.sqrt())
            m.num_batches_tracked.fill_(int(torch.randint(1, 100, (), generator=gen)))
    return net


def copy_into(ours, theirs):
    """Load torch's state_dict into the deepgrad model by key name (strict: the key sets must be equal)."""
    state = theirs.state_dict()
    assert list(state) == list(ours.state_dict())
    ours.load_state_dict({k: dg.tensor(v.numpy()) for k, v in state.items()})
    return ours


def assert_close(ours, theirs, rtol=RTOL):
    """max |ours − theirs| <= rtol · max |theirs|; for a batch of outputs, also the part that varies
    with the input (the outputs less their batch mean) to 10·rtol of its own scale, so that a common
    offset cannot hide a mismatch."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape
    scale = np.abs(theirs).max()
    assert scale > 0 and np.isfinite(scale)
    err = np.abs(ours - theirs).max() / scale
    assert err <= rtol, f"max |difference| = {err:.2e} of max |output|"
    if theirs.ndim == 2 and theirs.shape[0] > 1:
        ours_c, theirs_c = ours - ours.mean(0), theirs - theirs.mean(0)
        err = np.abs(ours_c - theirs_c).max() / np.abs(theirs_c).max()
        assert err <= 10 * rtol, f"input-dependent part: max |difference| = {err:.2e} of its max"


def inputs(shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------- eval-mode outputs
CASES = {
    "lenet5-modern": (lambda: models.lenet5("modern"), torch_lenet5_modern, (4, 1, 28, 28)),
    "lenet5-classic": (lambda: models.lenet5("classic"), torch_lenet5_classic, (4, 1, 32, 32)),
    "resnet20": (models.resnet20, lambda: TorchCifarResNet(3), (4, 3, 32, 32)),
    "alexnet": (lambda: models.alexnet(num_classes=100), lambda: TorchAlexNet(100), (2, 3, 63, 63)),
    "alexnet-224": (lambda: models.alexnet(num_classes=10), lambda: TorchAlexNet(10), (2, 3, 224, 224)),
    "googlenet": (lambda: models.googlenet(num_classes=100), lambda: TorchGoogLeNet(100), (2, 3, 96, 96)),
    "resnet18": (lambda: models.resnet18(num_classes=100), lambda: TorchResNet(TorchBasic, [2, 2, 2, 2], 100),
                 (2, 3, 64, 64)),
    "resnet50": (lambda: models.resnet50(num_classes=100), lambda: TorchResNet(TorchBottleneck, [3, 4, 6, 3], 100),
                 (2, 3, 64, 64)),
}
# small inputs keep the whole file under ~10 s on 2 cores, so nothing here is marked slow
@pytest.mark.parametrize("name", list(CASES))
def test_eval_outputs_match_torch_with_the_same_state_dict(name):
    build, build_torch, shape = CASES[name]
    torch.manual_seed(0)
    x = inputs(shape)
    theirs = randomise(build_torch(), inputs(shape, seed=3)).eval()
    ours = copy_into(build(), theirs).eval()
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    with dg.no_grad():
        got = ours(dg.tensor(x)).numpy()
    assert_close(got, expected)


def test_full_size_resnet18_state_dict_round_trips_through_torch():
    """Every one of the 11,689,512 parameters (and the buffers) lands under the same name."""
    theirs = randomise(TorchResNet(TorchBasic, [2, 2, 2, 2]))
    ours = copy_into(models.resnet18(), theirs)
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[k].numpy(), v.numpy())
    assert sum(p.numel() for p in theirs.parameters()) == 11_689_512


# ---------------------------------------------------------------- training mode: outputs, gradients, running stats
@pytest.mark.parametrize("name", ["lenet5-modern", "lenet5-classic", "resnet20"])
def test_training_mode_outputs_gradients_and_running_stats_match_torch(name):
    build, build_torch, shape = CASES[name]
    torch.manual_seed(0)
    x = inputs(shape)
    theirs = randomise(build_torch(), inputs(shape, seed=3)).train()
    ours = copy_into(build(), theirs).train()
    y = np.random.default_rng(2).integers(0, 10, shape[0])

    out_t = theirs(torch.from_numpy(x))
    TF.cross_entropy(out_t, torch.from_numpy(y)).backward()
    out_d = ours(dg.tensor(x))
    dg.nn.functional.cross_entropy(out_d, dg.tensor(y)).backward()

    assert_close(out_d.numpy(), out_t.detach().numpy())
    ours_params = dict(ours.named_parameters())
    for k, p in theirs.named_parameters():
        assert_close(ours_params[k].grad.numpy(), p.grad.numpy(), rtol=1e-4)
    ours_state = ours.state_dict()
    for k, v in theirs.state_dict().items():
        if "running" in k or "num_batches" in k:
            assert_close(ours_state[k].numpy(), v.numpy(), rtol=1e-5)
