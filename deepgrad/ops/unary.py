"""Elementwise functions of one tensor and their derivatives (the h_i of seed eq. 3.1 are of this kind)."""
import math

from .. import backend
from ..autograd.function import Primitive, apply
from ..autograd.tensor import Tensor
from .common import NO_PARAMS, constant, lift, operand, scalar

xp_of = backend.xp_of


def _call(prim, x, **params):
    return apply(prim, (lift(x),), params or NO_PARAMS)


def _float_call(prim, x):
    """A floating-point function: integer and bool tensors are computed in the default float dtype,
    as in PyTorch (NumPy would give float64, or float16 for int8)."""
    x = lift(x)
    if not backend.is_floating(x.dtype):
        x = astype(x, backend.default_float)
    return apply(prim, (x,), NO_PARAMS)


class Identity(Primitive):
    """y = x, sharing memory; used to give a tensor a fresh node."""
    saved = ()
    view = True          # its result may share the input's memory
    def forward(self, x):
        return x

    def vjp(self, g, out, x):
        return (g,)

    def jvp(self, tangents, out, x):
        return tangents[0]


class Copy(Primitive):
    """y = x in new memory (``Tensor.clone``)."""
    saved = ()
    def forward(self, x):
        return x.copy()

    def vjp(self, g, out, x):
        return (g,)

    def jvp(self, tangents, out, x):
        return tangents[0]


class Neg(Primitive):
    saved = ()

    def forward(self, x):
        return -x

    def vjp(self, g, out, x):
        return (-g,)

    def jvp(self, tangents, out, x):
        return -tangents[0]


class Exp(Primitive):
    saved = ("out",)

    def forward(self, x):
        return xp_of(x).exp(x)

    def vjp(self, g, out, x):
        return (g * out,)

    def jvp(self, tangents, out, x):
        return tangents[0] * out


class Log(Primitive):
    saved = (0,)

    def forward(self, x):
        return xp_of(x).log(x)

    def vjp(self, g, out, x):
        return (g / x,)

    def jvp(self, tangents, out, x):
        return tangents[0] / x


class Log1p(Primitive):
    saved = (0,)

    def forward(self, x):
        return xp_of(x).log1p(x)

    def vjp(self, g, out, x):
        return (g / (x + 1),)

    def jvp(self, tangents, out, x):
        return tangents[0] / (x + 1)


class Expm1(Primitive):
    saved = ("out",)

    def forward(self, x):
        return xp_of(x).expm1(x)

    def vjp(self, g, out, x):
        return (g * (out + 1),)

    def jvp(self, tangents, out, x):
        return tangents[0] * (out + 1)


class Sqrt(Primitive):
    saved = ("out",)

    def forward(self, x):
        return xp_of(x).sqrt(x)

    def vjp(self, g, out, x):
        return ((g / out) * 0.5,)

    def jvp(self, tangents, out, x):
        return (tangents[0] / out) * 0.5


class Abs(Primitive):
    saved = (0,)

    def forward(self, x):
        return xp_of(x).abs(x)

    def vjp(self, g, out, x):
        return (g * constant(xp_of(x.array).sign(x.array)),)

    def jvp(self, tangents, out, x):
        return tangents[0] * constant(xp_of(x.array).sign(x.array))


class Sin(Primitive):
    saved = (0,)

    def forward(self, x):
        return xp_of(x).sin(x)

    def vjp(self, g, out, x):
        return (g * x.cos(),)

    def jvp(self, tangents, out, x):
        return tangents[0] * x.cos()


class Cos(Primitive):
    saved = (0,)

    def forward(self, x):
        return xp_of(x).cos(x)

    def vjp(self, g, out, x):
        return (-(g * x.sin()),)

    def jvp(self, tangents, out, x):
        return -(tangents[0] * x.sin())


class Erf(Primitive):
    saved = (0,)

    def forward(self, x):
        return backend.erf(x)

    def vjp(self, g, out, x):
        return (g * (-(x * x)).exp() * (2 / math.sqrt(math.pi)),)

    def jvp(self, tangents, out, x):
        return tangents[0] * (-(x * x)).exp() * (2 / math.sqrt(math.pi))


class Tanh(Primitive):
    saved = ("out",)

    def forward(self, x):
        return xp_of(x).tanh(x)

    def vjp(self, g, out, x):
        return (tanh_grad(g, out),)

    def jvp(self, tangents, out, x):
        return tanh_grad(tangents[0], out)


class TanhGrad(Primitive):
    """g·(1 − y²): the derivative of tanh given its output y, itself differentiable."""
    def forward(self, g, y):
        return g * (1 - y * y)

    def vjp(self, gg, out, g, y):
        return (tanh_grad(gg, y), gg * g * y * -2)

    def jvp(self, tangents, out, g, y):
        tg, ty = tangents
        d = None if tg is None else tanh_grad(tg, y)
        e = None if ty is None else g * y * ty * -2
        return e if d is None else d if e is None else d + e


