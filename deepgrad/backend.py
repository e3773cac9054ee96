"""The array namespace, dtypes, devices and random numbers (layer 1 of DESIGN.md).

Every other layer reaches arrays through this module: ops ask ``xp_of(array)`` for the namespace
of the arrays they were given (NumPy, or CuPy on a GPU, as in Chainer's ``xp``). Devices other than the
CPU are ``ArrayBackend`` entries in a small registry: CUDA's (``_cupy.py``) is made when first asked for.
"""
import importlib

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


# ---------------------------------------------------------------- array backends (one per device type)
class ArrayBackend:
    """One kind of device deepgrad keeps arrays on (Chainer's ``xp`` idea): ``xp``, its namespace with NumPy's
    API; ``array_type``; ``to_host(array)`` -> a NumPy array; ``from_host(array, index, non_blocking)`` -> a copy
    on device ``index`` of a NumPy array (asynchronous from pinned memory with ``non_blocking``) or of one of its
    own arrays; ``index_of(array)``, the device an array lives on; ``device_count()``; ``current()``, the current
    device number; ``use(index)``, a context that makes ``index`` current while arrays are made;
    ``rng(seed, index)``, a generator with NumPy's ``Generator`` methods ``random``, ``standard_normal``,
    ``integers`` and ``permutation`` on that device; ``pin(array)``, a copy of a NumPy array in page-locked host
    memory; ``special``, its ``scipy.special`` (for ``erf``)."""

    def __init__(self, type, xp, array_type, *, to_host, from_host, index_of, device_count, current, use, rng,
                 pin=None, special=None):
        self.type, self.xp, self.array_type, self.special = type, xp, array_type, special
        self.to_host, self.from_host, self.index_of, self.pin = to_host, from_host, index_of, pin
        self.device_count, self.current, self.use, self.rng = device_count, current, use, rng
        self.generators, self.devices = {}, {}

    def device(self, index):
        """``device(type, index)``, made once (``Tensor.device`` is asked for on every primitive on a device)."""
        d = self.devices.get(index)
        if d is None:
            d = self.devices[index] = device(self.type, index)
        return d

    def generator(self, index):
        """Device ``index``'s generator, seeded by ``manual_seed`` (made on first use)."""
        g = self.generators.get(index)
        if g is None:
            with self.use(index):
                g = self.generators[index] = self.rng(_device_seed[0], index)
        return g


_backends = {}          # device type -> ArrayBackend, besides the CPU
_by_array_type = {}     # array type -> ArrayBackend
_device_seed = [0]      # what device generators are seeded with (deepgrad.manual_seed sets it)

CUDA_INSTALL = ('pip install "deepgrad[cuda13]" (CUDA 13 drivers) or "deepgrad[cuda12]" (CUDA 12), '
                "on a machine with an NVIDIA GPU; deepgrad.cuda.is_available() is False until then")


def register_device(entry):
    """Make ``entry`` (an ``ArrayBackend``) the backend of its device type; returns a function that restores
    what was registered before (tests put a strict test device under "cuda" this way)."""
    before = _backends.get(entry.type)

    def restore():
        _by_array_type.pop(entry.array_type, None)
        if before is None:
            _backends.pop(entry.type, None)
        else:
            _backends[entry.type] = before
            _by_array_type[before.array_type] = before
    if before is not None:
        _by_array_type.pop(before.array_type, None)
    _backends[entry.type] = entry
    _by_array_type[entry.array_type] = entry
    return restore


def array_backend(type, op="deepgrad"):
    """The backend of device type ``type`` ('cuda' loads CuPy on first use); a RuntimeError that says what
    to install, or that no GPU was found, when it cannot be had."""
    entry = _backends.get(type)
    if entry is None:
        if type != "cuda":
            raise RuntimeError(f"{op}: deepgrad has no {type!r} backend; its devices are 'cpu' and 'cuda'")
        entry = _cupy_backend(op)             # raises the install / no-GPU error
        register_device(entry)
    return entry


