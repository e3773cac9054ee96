"""Backpropagation by hand (the chapter's section 二, eqs. 2.1-2.11), checked against autodiff.

A small MLP, by default 4-5-3-2 with a sigmoid layer, a tanh layer and a softmax output trained
with cross-entropy, sees one sample (x, y).  We

1. run the forward pass of eq. 1.1,  z(l) = W(l) a(l-1) + b(l),  a(l) = f_l(z(l)),  a(0) = x;
2. compute the error terms δ(l) = ∂L/∂z(l) (eq. 2.4) by hand, from the output layer back:
   δ(L) from the loss, then  δ(l) = f_l'(z(l)) ⊙ (W(l+1))ᵀ δ(l+1)  (eq. 2.7);
3. read off the gradients  ∂L/∂W(l) = δ(l) a(l-1)ᵀ  (eq. 2.10)  and  ∂L/∂b(l) = δ(l)  (eq. 2.11);
4. let deepgrad do the same with ``loss.backward()`` and print the largest difference.

Everything uses the chapter's column-vector convention: x, z(l), a(l), b(l) and δ(l) are columns
(shape M_l × 1) and W(l) is M_l × M_{l-1}.  Run in float64 the two agree to rounding (~1e-16).

    python examples/backprop_by_hand.py
"""
import numpy as np

import deepgrad as dg

SIZES = (4, 5, 3, 2)              # M_0 (input), M_1, M_2, M_3 = M_L (output)
HIDDEN = ("sigmoid", "tanh")      # f_1, f_2; the output f_L is fixed by the loss, below
LOSSES = ("cross_entropy", "squared")


# ------------------------------------------------------------ activations f and their derivatives f'
def _sigmoid_prime(z):
    s = dg.sigmoid(z)
    return s * (1 - s)                      # σ'(z) = σ(z)(1 - σ(z))


def _tanh_prime(z):
    return 1 - dg.tanh(z) ** 2              # tanh'(z) = 1 - tanh²(z)


ACTIVATIONS = {                             # name -> (f, f'), both elementwise, as in eq. 2.6
    "sigmoid": (dg.sigmoid, _sigmoid_prime),
    "tanh": (dg.tanh, _tanh_prime),
    "identity": (lambda z: z, lambda z: dg.ones_like(z)),
}


def output_activation(loss):
    """f_L: softmax for cross-entropy (the usual pairing), sigmoid for the squared loss."""
    return {"cross_entropy": "softmax", "squared": "sigmoid"}[loss]


# ------------------------------------------------------------ the network and one sample
def init_params(sizes=SIZES, seed=0, dtype=dg.float64):
    """Weights W(l) ∈ R^{M_l × M_{l-1}} and biases b(l) ∈ R^{M_l} (stored as M_l × 1 columns)."""
    dg.manual_seed(seed)
    params = []
    for m_prev, m in zip(sizes[:-1], sizes[1:]):
        W = (dg.randn(m, m_prev, dtype=dtype) * (1.0 / np.sqrt(m_prev))).requires_grad_()
        b = (dg.randn(m, 1, dtype=dtype) * 0.1).requires_grad_()
        params.append((W, b))
    return params


def make_sample(sizes=SIZES, seed=1, dtype=dg.float64):
    """One sample (x, y): x a random M_0 × 1 column, y a one-hot M_L × 1 column."""
    dg.manual_seed(seed)
    x = dg.randn(sizes[0], 1, dtype=dtype)
    y = dg.zeros(sizes[-1], 1, dtype=dtype)
    y[int(dg.randint(sizes[-1]).item()), 0] = 1.0
    return x, y


def forward(params, x, hidden=HIDDEN, loss="cross_entropy"):
    """Eq. 1.1 layer by layer: returns the lists [z(1), ..., z(L)] and [a(0), a(1), ..., a(L)].

    Hidden layer l uses ``hidden[l-1]``; the output layer uses ``output_activation(loss)``.
    """
    L = len(params)
    if len(hidden) != L - 1:
        raise ValueError(f"need {L - 1} hidden activations for {L} layers, got {hidden!r}")
    zs, acts = [], [x]
    for l, (W, b) in enumerate(params, start=1):
        z = W @ acts[-1] + b                                          # z(l) = W(l) a(l-1) + b(l)
        if l < L:
            a = ACTIVATIONS[hidden[l - 1]][0](z)                      # a(l) = f_l(z(l))
        elif output_activation(loss) == "softmax":
            a = dg.softmax(z, dim=0)
        else:
            a = dg.sigmoid(z)
        zs.append(z)
        acts.append(a)
    return zs, acts


def loss_value(z_out, a_out, y, loss="cross_entropy"):
    """L(y, ŷ): cross-entropy −yᵀ log softmax(z(L)), or the squared loss ½‖y − a(L)‖²."""
    if loss == "cross_entropy":
        return -(y * dg.log_softmax(z_out, dim=0)).sum()
    if loss == "squared":
        return 0.5 * ((y - a_out) ** 2).sum()
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")


