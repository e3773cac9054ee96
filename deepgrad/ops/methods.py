"""Operators and methods of Tensor (``x + y``, ``x.sum()``, ``x.T`` ...), installed onto the class
defined in the autograd layer so that imports keep pointing down."""
from .. import backend
from ..autograd.function import apply, to_device
from ..autograd.tensor import Tensor
from . import activation, api_methods, basics, binary, index, inplace, linalg, reduce, shape, unary
from .common import NO_PARAMS, lift

np = backend.numpy


def _reflected(fn):
    return lambda self, other: fn(other, self)


def _neg(self):
    if self.dtype == backend.bool_:
        raise TypeError("neg: negation (the - operator) of a bool tensor is not supported; use ~ or logical_not()")
    return apply(unary.neg, (self,), NO_PARAMS)


def _t(self):
    """All axes reversed (the matrix transpose for 2-D tensors)."""
    return shape.permute(self, *reversed(range(self.ndim)))


def _to(self, *args, dtype=None, device=None, non_blocking=False, copy=False, memory_format=None):
    """``t.to(dtype)``, ``t.to(device)``, ``t.to(device, dtype)``, ``t.to(other)`` or keywords, as in PyTorch: the
    same tensor when nothing changes, unless ``copy``; a move between devices stays on the graph."""
    device, dtype = to_arguments("to", args, device, dtype)
    out = self if device is None else to_device(self, device, non_blocking)
    out = out if dtype is None else unary.astype(out, dtype)
    return out.clone() if copy and out is self else out


def to_arguments(op, args, device=None, dtype=None):
    """The (device, dtype) that ``.to``'s positional forms name (a device, a dtype, both, or a tensor whose
    device and dtype are taken); the device (None when not named) is checked to be available."""
    if len(args) > 2:
        raise TypeError(f"{op}: expected at most a device and a dtype, got {len(args)} positional arguments")
    for a in args:
        if isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        elif backend.is_device(a):
            device = a
        elif a is not None:
            dtype = a
    return None if device is None else backend.check_device(device, op), backend.as_dtype(dtype)


def _cuda(self, device=None, non_blocking=False, memory_format=None):
    """A copy on CUDA device ``device`` (an int, a device, or None for the current one)."""
    return _to(self, cuda_device(device))


def cuda_device(device):
    """What ``.cuda(device)`` means: CUDA device number ``device``, or the current one for None."""
    return backend.device("cuda", device) if isinstance(device, int) else device or "cuda"


_UFUNCS = {
    np.add: binary.add, np.subtract: binary.sub, np.multiply: binary.mul, np.true_divide: binary.div,
    np.power: binary.pow, np.maximum: binary.maximum, np.minimum: binary.minimum, np.matmul: linalg.matmul,
    np.less: binary.lt, np.less_equal: binary.le, np.greater: binary.gt, np.greater_equal: binary.ge,
    np.equal: binary.eq, np.not_equal: binary.ne, np.bitwise_and: binary.logical_and,
    np.logical_and: binary.logical_and, np.bitwise_or: binary.logical_or, np.logical_or: binary.logical_or,
    np.negative: _neg, np.positive: lambda x: x, np.absolute: unary.abs, np.exp: unary.exp,
    np.log: unary.log, np.log1p: unary.log1p, np.expm1: unary.expm1, np.sqrt: unary.sqrt,
    np.sin: unary.sin, np.cos: unary.cos, np.tanh: unary.tanh,
}


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    """NumPy meets a Tensor (``np.float32(3) * w``, ``array + t``, ``np.exp(t)``): the deepgrad operation,
    so the result is a Tensor and the graph is kept. Other ufuncs run on the arrays when no operand
    requires grad (as PyTorch's ``__array__`` does) and are refused when one does, instead of silently
    leaving the graph."""
    fn = _UFUNCS.get(ufunc) if method == "__call__" and not kwargs else None
    if fn is not None:
        return fn(*inputs)
    out = kwargs.get("out", ())
    if any(isinstance(x, Tensor) and x.requires_grad for x in inputs + out):
        raise TypeError(f"numpy.{ufunc.__name__} ({method}) on a tensor that requires grad would drop it from the "
                        "graph; use deepgrad's own function, or .detach() first")
    if out:      # ``array -= tensor`` and friends: NumPy writes into the arrays named by out=
        kwargs["out"] = tuple(x.array if isinstance(x, Tensor) else x for x in out)
    result = getattr(ufunc, method)(*(x.array if isinstance(x, Tensor) else x for x in inputs), **kwargs)
    if out:
        return out[0] if len(out) == 1 else out
    return Tensor.wrap(result) if isinstance(result, (np.ndarray, np.generic)) else result


