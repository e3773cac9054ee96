"""Tracing: build a static graph by running a function once ("record while running").

``trace(fn, *example_args)`` calls ``fn`` on the example inputs eagerly while a ``Recorder`` is
active. Every primitive application (``autograd.function.apply``, whose one hook hands it to the
recorder) becomes an ``Equation``; so do the backward pass's primitives when ``fn`` differentiates
(VJP and JVP rules are Tensor operations), which is how ``compile(value_and_grad(f))`` gets a compiled
backward pass. Python control flow runs once and is unrolled: the graph holds the path the example
took, specialised to its shapes and dtypes (``compile`` retraces when they change).

The arrays inside traced tensors are ``Tracer`` objects: they hold the real values and behave like
NumPy arrays, but every NumPy operation done on them outside a primitive (library code reading
``tensor.array``) is recorded as well (``prims``), in-place writes are turned into functional updates,
and a Python value drawn from them (``bool``, ``item``) becomes a guard, checked at every call. What
cannot be expressed raises ``TraceError`` naming the operation and the user's source line:
``bool(tensor)`` / ``if tensor:``, ``tensor.item()``, ``float(tensor)``, ``tensor.numpy()``, in-place
mutation of a traced input, conversion of a traced value to a plain NumPy array.

Values that were not created inside the traced function (closed-over tensors, parameters of a model
used by a plain function) become graph constants; those that are the arrays of already existing
tensors are read by reference at every call ("externals", so optimiser steps on a closed-over model
are seen) and never folded. When a ``Module`` is traced (``trace(model, x)``), its parameters and
buffers are graph inputs instead (before the arguments), and writes into its buffers (BatchNorm's
running statistics in training mode) become graph ``updates``.
"""
import functools
import gc
import weakref

from .. import backend
from ..autograd import function
from ..autograd import tensor as tensor_module
from ..autograd.tensor import Tensor
from ..pytree import tree_flatten, tree_unflatten
from . import prims
from .ir import Equation, Graph, Slot, Var, vars_in

np = backend.numpy



from .traced_array import (_DATA_SHAPED, _HINT_BRANCH, _HINT_INPLACE, _HINT_VALUE, _INPLACE_FUNCS, _LIKE, _META,
                           _PY_VALUES, _TRACED_NUMPY, TraceError, Tracer, _has_mask, _plain, _RandomProxy, has_tracer,
                           iter_tracers, map_tracers, user_location)


