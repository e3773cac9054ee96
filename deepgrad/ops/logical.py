"""Tests of values that give bool tensors without gradient: isnan, isinf, isfinite, any, all."""
from .. import backend
from .common import constant, lift, normalize_axes


def _test(name, on_floats):
    def test(input):
        x = lift(input)
        xp = backend.xp_of(x.data)
        if backend.is_floating(x.dtype):
            return constant(on_floats(xp, x.data))
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
        out = getattr(x.data.astype(bool), name)(axis=axes, keepdims=bool(keepdim))
        return constant(backend.xp_of(x.data).asarray(out, x.dtype if x.dtype == backend.uint8 else bool))
    reduce.__name__ = name
    reduce.__doc__ = (f"Whether {'any' if name == 'any' else 'every'} element is non-zero, over ``dim`` (an int "
                      "or a tuple; all when None); bool (uint8 for uint8 input, as in PyTorch).")
    return reduce


any, all = _truth("any"), _truth("all")
