"""Function transforms with JAX's names and semantics: ``grad``, ``value_and_grad``, ``vjp``,
``jvp``, ``jacfwd``, ``jacrev``, ``hessian``. They take and return Tensors (or nests of them) and
compose: ``grad(grad(f))``, ``jacfwd(jacrev(f))``.

Reverse mode (seed eq. 3.5) runs the dynamic-graph engine from the outputs; forward mode (eq. 3.4)
opens a new tangent level and pushes tangents through each primitive's JVP rule in one pass."""
from . import backend
from .autograd import engine, function
from .autograd.tensor import Tensor
from .ops import identity, stack, zeros
from .pytree import tree_flatten, tree_unflatten


def _as_float_tensor(x, what):
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if not backend.is_floating(x.dtype):
        raise TypeError(f"{what} must be floating-point tensors, got dtype {x.dtype}")
    return x


def _track(x):
    """A fresh tensor for ``x`` that this transform differentiates with respect to; it stays linked to
    any outer graph and keeps outer tangents, so transforms nest."""
    t = identity(x)
    if not t.requires_grad:
        t.requires_grad = True
    return t


def _plain(t):
    """``t`` without its reverse-mode history, keeping forward-mode tangents."""
    out = Tensor.wrap(t.array)
    out._fw = t._fw
    return out


def _reaches_outer_graph(outputs, inner):
    """Does the graph of ``outputs`` lead to a tensor requiring grad that is not one of ``inner``?
    Then the gradient must itself be differentiable (we are inside an outer reverse transform, or
    ``f`` closed over tensors that require grad)."""
    inner_ids = {id(t) for t in inner}
    for t in engine.toposort(outputs):
        for p in engine.parents_of(t._node):
            if p.requires_grad and p._node is None and id(p) not in inner_ids:
                return True
    return False


def vjp(f, *primals, has_aux=False):
    """(f(*primals), vjp_fn[, aux]): ``vjp_fn(cotangents)`` returns the cotangents of the primals,
    a tuple with one entry per primal (seed eq. 3.5: one reverse pass per output cotangent)."""
    flat, tree = tree_flatten(primals)
    flat = [_as_float_tensor(x, "vjp primals") for x in flat]
    with function.enable_grad():
        inner = [_track(x) for x in flat]
        result = f(*tree_unflatten(tree, inner))
    out, aux = _split_aux(result, has_aux, "vjp")
    out_flat, out_tree = tree_flatten(out)
    for o in out_flat:
        if not isinstance(o, Tensor):
            raise TypeError(f"vjp: the function must return Tensors (or nests of them), got {type(o).__name__}")
    differentiable = function.is_grad_enabled() and _reaches_outer_graph(out_flat, inner)

    def vjp_fn(cotangents):
        ct_flat, ct_tree = tree_flatten(cotangents)
        if ct_tree != out_tree:
            raise ValueError(f"vjp_fn: cotangents have structure {ct_tree} but the outputs have {out_tree}")
        ct_flat = [c if isinstance(c, Tensor) else Tensor(c, dtype=o.dtype) for c, o in zip(ct_flat, out_flat)]
        for i, (c, o) in enumerate(zip(ct_flat, out_flat)):
            if c.shape != o.shape:
                raise ValueError(f"vjp_fn: cotangent {i} has shape {c.shape} but output {i} has shape {o.shape}")
        merged = {}      # an output returned twice is one root whose cotangents add up
        for o, c in zip(out_flat, ct_flat):
            if o.requires_grad:
                prev = merged.get(id(o))
                merged[id(o)] = (o, c if prev is None else prev[1] + c)
        roots = list(merged.values())
        grads = [None] * len(inner)
        if roots:
            grads = engine.run_backward([o for o, _ in roots], [c for _, c in roots], inner,
                                        retain_graph=True, create_graph=differentiable)
        grads = [zeros(*x.shape, dtype=x.dtype, device=x.device) if g is None else g for g, x in zip(grads, flat)]
        return tree_unflatten(tree, grads)

    if not differentiable:
        out = tree_unflatten(out_tree, [_plain(o) for o in out_flat])
    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)


