"""In-place operations under autograd, with PyTorch's semantics (``x.add_(y)``, ``x -= y``, ``x[i] = v``).

An in-place operation computes its result functionally from a stand-in for the tensor's old value and
writes it into the tensor's memory, so views and every holder of the tensor see the new values. While
gradients are recorded the tensor's history is moved onto the stand-in and the tensor itself becomes
the result of the operation (its ``_node`` is the operation's), so gradients flow through the update.
Every write bumps the tensor's ``_version``; a backward pass refuses a recorded operation whose result
or inputs changed since it ran (``engine._check_versions``), where PyTorch's version counters would.
"""
from .. import backend
from . import function
from .tensor import FREED, Tensor

def update(x, compute, op):
    """Write ``compute(old)`` into ``x`` in place and return ``x``; ``old`` holds ``x``'s current value."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    recording = function.is_grad_enabled()
    if recording and x.requires_grad and x._node is None:
        raise RuntimeError(f"{op}: a leaf tensor that requires grad is being used in an in-place operation; "
                           "update parameters under `with deepgrad.no_grad():`, or clone the tensor first")
    if recording and x._node is not None and x._node is not FREED and x._node[0].view \
            and any(t.requires_grad for t in x._node[1]):
        raise RuntimeError(f"{op}: an in-place operation on a view ({x._node[0].name} of a tensor that requires grad) "
                           "is not supported: the tensor it views would not see the change in its gradients; write "
                           "into the tensor itself (y[0] = y[0] * 2) or clone the view first")
    old = _stand_in(x) if recording else x
    result = compute(old)
    if result.requires_grad and old is not x:
        old.array = old.array.copy()           # the recorded operation keeps the value from before the write
    result = _fit(result, x, op)
    try:
        x.array[...] = result.array
    except ValueError as e:                  # a read-only array (a broadcast view, a loaded file)
        raise RuntimeError(f"{op}: cannot write into this tensor in place: {e}") from None
    function.bump_version(x)
    if result.requires_grad and recording:
        prim, inputs, params, versions = result._node
        x._node = (prim, inputs, params, (x._version,) + (versions or (0,) * (len(inputs) + 1))[1:])
        x.requires_grad = True
        old._older, x._older = x._older, old     # earlier users of x reach its old value through old
    if result._fw:
        x._fw = result._fw
    return x


def _stand_in(x):
    """A new Tensor with ``x``'s value (the same memory, until copied) and ``x``'s history."""
    old = Tensor.wrap(x.array)
    old.requires_grad, old._node, old._fw, old._version = x.requires_grad, x._node, x._fw, x._version
    return old


def _fit(result, x, op):
    """``result`` in ``x``'s dtype and shape, with PyTorch's checks: no cast to a lower category (a float
    result into an integer tensor), no result larger than the tensor."""
    if result.dtype != x.dtype:
        if not backend.can_cast(result.dtype, x.dtype):
            raise TypeError(f"{op}: the result has dtype {result.dtype}, which cannot be written into a tensor "
                            f"of dtype {x.dtype} in place; use the out-of-place operation")
        result = result.astype(x.dtype)
    if result.shape != x.shape:
        try:
            shape = backend.numpy.broadcast_shapes(result.shape, x.shape)
        except ValueError:
            shape = None
        if shape != x.shape:
            raise ValueError(f"{op}: the result has shape {tuple(result.shape)}, which does not fit a tensor of "
                             f"shape {tuple(x.shape)} in place")
        result = result.expand(x.shape)
    return result
