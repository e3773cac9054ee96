"""Dropout (Srivastava et al. 2014; seed 4.6), PyTorch's "inverted" form: in training each element
(or each whole channel, for dropout1d/2d/3d) is zeroed with probability ``p`` and the survivors are
scaled by 1/(1 − p), so the expectation is unchanged and evaluation is the identity. Masks come
from deepgrad's seeded generator (``deepgrad.manual_seed`` reproduces them). With ``inplace=True`` the
result is written into the input and the input returned, as in PyTorch, where nothing records the
input for reverse mode; on a tensor that requires grad (with grad mode on) that raises, since
deepgrad does not track in-place changes (the dropout modules always return a new tensor)."""
import warnings

from ...autograd.function import is_grad_enabled
from ...ops.common import constant, lift
from ...ops.creation import bernoulli, full


def _check_p(p):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _finish(op, x, result, inplace):
    """``result``; with ``inplace``, written into ``x`` and ``x`` returned."""
    if not inplace or result is x:
        return result
    if x.requires_grad and is_grad_enabled():
        raise RuntimeError(f"{op}: inplace=True on a tensor that requires grad is not supported (deepgrad "
                           "does not track in-place changes); use inplace=False and the returned tensor")
    x.array[...] = result.array
    return x


def _masked(x, p, mask_shape):
    """x times a 0/(1/(1−p)) mask of ``mask_shape`` (broadcast over the rest)."""
    if p == 1.0:
        return x * 0.0
    keep = bernoulli(full(mask_shape, 1.0 - p, dtype=x.dtype, device=x.device)).array   # on x's generator
    return x * constant((keep * (1.0 / (1.0 - p))).astype(x.dtype))


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the rest by 1/(1 − p) (only if ``training``)."""
    _check_p(p)
    x = lift(input)
    if not training or p == 0.0:
        return x
    return _finish("dropout", x, _masked(x, p, x.shape), inplace)


def _feature_dropout(x, p, training):
    """Zero whole feature maps: one draw per (sample, channel) pair, i.e. over dims 0 and 1."""
    if not training or p == 0.0:
        return x
    return _masked(x, p, tuple(x.shape[:2]) + (1,) * (x.ndim - 2))


def _feature_dropout_nd(op, nd, input, p, training, inplace):
    _check_p(p)
    x = lift(input)
    if x.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{op}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input, "
                         f"got shape {x.shape}")
    if x.ndim == nd + 1:      # unbatched (C, *spatial): one draw per channel
        return _finish(op, x, _feature_dropout(x.unsqueeze(0), p, training).squeeze(0), inplace)
    return _finish(op, x, _feature_dropout(x, p, training), inplace)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) or (C, L) inputs with probability ``p``."""
    return _feature_dropout_nd("dropout1d", 1, input, p, training, inplace)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels (2-D feature maps) of (N, C, H, W) inputs with probability ``p``.

    As PyTorch (2.x), a 3-D input is taken as (N, C, L) (1-D channel-wise dropout, with a
    warning), not as an unbatched (C, H, W) map; other ranks warn and also drop over dims 0 and 1."""
    _check_p(p)
    x = lift(input)
    if x.ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {x.ndim}-D input to dropout2d, which is deprecated; "
                      "use dropout instead", stacklevel=2)
    if x.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
                      "1D dropout behavior is desired - input is interpreted as shape (N, C, L)", stacklevel=2)
    return _finish("dropout2d", x, _feature_dropout(x, p, training), inplace)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels (3-D feature maps) of (N, C, D, H, W) or (C, D, H, W) inputs."""
    return _feature_dropout_nd("dropout3d", 3, input, p, training, inplace)
