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


class device:
    """Where a tensor lives, as ``torch.device``: ``device("cpu")``, ``device("cuda:1")``,
    ``device("cuda", 0)``. Compares equal to its string form (``t.device == "cpu"``)."""
    TYPES = ("cpu", "cuda", "mps", "xpu", "meta")

    def __init__(self, type, index=None):
        if isinstance(type, device):
            type, index = type.type, type.index
        elif isinstance(type, int) and not isinstance(type, bool):
            type, index = "cuda", type        # torch.device(0) is the first CUDA device
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string such as 'cpu' or 'cuda:0', got {type!r}")
        name, colon, number = type.partition(":")
        if name not in self.TYPES:
            raise ValueError(f"device: unknown device type {name!r}; expected one of {', '.join(self.TYPES)}")
        if colon:
            if index is not None or not number.isdigit():
                raise ValueError(f"device: invalid device string {type!r}")
            index = int(number)
        self.type, self.index = name, index

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return f"device(type='{self.type}')" if self.index is None else \
            f"device(type='{self.type}', index={self.index})"

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))


CPU = device("cpu")


def check_device(where, op="tensor"):
    """``where`` (None, a string or a device) as the device deepgrad can put data on: the CPU for now."""
    if where is None:
        return CPU
    d = where if isinstance(where, device) else device(where)
    if d.type != "cpu":
        raise RuntimeError(f"{op}: device {str(d)!r} is not available: deepgrad runs on the CPU (NumPy) until its "
                           "GPU backend lands (deepgrad.cuda.is_available() is False)")
    return d


def is_device(value):
    """Whether ``value`` names a device (a device, or a string such as 'cpu' or 'cuda:0')."""
    return isinstance(value, device) or isinstance(value, str) and value.partition(":")[0] in device.TYPES


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


# ---------------------------------------------------------------- type promotion (PyTorch's rules)
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}   # bool < integers < floating


def can_cast(source, target):
    """Whether a result of dtype ``source`` may be written into a tensor of dtype ``target`` (in-place
    operations, ``copy_``): never down a category (floating into integer, integer into bool), as in PyTorch."""
    return _CATEGORY[as_dtype(source).kind] <= _CATEGORY[as_dtype(target).kind]


def get_default_dtype():
    """The dtype of floating-point results made from Python floats and integer division (float32)."""
    return default_float


def set_default_dtype(dtype):
    """Set the default floating dtype (``torch.set_default_dtype``): float16, float32 or float64."""
    global default_float
    d = as_dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: only floating-point dtypes can be the default, got {d.name}")
    default_float = d


def promote_types(a, b):
    """The dtype two dtypes combine to (``torch.promote_types``): the higher category wins outright
    (int32 with float16 gives float16), within a category the wider type (uint8 with int8 gives int16)."""
    return _promote(as_dtype(a), as_dtype(b))


def _promote(a, b):
    if a == b:
        return a
    ca, cb = _CATEGORY[a.kind], _CATEGORY[b.kind]
    if ca != cb:
        return a if ca > cb else b
    return numpy.promote_types(a, b)


def is_scalar(value):
    """Whether ``value`` is a Python or NumPy number (PyTorch's "wrapped number"), not an array."""
    return isinstance(value, (bool, int, float, numpy.generic))


def scalar_dtype(value):
    """The dtype a Python or NumPy number stands for in promotion: bool, int64 or the default float."""
    if isinstance(value, (bool, numpy.bool_)):
        return bool_
    if isinstance(value, (int, numpy.integer)):
        return int64
    if isinstance(value, (float, numpy.floating)):
        return default_float
    raise TypeError(f"expected a real number, got {value!r} of type {type(value).__name__}")


def _combine(higher, lower):
    """Merge the dtype of a stronger operand class with that of a weaker one: the weaker class only
    counts when it lifts the result to a higher category (c10's combine_categories)."""
    if higher is None:
        return lower
    if lower is None or higher.kind == "f":
        return higher
    if higher.kind == "b" or lower.kind == "f":
        return _promote(higher, lower)
    return higher


def result_type(*operands):
    """The dtype of an elementwise operation on ``operands`` (``torch.result_type``, PyTorch's rules).
    Operands are tensors or arrays (those with dimensions outrank 0-dim ones) and Python or NumPy numbers
    (outranked by both): the strongest class present fixes the dtype, unless a weaker class holds a
    higher category (bool < integer < floating), which then lifts it. So float32 with an int64 tensor is
    float32, an int64 tensor times 2.5 is float32 (the default dtype), and a float16 tensor plus a 0-dim
    float64 tensor stays float16."""
    classes = [None, None, None]      # dimensioned, 0-dim, numbers
    for x in operands:
        if isinstance(x, (bool, int, float, numpy.generic)):
            i, d = 2, scalar_dtype(x)
        else:
            i, d = (0 if x.ndim else 1), x.dtype
        c = classes[i]
        classes[i] = d if c is None else _promote(c, d)
    if classes[0] is None and classes[1] is None and classes[2] is None:
        raise TypeError("result_type: expected at least one operand")
    return _combine(_combine(classes[0], classes[1]), classes[2])


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
