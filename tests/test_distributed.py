"""deepgrad.distributed: the process group and the collectives. Programs under tests/mpi_programs run under
``mpiexec -n 2`` / ``-n 3`` and check themselves against NumPy (they exit non-zero on any mismatch); the
single-process group and the argument checks run here, in this process."""
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import deepgrad as dg
import deepgrad.distributed as dist

PROGRAMS = os.path.join(os.path.dirname(__file__), "mpi_programs")
needs_mpi = pytest.mark.skipif(not dist.is_mpi_available() or shutil.which("mpiexec") is None,
                               reason="mpi4py and mpiexec are needed (pip install 'deepgrad[mpi]')")


def mpirun(n, program, *args, timeout=120):
    """Run tests/mpi_programs/``program`` on ``n`` ranks (one thread each); the CompletedProcess."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([os.path.dirname(PROGRAMS), os.path.dirname(os.path.dirname(PROGRAMS))]))
    return subprocess.run(["mpiexec", "-n", str(n), sys.executable, os.path.join(PROGRAMS, program), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def expect_ok(result, n, marker):
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(marker) == n, result.stdout + result.stderr


@pytest.fixture
def single():
    dist.init_process_group(backend="mpi")
    yield
    dist.destroy_process_group()


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_collectives_against_numpy(n):
    expect_ok(mpirun(n, "collectives.py"), n, "collectives ok")


@needs_mpi
@pytest.mark.parametrize("flag", [None, "--interrupt"])
def test_a_failing_rank_ends_the_job(flag):
    start = time.monotonic()
    result = mpirun(3, "fault.py", *([flag] if flag else []), timeout=60)
    assert time.monotonic() - start < 60
    assert result.returncode != 0
    assert "unreachable" not in result.stdout
    if flag is None:
        assert result.stderr.count("RuntimeError: rank 1 fails on purpose") == 1, result.stderr
        assert "[rank 1] Traceback" in result.stderr
    else:
        assert "[rank 1] interrupted" in result.stderr


def test_single_process_group(single):
    assert dist.is_initialized() and dist.get_rank() == 0 and dist.get_world_size() == 1
    t = dg.tensor([1.0, -2.0, 3.0])
    for op in dist.ReduceOp:
        dist.all_reduce(t, op=op)
        np.testing.assert_array_equal(t.array, [1.0, -2.0, 3.0])
    out = [dg.zeros(3)]
    dist.all_gather(out, t)
    np.testing.assert_array_equal(out[0].array, t.array)
    dist.scatter(t, [dg.tensor([4.0, 5.0, 6.0])], src=0)
    np.testing.assert_array_equal(t.array, [4.0, 5.0, 6.0])
    dist.barrier()


def test_group_lifecycle_and_misuse():
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match="not been initialized"):
        dist.get_rank()
    with pytest.raises(ValueError, match="backend must be 'mpi'"):
        dist.init_process_group(backend="nccl")
    if dist.is_mpi_available():
        with pytest.raises(ValueError, match="world_size=4 was given but the MPI launcher started this process "
                                             "with world_size 1"):
            dist.init_process_group(world_size=4)
    else:
        with pytest.raises(ImportError, match=r"mpi4py is not installed; pip install 'deepgrad\[mpi\]'"):
            dist.init_process_group(world_size=4)
    dist.init_process_group()
    try:
        with pytest.raises(RuntimeError, match="already initialized"):
            dist.init_process_group()
    finally:
        dist.destroy_process_group()


def test_argument_checks(single):
    t = dg.zeros(3)
    with pytest.raises(TypeError, match="tensor must be a Tensor"):
        dist.all_reduce(np.zeros(3))
    with pytest.raises(TypeError, match="AVG needs a floating dtype"):
        dist.all_reduce(dg.zeros(3, dtype=dg.int64), op=dist.ReduceOp.AVG)
    with pytest.raises(TypeError, match="op must be a ReduceOp"):
        dist.all_reduce(t, op="sum")
    with pytest.raises(ValueError, match=r"src must be a rank in \[0, 1\)"):
        dist.broadcast(t, src=1)
    with pytest.raises(ValueError, match="list of 1 Tensors"):
        dist.all_gather([t, t], t)
    with pytest.raises(ValueError, match=r"tensor_list\[0\] has shape \(4,\)"):
        dist.all_gather([dg.zeros(4)], t)
    with pytest.raises(ValueError, match="list of 1 Tensors"):
        dist.gather(t, None, dst=0)


def test_version_bumped_by_in_place_collectives(single):
    t = dg.zeros(3)
    before = t._version
    dist.all_reduce(t)
    assert t._version == before + 1
