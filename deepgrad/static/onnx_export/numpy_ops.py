"""ONNX nodes for the NumPy-level equations the tracer records when library code computes on raw arrays."""
from ... import backend
from ..ir import Slot, Var, map_nested

np = backend.numpy
from .converters import _compare_op, _getitem

def _fill(template, eq):
    """The call's arguments with ``Slot(i)`` replaced by the i-th input Var."""
    return map_nested(template, Slot, lambda slot: eq.ins[slot.index])


def _operand(b, value, dtype=None):
    """(ONNX name, dtype) of an argument of a NumPy call: a Var or a Python/NumPy scalar or array."""
    if isinstance(value, Var):
        return b.names[value], value.dtype
    array = np.asarray(value)
    if dtype is not None and array.ndim == 0 and isinstance(value, (bool, int, float)):
        array = array.astype(dtype)
    return b.const(array), array.dtype


_UFUNC_BINARY = {"add": "Add", "subtract": "Sub", "multiply": "Mul", "true_divide": "Div", "divide": "Div",
                 "maximum": "Max", "minimum": "Min", "power": "Pow", "fmax": "Max", "fmin": "Min"}
_UFUNC_COMPARE = {"greater": "Greater", "greater_equal": "GreaterOrEqual", "less": "Less",
                  "less_equal": "LessOrEqual", "equal": "Equal", "not_equal": "NotEqual",
                  "logical_and": "And", "logical_or": "Or", "logical_xor": "Xor"}
_UFUNC_UNARY = {"negative": "Neg", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "absolute": "Abs", "tanh": "Tanh",
                "floor": "Floor", "ceil": "Ceil", "sign": "Sign", "isnan": "IsNaN", "isinf": "IsInf",
                "logical_not": "Not", "positive": "Identity", "sin": "Sin", "cos": "Cos", "reciprocal": "Reciprocal"}
_OPERATORS = {"__add__": "add", "__sub__": "subtract", "__mul__": "multiply", "__truediv__": "true_divide",
              "__pow__": "power", "__gt__": "greater", "__ge__": "greater_equal", "__lt__": "less",
              "__le__": "less_equal", "__eq__": "equal", "__ne__": "not_equal", "__and__": "bitwise_and",
              "__or__": "bitwise_or", "__xor__": "bitwise_xor", "__neg__": "negative", "__pos__": "positive",
              "__abs__": "absolute", "__invert__": "invert"}


def _elementwise(b, ufunc_name, args, out):
    """An elementwise NumPy ufunc on Vars and scalars (scalars take the dtype of the array operand)."""
    like = next((a.dtype for a in args if isinstance(a, Var)), None)
    ops = [_operand(b, a, like) for a in args]
    names, dtypes = [n for n, _ in ops], [d for _, d in ops]
    if ufunc_name in ("bitwise_and", "bitwise_or", "bitwise_xor", "invert") and all(d == np.bool_ for d in dtypes):
        ufunc_name = {"bitwise_and": "logical_and", "bitwise_or": "logical_or", "bitwise_xor": "logical_xor",
                      "invert": "logical_not"}[ufunc_name]
    if ufunc_name == "isfinite":
        x = names[0]
        return b.node("Not", [b.node("Or", [b.node("IsNaN", [x]), b.node("IsInf", [x])])])
    if ufunc_name in _UFUNC_COMPARE:
        return _compare_op(b, _UFUNC_COMPARE[ufunc_name], names, dtypes)
    if ufunc_name in _UFUNC_BINARY:
        return b.node(_UFUNC_BINARY[ufunc_name], [b.cast(n, d, out.dtype) for n, d in zip(names, dtypes)])
    if ufunc_name in _UFUNC_UNARY:
        op = _UFUNC_UNARY[ufunc_name]
        if op in ("IsNaN", "IsInf", "Not"):
            return b.node(op, names)
        return b.node(op, [b.cast(names[0], dtypes[0], out.dtype)])
    raise NotImplementedError(f"ONNX export: the NumPy operation '{ufunc_name}' is not supported")


def _axis_arg(args, kwargs, position=0, key="axis"):
    if key in kwargs:
        return kwargs[key]
    return args[position] if len(args) > position else None


