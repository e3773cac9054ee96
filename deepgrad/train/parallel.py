"""Data-parallel runs: ``mpiexec -n 4 deepgrad train ...`` or ``deepgrad train --nproc 4`` (which starts
mpiexec itself). What changes in a run (``run.train``) when several processes train together:

- each rank trains the same model (``DistributedDataParallel``: rank 0's weights at the start, gradients
  averaged over ranks at every step) on its shard of the training set (``DistributedSampler``, a new
  shuffle every epoch from the run's seed); ``batch_size`` is per process, the global batch is
  ``batch_size`` x processes;
- loss and accuracy of every step are summed over ranks, validation and test sets are split among the
  ranks and their results gathered, so the log and the report hold the figures of the whole data, as one
  process computes them for the same weights;
- rank 0 alone writes the run folder (config, log, checkpoints, report, figures) and prints;
- a checkpoint records the number of processes. A resume on the same number continues exactly (each
  rank's random state is in the checkpoint); on another number it continues from the last finished
  epoch (an epoch cut short starts again, as the shards depend on the number of processes);
- SIGINT/SIGTERM (which mpiexec passes to every rank) stop every rank after the same step, with one
  ``interrupted`` checkpoint; a rank that fails ends the whole job (``finish``, and for exceptions that
  reach the top, ``deepgrad.distributed``'s hook).

``deepgrad.distributed`` (and MPI with it) is imported only when a launcher started several processes,
so a run of one process never initializes MPI.
"""
import os
import shutil
import signal
import subprocess
import sys
import time

from .. import backend
from .checkpoint import load_checkpoint
from .loop import Trainer
from .metrics import confusion_matrix

np = backend.numpy

# environment variables by which MPI launchers (MPICH/Hydra, Open MPI, Slurm) announce a job of several ranks
_LAUNCHER_SIZES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "SLURM_NTASKS")
_STOPPED = (128 + signal.SIGINT, 128 + signal.SIGTERM)     # exit statuses of a stop every rank agreed on


class _Alone:
    """The group of a run of one process (without importing MPI)."""
    rank, size = 0, 1


def launched():
    """The number of processes an MPI launcher started this one among (1: not launched, or alone)."""
    for name in _LAUNCHER_SIZES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 1


def world():
    """The process group of this run: the default one (initialized here when a launcher started several
    processes), or this process alone."""
    dist = sys.modules.get("deepgrad.distributed")
    if launched() == 1 and not (dist and dist.is_initialized()):
        return _Alone
    from ..distributed import group, init_process_group, is_initialized
    if not is_initialized():
        init_process_group("mpi")
    return group.group()


