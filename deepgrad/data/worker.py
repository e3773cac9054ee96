"""DataLoader worker processes (``num_workers > 0``): they load batches ahead and hand them back
through shared memory.

A worker gets its own copy of the ``DataLoader``'s fetch object (the dataset and collate_fn: inherited
under the ``fork`` start method, pickled under ``spawn`` / ``forkserver``), seeds deepgrad's default
generator, NumPy's global ``RandomState`` and Python's ``random`` with ``base_seed + worker_id`` (as
PyTorch seeds its own, NumPy's and Python's), limits deepgrad to one thread (as PyTorch does), runs
``worker_init_fn(worker_id)`` and then serves tasks until told to stop or the main process is gone.
SIGINT is ignored in workers: Ctrl-C reaches the main process, which shuts them down.

Transfer. Every batch's arrays (Tensors' included) are written into one shared-memory block; the pipe
carries only a small skeleton (the batch with each array replaced by its place in the block); the main
process copies the arrays out and hands the block back to the worker, which writes its next batches
into it (a few blocks per worker, unlinked when the worker ends; the resource tracker unlinks those of
a worker killed outright when the program ends). An exception in a worker comes back as
text with the worker's traceback and is raised again in the main process with that text.
"""
import dataclasses
import multiprocessing
import os
import pickle
import random
import signal
import time
import traceback
import weakref
from multiprocessing import connection
from multiprocessing.shared_memory import SharedMemory

from .. import backend, threads
from ..autograd.tensor import Tensor

np = backend.numpy

_POLL_S = 1.0          # how often an idle worker checks that the main process is still there
_JOIN_S = 2.0          # how long shutting down waits for workers to finish their batch before terminating them
_ALIGN = 64            # byte alignment of each array in a shared-memory block
_SPARE_BLOCKS = 4      # free shared-memory blocks a worker keeps for its next batches


@dataclasses.dataclass(frozen=True)
class WorkerInfo:
    """What ``get_worker_info()`` returns in a worker: its ``id`` (0 .. num_workers - 1), ``num_workers``,
    its ``seed`` and ``dataset`` (this process's copy)."""
    id: int
    num_workers: int
    seed: int
    dataset: object


_info = None


def get_worker_info():
    """In a DataLoader worker process: its ``WorkerInfo``; in the main process: None. Use it in an
    ``IterableDataset.__iter__`` or a ``worker_init_fn`` to give each worker its own share of the data."""
    return _info


class EndOfData(Exception):
    """Raised by a fetch when an iterable dataset's stream has no further batch."""


