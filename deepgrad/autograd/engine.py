"""Reverse mode on the dynamic graph (seed eqs. 3.2, 3.5): walk the recorded primitives from the
outputs back to the inputs, applying each VJP rule and summing the cotangents that reach a tensor
along several paths. The walk is iterative, so graphs of any depth work."""
import weakref

from ..backend import memory_owner, writeable, xp_of
from . import function
from .tensor import FREED, Tensor


_hooks = {}                 # id(tensor) -> (weak reference to it, {handle id: hook})
_post_hooks = {}            # the same for hooks called after a leaf's .grad has accumulated (hook(leaf))
_anomaly = [False]          # detect_anomaly: check every gradient a VJP returns for NaN


class RemovableHandle:
    """What ``register_hook`` returns: ``remove()`` (or leaving a ``with`` block) takes the hook off."""
    _next = [0]

    def __init__(self, hooks):
        self._hooks = hooks
        self.id = RemovableHandle._next[0] = RemovableHandle._next[0] + 1

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _add_hook(table, t, hook, name):
    if not callable(hook):
        raise TypeError(f"{name}: expected a callable, got {type(hook).__name__}")
    key = id(t)
    if key not in table:
        table[key] = (weakref.ref(t, lambda _, key=key: table.pop(key, None)), {})
    handle = RemovableHandle(table[key][1])
    handle._hooks[handle.id] = hook
    return handle


def register_hook(t, hook):
    """Call ``hook(grad)`` whenever ``t``'s gradient has been computed (see ``Tensor.register_hook``)."""
    return _add_hook(_hooks, t, hook, "register_hook")


def register_post_accumulate_grad_hook(t, hook):
    """Call ``hook(t)`` once a backward pass has accumulated all of leaf ``t``'s gradient into ``t.grad``
    (see ``Tensor.register_post_accumulate_grad_hook``)."""
    return _add_hook(_post_hooks, t, hook, "register_post_accumulate_grad_hook")


def _hooked(t, table=_hooks):
    entry = table.get(id(t)) if table else None
    return entry is not None and entry[0]() is t and bool(entry[1])


def _last_uses(order):
    """{k: the leaves with post-accumulate hooks (and no gradient hooks) whose last use in the reverse
    pass is by ``order[k]``}: their ``.grad`` is complete once ``order[k]`` has been processed."""
    last = {}
    for k, t in enumerate(order):
        if t._node is not FREED:
            for p in parents_of(t._node):
                if p._node is None and _hooked(p, _post_hooks) and not _hooked(p):
                    last[id(p)] = (k, p)
    due = {}
    for k, p in last.values():
        due.setdefault(k, []).append(p)
    return due


def _run_post_hooks(leaves, received):
    for p in leaves:
        if id(p) in received:
            for hook in list(_post_hooks[id(p)][1].values()):
                hook(p)


def _run_hooks(t, g):
    for hook in list(_hooks[id(t)][1].values()):
        result = hook(g)
        if result is not None:
            if not isinstance(result, Tensor) or result.shape != t.shape:
                raise RuntimeError(f"a hook returned {result!r} for a gradient of shape {tuple(t.shape)}; a hook must "
                                   "return None or a tensor of the gradient's shape")
            g = result
    return g


class set_detect_anomaly:
    """``torch.autograd.set_detect_anomaly(mode)``: while on, a backward pass raises at the first operation
    whose VJP returns NaN, naming it. Switches at once; as ``with`` only for the block."""

    def __init__(self, mode, check_nan=True):
        self.previous, _anomaly[0] = _anomaly[0], bool(mode) and bool(check_nan)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _anomaly[0] = self.previous


def detect_anomaly(check_nan=True):
    """``with deepgrad.autograd.detect_anomaly():``, anomaly detection for the block."""
    return set_detect_anomaly(True, check_nan)


def is_anomaly_enabled():
    return _anomaly[0]


def _check_nan(prim, i, g):
    if xp_of(g.array).isnan(g.array).any():
        raise RuntimeError(f"Function '{prim.name}' returned nan values in its gradient for input {i} "
                           "(anomaly detection)")


def _check_not_freed(t):
    if t._node is FREED:
        raise RuntimeError("Trying to backward through the graph a second time (or to use values it "
                           "saved after they were freed). Pass retain_graph=True to the first backward "
                           "if you need to backward through the graph again.")


