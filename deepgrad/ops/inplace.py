"""In-place methods of Tensor, as PyTorch's (``x.add_(y)``, ``x -= y``, ``x.zero_()``, ``w.normal_()``):
each is its out-of-place operation, written back into the tensor by ``autograd.inplace.update``, which
keeps gradients right and refuses what PyTorch refuses (a leaf that requires grad, outside no_grad)."""
from .. import backend
from ..autograd.function import is_grad_enabled
from ..autograd.inplace import update
from ..autograd.tensor import Tensor
from . import binary, creation, selection, unary
from .common import constant


def _inplace(name, fn):
    def method(self, *args, **kwargs):
        def compute(old):    # ``y.mul_(y)`` multiplies by the old value of y
            return _kept_on_graph(fn(old, *(old if a is self else a for a in args), **kwargs), old)
        return update(self, compute, name)
    method.__name__ = name
    method.__doc__ = f"In place: ``x.{name}(...)`` writes ``{name[:-1]}(x, ...)`` into ``x`` and returns ``x``."
    return method


def _kept_on_graph(result, old):
    """A constant result (``zero_``, ``fill_``, ``normal_``) written into a tensor on the graph leaves it on
    the graph, as in PyTorch: it still requires grad, and its history gets zero gradient."""
    if old.requires_grad and not result.requires_grad and is_grad_enabled():
        keep = constant(backend.xp_of(old.array).ones(old.shape, bool))
        return binary.where(keep, result.astype(old.dtype), old)
    return result


def _scaled(other, alpha):
    return other if alpha == 1 else binary.mul(other, alpha)


def _filled(x, value):
    if isinstance(value, Tensor):
        if value.ndim:
            raise ValueError(f"fill_: the value must be a number or a 0-dim tensor, got shape {tuple(value.shape)}")
        return value
    return constant(backend.xp_of(x.array).full(x.shape, value, x.dtype))


def _drawn(maker, x, generator):
    """Samples of x's shape and dtype: on x's device from its generator, or from ``generator`` on the host and
    then copied to x's device."""
    t = maker(*x.shape, dtype=x.dtype, generator=generator, device=x.device if generator is None else None)
    return backend.to_device(t.array, x.device)


def _uniform(x, a=0.0, b=1.0, *, generator=None):
    return constant((_drawn(creation.rand, x, generator) * (b - a) + a).astype(x.dtype))


def _normal(x, mean=0.0, std=1.0, *, generator=None):
    return constant((_drawn(creation.randn, x, generator) * std + mean).astype(x.dtype))


def _masked_fill(x, mask, value):
    return binary.where(mask, value, x)


INPLACE = {
    "add_": lambda x, other, *, alpha=1: binary.add(x, _scaled(other, alpha)),
    "sub_": lambda x, other, *, alpha=1: binary.sub(x, _scaled(other, alpha)),
    "mul_": binary.mul, "div_": binary.div, "pow_": binary.pow,
    "addcmul_": lambda x, t1, t2, *, value=1: binary.add(x, _scaled(binary.mul(t1, t2), value)),
    "addcdiv_": lambda x, t1, t2, *, value=1: binary.add(x, _scaled(binary.div(t1, t2), value)),
    "lerp_": lambda x, end, weight: binary.add(x, binary.mul(binary.sub(end, x), weight)),
    "neg_": lambda x: -x, "abs_": unary.abs, "exp_": unary.exp, "log_": unary.log, "sqrt_": unary.sqrt,
    "sigmoid_": unary.sigmoid, "tanh_": unary.tanh, "relu_": unary.relu,
    "clamp_": unary.clip, "clip_": unary.clip,
    "zero_": lambda x: _filled(x, 0), "fill_": _filled, "copy_": lambda x, src: src,
    "uniform_": _uniform, "normal_": _normal, "masked_fill_": _masked_fill,
    "scatter_": selection.scatter, "scatter_add_": selection.scatter_add,
}
OPERATORS = {"__iadd__": "add_", "__isub__": "sub_", "__imul__": "mul_", "__itruediv__": "div_",
             "__ipow__": "pow_"}

METHODS = {name: _inplace(name, fn) for name, fn in INPLACE.items()}
METHODS.update({op: METHODS[name] for op, name in OPERATORS.items()})
