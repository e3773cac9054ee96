"""The highway layer (Srivastava, Greff & Schmidhuber 2015, "Training very deep networks"; seed 4.4.4
mentions it next to residual networks):

    y = H(x)·T(x) + x·(1 − T(x)),    H(x) = activation(W_H x + b_H),    T(x) = σ(W_T x + b_T).

The transform gate T decides, per unit, how much of the transformed H(x) passes and how much of
the input is carried unchanged. The paper initialises b_T to a negative value (it suggests e.g.
−1 or −3) so that the layer starts out close to carrying its input, which is what lets very deep
stacks train; ``gate_bias`` (default −1) sets it. W_H, b_H and W_T get Linear's default init.
"""
from .. import functional as F
from .. import init
from ..module import Module
from .activation import ReLU
from .linear import Linear


class Highway(Module):
    """A fully connected highway layer on (*, in_features) inputs (output of the same shape).
    Submodules: ``transform`` (H's Linear), ``gate`` (T's Linear) and ``activation`` (ReLU by default)."""

    def __init__(self, in_features, activation=None, gate_bias=-1.0, device=None, dtype=None):
        super().__init__()
        self.in_features = in_features
        self.transform = Linear(in_features, in_features, device=device, dtype=dtype)
        self.gate = Linear(in_features, in_features, device=device, dtype=dtype)
        self.activation = ReLU() if activation is None else activation
        self.gate_bias = gate_bias
        init.constant_(self.gate.bias, gate_bias)

    def forward(self, x):
        h = self.activation(self.transform(x))
        t = F.sigmoid(self.gate(x))
        return h * t + x * (1 - t)

    def extra_repr(self):
        return f"in_features={self.in_features}, gate_bias={self.gate_bias}"