def parents_of(node):
    """The inputs of a recorded ``node`` as they were when it ran: an input that a recorded in-place
    operation changed since is stood in for by the tensor that kept its old value and history."""
    inputs = node[1]
    versions = node[3] or (0,) * (len(inputs) + 1)
    for x, v in zip(inputs, versions[1:]):
        if x._version != v:
            return tuple(_at(x, v) for x, v in zip(inputs, versions[1:]))
    return inputs


def _at(x, version):
    while x._version != version and x._older is not None:
        x = x._older
    return x


def _check_versions(t, prim, parents, versions):
    """Refuse to differentiate ``prim`` when a value its VJP reads (its result or an input) was modified
    in place after it ran: the VJP would read the new values (PyTorch's version-counter check)."""
    for i, (x, seen) in enumerate(zip((t,) + tuple(parents), versions or (0,) * (len(parents) + 1))):
        if x._version != seen and (prim.saved is None or ("out" if i == 0 else i - 1) in prim.saved):
            what = "its result" if i == 0 else f"its input {i - 1}"
            raise RuntimeError(
                f"a tensor needed to compute the gradient of {prim.name} was modified by an in-place operation: "
                f"{what} (shape {tuple(x.shape)}, dtype {x.dtype}) is at version {x._version}; expected version "
                f"{seen}. Clone it before modifying it (x = x.clone()), or modify it before it is used.")


def toposort(roots):
    """Tensors with a recorded node reachable from ``roots``, each after all tensors it feeds
    (outputs first). Iterative depth-first search: no recursion limit on deep graphs. A freed node
    is listed but not expanded; it is an error only if a gradient must flow through it."""
    post, visited = [], set()
    stack = []
    for r in roots:
        _check_not_freed(r)
        if r._node is not None:
            stack.append((r, False))
    while stack:
        t, expanded = stack.pop()
        if expanded:
            post.append(t)
            continue
        if id(t) in visited:
            continue
        visited.add(id(t))
        stack.append((t, True))
        if t._node is FREED:
            continue
        for p in parents_of(t._node) if function._writes[0] else t._node[1]:
            if p.requires_grad and p._node is not None and id(p) not in visited:
                stack.append((p, False))
    post.reverse()
    return post


def _through(order, targets):
    """The ids of tensors in ``order`` whose node leads to one of ``targets``: only their VJPs are needed."""
    target_ids = {id(t) for t in targets}
    reaches = set(target_ids)
    through = set()
    for t in reversed(order):
        if t._node is not FREED and any(id(p) in reaches for p in parents_of(t._node)):
            through.add(id(t))
            reaches.add(id(t))
    return through


def run_backward(roots, root_grads, inputs=None, retain_graph=False, create_graph=False):
    """Propagate ``root_grads`` from ``roots``. With ``inputs`` None, accumulate into the ``.grad`` of
    leaves (and of tensors marked ``retain_grad``); otherwise return the gradients of ``inputs``
    (None where unreached) without touching any ``.grad``."""
    order = toposort(roots)
    capture = None if inputs is None else {id(t): None for t in inputs}
    through = None if inputs is None else _through(order, inputs)
    grads = {}
    for r, g in zip(roots, root_grads):
        prev = grads.get(id(r))
        grads[id(r)] = g if prev is None else prev + g
    stored = {id(memory_owner(g.array)) for g in root_grads}   # memory the caller holds: never alias it in .grad
    post = capture is None and bool(_post_hooks)     # post-accumulate hooks: only when .grad accumulates
    for r in roots:
        if r._node is None and id(r) in grads:
            g = grads.pop(id(r))
            _deliver(r, _run_hooks(r, g) if _hooked(r) else g, capture, create_graph, stored)
            if post and _hooked(r, _post_hooks):
                _run_post_hooks([r], {id(r)})
    hooked_leaves, received = {}, set()
    due = _last_uses(order) if post else {}
    previous = function._set_grad_mode(create_graph)
    try:
        for k, t in enumerate(order):
            if due:
                _run_post_hooks(due.pop(k - 1, ()), received)
            g = grads.pop(id(t), None)
            if g is None:
                continue
            if _hooks and _hooked(t):
                g = _run_hooks(t, g)
            if t._retain or capture is not None and id(t) in capture:
                _deliver(t, g, capture, create_graph, stored)
            if through is not None and id(t) not in through:
                continue
            _check_not_freed(t)
            prim, parents, params, versions = t._node
            if function._writes[0]:
                parents = parents_of(t._node)
                _check_versions(t, prim, parents, versions)
            for i, (p, pg) in enumerate(zip(parents, prim.vjp(g, t, *parents, **params))):
                if pg is None or not p.requires_grad:
                    continue
                if _anomaly[0]:
                    _check_nan(prim, i, pg)
                if pg.array.shape != p.array.shape:
                    raise RuntimeError(f"internal error: the VJP of {prim.name} gave a gradient of shape "
                                       f"{pg.array.shape} for an input of shape {p.array.shape}")
                if pg.array.dtype != p.array.dtype:
                    pg = pg.astype(p.array.dtype)
                if p._node is None and not (_hooks and _hooked(p)):
                    _deliver(p, pg, capture, create_graph, stored)
                    received.add(id(p))
                elif p._node is None:     # a hooked leaf: its hooks see the total gradient, once
                    prev = hooked_leaves.get(id(p), (p, None))[1]
                    hooked_leaves[id(p)] = (p, pg if prev is None else prev + pg)
                else:
                    prev = grads.get(id(p))
                    grads[id(p)] = pg if prev is None else prev + pg
            if not retain_graph:
                t._node = FREED
        if due:
            _run_post_hooks(due.pop(len(order) - 1, ()), received)
        for p, g in hooked_leaves.values():
            _deliver(p, _run_hooks(p, g), capture, create_graph, stored)
            if post and _hooked(p, _post_hooks):
                _run_post_hooks([p], {id(p)})
    finally:
        function._set_grad_mode(previous)
    if capture is not None:
        return [capture[id(t)] for t in inputs]


