"""``torch.backends.cudnn``'s settings, read by deepgrad's CUDA kernels: ``enabled`` (use cuDNN where it is
installed, else im2col + cuBLAS), ``benchmark`` (time the algorithms for each new shape and keep the fastest),
``deterministic`` (only algorithms that give the same bits every run), ``allow_tf32`` (let convolutions round
float32 inputs to TF32 on Ampere and newer GPUs; off by default, so results match the CPU's to float32
tolerance; PyTorch's default is on)."""
enabled = True
benchmark = False
deterministic = False
allow_tf32 = False


def is_available():
    """Whether cuDNN can be used: the CUDA backend and NVIDIA's cuDNN frontend package are both installed."""
    from .. import cuda
    if not cuda.is_available():
        return False
    try:
        import cudnn  # noqa: F401  (nvidia-cudnn-frontend)
    except ImportError:
        return False
    return True
