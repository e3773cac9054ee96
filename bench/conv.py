"""Convolution and pooling layers, deepgrad vs PyTorch: forward and forward + backward."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402  (sets up the environment before NumPy loads)

# name, op, input shape, weight shape (None for pooling), keyword arguments
CASES = [
    ("conv2d 64->64 3x3 pad 1, 32x32, batch 32", "conv2d", (32, 64, 32, 32), (64, 64, 3, 3), {"padding": 1}),
    ("LeNet-5 C1 conv2d 1->6 5x5, 32x32, batch 128", "conv2d", (128, 1, 32, 32), (6, 1, 5, 5), {}),
    ("LeNet-5 C3 conv2d 6->16 5x5, 14x14, batch 128", "conv2d", (128, 6, 14, 14), (16, 6, 5, 5), {}),
    ("depthwise 3x3, 32 ch, 32x32, batch 32", "conv2d", (32, 32, 32, 32), (32, 1, 3, 3), {"padding": 1, "groups": 32}),
    ("conv_transpose2d 32->16 4x4 s2, 16x16->32x32, b 32", "conv_transpose2d", (32, 32, 16, 16), (32, 16, 4, 4),
     {"stride": 2, "padding": 1}),
    ("max_pool2d 2x2, 64 ch, 32x32, batch 32", "max_pool2d", (32, 64, 32, 32), None, {"kernel_size": 2}),
]


def build_one(framework):
    """conv/pool layers forward and forward+backward (float32)."""
    import numpy as np
    if framework == "torch":
        import torch as lib
        import torch.nn.functional as F
    else:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
        import deepgrad as lib
        import deepgrad.nn.functional as F

    cases = []
    for i, (name, op, x_shape, w_shape, kwargs) in enumerate(CASES):
        rng = np.random.default_rng(i)      # the same data for both frameworks, built apart or together
        x0 = rng.standard_normal(x_shape).astype(np.float32)
        w0 = None if w_shape is None else (rng.standard_normal(w_shape) * 0.1).astype(np.float32)
        fn = getattr(F, op)
        for backward in (False, True):
            x = lib.tensor(x0, requires_grad=backward)
            args = (x,) if w0 is None else (x, lib.tensor(w0, requires_grad=backward))
            g = lib.tensor(rng.standard_normal(tuple(fn(*args, **kwargs).shape)).astype(np.float32)) if backward else None

            def step(fn=fn, args=args, kwargs=kwargs, g=g):
                y = fn(*args, **kwargs)
                if g is not None:
                    y.backward(g)
                    for a in args:
                        a.grad = None
            cases.append((f"{name} {'fwd+bwd' if backward else 'fwd'}", step))
    return cases


if __name__ == "__main__":
    harness.run(__file__, build_one=build_one, reps=20, warmup=3)
