"""Optimisation passes on the static graph: each takes a ``Graph`` and returns a new one.

* ``dce``              dead-code elimination: drop equations whose result is never used;
* ``cse``              common-subexpression elimination: one equation for each (primitive, parameters,
                       inputs), equal small constants merged;
* ``fold_constants``   evaluate equations whose inputs are all constants (not "externals", which are read
                       by reference at each call);
* ``simplify``         algebraic rewrites: x·1, 1·x, x+0, 0+x, x−0, x/1, identity, reshape of reshape,
                       reshape to the same shape, permute of permute (composed; the identity removed), and
                       (a @ b)ᵀ → bᵀ @ aᵀ so that weight gradients come out contiguous;
* ``fuse_elementwise`` chains of elementwise equations become one ``fused`` equation run as one step that
                       writes into reused buffers (``out=``) instead of allocating temporaries;
* ``plan_memory``      liveness analysis: each buffer is released after its last use and buffers of dead
                       values are reused for the outputs of later elementwise steps (same shape and dtype);
                       it attaches a ``MemoryPlan`` (``graph.plan``) with the planned peak and the naive sum.

``optimize`` runs them in order. Equations with effects (guards, random draws) are never removed,
merged or folded.
"""
from .. import backend
from ..autograd.function import Primitive
from ..ops import binary, linalg, shape, unary
from . import kernels, prims
from .ir import Equation, Var, map_params, param_key

np = backend.numpy


def _resolver(mapping):
    def resolve(v):
        while v in mapping:
            v = mapping[v]
        return v
    return resolve


def _substitute_eq(eq, resolve):
    if not any(resolve(v) is not v for v in eq.uses):
        return eq
    changes = {"ins": [resolve(v) for v in eq.ins]}
    if eq.param_vars:
        changes["param_vars"] = [resolve(v) for v in eq.param_vars]
        changes["params"] = map_params(eq.params, resolve)
    info = dict(eq.info)
    if info.get("alias") is not None:
        info["alias"] = resolve(info["alias"])
    changes["info"] = info
    return eq.replace(**changes)


def _finish(graph, equations, mapping):
    resolve = _resolver(mapping)
    return graph.replace(equations=equations, outputs=[resolve(v) for v in graph.outputs],
                         updates=[(a, resolve(b)) for a, b in graph.updates])


# ---------------------------------------------------------------- dead code
def dce(graph):
    """Remove equations whose outputs nobody reads (effects stay), and unused constants."""
    live = set(graph.outputs) | {v for _, v in graph.updates}
    keep = []
    for eq in reversed(graph.equations):
        if eq.effect or (eq.out is not None and eq.out in live):
            keep.append(eq)
            live.update(eq.uses)
    keep.reverse()
    return graph.replace(equations=keep, constants={v: a for v, a in graph.constants.items() if v in live},
                         externals={v: t for v, t in graph.externals.items() if v in live})


# ---------------------------------------------------------------- common subexpressions
def _prim_key(prim):
    return getattr(prim, "cse_key", prim)


def cse(graph):
    """Merge equations with the same primitive, parameters and inputs, and equal small constants."""
    mapping, seen_const = {}, {}
    for v, a in graph.constants.items():
        if v in graph.externals or not isinstance(a, np.ndarray) or a.size > 64:
            continue
        key = (a.dtype.str, a.shape, a.tobytes())
        if key in seen_const:
            mapping[v] = seen_const[key]
        else:
            seen_const[key] = v
    resolve = _resolver(mapping)
    seen, equations = {}, []
    for eq in graph.equations:
        eq = _substitute_eq(eq, resolve)
        if eq.effect or eq.out is None:
            equations.append(eq)
            continue
        try:
            key = (_prim_key(eq.prim), param_key(eq.params), tuple(v.count for v in eq.uses))
            hash(key)
        except TypeError:
            equations.append(eq)
            continue
        previous = seen.get(key)
        if previous is not None and previous.shape == eq.out.shape and previous.dtype == eq.out.dtype:
            mapping[eq.out] = previous
            continue
        seen[key] = eq.out
        equations.append(eq)
    return dce(_finish(graph, equations, mapping))


