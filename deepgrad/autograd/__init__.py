"""Tensors, the dynamic graph, reverse mode and forward-mode levels (layer 2 of DESIGN.md), with
PyTorch's names (``deepgrad.autograd.Function``, ``grad``, ``backward``, ``set_detect_anomaly``...)."""
from . import graph
from .custom_function import Function, FunctionCtx, once_differentiable
from .engine import backward, detect_anomaly, grad, is_anomaly_enabled, set_detect_anomaly
from .function import Primitive, apply, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .tensor import Tensor


def Variable(data, requires_grad=False, volatile=False):
    """``torch.autograd.Variable`` from old scripts: since PyTorch 0.4 simply the tensor itself."""
    if requires_grad and not data.requires_grad:
        data.requires_grad_(True)
    return data


__all__ = ["Tensor", "Primitive", "Function", "FunctionCtx", "Variable", "apply", "backward", "grad", "graph",
           "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled", "detect_anomaly", "set_detect_anomaly",
           "is_anomaly_enabled", "once_differentiable"]
