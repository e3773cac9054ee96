"""Residual networks (He, Zhang, Ren & Sun 2016, "Deep residual learning for image recognition"),
seed 4.4.4.

ImageNet ResNet-18/34/50/101/152 follow torchvision's module structure and state_dict keys (conv1,
bn1, layer1..4, fc; BasicBlock / Bottleneck with the stride on the 3×3 convolution), so torchvision's
weights converted to safetensors load directly. ResNet-20/32/44/56/110 are the paper's CIFAR-10
networks (section 4.2): a 3×3 convolution with 16 maps, three stages of n basic blocks with 16, 32
and 64 maps (6n + 2 layers), global average pooling and a 10-way linear layer, with option A
shortcuts: when a stage halves the size, the shortcut subsamples by 2 and pads the new channels with
zeros, adding no parameters.
"""
from .. import nn
from ..nn.layers.residual import BasicBlock, Bottleneck, conv1x1
from ..ops import pad


class ResNet(nn.Module):
    """torchvision's ResNet for 224×224 RGB inputs."""

    def __init__(self, block, layers, num_classes=1000, zero_init_residual=False):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                last_bn = m.bn3 if isinstance(m, Bottleneck) else m.bn2 if isinstance(m, BasicBlock) else None
                if last_bn is not None:
                    nn.init.zeros_(last_bn.weight)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def resnet18(num_classes=1000):
    """ResNet-18: BasicBlocks [2, 2, 2, 2]; 11,689,512 parameters."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes)


def resnet34(num_classes=1000):
    """ResNet-34: BasicBlocks [3, 4, 6, 3]; 21,797,672 parameters."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes)


def resnet50(num_classes=1000):
    """ResNet-50: Bottlenecks [3, 4, 6, 3]; 25,557,032 parameters."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes)


def resnet101(num_classes=1000):
    """ResNet-101: Bottlenecks [3, 4, 23, 3]; 44,549,160 parameters."""
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes)


def resnet152(num_classes=1000):
    """ResNet-152: Bottlenecks [3, 8, 36, 3]; 60,192,808 parameters."""
    return ResNet(Bottleneck, [3, 8, 36, 3], num_classes)


class ShortcutA(nn.Module):
    """Option A: subsample by ``stride`` and zero-pad the extra channels (no parameters)."""

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.stride, self.extra = stride, planes - in_planes

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        return pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))

    def extra_repr(self):
        return f"stride={self.stride}, zero_channels={self.extra}"


class CifarBlock(BasicBlock):
    """A basic block whose shortcut is option A when the shape changes."""

    def __init__(self, in_planes, planes, stride=1):
        shortcut = ShortcutA(in_planes, planes, stride) if stride != 1 or in_planes != planes else None
        super().__init__(in_planes, planes, stride, shortcut)


class CifarResNet(nn.Module):
    """The paper's 6n + 2 layer network for 32×32 RGB inputs."""

    def __init__(self, n, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        blocks, in_planes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            stage = [CifarBlock(in_planes, planes, stride)] + [CifarBlock(planes, planes) for _ in range(n - 1)]
            blocks.append(nn.Sequential(*stage))
            in_planes = planes
        self.layer1, self.layer2, self.layer3 = blocks
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.avgpool(x).flatten(1))


def _cifar(depth):
    def build(num_classes=10):
        return CifarResNet((depth - 2) // 6, num_classes)
    build.__name__ = f"resnet{depth}"
    build.__doc__ = f"ResNet-{depth} for CIFAR-10 (n = {(depth - 2) // 6}, option A shortcuts; He et al. 2016, §4.2)."
    return build


resnet20, resnet32, resnet44, resnet56, resnet110 = (_cifar(d) for d in (20, 32, 44, 56, 110))