def _numpy_reduce(b, op, x, name, args, kwargs, default_axis=None):
    axis = _axis_arg(args, kwargs)
    axis = default_axis if axis is None and default_axis is not None else axis
    keep = bool(kwargs.get("keepdims", False))
    axes = None if axis is None else ((axis,) if isinstance(axis, int) else tuple(axis))
    return b.reduce(op, name, axes, keep, len(x.shape))


def _arg_extremum(b, op, x, name, args, kwargs):
    axis = _axis_arg(args, kwargs)
    keep = int(bool(kwargs.get("keepdims", False)))
    if axis is None:
        name = b.node("Reshape", [name, b.ints([-1])])
        axis, keep = 0, 0
    return b.node(op, [name], axis=int(axis), keepdims=keep, select_last_index=0)


def _check_item(eq):
    if eq.params.get("item") is not None:
        raise NotImplementedError(f"ONNX export: the NumPy operation '{eq.name}' with several results is not "
                                  "supported")


def _numpy_method(b, eq, ins):
    _check_item(eq)
    method = eq.prim.method
    args, kwargs = _fill(eq.params["args"], eq), _fill(eq.params["kwargs"], eq)
    x, name = eq.ins[0], ins[0]
    if method in ("reshape", "ravel", "flatten", "squeeze"):
        return b.reshape(name, b.dims(x), b.dims(eq.out)) if b.dims(x) != b.dims(eq.out) else \
            b.node("Identity", [name])
    if method in ("copy", "view") and not args:
        return b.node("Identity", [name])
    if method == "astype":
        return b.cast(name, x.dtype, eq.out.dtype) if x.dtype != eq.out.dtype else b.node("Identity", [name])
    if method == "__getitem__":
        return _getitem(b, name, x, eq.out, args[0])
    if method in ("transpose", "swapaxes"):
        nd = len(x.shape)
        if method == "swapaxes":
            a0, a1 = args[0] % nd, args[1] % nd
            perm = list(range(nd))
            perm[a0], perm[a1] = perm[a1], perm[a0]
        elif not args or args[0] is None:
            perm = list(range(nd))[::-1]
        else:
            perm = list(args[0]) if isinstance(args[0], (tuple, list)) else list(args)
        return b.node("Transpose", [name], perm=[int(p) % nd for p in perm])
    if method in ("argmax", "argmin"):
        y = _arg_extremum(b, "ArgMax" if method == "argmax" else "ArgMin", x, name, args, kwargs)
        return b.cast(y, np.int64, eq.out.dtype)
    if method in ("sum", "max", "min", "prod", "mean"):
        op = {"sum": "ReduceSum", "max": "ReduceMax", "min": "ReduceMin", "prod": "ReduceProd",
              "mean": "ReduceMean"}[method]
        return b.cast(_numpy_reduce(b, op, x, name, args, kwargs), x.dtype, eq.out.dtype)
    if method.startswith("__r") and method.replace("__r", "__", 1) in _OPERATORS:
        return _elementwise(b, _OPERATORS[method.replace("__r", "__", 1)], [args[0], x], eq.out)
    if method in _OPERATORS:
        return _elementwise(b, _OPERATORS[method], [x] + list(args), eq.out)
    raise NotImplementedError(f"ONNX export: the NumPy operation 'ndarray.{method}' is not supported")


