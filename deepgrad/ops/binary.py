"""Elementwise functions of two tensors, with NumPy/PyTorch broadcasting: gradients are summed back
to each input's shape. Comparisons return bool tensors and carry no gradient."""
from .. import backend
from ..autograd.function import Primitive, apply
from ..autograd.tensor import Tensor
from .common import NO_PARAMS, constant, lift, scalar, unbroadcast
from .unary import promote


def _add_terms(a, b):
    return b if a is None else a if b is None else a + b


class _Binary(Primitive):
    """Wraps NumPy's broadcasting error in one that names the operation and both shapes."""
    symbol = None

    def forward(self, x, y):
        try:
            return self.compute(x, y)
        except ValueError as e:
            if "broadcast" not in str(e):
                raise
            raise ValueError(f"{self.name}: shapes {tuple(x.shape)} and {tuple(y.shape)} cannot be "
                             "broadcast together") from None


class Add(_Binary):
    saved = ()

    def compute(self, x, y):
        return x + y

    def vjp(self, g, out, x, y):
        return (unbroadcast(g, x.shape) if x.requires_grad else None,
                unbroadcast(g, y.shape) if y.requires_grad else None)

    def jvp(self, tangents, out, x, y):
        tx, ty = tangents
        return _broadcast_terms(tx, ty, out)


class Sub(_Binary):
    saved = ()

    def compute(self, x, y):
        return x - y

    def vjp(self, g, out, x, y):
        return (unbroadcast(g, x.shape) if x.requires_grad else None,
                unbroadcast(-g, y.shape) if y.requires_grad else None)

    def jvp(self, tangents, out, x, y):
        tx, ty = tangents
        return _broadcast_terms(tx, None if ty is None else -ty, out)


class Mul(_Binary):
    saved = (0, 1)

    def compute(self, x, y):
        return x * y

    def vjp(self, g, out, x, y):
        return (unbroadcast(g * y, x.shape) if x.requires_grad else None,
                unbroadcast(g * x, y.shape) if y.requires_grad else None)

    def jvp(self, tangents, out, x, y):
        tx, ty = tangents
        return _broadcast_terms(None if tx is None else tx * y, None if ty is None else x * ty, out)


class Div(_Binary):
    """x / y; integer operands give float32, as in PyTorch."""
    saved = ("out", 1)
    def compute(self, x, y):
        out = x / y
        if out.dtype == backend.float64 and x.dtype.kind in "iub" and y.dtype.kind in "iub":
            out = out.astype(backend.default_float)
        return out

    def vjp(self, g, out, x, y):
        gy = g / y
        return (unbroadcast(gy, x.shape) if x.requires_grad else None,
                unbroadcast(-(gy * out), y.shape) if y.requires_grad else None)

    def jvp(self, tangents, out, x, y):
        tx, ty = tangents
        return _broadcast_terms(None if tx is None else tx / y, None if ty is None else -(out * ty / y), out)


class Pow(_Binary):
    """x ** y for a tensor exponent; d/dy = x**y · log x (0 where x = 0, as PyTorch)."""
    def compute(self, x, y):
        return x ** y

    def vjp(self, g, out, x, y):
        return (unbroadcast(g * _dpow_dx(x, y), x.shape) if x.requires_grad else None,
                unbroadcast(g * _dpow_dy(out, x), y.shape) if y.requires_grad else None)

    def jvp(self, tangents, out, x, y):
        tx, ty = tangents
        return _broadcast_terms(None if tx is None else tx * _dpow_dx(x, y),
                                None if ty is None else ty * _dpow_dy(out, x), out)


def _dpow_dx(x, y):
    """y·x^(y−1), and 0 where y = 0 (also at x = 0, where x^(−1) is infinite), as PyTorch."""
    if (y.array == 0).any():
        y_zero = constant(y.array == 0)
        safe = where(y_zero, 1, x)
        return where(y_zero, 0, y * safe ** (y - 1))
    return y * x ** (y - 1)


def _dpow_dy(out, x):
    safe = where(constant(x.array == 0), 1, x)
    return where(constant(x.array == 0), 0, out * safe.log())


class PowScalar(Primitive):
    """x ** c for a Python number c."""
    saved = (0,)
    def forward(self, x, exponent):
        return x ** exponent

    def vjp(self, g, out, x, exponent):
        return (g * _dpow_scalar(x, exponent),)

    def jvp(self, tangents, out, x, exponent):
        return tangents[0] * _dpow_scalar(x, exponent)


def _dpow_scalar(x, c):
    if c == 0:  # not c·x^(−1), which is 0·inf = nan at x = 0; PyTorch gives 0
        return constant(backend.xp_of(x.array).zeros_like(x.array))
    if c == 2:
        return x * 2
    return x ** (c - 1) * c


class Maximum(_Binary):
    """Elementwise max; at ties each input gets half the gradient (as PyTorch)."""
    def compute(self, x, y):
        return backend.xp_of(x).maximum(x, y)

    def vjp(self, g, out, x, y):
        w = _share(x.array, y.array, out.array)
        return (unbroadcast(g * w, x.shape) if x.requires_grad else None,
                unbroadcast(g * (1 - w), y.shape) if y.requires_grad else None)

    def jvp(self, tangents, out, x, y):
        w = _share(x.array, y.array, out.array)
        tx, ty = tangents
        return _broadcast_terms(None if tx is None else tx * w, None if ty is None else ty * (1 - w), out)


class Minimum(Maximum):
    def compute(self, x, y):
        return backend.xp_of(x).minimum(x, y)


def _share(x, y, out):
    """The share of the gradient that goes to x: 1 where x wins, 0.5 at ties, 0 where y wins."""
    xw = (x == out).astype(out.dtype)
    return constant(xw / (xw + (y == out).astype(out.dtype)))


