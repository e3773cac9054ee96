"""Elementwise equations as sequences of NumPy ufunc calls ("steps"), so that chains of them can be
fused into one step that writes into preallocated buffers (``out=``) instead of allocating a
temporary per operation.

Each step repeats exactly what the primitive's ``forward`` computes (the same ufuncs on the same
operands, in the same order), so fused results are bit-for-bit those of the primitives.
"""
from .. import backend
from ..ops import binary, unary
from . import prims

np = backend.numpy


class Ref:
    """An operand of a step: kernel input ``k`` ('in'), the result of step ``k`` ('tmp') or a Python
    value ('lit')."""
    __slots__ = ("kind", "value")

    def __init__(self, kind, value):
        self.kind, self.value = kind, value

    def __repr__(self):
        return f"{self.kind}:{self.value!r}"


class Step:
    """``fn(*operands, **kwargs)``; ``out`` says whether ``fn`` accepts ``out=`` (a ufunc); ``errstate``
    is a dict for ``np.errstate`` around it (the sigmoid's exp overflows harmlessly)."""
    __slots__ = ("fn", "operands", "kwargs", "out", "errstate", "shape", "dtype", "label")

    def __init__(self, fn, operands, kwargs=None, out=True, errstate=None, label=None):
        self.fn, self.operands, self.kwargs = fn, list(operands), dict(kwargs or {})
        self.out, self.errstate = out, errstate
        self.shape = self.dtype = None
        self.label = label or getattr(fn, "__name__", "op")


def _lit(v):
    return Ref("lit", v)


_UNARY = {unary.Neg: np.negative, unary.Exp: np.exp, unary.Log: np.log, unary.Log1p: np.log1p,
          unary.Expm1: np.expm1, unary.Sqrt: np.sqrt, unary.Abs: np.abs, unary.Sin: np.sin, unary.Cos: np.cos,
          unary.Tanh: np.tanh}
_BINARY = {binary.Add: np.add, binary.Sub: np.subtract, binary.Mul: np.multiply, binary.Maximum: np.maximum,
           binary.Minimum: np.minimum, binary.Pow: np.power, binary.Less: np.less, binary.LessEqual: np.less_equal,
           binary.Greater: np.greater, binary.GreaterEqual: np.greater_equal, binary.Equal: np.equal,
           binary.NotEqual: np.not_equal, binary.LogicalAnd: np.bitwise_and, binary.LogicalOr: np.bitwise_or}
# ndarray operator methods and the ufuncs they call (reflected ones swap the operands)
_DUNDER = {"__add__": np.add, "__sub__": np.subtract, "__mul__": np.multiply, "__truediv__": np.true_divide,
           "__lt__": np.less, "__le__": np.less_equal, "__gt__": np.greater, "__ge__": np.greater_equal,
           "__eq__": np.equal, "__ne__": np.not_equal, "__and__": np.bitwise_and, "__or__": np.bitwise_or,
           "__neg__": np.negative, "__invert__": np.invert, "__abs__": np.abs}
_RDUNDER = {"__radd__": np.add, "__rsub__": np.subtract, "__rmul__": np.multiply, "__rtruediv__": np.true_divide,
            "__rand__": np.bitwise_and, "__ror__": np.bitwise_or}


def _is_float(v):
    return v.dtype.kind == "f"


def _numpy_operands(eq, refs):
    """Operands of a NumPy-level equation: its template with Slots mapped to ``refs``; None if the
    template holds anything but Slots and plain Python numbers."""
    args = eq.params.get("args", ())
    out = []
    for a in args:
        if hasattr(a, "index") and type(a).__name__ == "Slot":
            out.append(refs[a.index])
        elif isinstance(a, (bool, int, float)):
            out.append(_lit(a))
        else:
            return None
    return out


