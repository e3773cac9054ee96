"""``dg.compile(fn_or_module)``: trace on the first call for each input signature, optimise, and run
the graph with the lean executor on later calls.

The signature is the arguments' nesting structure with, for every tensor / array leaf, its shape,
dtype and ``requires_grad``, the values of the other (static) leaves, and for a Module the shapes and
dtypes of its parameters and buffers and every submodule's ``training`` flag: a change of any of them
traces again (the graphs are cached side by side). A guard that fails at run time (a Python value the
trace depended on, such as the result of ``if mask.any():`` inside library code, came out
differently) also retraces.

Calling a compiled function is differentiable from outside (``dg.grad(dg.compile(f))``,
``loss.backward()`` on a compiled model's output): when gradients are being recorded and an input, a
parameter or a closed-over tensor requires grad (or carries a forward-mode tangent), the optimised
graph is replayed with Tensor operations so autograd sees it. Otherwise the generated program runs on
raw arrays. To compile the backward pass itself, compile the differentiated function
(``dg.compile(dg.value_and_grad(loss))``) or use ``dg.static.compile_train_step``.
"""
import functools

from .. import backend
from ..autograd import function
from ..autograd.tensor import Tensor
from ..pytree import tree_flatten, tree_unflatten
from . import passes
from .executor import Program, replay
from .prims import GuardFailure, Random
from .tracer import _is_module, module_state, trace_graph

np = backend.numpy


def tree_key(treedef):
    """A hashable form of a pytree structure."""
    if treedef.kind in ("leaf", "none"):
        return treedef.kind
    return (treedef.kind, treedef.meta, tuple(tree_key(c) for c in treedef.children))


def leaf_key(leaf):
    if isinstance(leaf, Tensor):
        return ("T", leaf.array.shape, leaf.array.dtype.str, leaf.requires_grad)
    if isinstance(leaf, np.ndarray):
        return ("A", leaf.shape, leaf.dtype.str)
    try:
        hash(leaf)
    except TypeError:
        raise TypeError(f"compile: argument of type {type(leaf).__name__} is neither a Tensor/array nor a hashable "
                        "Python value (static arguments must be hashable: they key the cache of traced graphs)") from None
    return ("S", type(leaf).__name__, leaf)


class Executable:
    """One traced and optimised graph: ``graph`` (fused, with its memory plan) runs on raw arrays,
    ``unfused`` is replayed with Tensor operations when the call must be differentiable."""

    def __init__(self, traced, fuse=True, reuse=True, optimize=True):
        self.traced = traced
        if optimize:
            self.unfused = passes.optimize(traced, fuse=False, memory=False)
            self.graph = passes.plan_memory(passes.fuse_elementwise(self.unfused) if fuse else self.unfused, reuse=reuse)
        else:
            self.unfused = traced
            self.graph = passes.plan_memory(traced, reuse=False)
        self.program = Program(self.graph)
        self.update_targets = [self.graph.inputs.index(a) for a, _ in self.graph.updates]
        self.replay_targets = [self.unfused.inputs.index(a) for a, _ in self.unfused.updates]
        self.generators = list({id(eq.params["generator"]): eq.params["generator"] for eq in self.graph.equations
                                if isinstance(eq.prim, Random)}.values())

    @property
    def plan(self):
        return self.graph.plan

    def rng_state(self):
        """The state of the generators the graph draws from (to undo a call that fails a guard)."""
        return [(g, g.get_state()) for g in self.generators]

    def __call__(self, input_tensors, input_arrays, state, differentiable):
        """``input_tensors``: Tensors (or arrays) for the graph inputs in order, ``input_arrays`` their
        arrays; ``state``: the (name, tensor) pairs of the first inputs, whose arrays receive the updates.
        Returns the output Tensors."""
        if differentiable:
            ins = [t if isinstance(t, Tensor) else Tensor.wrap(t) for t in input_tensors]
            outs, new = replay(self.unfused, ins, list(self.unfused.externals.values()))
            for k, value in zip(self.replay_targets, new):
                _write(state[k][1], value.detach().array)
            return outs
        program = self.program
        outs, new = program.run(*input_arrays, *[t.array for t in self.graph.externals.values()])
        outs = [Tensor.wrap(o.copy() if c else o) for o, c in zip(outs, program.copy_output)]
        for k, value in zip(self.update_targets, new):
            if value is not None:
                _write(state[k][1], value)
        return outs


def _write(tensor, value):
    """An update: written into the tensor's array in place when it fits (as eager in-place updates do)."""
    if tensor.array.shape == np.shape(value) and tensor.array.dtype == value.dtype and tensor.array.flags.writeable:
        np.copyto(tensor.array, value)
    else:
        tensor.array = np.array(value)


