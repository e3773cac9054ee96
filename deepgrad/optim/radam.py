"""RAdam, Adam with a rectified adaptive lr (``torch.optim.RAdam``, the same update formulas):

    g ← ±∇ (+ λ·θ, or θ ← θ·(1 − lr·λ) with ``decoupled_weight_decay``);
    m ← m + (1 − β1)·(g − m);   v ← β2·v + (1 − β2)·g²;   m̂ = m/(1 − β1ᵗ);
    ρ∞ = 2/(1 − β2) − 1;   ρₜ = ρ∞ − 2t·β2ᵗ/(1 − β2ᵗ);
    ρₜ > 5: θ ← θ − lr·m̂·√(1 − β2ᵗ)/(√v + ε)·√((ρₜ − 4)(ρₜ − 2)ρ∞/((ρ∞ − 4)(ρ∞ − 2)ρₜ));   else θ ← θ − lr·m̂
"""
from .. import backend
from .optimizer import Optimizer, _average_square_, _check_adam_options, _decay_weight, _lerp_, _nd, _next_step



class RAdam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False, *,
                 maximize=False):
        _check_adam_options(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _update(self, p, theta, g, group):
        xp = backend.xp_of(theta)
        lr, eps = group["lr"], group["eps"]
        beta1, beta2 = group["betas"]
        rho_inf = 2 / (1 - beta2) - 1
        state = self._state_of(p, "exp_avg", "exp_avg_sq")
        step = _next_step(state)
        g = _decay_weight(g, theta, lr, group["weight_decay"], group["decoupled_weight_decay"], group["maximize"])
        m, v = _nd(state["exp_avg"].array), _nd(state["exp_avg_sq"].array)
        scratch = xp.empty_like(m)
        _lerp_(m, g, 1 - beta1, scratch)
        _average_square_(v, g, beta2, scratch)
        bias_correction2 = 1 - beta2 ** step
        rho_t = rho_inf - 2 * step * beta2 ** step / bias_correction2
        update = m / (1 - beta1 ** step)
        update *= lr
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            xp.sqrt(v, out=scratch)
            scratch += eps
            xp.divide(bias_correction2 ** 0.5, scratch, out=scratch)
            update *= scratch
            update *= rect
        theta -= update
