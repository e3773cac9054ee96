"""Gradient clipping with PyTorch's semantics (``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``):
the gradients in ``p.grad`` are rescaled or clamped in place."""
import math

from ... import backend
from ...autograd.tensor import Tensor

np = backend.numpy


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def _vector_norm(a, norm_type):
    """‖a‖ of order ``norm_type`` (as ``torch.linalg.vector_norm``), as a 0-d array of a's dtype."""
    xp = backend.xp_of(a)
    a = xp.abs(a.reshape(-1))
    if abs(norm_type) == math.inf:      # (CuPy's max and min take no initial=: the empty case by hand)
        if not a.size:
            return xp.asarray(0 if norm_type > 0 else math.inf, a.dtype)
        return (a.max() if norm_type > 0 else a.min()).astype(a.dtype)
    if norm_type == 0:
        return xp.asarray(xp.count_nonzero(a), a.dtype)
    if norm_type == 1:
        return xp.asarray(a.sum(), a.dtype)
    if norm_type == 2:
        return xp.asarray(xp.sqrt(xp.dot(a, a)), a.dtype)
    return xp.asarray(xp.sum(a ** norm_type) ** (1.0 / norm_type), a.dtype)


def _writable_grad(p):
    """``p.grad``'s array, made writable (and cut off from any graph) if it is not already."""
    g = p.grad
    if g.requires_grad or g._node is not None or not backend.writeable(g.array):
        p.grad = g = Tensor.wrap(g.array.copy())
    return g.array


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale the gradients of ``parameters`` (an iterable of Tensors, or one Tensor) in place so that
    their joint norm of order ``norm_type`` (the norm of the per-gradient norms; ``inf`` for the
    largest magnitude) is at most ``max_norm``: each is multiplied by min(1, max_norm/(total + 1e-6)).
    Returns the total norm before clipping, as a 0-d Tensor. Parameters without a gradient are
    skipped; with ``error_if_nonfinite`` a NaN/inf total norm raises instead of spreading NaNs."""
    params = _grads(parameters)
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not params:
        return Tensor.wrap(np.asarray(0.0, backend.default_float))
    dtype = np.result_type(*[p.grad.dtype for p in params])
    xp = backend.xp_of(params[0].grad.array)
    with np.errstate(over="ignore", invalid="ignore"):
        norms = xp.stack([_vector_norm(p.grad.array, norm_type).astype(dtype) for p in params])
        total = _vector_norm(norms, norm_type)
    if error_if_nonfinite and not xp.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
                           "so it cannot be clipped. To disable this error and scale the gradients by the "
                           "non-finite norm anyway, set `error_if_nonfinite=False`")
    # a non-finite total gives NaN gradients (inf·0), silently, as PyTorch
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        coef = xp.minimum(xp.asarray(max_norm, dtype) / (total + xp.asarray(1e-6, dtype)), xp.asarray(1.0, dtype))
        for p in params:
            g = _writable_grad(p)
            g *= coef.astype(g.dtype)
    return Tensor.wrap(total)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element of ``parameters`` to [−clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    for p in _grads(parameters):
        g = _writable_grad(p)
        backend.xp_of(g).clip(g, -clip_value, clip_value, out=g)
