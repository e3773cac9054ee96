"""The affine map of a fully connected layer (seed eq. 1.1: z = W x + b), PyTorch's layout:
``weight`` is (out_features, in_features) and ``y = x Wᵀ + b`` over any leading dims."""
from ...ops.common import lift


def linear(input, weight, bias=None):
    """y = input @ weightᵀ + bias for input (*, in_features), weight (out, in), bias (out,)."""
    x, weight = lift(input), lift(weight)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} does not match weight of shape {weight.shape} "
                         f"(expected input (*, {weight.shape[1]}))")
    if x.dtype != weight.dtype:
        raise TypeError(f"linear: input dtype {x.dtype} and weight dtype {weight.dtype} differ")
    y = x @ weight.T
    if bias is None:
        return y
    bias = lift(bias)
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    return y + bias