def _cupy_backend(op):
    """CUDA's backend through CuPy, imported now; the install error without CuPy, another without a GPU."""
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError(f"{op}: device 'cuda' is not available: it needs CuPy, which could not be imported "
                           f"({e}): {CUDA_INSTALL}") from None
    try:
        count, reason = cupy.cuda.runtime.getDeviceCount(), "no device"
    except cupy.cuda.runtime.CUDARuntimeError as e:
        count, reason = 0, str(e)
    if count == 0:
        raise RuntimeError(f"{op}: device 'cuda' is not available: CuPy is installed but found no CUDA GPU "
                           f"({reason}); use device='cpu' (deepgrad.cuda.is_available() is False)")
    cupy.cuda.set_allocator(PeakPool(cupy.get_default_memory_pool()).malloc)

    def from_host(array, index, non_blocking=False):
        with cupy.cuda.Device(index):
            if isinstance(array, numpy.ndarray):
                return cupy.asarray(array, blocking=not non_blocking)
            return array.copy()

    def pin(array):
        memory = cupy.cuda.alloc_pinned_memory(array.nbytes)
        out = numpy.frombuffer(memory, array.dtype, array.size).reshape(array.shape)
        out[...] = array
        return out

    return ArrayBackend("cuda", cupy, cupy.ndarray, to_host=lambda a: a.get(), from_host=from_host,
                        index_of=lambda a: a.device.id, device_count=lambda: count,
                        current=cupy.cuda.runtime.getDevice, use=cupy.cuda.Device,
                        rng=lambda seed, index: CupyRandom(cupy.random.RandomState(seed)), pin=pin,
                        special=importlib.import_module("cupyx.scipy.special"))


class PeakPool:
    """CuPy's memory pool, noting the most bytes in use on each device (``deepgrad.cuda.max_memory_allocated``)."""
    current = None

    def __init__(self, pool):
        self.pool, self.peaks = pool, {}
        PeakPool.current = self

    def malloc(self, size):
        memory = self.pool.malloc(size)
        used = self.pool.used_bytes()
        if used > self.peaks.get(memory.device_id, 0):
            self.peaks[memory.device_id] = used
        return memory


class CupyRandom:
    """NumPy ``Generator``'s methods that deepgrad draws with, on a ``cupy.random.RandomState``."""

    def __init__(self, state):
        self.state = state

    def random(self, size, dtype=float64):
        return self.state.random_sample(size, dtype)

    def standard_normal(self, size):
        return self.state.standard_normal(size)

    def integers(self, low, high, size):
        return self.state.randint(low, high, size, dtype=int64)

    def permutation(self, n):
        return self.state.permutation(n)


def check_device(where, op="tensor"):
    """``where`` (None, a string or a device) as a device deepgrad can put data on, with its index filled in
    ('cuda' is the current CUDA device): the CPU for None; a clear RuntimeError for an unavailable one."""
    if where is None or where is CPU:
        return CPU
    d = where if isinstance(where, device) else device(where)
    if d.type == "cpu":
        if d.index not in (None, 0):
            raise ValueError(f"{op}: the CPU has no device {d.index}; use 'cpu'")
        return CPU
    entry = array_backend(d.type, op)
    index = entry.current() if d.index is None else d.index
    count = entry.device_count()
    if index >= count:
        raise RuntimeError(f"{op}: device {str(d)!r} is not available: {count} {d.type} device(s) found")
    return device(d.type, index)


def is_device(value):
    """Whether ``value`` names a device (a device, or a string such as 'cpu' or 'cuda:0')."""
    return isinstance(value, device) or isinstance(value, str) and value.partition(":")[0] in device.TYPES


def _entry_of(array):
    """The registered backend owning ``array`` (None for NumPy's and for anything else)."""
    entry = _by_array_type.get(type(array))
    if entry is None and hasattr(array, "__cuda_array_interface__"):   # a CuPy array before CuPy was asked for
        entry = array_backend("cuda")
    return entry


def xp_of(array):
    """The array namespace that owns ``array``: NumPy, or CuPy for a GPU array."""
    if type(array) is numpy.ndarray:
        return numpy
    entry = _entry_of(array)
    return numpy if entry is None else entry.xp