# ---------------------------------------------------------------- constant folding
def fold_constants(graph):
    """Evaluate every equation whose inputs are all (foldable) constants; its result becomes a constant.
    A guard on constants is checked once here and dropped."""
    constants = dict(graph.constants)
    foldable = {v for v in constants if v not in graph.externals}
    equations = []
    for eq in graph.equations:
        uses = eq.uses
        if uses and all(u in foldable for u in uses) and (not eq.effect or eq.prim is prims.guard):
            params = map_params(eq.params, constants.__getitem__) if eq.param_vars else eq.params
            try:
                value = eq.prim.forward(*[constants[v] for v in eq.ins], **params)
            except prims.GuardFailure:
                equations.append(eq)
                continue
            if eq.out is not None:
                value = prims.as_array(value)
                if isinstance(value, np.ndarray) and value.shape == eq.out.shape and value.dtype == eq.out.dtype:
                    constants[eq.out] = value
                    foldable.add(eq.out)
                    continue
                equations.append(eq)
            continue
        equations.append(eq)
    return dce(graph.replace(equations=equations, constants=constants))


# ---------------------------------------------------------------- algebraic rewrites
def _constant_equal(graph, v, value):
    """Is ``v`` an internal constant with every element equal to ``value``?"""
    a = graph.constants.get(v)
    if a is None or v in graph.externals or not isinstance(a, np.ndarray) or a.dtype.kind not in "fiub":
        return False
    return a.size > 0 and bool(np.all(a == value))


def _passes_through(x, out):
    return x.shape == out.shape and x.dtype == out.dtype


def _rewrite(eq, graph, producers):
    """A Var that ``eq.out`` equals, a replacement Equation, or None."""
    cls = type(eq.prim)
    if eq.out is None or eq.effect:
        return None
    ins = eq.ins
    if cls is unary.Identity and _passes_through(ins[0], eq.out):
        return ins[0]
    if cls is binary.Mul:
        for x, c in ((ins[0], ins[1]), (ins[1], ins[0])):
            if _constant_equal(graph, c, 1) and _passes_through(x, eq.out):
                return x
    if cls is binary.Add:
        for x, c in ((ins[0], ins[1]), (ins[1], ins[0])):
            if _constant_equal(graph, c, 0) and _passes_through(x, eq.out):
                return x
    if cls is binary.Sub and _constant_equal(graph, ins[1], 0) and _passes_through(ins[0], eq.out):
        return ins[0]
    if cls is binary.Div and _constant_equal(graph, ins[1], 1) and _passes_through(ins[0], eq.out):
        return ins[0]
    if cls is shape.Reshape:
        x = ins[0]
        if x.shape == eq.out.shape:
            return x
        inner = producers.get(x)
        if inner is not None and type(inner.prim) is shape.Reshape:
            if inner.ins[0].shape == eq.out.shape:
                return inner.ins[0]
            return eq.replace(ins=[inner.ins[0]], info=dict(eq.info, alias=inner.ins[0]))
    if cls is shape.Permute:
        perm = tuple(eq.params["perm"])
        if perm == tuple(range(len(perm))):
            return ins[0]
        inner = producers.get(ins[0])
        if inner is not None and type(inner.prim) is shape.Permute:
            first = tuple(inner.params["perm"])
            composed = tuple(first[p] for p in perm)
            if composed == tuple(range(len(composed))):
                return inner.ins[0]
            return eq.replace(ins=[inner.ins[0]], params=dict(eq.params, perm=composed),
                              info=dict(eq.info, alias=inner.ins[0]))
    return None


def _view_eq(prim, params, x, shape_):
    return Equation(prim, params, [x], Var(shape_, x.dtype), (), {"alias": x, "fresh": False, "storage": 0,
                                                                  "scalar": False, "c_contiguous": False})


