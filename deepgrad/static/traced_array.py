"""The arrays inside traced tensors (``Tracer``): real values that record the NumPy operations done on
them, ``TraceError`` and where in the user's code an operation happened."""
import functools
import os
import sys

from .. import backend
from .ir import iter_nested, map_nested

np = backend.numpy

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_STATIC_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__)) + os.sep
_MACHINERY = {os.path.join(_PACKAGE_DIR, "autograd", "tensor.py"),
              os.path.join(_PACKAGE_DIR, "autograd", "function.py")}


class TraceError(RuntimeError):
    """An operation that a traced (static) graph cannot express."""


# ---------------------------------------------------------------- where did it happen
def _describe_frame(frame):
    code = frame.f_code
    line = ""
    try:
        import linecache
        line = linecache.getline(code.co_filename, frame.f_lineno).strip()
    except Exception:
        pass
    text = f"{code.co_filename}:{frame.f_lineno} in {code.co_name}"
    return f"{text}: `{line}`" if line else text


def user_location():
    """The source line responsible for the current operation: the innermost frame outside the tracer
    and NumPy, and, when that is library code, the innermost frame outside deepgrad (the user's)."""
    frame = sys._getframe(1)
    first = user = None
    while frame is not None:
        name = frame.f_code.co_filename
        skip = (name.startswith(_STATIC_DIR) or name.startswith(_NUMPY_DIR) or name in _MACHINERY
                or name.startswith("<__array_function__"))
        if not skip:
            if first is None:
                first = frame
            if not name.startswith(_PACKAGE_DIR):
                user = frame
                break
        frame = frame.f_back
    if first is None:
        return "an unknown location"
    if user is None or user is first:
        return _describe_frame(first)
    return f"{_describe_frame(first)}, called from {_describe_frame(user)}"


_HINT_VALUE = ("A traced graph is built before any values are known, so a value cannot leave it as a Python "
               "object: keep it a tensor inside the function (use dg.where for data-dependent choices) or return "
               "it and convert it outside the compiled function.")
_HINT_BRANCH = ("The trace records one path through the Python code, so control flow cannot depend on tensor "
                "values: use dg.where(cond, a, b) to select values, or make the decision outside the traced "
                "function (or pass it as a static Python argument).")
_HINT_INPLACE = ("A compiled function must not modify its inputs in place: return the new value instead "
                 "(x = x + 1 rather than x += 1 / x[i] = v).")


# ---------------------------------------------------------------- the tracer arrays
class Tracer:
    """Stands in for the NumPy array of a traced value: it holds the example's real array (so the
    function runs normally) and the graph variable it is, and records NumPy operations done on it."""
    __slots__ = ("_rec", "_var", "_array", "_kind", "_base", "_views", "_index", "__weakref__")
    __array_priority__ = 1e6

    def __init__(self, rec, var, array, kind="value", base=None):
        self._rec, self._var, self._array, self._kind, self._base = rec, var, array, kind, base
        self._views = []
        self._index = None      # for a view made by indexing (base[index]): the index, to write through

    # ---- facts that do not depend on the values
    shape = property(lambda self: self._array.shape)
    dtype = property(lambda self: self._array.dtype)
    ndim = property(lambda self: self._array.ndim)
    size = property(lambda self: self._array.size)
    itemsize = property(lambda self: self._array.itemsize)
    nbytes = property(lambda self: self._array.nbytes)
    strides = property(lambda self: self._array.strides)
    flags = property(lambda self: self._array.flags)
    base = property(lambda self: self._base)
    T = property(lambda self: self._rec.method(self, "transpose"))
    mT = property(lambda self: self._rec.method(self, "swapaxes", -1, -2))

    def __len__(self):
        return len(self._array)

    def __iter__(self):
        for i in range(len(self._array)):
            yield self[i]

    def __repr__(self):
        return f"Tracer<{self.dtype}{list(self.shape)}>"

    __hash__ = object.__hash__

    # ---- NumPy's protocols
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return self._rec.ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return self._rec.function(func, args, kwargs)

    def __array__(self, dtype=None, copy=None):
        raise self._rec.error("conversion of a traced value to a NumPy array (np.asarray / np.array, or assigning "
                              "it into an array that is not traced)", _HINT_VALUE)

    def __getitem__(self, index):
        return self._rec.method(self, "__getitem__", index)

    def __setitem__(self, index, value):
        self._rec.inplace_method(self, "__setitem__", (index, value), {})

    # ---- Python values drawn from the data: guards
    def __bool__(self):
        return self._rec.method(self, "__bool__")

    def __float__(self):
        return self._rec.method(self, "__float__")

    def __int__(self):
        return self._rec.method(self, "__int__")

    def __index__(self):
        return self._rec.method(self, "__index__")

    def __complex__(self):
        return self._rec.method(self, "__complex__")

    def __getattr__(self, name):
        attr = getattr(np.ndarray, name, None)
        if attr is None or not callable(attr) or name.startswith("__"):
            raise AttributeError(f"traced array has no attribute {name!r}")
        if name in _INPLACE_METHODS:
            return lambda *args, **kwargs: self._rec.inplace_method(self, name, args, kwargs)
        return functools.partial(self._rec.method, self, name)


