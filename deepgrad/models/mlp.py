"""Fully connected networks: the MLP of seed 一 (eqs. 1.1–1.4) and a highway MLP."""
from .. import nn

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU, "elu": nn.ELU,
               "leaky_relu": nn.LeakyReLU, "softplus": nn.Softplus}


def _activation(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def mlp(sizes=(784, 256, 256, 10), activation="relu"):
    """a(l) = f(W(l) a(l−1) + b(l)) (seed eq. 1.1) for consecutive ``sizes``; the last layer is linear
    (its output feeds a loss such as cross-entropy). Inputs of any shape are flattened first."""
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"mlp: sizes needs at least an input and an output size, got {sizes}")
    layers = [nn.Flatten()]
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(_activation(activation))
    return nn.Sequential(*layers)


def highway_mlp(in_features=784, width=64, depth=10, num_classes=10, activation="relu", gate_bias=-2.0):
    """Srivastava, Greff & Schmidhuber (2015), "Training very deep networks": a linear projection to
    ``width``, ``depth`` highway layers y = H(x)·T(x) + x·(1 − T(x)), and a linear classifier."""
    layers = [nn.Flatten(), nn.Linear(in_features, width), _activation(activation)]
    layers += [nn.Highway(width, activation=_activation(activation), gate_bias=gate_bias) for _ in range(depth)]
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)
