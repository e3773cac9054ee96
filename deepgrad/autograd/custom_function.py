"""``deepgrad.autograd.Function``: a differentiable operation whose derivatives the user writes, as
``torch.autograd.Function``::

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad):
            (y,) = ctx.saved_tensors
            return grad * y

    Exp.apply(x)

``forward`` runs without recording; its result is linked into the graph as one node whose VJP calls
``backward`` (recorded in turn when ``create_graph`` asks for it, so double backward works when
``backward`` uses tensor operations) and whose JVP calls ``jvp`` if the class defines it. The newer
form, ``forward(*args)`` with ``setup_context(ctx, inputs, output)``, works too. Several outputs are
recorded as one node whose result is their flat concatenation, each output a part of it (``_Part``).
"""
from .. import backend
from . import function
from .function import Primitive, finish
from .tensor import Tensor


class FunctionCtx:
    """What ``forward`` leaves for ``backward``: saved tensors, which inputs need gradients, options."""

    def __init__(self, args):
        self.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        self.materialize_grads = True
        self.non_differentiable = set()
        self._saved = ()

    def save_for_backward(self, *tensors):
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward can only save tensors (or None), got {type(t).__name__}; "
                                "store other values as attributes of ctx")
        self._saved = tuple((t, None if t is None else t._version) for t in tensors)

    @property
    def saved_tensors(self):
        for i, (t, version) in enumerate(self._saved):
            if t is not None and t._version != version:
                raise RuntimeError(f"saved tensor {i} (shape {tuple(t.shape)}) was modified by an in-place operation "
                                   f"after save_for_backward: it is at version {t._version}, expected {version}")
        return tuple(t for t, _ in self._saved)

    def mark_non_differentiable(self, *outputs):
        self.non_differentiable.update(id(o) for o in outputs)

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors):
        """Accepted for compatibility; deepgrad's in-place methods keep their own version counts."""


class _Custom(Primitive):
    """The graph node of one ``Function.apply``: the user's forward already ran; the VJP and JVP call back."""
    saved = ()        # the user's backward reads what ctx saved; ctx checks those versions itself

    def __init__(self, cls, ctx, positions, n_args, outputs):
        self.cls, self.ctx, self.positions, self.n_args = cls, ctx, positions, n_args
        self.layout = None if len(outputs) == 1 else (tuple(o.array.size for o in outputs),
                                                      tuple(o.shape for o in outputs))

    @property
    def name(self):
        return self.cls.__name__

    def vjp(self, g, out, *inputs):
        cotangents = (g,) if self.layout is None else tuple(_Part.split(g, self.layout))
        grads = self.cls.backward(self.ctx, *cotangents)
        grads = grads if isinstance(grads, tuple) else (grads,)
        if len(grads) < self.n_args or any(g is not None for g in grads[self.n_args:]):
            raise RuntimeError(f"{self.cls.__name__}.backward returned {len(grads)} gradients, but forward took "
                               f"{self.n_args} arguments: return one per argument (None for non-tensors)")
        return tuple(_as_grad(grads[i], x, self.cls, i) for i, x in zip(self.positions, inputs))

    def jvp(self, tangents, out, *inputs):
        if self.cls.jvp is Function.jvp:
            raise RuntimeError(f"{self.cls.__name__} defines no jvp(ctx, *tangents): forward mode cannot go through it")
        per_arg = [None] * self.n_args
        for i, t, x in zip(self.positions, tangents, inputs):
            per_arg[i] = t if t is not None else Tensor.wrap(backend.xp_of(x.array).zeros_like(x.array))
        result = self.cls.jvp(self.ctx, *per_arg)
        return result if self.layout is None else _pack(result)


def _as_grad(grad, x, cls, i):
    if grad is None:
        return None
    if not isinstance(grad, Tensor):
        raise TypeError(f"{cls.__name__}.backward returned a {type(grad).__name__} for argument {i}; expected a "
                        "Tensor or None")
    if grad.shape != x.shape:
        raise RuntimeError(f"{cls.__name__}.backward returned a gradient of shape {tuple(grad.shape)} for argument {i} "
                           f"of shape {tuple(x.shape)}")
    return grad