_BINARY = ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor", "lshift",
           "rshift", "divmod")
_INPLACE_METHODS = {"fill", "sort", "put", "partition", "itemset", "setfield", "resize"}


def _binop(name):
    return lambda self, *args: self._rec.method(self, name, *args)


def _ibinop(name):
    def op(self, other):
        self._rec.inplace_method(self, name, (other,), {})
        return self
    return op


for _n in _BINARY:
    setattr(Tracer, f"__{_n}__", _binop(f"__{_n}__"))
    setattr(Tracer, f"__r{_n}__", _binop(f"__r{_n}__"))
    if _n != "divmod":
        setattr(Tracer, f"__i{_n}__", _ibinop(f"__i{_n}__"))
for _n in ("lt", "le", "gt", "ge", "eq", "ne", "neg", "pos", "abs", "invert"):
    setattr(Tracer, f"__{_n}__", _binop(f"__{_n}__"))


def iter_tracers(value):
    """The Tracers inside ``value`` (a nest of tuples, lists, dicts and slices)."""
    return iter_nested(value, Tracer)


def has_tracer(value):
    return next(iter_tracers(value), None) is not None


def map_tracers(value, fn):
    """``value`` with every Tracer ``t`` inside it replaced by ``fn(t)`` (the nest rebuilt)."""
    return map_nested(value, Tracer, fn)


def _plain(value):
    """``value`` with tracers replaced by their arrays."""
    return map_tracers(value, lambda t: t._array)


_LIKE = {np.zeros_like, np.ones_like, np.empty_like, np.full_like}
_META = {np.shape, np.ndim, np.size, np.result_type, np.may_share_memory, np.shares_memory, np.iscomplexobj,
         np.isrealobj, np.min_scalar_type, np.can_cast}
_INPLACE_FUNCS = {np.copyto, np.put, np.place, np.putmask, np.fill_diagonal, np.put_along_axis}
_PY_VALUES = (bool, int, float, complex, str, bytes)
_DATA_SHAPED = {"nonzero", "argwhere", "flatnonzero", "unique", "compress", "extract", "trim_zeros"}


def _has_mask(index):
    items = index if isinstance(index, tuple) else (index,)
    return any(getattr(i, "dtype", None) == np.bool_ and getattr(i, "ndim", 0) > 0 for i in items)
_DRAWS = {"random", "standard_normal", "normal", "uniform", "integers", "permutation", "choice", "binomial",
          "exponential", "standard_exponential", "poisson", "beta", "gamma", "standard_gamma", "laplace",
          "logistic", "lognormal", "multinomial", "geometric", "permuted", "bytes", "truncated_normal"}


class _TracedNumpy:
    """What ``backend.xp_of`` returns for a tracer while tracing: NumPy, with ``asarray``/``array``
    keeping tracers traced (NumPy's own would need the values)."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def asarray(a, dtype=None, **kwargs):
        if isinstance(a, Tracer):
            return a if dtype is None or np.dtype(dtype) == a.dtype else a.astype(dtype)
        return np.asarray(a, dtype=dtype, **kwargs)

    @staticmethod
    def array(a, dtype=None, copy=True, **kwargs):
        if isinstance(a, Tracer):
            return a.astype(dtype if dtype is not None else a.dtype, copy=True)
        return np.array(a, dtype=dtype, copy=copy, **kwargs)

    @staticmethod
    def ascontiguousarray(a, dtype=None, **kwargs):
        if isinstance(a, Tracer):
            return a.astype(dtype if dtype is not None else a.dtype, order="C")
        return np.ascontiguousarray(a, dtype=dtype, **kwargs)


_TRACED_NUMPY = _TracedNumpy()


class _RandomProxy:
    """Stands in for ``Generator.bitgen`` while tracing: draws become ``Random`` equations."""

    def __init__(self, rec, generator, real):
        self._rec, self._generator, self._real = rec, generator, real

    def __getattr__(self, name):
        attr = getattr(self._real, name)
        if name in _DRAWS:
            return functools.partial(self._rec.random, self._generator, self._real, name)
        return attr


