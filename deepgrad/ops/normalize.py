"""x̂ = (x − mean) / sqrt(var + eps) over some axes (biased variance): the core of batch, layer and
group normalisation, as one primitive.

Its Jacobian is symmetric — per group of n elements, J = istd/n · (n·I − 1 − x̂ x̂ᵀ) — so the VJP and
the JVP are the same map: v ↦ istd · (v − mean(v) − x̂ · mean(v · x̂)). ``_normal_map`` writes it once
for arrays and Tensors alike. When no derivative of the result can be taken (grad mode off and no
forward tangents, as in a plain ``backward()``), it runs on raw arrays; otherwise on Tensors, so
second derivatives stay exact.
"""
from ..autograd import function
from ..autograd.function import Primitive, apply
from ..autograd.tensor import Tensor


def _inverse_std(x, axes, eps):
    centred = x - x.mean(axes, keepdims=True)
    return ((centred * centred).mean(axes, keepdims=True) + eps) ** -0.5


def _normal_map(v, xhat, istd, axes):
    return istd * (v - v.mean(axes, keepdims=True) - xhat * (v * xhat).mean(axes, keepdims=True))


def _differentiable(*tensors):
    """Could a derivative of a result computed from ``tensors`` be taken (recorded or pushed forward)?"""
    return function.is_grad_enabled() or bool(function._levels and any(t._fw for t in tensors))


class Normalize(Primitive):
    def forward(self, x, axes, eps):
        centred = x - x.mean(axes, keepdims=True)
        return centred * ((centred * centred).mean(axes, keepdims=True) + eps) ** -0.5

    def _map(self, v, out, x, axes, eps):
        if _differentiable(v, out, x):
            return _normal_map(v, out, _inverse_std(x, axes, eps), axes)
        return Tensor.wrap(_normal_map(v.data, out.data, _inverse_std(x.data, axes, eps), axes))

    def vjp(self, g, out, x, axes, eps):
        return (self._map(g, out, x, axes, eps),)

    def jvp(self, tangents, out, x, axes, eps):
        return self._map(tangents[0], out, x, axes, eps)


_normalize = Normalize()


def normalize(x, axes, eps):
    """(x − mean) / sqrt(var + eps) over ``axes`` (a tuple of non-negative ints)."""
    return apply(_normalize, (x,), {"axes": tuple(axes), "eps": float(eps)})
