"""The process group (``torch.distributed``'s names): which process this is and how many there are.

``init_process_group(backend="mpi")`` takes the rank and size from the MPI launcher (``mpiexec -n 4 python
train.py``) through mpi4py. Without a launcher, or without mpi4py, it makes a group of one process (rank 0),
so the same script runs alone. Once a group of several processes is up, an exception that reaches the top
of any rank prints its traceback (once, from that rank) and aborts the whole job: no rank waits forever in
a collective for a peer that died.
"""
import os
import sys
import traceback

_state = {"group": None, "excepthook": None}

# environment variables by which MPI launchers (MPICH/Hydra, Open MPI, Slurm) announce a job of several ranks
_LAUNCHER_SIZES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "SLURM_NTASKS")


class ProcessGroup:
    """The processes taking part in collectives: ``comm`` (an mpi4py communicator, or ``SelfComm`` for
    one process without MPI), ``rank`` and ``size``."""

    def __init__(self, comm):
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()

    def __repr__(self):
        return f"ProcessGroup(rank={self.rank}, size={self.size})"


class _Done:
    """A request that completed when it was made (``SelfComm``'s)."""

    def Wait(self):
        return None

    def Test(self):
        return True


class SelfComm:
    """The collectives of a group of one process, without MPI: every result is the process's own data."""

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 1

    def Barrier(self):
        return None

    def allgather(self, obj):
        return [obj]

    def Abort(self, code=1):
        os._exit(code)

    def Iallreduce(self, sendbuf, recvbuf, op=None):
        return self._copy(sendbuf, recvbuf)

    Allreduce = Iallreduce

    def Ibcast(self, buf, root=0):
        return _Done()

    def Iallgather(self, sendbuf, recvbuf):
        return self._copy(sendbuf, recvbuf)

    def Igather(self, sendbuf, recvbuf, root=0):
        return self._copy(sendbuf, recvbuf)

    def Iscatter(self, sendbuf, recvbuf, root=0):
        return self._copy(sendbuf, recvbuf)

    def Ireduce_scatter_block(self, sendbuf, recvbuf, op=None):
        return self._copy(sendbuf, recvbuf)

    @staticmethod
    def _copy(sendbuf, recvbuf):
        if sendbuf is not None:          # None: in place (``IN_PLACE`` where mpi4py is missing)
            recvbuf.reshape(-1)[...] = sendbuf.reshape(-1)
        return _Done()


def _launcher_size():
    for name in _LAUNCHER_SIZES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 1


def init_process_group(backend="mpi", init_method=None, world_size=-1, rank=-1, **kwargs):
    """Join the processes started by the MPI launcher (``torch.distributed.init_process_group``).

    ``backend`` must be ``"mpi"``. Rank and size come from the launcher; ``world_size`` / ``rank`` (or
    ``init_method="env://"`` with ``WORLD_SIZE`` / ``RANK``), when given, must agree with it. Without a
    launcher the group is this process alone."""
    if _state["group"] is not None:
        raise RuntimeError("init_process_group: the default process group is already initialized; call "
                           "destroy_process_group() first")
    if backend not in ("mpi", "MPI"):
        raise ValueError(f"init_process_group: backend must be 'mpi' (deepgrad communicates through MPI), got "
                         f"{backend!r}")
    if init_method not in (None, "env://"):
        raise ValueError(f"init_process_group: init_method must be None or 'env://' (the MPI launcher provides "
                         f"the rendezvous), got {init_method!r}")
    if init_method == "env://":
        world_size = int(os.environ.get("WORLD_SIZE", world_size))
        rank = int(os.environ.get("RANK", rank))
    try:
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
    except ImportError:
        if _launcher_size() > 1 or world_size > 1:
            raise ImportError("init_process_group: this job has several processes but mpi4py is not installed; "
                              "pip install 'deepgrad[mpi]'") from None
        comm = SelfComm()
    group = ProcessGroup(comm)
    for name, given, actual in (("world_size", world_size, group.size), ("rank", rank, group.rank)):
        if given not in (-1, None) and given != actual:
            raise ValueError(f"init_process_group: {name}={given} was given but the MPI launcher started this "
                             f"process with {name} {actual}")
    _state["group"] = group
    if group.size > 1:
        _state["excepthook"] = sys.excepthook
        sys.excepthook = _abort_on_exception
    return group


def _abort_on_exception(kind, value, tb):
    """Print the exception of this rank, then end every rank of the job (MPI_Abort)."""
    group = _state["group"]
    if issubclass(kind, KeyboardInterrupt):
        sys.stderr.write(f"[rank {group.rank}] interrupted\n")
    else:
        lines = traceback.format_exception(kind, value, tb)
        sys.stderr.write("".join(f"[rank {group.rank}] {line}" for text in lines for line in text.splitlines(True)))
        sys.stderr.write(f"[rank {group.rank}] aborting all {group.size} processes of the job\n")
    sys.stderr.flush()
    group.comm.Abort(130 if issubclass(kind, KeyboardInterrupt) else 1)


def is_available():
    """True: deepgrad.distributed works in every installation (a single process without mpi4py)."""
    return True


def is_mpi_available():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def is_initialized():
    return _state["group"] is not None


def group():
    """The default process group; RuntimeError before ``init_process_group``."""
    if _state["group"] is None:
        raise RuntimeError("Default process group has not been initialized, please make sure to call "
                           "init_process_group.")
    return _state["group"]


def get_rank(group_=None):
    return group().rank


def get_world_size(group_=None):
    return group().size


def barrier():
    """Wait until every process of the group has reached this call."""
    group().comm.Barrier()


def destroy_process_group():
    """Leave the group (the MPI library itself stays up until the interpreter exits)."""
    group()
    if _state["excepthook"] is not None:
        sys.excepthook = _state["excepthook"]
    _state["group"] = _state["excepthook"] = None