class _Part(Primitive):
    """Output k of a Function with several outputs: the node's result is their flat concatenation."""
    saved = ()

    def forward(self, packed, k, sizes, shapes):
        start = sum(sizes[:k])
        return packed[start:start + sizes[k]].reshape(shapes[k])

    def vjp(self, g, out, packed, k, sizes, shapes):
        parts = [g.reshape(-1) if i == k else Tensor.wrap(backend.xp_of(g.array).zeros(n, g.dtype))
                 for i, n in enumerate(sizes)]
        return (_pack_flat(parts),)

    def jvp(self, tangents, out, packed, k, sizes, shapes):
        return function.apply(self, (tangents[0],), {"k": k, "sizes": sizes, "shapes": shapes})

    @staticmethod
    def split(g, layout):
        sizes, shapes = layout
        start = 0
        for n, shape in zip(sizes, shapes):
            yield g[start:start + n].reshape(shape)
            start += n


_part = _Part()


def _pack(tensors):
    return _pack_flat([t.reshape(-1) for t in tensors])


def _pack_flat(parts):
    from ..ops.shape import concatenate  # the ops layer is above this one; only reached at run time
    return concatenate(parts) if len(parts) > 1 else parts[0]


class Function:
    """Base class of user-defined differentiable operations (see the module docstring)."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a Function subclass must define forward(ctx, *args) (or forward(*args) with "
                                  "setup_context)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("a Function subclass must define backward(ctx, *grad_outputs) to be "
                                  "differentiated in reverse mode")

    @staticmethod
    def jvp(ctx, *grad_inputs):
        raise NotImplementedError("a Function subclass must define jvp(ctx, *tangents) for forward mode")

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError

    def __init__(self, *args, **kwargs):
        raise RuntimeError("Function subclasses are used through their class: call MyFunction.apply(...), "
                           "not MyFunction()(...)")

    @classmethod
    def apply(cls, *args):
        ctx = FunctionCtx(args)
        separate = cls.setup_context is not Function.setup_context
        with function.no_grad():
            result = cls.forward(*args) if separate else cls.forward(ctx, *args)
            if separate:
                cls.setup_context(ctx, args, result)
        outputs = result if isinstance(result, tuple) else (result,)
        if not all(isinstance(o, Tensor) for o in outputs):
            return result                       # nothing to differentiate (e.g. Python numbers)
        positions = tuple(i for i, a in enumerate(args) if isinstance(a, Tensor))
        node = _Custom(cls, ctx, positions, len(args), outputs)
        inputs = tuple(args[i] for i in positions)
        if len(outputs) == 1:
            return _linked(node, inputs, outputs[0], ctx)
        if len({o.dtype for o in outputs}) > 1:
            raise NotImplementedError(f"{cls.__name__}.forward returned outputs of several dtypes "
                                      f"({', '.join(sorted({str(o.dtype) for o in outputs}))}); return one dtype, or "
                                      "compute the non-differentiable outputs outside the Function")
        packed = _linked(node, inputs, _pack(outputs), ctx)
        return tuple(_linked_part(packed, k, node.layout, o, ctx) for k, o in enumerate(outputs))


def _linked(node, inputs, out, ctx):
    """A fresh Tensor holding ``out``'s values, recorded as the result of ``node``."""
    fresh = Tensor.wrap(out.array)
    if id(out) in ctx.non_differentiable:
        return fresh
    return finish(node, inputs, {}, fresh)


def _linked_part(packed, k, layout, out, ctx):
    part = function.apply(_part, (packed,), {"k": k, "sizes": layout[0], "shapes": layout[1]})
    if id(out) in ctx.non_differentiable:
        part.requires_grad, part._node = False, None
    return part


def once_differentiable(backward):
    """``torch.autograd.function.once_differentiable``: marks a backward that cannot itself be differentiated."""
    return backward
