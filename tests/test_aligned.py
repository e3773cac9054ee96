"""backend.empty_aligned / zeros_aligned: GEMM operands (im2col buffers, grid layouts) start on
64-byte boundaries, since OpenBLAS multiplies misaligned operands up to 1.4x slower."""
import numpy as np
import pytest

from deepgrad import backend


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8])
@pytest.mark.parametrize("shape", [(0,), (1,), (3, 5), (2, 7, 9)])
def test_aligned_arrays_start_on_a_cache_line(shape, dtype):
    for _ in range(5):              # whatever offset malloc hands out
        a, z = backend.empty_aligned(shape, dtype), backend.zeros_aligned(shape, dtype)
        assert a.shape == z.shape == shape and a.dtype == z.dtype == dtype
        if a.size:                  # an empty array's address means nothing
            assert a.ctypes.data % backend.ALIGNMENT == 0 and z.ctypes.data % backend.ALIGNMENT == 0
        assert a.flags.c_contiguous and a.flags.writeable and not z.any()


def test_im2col_buffers_are_aligned():
    from deepgrad.kernels.cpu.convolution import im2col
    from deepgrad.kernels.cpu.grid import Grid
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 9)).astype(np.float32)
    for stride in (1, 2):
        cols = im2col(x, Grid((3, 3), (stride, stride), (1, 1), (7 // stride, 7 // stride)), (0, 0), 1)
        assert cols.ctypes.data % backend.ALIGNMENT == 0
