"""``parameters_to_vector`` / ``vector_to_parameters`` with PyTorch's semantics: one flat vector of
all parameters (on the graph), and the parameters set from consecutive slices of a vector."""
from ... import ops
from ...autograd.tensor import Tensor


def parameters_to_vector(parameters):
    """The parameters flattened and concatenated in order, differentiable with respect to them."""
    vec = [p.reshape(-1) for p in parameters]
    if not vec:
        raise ValueError("parameters_to_vector: expected a non-empty iterable of Tensors")
    return ops.cat(vec)


def vector_to_parameters(vec, parameters):
    """Make each parameter's data the next ``numel`` elements of ``vec`` (a view sharing its memory,
    in vec's dtype); elements left over are ignored, too few is an error."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected deepgrad.Tensor, but got: {type(vec).__name__}")
    flat = vec.array.reshape(-1)
    pointer = 0
    for param in parameters:
        chunk = flat[pointer:pointer + param.numel()]
        if chunk.size != param.numel():
            raise RuntimeError(f"shape '{list(param.shape)}' is invalid for input of size {chunk.size}")
        param.array = chunk.reshape(param.shape)
        pointer += chunk.size