def steps_of(eq, refs):
    """The steps computing ``eq`` from operand refs (one per input of ``eq``), or None when ``eq`` is
    not a fusable elementwise operation. The result is the last step's."""
    prim = eq.prim
    cls = type(prim)
    if eq.param_vars or eq.out is None or eq.info.get("scalar"):
        return None
    if cls in _UNARY:
        return [Step(_UNARY[cls], refs)]
    if cls in _BINARY:
        return [Step(_BINARY[cls], refs)]
    if cls is binary.Div:
        if not (_is_float(eq.ins[0]) or _is_float(eq.ins[1])) or not _is_float(eq.out):
            return None
        return [Step(np.true_divide, refs)]
    if cls is unary.Relu:
        return [Step(np.maximum, [refs[0], _lit(0)])]
    if cls is unary.Sigmoid:              # 1 / (1 + exp(-x)), exp's overflow ignored
        return [Step(np.negative, [refs[0]]), Step(np.exp, [Ref("tmp", -1)], errstate={"over": "ignore"}),
                Step(np.add, [_lit(1), Ref("tmp", -1)]), Step(np.true_divide, [_lit(1), Ref("tmp", -1)])]
    if cls is unary.TanhGrad:             # g * (1 - y * y)
        g, y = refs
        return [Step(np.multiply, [y, y]), Step(np.subtract, [_lit(1), Ref("tmp", -1)]),
                Step(np.multiply, [g, Ref("tmp", -1)])]
    if cls is unary.SigmoidGrad:          # g * y * (1 - y)
        g, y = refs
        return [Step(np.multiply, [g, y]), Step(np.subtract, [_lit(1), y]),
                Step(np.multiply, [Ref("tmp", -2), Ref("tmp", -1)])]
    if cls is binary.PowScalar:           # ndarray ** c (NumPy's fast paths for 2, 0.5, -1 ...)
        return [Step(_power_operator, [refs[0], _lit(eq.params["exponent"])], out=False, label="pow")]
    if cls is unary.Astype:
        return [Step(_astype, [refs[0], _lit(eq.params["dtype"])], out=False, label="astype")]
    if cls is binary.Where:
        return [Step(np.where, refs, out=False)]
    if isinstance(prim, prims.NumpyUfunc):
        if prim.method != "__call__" or prim.ufunc.nout != 1 or eq.params.get("item") is not None:
            return None
        kwargs = eq.params.get("kwargs") or {}
        if any(not isinstance(v, (bool, int, float, str, type(None))) and not hasattr(v, "kind") for v in kwargs.values()):
            return None
        ops = _numpy_operands(eq, refs)
        if ops is None:
            return None
        return [Step(prim.ufunc, ops, kwargs, out="out" not in kwargs and "where" not in kwargs)]
    if isinstance(prim, prims.NumpyMethod) and not eq.params.get("kwargs") and eq.params.get("item") is None:
        ops = _numpy_operands(eq, refs)
        if ops is None:
            return None
        name = prim.method
        if name in _DUNDER and len(ops) == (1 if name in ("__neg__", "__invert__", "__abs__") else 2):
            return [Step(_DUNDER[name], ops)]
        if name in _RDUNDER and len(ops) == 2:
            return [Step(_RDUNDER[name], [ops[1], ops[0]])]
        if name == "astype" and len(ops) == 2 and ops[1].kind == "lit":
            return [Step(_astype, ops, out=False, label="astype")]
        return None
    return None


def _power_operator(x, c):
    return x ** c


def _astype(x, dtype):
    return x.astype(dtype)


def is_elementwise(eq):
    refs = [Ref("in", i) for i in range(len(eq.ins))]
    return steps_of(eq, refs) is not None


def resolve(steps):
    """Make the relative 'tmp' refs (-1: the previous step) absolute."""
    for i, s in enumerate(steps):
        s.operands = [Ref("tmp", i + o.value) if o.kind == "tmp" and o.value < 0 else o for o in s.operands]
    return steps


def infer(steps, in_avals):
    """Fill each step's result shape and dtype from the kernel inputs' (shape, dtype) by running the
    step on 0-d arrays (NumPy's promotion rules, Python numbers weak) and broadcasting shapes."""
    for s in steps:
        shapes, samples = [], []
        for o in s.operands:
            if o.kind == "in":
                shape, dtype = in_avals[o.value]
            elif o.kind == "tmp":
                shape, dtype = steps[o.value].shape, steps[o.value].dtype
            else:
                samples.append(o.value)
                continue
            shapes.append(shape)
            samples.append(np.zeros((), dtype))
        with np.errstate(all="ignore"):
            r = s.fn(*samples, **s.kwargs)
        s.dtype = np.asarray(r).dtype
        s.shape = np.broadcast_shapes(*shapes) if shapes else ()
    return steps
