"""Loss functions with PyTorch's semantics (``torch.nn.functional``): cross-entropy and negative
log-likelihood (class indices or class probabilities, class weights, ``ignore_index``, label
smoothing), regression losses (MSE, L1, smooth L1, Huber), binary cross-entropy (on probabilities
and, stably, on logits) and the Kullback-Leibler divergence.

Every loss is a composition of Tensor operations (log_softmax, where, log1p ...), so it is
differentiable in reverse and forward mode and to any order. Class indices and masks enter as
constants. Branches that would overflow or take the log of 0 only ever see safe values (the
"double where"), so no NaN leaks into values or gradients.
"""
import warnings

from ... import backend
from ...ops import exp, log, log1p, log_softmax, where
from ...ops.common import constant, lift

np = backend.numpy

_REDUCTIONS = ("none", "mean", "sum")


# ----------------------------------------------------------------------------- argument checks
def _legacy_reduction(size_average, reduce, reduction):
    """PyTorch's deprecated ``size_average``/``reduce`` flags, mapped onto ``reduction``."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return "none" if not reduce else "mean" if size_average else "sum"


def _check_reduction(fn, reduction, allowed=_REDUCTIONS):
    if reduction not in allowed:
        raise ValueError(f"{fn}: reduction must be one of {', '.join(map(repr, allowed))}, got {reduction!r}")


def _describe(t):
    return f"shape {tuple(t.shape)} and dtype {t.dtype}"


def _float_input(fn, x, name="input"):
    x = lift(x)
    if not backend.is_floating(x.dtype):
        raise TypeError(f"{fn}: {name} must be a floating-point tensor, got {_describe(x)}")
    return x


def _float_target(fn, target, input, cast_integers=False):
    """A floating target; integer/bool targets are cast to the input's dtype where PyTorch accepts
    them (``cast_integers``), otherwise rejected."""
    target = lift(target, input)
    if not backend.is_floating(target.dtype):
        if not cast_integers:
            raise TypeError(f"{fn}: target must be a floating-point tensor, got {_describe(target)} "
                            f"(input has {_describe(input)})")
        target = target.astype(input.dtype)
    return target


def _same_size_or_warn(fn, input, target):
    """As PyTorch's regression losses: different shapes broadcast, with a warning."""
    if tuple(input.shape) != tuple(target.shape):
        warnings.warn(f"{fn}: using a target size {tuple(target.shape)} that is different to the input size "
                      f"{tuple(input.shape)}; this will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", UserWarning, stacklevel=4)
        try:
            np.broadcast_shapes(tuple(input.shape), tuple(target.shape))
        except ValueError:
            raise ValueError(f"{fn}: the input of shape {tuple(input.shape)} and the target of shape "
                             f"{tuple(target.shape)} cannot be broadcast together") from None


def _require_same_size(fn, input, target):
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{fn}: the target must have the same shape as the input, got target of shape "
                         f"{tuple(target.shape)} and input of shape {tuple(input.shape)}")


def _optional_tensor(value, input):
    """A weight-like argument as a Tensor of the input's dtype (None stays None)."""
    if value is None:
        return None
    value = lift(value, input)
    return value if value.dtype == input.dtype else value.astype(input.dtype)


def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.mean()


def _divide(total, denominator):
    """``total / denominator`` for a Python number; NaN (without a warning) when it is 0, as 0/0."""
    if denominator == 0:
        return total * float("nan")
    return total / float(denominator)


# ----------------------------------------------------------------------------- stable pieces
def _log_sigmoid(x):
    """log σ(x) = −log(1 + e^(−x)), each branch only evaluated on its own side of 0 so that
    neither overflows; its derivative at 0 is σ(−0) = 1/2 (unlike a relu/abs formulation)."""
    negative = constant(x.array < 0)
    x_neg = where(negative, x, 0.0)
    x_pos = where(negative, 0.0, x)
    return where(negative, x_neg - log1p(exp(x_neg)), -log1p(exp(-x_pos)))


