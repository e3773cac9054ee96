"""Adamax, Adam with the infinity norm (``torch.optim.Adamax``, the same update formulas):

    g ← ±∇ + λ·θ;   m ← m + (1 − β1)·(g − m);   u ← max(β2·u, |g| + ε);   θ ← θ − lr/(1 − β1ᵗ)·m/u
"""
from .. import backend
from .optimizer import Optimizer, _apply_weight_decay, _check_adam_options, _lerp_, _nd, _next_step



class Adamax(Optimizer):
    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, *, maximize=False):
        _check_adam_options(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, p, theta, g, group):
        xp = backend.xp_of(theta)
        lr, eps = group["lr"], group["eps"]
        beta1, beta2 = group["betas"]
        state = self._state_of(p, "exp_avg", "exp_inf")
        step = _next_step(state)
        g, _ = _apply_weight_decay(g, theta, group["weight_decay"], group["maximize"])
        m, u = _nd(state["exp_avg"].array), _nd(state["exp_inf"].array)
        scratch = xp.empty_like(m)
        _lerp_(m, g, 1 - beta1, scratch)
        u *= beta2
        xp.abs(g, out=scratch)
        scratch += eps
        xp.maximum(u, scratch, out=u)
        xp.multiply(m, -lr / (1 - beta1 ** step), out=scratch)   # addcdiv's (value·m)/u
        scratch /= u
        theta += scratch
