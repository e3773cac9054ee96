"""DistributedDataParallel on p ranks x b samples against one process on the p·b samples, several optimiser
steps: ``ddp.py DTYPE OPTIMISER MODE`` with MODE plain (each rank starts from different weights: DDP must
copy rank 0's), nosync (two micro-batches, the first under no_sync), syncbn (SyncBatchNorm against
BatchNorm2d on the whole batch, running statistics included) or buckets (a bucket per parameter).
Prints "ddp ok" per rank."""
import sys

import numpy as np

import deepgrad as dg
import deepgrad.distributed as dist
from deepgrad import nn
from deepgrad.nn.parallel import DistributedDataParallel

dtype_name, optimiser, mode = sys.argv[1:4]
dtype = getattr(dg, dtype_name)
dist.init_process_group(backend="mpi")
rank, size = dist.get_rank(), dist.get_world_size()
b, steps = 4, 4


def build(seed, sync):
    dg.manual_seed(seed)
    norm = nn.SyncBatchNorm(4) if sync else nn.BatchNorm2d(4)
    # no conv bias before batch norm: its exact gradient is 0, and Adam would amplify the rounding noise
    layers = [nn.Conv2d(1, 4, 3, bias=False), norm] if mode == "syncbn" else [nn.Conv2d(1, 4, 3)]
    model = nn.Sequential(*layers, nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 5))
    return model.to(dtype)


def make_optimiser(model):
    if optimiser == "adam":
        return dg.optim.Adam(model.parameters(), lr=0.01)
    return dg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


rng = np.random.default_rng(123)
xs = rng.standard_normal((steps, size * b, 1, 8, 8))
ys = rng.integers(0, 5, (steps, size * b))
loss_fn = nn.CrossEntropyLoss()


def train(model, forward, step_fn):
    opt = make_optimiser(model)
    for step in range(steps):
        opt.zero_grad()
        step_fn(forward, step)
        opt.step()
    return model


def whole_batch(forward, step):
    loss_fn(forward(dg.tensor(xs[step], dtype=dtype)), dg.tensor(ys[step])).backward()


def shard(forward, step):
    x, y = xs[step, rank * b:(rank + 1) * b], ys[step, rank * b:(rank + 1) * b]
    if mode != "nosync":
        loss_fn(forward(dg.tensor(x, dtype=dtype)), dg.tensor(y)).backward()
        return
    with forward.no_sync():
        (loss_fn(forward(dg.tensor(x[:2], dtype=dtype)), dg.tensor(y[:2])) / 2).backward()
    (loss_fn(forward(dg.tensor(x[2:], dtype=dtype)), dg.tensor(y[2:])) / 2).backward()


single = build(1, sync=False)
train(single, single, whole_batch)
model = build(rank + 1, sync=True)
ddp = DistributedDataParallel(model, bucket_cap_mb=1e-6 if mode == "buckets" else 25)
assert (len(ddp._buckets) == len(list(model.parameters()))) == (mode == "buckets")
train(model, ddp, shard)
tol = 1e-10 if dtype is dg.float64 else 1e-5
for (name, ours), theirs in zip(model.state_dict().items(), single.state_dict().values()):
    np.testing.assert_allclose(ours.array, theirs.array, rtol=tol, atol=tol, err_msg=name)
print("ddp ok", flush=True)
