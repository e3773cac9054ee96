"""The model zoo (layer 5 of DESIGN.md): functions returning Modules, each citing its paper."""
from .alexnet import AlexNet, alexnet
from .googlenet import GoogLeNet, googlenet
from .lenet import lenet5
from .mlp import highway_mlp, mlp
from .resnet import (CifarResNet, ResNet, resnet18, resnet20, resnet32, resnet34, resnet44, resnet50, resnet56,
                     resnet101, resnet110, resnet152)

MODELS = {
    "mlp": mlp, "highway_mlp": highway_mlp, "lenet5": lenet5, "alexnet": alexnet, "googlenet": googlenet,
    "resnet18": resnet18, "resnet34": resnet34, "resnet50": resnet50, "resnet101": resnet101, "resnet152": resnet152,
    "resnet20": resnet20, "resnet32": resnet32, "resnet44": resnet44, "resnet56": resnet56, "resnet110": resnet110,
}


def get_model(name, **kwargs):
    """Build a zoo model by name (``list(MODELS)`` names them all)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(MODELS)}")
    return MODELS[name](**kwargs)
