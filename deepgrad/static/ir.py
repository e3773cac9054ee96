"""The intermediate representation of a traced (static) computational graph (seed 三, "static graphs").

A ``Graph`` is a straight-line program over variables::

    { lambda a:f32[256,784] ; b:f32[16,784]. let
        c:f32[784,256] = permute[perm=(1, 0)] a
        d:f32[16,256] = matmul b c
      in (d) }

* ``inputs``: the ``Var`` of every argument leaf (for a traced Module, its parameters and buffers first);
* ``equations``: ``Equation(prim, params, ins, out)``: ``out = prim.forward(*ins, **params)`` on raw
  arrays. ``prim`` is the primitive object (``prim.name`` its name), ``params`` its keyword parameters;
  a parameter may hold a ``Var`` (an index array computed in the graph): those are listed in
  ``param_vars``. Guards (checks of a value the trace depended on) have ``out`` None;
* ``outputs``: the ``Var`` of every output leaf;
* ``constants``: ``{Var: array}``, values fixed when the graph was traced; ``externals`` names those that are
  the arrays of tensors that existed before tracing (a closed-over parameter): they are read by reference
  at every call, never folded;
* ``updates``: ``[(input Var, Var)]``: after a call, the value of the second is written into the array of
  the first (module buffers such as BatchNorm's running statistics, or a compiled optimiser step).

Every ``Var`` records its shape and dtype. The graph is walked in ``equations`` order, which is a
topological order. ``str(graph)`` prints it in the jaxpr-like form above.
"""
import itertools

import numpy as np

_counter = itertools.count()

_SHORT = {"float16": "f16", "float32": "f32", "float64": "f64", "int8": "i8", "int16": "i16",
          "int32": "i32", "int64": "i64", "uint8": "u8", "bool": "bool"}


def short_dtype(dtype):
    name = np.dtype(dtype).name
    return _SHORT.get(name, name)


class Var:
    """A value of the graph: its shape and dtype (``count`` orders variables by creation)."""
    __slots__ = ("shape", "dtype", "count")

    def __init__(self, shape, dtype):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.count = next(_counter)

    @property
    def aval(self):
        """``f32[16,784]``: the abstract value (dtype and shape) of the variable."""
        return f"{short_dtype(self.dtype)}[{','.join(map(str, self.shape))}]"

    @property
    def nbytes(self):
        n = self.dtype.itemsize
        for d in self.shape:
            n *= d
        return n

    def __repr__(self):
        return f"Var#{self.count}:{self.aval}"


class Slot:
    """In the parameters of a NumPy-level equation: "the i-th input of this equation"."""
    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index

    def __eq__(self, other):
        return isinstance(other, Slot) and other.index == self.index

    def __hash__(self):
        return hash(("slot", self.index))

    def __repr__(self):
        return f"${self.index}"


class Equation:
    """``out = prim(*ins, **params)``. ``param_vars``: the variables found inside ``params``.
    ``info`` holds what the tracer observed: ``alias`` (the variable whose memory ``out`` may share, as
    a view), ``fresh`` (``out`` owns newly allocated memory), ``storage`` (bytes newly allocated),
    ``where`` (the user's source line)."""
    __slots__ = ("prim", "params", "ins", "out", "param_vars", "info")

    def __init__(self, prim, params, ins, out, param_vars=(), info=None):
        self.prim = prim
        self.params = params
        self.ins = list(ins)
        self.out = out
        self.param_vars = list(param_vars)
        self.info = info if info is not None else {}

    @property
    def name(self):
        return self.prim.name

    @property
    def uses(self):
        """Every variable the equation reads (its inputs, then those inside its parameters)."""
        return self.ins + self.param_vars if self.param_vars else self.ins

    @property
    def effect(self):
        """Equations with effects (guards, random draws) are never removed, merged or folded."""
        return getattr(self.prim, "effect", False)

    def replace(self, **changes):
        fields = {k: getattr(self, k) for k in self.__slots__}
        fields["info"] = dict(self.info)
        fields.update(changes)
        return Equation(**fields)

    def __repr__(self):
        return f"Equation({self.name}, {len(self.ins)} inputs -> {self.out!r})"


