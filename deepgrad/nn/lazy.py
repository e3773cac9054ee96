"""``LazyModuleMixin`` (PyTorch's): a layer whose parameters are ``UninitializedParameter``s until
the first forward, which infers the missing size from the input, materialises the parameters,
initialises them as the concrete layer would and turns the module into ``cls_to_become``.
Loading a state_dict into it materialises the parameters with the checkpoint's shapes first."""
from ..autograd.function import no_grad
from .parameter import is_lazy


class LazyModuleMixin:
    """Mixed in before the concrete layer. A subclass names the inferred attribute (``_inferred``),
    computes it from the input (``_infer``) and gives each placeholder's shape (``_lazy_shapes``)."""
    cls_to_become = None
    _inferred = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._load_hook = self._register_load_state_dict_pre_hook(self._lazy_load_hook)
        self._initialize_hook = self.register_forward_pre_hook(self._infer_parameters, with_kwargs=True)

    def has_uninitialized_params(self):
        """Whether a parameter or buffer of this module (not its children) is still a placeholder."""
        return any(is_lazy(t) for t in (*self._parameters.values(), *self._buffers.values()))

    def reset_parameters(self):
        if not self.has_uninitialized_params() and getattr(self, self._inferred) != 0:
            super().reset_parameters()

    def initialize_parameters(self, input, *args, **kwargs):
        """Infer the missing size from ``input``, materialise every placeholder, initialise. After a
        state_dict materialised them, only the size is taken (PyTorch does so for LazyLinear)."""
        if not self.has_uninitialized_params():
            if getattr(self, self._inferred) == 0:
                setattr(self, self._inferred, self._infer(input))
            return
        with no_grad():
            setattr(self, self._inferred, self._infer(input))
            for name, shape in self._lazy_shapes().items():
                tensor = getattr(self, name)
                if is_lazy(tensor):
                    tensor.materialize(shape)
            self.reset_parameters()

    def _infer_parameters(self, module, args, kwargs=None):
        """The forward pre-hook: initialise, then stop being lazy."""
        module.initialize_parameters(*args, **(kwargs or {}))
        if module.has_uninitialized_params():
            raise RuntimeError(f"module {self._get_name()} has not been fully initialized")
        module._initialize_hook.remove()
        module._load_hook.remove()
        del module._initialize_hook
        del module._load_hook
        if module.cls_to_become is not None:
            module.__class__ = module.cls_to_become

    def _lazy_load_hook(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                        error_msgs):
        """Materialise each placeholder that the state_dict holds a real tensor for, in its shape."""
        for name, tensor in (*self._parameters.items(), *self._buffers.items()):
            key = prefix + name
            if key in state_dict and tensor is not None and is_lazy(tensor) and not is_lazy(state_dict[key]):
                tensor.materialize(tuple(state_dict[key].shape))
