"""``DistributedDataParallel``: the same model on every rank, each rank on its own part of the batch, the
gradients averaged over ranks during the backward pass (PyTorch's DDP, over MPI).

Overlap: every parameter has a post-accumulate-grad hook (``Tensor.register_post_accumulate_grad_hook``),
which the reverse pass calls once the parameter's ``.grad`` holds its whole gradient (after the
parameter's last use, and after any gradient hooks of the user). Parameters are grouped into buckets of
about ``bucket_cap_mb`` (in reverse order of ``parameters()``, roughly the order backward finishes them);
when a bucket's parameters are all ready, its flat buffer's non-blocking all-reduce starts at once, while
backward goes on with the layers below. The hook of the last parameter to be ready waits for every bucket
and writes the averaged gradients into ``.grad`` before ``backward()`` returns. Buckets start in the same
order on every rank, as MPI requires of non-blocking collectives. Which parameters the output depends on
is read from its graph at the end of the forward: the others are reported, or (``find_unused_parameters``)
count as ready with a zero gradient.
"""
import contextlib

from .. import backend
from ..autograd.engine import parents_of, toposort
from ..autograd.function import is_grad_enabled
from ..autograd.tensor import FREED, Tensor
from ..nn.module import Module
from ..pytree import tree_flatten
from .collectives import IN_PLACE, MPI, broadcast
from .group import group

np = backend.numpy


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


def _reached(output):
    """The ids of the leaf tensors that the tensors in ``output`` (a nest of tuples, lists, dicts) depend on."""
    roots = [t for t in tree_flatten(output)[0] if isinstance(t, Tensor) and t.requires_grad]
    return {id(t) for t in roots if t._node is None} | {
        id(p) for t in toposort(roots) if t._node is not FREED for p in parents_of(t._node) if p._node is None}


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
        self._hooks = [p.register_post_accumulate_grad_hook(self._accumulated) for p in self._params]
        self._armed = False         # a forward whose backward is to average the gradients has run
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
        output = self.module(*args, **kwargs)
        self._armed = bool(self.require_backward_grad_sync and is_grad_enabled() and self._params)
        if not self._armed:
            return output
        self._ready, self._next, self._done = set(), 0, 0
        for b in self._buckets:
            b.ready, b.request = 0, None
        reached = _reached(output)
        unused = [(p, name) for p, name in zip(self._params, self._names) if id(p) not in reached]
        if unused and not self.find_unused_parameters:
            self._armed = False
            raise RuntimeError(f"DistributedDataParallel: parameters {[name for _, name in unused]} received no "
                               "gradient: the output does not depend on them; pass find_unused_parameters=True to "
                               "DistributedDataParallel if the model leaves some parameters out of the loss")
        for p, _ in unused:          # ready now: what .grad holds, or zeros
            self._param_ready(p, None if p.grad is None else p.grad.array)
        return output

    def _accumulated(self, p):
        """``p.grad`` is complete for this backward: into its bucket; after the last parameter, finish."""
        if not self._armed:
            return
        self._param_ready(p, p.grad.array)
        if len(self._ready) == len(self._params):
            self._armed = False
            self._finish()

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
        """Every gradient is complete: wait for all buckets, store the averages."""
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
