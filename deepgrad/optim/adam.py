"""Adam and AdamW (``torch.optim.Adam``/``AdamW``, the same update formulas):

    g ← ±∇ (+ λ·θ for Adam's L2 weight decay; AdamW instead decays θ ← θ·(1 − lr·λ));
    m ← m + (1 − β1)·(g − m);   v ← β2·v + (1 − β2)·g²;   (AMSGrad: v̂ ← max(v̂, v))
    θ ← θ − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)
"""
from .. import backend
from .optimizer import Optimizer, _average_square_, _check_adam_options, _decay_weight, _lerp_, _nd, _next_step



class Adam(Optimizer):
    """Adam (Kingma & Ba); ``decoupled_weight_decay=True`` makes it AdamW."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 maximize=False, decoupled_weight_decay=False):
        _check_adam_options(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _update(self, p, theta, g, group):
        xp = backend.xp_of(theta)
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        state = self._state_of(p, "exp_avg", "exp_avg_sq", *["max_exp_avg_sq"] * group["amsgrad"])
        step = _next_step(state)
        g = _decay_weight(g, theta, lr, weight_decay, group["decoupled_weight_decay"], group["maximize"])
        m, v = _nd(state["exp_avg"].array), _nd(state["exp_avg_sq"].array)
        scratch = xp.empty_like(m)
        _lerp_(m, g, 1 - beta1, scratch)
        _average_square_(v, g, beta2, scratch)
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2 ** 0.5
        if group["amsgrad"]:
            vmax = _nd(state["max_exp_avg_sq"].array)
            xp.maximum(vmax, v, out=vmax)
            v = vmax
        denom = scratch
        xp.sqrt(v, out=denom)
        denom /= bias_correction2_sqrt
        denom += eps
        xp.divide(m, denom, out=denom)
        denom *= -step_size
        theta += denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): θ ← θ·(1 − lr·λ) before the Adam step."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
