"""``DataLoader``: batches from a dataset in a sampler's order, loaded ahead by a thread or by worker
processes (``torch.utils.data.DataLoader``'s arguments and semantics).

The order. A map-style dataset is visited in the order of ``sampler`` (default: ``SequentialSampler``,
or ``RandomSampler`` over the loader's generator when ``shuffle``), grouped by ``batch_sampler``
(default: ``BatchSampler(sampler, batch_size, drop_last)``). An ``IterableDataset`` is read as a stream
(no sampler). Samplers run in the calling thread, so their random draws never depend on timing.

Loading. ``num_workers=0``: a background *prefetch* thread assembles batches k+1 .. k+prefetch while the
model computes on batch k (NumPy's indexing and copies release the GIL, so the two overlap);
``prefetch=0`` loads in the calling thread. ``num_workers=N``: N worker processes (``deepgrad.data.worker``)
load ``prefetch_factor`` batches each ahead and return them through shared memory. Either way batches
come back in order; an exception raised while loading is raised at the batch where it happened (from a
worker: with the worker's traceback in its message) and ends the epoch; ``break``-ing out of the loop,
``close()`` or dropping the iterator stops the thread or the workers (``persistent_workers`` keep theirs
for the next epoch until the loader goes).

Start method. Workers start with ``multiprocessing_context`` or, by default, the platform's default
method, as PyTorch: ``fork`` on Linux (Python <= 3.13), so lambdas, local classes and unguarded scripts
work as they do with PyTorch there, and the dataset is shared copy-on-write rather than pickled.
``fork`` copies only the calling thread; deepgrad's own threads are safe with it (its thread pool is
rebuilt in the child, the prefetch thread is not used with workers, the workers use pipes rather than
queues with feeder threads). A program that runs threads of its own which may hold locks when the loader
forks should pass ``multiprocessing_context="forkserver"`` (or "spawn"): then the dataset, collate_fn and
worker_init_fn must be picklable.

Randomness. The loader owns a ``deepgrad.Generator``; by default one is seeded at construction from
deepgrad's default generator (one draw), so ``dg.manual_seed(s)`` before building the loader
reproduces every epoch's order. Each epoch draws a seed from it; batch k of the epoch is loaded with its
own generator made from (seed, k), which random transforms use (see ``deepgrad.data.current_generator``),
so augmentation is the same with and without the prefetch thread and with any number of workers. Worker
w also seeds its default generators with seed + w (``get_worker_info().seed``). ``state_dict()`` /
``load_state_dict()`` save and restore the epoch counter, the generator and the position inside an
unfinished epoch: a loader restored from a state replays the rest of that epoch, and every later one,
exactly. For an exact resume, build the loaders first (building one without a generator takes a draw from
the default generator), then restore the loaders' states and deepgrad's default generator state.
"""
import collections
import functools
import itertools
import math
import multiprocessing
import numbers
import queue
import threading
import weakref

from .. import backend
from ..autograd.tensor import Tensor
from . import _random
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler
from .worker import EndOfData, WorkerPool, map_batch, serve

np = backend.numpy


# ---------------------------------------------------------------- collation
def _collate_arrays(arrays):
    out = np.stack(arrays)
    if out.dtype.kind == "f":
        if out.dtype == np.float64:
            out = out.astype(np.float32)
    elif out.dtype.kind in "iu" and (out.ndim == 1 or out.dtype.itemsize > 1):
        out = out.astype(np.int64)      # labels and index arrays; uint8 images stay uint8
    return Tensor.wrap(out)


