"""torchvision.models.segmentation's builders for deepgrad's fully convolutional networks (``deepgrad.models.fcn``)."""
from ... import models as zoo
from ...models.fcn import FCN, FCNHead  # noqa: F401
from . import _torchvision


def fcn_resnet50(num_classes=None, aux_loss=None, weights_backbone=None):
    """torchvision's ``fcn_resnet50``: 21 classes unless ``num_classes``; ``weights_backbone`` only None
    (torchvision's default downloads ImageNet weights for the backbone; deepgrad downloads nothing)."""
    if weights_backbone is not None:
        raise ValueError("fcn_resnet50: deepgrad has no pretrained backbone weights to download; pass "
                         "weights_backbone=None and load a state_dict you converted (deepgrad.load) instead")
    return zoo.fcn_resnet50(num_classes=21 if num_classes is None else num_classes, aux_loss=aux_loss)


fcn_resnet50 = _torchvision(fcn_resnet50)
