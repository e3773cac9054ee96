"""Drawing computational graphs (seed 三: the graph of eq. 3.1 with the forward values on its edges).

    import deepgrad as dg
    x, w, b = (dg.tensor(v, requires_grad=True) for v in (1.0, 0.0, 0.0))
    f = 1 / (dg.exp(-1 * (w * x + b)) + 1)
    dg.viz.draw(f, path="eq_3_1.svg")             # the dynamic graph recorded by the eager computation
    dg.viz.draw(lambda x, w, b: ..., x, w, b)      # the static graph dg.trace records

``draw(fn_or_tensor, *args, values=True, grads=True, path="graph.svg")`` builds the graph and returns a
``Drawing`` (its Graphviz DOT text is ``drawing.dot``):

* from a **Tensor** (or a tuple of them): the dynamic graph, walking each tensor's history
  (``t._node = (primitive, inputs, params, versions)``; leaves have none). Draw before a ``backward()`` that
  frees the graph (or pass ``retain_graph=True`` to it);
* from a **function** (or Module) and its arguments: the static graph ``dg.trace(fn, *args)``, run
  again on ``args`` to get its values; from a **Graph**: its structure, with values when ``args``
  gives its inputs.

Every primitive application is one box (named h1, h2, ... in the order they run, like the chapter's
hᵢ), every input, parameter and constant an ellipse; each edge carries the value flowing along it
(red: the number for a scalar, shape and a short summary otherwise) and, with ``grads=True``, the
derivative of the output with respect to it (blue: ∂f/∂hᵢ, computed by reverse mode with
``dg.autograd.grad``; for a non-scalar output f is the sum of its elements). Names of leaves come from
``names={"x": x, ...}``, else from the caller's variables holding them.

``path``: ``.svg``/``.png``/``.pdf`` are rendered with Graphviz's ``dot`` when it is installed (Debian:
``apt-get install graphviz``), with the DOT text written beside them (``.dot``); without ``dot``, or for a
``.dot``/``.gv`` path, the DOT text is written (with a warning in the first case). ``path=None`` writes
nothing.
"""
import html
import inspect
import os
import shutil
import subprocess
import warnings

from .. import backend
from ..autograd.tensor import FREED, Tensor
from ..pytree import tree_flatten
from . import prims
from .ir import Graph, format_params, short_dtype

np = backend.numpy

__all__ = ["draw", "Drawing", "to_dot", "has_dot"]

VALUE_COLOR = "#d62728"     # the chapter's red numbers
GRAD_COLOR = "#1f4fbf"


def has_dot():
    """Whether Graphviz's ``dot`` program is installed."""
    return shutil.which("dot") is not None


# ---------------------------------------------------------------- formatting values
def _number(x):
    x = float(x)
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"          # also -0.0 (−1·0 in eq. 3.1)
    if x == int(x) and abs(x) < 1e6:
        return str(int(x))
    return f"{x:.4g}"


def summarize(value):
    """A short text for an array: the number for a scalar, else dtype, shape and a summary."""
    if value is None:
        return ""
    a = np.asarray(value)
    if a.size == 1:
        v = a.reshape(-1)[0]
        return ("true" if v else "false") if a.dtype == np.bool_ else _number(v)
    head = f"{short_dtype(a.dtype)}[{','.join(map(str, a.shape))}]"
    if a.size == 0:
        return head
    if a.size <= 4 and a.ndim == 1:
        return f"{head} [{', '.join(_number(v) for v in a)}]"
    if a.dtype.kind in "fiu":
        f = a.astype(np.float64)
        return f"{head} mean {_number(f.mean())}, range [{_number(f.min())}, {_number(f.max())}]"
    return head


