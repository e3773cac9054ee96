"""RMSprop (``torch.optim.RMSprop``, the same update formulas):

    g ← ±∇ + λ·θ;   v ← α·v + (1 − α)·g²;   centered: ḡ ← ḡ + (1 − α)·(g − ḡ), s = √(v − ḡ²) + ε,
    else s = √v + ε;   momentum μ > 0: b ← μ·b + g/s, θ ← θ − lr·b;   else θ ← θ − lr·g/s
"""
from .. import backend
from .optimizer import Optimizer, _apply_weight_decay, _grad_of, _lerp_, _step_tensor, _zeros_like

np = backend.numpy


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, *,
                 maximize=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()``'s loss if given."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
            for p in self._params_with_grad(group):
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _step_tensor()
                    state["square_avg"] = _zeros_like(p)
                    if momentum > 0:
                        state["momentum_buffer"] = _zeros_like(p)
                    if group["centered"]:
                        state["grad_avg"] = _zeros_like(p)
                g = _grad_of(p, group["maximize"])
                g, _ = _apply_weight_decay(g, p, group["weight_decay"], group["maximize"])
                state["step"].data += 1
                v = state["square_avg"].data
                v *= alpha
                scratch = g * (1 - alpha)
                scratch *= g
                v += scratch
                avg = scratch
                if group["centered"]:
                    ga = state["grad_avg"].data
                    _lerp_(ga, g, 1 - alpha, avg)
                    np.multiply(ga, ga, out=avg)   # v − ḡ² (addcmul with value −1)
                    np.subtract(v, avg, out=avg)
                    np.sqrt(avg, out=avg)
                else:
                    np.sqrt(v, out=avg)
                avg += eps
                np.divide(g, avg, out=avg)
                if momentum > 0:
                    buf = state["momentum_buffer"].data
                    buf *= momentum
                    buf += avg
                    np.multiply(buf, -lr, out=avg)
                else:
                    avg *= -lr
                p.data += avg
        return loss
