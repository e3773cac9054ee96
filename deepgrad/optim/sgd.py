"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay
(``torch.optim.SGD``, the same update formulas):

    g ← ±∇ + λ·θ;   b ← μ·b + (1 − τ)·g  (b ← g at the first step);
    g ← g + μ·b (Nesterov) or b;   θ ← θ − lr·g
"""
from ..autograd.tensor import Tensor
from .optimizer import Optimizer, _apply_weight_decay, _nd


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, p, theta, g, group):
        owned = group["maximize"]           # g is a new array, ours to update in place
        if group["weight_decay"] != 0:
            g, owned = _apply_weight_decay(g, theta, group["weight_decay"], owned)
        momentum = group["momentum"]
        if momentum != 0:
            state = self.state[p]
            buf = state.get("momentum_buffer")
            if buf is None:
                b = g.copy()
                state["momentum_buffer"] = Tensor.wrap(b.reshape(p.shape))
            else:
                b = _nd(buf.array)
                b *= momentum
                b += g if group["dampening"] == 0 else (1 - group["dampening"]) * g
            if not group["nesterov"]:
                g, owned = b, False
            elif owned:
                g += momentum * b
            else:
                g, owned = g + momentum * b, True
        if owned:
            g *= group["lr"]
            theta -= g
        else:
            theta -= group["lr"] * g
