"""Train a small MLP with raw deepgrad tensors: minibatch SGD on the two-moons problem.

The network is the chapter's feedforward network (eq. 1.1), 2-32-32-2 with tanh hidden layers and a
softmax output, trained with the cross-entropy loss.  Parameters are plain tensors with
``requires_grad``; each step runs the forward pass, ``loss.backward()`` (backpropagation, section 二),
then the SGD update θ ← θ − η ∂L/∂θ under ``dg.no_grad()``.

As in the chapter, the samples are columns: a minibatch is X ∈ R^{2 × B} and layer l computes
Z(l) = W(l) A(l-1) + b(l) for all B columns at once, with W(l) ∈ R^{M_l × M_{l-1}}.

Deterministic (dg.manual_seed); runs in a few seconds.

    python examples/train_mlp_demo.py
"""
import math
import time

import numpy as np

import deepgrad as dg


def two_moons(n, noise=0.15, dtype=dg.float32):
    """n points (as columns of a 2 × n tensor) on two interleaving half-circles, and their labels 0/1."""
    n0 = n // 2
    t = dg.rand(n, dtype=dg.float64).numpy() * math.pi
    label = (np.arange(n) >= n0).astype(np.int64)
    x1 = np.where(label == 0, np.cos(t), 1 - np.cos(t))
    x2 = np.where(label == 0, np.sin(t), 0.5 - np.sin(t))
    X = np.stack([x1, x2]) + noise * dg.randn(2, n, dtype=dg.float64).numpy()
    X = (X - np.array([[0.5], [0.25]])) / np.array([[0.9], [0.5]])   # roughly centred and scaled
    return dg.tensor(X, dtype=dtype), dg.tensor(label)


def init_params(sizes, dtype=dg.float32):
    """W(l) ∈ R^{M_l × M_{l-1}} with Xavier-style scale 1/√M_{l-1}; b(l) = 0 (an M_l × 1 column)."""
    params = []
    for m_prev, m in zip(sizes[:-1], sizes[1:]):
        W = (dg.randn(m, m_prev, dtype=dtype) * (1.0 / math.sqrt(m_prev))).requires_grad_()
        b = dg.zeros(m, 1, dtype=dtype, requires_grad=True)
        params.append((W, b))
    return params


def forward(params, X):
    """Eq. 1.1 applied to every column of X: tanh hidden layers, the logits z(L) of the last layer."""
    A = X
    for l, (W, b) in enumerate(params, start=1):
        Z = W @ A + b
        A = dg.tanh(Z) if l < len(params) else Z
    return A                                                   # z(L): classes × B


def cross_entropy(logits, labels):
    """Mean over the batch of −log softmax(z(L))[y]."""
    logp = dg.log_softmax(logits, dim=0)                       # classes × B
    B = labels.shape[0]
    return -logp[labels, dg.arange(B)].mean()             # pick row y_n of column n


def accuracy(params, X, labels):
    with dg.no_grad():
        pred = forward(params, X).numpy().argmax(axis=0)
    return float((pred == labels.numpy()).mean())


def train(sizes=(2, 32, 32, 2), n_train=1000, n_test=1000, epochs=60, batch_size=32, lr=0.2,
          seed=0, log_every=10, verbose=True):
    """Minibatch SGD; returns a dict with per-epoch mean training losses and the final accuracies."""
    dg.manual_seed(seed)
    X, y = two_moons(n_train)
    X_test, y_test = two_moons(n_test)
    params = init_params(sizes)
    flat = [p for pair in params for p in pair]

    with dg.no_grad():
        initial = cross_entropy(forward(params, X), y).item()
    if verbose:
        print(f"two moons: {n_train} training / {n_test} test points; MLP {'-'.join(map(str, sizes))} (tanh), "
              f"SGD lr {lr}, batch {batch_size}")
        print(f"epoch   0  loss {initial:.4f}")
    losses = []
    for epoch in range(1, epochs + 1):
        order = dg.rand(n_train).numpy().argsort()             # a fresh shuffle from deepgrad's generator
        total = 0.0
        for start in range(0, n_train, batch_size):
            idx = order[start:start + batch_size]
            loss = cross_entropy(forward(params, X[:, idx]), y[idx])
            loss.backward()
            with dg.no_grad():
                for p in flat:
                    p.array -= lr * p.grad.array                 # θ ← θ − η ∂L/∂θ
                    p.grad = None
            total += loss.item() * len(idx)
        losses.append(total / n_train)
        if verbose and (epoch % log_every == 0 or epoch == 1):
            print(f"epoch {epoch:3d}  loss {losses[-1]:.4f}")
    result = {"initial_loss": initial, "losses": losses,
              "train_accuracy": accuracy(params, X, y), "test_accuracy": accuracy(params, X_test, y_test),
              "params": params}
    return result


def main(verbose=True, **kw):
    t0 = time.perf_counter()
    r = train(verbose=verbose, **kw)
    r["seconds"] = time.perf_counter() - t0
    if verbose:
        print(f"done: loss {r['initial_loss']:.4f} -> {r['losses'][-1]:.4f}, "
              f"train accuracy {r['train_accuracy']:.1%}, test accuracy {r['test_accuracy']:.1%} "
              f"({r['seconds']:.1f} s)")
    return r


if __name__ == "__main__":
    main()