def default_collate(batch):
    """Stack a list of samples into a batch, as ``torch.utils.data.default_collate``: Tensors are stacked
    (dtype kept); NumPy arrays and numbers become Tensors with deepgrad's default dtypes (floats ->
    float32, ints -> int64, uint8 arrays kept as uint8, bools -> bool); tuples, lists and dicts are
    collated field by field; strings are kept as a list."""
    if not isinstance(batch, (list, tuple)) or len(batch) == 0:
        raise TypeError(f"default_collate: expected a non-empty list of samples, got {type(batch).__name__}")
    elem = batch[0]
    if isinstance(elem, Tensor):
        shapes = {t.shape for t in batch}
        if len(shapes) > 1:
            raise RuntimeError(f"default_collate: cannot stack tensors of different shapes {sorted(shapes)}; "
                               "resize them to one size (transforms.Resize) or pass a collate_fn")
        return Tensor.wrap(backend.xp_of(elem.array).stack([t.array for t in batch]))   # on their device
    if isinstance(elem, (np.ndarray, np.generic)):
        arrays = [np.asarray(a) for a in batch]
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise RuntimeError(f"default_collate: cannot stack arrays of different shapes {sorted(shapes)}; "
                               "resize them to one size (transforms.Resize) or pass a collate_fn")
        if arrays[0].dtype.kind in "iu" and arrays[0].ndim == 0:
            return Tensor.wrap(np.array(arrays, dtype=np.int64))
        return _collate_arrays(arrays)
    if isinstance(elem, bool):
        return Tensor.wrap(np.array(batch, dtype=np.bool_))
    if isinstance(elem, numbers.Integral):
        return Tensor.wrap(np.array(batch, dtype=np.int64))
    if isinstance(elem, numbers.Real):
        return Tensor.wrap(np.array(batch, dtype=np.float32))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, dict):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):          # namedtuple
        return type(elem)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(elem, (tuple, list)):
        sizes = {len(s) for s in batch}
        if len(sizes) > 1:
            raise RuntimeError("default_collate: every sample in a batch must have the same number of fields")
        fields = [default_collate(list(field)) for field in zip(*batch)]
        return tuple(fields) if isinstance(elem, tuple) else fields
    raise TypeError(f"default_collate: cannot batch samples of type {type(elem).__name__}; "
                    "pass a collate_fn")


def default_convert(sample):
    """What the loader yields without batching (``batch_size=None``), and around a dataset's
    ``get_batch``: NumPy arrays become Tensors (inside dicts, lists and tuples), the rest is kept."""
    return map_batch(lambda leaf: Tensor.wrap(leaf) if isinstance(leaf, np.ndarray) else leaf, sample)



# ---------------------------------------------------------------- loading one batch
class _Fetch:
    """What loading task k of an epoch means: the batch of ``indices`` (map-style datasets) or the next
    batch of the stream (iterable datasets), made inside batch k's generator for random transforms.
    ``start(seed)`` begins an epoch. A worker process gets its own copy."""

    def __init__(self, dataset, batched, batch_size, drop_last, collate_fn, fast):
        self.dataset, self.batched, self.batch_size, self.drop_last = dataset, batched, batch_size, drop_last
        self.collate_fn, self.fast = collate_fn, fast
        self._seed = self._stream = None

    def start(self, seed):
        self._seed, self._stream = seed, None

    def __call__(self, k, indices):
        with _random.using(_random.batch_generator(self._seed, k)):
            if isinstance(self.dataset, IterableDataset):
                return self._next_of_stream()
            if not self.batched:
                return self.collate_fn(self.dataset[indices])
            if self.fast:
                return default_convert(self.dataset.get_batch(np.asarray(indices, dtype=np.int64)))
            return self.collate_fn([self.dataset[i] for i in indices])

    def _next_of_stream(self):
        if self._stream is None:
            self._stream = iter(self.dataset)
        if not self.batched:
            try:
                return self.collate_fn(next(self._stream))
            except StopIteration:
                raise EndOfData from None
        samples = list(itertools.islice(self._stream, self.batch_size))
        if not samples or (self.drop_last and len(samples) < self.batch_size):
            raise EndOfData
        return self.collate_fn(samples)


# ---------------------------------------------------------------- iteration
class _Epoch:
    """Bookkeeping of one epoch, for ``DataLoader.state_dict``."""
    __slots__ = ("epoch", "start_state", "batch", "done")

    def __init__(self, epoch, start_state, batch):
        self.epoch, self.start_state, self.batch, self.done = epoch, start_state, batch, False


class _SyncIterator:
    """Loads each batch in the calling thread when it is asked for."""

    def __init__(self, fetch, tasks, epoch):
        self._fetch, self._tasks, self._epoch = fetch, tasks, epoch

    def __iter__(self):
        return self

    def __next__(self):
        try:
            batch = self._fetch(*next(self._tasks))
        except (StopIteration, EndOfData):
            self._epoch.done = True
            self.close()
            raise StopIteration from None
        self._epoch.batch += 1
        return batch

    def close(self):
        self._tasks = iter(())