def _transpose_of_matmul(eq, producers, uses):
    """(a @ b)ᵀ for 2-D a, b whose product is read only here: bᵀ @ aᵀ, computed directly in the transposed
    layout (the weight gradient of ``x @ w.T`` comes out contiguous instead of as a transposed view)."""
    if type(eq.prim) is not shape.Permute or tuple(eq.params["perm"]) != (1, 0):
        return None
    inner = producers.get(eq.ins[0])
    if (inner is None or type(inner.prim) is not linalg.Matmul or uses.get(eq.ins[0], 0) != 1
            or any(len(v.shape) != 2 for v in inner.ins)):
        return None
    a, b = inner.ins
    bt = _view_eq(shape._permute, {"perm": (1, 0)}, b, (b.shape[1], b.shape[0]))
    at = _view_eq(shape._permute, {"perm": (1, 0)}, a, (a.shape[1], a.shape[0]))
    return [bt, at, Equation(inner.prim, inner.params, [bt.out, at.out], eq.out, (),
                             {"alias": None, "fresh": True, "storage": eq.out.nbytes, "scalar": False,
                              "c_contiguous": True})]


def simplify(graph, layout=True):
    """Algebraic rewrites (see the module docstring); the removed equations' users read the operand.
    With ``layout``, also (a @ b)ᵀ → bᵀ @ aᵀ for a product read only by the transpose (the result of
    the matrix product is then not bit-identical: the sums run in another order)."""
    mapping, producers, equations = {}, {}, []
    resolve = _resolver(mapping)
    uses = graph.use_counts() if layout else {}
    work = list(reversed(graph.equations))
    while work:
        eq = _substitute_eq(work.pop(), resolve)
        result = _rewrite(eq, graph, producers)
        if result is None and layout:
            result = _transpose_of_matmul(eq, producers, uses)
        if isinstance(result, list):              # new equations: simplify them in turn
            work.extend(reversed(result))
            continue
        if isinstance(result, Equation):           # a rewritten equation may simplify further
            work.append(result)
            continue
        if isinstance(result, Var):
            mapping[eq.out] = result
            continue
        equations.append(eq)
        if eq.out is not None:
            producers[eq.out] = eq
    return dce(_finish(graph, equations, mapping))


# ---------------------------------------------------------------- fusion
def layout_safe(graph):
    """{Var: True when it is C-contiguous or at most 1-D}. A ufunc allocates its result in the memory
    order of its operands; writing it into a reused (C-ordered) buffer instead keeps the values but
    may change the layout, and with it the summation order of a later matrix product. So results are
    written into reused buffers only when every operand is layout-safe: then the eager result would
    be C-ordered too, and compiled results stay bit-identical. (Inputs are taken to be C-ordered.)"""
    safe = {v: True for v in graph.inputs}
    for v, a in graph.constants.items():
        safe[v] = getattr(a, "ndim", 0) <= 1 or bool(a.flags.c_contiguous)
    for eq in graph.equations:
        if eq.out is not None:
            safe[eq.out] = len(eq.out.shape) <= 1 or bool(eq.info.get("c_contiguous", True))
    return safe


class Fused(Primitive):
    """Several elementwise equations run as one step. ``equations`` are the originals (in order),
    ``inputs`` the variables they read from outside, ``steps`` the ufunc calls (``kernels.Step``) with
    operand refs into the inputs and earlier steps; the last step's result is the output."""
    differentiable = False

    def __init__(self, equations, inputs, steps, inplace=True):
        self.equations, self.inputs, self.steps, self.inplace = equations, inputs, steps, inplace
        self._kernel = None

    @property
    def name(self):
        return "fused"

    def forward(self, *arrays, **params):
        if self._kernel is None:
            from .executor import compile_kernel
            self._kernel = compile_kernel(self.steps, len(self.inputs), inplace=self.inplace)
        return self._kernel(*arrays)

    def vjp(self, *args, **kwargs):
        raise TypeError("a fused equation is not differentiated: differentiate the unfused graph")

    jvp = vjp