def _split_aux(result, has_aux, name):
    if not has_aux:
        return result, None
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise TypeError(f"{name}: with has_aux=True the function must return a pair (output, aux)")
    return result[0], result[1]


def _argnums_tuple(argnums, nargs, name):
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(f"{name}: argnums {argnums!r} is out of range for {nargs} positional arguments")
    return tuple(a % nargs for a in nums)


def _with_args(f, args, nums):
    def g(*diff):
        full = list(args)
        for a, v in zip(nums, diff):
            full[a] = v
        return f(*full)
    return g


def value_and_grad(f, argnums=0, has_aux=False):
    """A function returning (f(*args), ∂f/∂args[argnums]) for a scalar-valued f."""
    def wrapped(*args):
        nums = _argnums_tuple(argnums, len(args), "grad")
        result = vjp(_with_args(f, args, nums), *[args[a] for a in nums], has_aux=has_aux)
        out, fn = result[0], result[1]
        if not isinstance(out, Tensor) or out.array.size != 1 or out.ndim != 0:
            got = out.shape if isinstance(out, Tensor) else type(out).__name__
            raise TypeError(f"grad requires a function with a scalar (shape ()) output, got {got}; "
                            "use jacrev or vjp for other outputs")
        grads = fn(Tensor.wrap(backend.xp_of(out.array).ones((), out.dtype)))
        grads = grads[0] if isinstance(argnums, int) else grads
        return ((out, result[2]), grads) if has_aux else (out, grads)
    return wrapped


def grad(f, argnums=0, has_aux=False):
    """∂f/∂args[argnums] of a scalar-valued ``f`` (a tuple of gradients when ``argnums`` is a tuple)."""
    vg = value_and_grad(f, argnums, has_aux)

    def wrapped(*args):
        (value, grads) = vg(*args)
        return (grads, value[1]) if has_aux else grads
    return wrapped


def jvp(f, primals, tangents, has_aux=False):
    """(f(*primals), J·tangents): forward mode in one pass (seed eq. 3.4). ``primals`` and ``tangents``
    are tuples with the same structure."""
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp: primals and tangents must be tuples (one entry per argument of f)")
    p_flat, p_tree = tree_flatten(tuple(primals))
    t_flat, t_tree = tree_flatten(tuple(tangents))
    if p_tree != t_tree:
        raise ValueError(f"jvp: tangents have structure {t_tree} but primals have {p_tree}")
    p_flat = [_as_float_tensor(x, "jvp primals") for x in p_flat]
    t_flat = [t if isinstance(t, Tensor) else Tensor(t, dtype=p.dtype) for t, p in zip(t_flat, p_flat)]
    for i, (p, t) in enumerate(zip(p_flat, t_flat)):
        if p.shape != t.shape:
            raise ValueError(f"jvp: tangent {i} has shape {t.shape} but primal {i} has shape {p.shape}")
    with function.forward_level() as level:
        inner = []
        for p, t in zip(p_flat, t_flat):
            x = identity(p)
            function.set_tangent(x, level, t.astype(p.dtype))
            inner.append(x)
        result = f(*tree_unflatten(p_tree, inner))
        out, aux = _split_aux(result, has_aux, "jvp")
        out_flat, out_tree = tree_flatten(out)
        tangents_out = []
        for o in out_flat:
            t = function.tangent_of(o, level)
            tangents_out.append(zeros(*o.shape, dtype=o.dtype, device=o.device) if t is None else t)
    result = tree_unflatten(out_tree, out_flat), tree_unflatten(out_tree, tangents_out)
    return result + (aux,) if has_aux else result


def _basis(x, i):
    e = backend.xp_of(x.array).zeros(x.array.size, x.dtype)
    e[i] = 1
    return Tensor.wrap(e.reshape(x.shape))


