"""``torch.backends.cuda``: ``matmul.allow_tf32`` lets cuBLAS round float32 matrix products to TF32 on Ampere and
newer GPUs (faster, ~1e-3 relative error). Off by default, as in PyTorch, so results match the CPU's."""


class _Matmul:
    allow_tf32 = False


matmul = _Matmul()
