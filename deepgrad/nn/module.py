"""``Module``: the base of every layer and model, with PyTorch's behaviour: attributes that are
Parameters, Modules or buffers are registered; parameters(), state_dict(), train()/eval(), hooks."""
import functools
import warnings
from collections import OrderedDict, namedtuple

from .. import backend
from ..autograd.tensor import Tensor
from ..ops.methods import cuda_device, to_arguments
from . import hooks
from .hooks import add_hook
from .parameter import Parameter, is_lazy

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])
_HOOK_TABLES = ("_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_forward_hooks", "_forward_hooks_with_kwargs",
                "_forward_hooks_always_called", "_backward_pre_hooks", "_backward_hooks",
                "_load_state_dict_pre_hooks")


class Module:
    """Subclasses define ``forward``; calling the module runs hooks around it."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())
        for table in _HOOK_TABLES:
            object.__setattr__(self, table, OrderedDict())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() is called")
        if isinstance(value, Parameter):
            for table in (d, self._buffers, self._modules):
                table.pop(name, None)
            self._parameters[name] = value
        elif isinstance(value, Module):
            for table in (d, self._parameters, self._buffers):
                table.pop(name, None)
            self._modules[name] = value
        elif name in self._parameters or name in self._modules:
            if value is not None:
                kind = "a Parameter" if name in self._parameters else "a Module"
                raise TypeError(f"cannot assign {type(value).__name__} to {name!r}: {kind} or None is expected")
            (self._parameters if name in self._parameters else self._modules)[name] = None
        elif name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} to buffer {name!r}: a Tensor or None is expected")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            if table in d and name in d[table]:
                return d[table][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for table in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__[table]:
                del self.__dict__[table][name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def _check_new_name(self, kind, name, table):
        """PyTorch's checks on the name of a parameter, buffer or submodule being registered."""
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')
        if hasattr(self, name) and name not in table:
            raise KeyError(f"attribute '{name}' already exists")

    def register_parameter(self, name, param):
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        self._check_new_name("parameter", name, self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(deepgrad.nn.Parameter or None required)")
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """A tensor that is part of the module's state but not trained; saved in state_dict unless
        ``persistent=False``."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        self._check_new_name("buffer", name, self._buffers)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            "(deepgrad Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name, module):
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_new_name("module", name, self._modules)
        self._modules[name] = module

    register_module = add_module

    # ------------------------------------------------------------ traversal
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(dotted name, module) for this module and every submodule, depth first; a module reached
        along several paths is listed once unless ``remove_duplicate=False``."""
        memo = set() if memo is None else memo
        if self in memo:
            return
        if remove_duplicate:
            memo.add(self)
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        memo = set()
        for name, child in self._modules.items():
            if child is not None and child not in memo:
                memo.add(child)
                yield name, child

    def children(self):
        for _, child in self.named_children():
            yield child

    def _named_members(self, table, prefix, recurse, remove_duplicate):
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, table).items():
                if value is None or id(value) in seen:
                    continue
                if remove_duplicate:
                    seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def _get_name(self):
        return type(self).__name__

    def get_submodule(self, target):
        """The submodule at dotted path ``target`` ("" is this module)."""
        module = self
        for item in target.split(".") if target else []:
            if not hasattr(module, item):
                raise AttributeError(f"{module._get_name()} has no attribute `{item}`")
            module = getattr(module, item)
            if not isinstance(module, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return module

    def _member_path(self, target):
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if not hasattr(module, name):
            raise AttributeError(f"{module._get_name()} has no attribute `{name}`")
        return module, name

    def get_parameter(self, target):
        """The parameter at dotted path ``target`` (e.g. ``"0.weight"``)."""
        module, name = self._member_path(target)
        param = getattr(module, name)
        if not isinstance(param, Parameter):
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return param

    def get_buffer(self, target):
        """The buffer at dotted path ``target`` (e.g. ``"bn.running_mean"``)."""
        module, name = self._member_path(target)
        if name not in module._buffers:
            raise AttributeError(f"`{name}` is not a buffer")
        return getattr(module, name)

    # ------------------------------------------------------------ modes and gradients
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        object.__setattr__(self, "training", mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Forget the parameters' gradients (``set_to_none``), or fill them with zeros in place."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                if p.grad.requires_grad or not backend.writeable(p.grad.array):
                    p.grad = Tensor.wrap(p.grad.array.copy())
                p.grad.array[...] = 0

    def apply(self, fn):
        """Call ``fn`` on every submodule (children first) and on this module, as ``torch.nn.Module.apply``."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def to(self, *args, device=None, dtype=None, non_blocking=False):
        """``model.to(dtype)``, ``model.to(device)``, both, or ``model.to(tensor)``, as in PyTorch: parameters,
        buffers and gradients move to ``device`` and floating-point ones are cast (gradients then dropped), in
        place, so the Parameter objects stay the same; uninitialised ones will materialise there."""
        device, dtype = to_arguments("Module.to", args, device, dtype)
        if dtype is not None and not backend.is_floating(dtype):
            raise TypeError(f"Module.to only casts to floating-point dtypes, got {dtype}")
        for t in list(self.parameters()) + list(self.buffers()):
            cast = dtype if dtype is not None and backend.is_floating(t.dtype) else None
            if is_lazy(t):
                t.cast_(cast or t.dtype, device)
                continue
            if device is not None:
                t.array = backend.to_device(t.array, device)
                if t.grad is not None:
                    t.grad = Tensor.wrap(backend.to_device(t.grad.array, device))
            if cast is not None and cast != t.dtype:
                t.array = t.array.astype(cast)
                t.grad = None
        return self

    def cpu(self):
        return self.to(backend.CPU)

    def cuda(self, device=None):
        return self.to(cuda_device(device))

    def float(self):
        return self.to(backend.float32)

    def double(self):
        return self.to(backend.float64)

    # ------------------------------------------------------------ state
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        """Put this module's own parameters and persistent buffers into ``destination`` (uninitialised
        ones as themselves, as PyTorch's lazy modules do)."""
        for table, skip in ((self._parameters, ()), (self._buffers, self._non_persistent_buffers_set)):
            for name, t in table.items():
                if t is not None and name not in skip:
                    destination[prefix + name] = t if keep_vars or is_lazy(t) else t.detach()

    def state_dict(self, *, destination=None, prefix="", keep_vars=False):
        """Parameters and persistent buffers by dotted name (sharing memory with the module); a
        submodule reached along several paths appears under each, as in PyTorch."""
        destination = OrderedDict() if destination is None else destination
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, child in self._modules.items():
            if child is not None:
                child.state_dict(destination=destination, prefix=f"{prefix}{name}.", keep_vars=keep_vars)
        return destination

    def register_load_state_dict_pre_hook(self, hook):
        """``hook(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
        error_msgs)`` runs before ``load_state_dict`` reads this module's entries."""
        return self._register_load_state_dict_pre_hook(hook, with_module=True)

    def _register_load_state_dict_pre_hook(self, hook, with_module=False):
        return add_hook(self._load_state_dict_pre_hooks, functools.partial(hook, self) if with_module else hook)

    def load_state_dict(self, state_dict, strict=True):
        """Copy values into this module's parameters and buffers. With ``strict``, any missing,
        unexpected or shape-mismatched key is an error listing all of them, and nothing is changed.
        Load pre-hooks run first (they materialise lazy modules' parameters)."""
        missing, unexpected, errors = [], [], []
        for prefix, module in self.named_modules(remove_duplicate=False):
            for hook in list(module._load_state_dict_pre_hooks.values()):
                hook(state_dict, f"{prefix}." if prefix else "", {}, strict, missing, unexpected, errors)
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched = []
        for k, target in own.items():
            if k in state_dict:
                value = state_dict[k]
                shape = tuple(value.shape) if hasattr(value, "shape") else None
                if shape != tuple(target.shape):
                    mismatched.append(f"{k}: checkpoint {shape}, model {tuple(target.shape)}")
        problems = list(errors)
        if strict and missing:
            problems.append(f"missing keys: {', '.join(missing)}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {', '.join(unexpected)}")
        if mismatched:
            problems.append(f"shape mismatch: {'; '.join(mismatched)}")
        if problems:
            raise RuntimeError(f"error(s) loading state_dict for {type(self).__name__}: " + " | ".join(problems))
        for k, target in own.items():
            if k in state_dict:
                value = state_dict[k]
                array = value.array if isinstance(value, Tensor) else backend.numpy.asarray(value)
                target.array[...] = backend.to_device(array, target.device).astype(target.dtype, copy=False)
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------ hooks
    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """``hook(module, args)`` (``hook(module, args, kwargs)`` with ``with_kwargs``) runs before
        forward; a non-None return replaces the args (the ``(args, kwargs)`` pair)."""
        flags = [self._forward_pre_hooks_with_kwargs] if with_kwargs else []
        return add_hook(self._forward_pre_hooks, hook, prepend, flags)

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False, always_call=False):
        """``hook(module, args, output)`` (``hook(module, args, kwargs, output)`` with ``with_kwargs``)
        runs after forward; a non-None return replaces the output. ``always_call``: also when forward
        raises."""
        flags = [t for t, on in ((self._forward_hooks_with_kwargs, with_kwargs),
                                 (self._forward_hooks_always_called, always_call)) if on]
        return add_hook(self._forward_hooks, hook, prepend, flags)

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """``hook(module, grad_output)`` runs when the gradients of the outputs are known; a non-None
        return replaces ``grad_output``."""
        return add_hook(self._backward_pre_hooks, hook, prepend)

    def register_full_backward_hook(self, hook, prepend=False):
        """``hook(module, grad_input, grad_output)`` runs when the gradients of the positional tensor
        inputs are known; a non-None return replaces ``grad_input``."""
        return add_hook(self._backward_hooks, hook, prepend)

    # ------------------------------------------------------------ calling
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        if (self._forward_pre_hooks or self._forward_hooks or self._backward_pre_hooks or self._backward_hooks
                or hooks.any_global_hooks()):
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    def _forward_hook_items(self):
        return (*hooks._global_forward_hooks.items(), *self._forward_hooks.items())

    def _run_forward_hook(self, hook_id, hook, args, kwargs, result):
        if hook_id in self._forward_hooks_with_kwargs or hook_id in hooks._global_forward_hooks_with_kwargs:
            return hook(self, args, kwargs, result)
        return hook(self, args, result)

    def _call_with_hooks(self, args, kwargs):
        """PyTorch's order: forward pre-hooks (global first), backward-hook taps on the inputs, forward,
        forward hooks, taps on the outputs. If forward raises, ``always_call`` hooks still run."""
        result, called = None, set()
        try:
            for hook_id, hook in (*hooks._global_forward_pre_hooks.items(), *self._forward_pre_hooks.items()):
                if hook_id in self._forward_pre_hooks_with_kwargs:
                    new = hook(self, args, kwargs)
                    if new is not None:
                        if not (isinstance(new, tuple) and len(new) == 2):
                            raise RuntimeError("forward pre-hook must return None or a tuple of "
                                               f"(new_args, new_kwargs), but got {new}.")
                        args, kwargs = new
                else:
                    new = hook(self, args)
                    if new is not None:
                        args = new if isinstance(new, tuple) else (new,)
            backward_hook = None
            pre_hooks = [*hooks._global_backward_pre_hooks.values(), *self._backward_pre_hooks.values()]
            full_hooks = [*hooks._global_backward_hooks.values(), *self._backward_hooks.values()]
            if pre_hooks or full_hooks:
                backward_hook = hooks.BackwardHook(self, full_hooks, pre_hooks)
                args = backward_hook.setup_input_hook(args)
            result = self.forward(*args, **kwargs)
            for hook_id, hook in self._forward_hook_items():
                called.add(hook_id)
                new = self._run_forward_hook(hook_id, hook, args, kwargs, result)
                if new is not None:
                    result = new
            if backward_hook is not None:
                result = backward_hook.setup_output_hook(result)
            return result
        except Exception:
            for hook_id, hook in self._forward_hook_items():
                always = hook_id in self._forward_hooks_always_called or hook_id in hooks._global_forward_hooks_always_called
                if always and hook_id not in called:
                    try:
                        new = self._run_forward_hook(hook_id, hook, args, kwargs, result)
                        result = result if new is None else new
                    except Exception as e:
                        warnings.warn("module forward hook with ``always_call=True`` raised an exception that was "
                                      f"silenced as another error was raised in forward: {e}", stacklevel=2)
            raise

    # ------------------------------------------------------------ printing
    def extra_repr(self):
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._modules.items()]
        lines = extra_lines + child_lines
        if not lines:
            return f"{self._get_name()}()"
        if len(extra_lines) == 1 and not child_lines:
            return f"{self._get_name()}({extra_lines[0]})"
        return f"{self._get_name()}(\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self):
        return list(super().__dir__()) + list(self._parameters) + list(self._buffers) + list(self._modules)
