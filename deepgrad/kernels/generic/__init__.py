"""Kernels written against the array namespace alone (``backend.xp_of``): they run on any NumPy-like
array (NumPy, CuPy without cuDNN, a test device's wrapper), reading nothing back to the host. The CPU
and CUDA kernel sets take what they do not do better from here."""
from .convolution import conv, conv_transpose, conv_weight
from .deform import sample, spread, tap_points
from .normalization import mean, moments, normalize
from .pooling import Pooling, gather, scatter

window_sum, window_spread, window_max, max_offsets, window_pick, window_route = Pooling().kernels()

__all__ = ["conv", "conv_transpose", "conv_weight", "window_sum", "window_spread", "window_max", "max_offsets",
           "window_pick", "window_route", "gather", "scatter", "mean", "moments", "normalize", "sample", "spread",
           "tap_points"]
