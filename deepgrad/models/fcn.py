"""Fully convolutional networks for semantic segmentation (Long, Shelhamer & Darrell 2015, "Fully
convolutional networks for semantic segmentation"), seed 4.6; upsampling by transposed convolution,
seed 4.5.1.

* ``fcn8s``: a small FCN-8s for small images (64×64 digits on a canvas): five VGG-style stages of a 3×3
  convolution (+ BatchNorm, ReLU) and a 2×2 max pool (strides 2..32), the dense layers as convolutions
  (``fc``), class scores at stride 32 (``score_fr``), then transposed convolutions initialised to bilinear
  interpolation: ×2 (``upscore.0``) + the scores of pool4 (``score_pool.4``), ×2 (``upscore.1``) + the
  scores of pool3 (``score_pool.3``), ×8 (``upscore_final``) to the input's size, + the input's own scores
  (``score_pool.0``, a 1×1 convolution on the pixels: the canvas task labels a pixel by its intensity, which
  the stride-8 scores cannot place to the pixel). ``skips`` chooses the levels whose scores are added: the
  default (0, 3, 4); (3, 4) is the paper's FCN-8s, (4,) FCN-16s, () FCN-32s, (1, 2, 3, 4) an FCN-2s. Skip
  scores start at zero (the paper's initialisation), so training starts from the stride-32 scores.
* ``fcn_resnet50``: torchvision's ``FCN`` with a ResNet-50 backbone whose last two stages trade their
  stride for dilation (output stride 8), an ``FCNHead`` classifier on layer4 and optionally one on
  layer3 (``aux_classifier``), logits resized bilinearly to the input; torchvision's module layout and
  state_dict keys, so its converted weights load directly (35,322,218 parameters with 21 classes and
  the auxiliary head).
"""
from .. import backend, nn
from ..autograd.tensor import Tensor
from .resnet import resnet50

np = backend.numpy


def bilinear_kernel(channels, factor):
    """Weight (channels, channels, k, k), k = 2·factor − factor mod 2, of a ConvTranspose2d(stride=factor)
    that upsamples each channel on its own by bilinear interpolation (FCN's ``upsample_filt``, seed 4.5.1):
    w(u, v) = (1 − |u − c| / factor)(1 − |v − c| / factor) with c the kernel's centre. With padding
    factor // 2 and an even factor, the output is ``interpolate(mode="bilinear", align_corners=False)``
    away from the borders."""
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"bilinear_kernel: factor must be an integer >= 1, got {factor!r}")
    size = 2 * factor - factor % 2
    centre = factor - 1 if size % 2 else factor - 0.5
    line = 1 - np.abs(np.arange(size) - centre) / factor
    weight = np.zeros((channels, channels, size, size), np.float32)
    weight[np.arange(channels), np.arange(channels)] = np.outer(line, line)
    return weight


def upsampling(channels, factor):
    """ConvTranspose2d(channels, channels) that multiplies the size by an even ``factor``, initialised to
    bilinear interpolation (learnable, no bias)."""
    up = nn.ConvTranspose2d(channels, channels, 2 * factor, stride=factor, padding=factor // 2, bias=False)
    up.weight.array[...] = bilinear_kernel(channels, factor)
    return up


def _stage(in_channels, out_channels):
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
                         nn.ReLU(inplace=True), nn.MaxPool2d(2, 2))


class FCN8s(nn.Module):
    """FCN-8s for small images: (N, in_channels, H, W) → per-pixel logits (N, num_classes, H, W), H and W
    multiples of 32 (see the module doc)."""

    def __init__(self, num_classes=11, in_channels=1, widths=(16, 32, 48, 64, 64), fc=128, skips=(0, 3, 4),
                 dropout=0.1):
        super().__init__()
        if len(widths) != 5:
            raise ValueError(f"FCN8s: widths must give the channels of the 5 stages, got {widths!r}")
        if not set(skips) <= {0, 1, 2, 3, 4} or len(set(skips)) != len(skips):
            raise ValueError(f"FCN8s: skips must be distinct levels among 0 (the input), 1, 2, 3, 4 (the pools), "
                             f"got {skips!r}")
        self.skips = tuple(sorted(skips, reverse=True))
        channels = (in_channels,) + tuple(widths)
        self.features = nn.ModuleList(_stage(channels[k], channels[k + 1]) for k in range(5))
        self.fc = nn.Sequential(nn.Conv2d(widths[4], fc, 3, padding=1), nn.ReLU(inplace=True), nn.Dropout2d(dropout),
                                nn.Conv2d(fc, fc, 1), nn.ReLU(inplace=True), nn.Dropout2d(dropout))
        self.score_fr = nn.Conv2d(fc, num_classes, 1)
        self.score_pool = nn.ModuleDict({str(k): nn.Conv2d(channels[k], num_classes, 1) for k in self.skips})
        for score in self.score_pool.values():          # the paper's zero start
            nn.init.zeros_(score.weight)
            nn.init.zeros_(score.bias)
        finest = min((k for k in self.skips if k > 0), default=5)
        self.upscore = nn.ModuleList(upsampling(num_classes, 2) for _ in range(5 - finest))
        self.upscore_final = upsampling(num_classes, 2 ** finest)

    def forward(self, x):
        if x.ndim != 4 or x.shape[2] % 32 or x.shape[3] % 32:
            raise ValueError(f"FCN8s: expected input (N, C, H, W) with H and W multiples of 32, got {tuple(x.shape)}")
        pools = [x]
        for stage in self.features:
            pools.append(stage(pools[-1]))
        score = self.score_fr(self.fc(pools[5]))
        for level, up in zip(range(4, 0, -1), self.upscore):
            score = up(score)
            if level in self.skips:
                score = score + self.score_pool[str(level)](pools[level])
        score = self.upscore_final(score)
        return score + self.score_pool["0"](x) if 0 in self.skips else score


