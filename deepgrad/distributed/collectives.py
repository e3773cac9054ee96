"""Collectives on Tensors, in place, over the default process group (``torch.distributed``'s names and
arguments). They move the tensors' memory through mpi4py's buffer interface (no pickling of arrays); arrays
off the host or not contiguous are staged through a contiguous host copy. Every call first checks that all
ranks passed the same shapes, dtypes, operation and root, and raises the same ValueError on every rank when
not (instead of corrupting memory or hanging). With ``async_op=True`` the call returns a ``Work`` whose
``wait()`` completes it; the tensors must not be touched before then.
"""
import enum

from .. import backend
from ..autograd import function
from ..autograd.tensor import Tensor
from .group import group

np = backend.numpy

try:
    from mpi4py import MPI
except ImportError:
    MPI = None
IN_PLACE = MPI.IN_PLACE if MPI is not None else None


class ReduceOp(enum.Enum):
    """How ``all_reduce`` and ``reduce_scatter`` combine the ranks' values (AVG: floating dtypes only)."""
    SUM = "sum"
    AVG = "avg"
    PRODUCT = "prod"
    MIN = "min"
    MAX = "max"


def _mpi_op(op):
    if MPI is None:
        return None
    return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD, ReduceOp.MIN: MPI.MIN,
            ReduceOp.MAX: MPI.MAX}[op]


class Work:
    """The handle of a collective started with ``async_op=True`` (``torch.distributed.Work``)."""

    def __init__(self, requests, finish=None):
        self._requests, self._finish, self._done = requests, finish, False

    def wait(self, timeout=None):
        """Block until the collective has completed and its results are in the tensors."""
        if not self._done:
            for request in self._requests:
                request.Wait()
            if self._finish is not None:
                self._finish()
            self._done = True
        return True

    def is_completed(self):
        if not self._done and all(request.Test() for request in self._requests):
            self.wait()
        return self._done


def _run(requests, finish, async_op):
    work = Work(requests, finish)
    if async_op:
        return work
    work.wait()
    return None


def _check_tensor(op, name, value):
    if not isinstance(value, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(value).__name__}")
    return value


def _check_list(op, name, values, like, size):
    """``values``: a list of ``size`` Tensors of ``like``'s shape and dtype."""
    if not isinstance(values, (list, tuple)) or len(values) != size:
        raise ValueError(f"{op}: {name} must be a list of {size} Tensors (one per rank), got "
                         f"{len(values) if isinstance(values, (list, tuple)) else type(values).__name__}")
    for i, t in enumerate(values):
        _check_tensor(op, f"{name}[{i}]", t)
        if t.shape != like.shape or t.dtype != like.dtype:
            raise ValueError(f"{op}: {name}[{i}] has shape {tuple(t.shape)} and dtype {t.dtype}; expected "
                             f"{tuple(like.shape)} and {like.dtype} (the tensor's)")
    return values


def _check_root(op, name, root, size):
    if not isinstance(root, int) or not 0 <= root < size:
        raise ValueError(f"{op}: {name} must be a rank in [0, {size}), got {root!r}")


def _check_op(name, op, dtype):
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{name}: op must be a ReduceOp (SUM, AVG, PRODUCT, MIN, MAX), got {op!r}")
    if op is ReduceOp.AVG and not backend.is_floating(dtype):
        raise TypeError(f"{name}: ReduceOp.AVG needs a floating dtype, got {dtype}")


def _check_agree(g, op, tensor, *extra):
    """Raise the same ValueError on every rank unless all ranks called ``op`` with the same shape, dtype
    and ``extra`` (operation, root)."""
    mine = (tuple(tensor.shape), str(tensor.dtype), *extra)
    everyone = g.comm.allgather(mine)
    if any(m != everyone[0] for m in everyone):
        described = "; ".join(f"rank {r}: shape {m[0]}, dtype {m[1]}" + "".join(f", {x}" for x in m[2:])
                              for r, m in enumerate(everyone))
        raise ValueError(f"{op}: the ranks' arguments differ ({described}); every rank must pass tensors of the "
                         "same shape and dtype with the same op and root")


class _Staged:
    """The contiguous host array a collective communicates through for ``tensor``: its own memory when it
    can be, a copy otherwise (written back by ``store``)."""

    def __init__(self, tensor):
        self.tensor = tensor
        array = tensor.array
        on_host = isinstance(array, np.ndarray)
        self.own = on_host and array.flags.c_contiguous and array.flags.writeable
        self.array = array if self.own else np.ascontiguousarray(array if on_host else array.get())

    def store(self, values=None):
        """Put ``values`` (default: the staged array) into the tensor and bump its version."""
        if values is not None:
            self.array[...] = values
        if not self.own:
            self.tensor.array[...] = backend.xp_of(self.tensor.array).asarray(self.array)
        function.bump_version(self.tensor)


