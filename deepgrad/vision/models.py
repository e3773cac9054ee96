"""torchvision.models' builders for deepgrad's model zoo (``deepgrad.models``), with torchvision's keyword
arguments: ``weights`` (only None: deepgrad downloads no pretrained weights), ``progress``, ``num_classes``..."""
from .. import models as zoo
from ..models import AlexNet, GoogLeNet, ResNet  # noqa: F401


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
