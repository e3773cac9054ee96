"""Tests of values that give bool tensors without gradient: isnan, isinf, isfinite, any, all, the logical
operations (of any dtypes, as truth values), bitwise_not, and count_nonzero."""
from .. import backend
from .common import constant, lift, normalize_axes


def _test(name, on_floats):
    def test(input):
        x = lift(input)
        xp = backend.xp_of(x.array)
        if backend.is_floating(x.dtype):
            return constant(on_floats(xp, x.array))
        return constant(xp.full(x.shape, name == "isfinite"))   # integers are finite, never NaN or inf
    test.__name__ = name
    test.__doc__ = f"Elementwise ``{name}`` as a bool tensor (no gradient)."
    return test


isnan = _test("isnan", lambda xp, a: xp.isnan(a))
isinf = _test("isinf", lambda xp, a: xp.isinf(a))
isfinite = _test("isfinite", lambda xp, a: xp.isfinite(a))
isposinf = _test("isposinf", lambda xp, a: xp.isposinf(a))
isneginf = _test("isneginf", lambda xp, a: xp.isneginf(a))


def _truth(name):
    def reduce(input, dim=None, keepdim=False):
        x = lift(input)
        axes = normalize_axes(dim, x.ndim, name)
        out = getattr(x.array.astype(bool), name)(axis=axes, keepdims=bool(keepdim))
        return constant(backend.xp_of(x.array).asarray(out, x.dtype if x.dtype == backend.uint8 else bool))
    reduce.__name__ = name
    reduce.__doc__ = (f"Whether {'any' if name == 'any' else 'every'} element is non-zero, over ``dim`` (an int "
                      "or a tuple; all when None); bool (uint8 for uint8 input, as in PyTorch).")
    return reduce


any, all = _truth("any"), _truth("all")


def logical_not(input):
    """True where ``input`` is zero (bool)."""
    x = lift(input)
    return constant(x.array == 0)


def _logical(name, op, says):
    def logical(input, other):
        x, y = lift(input), lift(other)
        try:
            return constant(op(x.array != 0, y.array != 0))
        except ValueError:
            raise ValueError(f"{name}: shapes {tuple(x.shape)} and {tuple(y.shape)} cannot be broadcast "
                             "together") from None
    logical.__name__ = name
    logical.__doc__ = f"True where {says} non-zero (bool), with broadcasting; any dtypes."
    return logical


logical_and = _logical("logical_and", lambda a, b: a & b, "both are")
logical_or = _logical("logical_or", lambda a, b: a | b, "either is")
logical_xor = _logical("logical_xor", lambda a, b: a ^ b, "exactly one of the two is")


def bitwise_not(input):
    """~x for bool and integer tensors."""
    x = lift(input)
    if x.dtype.kind not in "biu":
        raise TypeError(f"bitwise_not: expects a bool or integer tensor, got dtype {x.dtype}")
    return constant(~x.array)


def count_nonzero(input, dim=None):
    """The number of non-zero elements over ``dim`` (all when None), int64."""
    x = lift(input)
    axes = normalize_axes(dim, x.ndim, "count_nonzero")
    return constant(backend.xp_of(x.array).asarray((x.array != 0).sum(axis=axes), backend.int64))
