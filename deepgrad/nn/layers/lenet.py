"""LeNet-5's trainable subsampling layer (seed 4.2.3, eq. 4.2.4: Y'ᵈ = f(wᵈ·Yᵈ + bᵈ)) and its
squashing function.

In LeCun et al. (1998), "Gradient-based learning applied to document recognition", layer S2 is:
"The four inputs to a unit in S2 are added, then multiplied by a trainable coefficient, and added to
a trainable bias. The result is passed through a sigmoidal function." So the pooling is a *sum*
over non-overlapping 2×2 windows (not a max, not a mean), followed by one scalar weight and one bias
per feature map (6 maps → 12 trainable parameters) and the squashing function
f(a) = A·tanh(S·a) with A = 1.7159, S = 2/3 (the paper's appendix A). The paper initialises every
weight from U(−2.4/F, 2.4/F) with F the unit's fan-in (4 for a 2×2 window); ``Subsampling`` does
the same for its weight and bias.
"""
from .. import functional as F
from .. import init
from ..module import Module
from ._utils import empty_parameter, factory_dtype, ntuple


class ScaledTanh(Module):
    """f(a) = amplitude·tanh(slope·a), LeCun's squashing function (defaults A = 1.7159, S = 2/3:
    f(±1) = ±1, and the second derivative is largest at a = ±1)."""

    def __init__(self, amplitude=1.7159, slope=2 / 3):
        super().__init__()
        self.amplitude = amplitude
        self.slope = slope

    def forward(self, input):
        return F.tanh(input * self.slope) * self.amplitude

    def extra_repr(self):
        return f"amplitude={self.amplitude}, slope={self.slope}"


class Subsampling(Module):
    """Trainable subsampling of (N, C, H, W) or (C, H, W) inputs:
    y[:, d] = activation(weight[d] · pool(x[:, d]) + bias[d]),
    with ``pooling='sum'`` (LeCun 1998's: the window's sum) or ``'mean'`` (seed eq. 4.2.4's
    mean pooling) over ``kernel_size`` windows every ``stride`` (default: kernel_size,
    non-overlapping). ``activation`` is a Module (e.g. ``ScaledTanh()`` for LeNet-5, ``Sigmoid()``)
    or None for the affine map alone. Parameters: weight (C,), bias (C,): 2·C in all.
    """

    def __init__(self, num_channels, kernel_size=2, stride=None, pooling="sum", activation=None, bias=True,
                 device=None, dtype=None):
        super().__init__()
        dtype = factory_dtype(device, dtype)
        if pooling not in ("sum", "mean"):
            raise ValueError(f"Subsampling: pooling must be 'sum' or 'mean', got {pooling!r}")
        if activation is not None and not isinstance(activation, Module):
            raise TypeError(f"Subsampling: activation must be a Module or None, got {type(activation).__name__}")
        self.num_channels = num_channels
        self.kernel_size = ntuple(kernel_size, 2)
        self.stride = ntuple(stride if stride is not None else kernel_size, 2)
        self.pooling = pooling
        self.weight = empty_parameter((num_channels,), dtype)
        if bias:
            self.bias = empty_parameter((num_channels,), dtype)
        else:
            self.register_parameter("bias", None)
        self.activation = activation
        self.reset_parameters()

    def reset_parameters(self):
        """U(−2.4/F, 2.4/F) with F = kernel area, the fan-in of a unit (LeCun et al. 1998)."""
        bound = 2.4 / (self.kernel_size[0] * self.kernel_size[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        divisor = 1 if self.pooling == "sum" else None
        pooled = F.avg_pool2d(input, self.kernel_size, self.stride, divisor_override=divisor)
        y = pooled * self.weight.reshape(-1, 1, 1)
        if self.bias is not None:
            y = y + self.bias.reshape(-1, 1, 1)
        return y if self.activation is None else self.activation(y)

    def extra_repr(self):
        s = f"{self.num_channels}, kernel_size={self.kernel_size}, stride={self.stride}, pooling={self.pooling!r}"
        return s if self.bias is not None else s + ", bias=False"
