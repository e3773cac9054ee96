"""The weight gradient's matrix product in the GEMM-based convolutions (``convolution.py``): per group, the
unfolded windows (K × P) times the output gradient (M × P) transposed, summed over P positions that
run over the whole batch, into a K × M result as small as the weights.

OpenBLAS multiplies matrices with M·N·K ≤ 10⁶ with a kernel that skips packing them into its blocked
layout (on SkylakeX and newer x86 cores); above that it packs both long operands, which costs as much
as the arithmetic when the result is tiny. For LeNet-5's first layer (6 × 25 weights) the whole
product runs at ~20 GFLOPS, pieces of ≤ 10⁶ at ~85 GFLOPS (weight gradient 3.3 → 2.2 ms). So where the
weights have at most ``FEW_WEIGHTS`` entries, the sum over positions is taken in such pieces.
(Products with a long output, the forward and transposed convolutions, gain nothing from pieces.)
"""

FEW_WEIGHTS = 256
SMALL_PRODUCT = 1_000_000      # M·N·K up to which OpenBLAS multiplies without packing


def inner(cols, y):
    """cols (G, K, P) @ y (G, M, P)ᵀ -> (G, K, M)."""
    weights, length = cols.shape[-2] * y.shape[-2], cols.shape[-1]
    step = max(1, length if weights > FEW_WEIGHTS else SMALL_PRODUCT // max(1, weights))
    total = None
    for a in range(0, max(1, length), step):      # once at least: no positions give zeros
        part = cols[..., a:a + step] @ y[..., a:a + step].swapaxes(-1, -2)
        total = part if total is None else total + part
    return total
