"""``dg.viz``: pictures of the chapter. ``draw`` draws computational graphs (seed 三, from
``deepgrad.static.viz``); ``animate_conv`` animates the arithmetic of a convolution or a transposed
convolution (seed 4.1.3, 4.5), with ``conv_frames`` the cells it lights in each frame."""
from ..static.viz import Drawing, draw, has_dot, to_dot
from .conv_arithmetic import ConvArithmetic, Frame, animate_conv, conv_frames

__all__ = ["draw", "Drawing", "to_dot", "has_dot", "animate_conv", "conv_frames", "ConvArithmetic", "Frame"]