class Graph:
    def __init__(self, inputs, equations, outputs, constants, updates=(), externals=None, input_names=None,
                 in_tree=None, out_tree=None, static_outputs=None):
        self.inputs = list(inputs)
        self.equations = list(equations)
        self.outputs = list(outputs)
        self.constants = dict(constants)
        self.updates = list(updates)
        self.externals = dict(externals or {})         # Var -> Tensor (read by reference)
        self.input_names = list(input_names) if input_names is not None else [None] * len(self.inputs)
        self.in_tree, self.out_tree = in_tree, out_tree
        self.static_outputs = dict(static_outputs or {})  # output position -> Python value
        self.plan = None                                   # set by passes.plan_memory

    def replace(self, **changes):
        fields = dict(inputs=self.inputs, equations=self.equations, outputs=self.outputs, constants=self.constants,
                      updates=self.updates, externals=self.externals, input_names=self.input_names,
                      in_tree=self.in_tree, out_tree=self.out_tree, static_outputs=self.static_outputs)
        fields.update(changes)
        return Graph(**fields)

    # ------------------------------------------------------------ facts
    def producers(self):
        """{Var: the equation that computes it}."""
        return {eq.out: eq for eq in self.equations if eq.out is not None}

    def use_counts(self):
        """{Var: how many times it is read} (by equations, as an output, or as an update value)."""
        counts = {}
        for eq in self.equations:
            for v in eq.uses:
                counts[v] = counts.get(v, 0) + 1
        for v in self.outputs:
            counts[v] = counts.get(v, 0) + 1
        for _, v in self.updates:
            counts[v] = counts.get(v, 0) + 1
        return counts

    def primitive_counts(self):
        """{primitive name: number of equations}."""
        counts = {}
        for eq in self.equations:
            counts[eq.name] = counts.get(eq.name, 0) + 1
        return counts

    def __len__(self):
        return len(self.equations)

    # ------------------------------------------------------------ printing
    def names(self):
        """A short name for every variable: a, b, ..., z, ba, bb, ... in order of appearance."""
        names = {}

        def name(v):
            if v not in names:
                n, s = len(names), ""
                while True:
                    s = chr(ord("a") + n % 26) + s
                    n //= 26
                    if n == 0:
                        break
                names[v] = s
            return names[v]

        for v in self.constants:
            name(v)
        for v in self.inputs:
            name(v)
        for eq in self.equations:
            for v in eq.uses:
                name(v)
            if eq.out is not None:
                name(eq.out)
        for v in self.outputs:
            name(v)
        return names

    def pretty(self, max_width=100):
        names = self.names()

        def binder(v):
            return f"{names[v]}:{v.aval}"

        consts = " ".join(binder(v) for v in self.constants)
        ins = " ".join(binder(v) for v in self.inputs)
        lines = [f"{{ lambda {consts} ; {ins}. let"]
        for eq in self.equations:
            params = format_params(eq.params, names)
            head = f"{binder(eq.out)} = " if eq.out is not None else "_ = "
            args = " ".join(names[v] for v in eq.ins)
            lines.append(f"    {head}{eq.name}{params} {args}".rstrip())
        outs = " ".join(names[v] if v in names else "?" for v in self.outputs)
        tail = f"  in ({outs})"
        if self.updates:
            tail += " updates (" + ", ".join(f"{names[a]} <- {names[b]}" for a, b in self.updates) + ")"
        lines.append(tail + " }")
        return "\n".join(line if len(line) <= max_width else line[:max_width - 3] + "..." for line in lines)

    def __str__(self):
        return self.pretty()

    def __repr__(self):
        return (f"<Graph: {len(self.inputs)} inputs, {len(self.equations)} equations, "
                f"{len(self.outputs)} outputs, {len(self.constants)} constants>")


