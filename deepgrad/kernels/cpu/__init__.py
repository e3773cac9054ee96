"""The CPU's kernels, for NumPy arrays: direct C kernels (``direct.py``), im2col on the flat grid
(``grid.py``), batch-last GEMMs (``batch_last.py``), depthwise loops (``depthwise.py``), numba loops
(``numba_loops.py``), pooling on the flat grid (``pooling.py``); the rest is ``generic``'s."""
from ..generic import *  # noqa: F401,F403  (what the CPU does not do better)
from ..generic import __all__  # noqa: F401
from .convolution import conv, conv_transpose, conv_weight  # noqa: F811
from .pooling import CpuPooling

window_sum, window_spread, window_max, max_offsets, window_pick, window_route = CpuPooling().kernels()  # noqa: F811
