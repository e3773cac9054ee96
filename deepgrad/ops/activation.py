"""Activation functions f_l of seed eq. 1.1 that are compositions of primitives (so all their
derivatives come from the primitives'): leaky ReLU, ELU, GELU, softplus."""
import math

from .binary import where
from .common import lift
from .unary import erf, log1p


def leaky_relu(x, negative_slope=0.01):
    x = lift(x)
    return where(x > 0, x, x * negative_slope)


def elu(x, alpha=1.0):
    """x for x > 0, α(eˣ − 1) otherwise."""
    x = lift(x)
    return where(x > 0, x, (where(x > 0, 0.0, x)).expm1() * alpha)


def gelu(x, approximate="none"):
    """x·Φ(x) with the Gaussian CDF Φ (``approximate='tanh'`` for Hendrycks & Gimpel's tanh form)."""
    x = lift(x)
    if approximate == "none":
        return x * (erf(x * (1 / math.sqrt(2))) + 1) * 0.5
    if approximate == "tanh":
        inner = (x + x * x * x * 0.044715) * math.sqrt(2 / math.pi)
        return x * (inner.tanh() + 1) * 0.5
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + e^(βx))/β, reverting to x where βx > threshold (as ``torch.nn.functional.softplus``)."""
    x = lift(x)
    bx = x * beta
    # log(1 + e^t) = t + log1p(e^-t) for t > 0 and log1p(e^t) otherwise; each branch only sees its own
    # side of 0 (the double where), so neither overflows, and the derivative at t = 0 is σ(0) = 1/2
    # (relu(t) + log1p(e^-|t|) has the same values but a derivative of 0 there, from relu'(0) = abs'(0) = 0).
    positive = bx > 0
    t_pos, t_neg = where(positive, bx, 0.0), where(positive, 0.0, bx)
    stable = where(positive, t_pos + log1p((-t_pos).exp()), log1p(t_neg.exp())) * (1.0 / beta)
    return where(bx > threshold, x, stable)
