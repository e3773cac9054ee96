"""Keep freed memory for reuse, as the caching allocators of other frameworks do.

NumPy takes every array's memory from C ``malloc``. glibc serves blocks of 128 KiB and more (a bound
it raises by itself up to 32 MiB) with fresh pages from the kernel and gives them back on ``free``,
so each activation, im2col buffer and gradient of every training step is page-faulted and zeroed by
the kernel anew; on a 2-core machine that doubles the time of a small convolution's backward pass.
At import deepgrad asks glibc (only glibc; nothing changes elsewhere) to serve blocks up to
``MMAP_THRESHOLD`` from its heap and to keep up to ``TRIM_THRESHOLD`` of freed memory for reuse.
Peak memory stays the same; memory freed stays with the process, up to that bound.
Set ``DEEPGRAD_MALLOC_TUNING=0`` to leave malloc as it is.
"""
import ctypes
import os

MMAP_THRESHOLD = 256 << 20
TRIM_THRESHOLD = 512 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3   # mallopt parameters, <malloc.h>


def _glibc():
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):
        return False


def tune():
    """Apply the settings above; returns whether glibc accepted them."""
    if os.environ.get("DEEPGRAD_MALLOC_TUNING", "1") == "0" or not _glibc():
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


tuned = tune()
