"""BN-Inception, Inception v2 (Ioffe & Szegedy 2015, "Batch normalization: accelerating deep network
training by reducing internal covariate shift", Appendix, Figure 5), seed 4.4.3: GoogLeNet with batch
normalisation after every convolution, each 5×5 replaced by two 3×3 convolutions, average pooling in most
modules, and stride-2 modules (3c, 4e) that reduce the grid with a pass-through max pool instead of
separate pooling layers. torchvision has no BN-Inception; the module names follow its GoogLeNet
(conv1..3, inception3a..5b, fc). The channel numbers are those of the authors' released network (the
Caffe model most ports load): it keeps 4c's 160 + 160 + 160 + 128 = 608 maps, where the paper's table
prints 576, so 4d and 4e read 608 and 5a reads 1056. Batch norm uses eps 1e-3 (torchvision's BasicConv2d);
there is no dropout (the paper removes it). 11,285,224 parameters for 1000 classes."""
from .. import nn
from ..ops import concatenate
from .googlenet import BasicConv2d

# name: (1×1, 3×3 reduce, 3×3, double 3×3 reduce, double 3×3, pool, pool projection); 0 maps = no branch
# (no 1×1 branch, or a pass-through pool); stride-2 modules are the ones without a 1×1 branch.
MODULES = {
    "inception3a": (192, 64, 64, 64, 64, 96, "avg", 32),
    "inception3b": (256, 64, 64, 96, 64, 96, "avg", 64),
    "inception3c": (320, 0, 128, 160, 64, 96, "max", 0),
    "inception4a": (576, 224, 64, 96, 96, 128, "avg", 128),
    "inception4b": (576, 192, 96, 128, 96, 128, "avg", 128),
    "inception4c": (576, 160, 128, 160, 128, 160, "avg", 128),
    "inception4d": (608, 96, 128, 192, 160, 192, "avg", 128),
    "inception4e": (608, 0, 128, 192, 192, 256, "max", 0),
    "inception5a": (1056, 352, 192, 320, 160, 224, "avg", 128),
    "inception5b": (1024, 352, 192, 320, 192, 224, "max", 128),
}


class InceptionBN(nn.Module):
    """Branches 1×1; 1×1 → 3×3; 1×1 → 3×3 → 3×3; 3×3 pool (→ 1×1), concatenated. A module without a
    1×1 branch has stride 2 in its last convolutions and its max pool, whose output passes through."""

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, dblred, dbl, pool, pool_proj):
        super().__init__()
        stride = 1 if ch1x1 else 2
        self.out_channels = ch1x1 + ch3x3 + dbl + (pool_proj or in_channels)
        self.branch1x1 = BasicConv2d(in_channels, ch1x1, kernel_size=1) if ch1x1 else None
        self.branch3x3 = nn.Sequential(BasicConv2d(in_channels, ch3x3red, kernel_size=1),
                                       BasicConv2d(ch3x3red, ch3x3, kernel_size=3, stride=stride, padding=1))
        self.branch3x3dbl = nn.Sequential(BasicConv2d(in_channels, dblred, kernel_size=1),
                                          BasicConv2d(dblred, dbl, kernel_size=3, padding=1),
                                          BasicConv2d(dbl, dbl, kernel_size=3, stride=stride, padding=1))
        pooling = (nn.AvgPool2d(3, stride=1, padding=1) if pool == "avg" else
                   nn.MaxPool2d(3, stride=stride, padding=stride % 2, ceil_mode=True))
        self.branch_pool = nn.Sequential(pooling, *([BasicConv2d(in_channels, pool_proj, kernel_size=1)]
                                                    if pool_proj else []))

    def forward(self, x):
        branches = [self.branch3x3(x), self.branch3x3dbl(x), self.branch_pool(x)]
        return concatenate(([self.branch1x1(x)] if self.branch1x1 is not None else []) + branches, 1)


class BNInception(nn.Module):
    """BN-Inception for 224×224 RGB inputs (any size from 64×64)."""

    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        for name, spec in MODULES.items():
            setattr(self, name, InceptionBN(*spec))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = self.maxpool2(self.conv3(self.conv2(self.maxpool1(self.conv1(x)))))
        for name in MODULES:
            x = getattr(self, name)(x)
        return self.fc(self.avgpool(x).flatten(1))


def bn_inception(num_classes=1000):
    """BN-Inception (Inception v2), the authors' released channel numbers."""
    return BNInception(num_classes)
