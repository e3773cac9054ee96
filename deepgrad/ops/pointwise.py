"""More elementwise functions, as PyTorch names them: hyperbolic and inverse trigonometric functions,
logarithms in other bases, reciprocals, rounding (zero gradient, as in PyTorch), remainders, atan2,
lerp and nan_to_num. Each derivative is written with Tensor operations, so higher ones follow."""
import math

from .. import backend
from ..autograd.function import Primitive, apply
from .binary import add, div, mul, pow, sub, where
from .common import NO_PARAMS, constant, lift, unbroadcast
from .unary import astype, clip, promote


class Pointwise(Primitive):
    """y = f(x) elementwise, with f' given by ``derivative(x, y)`` in Tensor operations."""

    def __init__(self, name, f, derivative, saved=(0,)):
        self._name, self.f, self.derivative, self.saved = name, f, derivative, saved

    @property
    def name(self):
        return self._name

    def forward(self, x):
        with backend.numpy.errstate(divide="ignore", invalid="ignore"):   # NaN and inf as in PyTorch, silently
            return self.f(backend.xp_of(x), x)

    def vjp(self, g, out, x):
        return (g * self.derivative(x, out),)

    def jvp(self, tangents, out, x):
        return tangents[0] * self.derivative(x, out)


class Flat(Pointwise):
    """A piecewise-constant function (floor, sign ...): its gradient is zero, as in PyTorch."""
    saved = ()

    def __init__(self, name, f):
        super().__init__(name, f, None, ())

    def forward(self, x, **params):
        return self.f(backend.xp_of(x), x, **params)

    def vjp(self, g, out, x, **params):
        return (_zeros(x),)

    def jvp(self, tangents, out, x, **params):
        return _zeros(x)


def _zeros(x):
    return constant(backend.xp_of(x.array).zeros(x.shape, x.dtype))


def _floating(x):
    """Integer and bool tensors go to the default float dtype first, as in PyTorch."""
    x = lift(x)
    return x if backend.is_floating(x.dtype) else astype(x, backend.default_float)


_LN2, _LN10 = math.log(2), math.log(10)
_sinh = Pointwise("sinh", lambda xp, x: xp.sinh(x), lambda x, y: cosh(x))
_cosh = Pointwise("cosh", lambda xp, x: xp.cosh(x), lambda x, y: sinh(x))
_asin = Pointwise("asin", lambda xp, x: xp.arcsin(x), lambda x, y: rsqrt(1 - x * x))
_acos = Pointwise("acos", lambda xp, x: xp.arccos(x), lambda x, y: -rsqrt(1 - x * x))
_atan = Pointwise("atan", lambda xp, x: xp.arctan(x), lambda x, y: reciprocal(x * x + 1))
_log2 = Pointwise("log2", lambda xp, x: xp.log2(x), lambda x, y: reciprocal(x * _LN2))
_log10 = Pointwise("log10", lambda xp, x: xp.log10(x), lambda x, y: reciprocal(x * _LN10))
_rsqrt = Pointwise("rsqrt", lambda xp, x: 1 / xp.sqrt(x), lambda x, y: y * y * y * -0.5, ("out",))
_reciprocal = Pointwise("reciprocal", lambda xp, x: 1 / x, lambda x, y: -(y * y), ("out",))
_tan = Pointwise("tan", lambda xp, x: xp.tan(x), lambda x, y: y * y + 1, ("out",))
_exp2 = Pointwise("exp2", lambda xp, x: xp.exp2(x), lambda x, y: y * _LN2, ("out",))
_logit = Pointwise("logit", lambda xp, x: xp.log(x / (1 - x)), lambda x, y: reciprocal(x * (1 - x)))


def _float_function(prim, doc):
    def fn(input):
        return apply(prim, (_floating(input),), NO_PARAMS)
    fn.__name__, fn.__doc__ = prim.name, doc
    return fn


