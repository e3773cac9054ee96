"""Module hooks as PyTorch's: ``RemovableHandle``, the global module hooks
(``register_module_forward_hook``...) and ``BackwardHook``, which gives full backward hooks the
gradients of a module's tensor inputs and outputs on top of the autograd engine.

A module call with backward hooks joins the tensors of each side (inputs, outputs) into one 0-d
*anchor* node and hands the module (or the caller) *taps* of them: taps are the tensors themselves
(same memory), each recorded as a node fed by its tensor and the anchor. A tap's VJP stores its
gradient and passes nothing to its tensor; the anchor comes after every tap in the reverse pass, so
its VJP runs once, with all the gradients of its side: it calls the hooks and hands the (possibly
replaced) gradients on to the tensors.
"""
import warnings
import weakref
from collections import OrderedDict

from .. import backend
from ..autograd.function import Primitive, apply, is_grad_enabled
from ..autograd.tensor import Tensor


class RemovableHandle:
    """``torch.utils.hooks.RemovableHandle``: ``remove()`` takes the hook out of its table (and of the
    ``extra_dict`` tables); as a context manager, the hook lives for the ``with`` block."""
    next_id = 0

    def __init__(self, hooks_dict, *, extra_dict=None):
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = RemovableHandle.next_id
        RemovableHandle.next_id += 1
        extras = extra_dict if isinstance(extra_dict, list) else [] if extra_dict is None else [extra_dict]
        self.extra_dict_ref = tuple(weakref.ref(d) for d in extras)

    def remove(self):
        for ref in (self.hooks_dict_ref,) + self.extra_dict_ref:
            table = ref()
            if table is not None:
                table.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def add_hook(table, hook, prepend=False, flags=()):
    """Put ``hook`` into ``table`` under a fresh handle; ``flags`` are the tables that mark it
    (with_kwargs, always_call); ``prepend`` runs it before the others."""
    handle = RemovableHandle(table, extra_dict=list(flags))
    table[handle.id] = hook
    for flag in flags:
        flag[handle.id] = True
    if prepend:
        table.move_to_end(handle.id, last=False)
    return handle


# ------------------------------------------------------------------ global module hooks
_global_forward_pre_hooks = OrderedDict()
_global_forward_hooks = OrderedDict()
_global_forward_hooks_with_kwargs = OrderedDict()
_global_forward_hooks_always_called = OrderedDict()
_global_backward_pre_hooks = OrderedDict()
_global_backward_hooks = OrderedDict()


def any_global_hooks():
    return bool(_global_forward_pre_hooks or _global_forward_hooks or _global_backward_pre_hooks
                or _global_backward_hooks)


def register_module_forward_pre_hook(hook):
    """``hook(module, args)`` before every module's forward (before the module's own pre-hooks)."""
    return add_hook(_global_forward_pre_hooks, hook)


def register_module_forward_hook(hook, *, with_kwargs=False, always_call=False):
    """``hook(module, args, output)`` (``hook(module, args, kwargs, output)`` with ``with_kwargs``)
    after every module's forward, before the module's own forward hooks."""
    flags = [t for t, on in ((_global_forward_hooks_with_kwargs, with_kwargs),
                             (_global_forward_hooks_always_called, always_call)) if on]
    return add_hook(_global_forward_hooks, hook, flags=flags)


def register_module_full_backward_pre_hook(hook):
    """``hook(module, grad_output)`` for every module, before its own backward pre-hooks."""
    return add_hook(_global_backward_pre_hooks, hook)


def register_module_full_backward_hook(hook):
    """``hook(module, grad_input, grad_output)`` for every module, before its own backward hooks."""
    return add_hook(_global_backward_hooks, hook)


# ------------------------------------------------------------------ full backward hooks
class Anchor(Primitive):
    """A 0-d node joining the tensors of one side of a module call; its VJP runs the hooks."""
    saved = ()

    def forward(self, *arrays, hook, side):
        return backend.xp_of(arrays[0]).zeros((), backend.default_float) if arrays else \
            backend.numpy.zeros((), backend.default_float)

    def vjp(self, g, out, *tensors, hook, side):
        return hook.input_gradients(tensors) if side == "input" else hook.output_gradients(tensors)

    def jvp(self, tangents, out, *tensors, **params):
        return None


class Tap(Primitive):
    """y = x (same memory) recorded after ``anchor``; its VJP stores g for the anchor's hooks."""
    saved = ()

    def forward(self, x, anchor, hook, side, slot):
        return x

    def vjp(self, g, out, x, anchor, hook, side, slot):
        hook.slots[side][slot] = g
        return None, Tensor.wrap(backend.xp_of(anchor.array).zeros((), anchor.dtype))

    def jvp(self, tangents, out, x, anchor, **params):
        return tangents[0]


