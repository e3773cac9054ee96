"""``DeformConv2d``: deformable convolution (Dai et al. 2017; v2 with a mask, Zhu et al. 2019) as
``torchvision.ops.DeformConv2d``: the parameters, initialisation and repr of ``Conv2d``, with the offsets
(and the mask) given to ``forward``, usually predicted by an ordinary convolution of the same input."""
from ...ops.deform import deform_conv2d
from .conv import _ConvNd


class DeformConv2d(_ConvNd):
    """forward(input, offset, mask=None) = ``deform_conv2d(input, offset, weight, bias, stride, padding,
    dilation, mask)``; weight (out, in/groups, kh, kw)."""
    _nd = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, device=None, dtype=None):
        if isinstance(padding, str):
            raise ValueError(f"DeformConv2d: padding must be an int or a pair of ints, got {padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, False, 0, groups,
                         bias, "zeros", device, dtype)

    def forward(self, input, offset, mask=None):
        return deform_conv2d(input, offset, self.weight, self.bias, self.stride, self.padding, self.dilation, mask)