def _needs_autograd(tensors):
    grad_enabled = function.is_grad_enabled()
    if not grad_enabled and not function._levels:
        return False
    for t in tensors:
        if isinstance(t, Tensor) and ((grad_enabled and t.requires_grad) or (function._levels and t._fw)):
            return True
    return False


class Compiled:
    """The callable ``dg.compile`` returns. ``graphs`` maps input signatures to their ``Executable``
    (``.graph``, ``.plan``, ``.traced``); ``traces`` counts the traces made."""

    def __init__(self, fn, fuse=True, reuse_buffers=True, optimize=True):
        self.fn = fn
        self.module = fn if _is_module(fn) else None
        self.options = dict(fuse=fuse, reuse=reuse_buffers, optimize=optimize)
        self.graphs = {}
        self.traces = 0
        self._modules = list(self.module.modules()) if self.module is not None else ()
        if self.module is None:
            functools.update_wrapper(self, fn, updated=())

    def _state(self):
        return module_state(self.module) if self.module is not None else []

    def _key(self, in_tree, leaves, state):
        key = (tree_key(in_tree), tuple(leaf_key(x) for x in leaves))
        if self.module is not None:
            key += (tuple(m.training for m in self._modules),
                    tuple((id(t), t.array.shape, t.array.dtype.str) for _, t in state))
        return key

    def _target(self, kwargs):
        """What is traced: ``fn`` itself, or, with keyword arguments, ``fn`` called with the last positional
        argument (the kwargs dict) spread as keywords."""
        if not kwargs:
            return self.fn
        return lambda *args: self.fn(*args[:-1], **args[-1])

    def _build(self, args, state, key, kwargs=None):
        self.traces += 1
        graph = trace_graph(self._target(kwargs), args + ((kwargs,) if kwargs else ()), state)
        entry = Executable(graph, **self.options)
        self.graphs[key] = entry
        return entry

    def executable(self, *args, **kwargs):
        """The ``Executable`` (traced and optimised graph) for these arguments, tracing if needed."""
        leaves, in_tree = tree_flatten(args + ((kwargs,) if kwargs else ()))
        state = self._state()
        key = self._key(in_tree, leaves, state)
        return self.graphs.get(key) or self._build(args, state, key, kwargs)

    def graph(self, *args, **kwargs):
        """The optimised graph that runs for these arguments (``str()`` prints it)."""
        return self.executable(*args, **kwargs).graph

    def __call__(self, *args, **kwargs):
        if function._recorder is not None:       # inside another trace: inline
            return self.fn(*args, **kwargs)
        leaves, in_tree = tree_flatten(args + ((kwargs,) if kwargs else ()))
        state = self._state()
        key = self._key(in_tree, leaves, state)
        entry = self.graphs.get(key)
        if entry is None:
            entry = self._build(args, state, key, kwargs)
        rng = entry.rng_state() if entry.generators else None
        try:
            return self._run(entry, leaves, state)
        except GuardFailure:
            for g, s in rng or ():
                g.set_state(s)
            entry = self._build(args, state, key, kwargs)
            return self._run(entry, leaves, state)

    def _run(self, entry, leaves, state):
        dynamic = [x for x in leaves if isinstance(x, (Tensor, np.ndarray))]
        tensors = [t for _, t in state] + dynamic
        differentiable = _needs_autograd(tensors + list(entry.graph.externals.values()))
        arrays = [t.array if isinstance(t, Tensor) else t for t in tensors]
        outs = entry(tensors, arrays, state, differentiable)
        graph = entry.graph
        out_leaves, it = [], iter(outs)
        n = len(graph.outputs) + len(graph.static_outputs)
        for k in range(n):
            out_leaves.append(graph.static_outputs[k] if k in graph.static_outputs else next(it))
        return tree_unflatten(graph.out_tree, out_leaves)

    def __repr__(self):
        name = getattr(self.fn, "__name__", type(self.fn).__name__)
        return f"<compiled {name}: {len(self.graphs)} graph(s)>"


def compile(fn=None, *, fuse=True, reuse_buffers=True, optimize=True):
    """Compile a function of Tensors (or a Module) to a static graph (seed 三: build the graph, then
    run it). Returns a callable with the same arguments; it traces on the first call for every input
    signature (shapes, dtypes, nesting, static values), optimises the graph (dead code, common
    subexpressions, constant folding, algebraic rewrites, elementwise fusion, memory plan) and runs it
    with a lean executor. Usable as a decorator, with or without options."""
    if fn is None:
        return lambda f: Compiled(f, fuse=fuse, reuse_buffers=reuse_buffers, optimize=optimize)
    return Compiled(fn, fuse=fuse, reuse_buffers=reuse_buffers, optimize=optimize)