class Sigmoid(Primitive):
    """σ(x) = 1 / (1 + e^(−x)) (seed eq. 3.1); e^(−x) = inf for very negative x gives exactly 0."""
    saved = ("out",)
    def forward(self, x):
        with backend.numpy.errstate(over="ignore"):
            return 1 / (1 + xp_of(x).exp(-x))

    def vjp(self, g, out, x):
        return (sigmoid_grad(g, out),)

    def jvp(self, tangents, out, x):
        return sigmoid_grad(tangents[0], out)


class SigmoidGrad(Primitive):
    """g·y·(1 − y): the derivative of the sigmoid given its output y."""
    def forward(self, g, y):
        return g * y * (1 - y)

    def vjp(self, gg, out, g, y):
        return (sigmoid_grad(gg, y), gg * g * (1 - y * 2))

    def jvp(self, tangents, out, g, y):
        tg, ty = tangents
        d = None if tg is None else sigmoid_grad(tg, y)
        e = None if ty is None else g * (1 - y * 2) * ty
        return e if d is None else d if e is None else d + e


class Relu(Primitive):
    saved = (0,)

    def forward(self, x):
        return xp_of(x).maximum(x, 0)

    def vjp(self, g, out, x):
        return (g * constant(x.array > 0),)

    def jvp(self, tangents, out, x):
        return tangents[0] * constant(x.array > 0)


class Astype(Primitive):
    """A dtype cast; the gradient is cast back to the input's dtype."""
    saved = ()
    def forward(self, x, dtype):
        return x.astype(dtype)

    def vjp(self, g, out, x, dtype):
        return (g.astype(x.dtype),)

    def jvp(self, tangents, out, x, dtype):
        return tangents[0].astype(dtype)


class Clip(Primitive):
    """min(max(x, lo), hi); the gradient passes where lo <= x <= hi, as ``torch.clamp``."""
    saved = (0,)
    def forward(self, x, lo, hi):
        return xp_of(x).clip(x, lo, hi)

    def vjp(self, g, out, x, lo, hi):
        return (g * constant(_inside(x.array, lo, hi)),)

    def jvp(self, tangents, out, x, lo, hi):
        return tangents[0] * constant(_inside(x.array, lo, hi))


def _inside(x, lo, hi):
    mask = True
    if lo is not None:
        mask = x >= lo
    if hi is not None:
        mask = mask & (x <= hi)
    return mask


identity, copy, neg, tanh_grad, sigmoid_grad = Identity(), Copy(), Neg(), TanhGrad(), SigmoidGrad()
_exp, _log, _log1p, _expm1, _sqrt, _abs = Exp(), Log(), Log1p(), Expm1(), Sqrt(), Abs()
_sin, _cos, _erf, _tanh, _sigmoid, _relu = Sin(), Cos(), Erf(), Tanh(), Sigmoid(), Relu()
_astype, _clip = Astype(), Clip()


def exp(x):
    return _float_call(_exp, x)


def log(x):
    return _float_call(_log, x)


def log1p(x):
    return _float_call(_log1p, x)


def expm1(x):
    return _float_call(_expm1, x)


def sqrt(x):
    return _float_call(_sqrt, x)


def abs(x):
    return _call(_abs, x)


def sin(x):
    return _float_call(_sin, x)


def cos(x):
    return _float_call(_cos, x)


def erf(x):
    return _float_call(_erf, x)


def tanh(x):
    return _float_call(_tanh, x)


def sigmoid(x):
    """σ(x) = 1 / (1 + exp(−x)), seed eq. 3.1."""
    return _float_call(_sigmoid, x)


def relu(x):
    return _call(_relu, x)


def astype(x, dtype):
    """``x`` cast to ``dtype`` (differentiable between floating dtypes)."""
    x = lift(x)
    dtype = backend.as_dtype(dtype)
    if x.dtype == dtype:
        return x
    if not (backend.is_floating(dtype) and backend.is_floating(x.dtype)):
        return constant(x.array.astype(dtype))
    return apply(_astype, (x,), {"dtype": dtype})


def promote(*values, op="operation"):
    """The operands as Tensors of the dtype PyTorch computes ``op`` in (``backend.result_type``: bool <
    integers < floating; tensors with dimensions outrank 0-dim tensors, which outrank numbers, unless
    the weaker one is of a higher category). Casts are recorded, so gradients flow back in each input's
    own dtype."""
    values = [operand(v, op) for v in values]
    dtype = backend.result_type(*values)
    like = next(v for v in values if isinstance(v, Tensor))
    return [(v if v.dtype == dtype else astype(v, dtype)) if isinstance(v, Tensor) else scalar(v, dtype, like)
            for v in values]


def clip(x, min=None, max=None):
    """Clamp ``x`` to [min, max] (either may be None), like ``torch.clamp``."""
    x = lift(x)
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    for name, v in (("min", min), ("max", max)):
        if v is not None and not isinstance(v, (int, float)):
            raise TypeError(f"clip: {name} must be a Python number or None, got {type(v).__name__}; "
                            "use maximum()/minimum() for tensor bounds")
    dtype = backend.result_type(x, *(v for v in (min, max) if v is not None))   # int tensor, float bound: float
    return apply(_clip, (astype(x, dtype),), {"lo": min, "hi": max})
