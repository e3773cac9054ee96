"""``deepgrad.cuda``, as ``torch.cuda``: CUDA devices through CuPy (``pip install "deepgrad[cuda13]"``).

Without CuPy or a GPU, ``is_available()`` is False, ``device_count()`` 0, the seeding calls do nothing (as in
PyTorch) and everything else raises a RuntimeError that says what to install, or that no GPU was found.
Memory figures are those of CuPy's memory pool, which deepgrad's CUDA arrays are allocated from.
"""
from . import backend


def _backend(op):
    return backend.array_backend("cuda", f"deepgrad.cuda.{op}")


def _cupy(op):
    _backend(op)                   # the install / no-GPU error first
    import cupy
    return cupy


def is_available():
    """Whether a CUDA device can hold tensors (CuPy imports and sees a GPU)."""
    try:
        _backend("is_available")
    except RuntimeError:
        return False
    return True


def device_count():
    return _backend("device_count").device_count() if is_available() else 0


def current_device():
    """The number of the device that ``'cuda'`` means now."""
    return _backend("current_device").current()


def _index(device, op):
    """A device given as None (the current one), an int, a string or a ``deepgrad.device``, as its number."""
    return backend.check_device(backend.device("cuda", device) if isinstance(device, int) else device or "cuda",
                                f"deepgrad.cuda.{op}").index


def set_device(device):
    """Make ``device`` the current CUDA device (what ``'cuda'`` and ``.cuda()`` mean)."""
    _cupy("set_device").cuda.Device(_index(device, "set_device")).use()


def synchronize(device=None):
    """Wait until all work queued on ``device`` is done (before reading a clock)."""
    _cupy("synchronize").cuda.Device(_index(device, "synchronize")).synchronize()


def manual_seed(seed):
    """Seed the current CUDA device's generator (random factories with ``device='cuda'``)."""
    if is_available():
        backend.seed_devices(seed, _backend("manual_seed"), [current_device()])


def manual_seed_all(seed):
    """Seed every CUDA device's generator."""
    if is_available():
        entry = _backend("manual_seed_all")
        backend.seed_devices(seed, entry, range(entry.device_count()))


def get_device_name(device=None):
    cupy = _cupy("get_device_name")
    name = cupy.cuda.runtime.getDeviceProperties(_index(device, "get_device_name"))["name"]
    return name.decode() if isinstance(name, bytes) else name


def memory_allocated(device=None):
    """Bytes held by tensors on ``device`` now (CuPy's pool: in use, not cached)."""
    cupy = _cupy("memory_allocated")
    with cupy.cuda.Device(_index(device, "memory_allocated")):
        return cupy.get_default_memory_pool().used_bytes()


def max_memory_allocated(device=None):
    """The most bytes held by tensors on ``device`` since the start or ``reset_peak_memory_stats``."""
    _cupy("max_memory_allocated")
    return backend.PeakPool.current.peaks.get(_index(device, "max_memory_allocated"), 0)


def reset_peak_memory_stats(device=None):
    """Start ``max_memory_allocated`` again from what is in use now."""
    index = _index(device, "reset_peak_memory_stats")
    backend.PeakPool.current.peaks[index] = memory_allocated(index)


def empty_cache():
    """Give the memory CuPy's pools keep for reuse back to the driver (device and pinned host memory)."""
    cupy = _cupy("empty_cache")
    cupy.get_default_memory_pool().free_all_blocks()
    cupy.get_default_pinned_memory_pool().free_all_blocks()