def _host(tensor):
    """A contiguous host array with ``tensor``'s values (for sending)."""
    array = tensor.array
    return np.ascontiguousarray(array if isinstance(array, np.ndarray) else array.get())


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Every rank's ``tensor`` becomes the reduction (``op``) of all ranks' tensors."""
    g = _group(group)
    _check_tensor("all_reduce", "tensor", tensor)
    _check_op("all_reduce", op, tensor.dtype)
    _check_agree(g, "all_reduce", tensor, op.name)
    buf = _Staged(tensor)
    request = g.comm.Iallreduce(IN_PLACE, buf.array, op=_mpi_op(op))
    return _run([request], _reduced(buf, op, g.size), async_op)


def broadcast(tensor, src, group=None, async_op=False):
    """Every rank's ``tensor`` becomes rank ``src``'s."""
    g = _group(group)
    _check_tensor("broadcast", "tensor", tensor)
    _check_root("broadcast", "src", src, g.size)
    _check_agree(g, "broadcast", tensor, f"src {src}")
    buf = _Staged(tensor)
    return _run([g.comm.Ibcast(buf.array, root=src)], buf.store, async_op)


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """``tensor_list[r]`` becomes rank r's ``tensor``, on every rank."""
    g = _group(group)
    _check_tensor("all_gather", "tensor", tensor)
    _check_list("all_gather", "tensor_list", tensor_list, tensor, g.size)
    _check_agree(g, "all_gather", tensor)
    received = np.empty((g.size,) + tuple(tensor.shape), _host(tensor).dtype)
    request = g.comm.Iallgather(_host(tensor), received)
    return _run([request], lambda: _store_all(tensor_list, received), async_op)


def gather(tensor, gather_list=None, dst=0, group=None, async_op=False):
    """On rank ``dst``, ``gather_list[r]`` becomes rank r's ``tensor`` (``gather_list`` only on ``dst``)."""
    g = _rooted(group, "gather", tensor, "dst", dst, "gather_list", gather_list)
    received = np.empty((g.size,) + tuple(tensor.shape), _host(tensor).dtype) if g.rank == dst else None
    request = g.comm.Igather(_host(tensor), received, root=dst)
    return _run([request], lambda: received is None or _store_all(gather_list, received), async_op)


def scatter(tensor, scatter_list=None, src=0, group=None, async_op=False):
    """Rank r's ``tensor`` becomes ``scatter_list[r]`` of rank ``src`` (``scatter_list`` only on ``src``)."""
    g = _rooted(group, "scatter", tensor, "src", src, "scatter_list", scatter_list)
    sent = np.stack([_host(t) for t in scatter_list]) if g.rank == src else None
    buf = _Staged(tensor)
    return _run([g.comm.Iscatter(sent, buf.array, root=src)], buf.store, async_op)


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """Rank r's ``output`` becomes the reduction (``op``) over all ranks of their ``input_list[r]``."""
    g = _group(group)
    _check_tensor("reduce_scatter", "output", output)
    _check_list("reduce_scatter", "input_list", input_list, output, g.size)
    _check_op("reduce_scatter", op, output.dtype)
    _check_agree(g, "reduce_scatter", output, op.name)
    buf = _Staged(output)
    request = g.comm.Ireduce_scatter_block(np.stack([_host(t) for t in input_list]), buf.array, op=_mpi_op(op))
    return _run([request], _reduced(buf, op, g.size), async_op)


def _rooted(given, op, tensor, root_name, root, list_name, values):
    """The checks of a collective with a root rank and a list of tensors there (gather, scatter)."""
    g = _group(given)
    _check_tensor(op, "tensor", tensor)
    _check_root(op, root_name, root, g.size)
    if g.rank == root:
        _check_list(op, list_name, values, tensor, g.size)
    elif values is not None:
        raise ValueError(f"{op}: {list_name} must be given on the root rank only (it is None on the others)")
    _check_agree(g, op, tensor, f"{root_name} {root}")
    return g


def _store_all(tensors, received):
    for t, values in zip(tensors, received):
        _Staged(t).store(values)


def _reduced(buf, op, size):
    """What completes a reduction into ``buf``: AVG divides the sum by the number of ranks."""
    def finish():
        if op is ReduceOp.AVG:
            buf.array /= size
        buf.store()
    return finish


def _group(given):
    if given is not None and given is not group():
        raise ValueError("deepgrad.distributed has one process group (the default, WORLD); pass group=None")
    return group()
