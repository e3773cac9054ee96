"""torchvision.ops' names for deepgrad's deformable convolution (``deepgrad.ops.deform``, ``nn.DeformConv2d``)."""
from ..nn import DeformConv2d  # noqa: F401
from ..ops.deform import deform_conv2d  # noqa: F401

__all__ = ["DeformConv2d", "deform_conv2d"]