class Where(Primitive):
    """cond ? x : y, elementwise with broadcasting; ``cond`` carries no gradient."""
    saved = (0,)
    def forward(self, cond, x, y):
        try:
            return backend.xp_of(x).where(cond, x, y)
        except ValueError:
            raise ValueError(f"where: shapes {tuple(cond.shape)} (condition), {tuple(x.shape)} and "
                             f"{tuple(y.shape)} cannot be broadcast together") from None

    def vjp(self, g, out, cond, x, y):
        zero = constant(backend.xp_of(g.array).zeros((), g.dtype))
        return (None,
                unbroadcast(where(cond, g, zero), x.shape) if x.requires_grad else None,
                unbroadcast(where(cond, zero, g), y.shape) if y.requires_grad else None)

    def jvp(self, tangents, out, cond, x, y):
        _, tx, ty = tangents
        zero = constant(backend.xp_of(out.array).zeros((), out.dtype))
        t = where(cond, zero if tx is None else tx, zero if ty is None else ty)
        return t if t.shape == out.shape else t.expand(out.shape)


def _broadcast_terms(a, b, out):
    """a + b (either may be None), broadcast to ``out``'s shape."""
    total = _add_terms(a, b)
    if total.shape != out.shape:
        total = total.expand(out.shape)
    return total


class _Compare(_Binary):
    differentiable = False


class Less(_Compare):
    def compute(self, x, y):
        return x < y


class LessEqual(_Compare):
    def compute(self, x, y):
        return x <= y


class Greater(_Compare):
    def compute(self, x, y):
        return x > y


class GreaterEqual(_Compare):
    def compute(self, x, y):
        return x >= y


class Equal(_Compare):
    def compute(self, x, y):
        return x == y


class NotEqual(_Compare):
    def compute(self, x, y):
        return x != y


class LogicalAnd(_Compare):
    def compute(self, x, y):
        return x & y


class LogicalOr(_Compare):
    def compute(self, x, y):
        return x | y


_NUMBERS = (float, int)


def _keeps_dtype(t, number):
    """Whether a Python float or int next to tensor ``t`` leaves ``t``'s dtype as it is (no promotion)."""
    kind = t.array.dtype.kind
    return kind == "f" or type(number) is int and kind in "iu" and -2 ** 31 <= number < 2 ** 31 and \
        t.dtype.itemsize >= 4


_add, _sub, _mul, _div, _pow, _pow_scalar = Add(), Sub(), Mul(), Div(), Pow(), PowScalar()
_maximum, _minimum, _where = Maximum(), Minimum(), Where()
_lt, _le, _gt, _ge, _eq, _ne = Less(), LessEqual(), Greater(), GreaterEqual(), Equal(), NotEqual()
_and, _or = LogicalAnd(), LogicalOr()


def _binary(prim):
    def op(x, y):
        if type(y) in _NUMBERS and isinstance(x, Tensor) and _keeps_dtype(x, y):    # the common x * 2.0
            y = Tensor.wrap(backend.xp_of(x.array).asarray(y, x.dtype))
        elif type(x) in _NUMBERS and isinstance(y, Tensor) and _keeps_dtype(y, x):
            x = Tensor.wrap(backend.xp_of(y.array).asarray(x, y.dtype))
        elif not (isinstance(x, Tensor) and isinstance(y, Tensor) and x.array.dtype == y.array.dtype):
            x, y = promote(x, y, op=prim.name)
        return apply(prim, (x, y), NO_PARAMS)
    op.__name__ = prim.name
    return op


add, mul, div, maximum, minimum = map(_binary, (_add, _mul, _div, _maximum, _minimum))


def sub(x, y):
    """x − y; refused for bool operands, as in PyTorch (use ``~`` or ``logical_xor`` for masks)."""
    if any(v.dtype == backend.bool_ if isinstance(v, Tensor) else isinstance(v, (bool, backend.numpy.bool_))
           for v in (x, y)):
        raise TypeError("sub: subtraction (the - operator) with a bool tensor or number is not supported; "
                        "to invert a mask use ~ or logical_not()")
    return _subtract(x, y)


_subtract = _binary(_sub)
lt, le, gt, ge, eq, ne = map(_binary, (_lt, _le, _gt, _ge, _eq, _ne))
logical_and, logical_or = _binary(_and), _binary(_or)


def pow(x, exponent):
    """x ** exponent; a number exponent gives the cheaper rule c·x^(c−1). An integer tensor to a float
    power is float32 (the default dtype), as in PyTorch."""
    if backend.is_scalar(exponent) and not isinstance(exponent, (bool, backend.numpy.bool_)):
        (x, _) = promote(x, exponent, op="pow")
        return apply(_pow_scalar, (x,), {"exponent": exponent.item() if hasattr(exponent, "item") else exponent})
    x, exponent = promote(x, exponent, op="pow")
    return apply(_pow, (x, exponent), NO_PARAMS)


def where(condition, x, y):
    """Elements of ``x`` where ``condition`` is true, else of ``y`` (``torch.where``; ``x`` and ``y``
    promoted to a common dtype)."""
    condition = lift(condition)
    if condition.dtype != backend.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got dtype {condition.dtype}")
    if not (isinstance(x, Tensor) or isinstance(y, Tensor)):
        x = scalar(x, backend.result_type(x, y), condition)     # where(cond, 1.0, 0.0)
    x, y = promote(x, y, op="where")
    return apply(_where, (condition, x, y), NO_PARAMS)


def equal(x, y):
    """``torch.equal``: True when both tensors have the same shape and elements (a Python bool)."""
    x, y = lift(x), lift(y)
    return x.shape == y.shape and bool((x.array == y.array).all())
