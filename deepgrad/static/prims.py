"""The equations a trace records besides deepgrad's primitives.

Library code sometimes computes with the raw arrays of tensors (``constant(x.array > 0)`` in ReLU's
derivative, the class-index bookkeeping of ``cross_entropy``, BatchNorm's running statistics). While
tracing, those arrays are tracers (``tracer.Tracer``), so such NumPy operations are recorded too, as:

* ``NumpyUfunc``    ``np.greater(x, 0)``, ``np.add.reduce(x, axis=1)``;
* ``NumpyFunction`` ``np.where(m, a, b)``, ``np.take_along_axis(...)``;
* ``NumpyMethod``   ``x.astype(f32)``, ``x.__gt__(0)``, ``x.reshape(3, 4)``, ``x[idx]``;
* ``NumpyInplace``  a functional copy of an in-place write (``x[idx] = v``, ``x += 1``, ``np.add(a, b, out=x)``);
* ``NumpyCall``     an opaque library helper run on raw arrays (max-pooling's arg-max offsets);
* ``Random``        a draw from a deepgrad Generator (dropout masks), redrawn at every call;
* ``Guard``         a check that a Python value the trace depended on (``if mask.any():``) is unchanged.

All follow the primitive protocol: ``forward(*arrays, **params)`` on raw arrays, where ``params`` hold
templates of the call's arguments with ``Slot(i)`` standing for the i-th input array. None of them is
differentiable: their results only ever enter the autograd graph as constants.
"""
from .. import backend
from ..autograd.function import Primitive
from .ir import Slot, map_nested

np = backend.numpy


class GuardFailure(Exception):
    """A value the traced graph was specialised on differs at run time: the graph must be retraced."""


def fill(template, arrays):
    """``template`` with every ``Slot(i)`` replaced by ``arrays[i]``."""
    return map_nested(template, Slot, lambda slot: arrays[slot.index])


def as_array(result):
    """NumPy returns scalars (``np.float32``) for 0-d results; the graph always holds arrays."""
    return np.asarray(result) if isinstance(result, np.generic) else result


class _NumpyOp(Primitive):
    differentiable = False
    effect = False
    _cache = None

    @classmethod
    def get(cls, target, *extra):
        """One object per target, so that equal operations compare equal (CSE)."""
        if cls._cache is None:
            cls._cache = {}
        key = (target,) + extra
        op = cls._cache.get(key)
        if op is None:
            op = cls._cache[key] = cls(target, *extra)
        return op

    def vjp(self, g, out, *inputs, **params):
        raise TypeError(f"{self.name} is a NumPy-level operation recorded by the tracer; it has no derivative")

    jvp = vjp

    @staticmethod
    def _pick(result, item):
        return result if item is None else result[item]


class NumpyUfunc(_NumpyOp):
    def __init__(self, ufunc, method="__call__"):
        self.ufunc, self.method = ufunc, method
        self.call = ufunc if method == "__call__" else getattr(ufunc, method)

    @property
    def name(self):
        return f"np.{self.ufunc.__name__}" + ("" if self.method == "__call__" else f".{self.method}")

    def forward(self, *arrays, args, kwargs, item=None):
        return as_array(self._pick(self.call(*fill(args, arrays), **fill(kwargs, arrays)), item))


class NumpyFunction(_NumpyOp):
    def __init__(self, func):
        self.func = func

    @property
    def name(self):
        return f"np.{getattr(self.func, '__name__', 'function')}"

    def forward(self, *arrays, args, kwargs, item=None):
        return as_array(self._pick(self.func(*fill(args, arrays), **fill(kwargs, arrays)), item))


class NumpyMethod(_NumpyOp):
    """``x.<method>(*args)``: the first input is the array the method is called on."""
    def __init__(self, method):
        self.method = method

    @property
    def name(self):
        return f"ndarray.{self.method}"

    def forward(self, x, *arrays, args, kwargs, item=None):
        arrays = (x,) + arrays
        return as_array(self._pick(getattr(x, self.method)(*fill(args, arrays), **fill(kwargs, arrays)), item))


class NumpyInplace(_NumpyOp):
    """The functional form of an in-place write into the first input: a copy of it, written into.
    ``kind`` is 'method' (``x.__setitem__(i, v)``, ``x.__iadd__(v)``, ``x.fill(v)``), 'ufunc'
    (``ufunc(*args, out=x)``, ``ufunc.at(x, ...)``) or 'function' (``np.copyto(x, v)``)."""
    def __init__(self, target, kind):
        self.target, self.kind = target, kind

    @property
    def name(self):
        if self.kind == "method":
            return f"ndarray.{self.target}!"
        return f"np.{getattr(self.target, '__name__', 'op')}!"

    def forward(self, x, *arrays, args, kwargs):
        y = x.copy()
        arrays = (x,) + arrays
        a, k = fill(args, arrays), fill(kwargs, arrays)
        if self.kind == "method":
            getattr(y, self.target)(*a, **k)
        elif self.kind == "ufunc":
            ufunc, method = self.target
            if method == "__call__":
                ufunc(*a, out=y, **k)
            else:
                getattr(ufunc, method)(y, *a[1:], **k)
        else:
            self.target(y, *a[1:], **k)
        return y


class NumpyCall(_NumpyOp):
    """An opaque helper of the library run on raw arrays (e.g. ``ops.pool.max_offsets``)."""
    def __init__(self, fn):
        self.fn = fn

    @property
    def name(self):
        return f"call.{getattr(self.fn, '__name__', 'fn')}"

    def forward(self, *arrays, args, kwargs, item=None):
        return as_array(self._pick(self.fn(*fill(args, arrays), **fill(kwargs, arrays)), item))


class Random(_NumpyOp):
    """A draw from a deepgrad ``Generator`` (``generator.bitgen.<method>(*args)``), made again at every
    call, in program order, so compiled code consumes the random stream as eager code does."""
    effect = True

    def __init__(self, method):
        self.method = method

    @property
    def name(self):
        return f"random.{self.method}"

    def forward(self, *arrays, generator, args, kwargs, item=None):
        draw = getattr(generator.bitgen, self.method)
        return as_array(self._pick(draw(*fill(args, arrays), **fill(kwargs, arrays)), item))


def _same(a, b):
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:
        return False


class Guard(_NumpyOp):
    """Recomputes a Python value the trace depended on (``op`` applied to the inputs) and raises
    ``GuardFailure`` when it differs from ``expected``; it has no output."""
    effect = True

    def __init__(self):
        pass

    @property
    def name(self):
        return "guard"

    def forward(self, *arrays, op, op_params, expected, _where=""):
        value = op.forward(*arrays, **op_params)
        if not _same(value, expected):
            raise GuardFailure(f"{op.name} gave {value!r} where the trace saw {expected!r} ({_where})")


guard = Guard()
