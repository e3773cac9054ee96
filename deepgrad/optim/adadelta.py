"""Adadelta (``torch.optim.Adadelta``, the same update formulas):

    g ← ±∇ + λ·θ;   v ← ρ·v + (1 − ρ)·g²;   Δ ← √(u + ε)/√(v + ε)·g;   u ← ρ·u + (1 − ρ)·Δ²;   θ ← θ − lr·Δ
"""
from .. import backend
from .optimizer import Optimizer, _apply_weight_decay, _average_square_, _nd, _next_step



class Adadelta(Optimizer):
    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, *, maximize=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, p, theta, g, group):
        xp = backend.xp_of(theta)
        lr, rho, eps = group["lr"], group["rho"], group["eps"]
        state = self._state_of(p, "square_avg", "acc_delta")
        _next_step(state)
        g, _ = _apply_weight_decay(g, theta, group["weight_decay"], group["maximize"])
        v, u = _nd(state["square_avg"].array), _nd(state["acc_delta"].array)
        scratch, delta = xp.empty_like(v), xp.empty_like(v)
        _average_square_(v, g, rho, scratch)
        xp.add(v, eps, out=scratch)
        xp.sqrt(scratch, out=scratch)
        xp.add(u, eps, out=delta)
        xp.sqrt(delta, out=delta)
        delta /= scratch
        delta *= g
        _average_square_(u, delta, rho, scratch)
        delta *= -lr
        theta += delta