def fcn8s(num_classes=11, in_channels=1, **kwargs):
    """FCN-8s for small single-channel images (the digits-on-a-canvas task has 11 classes)."""
    return FCN8s(num_classes, in_channels, **kwargs)


# ---------------------------------------------------------------- torchvision's FCN
def _bilinear_matrix(n_out, n_in):
    """(n_out, n_in) matrix of bilinear resampling with half-pixel centres (align_corners=False)."""
    pos = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
    low = np.floor(pos).astype(np.int64)
    high = np.minimum(low + 1, n_in - 1)
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.arange(n_out), low), 1 - (pos - low))
    np.add.at(m, (np.arange(n_out), high), pos - low)
    return m


def resize_bilinear(x, size):
    """(N, C, h, w) → (N, C, *size) by bilinear interpolation, as ``torch.nn.functional.interpolate(mode=
    "bilinear", align_corners=False)``; linear in x, written as two matrix products (rows, then columns), so
    every derivative comes from the matmul rules."""
    rows = Tensor.wrap(_bilinear_matrix(size[0], x.shape[2]).astype(x.dtype))
    cols = Tensor.wrap(_bilinear_matrix(size[1], x.shape[3]).T.astype(x.dtype))
    return rows @ x @ cols


def _replace_stride_with_dilation(stage, dilation):
    """torchvision's ``replace_stride_with_dilation`` for one stage of a built ResNet: the stage keeps its
    input's resolution; its first block's 3×3 convolution gets stride 1 (with the dilation the stage before
    ended with, ``dilation // 2``), the others dilation ``dilation``."""
    for k, block in enumerate(stage):
        d = dilation // 2 if k == 0 else dilation
        block.conv2.stride, block.conv2.padding, block.conv2.dilation = (1, 1), (d, d), (d, d)
        block.stride = 1
        if block.downsample is not None:
            block.downsample[0].stride = (1, 1)
    return stage


class IntermediateLayerGetter(nn.ModuleDict):
    """The children of ``model`` up to the last named in ``return_layers`` (torchvision's): calling it runs
    them in order and returns {new name: output} of those named."""

    def __init__(self, model, return_layers):
        names = [name for name, _ in model.named_children()]
        if not set(return_layers) <= set(names):
            raise ValueError(f"IntermediateLayerGetter: return_layers {sorted(return_layers)} are not all children "
                             f"of the model ({', '.join(names)})")
        last = max(names.index(name) for name in return_layers)
        super().__init__([(name, module) for name, module in model.named_children()][:last + 1])
        self.return_layers = dict(return_layers)

    def forward(self, x):
        out = {}
        for name, module in self.items():
            x = module(x)
            if name in self.return_layers:
                out[self.return_layers[name]] = x
        return out


class FCNHead(nn.Sequential):
    """3×3 convolution to in_channels / 4 maps, BatchNorm, ReLU, Dropout(0.1), 1×1 convolution to the scores."""

    def __init__(self, in_channels, channels):
        inter = in_channels // 4
        super().__init__(nn.Conv2d(in_channels, inter, 3, padding=1, bias=False), nn.BatchNorm2d(inter), nn.ReLU(),
                         nn.Dropout(0.1), nn.Conv2d(inter, channels, 1))


class FCN(nn.Module):
    """torchvision's FCN: ``backbone`` returns {"out": features[, "aux": features]}; ``classifier`` (and
    ``aux_classifier``) score them, and the scores are resized bilinearly to the input. Returns a dict
    {"out": (N, classes, H, W)[, "aux": ...]} as torchvision."""

    def __init__(self, backbone, classifier, aux_classifier=None):
        super().__init__()
        self.backbone, self.classifier, self.aux_classifier = backbone, classifier, aux_classifier

    def forward(self, x):
        size = tuple(x.shape[-2:])
        features = self.backbone(x)
        result = {"out": resize_bilinear(self.classifier(features["out"]), size)}
        if self.aux_classifier is not None:
            result["aux"] = resize_bilinear(self.aux_classifier(features["aux"]), size)
        return result


class FCNLogits(FCN):
    """An FCN that returns its dense logits ``out`` alone, a Tensor (N, classes, H, W): what ``deepgrad train``,
    ``deepgrad summary`` and ONNX export take. Same modules and state_dict keys as ``FCN``."""

    def forward(self, x):
        return super().forward(x)["out"]


def fcn_resnet50(num_classes=21, aux_loss=None):
    """FCN with a dilated ResNet-50 backbone (output stride 8), torchvision's ``fcn_resnet50`` without
    weights: 32,957,013 parameters with 21 classes, 35,322,218 with the auxiliary head (``aux_loss=True``)."""
    backbone = resnet50()
    _replace_stride_with_dilation(backbone.layer3, 2)
    _replace_stride_with_dilation(backbone.layer4, 4)
    layers = {"layer4": "out", "layer3": "aux"} if aux_loss else {"layer4": "out"}
    aux = FCNHead(1024, num_classes) if aux_loss else None
    return FCN(IntermediateLayerGetter(backbone, layers), FCNHead(2048, num_classes), aux)

