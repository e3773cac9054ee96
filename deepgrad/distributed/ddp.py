"""``DistributedDataParallel``: the same model on every rank, each rank on its own part of the batch, the
gradients averaged over ranks during the backward pass (PyTorch's DDP, over MPI).

Overlap: while the DDP forward runs, each module that holds parameters sees, in place of each parameter p,
``_Ready(p, anchor)``: the same memory, recorded as a node. The reverse pass reaches that node once every
operation that used it has run its VJP, so its VJP gets p's whole gradient from that call, and p is ready.
Parameters are grouped into buckets of about ``bucket_cap_mb`` (in reverse order of ``parameters()``,
roughly the order backward finishes them); when a bucket's parameters are all ready, its flat buffer's
non-blocking all-reduce starts at once, while backward goes on with the layers below. ``anchor`` is a node
fed by every parameter and feeding every ``_Ready`` node, so the reverse pass reaches it after all of them:
its VJP waits for every bucket and writes the averaged gradients into ``.grad`` before ``backward()``
returns. Buckets start in the same order on every rank, as MPI requires of non-blocking collectives.
"""
import contextlib

from .. import backend
from ..autograd.function import Primitive, apply, is_grad_enabled
from ..autograd.tensor import Tensor
from ..nn.module import Module
from .collectives import IN_PLACE, MPI, broadcast
from .group import group

np = backend.numpy


class _Anchor(Primitive):
    """A 0-d node fed by the parameters; its VJP runs after every ``_Ready`` node's and calls ``on_done``."""
    saved = ()

    def forward(self, *params, on_done):
        return np.zeros((), backend.default_float)

    def vjp(self, g, out, *params, on_done):
        on_done()
        return (None,) * len(params)

    def jvp(self, tangents, out, *params, on_done):
        return None


class _Ready(Primitive):
    """y = p (same memory) recorded after the anchor; its VJP hands p's gradient to ``on_grad`` and on to p."""
    saved = ()

    def forward(self, p, anchor, on_grad):
        return p

    def vjp(self, g, out, p, anchor, on_grad):
        on_grad(p, g)
        return g, Tensor.wrap(np.zeros((), anchor.dtype))

    def jvp(self, tangents, out, p, anchor, on_grad):
        return tangents[0]


class _Bucket:
    """Parameters of one dtype whose gradients travel together in one flat buffer."""

    def __init__(self, params):
        self.params = params
        self.offsets = np.cumsum([0] + [p.array.size for p in params]).tolist()
        self.flat = np.empty(self.offsets[-1], params[0].array.dtype)
        self.span = {id(p): (start, stop) for p, start, stop in self.slices()}
        self.ready = 0
        self.request = None

    def slices(self):
        return zip(self.params, self.offsets[:-1], self.offsets[1:])


def _buckets(params, cap_bytes):
    """Consecutive runs of ``params`` of one dtype, each closed once it holds ``cap_bytes`` or more."""
    buckets, current, size = [], [], 0
    for p in params:
        if current and (p.array.dtype != current[0].array.dtype or size >= cap_bytes):
            buckets.append(_Bucket(current))
            current, size = [], 0
        current.append(p)
        size += p.array.nbytes
    return buckets + ([_Bucket(current)] if current else [])


