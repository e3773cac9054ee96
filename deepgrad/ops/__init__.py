"""The primitives (layer 3 of DESIGN.md) and the functions built from them."""
from .activation import elu, gelu, leaky_relu, softplus
from .binary import (add, div, eq, ge, gt, le, logical_and, logical_or, lt, maximum, minimum, mul, ne,
                     pow, sub, where)
from .creation import (arange, as_tensor, bernoulli, eye, from_numpy, full, full_like, linspace, ones, ones_like, rand,
                       rand_like, randint, randn, randn_like, tensor, zeros, zeros_like)
from .index import getitem
from .linalg import matmul
from .methods import install as _install
from .reduce import (amax, amin, argmax, argmin, log_softmax, logsumexp, max, mean, min, prod, softmax, std, sum,
                     var)
from .shape import (broadcast_to, cat, concatenate, expand, flatten, flip, pad, permute, reshape, split,
                    squeeze, stack, swapaxes, transpose, unsqueeze)
from .unary import abs, astype, clip, cos, erf, exp, expm1, identity, log, log1p, relu, sigmoid, sin, sqrt, tanh

_install()
clamp = clip

__all__ = [name for name in dir() if not name.startswith("_") and name not in
           ("activation", "binary", "common", "creation", "index", "linalg", "methods", "reduce", "shape", "unary")]