_BCE_EPS = 1e-12


def _clamped_log_term(x, u, log_u, floor=-100.0, eps=_BCE_EPS):
    """max(log u, −100) for u = x or 1 − x (``log_u`` computes it from x), as in PyTorch's
    binary_cross_entropy. Its derivative is that of log u with u clamped to >= 1e-12, as PyTorch's
    gradient (x − t)/max(x(1 − x), 1e-12) bounds it: where u < 1e-12 the value is the (clamped)
    log, carried as a constant offset on a linear term of slope 1/1e-12, so the gradient stays
    finite (also at u = 0 and for denormal u in float32) instead of overflowing."""
    small = u < eps
    if not small.any():
        return log_u(x)
    safe = where(constant(small), 0.5, x)      # any point where log u is finite
    linear = (x if log_u is log else 1.0 - x) * (1.0 / eps)
    surrogate = where(constant(small), linear, log_u(safe))
    xp = backend.xp_of(u)
    with np.errstate(divide="ignore"):
        value = xp.maximum(xp.log(xp.where(small, u, 1.0)), floor).astype(surrogate.dtype)
    offset = xp.where(small, value - surrogate.array, 0).astype(surrogate.dtype)
    return surrogate + constant(offset)


def _log1m(x):
    return log1p(-x)


def _clamped_log(x):
    return _clamped_log_term(x, x.array, log)


def _clamped_log1m(x):
    return _clamped_log_term(x, 1 - x.array, _log1m)


def _xlogx(t):
    """t·log t with 0 at t = 0 (``torch.xlogy(t, t)``)."""
    zero = constant(t.array == 0)
    return where(zero, 0.0, t * log(where(zero, 1.0, t)))


# ----------------------------------------------------------------------------- class losses
def _class_layout(fn, input):
    """(class axis, number of classes) for input of shape (C,), (N, C) or (N, C, d1, ...)."""
    if input.ndim == 0:
        raise ValueError(f"{fn}: input must have shape (C,), (N, C) or (N, C, d1, ...), got a 0-d tensor")
    axis = 0 if input.ndim == 1 else 1
    return axis, input.shape[axis]


def _index_target(fn, input, target, ignore_index):
    """Check a class-index target against the input; return the indices as a backend int array."""
    axis, classes = _class_layout(fn, input)
    expected = tuple(input.shape[:axis]) + tuple(input.shape[axis + 1:])
    t = target.array
    if t.dtype.kind not in "iu":
        raise TypeError(f"{fn}: expected a target of class indices (an integer tensor, int64) of shape "
                        f"{expected}, got {_describe(target)}; input has {_describe(input)}")
    if tuple(t.shape) != expected:
        raise ValueError(f"{fn}: a target of class indices for input of shape {tuple(input.shape)} must have "
                         f"shape {expected}, got {tuple(t.shape)}")
    bad = (t != ignore_index) & ((t < 0) | (t >= classes))
    if bad.any():
        raise IndexError(f"{fn}: target class index {int(t[bad].reshape(-1)[0])} is out of range for "
                         f"{classes} classes (input of shape {tuple(input.shape)}, target of shape "
                         f"{tuple(t.shape)}); valid indices are 0..{classes - 1}, or ignore_index={ignore_index}")
    return t


def _class_weight(fn, weight, input, classes):
    weight = _optional_tensor(weight, input)
    if weight is not None and (weight.ndim != 1 or weight.shape[0] != classes):
        raise ValueError(f"{fn}: weight must be a 1-D tensor with one entry per class ({classes}), "
                         f"got shape {tuple(weight.shape)}")
    return weight


def _weight_along_classes(weight, input):
    """The (C,) weight shaped to broadcast along the class axis of the input."""
    return weight if input.ndim <= 2 else weight.reshape((weight.shape[0],) + (1,) * (input.ndim - 2))