def _check_same_structure(g, module):
    """Raise the same ValueError on every rank unless every rank's module has the same parameters and buffers
    (names, shapes, dtypes), naming the first difference."""
    mine = [(kind, name, tuple(t.shape), str(t.dtype))
            for kind, members in (("parameter", module.named_parameters()), ("buffer", module.named_buffers()))
            for name, t in members]
    everyone = g.comm.allgather(mine)
    describe = lambda entry: f"{entry[0]} '{entry[1]}' of shape {entry[2]} and dtype {entry[3]}"  # noqa: E731
    for rank, theirs in enumerate(everyone):
        if theirs == everyone[0]:
            continue
        for i in range(max(len(theirs), len(everyone[0]))):
            ours, other = everyone[0][i:i + 1], theirs[i:i + 1]
            if ours != other:
                raise ValueError("DistributedDataParallel: the model differs across ranks: rank 0 has "
                                 f"{describe(ours[0]) if ours else 'nothing more'} where rank {rank} has "
                                 f"{describe(other[0]) if other else 'nothing more'}")


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training (``torch.nn.parallel.DistributedDataParallel``).

    At construction rank 0's parameters and buffers are copied to every rank (after checking that all ranks
    hold the same structure); with ``broadcast_buffers`` the buffers are copied again before every forward.
    ``backward()`` leaves in ``.grad`` the average over ranks of the ranks' gradients, so p ranks on b
    samples each step like one process on the p·b samples. Inside ``no_sync()`` gradients only accumulate
    locally. A parameter that got no gradient is an error naming it, unless ``find_unused_parameters``:
    then it counts as zero on that rank (and keeps ``grad`` None where no rank used it)."""

    def __init__(self, module, broadcast_buffers=True, bucket_cap_mb=25, find_unused_parameters=False):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be a deepgrad.nn.Module, got "
                            f"{type(module).__name__}")
        if not (isinstance(bucket_cap_mb, (int, float)) and bucket_cap_mb > 0):
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be a positive number, got {bucket_cap_mb!r}")
        self._group = group()
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.require_backward_grad_sync = True
        _check_same_structure(self._group, module)
        for t in [*module.parameters(), *module.buffers()]:
            broadcast(t, src=0)
        names = {id(p): name for name, p in module.named_parameters()}
        self._params = [p for p in module.parameters() if p.requires_grad]
        self._names = [names[id(p)] for p in self._params]
        self._buckets = _buckets(self._params[::-1], bucket_cap_mb * 2 ** 20)
        self._bucket_of = {id(p): b for b in self._buckets for p in b.params}
        self._uses = {}             # id(parameter) -> its _Ready nodes not yet reached in this backward
        self._hooks = []
        for m in module.modules():
            if any(p.requires_grad for p in m.parameters(recurse=False)):
                self._hooks.append(m.register_forward_pre_hook(self._swap_in))
                self._hooks.append(m.register_forward_hook(self._swap_out, always_call=True))
        self._anchor = None
        self._swapped = {}          # id(submodule) -> its parameters while _Ready nodes stand in for them
        self._ready, self._next, self._done = set(), 0, 0

    @contextlib.contextmanager
    def no_sync(self):
        """Inside the block, backward accumulates gradients locally; the first backward outside averages
        the accumulated gradients."""
        previous, self.require_backward_grad_sync = self.require_backward_grad_sync, False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    def forward(self, *args, **kwargs):
        if self.broadcast_buffers and self._group.size > 1:
            for t in self.module.buffers():
                self._group.comm.Bcast(t.array, root=0)
        if not (self.require_backward_grad_sync and is_grad_enabled() and self._params):
            return self.module(*args, **kwargs)
        self._ready, self._next, self._done, self._uses = set(), 0, 0, {}
        for b in self._buckets:
            b.ready, b.request = 0, None
        self._anchor = apply(_Anchor(), tuple(self._params), {"on_done": self._finish})
        try:
            return self.module(*args, **kwargs)
        finally:
            self._anchor = None

    def _swap_in(self, module, args):
        """Before ``module`` runs inside the DDP forward: its parameters become their ``_Ready`` nodes."""
        if self._anchor is None:
            return
        table = module._parameters
        self._swapped[id(module)] = {name: p for name, p in table.items() if p is not None and p.requires_grad}
        for name, p in self._swapped[id(module)].items():
            self._uses[id(p)] = self._uses.get(id(p), 0) + 1
            table[name] = apply(_Ready(), (p, self._anchor), {"on_grad": self._grad_of_use})

    def _swap_out(self, module, args, result):
        for name, p in self._swapped.pop(id(module), {}).items():
            module._parameters[name] = p

    def _grad_of_use(self, p, g):
        """The VJP of one use of ``p`` ran with gradient ``g``; after its last use, p's gradient is whole
        (``g`` plus what ``p.grad`` already holds) and goes into its bucket."""
        self._uses[id(p)] -= 1
        if self._uses[id(p)] == 0:
            self._param_ready(p, g.array if p.grad is None else g.array + p.grad.array)

    def _param_ready(self, p, grad):
        if id(p) in self._ready:
            return
        self._ready.add(id(p))
        bucket = self._bucket_of[id(p)]
        start, stop = bucket.span[id(p)]
        bucket.flat[start:stop] = 0 if grad is None else grad.reshape(-1)
        bucket.ready += 1
        while self._next < len(self._buckets) and \
                self._buckets[self._next].ready == len(self._buckets[self._next].params):
            self._launch(self._buckets[self._next])
            self._next += 1
        # MPI moves non-blocking collectives on only inside MPI calls (no progress thread): a test of the
        # oldest bucket in flight at every ready gradient lets the reductions advance while backward runs
        while self._done < self._next and self._buckets[self._done].request.Test():
            self._done += 1

    def _launch(self, bucket):
        bucket.request = self._group.comm.Iallreduce(IN_PLACE, bucket.flat, op=MPI.SUM if MPI else None)

    def _finish(self):
        """Every gradient is complete: start what has not started, wait for all, store the averages."""
        unused = [name for p, name in zip(self._params, self._names) if p.grad is None]
        if unused and not self.find_unused_parameters:
            raise RuntimeError(f"DistributedDataParallel: parameters {unused} received no gradient in this "
                               "backward pass; pass find_unused_parameters=True to DistributedDataParallel if "
                               "the model leaves some parameters out of the loss")
        for p in self._params:       # unused (or used outside module calls): what .grad holds, or zeros
            self._param_ready(p, None if p.grad is None else p.grad.array)
        used = None
        if self.find_unused_parameters:
            used = np.array([p.grad is not None for p in self._params], np.int64)
            self._group.comm.Allreduce(IN_PLACE, used, op=MPI.SUM if MPI else None)
            used = dict(zip(map(id, self._params), used.tolist()))
        for bucket in self._buckets:
            bucket.request.Wait()
            for p, start, stop in bucket.slices():
                average = bucket.flat[start:stop].reshape(p.array.shape) / self._group.size
                if p.grad is not None:
                    p.grad.array[...] = average
                elif used[id(p)]:
                    p.grad = Tensor.wrap(average)
