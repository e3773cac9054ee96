"""The primitives (layer 3 of DESIGN.md) and the functions built from them."""
from .activation import elu, gelu, leaky_relu, softplus
from .binary import (add, div, eq, equal, ge, gt, le, logical_and, logical_or, lt, maximum, minimum, mul, ne,
                     pow, sub)
from .basics import clone, detach, is_floating_point, is_tensor, neg, numel
from .creation import (arange, as_tensor, bernoulli, empty, empty_like, eye, from_dlpack, from_numpy, full, full_like,
                       linspace, ones, ones_like, rand, rand_like, randint, randn, randn_like, randperm, tensor, zeros,
                       zeros_like)
from .deform import deform_conv2d
from .index import getitem
from .layout import (chunk, diag, diagonal, meshgrid, moveaxis, movedim, narrow, repeat, roll, t, tile, tril, triu,
                     type_as, unbind, unflatten, view_as)
from .linalg import matmul
from .logical import (all, any, bitwise_not, count_nonzero, isfinite, isinf, isnan, isneginf, isposinf, logical_and,
                      logical_not, logical_or, logical_xor)
from .methods import install as _install
from .norms import norm, std_mean, var_mean
from .pointwise import (acos, addcdiv, addcmul, arccos, arcsin, arctan, arctan2, asin, atan, atan2, ceil, clamp_max,
                        clamp_min, cosh, exp2, fix, floor, floor_divide, fmod, lerp, log2, log10, logit, nan_to_num,
                        reciprocal, remainder, round, rsqrt, sign, sinh, square, tan, true_divide, trunc)
from .products import addmm, baddbmm, bmm, dot, einsum, ger, inner, mm, mv, outer
from .reduce import (amax, amin, argmax, argmin, log_softmax, logsumexp, max, mean, min, prod, softmax, std, sum,
                     var)
from .scan import cumprod, cumsum
from .selection import (argwhere, bincount, gather, index_select, masked_fill, masked_select, nonzero, one_hot,
                        scatter, scatter_add, where)
from .shape import (broadcast_to, cat, concatenate, expand, flatten, flip, pad, permute, reshape, split,
                    squeeze, stack, swapaxes, transpose, unsqueeze)
from .sorting import argsort, kthvalue, median, mode, quantile, sort, topk, unique
from .unary import abs, astype, clip, cos, erf, exp, expm1, identity, log, log1p, relu, sigmoid, sin, sqrt, tanh

_install()
clamp = clip

__all__ = [name for name in dir() if not name.startswith("_") and name not in
           ("activation", "binary", "common", "creation", "index", "linalg", "methods", "reduce", "shape", "unary",
            "api_methods", "basics", "deform", "inplace", "layout", "logical", "norms", "pointwise", "products",
            "scan", "selection", "sorting")]