class _PrefetchThread:
    """One background thread loading, in order, the tasks it is given (``num_workers=0``)."""

    def __init__(self, fetch):
        self._tasks, self._results = queue.Queue(), queue.Queue()
        self.active = [0]
        # the thread gets no reference to this object, so dropping it stops the thread
        self._thread = threading.Thread(target=serve, name="deepgrad-DataLoader-prefetch", daemon=True,
                                        args=(fetch, iter(self._tasks.get, None),
                                              functools.partial(_put_result, self._results)))
        self._thread.start()
        self.close = weakref.finalize(self, _stop_thread, self._tasks, self._thread)

    def submit(self, k, indices):
        self._tasks.put((k, indices))

    def receive(self):
        while True:
            try:
                k, kind, payload = self._results.get(timeout=0.1)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._results.empty():
                    raise RuntimeError("DataLoader: the prefetch thread ended without finishing the epoch") from None
        if kind == "end":
            self.active = []
        elif kind == "error":
            payload.add_note("(raised while loading a batch in the DataLoader prefetch thread)")
        return k, kind, payload


def _put_result(results, *result):
    results.put(result)


def _stop_thread(tasks, thread):
    tasks.put(None)
    if thread is not threading.current_thread():
        thread.join(timeout=10)


class _OrderedIterator:
    """Keeps ``depth`` tasks handed out to ``workers`` (a ``_PrefetchThread`` or a ``WorkerPool``) and
    delivers their results in task order; the workers are closed at the end unless ``keep_workers``."""

    def __init__(self, workers, tasks, depth, epoch, keep_workers=False):
        self._workers, self._tasks, self._epoch, self._keep = workers, tasks, epoch, keep_workers
        self._pending = collections.deque()     # tasks handed out, in order
        self._ready = {}                # results received ahead of their turn
        self._done = False
        for _ in range(depth):
            self._submit()

    def _submit(self):
        if not self._workers.active:
            return
        task = next(self._tasks, None)
        if task is not None:
            self._pending.append(task[0])
            self._workers.submit(*task)

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        while self._pending:
            kind, payload = self._result(self._pending.popleft())
            if kind == "batch":
                self._epoch.batch += 1
                return payload
            if kind == "error":         # a loading error ends the epoch (persistent workers stay)
                self.close()
                raise payload
        self._epoch.done = True
        self.close()
        raise StopIteration

    def _result(self, k):
        """Task k's (kind, payload), after handing out the next task."""
        try:
            while k not in self._ready:
                got, kind, payload = self._workers.receive()
                self._ready[got] = kind, payload
            self._submit()
        except BaseException:           # a dead worker, a timeout, Ctrl-C: the workers stop, persistent ones too
            self._done = True
            self._workers.close()
            raise
        return self._ready.pop(k)

    def close(self):
        """Stop loading now (also done when the epoch ends or the iterator is dropped)."""
        self._done = True
        if not self._keep:
            self._workers.close()


class _Pinned:
    """The batches of iterator ``batches`` with their host arrays copied by ``pin`` into page-locked memory."""

    def __init__(self, batches, pin):
        self.batches, self.pin = batches, pin

    def __iter__(self):
        return self

    def __next__(self):
        return map_batch(lambda leaf: Tensor.wrap(self.pin(leaf.array))
                         if isinstance(leaf, Tensor) and type(leaf.array) is np.ndarray else leaf, next(self.batches))

    def close(self):
        self.batches.close()


