"""Residual units (seed 4.4.4; He et al. 2016): the non-linear unit f(x; θ) learns the residual
h(x) − x, and the unit outputs f(x; θ) + x (then a ReLU).

* ``Residual(body, shortcut=None, activation=None)``: y = activation(body(x) + shortcut(x)) for any
  modules (identity shortcut when None), e.g. around a small MLP.
* ``BasicBlock`` and ``Bottleneck``: torchvision's ResNet blocks, with torchvision's constructor
  arguments and attribute names (conv1, bn1, relu, conv2, bn2, [conv3, bn3,] downsample), so their
  state_dict keys match torchvision's and its weights load directly.
* ``ResidualUnit(in_channels, out_channels, stride=1)``: the seed's typical unit, a BasicBlock
  (two 3×3 equal-width convolutions with batch norm, the shortcut, then ReLU) that builds the
  projection shortcut (1×1 convolution with stride, and batch norm) itself when the shape changes.
"""
from ..container import Sequential
from ..module import Module
from .activation import ReLU
from .conv import Conv2d
from .normalization import BatchNorm2d


def conv3x3(in_planes, out_planes, stride=1, groups=1, dilation=1):
    """3×3 'same'-size convolution without bias (torchvision's helper)."""
    return Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation, groups=groups, bias=False,
                  dilation=dilation)


def conv1x1(in_planes, out_planes, stride=1):
    """1×1 convolution without bias (torchvision's helper), the projection shortcut."""
    return Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class Residual(Module):
    """y = activation(body(x) + shortcut(x)); the shortcut is the identity when None."""

    def __init__(self, body, shortcut=None, activation=None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut
        self.activation = activation

    def forward(self, x):
        identity = x if self.shortcut is None else self.shortcut(x)
        y = self.body(x) + identity
        return y if self.activation is None else self.activation(y)


class BasicBlock(Module):
    """conv3x3(stride)–BN–ReLU–conv3x3–BN, plus the shortcut (``downsample(x)`` or x), then ReLU."""
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1,
                 norm_layer=None):
        super().__init__()
        if norm_layer is None:
            norm_layer = BatchNorm2d
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        if dilation > 1:
            raise NotImplementedError("Dilation > 1 not supported in BasicBlock")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(Module):
    """conv1x1–BN–ReLU–conv3x3(stride)–BN–ReLU–conv1x1(×4)–BN, plus the shortcut, then ReLU
    (torchvision's ResNet-50/101/152 block, stride on the 3×3 convolution)."""
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1,
                 norm_layer=None):
        super().__init__()
        if norm_layer is None:
            norm_layer = BatchNorm2d
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResidualUnit(BasicBlock):
    """The seed's residual unit: y = ReLU(f(x) + shortcut(x)) with f two 3×3 convolutions (with
    batch norm), on (N, in_channels, H, W). The shortcut is the identity when the shape is kept, and
    a projection (1×1 convolution with ``stride``, then batch norm) when ``stride != 1`` or the
    channel count changes; ``projection=True``/``False`` forces the choice (False needs equal shapes)."""

    def __init__(self, in_channels, out_channels, stride=1, projection=None, norm_layer=None):
        needed = stride != 1 or in_channels != out_channels
        if projection is None:
            projection = needed
        if needed and not projection:
            raise ValueError(f"ResidualUnit: an identity shortcut needs in_channels == out_channels and stride 1, "
                             f"got {in_channels} → {out_channels} with stride {stride}")
        norm = norm_layer or BatchNorm2d
        downsample = Sequential(conv1x1(in_channels, out_channels, stride), norm(out_channels)) if projection else None
        super().__init__(in_channels, out_channels, stride, downsample, norm_layer=norm_layer)
        self.in_channels = in_channels
        self.out_channels = out_channels

    def extra_repr(self):
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"
