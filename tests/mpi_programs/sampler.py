"""DistributedSampler under mpiexec: each rank takes its shard from the process group's rank and size; the
shards, gathered, are equal in length, cover the dataset (padded by repeating its start) and, with
drop_last, are disjoint. Prints "sampler ok" per rank."""
import numpy as np

import deepgrad as dg
import deepgrad.distributed as dist
from deepgrad.utils.data import DistributedSampler

dist.init_process_group(backend="mpi")
size = dist.get_world_size()
for n in (10, 11, 3 * size + 1):
    for drop_last in (False, True):
        sampler = DistributedSampler(range(n), shuffle=True, seed=7, drop_last=drop_last)
        sampler.set_epoch(2)
        mine = dg.tensor(np.array(list(sampler), dtype=np.int64))
        shards = [dg.zeros(len(sampler), dtype=dg.int64) for _ in range(size)]
        dist.all_gather(shards, mine)
        every = np.concatenate([s.array for s in shards])
        if drop_last:
            assert len(set(every.tolist())) == len(every) == n // size * size
        else:
            assert set(every.tolist()) == set(range(n)) and len(every) == -(-n // size) * size
print("sampler ok", flush=True)