sinh = _float_function(_sinh, "The hyperbolic sine.")
cosh = _float_function(_cosh, "The hyperbolic cosine.")
asin = _float_function(_asin, "The inverse sine (NaN outside [-1, 1]).")
acos = _float_function(_acos, "The inverse cosine (NaN outside [-1, 1]).")
atan = _float_function(_atan, "The inverse tangent.")
log2 = _float_function(_log2, "The base-2 logarithm.")
log10 = _float_function(_log10, "The base-10 logarithm.")
rsqrt = _float_function(_rsqrt, "1 / sqrt(x).")
reciprocal = _float_function(_reciprocal, "1 / x (integer tensors give the default float dtype).")
tan = _float_function(_tan, "The tangent.")
exp2 = _float_function(_exp2, "2 ** x.")
arcsin, arccos, arctan = asin, acos, atan


def logit(input, eps=None):
    """log(p / (1 − p)); with ``eps``, p is first clamped to [eps, 1 − eps] (zero gradient outside)."""
    x = _floating(input)
    return apply(_logit, (x if eps is None else clip(x, eps, 1 - eps),), NO_PARAMS)


def clamp_min(input, min):
    """max(x, min) for a number ``min``."""
    return clip(input, min=min)


def clamp_max(input, max):
    """min(x, max) for a number ``max``."""
    return clip(input, max=max)


def addcmul(input, tensor1, tensor2, *, value=1):
    """input + value · tensor1 · tensor2."""
    product = mul(tensor1, tensor2)
    return add(input, product if value == 1 else mul(product, value))


def addcdiv(input, tensor1, tensor2, *, value=1):
    """input + value · tensor1 / tensor2."""
    quotient = div(tensor1, tensor2)
    return add(input, quotient if value == 1 else mul(quotient, value))


true_divide = div


def square(input):
    """x * x, in x's dtype."""
    return pow(input, 2)


# ---------------------------------------------------------------- rounding: zero gradient
_floor = Flat("floor", lambda xp, x: xp.floor(x))
_ceil = Flat("ceil", lambda xp, x: xp.ceil(x))
_trunc = Flat("trunc", lambda xp, x: xp.trunc(x))
_round = Flat("round", lambda xp, x, decimals: xp.round(x, decimals))
_sign = Flat("sign", lambda xp, x: xp.sign(x))


def _rounding(prim, doc):
    def fn(input):
        input = lift(input)
        if not backend.is_floating(input.dtype):     # integers are already whole: a copy, as in PyTorch
            return constant(input.array.copy())
        return apply(prim, (input,), NO_PARAMS)
    fn.__name__, fn.__doc__ = prim.name, doc
    return fn


floor = _rounding(_floor, "The largest integer <= x (zero gradient, as in PyTorch).")
ceil = _rounding(_ceil, "The smallest integer >= x (zero gradient, as in PyTorch).")
trunc = _rounding(_trunc, "x rounded towards zero (zero gradient, as in PyTorch).")
fix = trunc


def round(input, *, decimals=0):
    """x rounded to ``decimals`` places, halves to even (as ``torch.round``); zero gradient."""
    input = lift(input)
    if not isinstance(decimals, int) or isinstance(decimals, bool):
        raise TypeError(f"round: decimals must be an int, got {decimals!r}")
    if not backend.is_floating(input.dtype):
        return constant(input.array.copy())
    return apply(_round, (input,), {"decimals": decimals})


def sign(input):
    """-1, 0 or 1 by the sign of x (zero gradient); a bool tensor is returned as is, as in PyTorch."""
    input = lift(input)
    if input.dtype == backend.bool_:
        return constant(input.array.copy())
    return apply(_sign, (input,), NO_PARAMS)


# ---------------------------------------------------------------- functions of two tensors
class _Binary(Primitive):
    """f(a, b) with broadcasting; ``partials(out, a, b)`` gives (df/da, df/db) as Tensors."""

    def forward(self, a, b):
        try:
            with backend.numpy.errstate(divide="ignore", invalid="ignore"):
                return self.f(backend.xp_of(a), a, b)
        except ValueError:
            raise ValueError(f"{self.name}: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast "
                             "together") from None

    def vjp(self, g, out, a, b):
        da, db = self.partials(out, a, b)
        return (unbroadcast(g * da, a.shape) if a.requires_grad else None,
                unbroadcast(g * db, b.shape) if b.requires_grad else None)

    def jvp(self, tangents, out, a, b):
        da, db = self.partials(out, a, b)
        terms = [t * d for t, d in zip(tangents, (da, db)) if t is not None]
        total = terms[0] if len(terms) == 1 else terms[0] + terms[1]
        return total if total.shape == out.shape else total.expand(out.shape)