def build_steps(members, inputs):
    """The steps computing a group of elementwise equations (in program order) from ``inputs``.
    ``kernels.steps_of`` numbers a step's references to the steps of the same equation relatively
    (negative); references to earlier members' results are absolute step indices."""
    index = {v: i for i, v in enumerate(inputs)}
    result_of, steps = {}, []
    for eq in members:
        refs = [kernels.Ref("tmp", result_of[v]) if v in result_of else kernels.Ref("in", index[v]) for v in eq.ins]
        for s in kernels.steps_of(eq, refs):
            here = len(steps)
            s.operands = [kernels.Ref("tmp", here + o.value) if o.kind == "tmp" and o.value < 0 else o
                          for o in s.operands]
            steps.append(s)
        result_of[eq.out] = len(steps) - 1
    return kernels.infer(steps, [(v.shape, v.dtype) for v in inputs])


def fuse_elementwise(graph, min_size=2):
    """Merge elementwise equations into groups: a group whose result is read only by the equations of
    one other group joins it (repeated until nothing changes), so chains and trees of elementwise
    operations become single ``fused`` equations, placed where their last member was."""
    eqs = graph.equations
    layout = layout_safe(graph)
    position = {id(eq): i for i, eq in enumerate(eqs)}
    escapes = set(graph.outputs) | {b for _, b in graph.updates}
    users = {}
    for eq in eqs:
        for v in dict.fromkeys(eq.uses):
            users.setdefault(v, []).append(eq)
    group, members, result = {}, {}, {}
    for eq in eqs:
        if kernels.is_elementwise(eq):
            group[id(eq)] = id(eq)
            members[id(eq)] = [eq]
            result[id(eq)] = eq.out
    changed = True
    while changed:
        changed = False
        for gid in list(members):
            if gid not in members:
                continue
            out = result[gid]
            readers = users.get(out)
            if out in escapes or not readers:
                continue
            targets = {group.get(id(u)) for u in readers}
            if len(targets) != 1:
                continue
            target = targets.pop()
            if target is None or target == gid:
                continue
            members[target] = members.pop(gid) + members[target]
            for m in members[target]:
                group[id(m)] = target
            del result[gid]
            changed = True
    fused_at, removed = {}, set()
    for gid, group_members in members.items():
        if len(group_members) < min_size:
            continue
        group_members = sorted(group_members, key=lambda m: position[id(m)])
        produced = {m.out for m in group_members}
        inputs = list(dict.fromkeys(v for m in group_members for v in m.ins if v not in produced))
        last = group_members[-1]
        assert last.out is result[gid]
        safe = all(layout[v] for v in inputs)
        prim = Fused(group_members, inputs, build_steps(group_members, inputs), inplace=safe)
        fused_at[id(last)] = Equation(prim, {"ops": tuple(m.name for m in group_members)}, inputs, last.out, (),
                                      {"alias": None, "fresh": True, "storage": last.out.nbytes, "scalar": False,
                                       "c_contiguous": safe or len(last.out.shape) <= 1})
        removed.update(id(m) for m in group_members[:-1])
    equations = [fused_at.get(id(eq), eq) for eq in eqs if id(eq) not in removed]
    return graph.replace(equations=equations)


