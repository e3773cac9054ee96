"""Products with PyTorch's shape-checked names: mm, bmm, mv, dot, outer, addmm, baddbmm (each ``matmul``
after the check), and einsum, a primitive whose VJP and JVP are einsums themselves."""
import string

from .. import backend
from ..autograd.function import Primitive, apply
from .binary import add, mul
from .common import lift
from .layout import diagonal
from .linalg import matmul


def _ranked(op, *pairs):
    """Check that each (name, tensor, ndim) has that many dims."""
    tensors = []
    for name, x, ndim in pairs:
        x = lift(x)
        if x.ndim != ndim:
            raise ValueError(f"{op}: {name} must be {ndim}-D, got shape {tuple(x.shape)}")
        tensors.append(x)
    return tensors


def mm(input, mat2):
    """The product of two matrices."""
    return matmul(*_ranked("mm", ("input", input, 2), ("mat2", mat2, 2)))


def bmm(input, mat2):
    """Matrix products of two batches of matrices of the same batch size."""
    a, b = _ranked("bmm", ("input", input, 3), ("mat2", mat2, 3))
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"bmm: batch sizes differ: {a.shape[0]} and {b.shape[0]}")
    return matmul(a, b)


def mv(input, vec):
    """The product of a matrix and a vector."""
    return matmul(*_ranked("mv", ("input", input, 2), ("vec", vec, 1)))


def dot(input, tensor):
    """The inner product of two vectors of the same size."""
    a, b = _ranked("dot", ("input", input, 1), ("tensor", tensor, 1))
    if a.shape != b.shape:
        raise ValueError(f"dot: the vectors have different sizes {a.shape[0]} and {b.shape[0]}")
    return matmul(a, b)


inner = dot


def outer(input, vec2):
    """The outer product of two vectors: out[i, j] = input[i] · vec2[j]."""
    a, b = _ranked("outer", ("input", input, 1), ("vec2", vec2, 1))
    return mul(a.unsqueeze(1), b)


ger = outer