# ------------------------------------------------------------ the chapter's backpropagation
def output_delta(z_out, a_out, y, loss="cross_entropy"):
    """δ(L) = ∂L/∂z(L) (eq. 2.4 at the output layer).

    * cross-entropy with softmax output:  δ(L) = ŷ − y            (ŷ = softmax(z(L)));
    * squared loss with sigmoid output:   δ(L) = f_L'(z(L)) ⊙ (a(L) − y).
    """
    if loss == "cross_entropy":
        return a_out - y
    if loss == "squared":
        return _sigmoid_prime(z_out) * (a_out - y)
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")


def manual_gradients(params, x, y, hidden=HIDDEN, loss="cross_entropy"):
    """Backpropagation exactly as written in the chapter, no autodiff involved.

    Returns a dict of NumPy arrays, each list indexed by layer l = 1..L (list index l-1):
    ``deltas`` δ(l) (eqs. 2.4, 2.7), ``dW`` ∂L/∂W(l) = δ(l) a(l-1)ᵀ (eq. 2.10),
    ``db`` ∂L/∂b(l) = δ(l) (eq. 2.11), and ``loss``.
    """
    with dg.no_grad():
        zs, acts = forward(params, x, hidden, loss)                       # step 1: eq. 1.1
        L = len(params)
        deltas = [None] * L
        deltas[L - 1] = output_delta(zs[-1], acts[-1], y, loss)          # δ(L)
        for l in range(L - 1, 0, -1):                                     # step 2: l = L-1, ..., 1
            W_next = params[l][0]                                         # W(l+1) (list index l)
            f_prime = ACTIVATIONS[hidden[l - 1]][1]
            deltas[l - 1] = f_prime(zs[l - 1]) * (W_next.T @ deltas[l])   # eq. 2.7
        dW = [deltas[l] @ acts[l].T for l in range(L)]                    # step 3: eq. 2.10 (acts[l] = a(l-1))
        db = list(deltas)                                                 # eq. 2.11
        value = loss_value(zs[-1], acts[-1], y, loss).item()
    return {"deltas": [d.numpy() for d in deltas], "dW": [g.numpy() for g in dW],
            "db": [g.numpy() for g in db], "loss": value}


def autodiff_gradients(params, x, y, hidden=HIDDEN, loss="cross_entropy"):
    """The same gradients from deepgrad's reverse mode: ``loss.backward()``.

    Also keeps ∂L/∂z(l) of the intermediate z(l) (``retain_grad``), which by definition (eq. 2.4)
    are the error terms δ(l).  Same dict layout as :func:`manual_gradients`.
    """
    for W, b in params:
        W.grad = b.grad = None
    zs, acts = forward(params, x, hidden, loss)
    for z in zs:
        z.retain_grad()
    value = loss_value(zs[-1], acts[-1], y, loss)
    value.backward()
    out = {"deltas": [z.grad.numpy() for z in zs], "dW": [W.grad.numpy() for W, _ in params],
           "db": [b.grad.numpy() for _, b in params], "loss": value.item()}
    for W, b in params:
        W.grad = b.grad = None
    return out


def max_difference(manual, auto):
    """Largest |manual − autodiff| over every δ(l), ∂L/∂W(l) and ∂L/∂b(l)."""
    return max(float(np.max(np.abs(m - a)))
               for key in ("deltas", "dW", "db") for m, a in zip(manual[key], auto[key]))


def main(sizes=SIZES, hidden=HIDDEN, verbose=True):
    """Run both losses; print δ(l) per layer and the gradient differences; return the max difference."""
    np.set_printoptions(precision=5, suppress=True)
    worst = 0.0
    for loss in LOSSES:
        params = init_params(sizes)
        x, y = make_sample(sizes)
        manual = manual_gradients(params, x, y, hidden, loss)
        auto = autodiff_gradients(params, x, y, hidden, loss)
        diff = max_difference(manual, auto)
        worst = max(worst, diff)
        if verbose:
            acts = list(hidden) + [output_activation(loss)]
            print(f"== {'-'.join(map(str, sizes))} MLP ({', '.join(acts)}), {loss} loss, "
                  f"L = {manual['loss']:.6f}")
            for l in range(len(sizes) - 1, 0, -1):
                print(f"  δ({l}) = {manual['deltas'][l - 1].ravel()}")
            for l in range(1, len(sizes)):
                dW = np.max(np.abs(manual["dW"][l - 1] - auto["dW"][l - 1]))
                db = np.max(np.abs(manual["db"][l - 1] - auto["db"][l - 1]))
                print(f"  layer {l}: max|ΔdW| = {dW:.2e} (shape {manual['dW'][l - 1].shape}),"
                      f" max|Δdb| = {db:.2e}")
            print(f"  max |manual − autodiff| over all δ, W, b: {diff:.3e}")
    if verbose:
        print(f"Backprop by hand (eqs. 2.7, 2.10, 2.11) matches loss.backward(): max difference {worst:.3e}")
    return worst


if __name__ == "__main__":
    main()
