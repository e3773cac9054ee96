"""A strict test device: arrays that behave like CuPy's where deepgrad could go wrong on a GPU, registered
as deepgrad's "cuda" device by the ``strict_cuda`` fixture (tests/conftest.py).

``StrictArray`` wraps a NumPy array. As CuPy's arrays, it refuses implicit conversion to NumPy
(``__array__`` raises TypeError), copies to the host only through ``.get()``, refuses NumPy arrays as
operands (in operators, methods and namespace functions alike; only ``asarray``/``array`` take them, as
explicit host-to-device copies) and gives 0-d arrays, not NumPy scalars, for reductions. ``xp`` mirrors
the NumPy namespace generically: unwrap the arguments, call NumPy, wrap the results.
"""
import contextlib
import types

import numpy
import scipy.special

from deepgrad import backend

NUMPY_OPERAND = "Unsupported type <class 'numpy.ndarray'>"   # CuPy's TypeError for a NumPy operand


def unwrap(value):
    """The NumPy data behind ``value``: device arrays unwrapped (also inside tuples, lists and dicts),
    NumPy arrays refused."""
    if isinstance(value, StrictArray):
        return value._a
    if isinstance(value, numpy.ndarray):
        raise TypeError(NUMPY_OPERAND)
    if isinstance(value, (tuple, list)):
        return type(value)(unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    return value


def wrap(value):
    """NumPy results as device arrays (NumPy scalars as 0-d arrays, as CuPy returns them)."""
    if isinstance(value, (numpy.ndarray, numpy.generic)):
        return StrictArray(numpy.asarray(value))
    if isinstance(value, (tuple, list)) and any(isinstance(v, (numpy.ndarray, numpy.generic)) for v in value):
        return type(value)(wrap(v) for v in value)
    return value


def wrapped(fn):
    """``fn`` taking and returning device arrays."""
    def call(*args, **kwargs):
        return wrap(fn(*unwrap(args), **unwrap(kwargs)))
    return call


class StrictArray:
    __slots__ = ("_a", "__weakref__")
    __array_ufunc__ = None        # NumPy operators defer to ours, which refuse the NumPy operand

    def __init__(self, array):
        self._a = array

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct "
                        "a NumPy array explicitly.")

    def get(self, stream=None, order="C", out=None):
        return numpy.array(self._a, order=order)

    def __getattr__(self, name):
        if name.startswith("__"):       # no __array_interface__ & co.: this memory is not the host's
            raise AttributeError(name)
        value = getattr(self._a, name)
        return wrapped(value) if callable(value) else wrap(value)

    def __getitem__(self, key):
        return wrap(self._a[unwrap(key)])

    def __setitem__(self, key, value):
        self._a[unwrap(key)] = unwrap(value)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (wrap(v) for v in self._a)

    def __repr__(self):
        return f"StrictArray({self._a!r})"

    @property
    def flags(self):
        """CuPy's three flags (CuPy has no ``writeable``)."""
        f = self._a.flags
        return types.SimpleNamespace(c_contiguous=f.c_contiguous, f_contiguous=f.f_contiguous, owndata=f.owndata)


def _operator(name):
    def op(self, *args):
        return wrap(getattr(self._a, name)(*unwrap(args)))
    return op


def _inplace(name):
    def op(self, other):
        getattr(self._a, name)(unwrap(other))
        return self
    return op


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor",
              "lshift", "rshift"):
    for _form in ("__{}__", "__r{}__"):
        setattr(StrictArray, _form.format(_name), _operator(_form.format(_name)))
    setattr(StrictArray, f"__i{_name}__", _inplace(f"__i{_name}__"))
for _name in ("lt", "le", "gt", "ge", "eq", "ne", "neg", "pos", "abs", "invert", "bool", "float", "int", "index"):
    setattr(StrictArray, f"__{_name}__", _operator(f"__{_name}__"))   # bool(), float() ... sync, as in CuPy
for _name in ("shape", "dtype", "ndim", "size", "T"):
    setattr(StrictArray, _name, property(lambda self, name=_name: wrap(getattr(self._a, name))))
StrictArray.__hash__ = None


class Namespace:
    """NumPy's namespace (or one of its submodules) on device arrays."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        value = getattr(self._module, name)
        if isinstance(value, types.ModuleType):
            return Namespace(value)
        if name == "ndarray":
            return StrictArray
        if isinstance(value, type) or not callable(value):
            return value           # dtypes, errstate, constants
        return _Function(value)


class _Function:
    """A NumPy function or ufunc on device arrays; a ufunc's methods (``add.at``, ``maximum.reduce``) too."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args, **kwargs):
        return wrap(self.fn(*unwrap(args), **unwrap(kwargs)))

    def __getattr__(self, name):
        return wrapped(getattr(self.fn, name))


def _transfer(make):
    """``asarray`` / ``array``: an explicit host-to-device copy when given NumPy data, as in CuPy."""
    def transfer(obj, *args, **kwargs):
        return StrictArray(make(obj._a if isinstance(obj, StrictArray) else obj, *args, **unwrap(kwargs)))
    return transfer


xp = Namespace(numpy)
for _name, _make in (("asarray", numpy.asarray), ("array", numpy.array),
                     ("ascontiguousarray", numpy.ascontiguousarray)):
    setattr(xp, _name, _transfer(_make))
xp.indices = wrapped(lambda dimensions, dtype=int: numpy.indices(dimensions, dtype))   # CuPy's: no sparse=


class StrictRandom:
    """NumPy's ``Generator`` drawing device arrays."""

    def __init__(self, seed):
        self.rng = numpy.random.Generator(numpy.random.PCG64(seed))

    def __getattr__(self, name):
        return wrapped(getattr(self.rng, name))


def from_host(array, index, non_blocking=False):
    return StrictArray(numpy.array(array._a if isinstance(array, StrictArray) else array))


BACKEND = backend.ArrayBackend(
    "cuda", xp, StrictArray, to_host=lambda a: a.get(), from_host=from_host, index_of=lambda a: 0,
    device_count=lambda: 1, current=lambda: 0, use=lambda index: contextlib.nullcontext(),
    rng=lambda seed, index: StrictRandom(seed), special=Namespace(scipy.special))


def register():
    """Register the strict device as "cuda"; returns the function that restores the registry."""
    return backend.register_device(BACKEND)