def map_batch(fn, batch):
    """``batch`` with ``fn`` applied to every leaf, inside dicts, lists, tuples and namedtuples (whose
    types are kept)."""
    if isinstance(batch, dict):
        return {key: map_batch(fn, value) for key, value in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(map_batch(fn, value) for value in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(map_batch(fn, value) for value in batch)
    return fn(batch)


def serve(fetch, tasks, send):
    """Load each task ``(k, indices)`` of ``tasks`` and ``send(k, kind, payload)``: ("batch", the batch),
    ("end", None) when the stream is over, or ("error", the exception)."""
    for k, indices in tasks:
        try:
            send(k, "batch", fetch(k, indices))
        except EndOfData:
            send(k, "end", None)
        except Exception as e:
            send(k, "error", e)


# ---------------------------------------------------------------- transfer through shared memory
class _Slot:
    """Where an array of a batch lies in its shared-memory block."""
    __slots__ = ("offset", "shape", "dtype", "tensor")

    def __init__(self, offset, shape, dtype, tensor):
        self.offset, self.shape, self.dtype, self.tensor = offset, shape, dtype, tensor


class _Blocks:
    """A worker's shared-memory blocks. A block the main process has copied a batch out of comes back
    (``give_back``) and is written again: a fresh block costs its creation and a page fault per page
    written, several times the copy itself. The worker unlinks its blocks when it ends."""

    def __init__(self):
        self._free, self._all = [], {}

    def take(self, size):
        fits = [b for b in self._free if b.size >= size]
        if fits:
            block = min(fits, key=lambda b: b.size)
            self._free.remove(block)
            return block
        block = SharedMemory(create=True, size=max(size, 1))
        self._all[block.name] = block
        return block

    def give_back(self, name):
        self._free.append(self._all[name])
        while len(self._free) > _SPARE_BLOCKS:         # sizes changed: drop the smallest
            self._unlink(min(self._free, key=lambda b: b.size))

    def _unlink(self, block):
        if block in self._free:
            self._free.remove(block)
        del self._all[block.name]
        block.close()
        block.unlink()

    def release(self):
        for block in list(self._all.values()):
            self._unlink(block)


def _pack(batch, blocks):
    """(skeleton, block name or None): the batch's arrays written into one of ``blocks``."""
    arrays, size = [], 0

    def place(leaf):
        nonlocal size
        a = leaf.array if isinstance(leaf, Tensor) else leaf
        if not isinstance(a, np.ndarray) or a.dtype.hasobject:
            return leaf
        arrays.append((a, size))
        slot = _Slot(size, a.shape, a.dtype.str, isinstance(leaf, Tensor))
        size += -(-a.nbytes // _ALIGN) * _ALIGN
        return slot

    skeleton = map_batch(place, batch)
    if not arrays:
        return skeleton, None
    block = blocks.take(size)
    try:
        for a, offset in arrays:
            np.ndarray(a.shape, a.dtype, buffer=block.buf, offset=offset)[...] = a
    except BaseException:
        blocks.give_back(block.name)
        raise
    return skeleton, block.name


def _unpack(skeleton, name):
    """The batch from ``_pack``'s result, its arrays copied out of the block (which can then be reused)."""
    if name is None:
        return skeleton
    block = SharedMemory(name=name)
    try:
        def take(leaf):
            if not isinstance(leaf, _Slot):
                return leaf
            a = np.ndarray(leaf.shape, np.dtype(leaf.dtype), buffer=block.buf, offset=leaf.offset).copy()
            return Tensor.wrap(a) if leaf.tensor else a
        return map_batch(take, skeleton)
    finally:
        block.close()


class _RemoteError:
    """An exception raised in a worker, carried as its type and its traceback's text."""

    def __init__(self, exc, worker_id):
        kind = type(exc)
        try:
            pickle.dumps(kind)
        except Exception:            # a class defined inside a function: RuntimeError carries the text
            kind = RuntimeError
        self.kind = kind
        self.text = (f"Caught {type(exc).__name__} in DataLoader worker process {worker_id}.\nOriginal "
                     + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))

    def exception(self):
        try:
            return self.kind(self.text)
        except Exception:            # an exception type that needs other arguments
            return RuntimeError(self.text)


# ---------------------------------------------------------------- the worker process
def _worker_main(fetch, worker_id, num_workers, base_seed, init_fn, tasks, results):
    global _info
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit)           # terminate(): unlink the blocks on the way out
    threads.set_num_threads(1)
    seed = base_seed + worker_id
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    backend.manual_seed(seed)
    _info = WorkerInfo(worker_id, num_workers, seed, fetch.dataset)
    parent = os.getppid()
    blocks = _Blocks()
    epoch = 0
    init_error = None
    if init_fn is not None:
        try:
            init_fn(worker_id)
        except Exception as e:
            init_error = _RemoteError(e, worker_id)

    def receive():
        nonlocal epoch
        while True:
            if not tasks.poll(_POLL_S):
                if os.getppid() != parent:       # the main process is gone
                    return
                continue
            task = tasks.recv()
            if task is None:
                return
            if task[0] == "free":
                blocks.give_back(task[1])
            elif task[0] == "epoch":
                epoch += 1
                fetch.start(task[1])
            else:
                yield task[1:]

    def send(k, kind, payload):
        nonlocal init_error
        if init_error is not None:
            kind, payload, init_error = "error", init_error, None
        elif kind == "batch":
            payload = _pack(payload, blocks)
        elif kind == "error":
            payload = _RemoteError(payload, worker_id)
        results.send((epoch, k, kind, payload))

    try:
        serve(fetch, receive(), send)
    except (BrokenPipeError, EOFError):      # the main process closed its ends: nothing left to do
        pass
    finally:
        blocks.release()


def _exit(signum, frame):
    raise SystemExit(0)


# ---------------------------------------------------------------- the main process's side
class WorkerPool:
    """``num_workers`` worker processes serving one DataLoader.

    ``start_epoch(seed)`` begins a pass (results of earlier passes still in flight are dropped);
    ``submit(k, indices)`` hands task k to the next worker still active; ``receive()`` returns the next
    result that arrives as (k, kind, payload), kind being "batch", "end" (that worker's stream is over:
    it gets no more tasks this epoch) or "error" (payload: the exception to raise); ``close()`` stops
    the workers, as does garbage collection of the pool.
    """

    def __init__(self, fetch, num_workers, base_seed, worker_init_fn=None, context=None, timeout=0):
        context = context if context is not None else multiprocessing.get_context()
        if os.name == "posix":
            from multiprocessing import resource_tracker
            resource_tracker.ensure_running()    # one tracker, shared by the workers (not one each)
        self.timeout = timeout
        self.epoch = 0
        self.active = []
        self._procs, self._tasks, self._results = [], [], []
        self.close = weakref.finalize(self, _shutdown, self._procs, self._tasks, self._results)
        try:
            for worker_id in range(num_workers):
                task_in, task_out = context.Pipe(duplex=False)
                result_in, result_out = context.Pipe(duplex=False)
                proc = context.Process(target=_worker_main, name=f"deepgrad-DataLoader-worker-{worker_id}",
                                       args=(fetch, worker_id, num_workers, base_seed, worker_init_fn, task_in,
                                             result_out), daemon=True)
                self._tasks.append(task_out)
                self._results.append(result_in)
                try:
                    proc.start()
                finally:
                    task_in.close()
                    result_out.close()
                self._procs.append(proc)
        except (pickle.PicklingError, AttributeError, TypeError) as e:
            self.close()
            method = context.get_start_method()
            raise TypeError(f"DataLoader: worker processes started by {method!r} receive the dataset, collate_fn "
                            f"and worker_init_fn pickled, and pickling failed ({e}); define them at module level "
                            "(no lambdas or local classes), or pass multiprocessing_context='fork'") from e
        except BaseException:
            self.close()
            raise

    @property
    def pids(self):
        return [p.pid for p in self._procs]

    def start_epoch(self, seed):
        self.epoch += 1
        self.active = list(range(len(self._procs)))
        self._turn = 0
        for conn in self._tasks:
            conn.send(("epoch", seed))

    def submit(self, k, indices):
        worker_id = self.active[self._turn % len(self.active)]
        self._turn += 1
        self._tasks[worker_id].send(("batch", k, indices))

    def receive(self):
        deadline = time.monotonic() + self.timeout if self.timeout else None
        while True:
            wait_s = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = connection.wait(self._results + [p.sentinel for p in self._procs], wait_s)
            if not ready:
                raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds")
            for worker_id, conn in enumerate(self._results):
                if conn not in ready:
                    continue
                try:
                    message = conn.recv()
                except EOFError:
                    break                       # the worker is gone: reported below
                epoch, k, kind, payload = message
                if kind == "batch":
                    skeleton, block = payload
                    batch = _unpack(skeleton, block) if epoch == self.epoch else None
                    if block is not None:
                        self._tasks[worker_id].send(("free", block))      # the worker may write it again
                if epoch != self.epoch:
                    continue
                if kind == "batch":
                    return k, kind, batch
                if kind == "end":
                    if worker_id in self.active:
                        self.active.remove(worker_id)
                    return k, kind, None
                return k, kind, payload.exception()
            dead = [p for p in self._procs if p.exitcode is not None]
            if dead:
                raise RuntimeError("DataLoader worker(s) exited unexpectedly: " + ", ".join(
                    f"pid {p.pid} with exit code {p.exitcode}" for p in dead))


def _drain(conn):
    """Read every result waiting on ``conn`` (a worker blocked writing one can then finish; it unlinks the
    blocks itself)."""
    try:
        while conn.poll():
            conn.recv()
    except (EOFError, OSError):
        pass


def _shutdown(procs, tasks, results):
    """Ask the workers to stop, wait for them (reading what they still send) and terminate the late ones."""
    for conn in tasks:
        try:
            conn.send(None)
        except OSError:
            pass
    deadline = time.monotonic() + _JOIN_S
    for proc, conn in zip(procs, results):
        while proc.exitcode is None and time.monotonic() < deadline:
            _drain(conn)
            proc.join(0.02)
        if proc.exitcode is None:
            proc.terminate()
            proc.join()
        _drain(conn)
        proc.close()
    for conn in tasks + results:
        conn.close()
