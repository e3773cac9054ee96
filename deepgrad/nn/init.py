"""``deepgrad.nn.init``: filling parameters in place, with PyTorch's names, arguments and formulas.

Every function writes into ``tensor.array`` (so it works on Parameters and plain Tensors alike, and
records nothing on the graph) and returns ``tensor``. Random values come from deepgrad's seeded
generator (``deepgrad.manual_seed(s)`` reproduces them) or from a ``deepgrad.Generator`` passed as
``generator``. The variance-scaling rules:

* Xavier / Glorot (Glorot & Bengio 2010): Var(w) = gain² · 2 / (fan_in + fan_out);
  uniform on ±gain·sqrt(6 / (fan_in + fan_out)).
* Kaiming / He (He et al. 2015): Var(w) = gain² / fan, gain = calculate_gain(nonlinearity, a);
  uniform on ±gain·sqrt(3 / fan). PyTorch's default for Linear and Conv weights is
  ``kaiming_uniform_(w, a=sqrt(5))``, i.e. U(−1/sqrt(fan_in), 1/sqrt(fan_in)).
* Orthogonal (Saxe et al. 2013): a (semi-)orthogonal matrix from the QR factorisation of a
  Gaussian matrix, signs fixed so that it is Haar distributed.
"""
import math
import warnings
from contextlib import contextmanager

from .. import backend

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "zeros_", "ones_", "eye_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_"]


_skipping = [False]


@contextmanager
def skipped():
    """Inside the block the init functions leave tensors as they are (zeros, whose pages are never touched): for
    building models only to count or describe them (``deepgrad models``), as ``torch.nn.utils.skip_init``."""
    previous, _skipping[0] = _skipping[0], True
    try:
        yield
    finally:
        _skipping[0] = previous


def _rng(generator):
    return (generator or backend.default_generator).bitgen


def _fill(tensor, values):
    """Write ``values`` (a NumPy array or scalar) into ``tensor`` in place, keeping its dtype."""
    if _skipping[0]:
        return tensor
    xp = backend.xp_of(tensor.array)
    tensor.array[...] = xp.asarray(values).astype(tensor.dtype, copy=False)
    return tensor


def _empty(tensor):
    if tensor.array.size == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return True
    return False


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (PyTorch's table): 1 for linear/conv/sigmoid,
    5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + slope²)) for leaky_relu (slope ``param``,
    default 0.01), 3/4 for selu."""
    linear_fns = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d"]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor):
    """fan_in = size(1)·receptive field, fan_out = size(0)·receptive field (receptive field = the
    product of the dims after the first two; for a conv weight (P, D, U, V): D·U·V and P·U·V)."""
    if tensor.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of ['fan_in', 'fan_out']")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with samples from U(a, b)."""
    if a > b:
        raise ValueError(f"uniform_: expects a <= b, got a={a}, b={b}")
    if _skipping[0]:
        return tensor
    return _fill(tensor, _rng(generator).uniform(a, b, tensor.shape))


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with samples from N(mean, std²)."""
    if std < 0:
        raise ValueError(f"normal_: expects std >= 0.0, got std={std}")
    if _skipping[0]:
        return tensor
    return _fill(tensor, _rng(generator).normal(mean, std, tensor.shape))


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fill with samples from N(mean, std²) truncated to [a, b] (absolute bounds, as ``torch.nn.init``):
    samples outside are drawn again, which gives exactly the truncated distribution."""
    if std < 0 or not a < b:
        raise ValueError(f"trunc_normal_: expects std >= 0 and a < b, got std={std}, a={a}, b={b}")
    if _skipping[0]:
        return tensor
    rng = _rng(generator)
    values = rng.normal(mean, std, tensor.shape)
    outside = (values < a) | (values > b)
    for _ in range(1000):
        if not outside.any():
            break
        values[outside] = rng.normal(mean, std, int(outside.sum()))
        outside = (values < a) | (values > b)
    else:
        raise ValueError(f"trunc_normal_: [{a}, {b}] holds almost none of N({mean}, {std}²); move the bounds")
    return _fill(tensor, values)


def constant_(tensor, val):
    return _fill(tensor, val)


def zeros_(tensor):
    return _fill(tensor, 0)


def ones_(tensor):
    return _fill(tensor, 1)


def eye_(tensor):
    """Fill a 2-D tensor with the identity matrix (ones on the diagonal, zeros elsewhere)."""
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    return _fill(tensor, backend.numpy.eye(*tensor.shape))


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """U(−a, a) with a = gain·sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """N(0, std²) with std = gain·sqrt(2 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def _kaiming_std(tensor, a, mode, nonlinearity):
    return calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(tensor, mode))


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """U(−bound, bound) with bound = gain·sqrt(3 / fan) (He et al. 2015); ``a`` is the negative
    slope of a following leaky ReLU, ``mode`` picks fan_in (forward variance) or fan_out (backward)."""
    if _empty(tensor):
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """N(0, std²) with std = gain / sqrt(fan) (He et al. 2015)."""
    if _empty(tensor):
        return tensor
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


def orthogonal_(tensor, gain=1, generator=None):
    """A (semi-)orthogonal matrix (trailing dims flattened), scaled by ``gain`` (Saxe et al. 2013)."""
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.array.size == 0:
        return tensor
    np = backend.numpy
    rows = tensor.shape[0]
    cols = tensor.array.size // rows
    if _skipping[0]:
        return tensor
    flat = _rng(generator).standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))   # make the factorisation unique: Haar-distributed Q
    if rows < cols:
        q = q.T
    return _fill(tensor, (q * gain).reshape(tensor.shape))
