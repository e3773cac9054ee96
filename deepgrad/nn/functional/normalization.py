"""Normalisation (PyTorch semantics): ``batch_norm`` (Ioffe & Szegedy 2015), ``layer_norm``
(Ba et al. 2016), ``group_norm`` (Wu & He 2018). Each normalises with the ``normalize`` primitive
(derivatives of every order in both modes) and applies its affine map with Tensor ops.

All three compute  y = (x − μ) / sqrt(σ² + eps) · γ + β  with the biased variance σ² over their
own set of axes; they differ in which axes they average over:
batch_norm: the batch and spatial axes, per channel; layer_norm: the trailing ``normalized_shape``
axes, per sample; group_norm: each group of channels and the spatial axes, per sample.
"""
import math

from ... import backend
from ...autograd.tensor import Tensor
from ...ops.common import lift
from ...ops.normalize import moments, normalize


def _batch_statistics(x, axes):
    """The batch mean and biased variance per channel, as arrays (for the running statistics)."""
    mean, _, var = moments(x.array, axes)
    return mean.reshape(-1), var.reshape(-1)


def _channel_view(t, ndim):
    """A per-channel vector (C,) reshaped to broadcast against (N, C, *spatial)."""
    return t.reshape((1, -1) + (1,) * (ndim - 2))


def _check_channels(op, name, t, c):
    if t is not None and tuple(t.shape) != (c,):
        raise ValueError(f"{op}: {name} must have shape ({c},) (one per channel), got {tuple(t.shape)}")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5):
    """Batch normalisation over (N, C, *) per channel C.

    ``training=True`` normalises with the batch's mean and biased variance and, when running
    statistics are given, updates them in place:
    running = (1 − momentum)·running + momentum·batch statistic (the unbiased variance for
    running_var, as PyTorch). ``training=False`` normalises with the running statistics.
    """
    op = "batch_norm"
    x = lift(input)
    if x.ndim < 2:
        raise ValueError(f"{op}: expected input of shape (N, C, *), got shape {x.shape}")
    if not backend.is_floating(x.dtype):
        raise TypeError(f"{op}: needs a floating-point input, got dtype {x.dtype}")
    c = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        _check_channels(op, name, t, c)
    axes = (0,) + tuple(range(2, x.ndim))
    if training:
        n = x.array.size // c if c else 0
        if n == 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {x.shape}")
        y = normalize(x, axes, eps)
        if n and (running_mean is not None or running_var is not None):   # an empty batch leaves them as they are
            mean, var = _batch_statistics(x, axes)
            if running_mean is not None:
                running_mean.array[...] = ((1 - momentum) * running_mean.array
                                          + momentum * mean).astype(running_mean.dtype)
            if running_var is not None:
                unbiased = var * (n / (n - 1))
                running_var.array[...] = ((1 - momentum) * running_var.array
                                         + momentum * unbiased).astype(running_var.dtype)
    else:
        if running_mean is None or running_var is None:
            raise ValueError(f"{op}: running_mean and running_var must be given when training=False")
        mean = Tensor.wrap(running_mean.array.astype(x.dtype, copy=False))
        var = Tensor.wrap(running_var.array.astype(x.dtype, copy=False))
        y = (x - _channel_view(mean, x.ndim)) * _channel_view((var + eps) ** -0.5, x.ndim)
    if weight is not None:
        y = y * _channel_view(lift(weight), x.ndim)
    if bias is not None:
        y = y + _channel_view(lift(bias), x.ndim)
    return y


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing dims given by ``normalized_shape``, per sample; optional
    elementwise affine ``weight``/``bias`` of shape ``normalized_shape``."""
    x = lift(input)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or x.ndim < k or tuple(x.shape[x.ndim - k:]) != shape:
        raise ValueError(f"layer_norm: given normalized_shape={list(shape)}, expected input with shape "
                         f"[*, {', '.join(map(str, shape))}], but got input of size {list(x.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"layer_norm: {name} must have shape {shape}, got {tuple(t.shape)}")
    y = normalize(x, tuple(range(x.ndim - k, x.ndim)), eps)
    if weight is not None:
        y = y * lift(weight)
    if bias is not None:
        y = y + lift(bias)
    return y


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise each group of C/num_groups channels (with the spatial dims) per sample; then a
    per-channel affine ``weight``/``bias`` of shape (C,)."""
    x = lift(input)
    if x.ndim < 2:
        raise ValueError(f"group_norm: expected input of shape (N, C, *), got shape {x.shape}")
    n, c = x.shape[:2]
    if c % num_groups:
        raise ValueError(f"group_norm: Expected number of channels in input to be divisible by num_groups, "
                         f"but got input of shape {x.shape} and num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        _check_channels("group_norm", name, t, c)
    grouped = x.reshape(n, num_groups, (c // num_groups) * math.prod(x.shape[2:]))
    y = normalize(grouped, (2,), eps)
    y = y.reshape(x.shape)
    if weight is not None:
        y = y * _channel_view(lift(weight), x.ndim)
    if bias is not None:
        y = y + _channel_view(lift(bias), x.ndim)
    return y