def _deliver(t, g, capture, create_graph, stored):
    """Hand gradient ``g`` to ``t``: into the capture table, or accumulated into ``t.grad``.
    A stored ``.grad`` never shares memory with another one (``stored`` holds the owners of the
    arrays handed out in this pass) and is writable, so in-place updates of one cannot touch another."""
    if capture is not None:
        if id(t) in capture:
            prev = capture[id(t)]
            capture[id(t)] = g if prev is None else prev + g
        return
    if create_graph:
        t.grad = g if t.grad is None else t.grad + g
        return
    data = g.array
    if t.grad is None:
        owner = memory_owner(data)
        if not writeable(data) or id(owner) in stored:
            data = owner = data.copy()
        stored.add(id(owner))
        t.grad = Tensor.wrap(data)
    elif t.grad.requires_grad:
        t.grad = (t.grad + g).detach()
    elif t.grad.array.base is None and writeable(t.grad.array):
        t.grad.array += data
    else:
        t.grad = Tensor.wrap(t.grad.array + data)


def backward(tensor, gradient=None, retain_graph=False, create_graph=False, inputs=None):
    """``tensor.backward(...)``, PyTorch semantics: ``gradient`` is required for non-scalars."""
    if not tensor.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad and has no grad_fn: "
                           "no input of the computation had requires_grad=True")
    gradient = _seed(tensor, gradient, "gradient")
    retain_graph = retain_graph or create_graph
    if inputs is None:
        run_backward([tensor], [gradient], None, retain_graph, create_graph)
        return
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    for t, g in zip(inputs, run_backward([tensor], [gradient], inputs, retain_graph, create_graph)):
        if g is not None:
            _deliver(t, g, None, create_graph, {id(memory_owner(gradient.array))})


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs`` (like ``torch.autograd.grad``), returned as
    a tuple; no ``.grad`` is touched. ``inputs`` may be non-leaf tensors."""
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs)
    grad_outputs = [_seed(o, g, "grad_outputs") for o, g in zip(outputs, grad_outputs)]
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"input {i} of grad() does not require grad")
    for i, o in enumerate(outputs):
        if not o.requires_grad:
            raise RuntimeError(f"output {i} of grad() does not require grad")
    retain_graph = create_graph if retain_graph is None else retain_graph
    result = run_backward(outputs, grad_outputs, inputs, retain_graph, create_graph)
    for i, g in enumerate(result):
        if g is None and not allow_unused:
            raise RuntimeError(f"input {i} of grad() was not used in the graph of the outputs; "
                               "pass allow_unused=True to get None for it")
    return tuple(result)


def _seed(tensor, gradient, argname):
    if gradient is None:
        if tensor.array.size != 1:
            raise RuntimeError(f"grad can be implicitly created only for scalar outputs; the output has "
                               f"shape {tensor.shape}, so pass {argname}= a tensor of that shape")
        return Tensor.wrap(xp_of(tensor.array).ones_like(tensor.array))
    gradient = gradient if isinstance(gradient, Tensor) else Tensor(gradient, dtype=tensor.dtype)
    if gradient.shape != tensor.shape:
        raise RuntimeError(f"{argname} has shape {gradient.shape} but the output has shape {tensor.shape}")
    return gradient