# ---------------------------------------------------------------- the drawn graph
class Drawing:
    """A drawn graph: ``dot`` (the Graphviz source), ``nodes`` and ``edges`` (lists of dicts), ``path``
    (the file written, or None) and ``format`` ('svg', 'png', 'pdf', or 'dot' when only DOT was written)."""

    def __init__(self, nodes, edges, title=""):
        self.nodes, self.edges, self.title = nodes, edges, title
        self.dot = to_dot(nodes, edges, title)
        self.path = self.dot_path = None
        self.format = None

    @property
    def ops(self):
        """The primitive nodes in execution order."""
        return [n for n in self.nodes if n["kind"] == "op"]

    def __str__(self):
        return self.dot

    def __repr__(self):
        return (f"<Drawing: {len(self.ops)} primitives, {len(self.nodes)} nodes, {len(self.edges)} edges"
                + (f", {self.path}" if self.path else "") + ">")

    def _repr_svg_(self):
        if not has_dot():
            return None
        result = subprocess.run(["dot", "-Tsvg"], input=self.dot.encode(), capture_output=True, timeout=60)
        return result.stdout.decode() if result.returncode == 0 else None

    def save(self, path):
        """Write the drawing to ``path`` (see the module's notes); returns the path written."""
        path = os.fspath(path)
        root, ext = os.path.splitext(path)
        fmt = ext[1:].lower()
        if fmt in ("dot", "gv"):
            _write(path, self.dot)
            self.path = self.dot_path = path
            self.format = "dot"
            return path
        if not fmt:
            fmt, path = "svg", path + ".svg"
            root = path[:-4]
        self.dot_path = root + ".dot"
        _write(self.dot_path, self.dot)
        if not has_dot():
            warnings.warn(f"Graphviz's `dot` is not installed: wrote the DOT text to {self.dot_path} instead of "
                          f"{path} (install graphviz, or render it with any Graphviz viewer)", stacklevel=3)
            self.path, self.format = self.dot_path, "dot"
            return self.dot_path
        result = subprocess.run(["dot", f"-T{fmt}", "-o", path], input=self.dot.encode(), capture_output=True,
                                timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"dot -T{fmt} failed: {result.stderr.decode(errors='replace').strip()}")
        self.path, self.format = path, fmt
        return path


