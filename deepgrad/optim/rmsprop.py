"""RMSprop (``torch.optim.RMSprop``, the same update formulas):

    g ← ±∇ + λ·θ;   v ← α·v + (1 − α)·g²;   centered: ḡ ← ḡ + (1 − α)·(g − ḡ), s = √(v − ḡ²) + ε,
    else s = √v + ε;   momentum μ > 0: b ← μ·b + g/s, θ ← θ − lr·b;   else θ ← θ − lr·g/s
"""
from .. import backend
from .optimizer import Optimizer, _apply_weight_decay, _average_square_, _lerp_, _nd, _next_step



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

    def _update(self, p, theta, g, group):
        xp = backend.xp_of(theta)
        lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
        state = self._state_of(p, "square_avg", *["momentum_buffer"] * (momentum > 0),
                               *["grad_avg"] * group["centered"])
        _next_step(state)
        g, _ = _apply_weight_decay(g, theta, group["weight_decay"], group["maximize"])
        v = _nd(state["square_avg"].array)
        avg = xp.empty_like(v)
        _average_square_(v, g, alpha, avg)
        if group["centered"]:
            ga = _nd(state["grad_avg"].array)
            _lerp_(ga, g, 1 - alpha, avg)
            xp.multiply(ga, ga, out=avg)   # v − ḡ² (addcmul with value −1)
            xp.subtract(v, avg, out=avg)
            xp.sqrt(avg, out=avg)
        else:
            xp.sqrt(v, out=avg)
        avg += eps
        xp.divide(g, avg, out=avg)
        if momentum > 0:
            buf = _nd(state["momentum_buffer"].array)
            buf *= momentum
            buf += avg
            xp.multiply(buf, -lr, out=avg)
        else:
            avg *= -lr
        theta += avg