def _scaled_sum(input, product, beta, alpha):
    """beta · input + alpha · product; ``input`` is ignored when beta is 0 (its NaNs too), as in PyTorch."""
    input = lift(input)
    if backend.numpy.broadcast_shapes(input.shape, product.shape) != product.shape:
        raise ValueError(f"input of shape {tuple(input.shape)} does not broadcast to the product's shape "
                         f"{tuple(product.shape)}")
    product = product if alpha == 1 else mul(product, alpha)
    if beta == 0:
        return product
    return add(input if beta == 1 else mul(input, beta), product)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """beta · input + alpha · (mat1 @ mat2), with ``input`` broadcast to the product's shape."""
    return _scaled_sum(input, mm(mat1, mat2), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta · input + alpha · bmm(batch1, batch2), with ``input`` broadcast to the product's shape."""
    return _scaled_sum(input, bmm(batch1, batch2), beta, alpha)


# ---------------------------------------------------------------- einsum
class Einsum(Primitive):
    """``numpy.einsum(spec, *xs)`` where no operand repeats a label and each operand's labels all appear
    in the output or in another operand (``einsum`` arranges that); so the VJP of operand i is the
    einsum of the output gradient with the other operands, back to operand i's labels."""

    def forward(self, *xs, inputs, output):
        return backend.xp_of(xs[0]).einsum(_spec(inputs, output), *xs, optimize=len(xs) > 2)

    def vjp(self, g, out, *xs, inputs, output):
        return tuple(_einsum([g] + [x for k, x in enumerate(xs) if k != i],
                             (output,) + tuple(s for k, s in enumerate(inputs) if k != i), inputs[i])
                     if xs[i].requires_grad else None for i in range(len(xs)))

    def jvp(self, tangents, out, *xs, inputs, output):
        total = None
        for i, t in enumerate(tangents):
            if t is not None:
                term = _einsum([t if k == i else x for k, x in enumerate(xs)], inputs, output)
                total = term if total is None else total + term
        return total


_einsum_prim = Einsum()


def _spec(inputs, output):
    return ",".join(inputs) + "->" + output


def _einsum(xs, inputs, output):
    return apply(_einsum_prim, tuple(xs), {"inputs": tuple(inputs), "output": output})


def _parse(equation, operands):
    """Operand label strings and the output string, with '...' spelled out as letters not used elsewhere."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise ValueError(f"einsum: the equation {equation!r} names {len(terms)} operands but {len(operands)} "
                         "were given")
    free = [c for c in string.ascii_letters if c not in eq]
    width = 0
    for term, x in zip(terms, operands):
        named = len(term.replace("...", ""))
        if ("..." in term and named > x.ndim) or ("..." not in term and named != x.ndim):
            raise ValueError(f"einsum: the subscripts {term!r} do not fit an operand of shape {tuple(x.shape)}")
        if "..." in term:
            width = max(width, x.ndim - named)
    spelled = [t.replace("...", "".join(free[width - (x.ndim - len(t) + 3):width])) if "..." in t else t
               for t, x in zip(terms, operands)]
    for term in spelled:
        if any(c not in string.ascii_letters for c in term):
            raise ValueError(f"einsum: subscripts must be letters, got {equation!r}")
    if arrow:
        out = rhs.replace("...", "".join(free[:width]))
        if len(set(out)) != len(out) or any(c not in "".join(spelled) for c in out):
            raise ValueError(f"einsum: the output subscripts of {equation!r} repeat a label or name one no "
                             "operand has")
    else:
        counts = {c: "".join(spelled).count(c) for c in "".join(spelled)}
        out = "".join(free[:width]) + "".join(sorted(c for c in counts if counts[c] == 1 and c not in free[:width]))
    return spelled, out


def _without_repeats(x, term):
    """Operand ``x`` with repeated labels reduced to their diagonal (``'ii'`` -> ``'i'``)."""
    while len(set(term)) != len(term):
        c = next(c for c in term if term.count(c) > 1)
        i, j = term.index(c), term.index(c, term.index(c) + 1)
        x = diagonal(x, 0, i, j)
        term = term[:i] + term[i + 1:j] + term[j + 1:] + c
    return x, term


def einsum(equation, *operands):
    """Einstein summation (``torch.einsum``): e.g. ``'ij,jk->ik'`` is a matrix product, ``'ii->'`` a trace,
    ``'...ij->...ji'`` a batched transpose; without ``->`` the output holds the labels seen once, sorted.
    Operands must share one dtype; sizes of 1 broadcast."""
    if len(operands) == 1 and isinstance(operands[0], (tuple, list)):
        operands = tuple(operands[0])
    xs = [lift(x) for x in operands]
    if not xs:
        raise ValueError("einsum: needs at least one operand")
    if any(x.dtype != xs[0].dtype for x in xs):
        raise TypeError(f"einsum: operands must have the same dtype, got {[str(x.dtype) for x in xs]}")
    terms, output = _parse(equation, xs)
    pairs = [_without_repeats(x, t) for x, t in zip(xs, terms)]
    sizes = {}
    for x, t in pairs:
        for c, n in zip(t, x.shape):
            if sizes.get(c, 1) == 1:
                sizes[c] = n
            elif n not in (1, sizes[c]):
                raise ValueError(f"einsum: label {c!r} has sizes {sizes[c]} and {n} in {equation!r}")
    xs, terms = [], []
    for i, (x, t) in enumerate(pairs):
        x = x.expand(tuple(sizes[c] for c in t))                  # sizes of 1 broadcast
        others = "".join(u for k, (_, u) in enumerate(pairs) if k != i)
        alone = [k for k, c in enumerate(t) if c not in output and c not in others]
        if alone:                                                 # labels only this operand has: sum them first
            x = x.sum(tuple(alone))
            t = "".join(c for k, c in enumerate(t) if k not in alone)
        xs.append(x)
        terms.append(t)
    return _einsum(xs, terms, output)