def format_value(value, names):
    if isinstance(value, Var):
        return names.get(value, "?")
    if isinstance(value, np.ndarray):
        if value.size <= 4:
            return np.array2string(value, separator=",").replace("\n", "")
        return f"{short_dtype(value.dtype)}[{','.join(map(str, value.shape))}]"
    if isinstance(value, tuple):
        inner = ", ".join(format_value(v, names) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v, names) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={format_value(v, names)}" for k, v in value.items()) + "}"
    if isinstance(value, slice):
        parts = [format_value(p, names) if p is not None else "" for p in (value.start, value.stop, value.step)]
        return ":".join(parts[:2]) + (f":{parts[2]}" if value.step is not None else "")
    if value is Ellipsis:
        return "..."
    if isinstance(value, np.dtype):
        return value.name
    if callable(value) and hasattr(value, "__name__"):
        return value.__name__
    return repr(value)


def format_params(params, names):
    if not params:
        return ""
    shown = {k: v for k, v in params.items() if not k.startswith("_") and not (k in ("args", "kwargs", "op_params")
                                                                             and not v)}
    if not shown:
        return ""
    return "[" + " ".join(f"{k}={format_value(v, names)}" for k, v in shown.items()) + "]"


# ---------------------------------------------------------------- hashable parameters (CSE)
def param_key(value):
    """A hashable form of a parameter value: arrays by contents (small) or identity (large),
    slices and containers recursively, variables by identity."""
    if isinstance(value, Var):
        return ("var", value.count)
    if isinstance(value, np.ndarray):
        if value.size <= 256:
            return ("array", value.dtype.str, value.shape, value.tobytes())
        return ("array-id", id(value))
    if isinstance(value, (tuple, list)):
        return (type(value).__name__,) + tuple(param_key(v) for v in value)
    if isinstance(value, dict):
        return ("dict",) + tuple((k, param_key(v)) for k, v in sorted(value.items(), key=lambda kv: str(kv[0])))
    if isinstance(value, slice):
        return ("slice", param_key(value.start), param_key(value.stop), param_key(value.step))
    if isinstance(value, float) and value != value:
        return ("nan",)
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return (type(value).__name__, value)


def map_params(value, fn):
    """``value`` with every ``Var`` inside replaced by ``fn(var)`` (containers rebuilt only if needed)."""
    if isinstance(value, Var):
        return fn(value)
    if isinstance(value, tuple):
        items = tuple(map_params(v, fn) for v in value)
        return items if any(a is not b for a, b in zip(items, value)) else value
    if isinstance(value, list):
        return [map_params(v, fn) for v in value]
    if isinstance(value, dict):
        out = {k: map_params(v, fn) for k, v in value.items()}
        return out if any(out[k] is not value[k] for k in value) else value
    if isinstance(value, slice):
        parts = [map_params(p, fn) for p in (value.start, value.stop, value.step)]
        return slice(*parts)
    return value


def iter_nested(value, kind):
    """The instances of ``kind`` inside ``value``, a nest of tuples, lists, dicts and slices, in order."""
    if isinstance(value, kind):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from iter_nested(v, kind)
    elif isinstance(value, dict):
        for v in value.values():
            yield from iter_nested(v, kind)
    elif isinstance(value, slice):
        yield from iter_nested((value.start, value.stop, value.step), kind)


def map_nested(value, kind, fn):
    """``value`` (a nest of tuples, lists, dicts and slices) rebuilt with each instance ``x`` of ``kind``
    replaced by ``fn(x)``."""
    if isinstance(value, kind):
        return fn(value)
    if isinstance(value, tuple):
        return tuple(map_nested(v, kind, fn) for v in value)
    if isinstance(value, list):
        return [map_nested(v, kind, fn) for v in value]
    if isinstance(value, dict):
        return {k: map_nested(v, kind, fn) for k, v in value.items()}
    if isinstance(value, slice):
        return slice(*(map_nested(v, kind, fn) for v in (value.start, value.stop, value.step)))
    return value


def vars_in(value):
    """The variables inside a parameter value, in order."""
    return list(iter_nested(value, Var))
