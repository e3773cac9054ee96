"""Tensors, the dynamic graph, reverse mode and forward-mode levels (layer 2 of DESIGN.md)."""
from .engine import backward, grad
from .function import Primitive, apply, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .tensor import Tensor

__all__ = ["Tensor", "Primitive", "apply", "backward", "grad", "no_grad", "enable_grad",
           "is_grad_enabled", "set_grad_enabled"]