def is_array(value):
    """Whether ``value`` is an array deepgrad can hold: NumPy's, or a registered device's."""
    return isinstance(value, numpy.ndarray) or _entry_of(value) is not None


def device_of(array):
    """The device ``array`` lives on (``CPU`` for NumPy arrays)."""
    if type(array) is numpy.ndarray:
        return CPU
    entry = _entry_of(array)
    return CPU if entry is None else entry.device(entry.index_of(array))


def to_host(array):
    """``array`` as a NumPy array: itself on the CPU, an explicit copy from a device."""
    if type(array) is numpy.ndarray:
        return array
    entry = _entry_of(array)
    return numpy.asarray(array) if entry is None else entry.to_host(array)


def to_device(array, where, non_blocking=False):
    """``array`` on device ``where``: itself when it is there already, else a copy (from pinned host memory,
    asynchronous with ``non_blocking``)."""
    target = check_device(where, "to")
    if device_of(array) == target:
        return array
    if target is CPU:
        return to_host(array)
    entry = _backends[target.type]
    source = _entry_of(array)
    host = array if source is None or source is entry else source.to_host(array)
    return entry.from_host(host, target.index, non_blocking)


def pinner():
    """The function that copies a NumPy array into page-locked host memory for CUDA (``pin_memory``), or None
    where there is no CUDA device or nothing to pin."""
    try:
        return array_backend("cuda").pin
    except RuntimeError:
        return None


def make_on(where, make, op="tensor"):
    """``make(xp)``: an array made with the namespace of device ``where`` (None: the CPU), that device current."""
    d = check_device(where, op)
    if d is CPU:
        return make(numpy)
    entry = _backends[d.type]
    with entry.use(d.index):
        return make(entry.xp)


def draw_on(where, generator, draw, op="random"):
    """``draw(rng)``: random values drawn on device ``where`` from its generator (seeded by ``manual_seed``),
    or on the CPU from ``generator`` (a ``Generator``; None: the default one)."""
    d = check_device(where, op)
    if d is CPU:
        return draw((generator or default_generator).bitgen)
    if generator is not None:
        raise ValueError(f"{op}: generator is a CPU generator, but device is {d}; drop generator= to draw "
                         f"on {d}'s own generator (seeded by deepgrad.manual_seed)")
    entry = _backends[d.type]
    with entry.use(d.index):
        return draw(entry.generator(d.index))


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


def open_grid(shape, xp=numpy):
    """``numpy.indices(shape, sparse=True)`` in namespace ``xp``: one arange per axis, shaped to broadcast along
    it (CuPy's ``indices`` has no ``sparse``)."""
    n = len(shape)
    return tuple(xp.arange(size).reshape((1,) * axis + (size,) + (1,) * (n - axis - 1))
                 for axis, size in enumerate(shape))


def writeable(array):
    """Whether ``array`` may be written in place (CuPy's arrays have no ``writeable`` flag: always)."""
    return getattr(array.flags, "writeable", True)


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
    if isinstance(data, numpy.ndarray) or _entry_of(data) is not None:
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
    """Seed deepgrad's default generator (weights, dropout, shuffling) and every device's generator: the same
    seed gives the same run."""
    seed_devices(seed)
    return default_generator.manual_seed(seed)


def seed_devices(seed, entry=None, indices=()):
    """Seed device generators: those of ``indices`` of backend ``entry``, or (no entry) every device's."""
    if entry is None:
        _device_seed[0] = int(seed)
        for e in _backends.values():
            e.generators.clear()      # remade from the new seed when next used
    for i in indices:
        with entry.use(i):
            entry.generators[i] = entry.rng(int(seed), i)


def erf(x):
    """The error function, elementwise (SciPy's when installed, else ``math.erf`` per element; on a device, its
    backend's ``scipy.special``)."""
    entry = None if type(x) is numpy.ndarray else _entry_of(x)
    if entry is not None:
        return entry.special.erf(x)
    try:
        from scipy.special import erf as scipy_erf
    except ImportError:
        import math
        return numpy.vectorize(math.erf, otypes=[x.dtype])(x)
    return scipy_erf(x)