def _jac_arg_leaves(jac_leaves, in_tree, argnums):
    """Per-input-leaf Jacobians arranged like the differentiated arguments (a tuple for tuple argnums)."""
    per_arg = tree_unflatten(in_tree, jac_leaves)
    return per_arg[0] if isinstance(argnums, int) else per_arg


def jacfwd(f, argnums=0, has_aux=False):
    """The Jacobian by forward mode: one JVP per input element (N passes for N inputs, seed 三).
    Arguments and outputs may be pytrees: the result has the outputs' structure, each leaf holding
    the arguments' structure of arrays of shape ``out.shape + in.shape``."""
    def wrapped(*args):
        nums = _argnums_tuple(argnums, len(args), "jacfwd")
        in_flat, in_tree = tree_flatten(tuple(args[a] for a in nums))
        xs = [_as_float_tensor(x, "jacfwd arguments") for x in in_flat]
        g = _with_args(f, args, nums)

        def g_flat(*flat):
            return g(*tree_unflatten(in_tree, flat))

        columns, out, aux = [], None, None
        for k, x in enumerate(xs):
            cols = []
            for i in range(x.array.size):
                tangents = [_basis(x, i) if j == k else zeros(*y.shape, dtype=y.dtype, device=y.device)
                            for j, y in enumerate(xs)]
                result = jvp(g_flat, tuple(xs), tuple(tangents), has_aux=has_aux)
                out, tan = result[0], result[1]
                aux = result[2] if has_aux else None
                cols.append(tree_flatten(tan)[0])
            columns.append(cols)
        if out is None:  # no input elements at all
            out, aux = _split_aux(g_flat(*xs), has_aux, "jacfwd")
        out_flat, out_tree = tree_flatten(out)
        jac_per_out = []
        for j, o in enumerate(out_flat):
            per_leaf = []
            for k, x in enumerate(xs):
                cols = [c[j] for c in columns[k]]
                jac = stack(cols, -1) if cols else zeros(*o.shape, 0, dtype=o.dtype, device=o.device)
                per_leaf.append(jac.reshape(o.shape + x.shape))
            jac_per_out.append(_jac_arg_leaves(per_leaf, in_tree, argnums))
        jac = tree_unflatten(out_tree, jac_per_out)
        return (jac, aux) if has_aux else jac
    return wrapped


def jacrev(f, argnums=0, has_aux=False):
    """The Jacobian by reverse mode: one VJP per output element (M passes for M outputs, seed 三).
    Structured like ``jacfwd``'s result."""
    def wrapped(*args):
        nums = _argnums_tuple(argnums, len(args), "jacrev")
        primals = tuple(args[a] for a in nums)
        in_flat, in_tree = tree_flatten(primals)
        in_shapes = [tuple(x.shape) if isinstance(x, Tensor) else backend.numpy.shape(x) for x in in_flat]
        result = vjp(_with_args(f, args, nums), *primals, has_aux=has_aux)
        out, fn = result[0], result[1]
        out_flat, out_tree = tree_flatten(out)
        jac_per_out = []
        for j, o in enumerate(out_flat):
            rows = []
            for i in range(o.array.size):
                cts = [_basis(o, i) if jj == j else zeros(*oo.shape, dtype=oo.dtype, device=oo.device)
                       for jj, oo in enumerate(out_flat)]
                rows.append(tree_flatten(fn(tree_unflatten(out_tree, cts)))[0])
            per_leaf = []
            for k, shape in enumerate(in_shapes):
                if rows:
                    per_leaf.append(stack([r[k] for r in rows], 0).reshape(o.shape + shape))
                else:
                    per_leaf.append(zeros(*(o.shape + shape), dtype=o.dtype, device=o.device))
            jac_per_out.append(_jac_arg_leaves(per_leaf, in_tree, argnums))
        jac = tree_unflatten(out_tree, jac_per_out)
        return (jac, result[2]) if has_aux else jac
    return wrapped


def hessian(f, argnums=0):
    """The matrix of second derivatives, forward-over-reverse: ``jacfwd(jacrev(f))``."""
    return jacfwd(jacrev(f, argnums), argnums)
