"""DistributedDataParallel's errors under mpiexec -n 2: a model that differs across ranks is refused on
every rank naming the parameter; a parameter left out of the loss is named; with find_unused_parameters it
keeps grad None while the used ones are averaged; gradient hooks of the user on parameters apply before the
averaging. Prints "ddp errors ok" per rank."""
import numpy as np

import deepgrad as dg
import deepgrad.distributed as dist
from deepgrad import nn
from deepgrad.nn.parallel import DistributedDataParallel

dist.init_process_group(backend="mpi")
rank = dist.get_rank()

try:
    DistributedDataParallel(nn.Sequential(nn.Linear(3, 4 + rank), nn.ReLU()))
except ValueError as e:
    assert "parameter '0.weight' of shape (4, 3)" in str(e) and "rank 1 has parameter '0.weight' of shape (5, 3)" \
        in str(e), e
else:
    raise AssertionError("a model differing across ranks was accepted")


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.used, self.unused = nn.Linear(3, 2), nn.Linear(3, 2)

    def forward(self, x):
        return self.used(x)


x = dg.tensor(np.full((2, 3), rank + 1.0, np.float32))
try:
    DistributedDataParallel(TwoHeads())(x).sum().backward()
except RuntimeError as e:
    assert "['unused.weight', 'unused.bias'] received no gradient" in str(e) and "find_unused_parameters" in str(e), e
else:
    raise AssertionError("an unused parameter went unreported")

model = TwoHeads()
DistributedDataParallel(model, find_unused_parameters=True)(x).sum().backward()
assert model.unused.weight.grad is None and model.unused.bias.grad is None
np.testing.assert_allclose(model.used.weight.grad.array, np.full((2, 3), 3.0))     # mean of 2·1 and 2·2

# a gradient hook of the user on a parameter runs before the averaging: rank r scales its gradient by r + 1
model = nn.Linear(3, 2)
ddp = DistributedDataParallel(model)
model.weight.register_hook(lambda g: g * (rank + 1))
ddp(x).sum().backward()
np.testing.assert_allclose(model.weight.grad.array, np.full((2, 3), (2 * 1 + 2 * 4) / 2))   # mean of 2(r+1)²
np.testing.assert_allclose(model.bias.grad.array, np.full(2, 2.0))
dist.barrier()
print("ddp errors ok", flush=True)