# ---------------------------------------------------------------- memory plan
class MemoryPlan:
    """What the executor frees and reuses. ``free_after[i]``: the variables to release after equation
    i; ``donor[i]``: a dead variable whose buffer equation i writes its result into (``out=``);
    ``donate_update[i]``: an input (state) variable whose array equation i writes into directly, so that
    its update needs no copy; ``scratch[i]``: inputs of fused equation i that die there, whose buffers its
    intermediate steps may write into; ``inplace``: the equations whose steps may write into buffers they
    own (see ``layout_safe``). ``naive_bytes`` is the sum of every intermediate buffer (nothing freed),
    ``peak_bytes`` the planned peak of live intermediate buffers (inputs and constants not counted),
    ``peak_without_reuse`` the peak with freeing alone."""

    def __init__(self):
        self.free_after, self.donor, self.donate_update, self.scratch = [], {}, {}, {}
        self.inplace = set()
        self.naive_bytes = self.peak_bytes = self.peak_without_reuse = 0
        self.reused_buffers = 0

    def summary(self):
        return {"naive_bytes": self.naive_bytes, "planned_peak_bytes": self.peak_bytes,
                "peak_without_reuse_bytes": self.peak_without_reuse, "reused_buffers": self.reused_buffers,
                "donated_updates": len(self.donate_update)}

    def __repr__(self):
        return (f"MemoryPlan(naive {self.naive_bytes / 2**20:.2f} MiB, planned peak {self.peak_bytes / 2**20:.2f} MiB, "
                f"{self.reused_buffers} buffers reused, {len(self.donate_update)} updates in place)")


def _final_step_out(eq, layout=None):
    """Can ``eq`` write its result into a given buffer? (Its last ufunc step accepts ``out=``, and its
    operands are layout-safe.)"""
    if layout is not None and not all(layout.get(v, True) for v in eq.ins):
        return False
    if isinstance(eq.prim, Fused):
        return bool(eq.prim.steps[-1].out)
    if eq.info.get("scalar"):
        return False
    steps = kernels.steps_of(eq, [kernels.Ref("in", i) for i in range(len(eq.ins))])
    return bool(steps) and bool(steps[-1].out)