class Atan2(_Binary):
    """atan2(a, b): the angle of the point (b, a); d/da = b / r², d/db = -a / r²."""
    saved = (0, 1)

    @staticmethod
    def f(xp, a, b):
        return xp.arctan2(a, b)

    def partials(self, out, a, b):
        r2 = a * a + b * b
        return b / r2, -a / r2


class Remainder(_Binary):
    """a - b·floor(a / b), the sign of b (Python's %); d/da = 1, d/db = -floor(a / b)."""
    saved = (0, 1)

    @staticmethod
    def f(xp, a, b):
        return xp.mod(a, b)

    @staticmethod
    def quotient(xp, a, b):
        return xp.floor_divide(a, b)

    def partials(self, out, a, b):
        q = constant(self.quotient(backend.xp_of(a.array), a.array, b.array))
        return constant(backend.xp_of(a.array).ones((), a.dtype)), -q


class Fmod(Remainder):
    """a - b·trunc(a / b), the sign of a (C's fmod); d/db = -trunc(a / b)."""

    @staticmethod
    def f(xp, a, b):
        return xp.fmod(a, b)

    @staticmethod
    def quotient(xp, a, b):
        return xp.trunc(a / b)


_atan2, _remainder, _fmod = Atan2(), Remainder(), Fmod()


def atan2(input, other):
    """The angle of the point (other, input) in (-π, π], elementwise with broadcasting."""
    a, b = promote(input, other, op="atan2")
    if not backend.is_floating(a.dtype):
        a, b = astype(a, backend.default_float), astype(b, backend.default_float)
    return apply(_atan2, (a, b), NO_PARAMS)


arctan2 = atan2


def _modulo(prim, doc):
    def fn(input, other):
        a, b = promote(input, other, op=prim.name)
        if a.dtype.kind in "iu" and (b.array == 0).any():
            raise ZeroDivisionError(f"{prim.name}: integer division by zero")
        return apply(prim, (a, b), NO_PARAMS)
    fn.__name__, fn.__doc__ = prim.name, doc
    return fn


def floor_divide(input, other):
    """floor(a / b), in the operands' promoted dtype (``//``); no gradient, as in PyTorch."""
    a, b = promote(input, other, op="floor_divide")
    if a.dtype.kind in "iu" and (b.array == 0).any():
        raise ZeroDivisionError("floor_divide: integer division by zero")
    with backend.numpy.errstate(divide="ignore", invalid="ignore"):
        return constant(backend.xp_of(a.array).floor_divide(a.array, b.array))


remainder = _modulo(_remainder, "a mod b with the sign of b (Python's %), elementwise with broadcasting.")
fmod = _modulo(_fmod, "a mod b with the sign of a (C's fmod), elementwise with broadcasting.")


def lerp(input, end, weight):
    """input + weight·(end − input), computed as PyTorch does (from ``end`` when |weight| >= 0.5)."""
    input, end = lift(input), lift(end, input)
    if input.dtype != end.dtype:
        raise TypeError(f"lerp: input and end must have the same dtype, got {input.dtype} and {end.dtype}")
    diff = sub(end, input)
    if backend.is_scalar(weight):
        return add(input, mul(weight, diff)) if abs(weight) < 0.5 else sub(end, mul(diff, 1 - weight))
    weight = lift(weight)
    near = constant(backend.xp_of(weight.array).abs(weight.array) < 0.5)
    return where(near, add(input, mul(weight, diff)), sub(end, mul(diff, sub(1, weight))))


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (by default 0 and the dtype's
    largest and smallest finite values); the gradient is zero at the replaced elements."""
    input = lift(input)
    if not backend.is_floating(input.dtype):
        return constant(input.array.copy())
    xp = backend.xp_of(input.array)
    replaced = xp.nan_to_num(input.array, nan=nan, posinf=posinf, neginf=neginf)
    return where(constant(xp.isfinite(input.array)), input, constant(replaced))
