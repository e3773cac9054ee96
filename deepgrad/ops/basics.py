"""Facts about a tensor and plain conversions, as PyTorch names them (``dg.numel(x)``, ``x.half()``,
``x.new_zeros(...)``, ``x.contiguous()``...): thin functions over the tensor's array and existing ops."""
from .. import backend
from ..autograd.function import apply
from ..autograd.tensor import Tensor
from . import creation, unary
from .common import NO_PARAMS


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(x):
    return x.numel()


def is_floating_point(x):
    return backend.is_floating(x.dtype)


def clone(x, *, memory_format=None):
    """A copy in new memory that stays on the graph (``torch.clone``)."""
    return apply(unary.copy, (x,), NO_PARAMS)


def detach(x):
    return x.detach()


def neg(x):
    return -x


def _detach_(self):
    """Cut this tensor from the graph in place (``Tensor.detach_``): it becomes a leaf."""
    self._node = None
    self.requires_grad = False
    return self


def _contiguous(self, memory_format=None):
    return self if self.array.flags.c_contiguous else clone(self)


def _new(maker):
    def new(self, *size, dtype=None, device=None, requires_grad=False):
        return maker(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)
    new.__name__ = f"new_{maker.__name__}"
    return new


def _new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    return creation.full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,
                         requires_grad=requires_grad)


def _new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
    return creation.tensor(data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)


def _cast(dtype):
    return lambda self, memory_format=None: unary.astype(self, dtype)


METHODS = {
    "half": _cast(backend.float16), "int": _cast(backend.int32), "short": _cast(backend.int16),
    "bool": _cast(backend.bool_), "byte": _cast(backend.uint8), "char": _cast(backend.int8),
    "contiguous": _contiguous, "is_contiguous": lambda self, memory_format=None: bool(self.array.flags.c_contiguous),
    "element_size": lambda self: self.dtype.itemsize, "nelement": numel, "is_floating_point": is_floating_point,
    "new_zeros": _new(creation.zeros), "new_ones": _new(creation.ones), "new_empty": _new(creation.empty),
    "new_full": _new_full, "new_tensor": _new_tensor,
    "detach_": _detach_,
    "data_ptr": lambda self: self.array.__array_interface__["data"][0] if self.device is backend.CPU else
    self.array.data.ptr,        # CuPy's device pointer
}
