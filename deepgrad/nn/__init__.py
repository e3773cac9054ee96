"""Neural-network building blocks (layer 4 of DESIGN.md): Module, Parameter, layers, init, losses."""
from . import functional
from .container import ModuleDict, ModuleList, Sequential
from .module import Module
from .parameter import Parameter
from .summary import summary
