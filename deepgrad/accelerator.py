"""``deepgrad.accelerator``, as ``torch.accelerator``: the current accelerator, CUDA when deepgrad can use one
(the CPU is not an accelerator, so scripts fall back to ``deepgrad.device("cpu")``)."""
from . import backend, cuda


def is_available():
    return cuda.is_available()


def current_accelerator(check_available=False):
    """``device('cuda')`` when a CUDA device is available, else None."""
    return backend.device("cuda") if cuda.is_available() else None


def device_count():
    return cuda.device_count()
