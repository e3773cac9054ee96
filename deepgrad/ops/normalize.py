"""x̂ = (x − mean) / sqrt(var + eps) over some axes (biased variance): the core of batch, layer and
group normalisation, as one primitive.

Its Jacobian is symmetric — per group of n elements, J = istd/n · (n·I − 1 − x̂ x̂ᵀ) — so the VJP and
the JVP are the same map: v ↦ istd · (v − mean(v) − x̂ · mean(v · x̂)). ``_normal_map`` writes it once
for arrays and Tensors alike. When no derivative of the result can be taken (grad mode off and no
forward tangents, as in a plain ``backward()``), it runs on raw arrays; otherwise on Tensors, so
second derivatives stay exact.

On arrays, how the forward and the means are computed is ``deepgrad.kernels``' business.
"""
from .. import kernels
from ..autograd import function
from ..autograd.function import Primitive, apply
from ..autograd.tensor import Tensor


def array_mean(a, axes):
    """``a.mean(axes, keepdims=True)`` for an array."""
    return kernels.of(a).mean(a, axes)


def _moments(x, mean):
    """``mean(x)``, x − mean and the biased variance, for arrays or Tensors alike (``mean`` averages
    over the normalised axes, keeping them)."""
    m = mean(x)
    centred = x - m
    return m, centred, mean(centred * centred)


def moments(x, axes):
    """Array ``x``'s mean over ``axes`` (kept as size-1 axes), x − mean, and the biased variance."""
    return kernels.of(x).moments(x, axes)


def _normal_map(v, xhat, x, eps, mean):
    istd = (_moments(x, mean)[2] + eps) ** -0.5
    return istd * (v - mean(v) - xhat * mean(v * xhat))


def _differentiable(*tensors):
    """Could a derivative of a result computed from ``tensors`` be taken (recorded or pushed forward)?"""
    return function.is_grad_enabled() or bool(function._levels and any(t._fw for t in tensors))


class Normalize(Primitive):
    saved = ("out", 0)

    def forward(self, x, axes, eps):
        return kernels.of(x).normalize(x, axes, eps)

    def _map(self, v, out, x, axes, eps):
        if _differentiable(v, out, x):
            return _normal_map(v, out, x, eps, lambda t: t.mean(axes, keepdims=True))
        return Tensor.wrap(_normal_map(v.array, out.array, x.array, eps, lambda a: array_mean(a, axes)))

    def vjp(self, g, out, x, axes, eps):
        return (self._map(g, out, x, axes, eps),)

    def jvp(self, tangents, out, x, axes, eps):
        return self._map(tangents[0], out, x, axes, eps)


_normalize = Normalize()


def normalize(x, axes, eps):
    """(x − mean) / sqrt(var + eps) over ``axes`` (a tuple of non-negative ints)."""
    return apply(_normalize, (x,), {"axes": tuple(axes), "eps": float(eps)})