def start(threads=None):
    """The run's process group, with ``threads`` per process for deepgrad and BLAS (default with several
    processes: this machine's CPUs shared among the ranks on it; BLAS threads waiting on each other across
    ranks made a 2-process run on 2 cores 6x slower)."""
    from .. import get_num_threads, set_num_threads
    g = world()
    if threads is None and g.size > 1:
        from mpi4py import MPI
        threads = max(1, get_num_threads() // g.comm.Split_type(MPI.COMM_TYPE_SHARED).Get_size())
    if threads is not None:
        set_num_threads(threads)
    if threads is not None and g.size > 1:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:    # BLAS keeps the threads OMP_NUM_THREADS gave it (launch sets that)
            return g
        threadpool_limits(threads, user_api="blas")
    return g


def from_rank_zero(g, fn, *args):
    """``fn(*args)`` computed by rank 0 and sent to every rank (a new run folder's name, for one)."""
    if g.size == 1:
        return fn(*args)
    return g.comm.bcast(fn(*args) if g.rank == 0 else None, root=0)


def quiet(*args, **kwargs):
    """The ``echo`` of ranks other than 0."""


def loaders(train, val, test, batch_size, generator, seed):
    """(train, validation, test) loaders of this rank: its shard of the training set (reshuffled each
    epoch by ``DistributedTrainer``) and every ``size``-th image of the others, from its rank on."""
    from . import recipes
    g = world()
    if g.size == 1:
        return recipes.loaders(train, val, test, batch_size, generator)
    from ..data import DataLoader, DistributedSampler, Subset
    for name, part in (("validation", val), ("test", test)):
        if part is not None and len(part) < g.size:
            raise ValueError(f"the {name} set has {len(part)} images, fewer than the {g.size} processes: use "
                             "fewer processes (or a larger val_fraction)")
    shard = lambda part: part and DataLoader(Subset(part, range(g.rank, len(part), g.size)), batch_size=512)  # noqa: E731
    sampler = DistributedSampler(train, g.size, g.rank, shuffle=True, seed=seed)
    return DataLoader(train, batch_size=batch_size, sampler=sampler, generator=generator), shard(val), shard(test)


def trainer(g, model, optimizer, train_loader, val_loader=None, **kwargs):
    """A ``Trainer`` for a run of one process, a ``DistributedTrainer`` for several (that of ranks other
    than 0 writes no files and shows no progress)."""
    if g.size == 1:
        return Trainer(model, optimizer, train_loader, val_loader, **kwargs)
    if g.rank != 0:
        kwargs.update(out_dir=None, progress=False)
    return DistributedTrainer(g, model, optimizer, train_loader, val_loader, **kwargs)


def _seed(*numbers):
    return int(np.random.SeedSequence(list(numbers)).generate_state(1)[0])


class DistributedTrainer(Trainer):
    """``Trainer`` on one rank of a data-parallel run (``g``, the process group): it steps the model through
    ``DistributedDataParallel`` and keeps the figures of all ranks together (see the module docstring)."""

    def __init__(self, g, model, optimizer, train_loader, val_loader=None, **kwargs):
        from ..nn.parallel import DistributedDataParallel
        super().__init__(model, optimizer, train_loader, val_loader, **kwargs)
        self.group = g
        self.ddp = DistributedDataParallel(model)
        self.metadata["world_size"] = g.size
        self._sums, self._seen = np.zeros(3), 0

    # Trainer reads ``_stop_signal`` after every step and its signal handler sets it; here the handler's
    # signal waits in ``_pending_stop`` until the ranks agree on it at the end of a step.
    @property
    def _stop_signal(self):
        return self.__dict__.get("_agreed_stop")

    @_stop_signal.setter
    def _stop_signal(self, signum):
        self._pending_stop = signum
        if signum is None:
            self._agreed_stop = None

    def _train_epoch(self):
        loader = self.train_loader
        epoch, rank, seed = loader.epoch, self.group.rank, loader.sampler.seed
        loader.sampler.set_epoch(epoch)
        loader.generator.manual_seed(_seed(seed, epoch, rank))      # this rank's augmentation draws
        if self._resume_sums is None:
            backend.default_generator.manual_seed(_seed(seed, epoch, rank, 1))     # and dropout masks
        resumed = self._resume_sums or {"loss": 0.0, "correct": 0, "count": 0}
        self._sums = np.array([resumed["loss"], resumed["correct"], resumed["count"]], np.float64)
        self._seen, start = 0, time.perf_counter()
        record = super()._train_epoch()
        loss, correct, count = self._sums
        return {**record, "train_loss": loss / max(count, 1), "train_accuracy": correct / max(count, 1),
                "samples_per_s": self._seen / max(time.perf_counter() - start, 1e-9)}

    def _train_step(self, x, y):
        from mpi4py import MPI
        model, self.model = self.model, self.ddp
        try:
            loss, logits = super()._train_step(x, y)
        finally:
            self.model = model
        pending = self._pending_stop
        totals = np.array([loss * len(y), (logits.argmax(-1) == y.numpy()).sum(), len(y),
                           pending == signal.SIGINT, pending == signal.SIGTERM], np.float64)
        self.group.comm.Allreduce(MPI.IN_PLACE, totals, op=MPI.SUM)
        self._sums += totals[:3]
        self._seen += int(totals[2])
        if totals[3] or totals[4]:
            self._agreed_stop = signal.SIGTERM if totals[4] else signal.SIGINT
        return loss, logits

    def _save(self, name, best=False, sums=None):
        if sums is not None:      # the interrupted epoch's sums over all ranks
            sums = {**sums, "loss": float(self._sums[0]), "correct": int(self._sums[1]), "count": int(self._sums[2])}
        self.metadata["rank_rng"] = self.group.comm.allgather(backend.default_generator.get_state())
        super()._save(name, best, sums)
        self.group.comm.Barrier()       # the files are written before any rank reads them

    def evaluate(self, loader, num_classes=None):
        """``Trainer.evaluate`` of rank 0's weights on the whole set, from this rank's share (``loader``,
        every ``size``-th item from its rank on, as ``loaders`` makes them)."""
        for t in self.model.buffers():            # running statistics: rank 0's, as its checkpoints hold
            self.group.comm.Bcast(t.array, root=0)
        mine = super().evaluate(loader, num_classes)
        n = len(mine["labels"])
        parts = self.group.comm.allgather((mine["loss"] * n, mine["top5_accuracy"] * n, mine["predictions"],
                                           mine["labels"]))
        total = sum(len(labels) for *_, labels in parts)
        predictions = np.empty(total, mine["predictions"].dtype)
        labels = np.empty(total, mine["labels"].dtype)
        for r, (_, _, p, y) in enumerate(parts):
            predictions[r::self.group.size], labels[r::self.group.size] = p, y
        return {"loss": sum(p[0] for p in parts) / total, "accuracy": float((predictions == labels).mean()),
                "top5_accuracy": sum(p[1] for p in parts) / total,
                "confusion": confusion_matrix(predictions, labels, len(mine["confusion"])),
                "predictions": predictions, "labels": labels}


def resume(g, trainer, out, echo):
    """Continue the run in ``out`` from its latest checkpoint; False when there is none to continue from.

    A checkpoint of another number of processes made inside an epoch gives way to the one of the epoch
    before (none: the run starts over); a per-batch schedule cannot change its steps per epoch, so such a
    run resumes only on its own number of processes."""
    import json
    folder = os.path.join(out, "checkpoints")
    pointer = os.path.join(folder, "latest.json")
    if not os.path.exists(pointer):
        return False
    try:
        with open(pointer) as f:
            meta = load_checkpoint(os.path.join(folder, json.load(f)["checkpoint"])).metadata
    except (ValueError, TypeError, KeyError, OSError):
        meta = {}                 # damaged: Trainer.resume says how
    saved = meta.get("world_size", 1)
    if meta and saved != g.size:
        if trainer.scheduler_per_batch:
            raise ValueError(f"{out} was trained on {saved} process(es) with a per-batch learning-rate schedule, "
                             f"planned for that many steps per epoch: resume it on {saved} process(es), not "
                             f"{g.size}")
        if "sums" in meta:        # stopped inside an epoch
            epoch = meta["epoch"]
            echo(f"{out} stopped inside epoch {epoch + 1} on {saved} process(es); on {g.size} that epoch "
                 "starts again")
            if g.rank == 0:
                from ..serialization import atomic_write
                if epoch:
                    atomic_write(pointer, json.dumps({"checkpoint": f"epoch-{epoch:03d}.safetensors"}).encode())
                else:
                    os.unlink(pointer)
            if g.size > 1:
                g.comm.Barrier()
            if not epoch:
                return False
    trainer.resume(out)
    if isinstance(trainer, DistributedTrainer) and saved == g.size and "rank_rng" in meta:
        backend.default_generator.set_state(meta["rank_rng"][g.rank])
    return True


def mpiexec():
    """The MPI launcher: the one next to this Python (where the mpich wheel puts it), else on PATH."""
    from importlib.util import find_spec
    if find_spec("mpi4py") is None:
        raise ImportError('--nproc trains with mpi4py, which is not installed: pip install "deepgrad[mpi]"')
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = beside if os.access(beside, os.X_OK) else shutil.which("mpiexec")
    if found is None:
        raise FileNotFoundError(f"--nproc starts the processes with mpiexec, which is neither next to "
                                f"{sys.executable} nor on PATH: pip install \"deepgrad[mpi]\" (mpi4py and the "
                                "mpich wheel, which brings mpiexec)")
    return found


def launch(nproc, argv):
    """``deepgrad train --nproc N``: this command again on N processes under mpiexec; returns its exit
    status, or None when this process is to train (N is 1, or this is one of the N launched)."""
    size = launched()
    if size > 1 or nproc == 1:
        if size != nproc:
            raise ValueError(f"--nproc {nproc} was given but the MPI launcher started {size} processes: give "
                             "one or the other")
        return None
    from .. import get_num_threads
    command = [mpiexec(), "-n", str(nproc), sys.executable, "-m", "deepgrad", *argv]
    threads = str(max(1, get_num_threads() // nproc))
    env = {"OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, **os.environ}
    # its own session: a Ctrl-C at the terminal reaches mpiexec once, through us (twice would kill the
    # ranks before they save their checkpoint)
    process = subprocess.Popen(command, start_new_session=True, env=env)
    forward = lambda signum, frame: process.send_signal(signum)  # noqa: E731
    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return process.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def finish(main, *args):
    """``main(*args)``, the exit status of a command. In a job of several processes, any failure of this
    rank (a status or ``sys.exit`` code other than 0 or an agreed stop by a signal) ends all of them now
    (MPI_Abort), instead of leaving the others waiting for this one."""
    try:
        status = main(*args)
    except SystemExit as e:
        if e.code in (None, 0, *_STOPPED) or launched() == 1:
            raise
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
        status = e.code if isinstance(e.code, int) else 1
    if status not in (0, *_STOPPED) and launched() > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            from mpi4py import MPI
        except ImportError:     # no MPI in this process: nothing waits for it
            return status
        MPI.COMM_WORLD.Abort(status)
    return status
