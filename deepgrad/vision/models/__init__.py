"""torchvision.models' builders for deepgrad's model zoo (``deepgrad.models``), with torchvision's keyword
arguments: ``weights`` (only None: deepgrad downloads no pretrained weights), ``progress``, ``num_classes``..."""
from ... import models as zoo
from ...models import VGG, AlexNet, GoogLeNet, Inception3, InceptionOutputs, ResNet  # noqa: F401


def _torchvision(builder):
    def build(*, weights=None, progress=True, pretrained=False, **kwargs):
        if weights is not None or pretrained:
            raise ValueError(f"{builder.__name__}: deepgrad has no pretrained weights to download; pass weights=None "
                             "and load a state_dict you converted (deepgrad.load) instead")
        return builder(**kwargs)
    build.__name__ = builder.__name__
    build.__doc__ = builder.__doc__
    return build


alexnet, googlenet = _torchvision(zoo.alexnet), _torchvision(zoo.googlenet)
resnet18, resnet34, resnet50 = _torchvision(zoo.resnet18), _torchvision(zoo.resnet34), _torchvision(zoo.resnet50)
resnet101, resnet152 = _torchvision(zoo.resnet101), _torchvision(zoo.resnet152)
vgg11, vgg13, vgg16, vgg19 = (_torchvision(b) for b in (zoo.vgg11, zoo.vgg13, zoo.vgg16, zoo.vgg19))
vgg11_bn, vgg13_bn, vgg16_bn, vgg19_bn = (_torchvision(b) for b in (zoo.vgg11_bn, zoo.vgg13_bn, zoo.vgg16_bn,
                                                                      zoo.vgg19_bn))
inception_v3 = _torchvision(zoo.inception_v3)

from . import segmentation  # noqa: E402,F401  (torchvision.models.segmentation: fcn_resnet50)
