"""Running an optimised graph.

``Program(graph)`` turns the equation list into one generated, straight-line Python function over raw
arrays: each equation becomes a call of its primitive's ``forward`` (``v7 = F3(v2, v5, **P3)``), an
elementwise or fused equation becomes inline ufunc calls writing into reused buffers
(``v9 = multiply(v4, v8, out=v2)``), NumPy-level equations become the NumPy calls themselves, and
every variable is deleted after its last use (the memory plan). No Tensor objects are created and
nothing is recorded for autograd, which is where the speed over eager execution comes from.

``replay(graph, ...)`` instead interprets the (unfused) graph with Tensor operations through
``apply``, so the result carries the autograd graph: that is how a compiled function is
differentiated from outside (``grad(compile(f))``) or given forward-mode tangents.
"""
from .. import backend
from ..autograd.function import apply
from ..autograd.tensor import Tensor
from . import kernels, prims
from .ir import Slot, Var, map_params
from .passes import Fused, plan_memory

np = backend.numpy


class _Namespace:
    """Globals of the generated code: Python objects get stable names."""

    def __init__(self):
        self.globals = {"_errstate": np.errstate, "_asarray": np.asarray}
        self._ids = {}

    def name(self, obj, prefix="o"):
        key = (prefix, id(obj))
        name = self._ids.get(key)
        if name is None:
            name = f"{prefix}{len(self._ids)}"
            self._ids[key] = name
            self.globals[name] = obj
        return name

    def literal(self, value):
        """Python source for ``value``: literals for plain numbers and strings, a global otherwise."""
        if value is None or isinstance(value, bool):
            return repr(value)
        if isinstance(value, (int, float)) and type(value) in (int, float) and value == value and abs(value) != float("inf"):
            return repr(value)
        if isinstance(value, str):
            return repr(value)
        return self.name(value, "o")


def _source(value, ns, var_name, slot_name=None):
    """Python source that rebuilds a parameter value, with variables and slots by name."""
    if isinstance(value, Var):
        return var_name(value)
    if isinstance(value, Slot):
        return slot_name(value.index)
    if isinstance(value, tuple):
        inner = ", ".join(_source(v, ns, var_name, slot_name) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(_source(v, ns, var_name, slot_name) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_source(v, ns, var_name, slot_name)}" for k, v in value.items()) + "}"
    if isinstance(value, slice):
        return f"slice({', '.join(_source(p, ns, var_name, slot_name) for p in (value.start, value.stop, value.step))})"
    return ns.literal(value)


def _has_slots(value):
    if isinstance(value, (Slot, Var)):
        return True
    if isinstance(value, (tuple, list)):
        return any(_has_slots(v) for v in value)
    if isinstance(value, dict):
        return any(_has_slots(v) for v in value.values())
    if isinstance(value, slice):
        return _has_slots((value.start, value.stop, value.step))
    return False


def _kwargs_source(kwargs, ns, var_name, slot_name=None):
    return ", ".join(f"{k}={_source(v, ns, var_name, slot_name)}" for k, v in kwargs.items())


