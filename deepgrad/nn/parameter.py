"""``Parameter``: a Tensor that a Module registers as trainable; ``UninitializedParameter`` and
``UninitializedBuffer``: the shapeless placeholders of lazy modules until ``materialize``."""
from .. import backend
from ..autograd.tensor import Tensor
from ..ops.common import lift

_raw_data = Tensor.array         # the slot itself, past the placeholders' guarding property


class Parameter(Tensor):
    """A leaf tensor that requires grad by default and is found by ``Module.parameters()``."""
    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = []
        super().__init__(lift(data).array)
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class UninitializedTensorMixin:
    """A tensor without a shape yet: every use of its values raises (as PyTorch's); only its dtype,
    requires_grad and ``materialize(shape)`` work. Materialising turns it into ``cls_to_become`` in
    place, so references to it (an optimiser's, a state_dict's) see the real tensor."""
    __slots__ = ()
    cls_to_become = None

    def _init_placeholder(self, dtype):
        Tensor.__init__(self, backend.numpy.empty(0, backend.as_dtype(dtype) or backend.default_float))

    @property
    def array(self):
        raise ValueError(f"Attempted to use an uninitialized parameter ({type(self).__name__}). This error happens "
                         f"when you are using a `LazyModule` or explicitly manipulating "
                         f"`deepgrad.nn.parameter.{type(self).__name__}` objects. When using LazyModules Call "
                         "`forward` with a dummy batch to initialize the parameters before calling deepgrad functions")

    @array.setter
    def array(self, value):
        _raw_data.__set__(self, value)

    @property
    def shape(self):
        raise RuntimeError("Can't access the shape of an uninitialized parameter or buffer. This error usually "
                           "happens in `load_state_dict` when trying to load an uninitialized parameter into an "
                           "initialized one. Call `forward` to initialize the parameters before accessing their "
                           "attributes.")

    @property
    def dtype(self):
        return _raw_data.__get__(self).dtype

    @property
    def device(self):
        return backend.device_of(_raw_data.__get__(self))

    def cast_(self, dtype, device=None):
        """Materialise later in ``dtype``, on ``device`` when given (what ``Module.to`` does to a placeholder)."""
        _raw_data.__set__(self, backend.make_on(device or self.device, lambda xp: xp.empty(0, dtype)))

    def materialize(self, shape, device=None, dtype=None):
        """Give the tensor ``shape`` (zeros; the module's ``reset_parameters`` fills them), on ``device`` (the
        placeholder's when None), and make it a ``cls_to_become``."""
        dtype = backend.as_dtype(dtype) or self.dtype
        _raw_data.__set__(self, backend.make_on(device or self.device, lambda xp: xp.zeros(tuple(shape), dtype)))
        self.__class__ = self.cls_to_become

    def __repr__(self):
        return f"<{type(self).__name__}>"


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A Parameter whose shape a lazy module infers at its first forward."""
    __slots__ = ()
    cls_to_become = Parameter

    def __init__(self, requires_grad=True, device=None, dtype=None):
        self._init_placeholder(dtype)
        self.requires_grad = bool(requires_grad)


class UninitializedBuffer(UninitializedTensorMixin, Tensor):
    """A buffer whose shape a lazy module infers at its first forward."""
    __slots__ = ()
    cls_to_become = Tensor

    def __init__(self, requires_grad=False, device=None, dtype=None):
        self._init_placeholder(dtype)
        self.requires_grad = bool(requires_grad)


def is_lazy(tensor):
    """Whether ``tensor`` is a placeholder not materialised yet."""
    return isinstance(tensor, UninitializedTensorMixin)
