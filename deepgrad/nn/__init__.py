"""Neural-network building blocks (layer 4 of DESIGN.md): Module, Parameter, layers, init, losses."""
from . import functional
from .container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from .lazy import LazyModuleMixin
from .module import Module
from .parameter import Parameter, UninitializedBuffer, UninitializedParameter
from .summary import summary
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss)
from . import init
from .layers import *  # noqa: F401,F403  (Linear, Conv2d, BatchNorm2d, ReLU, Dropout, Subsampling, Highway ...)
from . import modules, utils