def kernel_lines(steps, in_names, result, ns, donor=None, prefix="t", scratch=(), in_avals=(), inplace=True):
    """Source lines computing ``steps`` (kernels.Step) from the named inputs into the name ``result``.
    With ``donor``, the last step writes into that buffer; ``scratch`` lists the inputs (by index) whose
    buffers may be overwritten once read for the last time (``in_avals``: the inputs' (shape, dtype)).
    Without ``inplace``, every step allocates its result. Temporaries die inside the block."""
    n = len(steps)
    last_use = {}
    for j, s in enumerate(steps):
        for o in s.operands:
            if o.kind in ("tmp", "in"):
                last_use[(o.kind, o.value)] = j
    names = [result if j == n - 1 else f"{prefix}{j}" for j in range(n)]
    shape_of = {("in", k): tuple(in_avals[k]) for k in scratch}
    owned = {("in", k) for k in scratch}     # buffers this block may overwrite
    lines = []
    for j, s in enumerate(steps):
        ops = []
        for o in s.operands:
            if o.kind == "in":
                ops.append(in_names[o.value])
            elif o.kind == "tmp":
                ops.append(names[o.value])
            else:
                ops.append(ns.literal(o.value))
        args = ", ".join(ops)
        if s.kwargs:
            args += ", " + ", ".join(f"{k}={ns.literal(v)}" for k, v in s.kwargs.items())
        target = None
        if s.out:
            if j == n - 1 and donor is not None:
                target = donor
            elif inplace:
                for o in s.operands:
                    key = (o.kind, o.value)
                    if key in owned and last_use.get(key) == j and shape_of.get(key) == (s.shape, s.dtype):
                        target = in_names[o.value] if o.kind == "in" else names[o.value]
                        owned.discard(key)
                        break
        call = f"{ns.name(s.fn, 'f')}({args}" + (f", out={target})" if target else ")")
        line = f"{names[j]} = {call}"
        if s.errstate:
            lines.append(f"with _errstate({_kwargs_source(s.errstate, ns, None)}):")
            lines.append("    " + line)
        else:
            lines.append(line)
        if s.out and (target is None or target != donor):
            owned.add(("tmp", j))
        shape_of[("tmp", j)] = (s.shape, s.dtype)
    dead = [names[j] for j in range(n - 1)]
    if dead:
        lines.append("del " + ", ".join(dict.fromkeys(dead)))
    return lines


def compile_kernel(steps, n_inputs, ns=None, inplace=True):
    """A Python function ``kernel(*inputs)`` computing ``steps`` (used by ``Fused.forward``)."""
    ns = ns or _Namespace()
    ins = [f"i{k}" for k in range(n_inputs)]
    body = kernel_lines(steps, ins, "r", ns, inplace=inplace)
    src = f"def kernel({', '.join(ins)}):\n" + "\n".join("    " + line for line in body) + "\n    return r\n"
    ns.globals["__name__"] = "deepgrad.static.kernels"
    exec(compile(src, "<deepgrad.static kernel>", "exec"), ns.globals)
    return ns.globals["kernel"]