# ---------------------------------------------------------------- the recorder
class Recorder:
    def __init__(self):
        self.equations = []
        self.inputs, self.input_names = [], []
        self.const_vars = {}      # id(array) -> Var
        self.constants = {}       # Var -> array
        self.externals = {}       # Var -> Tensor
        self.external_by_id = {}  # id(array) -> Tensor that existed before the trace
        self.active = False
        self._saved = None

    # ------------------------------------------------------------ switching on and off
    def start(self):
        if function._recorder is not None or self.active:
            raise TraceError("a function is already being traced: dg.trace cannot be nested (dg.compile'd "
                             "functions called inside a traced function are inlined)")
        generators = []
        generator_type = backend.Generator
        for obj in gc.get_objects():       # type(), not isinstance(): never touch foreign objects' __class__
            kind = type(obj)
            if kind is Tensor or issubclass(kind, Tensor):
                data = getattr(obj, "array", None)   # unset on a Tensor whose __init__ raised
                if isinstance(data, np.ndarray):
                    self.external_by_id[id(data)] = obj
            elif kind is generator_type or issubclass(kind, generator_type):
                generators.append(obj)
        from ..ops import pool
        self._saved = dict(recorder=function._recorder, check=tensor_module._trace_check, xp_of=backend.xp_of,
                           as_array=backend.as_array, max_offsets=pool.max_offsets,
                           generators=[(g, g.bitgen) for g in generators],
                           rng_states=[(g.bitgen, g.bitgen.bit_generator.state) for g in generators
                                       if not isinstance(g.bitgen, _RandomProxy)])
        function._recorder = self
        tensor_module._trace_check = self.check_tensor
        orig_xp_of, orig_as_array = backend.xp_of, backend.as_array

        def xp_of(array):
            return _TRACED_NUMPY if isinstance(array, Tracer) else orig_xp_of(array)

        def as_array(data, dtype=None):
            if isinstance(data, Tracer):
                dtype = backend.as_dtype(dtype)
                return data if dtype is None or data.dtype == dtype else data.astype(dtype)
            return orig_as_array(data, dtype)

        backend.xp_of, backend.as_array = xp_of, as_array
        pool.max_offsets = self.opaque(self._saved["max_offsets"])
        for g, real in self._saved["generators"]:
            if not isinstance(real, _RandomProxy):
                g.bitgen = _RandomProxy(self, g, real)
        self.active = True

    def stop(self):
        if self._saved is None:
            return
        from ..ops import pool
        s, self._saved = self._saved, None
        function._recorder = s["recorder"]
        tensor_module._trace_check = s["check"]
        backend.xp_of, backend.as_array = s["xp_of"], s["as_array"]
        pool.max_offsets = s["max_offsets"]
        for g, real in s["generators"]:
            if isinstance(g.bitgen, _RandomProxy) and g.bitgen._rec is self:
                g.bitgen = real
        for bitgen, state in s["rng_states"]:       # tracing draws nothing: the graph's run will
            bitgen.bit_generator.state = state
        self.active = False
        self.external_by_id = {}

    # ------------------------------------------------------------ errors
    def error(self, what, hint=""):
        return TraceError(f"{what} inside a traced function (dg.trace / dg.compile), at {user_location()}."
                          + (f" {hint}" if hint else ""))

    def check_tensor(self, t, what):
        """Hook for Tensor's exits to Python values (``_trace_check`` in autograd/tensor.py)."""
        if not isinstance(t.array, Tracer):
            return False
        if what is None:
            return True
        hint = _HINT_BRANCH if what.startswith("bool") else _HINT_VALUE
        raise self.error(f"{what} on a traced tensor of shape {tuple(t.shape)}", hint)

    def _own(self, tracer):
        if tracer._rec is not self or not self.active:
            raise TraceError(f"a traced value ({tracer!r}) is used outside the trace that made it: it escaped "
                             f"the traced function (stored in a global or an attribute?), at {user_location()}")

    # ------------------------------------------------------------ values
    def input(self, array, kind, name):
        array = np.asarray(array) if not isinstance(array, np.ndarray) else array
        var = Var(array.shape, array.dtype)
        self.inputs.append(var)
        self.input_names.append(name)
        return Tracer(self, var, array, kind)

    def const(self, array, tensor=None):
        """The constant variable for ``array``; ``tensor``: the Tensor holding it, when known."""
        var = self.const_vars.get(id(array))
        if var is None:
            array = np.asarray(array) if isinstance(array, np.generic) else array
            var = Var(array.shape, array.dtype)
            self.const_vars[id(array)] = var
            self.constants[var] = array
            owner = self.external_by_id.get(id(array))
            if owner is not None and owner.array is array:     # the array of a tensor that existed before
                self.externals[var] = tensor if tensor is not None and tensor.array is array else owner
        return var

    def template(self, obj, ins, arrays, objs):
        """``obj`` (an argument of a NumPy call) with arrays replaced by ``Slot``s into ``ins``."""
        if isinstance(obj, Tracer):
            self._own(obj)
            ins.append(obj._var)
            arrays.append(obj._array)
            objs.append(obj)
            return Slot(len(ins) - 1)
        if isinstance(obj, np.ndarray):
            ins.append(self.const(obj))
            arrays.append(obj)
            objs.append(obj)
            return Slot(len(ins) - 1)
        if isinstance(obj, Tensor):
            return self.template(obj.array, ins, arrays, objs)
        if isinstance(obj, tuple):
            return tuple(self.template(o, ins, arrays, objs) for o in obj)
        if isinstance(obj, list):
            return [self.template(o, ins, arrays, objs) for o in obj]
        if isinstance(obj, dict):
            return {k: self.template(v, ins, arrays, objs) for k, v in obj.items()}
        if isinstance(obj, slice) and has_tracer(obj):
            return slice(*(self.template(p, ins, arrays, objs) for p in (obj.start, obj.stop, obj.step)))
        return obj

    def _templates(self, args, kwargs, ins=None, arrays=None, objs=None):
        ins, arrays, objs = ([] if ins is None else ins), ([] if arrays is None else arrays), ([] if objs is None else objs)
        targs = tuple(self.template(a, ins, arrays, objs) for a in args)
        tkw = {k: self.template(v, ins, arrays, objs) for k, v in kwargs.items()}
        return targs, tkw, ins, arrays, objs

    def emit(self, prim, params, ins, arrays, objs, result, param_vars=(), multi=True):
        """Record ``result`` (an array, a NumPy scalar, or a tuple of arrays) as computed by ``prim``
        from ``ins``; return its tracer(s)."""
        if multi and isinstance(result, (tuple, list)):
            return tuple(self.emit(prim, dict(params, item=k), ins, arrays, objs, r, param_vars, multi=False)
                         for k, r in enumerate(result))
        scalar = isinstance(result, np.generic)
        if scalar or not isinstance(result, np.ndarray):
            result = np.asarray(result)
        var = Var(result.shape, result.dtype)
        owner = backend.memory_owner(result)
        alias = None
        for i, a in enumerate(arrays):
            if a is not None and isinstance(a, np.ndarray) and backend.memory_owner(a) is owner:
                alias = i
                break
        info = {"alias": ins[alias] if alias is not None else None,
                "fresh": alias is None and result.base is None and not scalar and result.flags.c_contiguous
                and result.flags.writeable,
                "storage": 0 if alias is not None else owner.nbytes if isinstance(owner, np.ndarray) else result.nbytes,
                "scalar": scalar, "c_contiguous": bool(result.flags.c_contiguous)}
        self.equations.append(Equation(prim, params, ins, var, param_vars, info))
        base = objs[alias] if alias is not None and isinstance(objs[alias], Tracer) else None
        tracer = Tracer(self, var, result, "value", base)
        if base is not None:
            base._views.append(weakref.ref(tracer))
        return tracer

    def concrete(self, prim, params, ins, arrays, value):
        """A Python value computed from traced data: specialise on it, with a guard that checks it."""
        self.equations.append(Equation(prims.guard, {"op": prim, "op_params": params, "expected": value,
                                                     "_where": user_location()}, ins, None))
        return value

    def write(self, target, prim, params, ins, arrays, what):
        """An in-place write into ``target``: recorded functionally, ``target`` then stands for the result.
        A write into a view made by indexing (``a[...] += 1``) is written through into its base."""
        self._own(target)
        if target._kind == "input":
            raise self.error(f"in-place mutation of a traced input ({what})", _HINT_INPLACE)
        base = target._base
        if base is not None and target._index is None:
            raise self.error(f"in-place write ({what}) into a view (reshape, transpose ...) of a traced value",
                             "Write into the array itself, or build a new value (dg.where, concatenate).")
        if any(ref() is not None for ref in target._views):
            raise self.error(f"in-place write ({what}) into a traced value that has views (reshape, slice, "
                             "transpose ...) still in use", "Build a new value instead of writing in place.")
        new = prim.forward(*arrays, **params)
        var = Var(new.shape, new.dtype)
        self.equations.append(Equation(prim, params, ins, var, (), {"alias": None, "fresh": True,
                                                                    "storage": new.nbytes, "scalar": False,
                                                                    "c_contiguous": bool(new.flags.c_contiguous)}))
        target._var, target._array = var, new
        if base is not None:
            index, target._base, target._index = target._index, None, None
            base._views = [ref for ref in base._views if ref() is not None and ref() is not target]
            self.inplace_method(base, "__setitem__", (index, target), {})

    # ------------------------------------------------------------ the apply() hook
    def __call__(self, prim, inputs, params):
        ins, arrays, objs = [], [], []
        for t in inputs:
            d = t.array
            if type(d) is Tracer:
                self._own(d)
                ins.append(d._var)
                arrays.append(d._array)
            else:
                ins.append(self.const(d, t))
                arrays.append(d)
            objs.append(d)
        plain, ir_params, pvars = params, params, ()
        if params and has_tracer(params):
            for v in params.values():
                for tr in iter_tracers(v):
                    self._own(tr)
            plain = {k: _plain(v) for k, v in params.items()}
            ir_params = {k: _to_vars(v) for k, v in params.items()}
            pvars = vars_in(ir_params)
        result = prim.forward(*arrays, **plain)
        out = Tensor.__new__(Tensor)
        out.array = self.emit(prim, ir_params, ins, arrays, objs, result, pvars, multi=False)
        return function.finish(prim, inputs, params, out)

    # ------------------------------------------------------------ NumPy-level operations on tracers
    def ufunc(self, ufunc, method, inputs, kwargs):
        kwargs = dict(kwargs)
        out = kwargs.pop("out", None)
        if out is None and method != "at":
            targs, tkw, ins, arrays, objs = self._templates(inputs, kwargs)
            call = ufunc if method == "__call__" else getattr(ufunc, method)
            result = call(*prims.fill(targs, arrays), **prims.fill(tkw, arrays))
            return self.emit(prims.NumpyUfunc.get(ufunc, method), {"args": targs, "kwargs": tkw}, ins, arrays,
                             objs, result)
        if method == "at":
            target = inputs[0]
        else:
            out = out if isinstance(out, tuple) else (out,)
            if len(out) != 1:
                raise self.error(f"np.{ufunc.__name__} with several out= arrays")
            target = out[0]
        if not isinstance(target, Tracer):
            raise self.error(f"writing a traced value into an array that is not traced (np.{ufunc.__name__} "
                             f"{'at' if method == 'at' else 'out='})", _HINT_VALUE)
        targs, tkw, ins, arrays, objs = self._templates(inputs, kwargs, [target._var], [target._array], [target])
        prim = prims.NumpyInplace.get((ufunc, method), "ufunc")
        self.write(target, prim, {"args": targs, "kwargs": tkw}, ins, arrays, f"np.{ufunc.__name__}")
        return None if method == "at" else target

    def function(self, func, args, kwargs):
        if func in _LIKE or func in _META:
            return func(*_plain(args), **_plain(kwargs))
        if func in _INPLACE_FUNCS:
            target = args[0]
            if not isinstance(target, Tracer):
                raise self.error(f"writing a traced value into an array that is not traced (np.{func.__name__})",
                                 _HINT_VALUE)
            targs, tkw, ins, arrays, objs = self._templates(args, kwargs, [target._var], [target._array], [target])
            prim = prims.NumpyInplace.get(func, "function")
            self.write(target, prim, {"args": targs, "kwargs": tkw}, ins, arrays, f"np.{func.__name__}")
            return None
        if kwargs.get("out") is not None:
            raise self.error(f"np.{getattr(func, '__name__', 'function')} with out= on traced values",
                             "Use the function's return value instead.")
        targs, tkw, ins, arrays, objs = self._templates(args, kwargs)
        result = func(*prims.fill(targs, arrays), **prims.fill(tkw, arrays))
        prim = prims.NumpyFunction.get(func)
        params = {"args": targs, "kwargs": tkw}
        if isinstance(result, _PY_VALUES):
            return self.concrete(prim, params, ins, arrays, result)
        out = self.emit(prim, params, ins, arrays, objs, result)
        if getattr(func, "__name__", "") in _DATA_SHAPED or (func is np.where and len(args) == 1):
            self.guard_shapes(out)
        return out

    def method(self, tracer, name, *args, **kwargs):
        self._own(tracer)
        targs, tkw, ins, arrays, objs = self._templates(args, kwargs, [tracer._var], [tracer._array], [tracer])
        result = getattr(tracer._array, name)(*prims.fill(targs, arrays), **prims.fill(tkw, arrays))
        if result is NotImplemented:
            return NotImplemented
        if result is tracer._array:      # x.astype(same dtype, copy=False), x.view() of itself ...
            return tracer
        prim = prims.NumpyMethod.get(name)
        params = {"args": targs, "kwargs": tkw}
        if isinstance(result, (_PY_VALUES, list)) or result is None:
            return self.concrete(prim, params, ins, arrays, result)
        out = self.emit(prim, params, ins, arrays, objs, result)
        if name == "__getitem__" and isinstance(out, Tracer) and out._base is tracer:
            out._index = args[0]
        if name in _DATA_SHAPED or (name == "__getitem__" and _has_mask(args[0])):
            self.guard_shapes(out)
        return out

    def guard_shapes(self, out):
        """The shape of ``out`` depends on the data (nonzero, boolean masks): guard it."""
        for t in (out if isinstance(out, tuple) else (out,)):
            self.concrete(prims.NumpyFunction.get(np.shape), {"args": (Slot(0),), "kwargs": {}}, [t._var],
                          [t._array], t.shape)

    def inplace_method(self, tracer, name, args, kwargs):
        self._own(tracer)
        targs, tkw, ins, arrays, objs = self._templates(args, kwargs, [tracer._var], [tracer._array], [tracer])
        what = {"__setitem__": "setitem (x[index] = value)"}.get(name, f"{name}")
        self.write(tracer, prims.NumpyInplace.get(name, "method"), {"args": targs, "kwargs": tkw}, ins, arrays, what)

    def random(self, generator, real, name, *args, **kwargs):
        targs, tkw, ins, arrays, objs = self._templates(args, kwargs)
        result = getattr(real, name)(*prims.fill(targs, arrays), **prims.fill(tkw, arrays))
        return self.emit(prims.Random.get(name), {"generator": generator, "args": targs, "kwargs": tkw}, ins,
                         arrays, objs, result)

    def opaque(self, fn):
        """``fn`` (a library helper computing on raw arrays) recorded as one ``NumpyCall`` equation
        when it is given tracers."""
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if not (self.active and has_tracer((args, kwargs))):
                return fn(*args, **kwargs)
            targs, tkw, ins, arrays, objs = self._templates(args, kwargs)
            result = fn(*prims.fill(targs, arrays), **prims.fill(tkw, arrays))
            return self.emit(prims.NumpyCall.get(fn), {"args": targs, "kwargs": tkw}, ins, arrays, objs, result)
        return wrapper


