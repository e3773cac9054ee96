"""Every collective of deepgrad.distributed against NumPy, on whatever number of ranks mpiexec started:
each rank regenerates every rank's data from its seed and checks its results; mismatched shapes must raise
the same ValueError on every rank. Prints "collectives ok" per rank."""
import numpy as np

import deepgrad as dg
import deepgrad.distributed as dist

dist.init_process_group(backend="mpi")
rank, size = dist.get_rank(), dist.get_world_size()
ops = {dist.ReduceOp.SUM: np.sum, dist.ReduceOp.AVG: np.mean, dist.ReduceOp.PRODUCT: np.prod,
       dist.ReduceOp.MIN: np.min, dist.ReduceOp.MAX: np.max}


def data(r, shape=(3, 4), dtype=np.float64):
    values = np.random.default_rng(r).uniform(0.5, 1.5, shape)
    return values.astype(dtype) if np.issubdtype(dtype, np.floating) else (values * 10).astype(dtype)


every = lambda shape=(3, 4), dtype=np.float64: np.stack([data(r, shape, dtype) for r in range(size)])  # noqa: E731

for dtype in (np.float64, np.float32, np.int64):
    for op, reduce in ops.items():
        if op is dist.ReduceOp.AVG and dtype is np.int64:
            continue
        for async_op in (False, True):
            t = dg.tensor(data(rank, dtype=dtype))
            work = dist.all_reduce(t, op=op, async_op=async_op)
            if async_op:
                assert work.wait() and work.is_completed()
            expected = reduce(every(dtype=dtype), axis=0).astype(dtype)
            assert t.array.dtype == dtype
            np.testing.assert_allclose(t.array, expected, rtol=1e-6 if dtype is np.float32 else 1e-12)

# a non-contiguous view is reduced through a staged copy and written back
base = dg.tensor(data(rank, (4, 6)))
view = base[:, ::2]
dist.all_reduce(view)
np.testing.assert_allclose(base.array[:, ::2], every((4, 6)).sum(0)[:, ::2], rtol=1e-12)
np.testing.assert_array_equal(base.array[:, 1::2], data(rank, (4, 6))[:, 1::2])

for src in range(size):
    t = dg.tensor(data(rank))
    dist.broadcast(t, src=src, async_op=True).wait()
    np.testing.assert_array_equal(t.array, data(src))

outs = [dg.zeros(3, 4, dtype=dg.float64) for _ in range(size)]
dist.all_gather(outs, dg.tensor(data(rank)))
for r in range(size):
    np.testing.assert_array_equal(outs[r].array, data(r))

dst = size - 1
gathered = [dg.zeros(3, 4, dtype=dg.float64) for _ in range(size)] if rank == dst else None
dist.gather(dg.tensor(data(rank)), gathered, dst=dst)
if rank == dst:
    for r in range(size):
        np.testing.assert_array_equal(gathered[r].array, data(r))

t = dg.zeros(3, 4, dtype=dg.float64)
dist.scatter(t, [dg.tensor(data(100 + r)) for r in range(size)] if rank == 0 else None, src=0)
np.testing.assert_array_equal(t.array, data(100 + rank))

for op, reduce in ops.items():
    out = dg.zeros(2, 5, dtype=dg.float64)
    inputs = [dg.tensor(data(10 * rank + j, (2, 5))) for j in range(size)]
    dist.reduce_scatter(out, inputs, op=op)
    expected = reduce(np.stack([data(10 * r + rank, (2, 5)) for r in range(size)]), axis=0)
    np.testing.assert_allclose(out.array, expected, rtol=1e-12)

# mismatched shapes, dtypes or roots: the same ValueError on every rank, and the group still works after
for call in () if size == 1 else (lambda: dist.all_reduce(dg.zeros(3 + rank)),
             lambda: dist.all_reduce(dg.zeros(3, dtype=dg.float32 if rank else dg.float64)),
             lambda: dist.broadcast(dg.zeros(3), src=rank),
             lambda: dist.all_reduce(dg.zeros(3), op=dist.ReduceOp.MAX if rank else dist.ReduceOp.SUM)):
    try:
        call()
    except ValueError as e:
        assert "differ" in str(e) and "rank 1" in str(e), e
    else:
        raise AssertionError("mismatched arguments were accepted")
dist.barrier()
print(f"collectives ok on rank {rank} of {size}", flush=True)
dist.destroy_process_group()
