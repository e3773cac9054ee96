"""Gradient checking: reverse mode, forward mode and central finite differences must agree.

Run in float64: the finite-difference error is O(eps²) plus rounding O(1e-16/eps)."""
from . import backend
from .autograd.tensor import Tensor
from .pytree import tree_flatten, tree_unflatten
from .transforms import jvp, vjp

np = backend.numpy


class GradcheckError(AssertionError):
    """A derivative disagreed with finite differences; the message names input, output and element."""


def _outputs(f, xs):
    return tree_flatten(f(*xs))


def _unit(like, i):
    e = np.zeros(like.array.size, like.dtype)
    if i is not None:
        e[i] = 1
    return Tensor.wrap(e.reshape(like.shape))


def _numerical_jacobians(f, xs, outs, eps):
    """J[k][j] of shape (outputs[j].size, xs[k].size), column by column with central differences:
    (f(x + eps·e_i) − f(x − eps·e_i)) / 2eps."""
    jac = [[np.zeros((o.array.size, x.array.size)) for o in outs] for x in xs]
    for k, x in enumerate(xs):
        flat = x.array.reshape(-1)
        for i in range(flat.size):
            orig = flat[i].copy()
            flat[i] = orig + eps
            plus = [o.array.astype(np.float64).reshape(-1) for o in _outputs(f, xs)[0]]
            flat[i] = orig - eps
            minus = [o.array.astype(np.float64).reshape(-1) for o in _outputs(f, xs)[0]]
            flat[i] = orig
            for j, (p, m) in enumerate(zip(plus, minus)):
                jac[k][j][:, i] = (p - m) / (2 * eps)
    return jac


def _reverse_jacobians(f, xs, outs):
    """Row by row: one VJP per output element (seed 三, reverse mode)."""
    jac = [[np.zeros((o.array.size, x.array.size)) for o in outs] for x in xs]
    out, fn = vjp(f, *xs)
    out_flat, out_tree = tree_flatten(out)
    for j, o in enumerate(out_flat):
        for e in range(o.array.size):
            cts = [_unit(oo, e if jj == j else None) for jj, oo in enumerate(out_flat)]
            for k, g in enumerate(fn(tree_unflatten(out_tree, cts))):
                jac[k][j][e, :] = g.array.reshape(-1)
    return jac


def _forward_jacobians(f, xs, outs):
    """Column by column: one JVP per input element (seed 三, forward mode)."""
    jac = [[np.zeros((o.array.size, x.array.size)) for o in outs] for x in xs]
    for k, x in enumerate(xs):
        for i in range(x.array.size):
            tangents = tuple(_unit(xx, i if kk == k else None) for kk, xx in enumerate(xs))
            _, tan = jvp(f, tuple(xs), tangents)
            for j, t in enumerate(tree_flatten(tan)[0]):
                jac[k][j][:, i] = t.array.reshape(-1)
    return jac


def gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, check_forward_ad=True,
              check_backward_ad=True):
    """Check the Jacobian of ``f`` at ``inputs`` (a tuple of float64 Tensors) three ways: reverse mode,
    forward mode and central differences. Raises GradcheckError naming the input, output and element
    that disagree, or returns False when ``raise_exception`` is False; True when all agree."""
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    for k, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            raise TypeError(f"gradcheck: input {k} must be a Tensor, got {type(x).__name__}")
        if x.dtype != backend.float64:
            raise TypeError(f"gradcheck: input {k} has dtype {x.dtype}; finite differences need float64")
    xs = [Tensor.wrap(x.array.copy()) for x in inputs]
    outs, _ = _outputs(f, xs)
    numeric = _numerical_jacobians(f, xs, outs, eps)
    modes = []
    if check_backward_ad:
        modes.append(("reverse", _reverse_jacobians(f, xs, outs)))
    if check_forward_ad:
        modes.append(("forward", _forward_jacobians(f, xs, outs)))
    for mode, analytic in modes:
        for k, x in enumerate(xs):
            for j, o in enumerate(outs):
                a, n = analytic[k][j], numeric[k][j]
                bad = ~np.isclose(a, n, rtol=rtol, atol=atol)
                if bad.any():
                    e, i = np.unravel_index(int(bad.argmax()), bad.shape)
                    out_idx = [int(v) for v in np.unravel_index(e, o.shape)]
                    in_idx = [int(v) for v in np.unravel_index(i, x.shape)]
                    msg = (f"gradcheck: {mode} mode disagrees with finite differences for "
                           f"d output[{j}]{out_idx} / d input[{k}]{in_idx} (input shape {x.shape}, output "
                           f"shape {o.shape}): analytic {a[e, i]!r}, numerical {n[e, i]!r}")
                    if raise_exception:
                        raise GradcheckError(msg)
                    return False
    return True


def gradgradcheck(f, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
                  seed=0):
    """Check second derivatives: gradcheck the map (inputs, cotangents) -> VJP of ``f``. That compares
    reverse-over-reverse and forward-over-reverse derivatives with finite differences."""
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    outs, _ = _outputs(f, [Tensor.wrap(x.array.copy()) for x in inputs])
    if grad_outputs is None:
        rng = np.random.default_rng(seed)
        grad_outputs = tuple(Tensor.wrap(rng.standard_normal(o.shape)) for o in outs)
    n = len(inputs)

    def first_derivative(*args):
        _, fn = vjp(lambda *xs: tuple(_outputs(f, xs)[0]), *args[:n])
        return fn(tuple(args[n:]))

    return gradcheck(first_derivative, inputs + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