def _numpy_function(b, eq, ins):
    _check_item(eq)
    fname = getattr(eq.prim.func, "__name__", "function")
    args, kwargs = _fill(eq.params["args"], eq), _fill(eq.params["kwargs"], eq)
    if fname == "take_along_axis":
        arr, idx = args[0], args[1]
        axis = _axis_arg(args, kwargs, 2)
        nd = len(arr.shape)
        axis = int(axis) % nd
        out_dims = b.dims(eq.out)
        target = [1 if i == axis else d for i, d in enumerate(out_dims)]
        data = b.names[arr] if isinstance(arr, Var) else b.const(arr)
        index = b.cast(b.names[idx], idx.dtype, np.int64) if isinstance(idx, Var) else b.const(
            np.asarray(idx, np.int64))
        adims = b.dims(arr) if isinstance(arr, Var) else arr.shape
        idims = b.dims(idx) if isinstance(idx, Var) else np.shape(idx)
        if [d for i, d in enumerate(adims) if i != axis] != [d for i, d in enumerate(out_dims) if i != axis]:
            data = b.node("Expand", [data, b.shape_tensor(target)])
        if [d for i, d in enumerate(idims) if i != axis] != [d for i, d in enumerate(out_dims) if i != axis]:
            index = b.node("Expand", [index, b.shape_tensor(target)])
        return b.node("GatherElements", [data, index], axis=axis)
    if fname in ("reshape", "squeeze", "expand_dims", "ravel"):
        x = args[0]
        return b.reshape(b.names[x], b.dims(x), b.dims(eq.out))
    if fname == "broadcast_to":
        x = args[0]
        name, dims = (b.names[x], b.dims(x)) if isinstance(x, Var) else (b.const(x), np.shape(x))
        return b.expand(name, dims, b.dims(eq.out))
    if fname == "where" and len(args) == 3:
        like = next((a.dtype for a in args[1:] if isinstance(a, Var)), eq.out.dtype)
        cond, cd = _operand(b, args[0])
        (xn, xd), (yn, yd) = _operand(b, args[1], like), _operand(b, args[2], like)
        return b.node("Where", [b.cast(cond, cd, np.bool_), b.cast(xn, xd, eq.out.dtype),
                                b.cast(yn, yd, eq.out.dtype)])
    if fname == "transpose":
        x = args[0]
        axes = _axis_arg(args[1:], kwargs, 0, "axes")
        nd = len(x.shape)
        perm = list(range(nd))[::-1] if axes is None else [int(a) % nd for a in axes]
        return b.node("Transpose", [b.names[x]], perm=perm)
    if fname in ("concatenate",):
        parts = args[0]
        axis = _axis_arg(args[1:], kwargs, 0)
        names = [b.cast(_operand(b, p)[0], _operand(b, p)[1], eq.out.dtype) for p in parts]
        return b.node("Concat", names, axis=int(0 if axis is None else axis))
    if fname in ("sum", "amax", "amin", "max", "min", "prod", "mean"):
        op = {"sum": "ReduceSum", "amax": "ReduceMax", "max": "ReduceMax", "amin": "ReduceMin",
              "min": "ReduceMin", "prod": "ReduceProd", "mean": "ReduceMean"}[fname]
        x = args[0]
        return b.cast(_numpy_reduce(b, op, x, b.names[x], args[1:], kwargs), x.dtype, eq.out.dtype)
    if fname in ("argmax", "argmin"):
        x = args[0]
        y = _arg_extremum(b, "ArgMax" if fname == "argmax" else "ArgMin", x, b.names[x], args[1:], kwargs)
        return b.cast(y, np.int64, eq.out.dtype)
    if fname in ("copy", "ascontiguousarray", "asarray", "array"):
        x = args[0]
        return b.cast(b.names[x], x.dtype, eq.out.dtype) if x.dtype != eq.out.dtype else b.node("Identity",
                                                                                                 [b.names[x]])
    raise NotImplementedError(f"ONNX export: the NumPy operation 'np.{fname}' is not supported")


_UFUNC_REDUCE = {"add": "ReduceSum", "maximum": "ReduceMax", "minimum": "ReduceMin", "multiply": "ReduceProd"}


def _numpy_ufunc(b, eq, ins):
    _check_item(eq)
    ufunc, method = eq.prim.ufunc, eq.prim.method
    args, kwargs = _fill(eq.params["args"], eq), _fill(eq.params["kwargs"], eq)
    extra = {k: v for k, v in kwargs.items() if k not in ("axis", "keepdims", "dtype")}
    if extra:
        raise NotImplementedError(f"ONNX export: the NumPy operation '{eq.name}' with {sorted(extra)} is not "
                                  "supported")
    if method == "__call__":
        return _elementwise(b, ufunc.__name__, list(args), eq.out)
    if method == "reduce" and ufunc.__name__ in _UFUNC_REDUCE:
        x = args[0]
        y = _numpy_reduce(b, _UFUNC_REDUCE[ufunc.__name__], x, b.names[x], args[1:], kwargs, default_axis=0)
        return b.cast(y, x.dtype, eq.out.dtype)
    raise NotImplementedError(f"ONNX export: the NumPy operation '{eq.name}' is not supported")


