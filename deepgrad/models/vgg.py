"""VGG (Simonyan & Zisserman 2015, "Very deep convolutional networks for large-scale image
recognition"), seed 4.4 and 4.6: stacks of 3×3 convolutions (padding 1) with 2×2 max pooling, then three
dense layers. torchvision's layout and state_dict keys (``features``, ``avgpool``, ``classifier``), so
its converted weights load directly; configurations A, B, D, E of the paper's Table 1 give VGG-11, -13,
-16 and -19, and ``batch_norm`` inserts BatchNorm2d after every convolution (the ``_bn`` variants)."""
from .. import nn

CONFIGS = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def make_layers(config, batch_norm=False, in_channels=3):
    """The convolutional trunk: an int is a 3×3 convolution with that many maps (+ BatchNorm) + ReLU,
    "M" a 2×2 max pool with stride 2."""
    layers = []
    for v in config:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
        layers += [nn.BatchNorm2d(v), nn.ReLU(inplace=True)] if batch_norm else [nn.ReLU(inplace=True)]
        in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """torchvision's VGG: ``features`` → 7×7 adaptive average pool → 4096 → 4096 → ``num_classes``."""

    def __init__(self, features, num_classes=1000, init_weights=True, dropout=0.5):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes))
        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


def _vgg(depth, batch_norm):
    def build(num_classes=1000, init_weights=True, dropout=0.5):
        return VGG(make_layers(CONFIGS[depth], batch_norm), num_classes, init_weights, dropout)
    build.__name__ = f"vgg{depth}" + ("_bn" if batch_norm else "")
    build.__doc__ = f"VGG-{depth}" + (" with batch normalisation" if batch_norm else "") + " (torchvision's layout)."
    return build


vgg11, vgg13, vgg16, vgg19 = (_vgg(d, False) for d in (11, 13, 16, 19))
vgg11_bn, vgg13_bn, vgg16_bn, vgg19_bn = (_vgg(d, True) for d in (11, 13, 16, 19))