class Program:
    """A graph compiled to a Python function of raw arrays.

    ``run(*arrays)`` takes the arrays of ``graph.inputs`` then of ``graph.externals`` and returns
    ``(outputs, update_values)``; ``update_values[k]`` is None where equation results were written into
    the input's array directly (a donated update)."""

    def __init__(self, graph):
        if graph.plan is None:
            graph = plan_memory(graph)
        self.graph = graph
        plan = graph.plan
        ns = _Namespace()
        names = {}
        for i, v in enumerate(graph.inputs):
            names[v] = f"a{i}"
        self.externals = list(graph.externals)
        for i, v in enumerate(self.externals):
            names[v] = f"e{i}"
        for v, array in graph.constants.items():
            if v not in names:
                names[v] = ns.name(array, "k")

        def var_name(v):
            if v not in names:
                names[v] = f"v{v.count}"
            return names[v]

        lines = []
        for i, eq in enumerate(graph.equations):
            donor = plan.donor.get(i)
            donate = plan.donate_update.get(i)
            out_buffer = var_name(donate) if donate is not None else var_name(donor) if donor is not None else None
            lines.extend(self._equation(eq, i, ns, var_name, out_buffer))
            dead = [var_name(v) for v in plan.free_after[i]]
            if dead:
                lines.append("del " + ", ".join(dict.fromkeys(dead)))
        donated = {graph.equations[i].out for i in plan.donate_update}
        outs = [var_name(v) for v in graph.outputs]
        upd = ["None" if b in donated else var_name(b) for _, b in graph.updates]
        args = [names[v] for v in graph.inputs] + [names[v] for v in self.externals]
        src = (f"def run({', '.join(args)}):\n" + "".join(f"    {line}\n" for line in lines)
               + f"    return ({''.join(o + ', ' for o in outs)}), ({''.join(u + ', ' for u in upd)})\n")
        self.source = src
        ns.globals["__name__"] = "deepgrad.static.program"
        exec(compile(src, "<deepgrad.static program>", "exec"), ns.globals)
        self.run = ns.globals["run"]
        inputs = set(graph.inputs)
        consts = set(graph.constants)
        self.copy_output = [v in inputs or v in consts or v in donated for v in graph.outputs]

    def _equation(self, eq, index, ns, var_name, out_buffer):
        prim = eq.prim
        ins = [var_name(v) for v in eq.ins]
        out = var_name(eq.out) if eq.out is not None else "_"
        if isinstance(prim, Fused):
            scratch = [eq.ins.index(v) for v in self.graph.plan.scratch.get(index, ())]
            return kernel_lines(prim.steps, ins, out, ns, out_buffer, prefix=f"t{index}_", scratch=scratch,
                                in_avals=[(v.shape, v.dtype) for v in eq.ins],
                                inplace=prim.inplace and index in self.graph.plan.inplace)
        steps = kernels.steps_of(eq, [kernels.Ref("in", i) for i in range(len(eq.ins))])
        if steps is not None:
            steps = kernels.infer(kernels.resolve(steps), [(v.shape, v.dtype) for v in eq.ins])
            return kernel_lines(steps, ins, out, ns, out_buffer, prefix=f"t{index}_",
                                inplace=index in self.graph.plan.inplace)
        wrap = (lambda s: f"_asarray({s})") if eq.info.get("scalar") else (lambda s: s)
        item = eq.params.get("item") if isinstance(prim, prims._NumpyOp) else None
        pick = "" if item is None else f"[{item}]"

        def slot_name(k):
            return ins[k]

        if isinstance(prim, (prims.NumpyUfunc, prims.NumpyFunction, prims.NumpyMethod, prims.NumpyCall)) \
                and not isinstance(prim, prims.Guard):
            args = [_source(a, ns, var_name, slot_name) for a in eq.params["args"]]
            kw = _kwargs_source(eq.params["kwargs"], ns, var_name, slot_name)
            arglist = ", ".join(args + ([kw] if kw else []))
            if isinstance(prim, prims.NumpyMethod):
                call = f"{ins[0]}.{prim.method}({arglist})"
            else:
                fn = prim.call if isinstance(prim, prims.NumpyUfunc) else prim.func if isinstance(
                    prim, prims.NumpyFunction) else prim.fn
                call = f"{ns.name(fn, 'f')}({arglist})"
            return [f"{out} = {wrap(call + pick)}"]
        if isinstance(prim, prims.Random):
            args = [_source(a, ns, var_name, slot_name) for a in eq.params["args"]]
            kw = _kwargs_source(eq.params["kwargs"], ns, var_name, slot_name)
            gen = ns.name(eq.params["generator"], "g")
            call = f"{gen}.bitgen.{prim.method}({', '.join(args + ([kw] if kw else []))})"
            return [f"{out} = {'_asarray(' + call + pick + ')'}"]
        fn = ns.name(prim.forward, "F")
        if not eq.params:
            call = f"{fn}({', '.join(ins)})"
        elif eq.param_vars:
            call = f"{fn}({', '.join(ins)}{', ' if ins else ''}{_kwargs_source(eq.params, ns, var_name)})"
        else:
            call = f"{fn}({', '.join(ins)}{', ' if ins else ''}**{ns.name(eq.params, 'P')})"
        return [f"{out} = {wrap(call)}" if eq.out is not None else call]


def replay(graph, inputs, externals):
    """Interpret ``graph`` with Tensor operations (``apply``): differentiable in both modes. ``inputs``
    and ``externals`` are Tensors for ``graph.inputs`` and ``graph.externals``. Returns the output
    Tensors and the updates' new values."""
    env = dict(zip(graph.inputs, inputs))
    env.update(zip(graph.externals, externals))
    for v, a in graph.constants.items():
        if v not in env:
            env[v] = Tensor.wrap(a)
    for eq in graph.equations:
        prim = eq.prim
        if isinstance(prim, Fused):
            raise ValueError("replay needs the unfused graph")
        params = map_params(eq.params, lambda v: env[v].array) if eq.param_vars else eq.params
        if isinstance(prim, prims._NumpyOp):
            result = prim.forward(*[env[v].array for v in eq.ins], **params)
            if eq.out is not None:
                env[eq.out] = Tensor.wrap(result)
        else:
            env[eq.out] = apply(prim, [env[v] for v in eq.ins], params)
    return [env[v] for v in graph.outputs], [env[b] for _, b in graph.updates]
