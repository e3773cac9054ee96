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


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor holding a copy of ``data`` (nested lists, numbers or an array)."""
    backend.check_device(device, "tensor")
    if isinstance(data, Tensor):
        data = data.array
    return Tensor(xp.array(data, copy=True) if hasattr(data, "dtype") else data, dtype, requires_grad)


def as_tensor(data, dtype=None, device=None):
    """``data`` as a tensor, sharing memory with an array of the right dtype."""
    backend.check_device(device, "as_tensor")
    return data if isinstance(data, Tensor) and dtype is None else Tensor(data, dtype)


def from_numpy(array):
    """A tensor sharing memory with the NumPy ``array`` (``torch.from_numpy``)."""
    if not isinstance(array, xp.ndarray):
        raise TypeError(f"from_numpy: expected a NumPy array, got {type(array).__name__}")
    return Tensor(array)


def _no_out(out, op):
    if out is not None:
        raise TypeError(f"{op}: out= is not supported; use the returned tensor")


def _filled(fill):
    def make(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None, pin_memory=False):
        backend.check_device(device, make.__name__)
        _no_out(out, make.__name__)
        dtype = backend.as_dtype(dtype) or backend.default_float
        return _make(fill(_size(size, make.__name__), dtype), requires_grad)
    return make


zeros = _filled(lambda size, dtype: xp.zeros(size, dtype))
zeros.__name__ = "zeros"
ones = _filled(lambda size, dtype: xp.ones(size, dtype))
ones.__name__ = "ones"
empty = _filled(lambda size, dtype: xp.empty(size, dtype))
empty.__name__ = "empty"


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    backend.check_device(device, "full")
    if dtype is None:
        dtype = backend.as_array(fill_value).dtype
    return _make(xp.full(_size((size,) if isinstance(size, int) else tuple(size), "full"), fill_value,
                         backend.as_dtype(dtype)), requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    backend.check_device(device, "eye")
    return _make(xp.eye(n, m, dtype=backend.as_dtype(dtype) or backend.default_float), requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """Values from ``start`` to ``end`` (exclusive) by ``step``; int64 for ints, float32 for floats."""
    backend.check_device(device, "arange")
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    if dtype is None:
        floats = any(isinstance(v, float) for v in (start, end, step))
        dtype = backend.default_float if floats else backend.int64
    return _make(xp.arange(start, end, step, dtype=backend.as_dtype(dtype)), requires_grad)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    backend.check_device(device, "linspace")
    return _make(xp.linspace(start, end, steps, dtype=backend.as_dtype(dtype) or backend.default_float),
                 requires_grad)


def _like(maker):
    def like(t, *, dtype=None, device=None, requires_grad=False, memory_format=None):
        return maker(*t.shape, dtype=dtype or t.dtype, device=device, requires_grad=requires_grad)
    like.__name__ = maker.__name__ + "_like"
    return like


def full_like(t, fill_value, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device, requires_grad=requires_grad)


# ---------------------------------------------------------------- random
def _gen(generator):
    return (generator or backend.default_generator).bitgen


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Uniform samples on [0, 1)."""
    backend.check_device(device, "rand")
    dtype = backend.as_dtype(dtype) or backend.default_float
    return _make(_gen(generator).random(_size(size, "rand"), dtype=backend.float64).astype(dtype), requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Standard normal samples."""
    backend.check_device(device, "randn")
    dtype = backend.as_dtype(dtype) or backend.default_float
    return _make(_gen(generator).standard_normal(_size(size, "randn")).astype(dtype), requires_grad)


def randint(low, high=None, size=(), *, generator=None, dtype=None, device=None, requires_grad=False):
    """Integers uniform on [low, high) (``randint(high, size=...)`` means low = 0)."""
    backend.check_device(device, "randint")
    if high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    size = (size,) if isinstance(size, int) else tuple(size)
    return Tensor.wrap(_gen(generator).integers(low, high, size).astype(backend.as_dtype(dtype) or backend.int64))


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False):
    """A random permutation of 0 .. n-1 (int64 unless ``dtype`` says otherwise)."""
    backend.check_device(device, "randperm")
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"randperm: n must be a non-negative int, got {n!r}")
    return _make(_gen(generator).permutation(n).astype(backend.as_dtype(dtype) or backend.int64), requires_grad)


def bernoulli(p, generator=None):
    """0/1 samples, 1 with probability ``p`` elementwise (``p`` a tensor of probabilities)."""
    p = p if isinstance(p, Tensor) else Tensor(p)
    if p.array.size and (p.array.min() < 0 or p.array.max() > 1):
        raise ValueError("bernoulli: probabilities must lie in [0, 1]")
    dtype = p.dtype if backend.is_floating(p.dtype) else backend.default_float
    return Tensor.wrap((_gen(generator).random(p.shape) < p.array).astype(dtype))


zeros_like, ones_like, empty_like = _like(zeros), _like(ones), _like(empty)
rand_like, randn_like = _like(rand), _like(randn)
