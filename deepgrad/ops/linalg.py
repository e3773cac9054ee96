"""Matrix products: ``x @ y`` with NumPy's rules (1-D operands, broadcast batch dimensions).
In a layer z = W a + b (seed eq. 1.1) the gradients are δ aᵀ and Wᵀ δ (eqs. 2.5, 2.10)."""
from ..autograd.function import Primitive, apply
from .common import NO_PARAMS, lift, unbroadcast


class Matmul(Primitive):
    saved = (0, 1)

    def forward(self, x, y):
        if x.ndim == 0 or y.ndim == 0:
            raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes "
                             f"{tuple(x.shape)} and {tuple(y.shape)}")
        if x.dtype != y.dtype:   # as PyTorch: no silent promotion inside a matrix product
            raise TypeError(f"matmul: both operands need the same dtype, got {x.dtype} and {y.dtype}")
        try:
            return x @ y
        except ValueError:
            k1 = x.shape[-1]
            k2 = y.shape[0] if y.ndim == 1 else y.shape[-2]
            why = (f"inner dimensions {k1} and {k2} differ" if k1 != k2
                   else "the batch dimensions cannot be broadcast together")
            raise ValueError(f"matmul: cannot multiply shapes {tuple(x.shape)} and {tuple(y.shape)}: {why}") from None

    def vjp(self, g, out, x, y):
        if x.ndim == 1 and y.ndim == 1:
            return (g * y if x.requires_grad else None, g * x if y.requires_grad else None)
        x2 = x.unsqueeze(0) if x.ndim == 1 else x
        y2 = y.unsqueeze(-1) if y.ndim == 1 else y
        g2 = g.unsqueeze(-2) if x.ndim == 1 else g
        g2 = g2.unsqueeze(-1) if y.ndim == 1 else g2
        gx = gy = None
        if x.requires_grad:
            gx = unbroadcast(g2 @ y2.transpose(-1, -2), x2.shape).reshape(x.shape)
        if y.requires_grad:
            gy = unbroadcast(x2.transpose(-1, -2) @ g2, y2.shape).reshape(y.shape)
        return gx, gy

    def jvp(self, tangents, out, x, y):
        tx, ty = tangents
        a = None if tx is None else tx @ y
        b = None if ty is None else x @ ty
        total = b if a is None else a if b is None else a + b
        return total if total.shape == out.shape else total.expand(out.shape)


_matmul = Matmul()


def matmul(x, y):
    """The matrix product, batched over leading dimensions (``torch.matmul``)."""
    return apply(_matmul, (lift(x), lift(y)), NO_PARAMS)
