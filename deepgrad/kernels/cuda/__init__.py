"""The CUDA kernels, for CuPy arrays: convolutions through cuDNN (``convolution.py``, ``cudnn.py``),
batch norm through cuDNN (``normalization.py``), max pooling as fused CuPy kernels (``pooling.py``);
matrix products are cuBLAS's (CuPy's ``matmul``), and the rest is ``generic``'s on CuPy. Where cuDNN's
frontend (``pip install nvidia-cudnn-frontend``) is missing, convolutions take the generic im2col +
cuBLAS kernels."""
from ..generic import *  # noqa: F401,F403  (elementwise and reductions: CuPy's own kernels)
from ..generic import __all__  # noqa: F401
from .convolution import conv, conv_transpose, conv_weight  # noqa: F811
from .normalization import normalize  # noqa: F811
from .pooling import CudaPooling

window_sum, window_spread, window_max, max_offsets, window_pick, window_route = CudaPooling().kernels()  # noqa: F811
