"""``Linear``: the fully connected affine layer z = W x + b (seed eq. 1.1), and ``LazyLinear``."""
import math

from .. import functional as F
from .. import init
from ..lazy import LazyModuleMixin
from ..module import Module
from ..parameter import UninitializedParameter
from ._utils import empty_parameter, factory_dtype


class Linear(Module):
    """y = x Wᵀ + b with weight (out_features, in_features) and bias (out_features,).

    Default initialisation (PyTorch's): W ~ U(−1/sqrt(in_features), 1/sqrt(in_features)), which is
    ``kaiming_uniform_(W, a=sqrt(5))``, and b ~ U(−1/sqrt(in_features), 1/sqrt(in_features)).
    Parameters: out_features·in_features + out_features.
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        dtype = factory_dtype(device, dtype)
        self.in_features = in_features
        self.out_features = out_features
        self.weight = empty_parameter((out_features, in_features), dtype)
        if bias:
            self.bias = empty_parameter((out_features,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class LazyLinear(LazyModuleMixin, Linear):
    """A Linear whose ``in_features`` is the last dim of its first input; then it becomes a Linear."""
    cls_to_become = Linear
    _inferred = "in_features"

    def __init__(self, out_features, bias=True, device=None, dtype=None):
        super().__init__(0, 0, False, device, dtype)
        dtype = factory_dtype(device, dtype)
        self.weight = UninitializedParameter(dtype=dtype)
        self.out_features = out_features
        if bias:
            self.bias = UninitializedParameter(dtype=dtype)

    def _infer(self, input):
        return input.shape[-1]

    def _lazy_shapes(self):
        return {"weight": (self.out_features, self.in_features), "bias": (self.out_features,)}