METHODS = {
    "__array_ufunc__": _array_ufunc,
    "__add__": binary.add, "__radd__": _reflected(binary.add),
    "__sub__": binary.sub, "__rsub__": _reflected(binary.sub),
    "__mul__": binary.mul, "__rmul__": _reflected(binary.mul),
    "__truediv__": binary.div, "__rtruediv__": _reflected(binary.div),
    "__pow__": binary.pow, "__rpow__": lambda self, other: binary.pow(lift(other, self), self),
    "__matmul__": linalg.matmul, "__rmatmul__": _reflected(linalg.matmul),
    "__neg__": _neg, "__pos__": lambda self: self, "__abs__": unary.abs,
    "__lt__": binary.lt, "__le__": binary.le, "__gt__": binary.gt, "__ge__": binary.ge,
    "__eq__": binary.eq, "__ne__": binary.ne,
    "__and__": binary.logical_and, "__or__": binary.logical_or,
    "__invert__": lambda self: Tensor.wrap(~self.array),
    "__getitem__": index.getitem, "__setitem__": index.setitem,
    "__iter__": lambda self: (self[i] for i in range(len(self))),
    "add": binary.add, "sub": binary.sub, "mul": binary.mul, "div": binary.div, "pow": binary.pow,
    "matmul": linalg.matmul, "maximum": binary.maximum, "minimum": binary.minimum, "neg": _neg,
    "exp": unary.exp, "log": unary.log, "log1p": unary.log1p, "expm1": unary.expm1, "sqrt": unary.sqrt,
    "abs": unary.abs, "sin": unary.sin, "cos": unary.cos, "erf": unary.erf, "tanh": unary.tanh,
    "sigmoid": unary.sigmoid, "relu": unary.relu, "clip": unary.clip, "clamp": unary.clip,
    "leaky_relu": activation.leaky_relu, "elu": activation.elu, "gelu": activation.gelu,
    "softplus": activation.softplus,
    "astype": unary.astype, "to": _to, "cpu": lambda self, memory_format=None: to_device(self, backend.CPU),
    "cuda": _cuda, "float": lambda self: unary.astype(self, "float32"),
    "double": lambda self: unary.astype(self, "float64"), "long": lambda self: unary.astype(self, "int64"),
    "sum": reduce.sum, "mean": reduce.mean, "var": reduce.var, "std": reduce.std, "max": reduce.max,
    "min": reduce.min, "amax": reduce.amax, "amin": reduce.amin, "prod": reduce.prod,
    "argmax": reduce.argmax, "argmin": reduce.argmin, "logsumexp": reduce.logsumexp,
    "softmax": reduce.softmax, "log_softmax": reduce.log_softmax,
    "reshape": shape.reshape, "view": shape.reshape, "permute": shape.permute,
    "transpose": shape.transpose, "swapaxes": shape.swapaxes, "expand": shape.expand,
    "broadcast_to": shape.expand, "expand_as": lambda self, other: shape.expand(self, other.shape),
    "flatten": shape.flatten, "squeeze": shape.squeeze, "unsqueeze": shape.unsqueeze,
    "flip": shape.flip, "split": shape.split,
    "clone": lambda self: apply(unary.copy, (self,), NO_PARAMS),
    "T": property(_t), "mT": property(lambda self: shape.transpose(self, -2, -1)),
}


METHODS.update(inplace.METHODS)
METHODS.update(basics.METHODS)
METHODS.update(api_methods.METHODS)


def install():
    for name, fn in METHODS.items():
        setattr(Tensor, name, fn)
