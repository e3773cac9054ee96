"""Adam and AdamW (``torch.optim.Adam``/``AdamW``, the same update formulas):

    g ← ±∇ (+ λ·θ for Adam's L2 weight decay; AdamW instead decays θ ← θ·(1 − lr·λ));
    m ← m + (1 − β1)·(g − m);   v ← β2·v + (1 − β2)·g²;   (AMSGrad: v̂ ← max(v̂, v))
    θ ← θ − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)
"""
from .. import backend
from .optimizer import Optimizer, _apply_weight_decay, _grad_of, _lerp_, _step_tensor, _zeros_like

np = backend.numpy


def _check(lr, betas, eps, weight_decay):
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


class Adam(Optimizer):
    """Adam (Kingma & Ba); ``decoupled_weight_decay=True`` makes it AdamW."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 maximize=False, decoupled_weight_decay=False):
        _check(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()``'s loss if given."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
            beta1, beta2 = group["betas"]
            for p in self._params_with_grad(group):
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _step_tensor()
                    state["exp_avg"] = _zeros_like(p)
                    state["exp_avg_sq"] = _zeros_like(p)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = _zeros_like(p)
                g = _grad_of(p, group["maximize"])
                owned = group["maximize"]
                state["step"].data += 1
                if weight_decay != 0:
                    if group["decoupled_weight_decay"]:
                        p.data *= 1 - lr * weight_decay
                    else:
                        g, owned = _apply_weight_decay(g, p, weight_decay, owned)
                m, v = state["exp_avg"].data, state["exp_avg_sq"].data
                scratch = np.empty_like(m)
                _lerp_(m, g, 1 - beta1, scratch)
                # v ← β2·v + (1 − β2)·g·g
                v *= beta2
                np.multiply(g, 1 - beta2, out=scratch)
                scratch *= g
                v += scratch

                step = float(state["step"].data)
                bias_correction1 = 1 - beta1 ** step
                bias_correction2 = 1 - beta2 ** step
                step_size = lr / bias_correction1
                bias_correction2_sqrt = bias_correction2 ** 0.5
                if group["amsgrad"]:
                    vmax = state["max_exp_avg_sq"].data
                    np.maximum(vmax, v, out=vmax)
                    v = vmax
                denom = scratch
                np.sqrt(v, out=denom)
                denom /= bias_correction2_sqrt
                denom += eps
                np.divide(m, denom, out=denom)
                denom *= -step_size
                p.data += denom
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): θ ← θ·(1 − lr·λ) before the Adam step."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
