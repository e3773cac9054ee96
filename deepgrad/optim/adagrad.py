"""Adagrad (``torch.optim.Adagrad``, the same update formulas):

    g ← ±∇ + λ·θ;   clr = lr / (1 + (t − 1)·lr_decay);   s ← s + g²;   θ ← θ − clr·g/(√s + ε)
"""
from .. import backend
from ..autograd.tensor import Tensor
from .optimizer import Optimizer, _apply_weight_decay, _nd, _next_step, _scalar_tensor



class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, *,
                 maximize=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)
        for group in self.param_groups:        # PyTorch creates Adagrad's state up front
            for p in group["params"]:
                self._init_state(p)

    def _init_state(self, p):
        state = self.state[p]
        if len(state) == 0:
            state["step"] = _scalar_tensor()
            state["sum"] = Tensor.wrap(backend.xp_of(p.array).full_like(
                p.array, self.defaults["initial_accumulator_value"]))
        return state

    def _update(self, p, theta, g, group):
        xp = backend.xp_of(theta)
        lr, lr_decay, eps = group["lr"], group["lr_decay"], group["eps"]
        state = self._init_state(p)
        step = _next_step(state)
        g, _ = _apply_weight_decay(g, theta, group["weight_decay"], group["maximize"])
        clr = lr / (1 + (step - 1) * lr_decay)
        s = _nd(state["sum"].array)
        scratch = g * g
        s += scratch
        xp.sqrt(s, out=scratch)
        scratch += eps
        xp.divide(g, scratch, out=scratch)
        scratch *= -clr
        theta += scratch
