"""Making tensors: from data, filled, ranges, and random (from deepgrad's seeded generator)."""
from .. import backend
from ..autograd.tensor import Tensor

xp = backend.xp


def _size(size, op):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for n in size:
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"{op}: sizes must be non-negative ints, got {size!r}")
    return tuple(size)


def _make(array, requires_grad):
    t = Tensor.wrap(array)
    return t.requires_grad_() if requires_grad else t


def _placed(t, device, requires_grad):
    """``t`` moved to ``device`` (where it is when None), then marked ``requires_grad``."""
    if device is not None:
        t.array = backend.to_device(t.array, backend.check_device(device, "tensor"))
    return t.requires_grad_() if requires_grad else t


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor holding a copy of ``data`` (nested lists, numbers or an array), on ``device`` (for an
    array: its own device when None)."""
    if isinstance(data, Tensor):
        data = data.array
    if hasattr(data, "dtype"):          # an array (of any device) or a NumPy number keeps its dtype
        data = backend.xp_of(data).array(data, copy=True)
    return _placed(Tensor(data, dtype), device, requires_grad)


def as_tensor(data, dtype=None, device=None):
    """``data`` as a tensor, sharing memory with an array of the right dtype on the right device."""
    if isinstance(data, Tensor) and dtype is None and (device is None or data.device == device):
        return data
    return _placed(Tensor(data, dtype), device, False)


def from_numpy(array):
    """A tensor sharing memory with the NumPy ``array`` (``torch.from_numpy``)."""
    if not isinstance(array, xp.ndarray):
        raise TypeError(f"from_numpy: expected a NumPy array, got {type(array).__name__}")
    return Tensor(array)


def from_dlpack(obj):
    """A tensor sharing memory with ``obj``, any array or tensor that speaks DLPack (a PyTorch, JAX, NumPy or
    CuPy one; ``torch.from_dlpack``): on the CPU through NumPy, on a CUDA device through CuPy."""
    if not hasattr(obj, "__dlpack_device__"):
        raise TypeError(f"from_dlpack: expected an object with __dlpack__ and __dlpack_device__ "
                        f"(a tensor or array), got {type(obj).__name__}")
    kind = int(obj.__dlpack_device__()[0])
    if kind not in DLPACK_DEVICES:
        raise RuntimeError(f"from_dlpack: DLPack device type {kind} is not one deepgrad has (CPU = 1, CUDA = 2)")
    namespace = xp if kind == 1 else backend.array_backend("cuda", "from_dlpack").xp
    return Tensor.wrap(namespace.from_dlpack(obj))


DLPACK_DEVICES = {1: "cpu", 2: "cuda"}    # DLPack's kDLCPU, kDLCUDA


def _no_out(out, op):
    if out is not None:
        raise TypeError(f"{op}: out= is not supported; use the returned tensor")


def _filled(fill):
    def make(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None, pin_memory=False):
        _no_out(out, make.__name__)
        dtype = backend.as_dtype(dtype) or backend.default_float
        size = _size(size, make.__name__)
        return _make(backend.make_on(device, lambda xp: fill(xp, size, dtype), make.__name__), requires_grad)
    return make


zeros = _filled(lambda xp, size, dtype: xp.zeros(size, dtype))
zeros.__name__ = "zeros"
ones = _filled(lambda xp, size, dtype: xp.ones(size, dtype))
ones.__name__ = "ones"
empty = _filled(lambda xp, size, dtype: xp.empty(size, dtype))
empty.__name__ = "empty"


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    if dtype is None:
        dtype = backend.as_array(fill_value).dtype
    size, dtype = _size((size,) if isinstance(size, int) else tuple(size), "full"), backend.as_dtype(dtype)
    return _make(backend.make_on(device, lambda xp: xp.full(size, fill_value, dtype), "full"), requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    dtype = backend.as_dtype(dtype) or backend.default_float
    return _make(backend.make_on(device, lambda xp: xp.eye(n, m, dtype=dtype), "eye"), requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """Values from ``start`` to ``end`` (exclusive) by ``step``; int64 for ints, float32 for floats."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    if dtype is None:
        floats = any(isinstance(v, float) for v in (start, end, step))
        dtype = backend.default_float if floats else backend.int64
    dtype = backend.as_dtype(dtype)
    return _make(backend.make_on(device, lambda xp: xp.arange(start, end, step, dtype=dtype), "arange"),
                 requires_grad)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    dtype = backend.as_dtype(dtype) or backend.default_float
    return _make(backend.make_on(device, lambda xp: xp.linspace(start, end, steps, dtype=dtype), "linspace"),
                 requires_grad)


def _like(maker):
    def like(t, *, dtype=None, device=None, requires_grad=False, memory_format=None):
        return maker(*t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)
    like.__name__ = maker.__name__ + "_like"
    return like


def full_like(t, fill_value, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


# ---------------------------------------------------------------- random (on the device's own generator)
def rand(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Uniform samples on [0, 1)."""
    dtype, size = backend.as_dtype(dtype) or backend.default_float, _size(size, "rand")
    return _make(backend.draw_on(device, generator, lambda g: g.random(size, dtype=backend.float64).astype(dtype),
                                 "rand"), requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Standard normal samples."""
    dtype, size = backend.as_dtype(dtype) or backend.default_float, _size(size, "randn")
    return _make(backend.draw_on(device, generator, lambda g: g.standard_normal(size).astype(dtype), "randn"),
                 requires_grad)


def randint(low, high=None, size=(), *, generator=None, dtype=None, device=None, requires_grad=False):
    """Integers uniform on [low, high) (``randint(high, size=...)`` means low = 0)."""
    if high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    size = (size,) if isinstance(size, int) else tuple(size)
    dtype = backend.as_dtype(dtype) or backend.int64
    return Tensor.wrap(backend.draw_on(device, generator, lambda g: g.integers(low, high, size).astype(dtype),
                                       "randint"))


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False):
    """A random permutation of 0 .. n-1 (int64 unless ``dtype`` says otherwise)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"randperm: n must be a non-negative int, got {n!r}")
    dtype = backend.as_dtype(dtype) or backend.int64
    return _make(backend.draw_on(device, generator, lambda g: g.permutation(n).astype(dtype), "randperm"),
                 requires_grad)


def bernoulli(p, generator=None):
    """0/1 samples, 1 with probability ``p`` elementwise (``p`` a tensor of probabilities), on ``p``'s device."""
    p = p if isinstance(p, Tensor) else Tensor(p)
    if p.array.size and (p.array.min() < 0 or p.array.max() > 1):
        raise ValueError("bernoulli: probabilities must lie in [0, 1]")
    dtype = p.dtype if backend.is_floating(p.dtype) else backend.default_float
    return Tensor.wrap(backend.draw_on(p.device, generator, lambda g: (g.random(p.shape) < p.array).astype(dtype),
                                       "bernoulli"))


zeros_like, ones_like, empty_like = _like(zeros), _like(ones), _like(empty)
rand_like, randn_like = _like(rand), _like(randn)