class DataLoader:
    """Iterate over ``dataset`` in batches, with ``torch.utils.data.DataLoader``'s arguments and checks.

    batch_size: samples per batch (``None``: single samples, not collated). shuffle: a new random order
    every epoch. sampler / batch_sampler: the order of indices / of index batches (see the module doc).
    num_workers: worker processes (0: load in this process). collate_fn: turns a list of samples into a
    batch (default ``default_collate``). pin_memory: with CUDA, batches come in page-locked host memory, so
    ``batch.to("cuda", non_blocking=True)`` copies asynchronously; accepted without effect on the CPU. drop_last: drop a
    final incomplete batch. timeout: seconds to wait for a batch from the workers (0: forever).
    worker_init_fn: called in each worker with its id, after seeding. multiprocessing_context: a start
    method's name or a multiprocessing context. generator: a ``deepgrad.Generator`` (or an int seed) for
    the order, the per-batch augmentation seeds and the workers' seeds; default: seeded from deepgrad's
    default generator. prefetch_factor: batches each worker loads ahead (default 2). persistent_workers:
    keep the workers from one epoch to the next. prefetch (deepgrad's own, ``num_workers=0`` only): how
    many batches a background thread loads ahead (0: load in the calling thread).

    Fast path: when ``collate_fn`` is None and the dataset has ``get_batch(indices)`` (TensorDataset,
    the built-in datasets, and Subsets of them), each batch is built with one fancy index.
    """
    _FIXED = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 prefetch=2):
        if not isinstance(num_workers, numbers.Integral) or isinstance(num_workers, bool) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be an int >= 0 (0 loads in the main process), "
                             f"got {num_workers!r}")
        if not isinstance(timeout, numbers.Real) or timeout < 0:
            raise ValueError(f"DataLoader: timeout must be a number >= 0, got {timeout!r}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("DataLoader: prefetch_factor needs num_workers > 0 (the prefetch thread of "
                             "num_workers=0 is set by prefetch=)")
        if prefetch_factor is None and num_workers > 0:
            prefetch_factor = 2
        if prefetch_factor is not None and (not isinstance(prefetch_factor, numbers.Integral) or prefetch_factor < 0):
            raise ValueError(f"DataLoader: prefetch_factor must be an int >= 0, got {prefetch_factor!r}")
        if persistent_workers and num_workers == 0:
            raise ValueError("DataLoader: persistent_workers needs num_workers > 0")
        if isinstance(dataset, IterableDataset):
            if shuffle not in (None, False):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, "
                                 f"but got shuffle={shuffle}")
            if sampler is not None or batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler and batch_sampler "
                                 "options (a stream has no indices)")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with batch_size, shuffle, "
                                 "sampler, and drop_last")
            batch_size = None
        elif batch_size is None and drop_last:
            raise ValueError("DataLoader: batch_size=None option disables auto-batching and is mutually exclusive "
                             "with drop_last")
        if batch_size is not None and (not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool)
                                       or batch_size <= 0):
            raise ValueError(f"DataLoader: batch_size must be a positive int or None, got {batch_size!r}")
        if not isinstance(prefetch, numbers.Integral) or prefetch < 0:
            raise ValueError(f"DataLoader: prefetch must be an int >= 0, got {prefetch!r}")
        for name, fn in (("collate_fn", collate_fn), ("worker_init_fn", worker_init_fn)):
            if fn is not None and not callable(fn):
                raise TypeError(f"DataLoader: {name} must be callable, got {type(fn).__name__}")
        generator = _loader_generator(generator)
        if sampler is None and not isinstance(dataset, IterableDataset):
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and sampler is not None:
            batch_sampler = BatchSampler(sampler, int(batch_size), bool(drop_last))

        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.drop_last = bool(drop_last)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = int(num_workers)
        self.collate_fn = collate_fn
        self.pin_memory = bool(pin_memory)
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = _context(multiprocessing_context, self.num_workers)
        self.generator = generator
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = bool(persistent_workers)
        self.prefetch = int(prefetch)
        self._epoch = 0              # the epoch the next __iter__ starts
        self._resume_batch = 0       # batches of that epoch to skip (set by load_state_dict)
        self._active = None          # _Epoch of the latest iterator
        self._pool = self._iterator = None    # persistent workers and their latest iterator
        self._initialized = True

    def __setattr__(self, name, value):
        if name in self._FIXED and self.__dict__.get("_initialized"):
            raise ValueError(f"{name} attribute should not be set after DataLoader is initialized")
        super().__setattr__(name, value)

    @property
    def _iterable(self):
        return isinstance(self.dataset, IterableDataset)

    @property
    def _batched(self):
        return self.batch_sampler is not None or (self._iterable and self.batch_size is not None)

    def __len__(self):
        if self._iterable:          # an estimate, as PyTorch's: each worker may end with a short batch
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
        return len(self._index_sampler)

    @property
    def _index_sampler(self):
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    @property
    def epoch(self):
        """The number of epochs started so far (the index of the next one)."""
        return self._epoch

    def _fetch(self):
        collate = self.collate_fn or (default_collate if self._batched else default_convert)
        fast = (self.collate_fn is None and self._batched and not self._iterable
                and getattr(self.dataset, "get_batch", None) is not None)
        return _Fetch(self.dataset, self._batched, self.batch_size, self.drop_last, collate, fast)

    def _tasks(self, skip):
        """(k, indices) for each batch k of the epoch from ``skip`` on; indices are None for a stream."""
        if self._iterable:
            return ((k, None) for k in itertools.count())
        return itertools.islice(enumerate(self._index_sampler), skip, None)

    def __iter__(self):
        pin = backend.pinner() if self.pin_memory else None
        return self._iterate() if pin is None else _Pinned(self._iterate(), pin)

    def _iterate(self):
        skip, self._resume_batch = self._resume_batch, 0
        if skip and self._iterable:
            raise TypeError("DataLoader: an IterableDataset cannot resume inside an epoch (a stream has no indices)")
        start_state = self.generator.get_state()
        seed = int(self.generator.bitgen.integers(2 ** 63))
        epoch = _Epoch(self._epoch, start_state, skip)
        self._epoch += 1
        self._active = epoch
        tasks = self._tasks(skip)
        if self.num_workers == 0:
            fetch = self._fetch()
            fetch.start(seed)
            if self.prefetch == 0:
                return _SyncIterator(fetch, tasks, epoch)
            return _OrderedIterator(_PrefetchThread(fetch), tasks, self.prefetch, epoch)
        depth = max(1, self.prefetch_factor * self.num_workers)
        if not self.persistent_workers:
            pool = self._start_workers(seed)
            pool.start_epoch(seed)
            return _OrderedIterator(pool, tasks, depth, epoch)
        if self._iterator is not None:
            self._iterator.close()      # the workers move on to the new epoch
        if self._pool is None or not self._pool.close.alive:     # none yet, or stopped by a failure
            self._pool = self._start_workers(seed)
        self._pool.start_epoch(seed)
        self._iterator = _OrderedIterator(self._pool, tasks, depth, epoch, keep_workers=True)
        return self._iterator

    def _start_workers(self, seed):
        return WorkerPool(self._fetch(), self.num_workers, seed, self.worker_init_fn, self.multiprocessing_context,
                          self.timeout)

    # ------------------------------------------------------------ exact resume
    def state_dict(self):
        """The loader's position, JSON-serialisable: ``epoch`` (the epoch in progress or the next one),
        ``batch`` (batches of it already delivered) and ``generator`` (the generator state the epoch
        started from). Restoring it with ``load_state_dict`` replays the remaining batches exactly (with
        a sampler of the loader's own; a sampler with its own generator needs that generator restored too)."""
        a = self._active
        if a is not None and not a.done and a.batch < len(self):
            return {"epoch": a.epoch, "batch": a.batch, "generator": _plain(a.start_state)}
        return {"epoch": self._epoch, "batch": self._resume_batch, "generator": _plain(self.generator.get_state())}

    def load_state_dict(self, state):
        """Restore a ``state_dict()``: the next ``iter(loader)`` continues where that state left off."""
        missing = {"epoch", "batch", "generator"} - set(state)
        if missing:
            raise KeyError(f"DataLoader.load_state_dict: missing keys {sorted(missing)}")
        batch = int(state["batch"])
        if not 0 <= batch <= len(self):
            raise ValueError(f"DataLoader.load_state_dict: batch {batch} is outside this loader's epoch of "
                             f"{len(self)} batches (a state from another dataset or batch size?)")
        try:
            self.generator.set_state(_plain(state["generator"]))
        except (TypeError, ValueError, KeyError) as e:
            raise ValueError(f"DataLoader.load_state_dict: invalid generator state: {e}") from None
        self._epoch = int(state["epoch"])
        self._resume_batch = batch
        self._active = None