def _write(path, text):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _quote(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _edge_label(edge):
    lines = []
    name = edge.get("name") or ""
    if edge.get("value_text") is not None:
        text = f"{name} = {edge['value_text']}" if name else edge["value_text"]
        lines.append(f'<font color="{VALUE_COLOR}">{html.escape(text)}</font>')
    if edge.get("grad_text") is not None:
        text = f"∂f/∂{name} = {edge['grad_text']}" if name else f"∂f = {edge['grad_text']}"
        lines.append(f'<font color="{GRAD_COLOR}">{html.escape(text)}</font>')
    return "<" + "<br/>".join(lines) + ">" if lines else None


def to_dot(nodes, edges, title=""):
    """Graphviz DOT text for ``nodes`` (dicts with id, kind, label) and ``edges`` (src, dst and texts)."""
    out = ["digraph computational_graph {", "  rankdir=LR;",
           '  graph [fontname="Helvetica", nodesep=0.35, ranksep=0.6' + (f", label={_quote(title)}, labelloc=t"
                                                                         if title else "") + "];",
           '  node [fontname="Helvetica", fontsize=12];',
           '  edge [fontname="Helvetica", fontsize=10];']
    styles = {"input": 'shape=ellipse, style=filled, fillcolor="#f3f3f3"',
              "param": 'shape=ellipse, style=filled, fillcolor="#fff2cc"',
              "const": 'shape=ellipse, style=dashed, fontsize=10',
              "op": 'shape=box, style="rounded,filled", fillcolor="#dde8f8"',
              "numpy": 'shape=box, style="rounded,dashed"',
              "output": 'shape=doublecircle, style=filled, fillcolor="#e2f0d9", fontsize=11'}
    for n in nodes:
        if n["kind"] in ("op", "numpy"):
            label = f'<<b>{html.escape(n["name"])}</b><br/>{html.escape(n["label"])}>'
        else:
            label = _quote(n["label"])
        out.append(f'  {_quote(n["id"])} [label={label}, {styles[n["kind"]]}];')
    for e in edges:
        label = _edge_label(e)
        attrs = f" [label={label}]" if label else ""
        out.append(f'  {_quote(e["src"])} -> {_quote(e["dst"])}{attrs};')
    out.append("}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- building the node and edge lists
class _Builder:
    def __init__(self, values, grads):
        self.values, self.grads = values, grads
        self.nodes, self.edges = [], []

    def node(self, kind, label, name=""):
        nid = f"n{len(self.nodes)}"
        self.nodes.append({"id": nid, "kind": kind, "label": label, "name": name})
        return nid

    def edge(self, src, dst, name, value, grad, has_grad):
        self.edges.append({
            "src": src, "dst": dst, "name": name,
            "value": value, "grad": grad,
            "value_text": summarize(value) if self.values and value is not None else None,
            "grad_text": (summarize(grad) if grad is not None else "0") if self.grads and has_grad else None})


def _op_label(prim, params, names=None):
    text = prim.name
    shown = format_params(params, names or {}) if params else ""
    if shown and len(shown) <= 48:
        text += " " + shown
    elif shown:
        text += " [...]"
    return text


def _caller_names(frame, skip):
    """{id(tensor): variable name} from the caller's locals (then globals)."""
    found = {}
    while frame is not None and frame.f_code.co_filename == skip:
        frame = frame.f_back
    if frame is None:
        return found
    from ..nn.module import Module
    for scope in (frame.f_globals, frame.f_locals):
        for k, v in list(scope.items()):
            if k.startswith("_"):
                continue
            if isinstance(v, Tensor):
                found[id(v)] = k
            elif isinstance(v, Module):
                for name, p in list(v.named_parameters()) + list(v.named_buffers()):
                    found.setdefault(id(p), f"{k}.{name}")
    return found


# ---- the dynamic graph
def _dynamic(roots, values, grads, names, explicit, output_names):
    """``names``: {id: name} for leaves; ``explicit``: the names given by the caller (also for results)."""
    order, seen = [], set()
    for r in roots:
        stack = [(r, False)]
        while stack:
            t, expanded = stack.pop()
            if expanded:
                order.append(t)
                continue
            if id(t) in seen:
                continue
            seen.add(id(t))
            if t._node is FREED:
                raise RuntimeError("the graph of this tensor was freed by backward(); draw it before calling "
                                   "backward(), or call backward(retain_graph=True)")
            stack.append((t, True))
            if t._node is not None:
                for p in reversed(t._node[1]):
                    if id(p) not in seen:
                        stack.append((p, False))
    grad_of = {}
    if grads:
        targets = [t for t in order if t.requires_grad]
        outs = [r for r in roots if r.requires_grad]
        if outs and targets:
            from ..autograd.engine import grad as autograd_grad
            seeds = [Tensor.wrap(np.ones_like(r.array)) for r in outs]
            result = autograd_grad(outs, targets, grad_outputs=seeds, retain_graph=True, allow_unused=True)
            grad_of = {id(t): (g.array if g is not None else None) for t, g in zip(targets, result)}
    b = _Builder(values, grads)
    ids, labels = {}, {}
    count = 0
    for t in order:
        if t._node is None:
            name = names.get(id(t))
            if name is None:
                aval = summarize(t.array).split(" ")[0]
                if t.requires_grad:
                    ids[id(t)] = b.node("param", f"leaf {aval}")
                else:
                    ids[id(t)] = b.node("const", summarize(t.array) if t.array.size == 1 else f"const {aval}")
                labels[id(t)] = ""
            else:
                ids[id(t)] = b.node("param" if type(t).__name__ == "Parameter" else "input", name, name)
                labels[id(t)] = name
        else:
            count += 1
            prim, inputs, params = t._node[:3]
            h = explicit.get(id(t)) or f"h{count}"
            labels[id(t)] = h
            ids[id(t)] = b.node("op", _op_label(prim, params), h)
            for p in inputs:
                b.edge(ids[id(p)], ids[id(t)], labels[id(p)], p.array, grad_of.get(id(p)), p.requires_grad)
    for r, oname in zip(roots, output_names):
        out = b.node("output", oname, oname)
        b.edge(ids[id(r)], out, labels[id(r)], r.array, np.ones_like(r.array) if r.requires_grad else None,
               r.requires_grad)
    return b


# ---- the traced (static) graph
def _evaluate(graph, input_arrays, want_grads):
    from ..autograd.function import apply
    from .ir import map_params
    env = {}
    for v, a in zip(graph.inputs, input_arrays):
        t = Tensor.wrap(np.asarray(a))
        t.requires_grad = bool(want_grads and t.array.dtype.kind == "f")
        env[v] = t
    for v, a in graph.constants.items():
        if v in graph.externals:
            a = graph.externals[v].array
        env[v] = Tensor.wrap(np.asarray(a))
    for eq in graph.equations:
        if eq.out is None:
            continue
        params = map_params(eq.params, lambda v: env[v].array) if eq.param_vars else eq.params
        if isinstance(eq.prim, prims._NumpyOp) or not getattr(eq.prim, "differentiable", True):
            env[eq.out] = Tensor.wrap(prims.as_array(eq.prim.forward(*[env[v].array for v in eq.ins], **params)))
        else:
            env[eq.out] = apply(eq.prim, [env[v] for v in eq.ins], params)
    grad_of = {}
    if want_grads:
        outs = [env[v] for v in graph.outputs if env[v].requires_grad]
        targets = [(v, t) for v, t in env.items() if t.requires_grad]
        if outs and targets:
            from ..autograd.engine import grad as autograd_grad
            seeds = [Tensor.wrap(np.ones_like(o.array)) for o in outs]
            result = autograd_grad(outs, [t for _, t in targets], grad_outputs=seeds, allow_unused=True)
            grad_of = {v: (g.array if g is not None else None) for (v, _), g in zip(targets, result)}
    return env, grad_of


def _static(graph, input_arrays, values, grads, input_names, output_names, param_count=0):
    env, grad_of = ({}, {}) if input_arrays is None else _evaluate(graph, input_arrays, grads)
    has_values = input_arrays is not None
    graph_names = graph.names()
    b = _Builder(values and has_values, grads and has_values)
    ids, labels, differentiable = {}, {}, {}
    for i, v in enumerate(graph.inputs):
        name = input_names[i] if i < len(input_names) and input_names[i] else graph_names[v]
        ids[v] = b.node("param" if i < param_count else "input", f"{name}\n{v.aval}" if not has_values else name,
                        name)
        labels[v] = name
        differentiable[v] = v.dtype.kind == "f"
    count = 0

    def ensure_const(v):
        if v not in ids:
            a = graph.externals[v].array if v in graph.externals else graph.constants.get(v)
            text = summarize(a) if a is not None and np.asarray(a).size == 1 else f"const {v.aval}"
            ids[v] = b.node("const", text)
            labels[v] = ""
            differentiable[v] = False

    for eq in graph.equations:
        if eq.out is None:
            continue
        count += 1
        h = f"h{count}"
        numpy_level = isinstance(eq.prim, prims._NumpyOp)
        ids[eq.out] = b.node("numpy" if numpy_level else "op", _op_label(eq.prim, eq.params, graph_names), h)
        labels[eq.out] = h
        differentiable[eq.out] = not numpy_level and eq.out.dtype.kind == "f"
        for v in eq.uses:
            ensure_const(v)
            value = env[v].array if v in env else None
            b.edge(ids[v], ids[eq.out], labels[v], value, grad_of.get(v), differentiable[v])
    for v, oname in zip(graph.outputs, output_names):
        ensure_const(v)
        out = b.node("output", oname, oname)
        value = env[v].array if v in env else None
        b.edge(ids[v], out, labels[v], value, np.ones_like(value) if value is not None else None,
               differentiable[v])
    return b


def _signature_names(fn, count):
    try:
        params = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return params if len(params) == count else [f"arg{i}" for i in range(count)]


def draw(fn_or_tensor, *args, values=True, grads=True, path="graph.svg", names=None, output_names=None,
         title=""):
    """Draw a computational graph; see the module's notes. Returns a ``Drawing`` (``.dot`` is the DOT text,
    ``.path`` the file written). ``names``: {name: tensor} for the leaves of a dynamic graph;
    ``output_names``: names of the outputs (default ``f``, or ``f0``, ``f1``, ...)."""
    target = fn_or_tensor
    if isinstance(target, Tensor) or (isinstance(target, (tuple, list)) and target
                                      and all(isinstance(t, Tensor) for t in target)):
        if args:
            raise TypeError("draw(tensor): extra arguments are only for a function or a Graph")
        roots = [target] if isinstance(target, Tensor) else list(target)
        known = _caller_names(inspect.currentframe(), __file__)
        explicit = {id(t): n for n, t in (names or {}).items()}
        known.update(explicit)
        onames = output_names or (["f"] if len(roots) == 1 else [f"f{i}" for i in range(len(roots))])
        builder = _dynamic(roots, values, grads, known, explicit, onames)
    else:
        from ..nn.module import Module
        from .tracer import module_state, trace
        if isinstance(target, Graph):
            graph = target
            leaves = tree_flatten(tuple(args))[0] if args else None
            arrays = None if leaves is None else [t.array if isinstance(t, Tensor) else np.asarray(t) for t in leaves]
            if arrays is not None and len(arrays) != len(graph.inputs):
                raise ValueError(f"draw(graph, *args): the graph has {len(graph.inputs)} inputs, got {len(arrays)} "
                                 "values")
            in_names = list(graph.input_names)
            n_params = 0
        elif callable(target):
            graph = trace(target, *args)
            state = module_state(target) if isinstance(target, Module) else []
            leaves = [leaf for leaf in tree_flatten(tuple(args))[0] if isinstance(leaf, (Tensor, np.ndarray))]
            arrays = [t.array for _, t in state] + [t.array if isinstance(t, Tensor) else t for t in leaves]
            n_params = len(state)
            arg_names = _signature_names(target.forward if isinstance(target, Module) else target, len(leaves))
            if names:
                by_id = {id(t): n for n, t in names.items()}
                arg_names = [by_id.get(id(t), n) for t, n in zip(leaves, arg_names)]
            in_names = [n for n, _ in state] + arg_names
        else:
            raise TypeError(f"draw: expected a Tensor, a function or a Graph, got {type(target).__name__}")
        count = len(graph.outputs)
        onames = output_names or (["f"] if count == 1 else [f"f{i}" for i in range(count)])
        builder = _static(graph, arrays, values, grads, in_names, onames, n_params)
    drawing = Drawing(builder.nodes, builder.edges, title)
    if path is not None:
        drawing.save(path)
    return drawing
