#!/usr/bin/env bash
# The GPU check of issue 20, for a session on the GPU machine (NVIDIA H200, Python 3.12, PyTorch CUDA,
# cupy-cuda13x, nvidia-cudnn-cu13, JAX; no network). Finishes in under 8 minutes and writes to $OUT:
#   env.txt            the GPU, the Python packages that matter
#   install.txt        installing the cuDNN frontend (and pytest if missing) and building deepgrad
#   cuda_tests.txt     the CUDA tests (tests/test_cuda_kernels.py and the other `cuda`-marked tests) + junit XML
#   gpu_bench.txt/json bench/gpu.py: deepgrad vs PyTorch CUDA, median ms per step and ratios
#
# It expects the wheels the machine lacks in wheels/ at the repository root (git-ignored; bring them along,
# e.g. the device tool's carry=["wheels"]), downloaded on a machine with network by
#   pip download --no-deps --python-version 3.12 --only-binary=:all: nvidia-cudnn-frontend -d wheels
#   pip download --python-version 3.12 --only-binary=:all: pytest -d wheels
# The frontend's own dependencies (apache-tvm-ffi, nvidia-cutlass-dsl) serve its DSL kernels only: graphs
# (convolutions, batch norm) need none of them, so it is installed with --no-deps.
#
#   bash bench/gpu_check.sh            (run from the repository root)
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/deepgrad-gpu-check}
mkdir -p "$OUT"
PY=${PYTHON:-python3}

{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
    $PY --version
    $PY -m pip list 2>/dev/null | grep -i -E "^(torch|cupy|nvidia-cudnn|numpy|jax|pytest|numba) "
} > "$OUT/env.txt" 2>&1

{
    ls wheels/ || echo "wheels/ is missing: convolutions will take im2col + cuBLAS, not cuDNN"
    $PY -m pip install --no-index --no-deps wheels/nvidia_cudnn_frontend-*-cp312-*.whl
    $PY -c "import pytest" 2>/dev/null || $PY -m pip install --no-index --find-links wheels pytest
    # the C extension (the CPU's direct kernels, which the CPU side of the comparisons uses)
    $PY -m pip install --no-index --no-deps --no-build-isolation -e . || $PY setup.py build_ext --inplace
    $PY -c "import cudnn, cupy, deepgrad; print('cudnn frontend', cudnn.__version__, 'backend', cudnn.backend_version(),
'| cupy', cupy.__version__, '| deepgrad.cuda.is_available():', deepgrad.cuda.is_available())"
} > "$OUT/install.txt" 2>&1
tail -n 3 "$OUT/install.txt"

# the CUDA tests: at most 4.5 minutes
timeout 270 $PY -m pytest tests/test_cuda_kernels.py tests/test_device.py -m cuda -q -p no:cacheprovider \
    -o addopts="" --junitxml="$OUT/cuda_tests.xml" > "$OUT/cuda_tests.txt" 2>&1
echo "cuda tests: exit $? ($(tail -n 1 "$OUT/cuda_tests.txt"))"

# the benchmark: at most 2.5 minutes
timeout 150 $PY bench/gpu.py --json "$OUT/gpu_bench.json" > "$OUT/gpu_bench.txt" 2>&1
echo "bench/gpu.py: exit $?"
cat "$OUT/gpu_bench.txt"
