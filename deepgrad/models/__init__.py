"""The model zoo (layer 5 of DESIGN.md): functions returning Modules, each citing its paper."""
from .alexnet import AlexNet, alexnet
from .bn_inception import BNInception, bn_inception
from .fcn import FCN, FCN8s, fcn8s, fcn_resnet50
from .googlenet import GoogLeNet, googlenet
from .inception import Inception3, InceptionOutputs, inception_v3
from .lenet import lenet5
from .mlp import highway_mlp, mlp
from .resnet import (CifarResNet, ResNet, resnet18, resnet20, resnet32, resnet34, resnet44, resnet50, resnet56,
                     resnet101, resnet110, resnet152)
from .vgg import VGG, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn

MODELS = {
    "mlp": mlp, "highway_mlp": highway_mlp, "lenet5": lenet5, "alexnet": alexnet, "googlenet": googlenet,
    "resnet18": resnet18, "resnet34": resnet34, "resnet50": resnet50, "resnet101": resnet101, "resnet152": resnet152,
    "resnet20": resnet20, "resnet32": resnet32, "resnet44": resnet44, "resnet56": resnet56, "resnet110": resnet110,
    "vgg11": vgg11, "vgg13": vgg13, "vgg16": vgg16, "vgg19": vgg19, "vgg11_bn": vgg11_bn, "vgg13_bn": vgg13_bn,
    "vgg16_bn": vgg16_bn, "vgg19_bn": vgg19_bn, "inception_v3": inception_v3, "bn_inception": bn_inception,
    "fcn8s": fcn8s, "fcn_resnet50": fcn_resnet50,
}


def get_model(name, **kwargs):
    """Build a zoo model by name (``list(MODELS)`` names them all)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(MODELS)}")
    return MODELS[name](**kwargs)
