"""Operators and methods of Tensor (``x + y``, ``x.sum()``, ``x.T`` ...), installed onto the class
defined in the autograd layer so that imports keep pointing down."""
from ..autograd.function import apply
from ..autograd.tensor import Tensor
from . import activation, binary, index, linalg, reduce, shape, unary
from .common import NO_PARAMS, lift


def _reflected(fn):
    return lambda self, other: fn(other, self)


def _neg(self):
    return apply(unary.neg, (self,), NO_PARAMS)


def _t(self):
    """All axes reversed (the matrix transpose for 2-D tensors)."""
    return shape.permute(self, *reversed(range(self.ndim)))


def _to(self, target=None, dtype=None):
    """``t.to(dtype)``, ``t.to("cpu")`` or ``t.to("cpu", dtype)``, as in PyTorch (only the CPU exists yet)."""
    if isinstance(target, str) and target.split(":")[0] in ("cpu", "cuda"):
        if target.split(":")[0] != "cpu":
            raise ValueError(f"to: device {target!r} is not available: deepgrad runs on the CPU (NumPy) for now")
        target = None
    dtype = dtype if target is None else target
    return self if dtype is None else unary.astype(self, dtype)


def _any(self, dim=None, keepdim=False):
    return Tensor.wrap(self.data.astype(bool).any(axis=dim, keepdims=keepdim))


def _all(self, dim=None, keepdim=False):
    return Tensor.wrap(self.data.astype(bool).all(axis=dim, keepdims=keepdim))


METHODS = {
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
    "__invert__": lambda self: Tensor.wrap(~self.data),
    "__getitem__": index.getitem, "__setitem__": index.setitem,
    "__iter__": lambda self: (self[i] for i in range(len(self))),
    "add": binary.add, "sub": binary.sub, "mul": binary.mul, "div": binary.div, "pow": binary.pow,
    "matmul": linalg.matmul, "maximum": binary.maximum, "minimum": binary.minimum, "neg": _neg,
    "exp": unary.exp, "log": unary.log, "log1p": unary.log1p, "expm1": unary.expm1, "sqrt": unary.sqrt,
    "abs": unary.abs, "sin": unary.sin, "cos": unary.cos, "erf": unary.erf, "tanh": unary.tanh,
    "sigmoid": unary.sigmoid, "relu": unary.relu, "clip": unary.clip, "clamp": unary.clip,
    "leaky_relu": activation.leaky_relu, "elu": activation.elu, "gelu": activation.gelu,
    "softplus": activation.softplus,
    "astype": unary.astype, "to": _to, "float": lambda self: unary.astype(self, "float32"),
    "double": lambda self: unary.astype(self, "float64"), "long": lambda self: unary.astype(self, "int64"),
    "sum": reduce.sum, "mean": reduce.mean, "var": reduce.var, "std": reduce.std, "max": reduce.max,
    "min": reduce.min, "amax": reduce.amax, "amin": reduce.amin, "prod": reduce.prod,
    "argmax": reduce.argmax, "argmin": reduce.argmin, "logsumexp": reduce.logsumexp,
    "softmax": reduce.softmax, "log_softmax": reduce.log_softmax, "any": _any, "all": _all,
    "reshape": shape.reshape, "view": shape.reshape, "permute": shape.permute,
    "transpose": shape.transpose, "swapaxes": shape.swapaxes, "expand": shape.expand,
    "broadcast_to": shape.expand, "expand_as": lambda self, other: shape.expand(self, other.shape),
    "flatten": shape.flatten, "squeeze": shape.squeeze, "unsqueeze": shape.unsqueeze,
    "flip": shape.flip, "split": shape.split,
    "clone": lambda self: apply(unary.copy, (self,), NO_PARAMS),
    "T": property(_t), "mT": property(lambda self: shape.transpose(self, -2, -1)),
}


def install():
    for name, fn in METHODS.items():
        setattr(Tensor, name, fn)
