"""An MLP training step: 784-256-256-10, ReLU, cross-entropy via log_softmax, plain SGD, batch 128."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402  (sets up the environment before NumPy loads)

SIZES = (784, 256, 256, 10)
BATCH = 128
LR = 0.01


def build_one(framework):
    """MLP 784-256-256-10 training step (ReLU, log_softmax cross-entropy, SGD), batch 128, float32."""
    import numpy as np
    if framework == "torch":
        import torch as lib

        def update(p):
            p -= LR * p.grad
    else:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
        import deepgrad as lib

        def update(p):
            p.array -= LR * p.grad.array

    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    y0 = rng.integers(0, SIZES[-1], BATCH)
    params = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):
        w = (rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(np.float32)
        params += [lib.tensor(w, requires_grad=True), lib.tensor(np.zeros(n_out, np.float32), requires_grad=True)]
    x, y, rows = lib.tensor(x0), lib.tensor(y0), lib.arange(BATCH)

    def step():
        h = x
        for i in range(0, len(params), 2):
            h = h @ params[i].T + params[i + 1]
            if i + 2 < len(params):
                h = h.relu()
        loss = -h.log_softmax(-1)[rows, y].mean()
        loss.backward()
        with lib.no_grad():
            for p in params:
                update(p)
                p.grad = None
    return [(f"MLP {'-'.join(map(str, SIZES))} SGD step, batch {BATCH}", step)]


if __name__ == "__main__":
    harness.run(__file__, build_one=build_one, reps=50, warmup=10)
