"""Normalisation on CUDA: batch norm's x̂ (the batch and spatial axes) through cuDNN's batch-norm graph
(``cudnn.py``); other axes, and arrays cuDNN does not take, through the generic means (cuBLAS
matrix-vector products) and one fused elementwise kernel for (x − mean) · (var + eps)^(−1/2)."""
import cupy

from .. import generic
from . import cudnn

_SCALE = cupy.ElementwiseKernel("T centred, T var, T eps", "T y", "y = centred / sqrt(var + eps)",
                                "deepgrad_normalize")


def normalize(x, axes, eps):
    """(x − mean) / sqrt(var + eps) over ``axes``."""
    if x.size and axes == (0,) + tuple(range(2, x.ndim)):
        y = cudnn.batch_norm(cupy.ascontiguousarray(x), eps)
        if y is not None:
            return y
    _, centred, var = generic.moments(x, axes)
    return _SCALE(centred, var, x.dtype.type(eps))