def plan_memory(graph, reuse=True, window=16):
    """Liveness analysis and buffer reuse; returns the graph with ``graph.plan`` set."""
    eqs = graph.equations
    n = len(eqs)
    layout = layout_safe(graph)
    end = n                                          # "alive until the end" (outputs, update values)
    root, alloc, producer_index = {}, {}, {}
    for v in list(graph.inputs) + list(graph.constants):
        root[v] = v
    for i, eq in enumerate(eqs):
        if eq.out is None:
            continue
        producer_index[eq.out] = i
        alias = eq.info.get("alias")
        if alias is not None and alias in root:
            root[eq.out] = root[alias]
        else:
            root[eq.out] = eq.out
            alloc[eq.out] = eq.info.get("storage", eq.out.nbytes)
    last = {}
    for i, eq in enumerate(eqs):
        for v in eq.uses:
            last[v] = i
    for v in graph.outputs:
        last[v] = end
    for _, v in graph.updates:
        last[v] = end
    last_root = {}
    for v, r in root.items():
        t = max(last.get(v, producer_index.get(v, -1)), producer_index.get(v, -1))
        last_root[r] = max(last_root.get(r, -1), t)
    members = {}
    for v, r in root.items():
        members.setdefault(r, []).append(v)

    plan = MemoryPlan()
    plan.free_after = [[] for _ in range(n)]
    keep = set(graph.outputs) | {v for _, v in graph.updates} | set(graph.inputs) | set(graph.constants)
    for v, t in last.items():
        if 0 <= t < n and v not in keep and v in producer_index:
            plan.free_after[t].append(v)
    plan.naive_bytes = sum(alloc.values())

    input_set = set(graph.inputs)
    outputs_set = set(graph.outputs)
    donor, donate = {}, {}
    if reuse:
        # state updates written straight into the state's array
        update_of = {b: a for a, b in graph.updates}
        for i, eq in enumerate(eqs):
            target = update_of.get(eq.out)
            if target is None or target not in input_set or not _final_step_out(eq, layout):
                continue
            if (target.shape != eq.out.shape or target.dtype != eq.out.dtype or eq.out in outputs_set
                    or target in outputs_set):
                continue
            if last_root[target] > i or any(last.get(m, -1) >= i for m in members[target] if m is not target):
                continue
            if sum(1 for a, b in graph.updates if b is eq.out) != 1:
                continue
            donate[i] = target
        # dead buffers reused by later elementwise outputs of the same shape and dtype
        pool = {}                                   # (shape, dtype) -> [(freed at, root)]
        donor_roots = {}
        freed_at = {}
        for r, t in last_root.items():
            freed_at.setdefault(t, []).append(r)
        eligible = {}
        for r in alloc:
            eq = eqs[producer_index[r]]
            if eq.info.get("fresh") and r not in keep and last_root[r] < n and not eq.info.get("scalar"):
                eligible[r] = eq
        for i, eq in enumerate(eqs):
            if eq.out is not None and i not in donate and _final_step_out(eq, layout) and eq.out not in outputs_set:
                key = (eq.out.shape, eq.out.dtype)
                candidates = pool.get(key)
                choice = None
                # a buffer that dies at this very equation (an input read elementwise): only if nothing views it
                for r in dict.fromkeys(eq.ins):
                    rr = root.get(r)
                    if (rr is r and rr in eligible and last_root[rr] == i and len(members[rr]) == 1
                            and (r.shape, r.dtype) == key and rr not in donor_roots):
                        choice = rr
                        break
                if choice is None and candidates:
                    while candidates and candidates[-1][0] < i - window:
                        candidates.pop()
                    if candidates:
                        choice = candidates.pop()[1]
                if choice is not None:
                    donor[i] = choice
                    donor_roots[choice] = i
                    # the result lives in the donor's buffer from now on
            for r in freed_at.get(i, ()):
                if r in eligible and r not in donor_roots:
                    pool.setdefault((r.shape, r.dtype), []).append((i, r))
        # a donor is released after the equation that takes its buffer over (not at its own last use)
        for i, r in donor.items():
            for lst in plan.free_after:
                if r in lst:
                    lst.remove(r)
            plan.free_after[i].append(r)
        # inputs of a fused step that die there: its intermediate steps may write into them
        for i, eq in enumerate(eqs):
            if not isinstance(eq.prim, Fused) or not eq.prim.inplace:
                continue
            dying = [v for v in dict.fromkeys(eq.ins) if root.get(v) is v and v in eligible and last_root[v] == i
                     and len(members[v]) == 1 and donor.get(i) is not v and v not in donor_roots]
            if dying:
                plan.scratch[i] = dying
    plan.donor, plan.donate_update = donor, donate
    plan.inplace = {i for i, eq in enumerate(eqs) if all(layout.get(v, True) for v in eq.ins)}
    plan.reused_buffers = len(donor)

    # peak simulation: a buffer is allocated by the equation that first produces it and released after
    # the last use of every value it holds (a value, its views, and the values later written into it)
    def peak(with_reuse):
        buffer = {r: r for r in alloc}
        if with_reuse:
            for i in sorted(donor):
                buffer[eqs[i].out] = buffer[donor[i]]
            for i in donate:
                buffer[eqs[i].out] = None
        end_of = {}
        for r, b in buffer.items():
            if b is not None:
                end_of[b] = max(end_of.get(b, -1), last_root.get(r, -1))
        frees = {}
        for b, t in end_of.items():
            frees.setdefault(t, []).append(b)
        live = top = 0
        for i, eq in enumerate(eqs):
            if eq.out is not None and buffer.get(eq.out) is eq.out:
                live += alloc[eq.out]
            top = max(top, live)
            for b in frees.get(i, ()):
                live -= alloc[b]
        return top
    plan.peak_without_reuse = peak(False)
    plan.peak_bytes = peak(True)
    out = graph.replace()
    out.plan = plan
    return out


# ---------------------------------------------------------------- the pipeline
def optimize(graph, fuse=True, memory=True, reuse=True):
    """dce → fold_constants → simplify → cse (twice) → fuse_elementwise → plan_memory."""
    g = dce(graph)
    for _ in range(2):
        g = fold_constants(g)
        g = simplify(g)
        g = cse(g)
    if fuse:
        g = fuse_elementwise(g)
    if memory:
        g = plan_memory(g, reuse=reuse)
    return g
