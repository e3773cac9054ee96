"""NAdam, Adam with Nesterov momentum (``torch.optim.NAdam``, the same update formulas):

    g ← ±∇ (+ λ·θ, or θ ← θ·(1 − lr·λ) with ``decoupled_weight_decay``);
    μₜ = β1·(1 − ½·0.96^(t·ψ));   Π ← Π·μₜ;   m ← m + (1 − β1)·(g − m);   v ← β2·v + (1 − β2)·g²;
    d = √(v/(1 − β2ᵗ)) + ε;   θ ← θ − lr·(1 − μₜ)/(1 − Π)·g/d − lr·μₜ₊₁/(1 − Π·μₜ₊₁)·m/d
"""
from .. import backend
from .optimizer import Optimizer, _average_square_, _check_adam_options, _decay_weight, _lerp_, _nd, _next_step



class NAdam(Optimizer):
    _scalar_state = ("step", "mu_product")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, maximize=False):
        _check_adam_options(lr, betas, eps, weight_decay)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, p, theta, g, group):
        xp = backend.xp_of(theta)
        lr, eps, psi = group["lr"], group["eps"], group["momentum_decay"]
        beta1, beta2 = group["betas"]
        state = self._state_of(p, "exp_avg", "exp_avg_sq", mu_product=1.0)
        mu_product = state["mu_product"]
        step = _next_step(state)
        g = _decay_weight(g, theta, lr, group["weight_decay"], group["decoupled_weight_decay"], group["maximize"])
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * psi))
        mu_product.array *= mu
        product = float(mu_product.array)
        m, v = _nd(state["exp_avg"].array), _nd(state["exp_avg_sq"].array)
        denom, scratch = xp.empty_like(m), xp.empty_like(m)
        _lerp_(m, g, 1 - beta1, scratch)
        _average_square_(v, g, beta2, scratch)
        xp.divide(v, 1 - beta2 ** step, out=denom)
        xp.sqrt(denom, out=denom)
        denom += eps
        for term, value in ((g, -lr * (1.0 - mu) / (1.0 - product)),
                            (m, -lr * mu_next / (1.0 - product * mu_next))):
            xp.multiply(term, value, out=scratch)   # addcdiv's (value·term)/d
            scratch /= denom
            theta += scratch
