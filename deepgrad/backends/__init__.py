"""``deepgrad.backends``, as ``torch.backends``: the switches scripts set for cuDNN and cuBLAS (read by the CUDA
kernels) and ask of MPS, which deepgrad does not have."""
from . import cuda, cudnn, mps  # noqa: F401
