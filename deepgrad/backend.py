"""The array namespace, dtypes, devices and random numbers (layer 1 of DESIGN.md).

Every other layer reaches arrays through this module: ops ask ``xp_of(array)`` for the namespace
of the arrays they were given (NumPy today; CuPy slots in here later, as in Chainer's ``xp``).
"""
import numpy

xp = numpy  # the default (CPU) namespace

float16 = numpy.dtype("float16")
float32 = numpy.dtype("float32")
float64 = numpy.dtype("float64")
int8 = numpy.dtype("int8")
uint8 = numpy.dtype("uint8")
int16 = numpy.dtype("int16")
int32 = numpy.dtype("int32")
int64 = numpy.dtype("int64")
bool_ = numpy.dtype("bool")

DTYPES = {d.name: d for d in (float16, float32, float64, int8, uint8, int16, int32, int64, bool_)}
default_float = float32


def xp_of(array):
    """The array namespace that owns ``array``: NumPy, or CuPy for a GPU array."""
    if type(array) is numpy.ndarray or not hasattr(array, "__cuda_array_interface__"):
        return numpy
    import cupy  # only reached when a CuPy array is handed in
    return cupy


def array_of(value):
    """``value`` itself when it is an array; a NumPy scalar (NumPy's result for 0-d operands) as a 0-d
    array, whose in-place updates and ``out=`` arguments work as on any other array."""
    if type(value) is numpy.ndarray or not isinstance(value, numpy.generic):
        return value
    return numpy.asarray(value)


ALIGNMENT = 64   # bytes: a cache line, and the width of an AVX-512 register


def empty_aligned(shape, dtype, xp=numpy):
    """An uninitialised array whose data starts on an ``ALIGNMENT``-byte boundary. malloc only promises
    16 bytes, and OpenBLAS multiplies a misaligned operand up to 1.4x slower (seen on im2col buffers)."""
    if xp is not numpy:
        return xp.empty(shape, dtype)
    dtype = numpy.dtype(dtype)
    nbytes = int(numpy.prod(shape, dtype=numpy.int64)) * dtype.itemsize
    raw = numpy.empty(nbytes + ALIGNMENT, numpy.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def zeros_aligned(shape, dtype, xp=numpy):
    """``empty_aligned``, filled with zeros."""
    out = empty_aligned(shape, dtype, xp)
    out[...] = 0
    return out


def memory_owner(array):
    """The object that owns ``array``'s memory (itself, or the end of its chain of bases)."""
    while getattr(array, "base", None) is not None:
        array = array.base
    return array


def as_dtype(dtype):
    """Normalise a dtype given as a dtype, a type or a name ('float32') to a NumPy dtype object."""
    if dtype is None:
        return None
    try:
        d = numpy.dtype(dtype)
    except TypeError:
        raise TypeError(f"expected a dtype such as deepgrad.float32 or 'float32', got {dtype!r}") from None
    if d.name not in DTYPES:
        raise TypeError(f"unsupported dtype {d.name}; supported: {', '.join(DTYPES)}")
    return d


def is_floating(dtype):
    return numpy.dtype(dtype).kind == "f"


def as_array(data, dtype=None):
    """Convert Python data or an array to a backend array, PyTorch's default dtypes for Python data:
    float32 for floats, int64 for ints, bool for bools."""
    dtype = as_dtype(dtype)
    if isinstance(data, numpy.ndarray) or hasattr(data, "__cuda_array_interface__"):
        return data if dtype is None or data.dtype == dtype else data.astype(dtype)
    arr = numpy.asarray(data, dtype=dtype)
    if dtype is None:
        if arr.dtype.kind == "f" and arr.dtype != float16:
            arr = arr.astype(default_float)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(int64)
        elif arr.dtype.kind not in "b":
            raise TypeError(f"cannot make a tensor from data of type {type(data).__name__} "
                            f"(NumPy dtype {arr.dtype}); expected numbers, bools or nested lists of them")
    return arr


# ---------------------------------------------------------------- random numbers
class Generator:
    """A seeded source of random numbers (PCG64), like ``torch.Generator``; its state can be saved."""

    def __init__(self, seed=0):
        self.manual_seed(seed)

    def manual_seed(self, seed):
        self.seed = int(seed)
        self.bitgen = numpy.random.Generator(numpy.random.PCG64(self.seed))
        return self

    def get_state(self):
        return self.bitgen.bit_generator.state

    def set_state(self, state):
        self.bitgen.bit_generator.state = state


default_generator = Generator(0)


def manual_seed(seed):
    """Seed deepgrad's default generator (weights, dropout, shuffling): the same seed gives the same run."""
    return default_generator.manual_seed(seed)


def erf(x):
    """The error function, elementwise (SciPy's when installed, else ``math.erf`` per element)."""
    try:
        from scipy.special import erf as scipy_erf
    except ImportError:
        import math
        return numpy.vectorize(math.erf, otypes=[x.dtype])(x)
    return scipy_erf(x)
