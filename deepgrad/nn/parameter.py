"""``Parameter``: a Tensor that a Module registers as trainable."""
from ..autograd.tensor import Tensor
from ..ops.common import lift


class Parameter(Tensor):
    """A leaf tensor that requires grad by default and is found by ``Module.parameters()``."""
    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = []
        super().__init__(lift(data).data)
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