def _nll(fn, logp, t, weight, ignore_index, reduction):
    """Σ −w[t]·logp[t] over the targets, mean-reduced by the sum of the target weights (PyTorch's
    weighted mean); ignored targets contribute neither loss nor weight. Also returns the masks."""
    axis = 0 if logp.ndim == 1 else 1
    if logp.ndim == 1:                          # unbatched: a batch of one
        logp_b, t_b = logp.reshape((1,) + tuple(logp.shape)), t.reshape(1)
    else:
        logp_b, t_b = logp, t
    valid = t_b != ignore_index
    xp = backend.xp_of(t_b)
    safe = xp.where(valid, t_b, 0)
    grids = backend.open_grid(safe.shape, xp)
    picked = logp_b[(grids[0], safe) + tuple(grids[1:])]
    w = valid.astype(logp.dtype)
    if weight is not None:
        w = weight.array[safe] * w
    loss = -(picked * constant(w))
    if logp.ndim == 1:
        loss = loss.reshape(())
    if reduction == "none":
        return loss, valid, w
    if reduction == "sum":
        return loss.sum(), valid, w
    return _divide(loss.sum(), w.sum()), valid, w


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """Negative log-likelihood of class indices ``target`` under log-probabilities ``input`` of shape
    (C,), (N, C) or (N, C, d1, ...): −weight[t]·input[t]; 'mean' divides by the sum of the weights of
    the non-ignored targets (``torch.nn.functional.nll_loss``)."""
    fn = "nll_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(fn, reduction)
    input = _float_input(fn, input)
    target = lift(target)
    _, classes = _class_layout(fn, input)
    t = _index_target(fn, input, target, ignore_index)
    weight = _class_weight(fn, weight, input, classes)
    return _nll(fn, input, t, weight, ignore_index, reduction)[0]


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Cross-entropy between logits ``input`` ((C,), (N, C) or (N, C, d1, ...)) and a target of class
    indices (integers, the input's shape without C) or of class probabilities (floating, the input's
    shape), as ``torch.nn.functional.cross_entropy``, computed through log_softmax.

    With indices: nll_loss(log_softmax(input)) with ``weight``/``ignore_index``, mixed with the
    smoothing term −Σ_c w_c·logp_c / C by ``label_smoothing`` (ignored targets excluded, 'mean'
    normalised by the same sum of target weights). With probabilities: −Σ_c w_c·p_c·logp_c, the
    target first smoothed to (1 − ε)·p + ε/C; 'mean' divides by the number of samples N·d1·...
    """
    fn = "cross_entropy"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(fn, reduction)
    input = _float_input(fn, input)
    target = lift(target)
    axis, classes = _class_layout(fn, input)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    weight = _class_weight(fn, weight, input, classes)
    logp = log_softmax(input, axis)

    if backend.is_floating(target.dtype):
        if tuple(target.shape) != tuple(input.shape):
            expected = tuple(input.shape[:axis]) + tuple(input.shape[axis + 1:])
            raise ValueError(f"{fn}: expected a target of class indices (an integer tensor, int64) of shape "
                             f"{expected} or of class probabilities (floating, same shape as the input) of "
                             f"shape {tuple(input.shape)}, got {_describe(target)}; input has {_describe(input)}")
        if ignore_index >= 0:
            raise ValueError(f"{fn}: ignore_index={ignore_index} is not supported for a target of class "
                             "probabilities (floating point)")
        if label_smoothing > 0:
            target = target * (1 - label_smoothing) + label_smoothing / classes
        prod = logp * target
        if weight is not None:
            prod = prod * _weight_along_classes(weight, input)
        if reduction == "none":
            return -prod.sum(axis)
        if reduction == "sum":
            return -prod.sum()
        return _divide(-prod.sum(), input.array.size / classes)

    t = _index_target(fn, input, target, ignore_index)
    nll, valid, w = _nll(fn, logp, t, weight, ignore_index, reduction)
    if label_smoothing == 0:
        return nll
    if weight is not None:
        smooth = -(logp * _weight_along_classes(weight, input)).sum(axis)
    else:
        smooth = -logp.sum(axis)
    smooth = where(constant(valid.reshape(smooth.shape)), smooth, 0.0)
    if reduction == "none":
        ret = smooth
    elif reduction == "sum":
        ret = smooth.sum()
    else:
        ret = _divide(smooth.sum(), w.sum() if weight is not None else valid.sum())
    return nll * (1 - label_smoothing) + ret * (label_smoothing / classes)


# ----------------------------------------------------------------------------- regression losses
def _regression_args(fn, input, target, reduction, size_average, reduce):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(fn, reduction)
    input = _float_input(fn, input)
    target = _float_target(fn, target, input, cast_integers=True)
    _same_size_or_warn(fn, input, target)
    return input, target, reduction


def _elementwise_weight(fn, weight, input):
    """PyTorch's optional per-element ``weight`` of mse/l1/huber: the input's shape exactly."""
    weight = _optional_tensor(weight, input)
    if weight is not None and tuple(weight.shape) != tuple(input.shape):
        raise ValueError(f"{fn}: weight and input must have the same size, got weight of shape "
                         f"{tuple(weight.shape)} and input of shape {tuple(input.shape)}")
    return weight


def _weighted(loss, weight, reduction, mean_by_weight):
    """Reduce ``loss``·``weight``; 'mean' divides by Σ weight (mse, l1) or by the number of elements
    (huber), as PyTorch does."""
    if weight is None:
        return _reduce(loss, reduction)
    loss = loss * weight
    if reduction == "mean" and mean_by_weight:
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """(input − target)², reduced (``torch.nn.functional.mse_loss``); differentiable in both. With
    ``weight`` (the input's shape), the weighted mean is Σ w·(input − target)² / Σ w."""
    input, target, reduction = _regression_args("mse_loss", input, target, reduction, size_average, reduce)
    weight = _elementwise_weight("mse_loss", weight, input)
    d = input - target
    return _weighted(d * d, weight, reduction, True)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """|input − target|, reduced (``torch.nn.functional.l1_loss``); the weighted mean divides by Σ w."""
    input, target, reduction = _regression_args("l1_loss", input, target, reduction, size_average, reduce)
    weight = _elementwise_weight("l1_loss", weight, input)
    return _weighted((input - target).abs(), weight, reduction, True)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5·d²/β where |d| < β, else |d| − 0.5·β, with d = input − target; β = 0 is the L1 loss
    (``torch.nn.functional.smooth_l1_loss``)."""
    fn = "smooth_l1_loss"
    if beta < 0:
        raise ValueError(f"{fn}: beta must be non-negative, got {beta}")
    input, target, reduction = _regression_args(fn, input, target, reduction, size_average, reduce)
    d = input - target
    ad = d.abs()
    if beta == 0:
        return _reduce(ad, reduction)
    inside = constant(ad.array < beta)
    return _reduce(where(inside, d * d * (0.5 / beta), ad - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5·d² where |d| < δ, else δ·(|d| − 0.5·δ) (``torch.nn.functional.huber_loss``). With
    ``weight``, 'mean' is the plain mean of w·loss (PyTorch's choice, unlike mse/l1)."""
    fn = "huber_loss"
    if delta <= 0:
        raise ValueError(f"{fn}: delta must be positive, got {delta}")
    input, target, reduction = _regression_args(fn, input, target, reduction, None, None)
    weight = _elementwise_weight(fn, weight, input)
    d = input - target
    ad = d.abs()
    inside = constant(ad.array < delta)
    return _weighted(where(inside, d * d * 0.5, (ad - 0.5 * delta) * delta), weight, reduction, False)


# ----------------------------------------------------------------------------- binary and KL
def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """−w·(t·log x + (1 − t)·log(1 − x)) for probabilities x in [0, 1], each log clamped to >= −100
    as PyTorch (so x = 0 or 1 gives a finite loss) (``torch.nn.functional.binary_cross_entropy``).

    The derivative is −w·(t/x − (1 − t)/(1 − x)) = w·(x − t)/(x(1 − x)), PyTorch's, with x and
    1 − x each clamped to >= 1e-12 in it (PyTorch clamps the product x(1 − x) to >= 1e-12), so that it
    stays finite at x = 0 or 1: e.g. −w·1e12 at x = 0, t = 1, as PyTorch."""
    fn = "binary_cross_entropy"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(fn, reduction)
    input = _float_input(fn, input)
    target = _float_target(fn, target, input)
    _require_same_size(fn, input, target)
    x = input.array
    if not ((x >= 0) & (x <= 1)).all():
        raise ValueError(f"{fn}: all elements of input should be between 0 and 1 (probabilities; use "
                         "binary_cross_entropy_with_logits for logits), got values in "
                         f"[{x.min()}, {x.max()}] in an input of shape {tuple(input.shape)}")
    t = target.array
    if not ((t >= 0) & (t <= 1)).all():
        raise ValueError(f"{fn}: all elements of target should be between 0 and 1, got values in "
                         f"[{t.min()}, {t.max()}] in a target of shape {tuple(target.shape)}")
    loss = (target - 1) * _clamped_log1m(input) - target * _clamped_log(input)
    weight = _optional_tensor(weight, input)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """Binary cross-entropy of sigmoid(input) computed stably from the logits:
    (1 − t)·x − ((p − 1)·t + 1)·log σ(x), times ``weight``, with ``pos_weight`` p weighting the
    positive term (broadcast along the last, class, axis) (``torch.nn.functional.binary_cross_entropy_with_logits``)."""
    fn = "binary_cross_entropy_with_logits"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(fn, reduction)
    input = _float_input(fn, input)
    target = _float_target(fn, target, input)
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{fn}: target size {tuple(target.shape)} must be the same as input size "
                         f"{tuple(input.shape)}")
    log_sig = _log_sigmoid(input)
    pos_weight = _optional_tensor(pos_weight, input)
    if pos_weight is not None:
        try:
            np.broadcast_shapes(tuple(pos_weight.shape), tuple(input.shape))
        except ValueError:
            raise ValueError(f"{fn}: pos_weight of shape {tuple(pos_weight.shape)} cannot be broadcast to the "
                             f"input of shape {tuple(input.shape)} (it weights the classes along the last "
                             "axis)") from None
        log_weight = (pos_weight - 1) * target + 1
        loss = (1 - target) * input - log_weight * log_sig
    else:
        loss = (1 - target) * input - log_sig
    weight = _optional_tensor(weight, input)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """Pointwise KL divergence t·(log t − input) for log-probabilities ``input`` (with
    ``log_target`` the target is log-probabilities too: e^t·(t − input)). 'batchmean' divides the sum
    by the batch size (the mathematical KL divergence); 'mean' by the number of elements, with
    PyTorch's warning (``torch.nn.functional.kl_div``)."""
    fn = "kl_div"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(fn, reduction, _REDUCTIONS + ("batchmean",))
    if reduction == "mean":
        warnings.warn("kl_div: reduction 'mean' divides the total loss by both the batch size and the support "
                      "size; 'batchmean' divides only by the batch size and aligns with the KL divergence's "
                      "definition.", UserWarning, stacklevel=2)
    input = _float_input(fn, input)
    target = _float_target(fn, target, input)
    if tuple(input.shape) != tuple(target.shape):
        try:
            np.broadcast_shapes(tuple(input.shape), tuple(target.shape))
        except ValueError:
            raise ValueError(f"{fn}: the input of shape {tuple(input.shape)} and the target of shape "
                             f"{tuple(target.shape)} cannot be broadcast together") from None
    if log_target:
        loss = exp(target) * (target - input)
    else:
        loss = _xlogx(target) - target * input
    if reduction == "batchmean":
        total = loss.sum()
        return total / input.shape[0] if input.ndim != 0 else total
    return _reduce(loss, reduction)
