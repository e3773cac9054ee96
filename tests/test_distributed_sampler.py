"""DistributedSampler against torch.utils.data.DistributedSampler: given the same permutation (torch's
randperm replaced by ours), the same shards for every size, rank, shuffle and drop_last; and under mpiexec
-n 3 the shards of the real ranks cover the data."""
import numpy as np
import pytest

import deepgrad.distributed as dist
from deepgrad.utils.data import DistributedSampler

from test_distributed import expect_ok, mpirun, needs_mpi

torch = pytest.importorskip("torch")
from torch.utils.data.distributed import DistributedSampler as TorchSampler  # noqa: E402


@pytest.mark.parametrize("n", [0, 1, 5, 10, 11, 12])
@pytest.mark.parametrize("replicas", [1, 2, 3, 7])
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
def test_same_shards_as_torch(monkeypatch, n, replicas, shuffle, drop_last):
    for rank in range(replicas):
        ours = DistributedSampler(range(n), replicas, rank, shuffle=shuffle, seed=3, drop_last=drop_last)
        theirs = TorchSampler(range(n), replicas, rank, shuffle=shuffle, seed=3, drop_last=drop_last)
        for epoch in (0, 1):
            ours.set_epoch(epoch)
            theirs.set_epoch(epoch)
            monkeypatch.setattr(torch, "randperm", lambda *a, **k: torch.tensor(ours.permutation(), dtype=torch.int64))
            assert list(ours) == list(theirs)
            assert len(ours) == len(theirs)


def test_shuffling_follows_seed_and_epoch():
    def shard(seed, epoch):
        sampler = DistributedSampler(range(50), 2, 0, seed=seed)
        sampler.set_epoch(epoch)
        return list(sampler)
    assert shard(0, 0) == shard(0, 0)
    assert shard(0, 0) != shard(0, 1) and shard(0, 0) != shard(1, 0)
    assert shard(1, 0) == shard(0, 1)          # the seed of an epoch is seed + epoch, as PyTorch's
    assert list(DistributedSampler(range(6), 2, 1, shuffle=False)) == [1, 3, 5]


def test_defaults_from_the_process_group():
    with pytest.raises(RuntimeError, match="not been initialized"):
        DistributedSampler(range(4))
    dist.init_process_group()
    try:
        sampler = DistributedSampler(range(4), shuffle=False)
        assert (sampler.num_replicas, sampler.rank, list(sampler)) == (1, 0, [0, 1, 2, 3])
    finally:
        dist.destroy_process_group()


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval \[0, 1\]"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas should be a positive integer"):
        DistributedSampler(range(4), num_replicas=0, rank=0)


@needs_mpi
def test_shards_cover_the_data_on_three_ranks():
    expect_ok(mpirun(3, "sampler.py"), 3, "sampler ok")


def test_disjoint_cover_every_size():
    for n in range(1, 20):
        for replicas in (2, 3, 4):
            shards = [list(DistributedSampler(range(n), replicas, r, drop_last=True)) for r in range(replicas)]
            flat = np.concatenate(shards).tolist() if shards[0] else []
            assert len(set(flat)) == len(flat) == n // replicas * replicas