def _loader_generator(generator):
    if generator is None:
        return backend.Generator(int(backend.default_generator.bitgen.integers(2 ** 63)))
    if isinstance(generator, numbers.Integral) and not isinstance(generator, bool):
        return backend.Generator(int(generator))
    if not isinstance(generator, backend.Generator):
        raise TypeError(f"DataLoader: generator must be a deepgrad.Generator or an int seed, "
                        f"got {type(generator).__name__}")
    return generator


def _context(context, num_workers):
    """The multiprocessing context named or given (None: the platform's default, chosen when workers start)."""
    if context is None:
        return None
    if num_workers == 0:
        raise ValueError("DataLoader: multiprocessing_context can only be used with multi-process loading "
                         "(num_workers > 0), but got num_workers=0")
    if isinstance(context, str):
        methods = multiprocessing.get_all_start_methods()
        if context not in methods:
            raise ValueError(f"DataLoader: multiprocessing_context should be a start method in {methods}, "
                             f"got {context!r}")
        return multiprocessing.get_context(context)
    if not isinstance(context, multiprocessing.context.BaseContext):
        raise TypeError(f"DataLoader: multiprocessing_context should be a start method's name or a multiprocessing "
                        f"context, got {type(context).__name__}")
    return context


def _plain(state):
    """A deep copy of a generator state with plain Python values (JSON-serialisable)."""
    if isinstance(state, dict):
        return {k: _plain(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return [_plain(v) for v in state]
    if isinstance(state, np.generic):
        return state.item()
    return state
