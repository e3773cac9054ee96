"""Convolution layers (seed 4.2.1–4.2.2, 4.5.1): ``Conv1d/2d/3d`` and ``ConvTranspose1d/2d/3d``,
with PyTorch's arguments, defaults, parameter layout and initialisation, and their lazy forms
(``LazyConv2d``...: in_channels inferred at the first forward).

A Conv2d from D input maps to P output maps with U×V kernels holds P·(D/groups)·U·V weights and
P biases: P·D·U·V + P with groups=1 (seed 4.2.2). Weights are (P, D/groups, U, V) for convolutions
and (D, P/groups, U, V) for transposed ones (PyTorch's layout). Default initialisation:
``kaiming_uniform_(weight, a=sqrt(5))``, i.e. U(−1/sqrt(fan_in), 1/sqrt(fan_in)) with
fan_in = weight.shape[1]·U·V, and the bias from the same interval.
"""
import math

from .. import functional as F
from ..functional.conv import transpose_sizes
from .. import init
from ..lazy import LazyModuleMixin
from ..module import Module
from ..parameter import UninitializedParameter
from ._utils import empty_parameter, factory_dtype, ntuple

_PADDING_STRINGS = ("same", "valid", "full")   # "full": the chapter's wide convolution (K' − 1 per side)
_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    _nd = None

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, transposed,
                 output_padding, groups, bias, padding_mode, device=None, dtype=None):
        super().__init__()
        dtype = factory_dtype(device, dtype)
        nd = self._nd
        kernel_size, stride, dilation = (ntuple(v, nd) for v in (kernel_size, stride, dilation))
        output_padding = ntuple(output_padding, nd)
        if not isinstance(groups, int) or groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if isinstance(padding, str):
            if transposed or padding not in _PADDING_STRINGS:
                allowed = "an int or a tuple" if transposed else f"one of {_PADDING_STRINGS}"
                raise ValueError(f"Invalid padding string {padding!r}, should be {allowed}")
            if padding == "same" and any(s != 1 for s in stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
        else:
            padding = ntuple(padding, nd)
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {set(_PADDING_MODES)}, "
                             f"but got padding_mode='{padding_mode}'")
        if padding_mode != "zeros":
            raise NotImplementedError(f"padding_mode={padding_mode!r}: only 'zeros' is implemented")
        for name, value in (("kernel_size", kernel_size), ("stride", stride), ("dilation", dilation),
                            ("output_padding", output_padding)):
            if len(value) != nd:
                raise ValueError(f"{type(self).__name__}: {name} must be an int or a tuple of {nd} ints, got {value}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.transposed = transposed
        self.output_padding = output_padding
        self.groups = groups
        self.padding_mode = padding_mode
        if transposed:
            shape = (in_channels, out_channels // groups) + kernel_size
        else:
            shape = (out_channels, in_channels // groups) + kernel_size
        self.weight = empty_parameter(shape, dtype)
        if bias:
            self.bias = empty_parameter((out_channels,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * len(self.padding):
            s += f", padding={self.padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * len(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, False, 0, groups,
                         bias, padding_mode, device, dtype)

    def forward(self, input):
        return self._function(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                              self.groups)


class Conv1d(_Conv):
    """1-D convolution (cross-correlation) over (N, C_in, L) → (N, C_out, L_out).
    ``padding`` may be an int, a tuple, "valid", "same" or "full" (wide convolution)."""
    _nd = 1
    _function = staticmethod(F.conv1d)


class Conv2d(_Conv):
    """2-D convolution (cross-correlation, seed eq. 4.2.2) over (N, C_in, H, W) → (N, C_out, H_out, W_out).
    ``padding`` may be an int, a tuple, "valid", "same" or "full" (wide convolution)."""
    _nd = 2
    _function = staticmethod(F.conv2d)


class Conv3d(_Conv):
    """3-D convolution over (N, C_in, D, H, W)."""
    _nd = 3
    _function = staticmethod(F.conv3d)


class _ConvTranspose(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, True, output_padding,
                         groups, bias, padding_mode, device, dtype)

    def _output_padding(self, input, output_size):
        """The output_padding that gives ``output_size`` (spatial sizes, or with the batch and
        channel dims too), checked to be reachable; ``self.output_padding`` when it is None."""
        nd = self._nd
        if output_size is None:
            return self.output_padding
        lead = 2 if input.ndim == nd + 2 else 1
        output_size = tuple(output_size)
        if len(output_size) == lead + nd:
            output_size = output_size[lead:]
        if len(output_size) != nd:
            raise ValueError(f"ConvTranspose{nd}D: for {input.ndim}D input, output_size must have {nd} "
                             f"or {lead + nd} elements (got {len(output_size)})")
        min_sizes = list(transpose_sizes(input.shape[lead:], self.kernel_size, self.stride, self.padding,
                                         self.dilation, (0,) * nd))
        max_sizes = [m + s - 1 for m, s in zip(min_sizes, self.stride)]
        for size, lo, hi in zip(output_size, min_sizes, max_sizes):
            if not lo <= size <= hi:
                raise ValueError(f"requested an output size of {list(output_size)}, but valid sizes range "
                                 f"from {min_sizes} to {max_sizes} (for an input of {tuple(input.shape[lead:])})")
        return tuple(size - lo for size, lo in zip(output_size, min_sizes))

    def forward(self, input, output_size=None):
        output_padding = self._output_padding(input, output_size)
        return self._function(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                              self.groups, self.dilation)


class ConvTranspose1d(_ConvTranspose):
    """Transposed 1-D convolution (seed 4.5.1): L_out = (L − 1)·S − 2P + D·(K − 1) + output_padding + 1."""
    _nd = 1
    _function = staticmethod(F.conv_transpose1d)


class ConvTranspose2d(_ConvTranspose):
    """Transposed 2-D convolution (seed 4.5.1), the gradient of Conv2d with respect to its input."""
    _nd = 2
    _function = staticmethod(F.conv_transpose2d)


class ConvTranspose3d(_ConvTranspose):
    _nd = 3
    _function = staticmethod(F.conv_transpose3d)


class _LazyConvMixin(LazyModuleMixin):
    """``in_channels`` comes from the channel dim of the first (batched or unbatched) input."""
    _inferred = "in_channels"

    def _lazy_init(self, out_channels, bias, device, dtype):
        dtype = factory_dtype(device, dtype)
        self.weight = UninitializedParameter(dtype=dtype)
        self.out_channels = out_channels
        if bias:
            self.bias = UninitializedParameter(dtype=dtype)

    def _infer(self, input):
        unbatched = self._nd + 1
        if input.ndim not in (unbatched, unbatched + 1):
            raise RuntimeError(f"Expected {unbatched}D (unbatched) or {unbatched + 1}D (batched) input to "
                               f"{type(self).__name__}, but got input of size: {tuple(input.shape)}")
        in_channels = input.shape[1] if input.ndim == unbatched + 1 else input.shape[0]
        if in_channels % self.groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        return in_channels

    def _lazy_shapes(self):
        a, b = (self.in_channels, self.out_channels) if self.transposed else (self.out_channels, self.in_channels)
        return {"weight": (a, b // self.groups) + self.kernel_size, "bias": (self.out_channels,)}


class _LazyConv(_LazyConvMixin):
    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None):
        super().__init__(0, 0, kernel_size, stride, padding, dilation, groups, False, padding_mode, device, dtype)
        self._lazy_init(out_channels, bias, device, dtype)


class _LazyConvTranspose(_LazyConvMixin):
    def __init__(self, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True,
                 dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__(0, 0, kernel_size, stride, padding, output_padding, groups, False, dilation, padding_mode,
                         device, dtype)
        self._lazy_init(out_channels, bias, device, dtype)


class LazyConv1d(_LazyConv, Conv1d):
    """A Conv1d whose ``in_channels`` is inferred from its first input; then it becomes a Conv1d."""
    cls_to_become = Conv1d


class LazyConv2d(_LazyConv, Conv2d):
    """A Conv2d whose ``in_channels`` is inferred from its first input; then it becomes a Conv2d."""
    cls_to_become = Conv2d


class LazyConv3d(_LazyConv, Conv3d):
    cls_to_become = Conv3d


class LazyConvTranspose1d(_LazyConvTranspose, ConvTranspose1d):
    """A ConvTranspose1d whose ``in_channels`` is inferred from its first input."""
    cls_to_become = ConvTranspose1d


class LazyConvTranspose2d(_LazyConvTranspose, ConvTranspose2d):
    """A ConvTranspose2d whose ``in_channels`` is inferred from its first input."""
    cls_to_become = ConvTranspose2d


class LazyConvTranspose3d(_LazyConvTranspose, ConvTranspose3d):
    cls_to_become = ConvTranspose3d
