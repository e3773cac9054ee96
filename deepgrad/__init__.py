"""deepgrad: feedforward and convolutional networks with automatic differentiation, on NumPy.

    import deepgrad as dg
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()      # x.grad == [2, 4]
"""
from . import allocator  # noqa: F401  (tunes glibc malloc once, at import)
from . import autograd, backend, data, models, nn, ops, optim, signal
from .autograd import Tensor, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .backend import (Generator, bool_, device, float16, float32, float64, get_default_dtype, int8, int16, int32,
                      int64, manual_seed, promote_types, result_type, set_default_dtype, uint8)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .nn.summary import summary
from .serialization import load, save
from .threads import get_num_threads, set_num_threads
from .ops import *  # noqa: F401,F403  (the tensor functions: dg.exp, dg.matmul, dg.zeros ...)
from .transforms import grad, hessian, jacfwd, jacrev, jvp, value_and_grad, vjp
from . import static
from .static import TraceError, compile, trace  # static graphs (seed 三)
from .static import onnx_export as onnx  # dg.onnx.export (issue 6)
from . import viz  # dg.viz.draw (issue 6), dg.viz.animate_conv (issue 14)

from . import accelerator, backends, cuda  # what scripts ask before choosing a device (only the CPU yet)
from . import utils, vision  # PyTorch's module names: deepgrad.utils.data, deepgrad.vision (torchvision)

# PyTorch's dtype names (torch.float, torch.long ...), the same dtype objects
float, double, half = float32, float64, float16
long, int, short, bool = int64, int32, int16, bool_   # noqa: A001  (as torch, they shadow the builtins here)
Size = tuple   # torch.Size(...) in scripts: shapes are tuples

__version__ = "0.1.0"
