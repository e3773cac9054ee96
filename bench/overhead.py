"""Per-operation overhead: a chain of 1,000 small elementwise ops, forward + backward."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402  (sets up the environment before NumPy loads)

N_OPS = 1000
SIZE = 16


def build_one(framework):
    """Chain of 1,000 elementwise ops on 16 floats (multiply by a parameter, add, tanh, scale), forward + backward."""
    import numpy as np
    if framework == "torch":
        import torch as lib
    else:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
        import deepgrad as lib

    x0 = np.random.default_rng(0).standard_normal(SIZE).astype(np.float32)
    x = lib.tensor(x0, requires_grad=True)
    a = lib.tensor(np.full(SIZE, 0.999, np.float32), requires_grad=True)

    def step():
        y = x
        for _ in range(N_OPS // 4):
            y = y * a
            y = y + 0.01
            y = y.tanh()
            y = y * 1.5
        y.sum().backward()
        x.grad = a.grad = None
    return [(f"{N_OPS} elementwise ops fwd+bwd (size {SIZE})", step)]


if __name__ == "__main__":
    harness.run(__file__, build_one=build_one, reps=30, warmup=5)