class BackwardHook:
    """The backward hooks of one module call (``torch.utils.hooks.BackwardHook``): ``grad_input`` and
    ``grad_output`` hold one entry per positional argument / output, None for non-tensors."""

    def __init__(self, module, user_hooks, user_pre_hooks):
        self.module, self.user_hooks, self.user_pre_hooks = module, user_hooks, user_pre_hooks
        self.grad_outputs = None
        self.input_index = self.output_index = None      # positions of the tensors wrapped on each side
        self.n_inputs = self.n_outputs = 0
        self.slots = {"input": {}, "output": {}}

    def _wrap(self, values, side):
        """``values`` with their tensors replaced by taps (unchanged when none requires grad), and the
        positions of the tensors (None when unwrapped)."""
        index = [i for i, v in enumerate(values) if isinstance(v, Tensor)]
        if not (is_grad_enabled() and any(values[i].requires_grad for i in index)):
            return values, None
        tensors = tuple(values[i] for i in index)
        anchor = apply(Anchor(), tensors, {"hook": self, "side": side})
        wrapped = list(values)
        for slot, i in enumerate(index):
            if values[i].requires_grad:      # the others stay off the graph (PyTorch: non-differentiable)
                wrapped[i] = apply(Tap(), (values[i], anchor), {"hook": self, "side": side, "slot": slot})
        return tuple(wrapped), index

    def setup_input_hook(self, args):
        wrapped, self.input_index = self._wrap(args, "input")
        self.n_inputs = len(args)
        return wrapped

    def setup_output_hook(self, result):
        if not isinstance(result, (Tensor, tuple)):
            warnings.warn("For backward hooks to be called, module output should be a Tensor or a tuple of "
                          f"Tensors but received {type(result)}", stacklevel=3)
        single = not isinstance(result, tuple)
        outputs = (result,) if single else result
        wrapped, self.output_index = self._wrap(outputs, "output")
        self.n_outputs = len(outputs)
        return wrapped[0] if single else wrapped

    @staticmethod
    def _spread(index, values, size):
        full = [None] * size
        for i, v in zip(index, values):
            full[i] = v
        return tuple(full)

    def _take(self, side):
        slots, self.slots[side] = self.slots[side], {}
        return slots

    def output_gradients(self, tensors):
        """The anchor of the outputs: run the pre-hooks on grad_output; without an input requiring
        grad, the hooks too (grad_input all None). Returns the gradients for the outputs."""
        slots = self._take("output")
        grad_outputs = self._spread(self.output_index, [slots.get(k) for k in range(len(tensors))],
                                    self.n_outputs)
        for hook in self.user_pre_hooks:
            grad_outputs = _replaced(hook(self.module, grad_outputs), grad_outputs, "pre hook", "grad_output")
        self.grad_outputs = grad_outputs
        if self.input_index is None:
            warnings.warn("Full backward hook is firing when gradients are computed with respect to module "
                          "outputs since no inputs require gradients.", stacklevel=2)
            grad_inputs = (None,) * self.n_inputs
            for hook in self.user_hooks:
                result = hook(self.module, grad_inputs, grad_outputs)
                if result is not None and not (isinstance(result, tuple) and all(r is None for r in result)):
                    raise RuntimeError("Backward hook for Modules where no input requires gradient should "
                                       "always return None or None for all gradients.")
            self.grad_outputs = None
        return tuple(grad_outputs[i] for i in self.output_index)

    def input_gradients(self, tensors):
        """The anchor of the inputs: run the hooks on (grad_input, grad_output); returns the
        gradients for the inputs. A tensor argument whose gradient did not arrive gets zeros."""
        slots = self._take("input")
        grads = [slots.get(k) if k in slots else Tensor.wrap(backend.xp_of(t.array).zeros_like(t.array))
                 for k, t in enumerate(tensors)]
        if self.grad_outputs is None:     # reached without passing through the outputs (e.g. double backward)
            return tuple(grads)
        grad_inputs = self._spread(self.input_index, grads, self.n_inputs)
        for hook in self.user_hooks:
            result = hook(self.module, grad_inputs, self.grad_outputs)
            grad_inputs = _replaced(result, grad_inputs, "hook", "grad_input")
        self.grad_outputs = None
        return tuple(grad_inputs[i] for i in self.input_index)


def _replaced(result, grads, kind, name):
    """What a backward hook returned in place of ``grads`` (a tuple), or ``grads`` when it returned None."""
    if result is None:
        return grads
    result = result if isinstance(result, tuple) else (result,)
    if len(result) != len(grads):
        raise RuntimeError(f"Backward {kind} returned an invalid number of {name}, got {len(result)}, but expected "
                           f"{len(grads)}")
    return result
