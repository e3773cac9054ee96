"""``DataLoader``: batches from a dataset, shuffled by a seeded generator, loaded ahead by a thread.

Semantics follow ``torch.utils.data.DataLoader`` (``batch_size``, ``shuffle``, ``drop_last``,
``collate_fn``, ``generator``) with a background *prefetch* thread in place of worker processes:
while the model computes on batch k, the thread assembles batches k+1 .. k+prefetch (NumPy's indexing
and copies release the GIL, so the two overlap). The thread is a daemon, ends when the epoch ends or
the iterator is dropped (``break`` out of the loop, an exception) and passes any exception raised while
loading on to the consumer, which re-raises it at the batch where it happened.

Randomness. The loader owns a ``deepgrad.Generator``; by default one is seeded at construction from
deepgrad's default generator (one draw), so ``dg.manual_seed(s)`` before building the loader
reproduces every epoch's order. Each epoch draws a new permutation (when ``shuffle``) and a seed from
which every batch gets its own generator for random transforms (see ``deepgrad.data.current_generator``),
so augmentation is the same with and without prefetching. ``state_dict()`` / ``load_state_dict()``
save and restore the epoch counter, the generator and the position inside an unfinished epoch: a loader
restored from a state replays the rest of that epoch, and every later one, exactly. For an exact
resume, build the loaders first (building one without a generator takes a draw from the default
generator), then restore the loaders' states and deepgrad's default generator state.
"""
import math
import numbers
import queue
import threading
import weakref

from .. import backend
from ..autograd.tensor import Tensor
from . import _random

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
        return Tensor.wrap(np.stack([t.data for t in batch]))
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
    """What the loader yields when ``batch_size=None``: NumPy arrays become Tensors, the rest is kept."""
    if isinstance(sample, np.ndarray):
        return Tensor.wrap(sample)
    if isinstance(sample, dict):
        return {k: default_convert(v) for k, v in sample.items()}
    if isinstance(sample, tuple) and hasattr(sample, "_fields"):
        return type(sample)(*(default_convert(v) for v in sample))
    if isinstance(sample, (tuple, list)):
        return type(sample)(default_convert(v) for v in sample)
    return sample


def _wrap_batched(batch):
    """A ``get_batch`` result with its arrays wrapped as Tensors (dtypes as the dataset chose them)."""
    if isinstance(batch, np.ndarray):
        return Tensor.wrap(batch)
    if isinstance(batch, dict):
        return {k: _wrap_batched(v) for k, v in batch.items()}
    if isinstance(batch, tuple):
        return tuple(_wrap_batched(v) for v in batch)
    if isinstance(batch, list):
        return [_wrap_batched(v) for v in batch]
    return batch


# ---------------------------------------------------------------- iteration
class _Epoch:
    """Bookkeeping of one epoch, for ``DataLoader.state_dict``."""
    __slots__ = ("epoch", "start_state", "batch", "done")

    def __init__(self, epoch, start_state, batch):
        self.epoch, self.start_state, self.batch, self.done = epoch, start_state, batch, False


def _put(q, item, stop):
    while not stop.is_set():
        try:
            q.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


def _produce(load, work, q, stop):
    """The prefetch thread: load each batch of ``work`` and queue it; then an end mark (or the error)."""
    try:
        for k, indices in work:
            if stop.is_set():
                return
            if not _put(q, ("batch", load(k, indices)), stop):
                return
        _put(q, ("end", None), stop)
    except BaseException as e:      # handed to the consumer, raised there
        _put(q, ("error", e), stop)


def _shutdown(stop, q, thread):
    stop.set()
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass
    if thread is not threading.current_thread():
        thread.join(timeout=10)


class _PrefetchIterator:
    def __init__(self, load, work, epoch, depth):
        self._epoch = epoch
        self._done = False
        self._q = queue.Queue(maxsize=depth)
        stop = threading.Event()
        # the thread gets no reference to this object, so dropping the iterator finalises it
        self._thread = threading.Thread(target=_produce, args=(load, work, self._q, stop),
                                        name="deepgrad-DataLoader-prefetch", daemon=True)
        self._thread.start()
        self._finalizer = weakref.finalize(self, _shutdown, stop, self._q, self._thread)

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        while True:
            try:
                kind, payload = self._q.get(timeout=0.1)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._q.empty():
                    self.close()
                    raise RuntimeError("DataLoader: the prefetch thread ended without finishing the epoch")
        if kind == "batch":
            self._epoch.batch += 1
            return payload
        self.close()
        if kind == "end":
            self._epoch.done = True
            raise StopIteration
        if hasattr(payload, "add_note"):
            payload.add_note("(raised while loading a batch in the DataLoader prefetch thread)")
        raise payload

    def close(self):
        """Stop the prefetch thread now (also done when the epoch ends or the iterator is dropped)."""
        self._done = True
        self._finalizer()


