"""Whether the compiled loops of ``numba_loops.py`` can run: numba is installed (the optional extra
``pip install "deepgrad[fast]"``), ``DEEPGRAD_NUMBA`` is not "0", and the arrays are NumPy float32 or
float64. Ops ask ``loops_for(array)`` and keep their NumPy code as the fallback.
"""
import functools
import os
import warnings

from ... import backend


@functools.cache
def loops():
    """The compiled loops module, or None (loaded on first use: numba takes a few tenths of a second
    to import, and each loop compiles once, then comes from numba's on-disk cache)."""
    if os.environ.get("DEEPGRAD_NUMBA", "1") == "0":
        return None
    try:
        from . import numba_loops
    except ImportError:           # numba is not installed
        return None
    except RuntimeError as error:  # e.g. numba found no writable place for its cache
        warnings.warn(f"deepgrad: compiled loops unavailable, using NumPy code ({error})", RuntimeWarning)
        return None
    return numba_loops


def loops_for(array):
    """The compiled loops if they can take ``array`` (a NumPy float32/float64 array), else None."""
    if backend.xp_of(array) is backend.numpy and array.dtype in (backend.float32, backend.float64):
        return loops()
    return None
