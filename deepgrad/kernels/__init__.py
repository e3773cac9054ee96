"""How each device computes the primitives of ``ops`` (layer 3 of DESIGN.md says *what*; this layer,
between ``backend`` and ``autograd``, says *how*). Kernels take and return raw arrays and import
``backend`` only.

* ``cpu``      NumPy arrays: direct C kernels, im2col on a flat grid, batch-last GEMMs, depthwise and
               numba loops.
* ``cuda``     CuPy arrays: cuDNN through NVIDIA's cudnn frontend, cuBLAS, CuPy elementwise and raw kernels.
* ``generic``  any other NumPy-like array: written against the array namespace alone.

Every set has the same functions (``generic.__all__``); ``of(array)`` picks the set for an array.
"""
from .. import backend
from . import cpu, generic, sharing

scope = sharing.scope


def of(array):
    """The kernel set for ``array``: ``cpu`` for a NumPy array, ``cuda`` for a CuPy array, else ``generic``."""
    kind = type(array)
    if kind is backend.numpy.ndarray:
        return cpu
    if kind.__module__.partition(".")[0] == "cupy":
        from . import cuda     # imports CuPy: only once a CuPy array is here
        return cuda
    return generic
