"""LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to document
recognition"), seed 4.4.1.

``classic``: the paper's network on 32×32 inputs: C1 6@5×5, S2 trainable subsampling, C3 16@5×5 with
the paper's partial connection table (Table I: 60 of the 96 map pairs, 1,516 parameters), S4, C5
120@5×5, F6 84 units, all squashed by 1.7159·tanh(2/3·a), and a linear 84→10 output (the paper's
Euclidean RBF output layer is replaced by a linear layer trained with cross-entropy, as is usual).
``modern``: the same shape with ReLU, max pooling, full C3 and 28×28 inputs padded by 2 (61,706
parameters): the version most courses and PyTorch tutorials train on MNIST.
"""
import numpy as np

from .. import backend, nn
from ..nn import functional as F
from ..ops import concatenate, zeros

# LeCun et al. 1998, Table I: the S2 maps each C3 map reads (six see 3 neighbouring maps, six see 4,
# three see 4 non-neighbouring ones, and the last sees all 6)
C3_INPUTS = ((0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
             (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
             (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5), (0, 1, 2, 3, 4, 5))
C3_CONNECTIONS = np.array([[i in inputs for inputs in C3_INPUTS] for i in range(6)])   # (6 in, 16 out)


class PartialConv2d(nn.Module):
    """A convolution where output map j sees only the input maps ``connections[:, j]`` marks: only
    the connected kernels are parameters (``weight`` packs them), so the count matches the paper."""

    def __init__(self, connections, kernel_size=5):
        super().__init__()
        self.connections = np.asarray(connections, bool)
        c_in, c_out = self.connections.shape
        self.kernel_size = kernel_size
        pairs = int(self.connections.sum())
        fan_in = self.connections.sum(0)
        self.weight = nn.Parameter(zeros(pairs, kernel_size, kernel_size))
        self.bias = nn.Parameter(zeros(c_out))
        # position in the packed weight (or the extra zero kernel) of every (out, in) kernel
        packed = np.full((c_out, c_in), pairs)
        out_idx, in_idx = np.nonzero(self.connections.T)
        packed[out_idx, in_idx] = np.arange(pairs)
        self._index = packed
        # the paper's initialisation: U(−2.4/F, 2.4/F) with F the fan-in of the unit
        rng = backend.default_generator.bitgen
        bound = 2.4 / (fan_in[out_idx] * kernel_size * kernel_size)
        self.weight.array[...] = rng.uniform(-1, 1, self.weight.shape) * bound[:, None, None]
        self.bias.array[...] = rng.uniform(-1, 1, c_out) * 2.4 / (fan_in * kernel_size ** 2)

    def full_weight(self):
        k = self.kernel_size
        with_zero = concatenate([self.weight, zeros(1, k, k, dtype=self.weight.dtype)], 0)
        return with_zero[self._index]   # (out, in, k, k)

    def forward(self, x):
        return F.conv2d(x, self.full_weight(), self.bias)

    def extra_repr(self):
        c_in, c_out = self.connections.shape
        return f"{c_in}, {c_out}, kernel_size={self.kernel_size}, connections={int(self.connections.sum())}"


def lenet5(variant="modern", num_classes=10, in_channels=1):
    """LeNet-5; ``variant='classic'`` (32×32 inputs) or ``'modern'`` (28×28 inputs)."""
    if variant == "modern":
        return nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes))
    if variant == "classic":
        if in_channels != 1:
            raise ValueError("lenet5: the classic variant's C3 connection table is defined for 1 input channel")
        squash = nn.ScaledTanh
        return nn.Sequential(
            nn.Conv2d(1, 6, 5), squash(),                                     # C1: 28×28×6
            nn.Subsampling(6, 2, activation=squash()),                        # S2: 14×14×6
            PartialConv2d(C3_CONNECTIONS, 5), squash(),                       # C3: 10×10×16
            nn.Subsampling(16, 2, activation=squash()),                       # S4: 5×5×16
            nn.Conv2d(16, 120, 5), squash(),                                  # C5: 1×1×120
            nn.Flatten(), nn.Linear(120, 84), squash(),                       # F6
            nn.Linear(84, num_classes))
    raise ValueError(f"lenet5: variant must be 'classic' or 'modern', got {variant!r}")