def _to_vars(value):
    return map_tracers(value, lambda t: t._var)


# ---------------------------------------------------------------- tracing a function
def module_state(module):
    """(name, tensor) for the parameters, then the buffers, of a Module (each tensor once)."""
    seen, state = set(), []
    for name, t in list(module.named_parameters()) + list(module.named_buffers()):
        if id(t) not in seen:
            seen.add(id(t))
            state.append((name, t))
    return state


def _is_module(obj):
    from ..nn.module import Module
    return isinstance(obj, Module)


def trace_graph(fn, args, state=()):
    """Trace ``fn(*args)``; ``state`` lists (name, tensor) pairs whose arrays are graph inputs (placed
    first) and whose new values, when ``fn`` rebinds or writes them, become ``updates``."""
    rec = Recorder()
    rec.start()
    swapped = []
    try:
        for name, t in state:
            original = t.array
            tracer = rec.input(original, "state", name)
            swapped.append((t, original, tracer, tracer._var))
            t.array = tracer
        leaves, in_tree = tree_flatten(tuple(args))
        traced = []
        for i, leaf in enumerate(leaves):
            if isinstance(leaf, Tensor):
                t = Tensor.wrap(rec.input(leaf.array, "input", f"arg{i}"))
                t.requires_grad = leaf.requires_grad
                traced.append(t)
            elif isinstance(leaf, np.ndarray):
                traced.append(rec.input(leaf, "input", f"arg{i}"))
            else:
                traced.append(leaf)
        result = fn(*tree_unflatten(in_tree, traced))
        out_leaves, out_tree = tree_flatten(result)
        outputs, static = [], {}
        for k, o in enumerate(out_leaves):
            d = o.array if isinstance(o, Tensor) else o
            if isinstance(d, Tracer):
                rec._own(d)
                outputs.append(d._var)
            elif isinstance(d, (np.ndarray, np.generic)):
                outputs.append(rec.const(d))
            else:
                static[k] = o
        updates = []
        for t, original, tracer, var in swapped:
            current = t.array
            if isinstance(current, Tracer):
                rec._own(current)
                if current._var is not var:
                    updates.append((var, current._var))
            elif current is not original:
                updates.append((var, rec.const(current)))
            if isinstance(t.grad, Tensor) and isinstance(t.grad.array, Tracer):
                t.grad = None
                raise TraceError("backward() inside a traced function wrote the .grad of a parameter or input, which "
                                 "a compiled graph cannot replay: use dg.grad / dg.value_and_grad (or "
                                 "dg.static.compile_train_step) inside compiled functions")
        for ext in rec.externals.values():
            if isinstance(ext.grad, Tensor) and isinstance(ext.grad.array, Tracer):
                ext.grad = None
                raise TraceError("backward() inside a traced function wrote the .grad of a tensor created outside "
                                 "it, which a compiled graph cannot replay: use dg.grad / dg.value_and_grad (or "
                                 "dg.static.compile_train_step) inside compiled functions")
    finally:
        for t, original, tracer, var in swapped:
            t.array = original
        rec.stop()
    return Graph(rec.inputs, rec.equations, outputs, rec.constants, updates, rec.externals, rec.input_names,
                 in_tree, out_tree, static)


def trace(fn, *example_args):
    """Run ``fn(*example_args)`` once and return its static ``Graph`` (seed 三: a static graph is built
    before it is run). ``fn`` may be a Module: its parameters and buffers are then the graph's first
    inputs (named after them), followed by the arguments' tensors; for a plain function, tensors it
    uses that were created outside it are constants. Arguments are nests (tuples, lists, dicts) of
    Tensors / NumPy arrays (traced) and Python values (fixed in the graph)."""
    state = module_state(fn) if _is_module(fn) else ()
    return trace_graph(fn, example_args, state)