class _SyncIterator:
    def __init__(self, load, work, epoch):
        self._load, self._work, self._epoch = load, iter(work), epoch

    def __iter__(self):
        return self

    def __next__(self):
        try:
            k, indices = next(self._work)
        except StopIteration:
            self._epoch.done = True
            raise
        batch = self._load(k, indices)
        self._epoch.batch += 1
        return batch

    def close(self):
        self._work = iter(())


class DataLoader:
    """Iterate over ``dataset`` in batches (PyTorch semantics).

    batch_size: samples per batch (``None``: single samples, not collated). shuffle: a new random order
    every epoch. drop_last: drop a final incomplete batch. collate_fn: turns a list of samples into a
    batch (default ``default_collate``). generator: a ``deepgrad.Generator`` (or an int seed) for the
    order and the per-batch augmentation seeds; default: seeded from deepgrad's default generator.
    prefetch: how many batches a background thread loads ahead (0: load in the calling thread).

    Fast path: when ``collate_fn`` is None and the dataset has ``get_batch(indices)`` (TensorDataset,
    the built-in datasets, and Subsets of them), each batch is built with one fancy index.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, collate_fn=None, generator=None,
                 prefetch=2):
        if batch_size is not None and (not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool)
                                       or batch_size <= 0):
            raise ValueError(f"DataLoader: batch_size must be a positive int or None, got {batch_size!r}")
        if not isinstance(prefetch, numbers.Integral) or prefetch < 0:
            raise ValueError(f"DataLoader: prefetch must be an int >= 0, got {prefetch!r}")
        if batch_size is None and drop_last:
            raise ValueError("DataLoader: drop_last needs a batch_size")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError("DataLoader: collate_fn must be callable")
        if generator is None:
            generator = backend.Generator(int(backend.default_generator.bitgen.integers(2 ** 63)))
        elif isinstance(generator, numbers.Integral) and not isinstance(generator, bool):
            generator = backend.Generator(int(generator))
        elif not isinstance(generator, backend.Generator):
            raise TypeError(f"DataLoader: generator must be a deepgrad.Generator or an int seed, "
                            f"got {type(generator).__name__}")
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.generator = generator
        self.prefetch = int(prefetch)
        self._epoch = 0              # the epoch the next __iter__ starts
        self._resume_batch = 0       # batches of that epoch to skip (set by load_state_dict)
        self._active = None          # _Epoch of the latest iterator

    def __len__(self):
        n = len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    @property
    def epoch(self):
        """The number of epochs started so far (the index of the next one)."""
        return self._epoch

    def _loader_function(self, seed):
        dataset, collate = self.dataset, self.collate_fn
        if self.batch_size is None:
            def fetch(indices):
                return default_convert(dataset[int(indices[0])])
        else:
            fast = getattr(dataset, "get_batch", None) if collate is None else None
            if fast is not None:
                def fetch(indices):
                    return _wrap_batched(fast(indices))
            else:
                collate = collate or default_collate

                def fetch(indices):
                    return collate([dataset[int(i)] for i in indices])

        def load(k, indices):
            with _random.using(_random.batch_generator(seed, k)):
                return fetch(indices)
        return load

    def __iter__(self):
        n = len(self.dataset)
        skip, self._resume_batch = self._resume_batch, 0
        start_state = self.generator.get_state()
        order = self.generator.bitgen.permutation(n) if self.shuffle else np.arange(n, dtype=np.int64)
        seed = int(self.generator.bitgen.integers(2 ** 63))
        size = self.batch_size or 1
        count = len(self)
        work = [(k, order[k * size:(k + 1) * size]) for k in range(skip, count)]
        epoch = _Epoch(self._epoch, start_state, skip)
        self._epoch += 1
        self._active = epoch
        load = self._loader_function(seed)
        if self.prefetch == 0 or not work:
            return _SyncIterator(load, work, epoch)
        return _PrefetchIterator(load, work, epoch, self.prefetch)

    # ------------------------------------------------------------ exact resume
    def state_dict(self):
        """The loader's position, JSON-serialisable: ``epoch`` (the epoch in progress or the next one),
        ``batch`` (batches of it already delivered) and ``generator`` (the generator state the epoch
        started from). Restoring it with ``load_state_dict`` replays the remaining batches exactly."""
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


def _plain(state):
    """A deep copy of a generator state with plain Python values (JSON-serialisable)."""
    if isinstance(state, dict):
        return {k: _plain(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return [_plain(v) for v in state]
    if isinstance(state, np.generic):
        return state.item()
    return state
