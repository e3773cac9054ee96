"""Samplers: the order in which a ``DataLoader`` visits a map-style dataset (``torch.utils.data``'s
classes, signatures, checks and semantics).

A sampler is an iterable of dataset indices (a ``BatchSampler``: of lists of indices) with a ``__len__``.
Random samplers draw from a ``deepgrad.Generator`` (their ``generator``; without one, each pass over the
sampler seeds a fresh generator from deepgrad's default generator, so ``dg.manual_seed`` reproduces it):
the same lengths and index sets as PyTorch's, the orders from deepgrad's random numbers.
"""
import itertools
import numbers

from .. import backend
from ..autograd.tensor import Tensor

np = backend.numpy


class Sampler:
    """Base class: subclasses define ``__iter__`` (indices, or lists of indices) and usually ``__len__``."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


def _bitgen(generator):
    """The NumPy generator a random sampler draws one pass from."""
    if generator is None:
        return np.random.Generator(np.random.PCG64(int(backend.default_generator.bitgen.integers(2 ** 63))))
    return generator.bitgen


def _check_generator(generator, owner):
    if generator is not None and not isinstance(generator, backend.Generator):
        raise TypeError(f"{owner}: generator must be a deepgrad.Generator or None, got {type(generator).__name__}")
    return generator


def _positive_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random order of ``data_source``'s indices: ``num_samples`` (default ``len(data_source)``) of them,
    from successive random permutations, or drawn independently when ``replacement``."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = _check_generator(generator, "RandomSampler")
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={replacement}")
        if not _positive_int(self.num_samples):
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={self.num_samples}")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n, count = len(self.data_source), self.num_samples
        if n == 0:
            raise ValueError("RandomSampler: cannot draw samples from an empty data_source")
        rng = _bitgen(self.generator)
        if self.replacement:
            for start in range(0, count, 32):           # in chunks, as PyTorch: memory stays small
                yield from rng.integers(n, size=min(32, count - start)).tolist()
            return
        for _ in range(count // n):
            yield from rng.permutation(n).tolist()
        if count % n:
            yield from rng.permutation(n)[:count % n].tolist()

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order (a new one each pass)."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = _check_generator(generator, "SubsetRandomSampler")

    def __iter__(self):
        for i in _bitgen(self.generator).permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices of ``range(len(weights))``, index i with probability proportional to
    ``weights[i]``; without ``replacement`` an index is drawn at most once (as ``torch.multinomial``)."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        if not _positive_int(num_samples):
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got replacement={replacement}")
        w = np.asarray(weights.array if isinstance(weights, Tensor) else weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape {tuple(w.shape)}")
        if not np.isfinite(w).all() or (w < 0).any() or not w.sum() > 0:
            raise ValueError("WeightedRandomSampler: weights must be finite, non-negative and not all zero")
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError(f"WeightedRandomSampler: cannot draw num_samples={num_samples} without replacement "
                             f"from {np.count_nonzero(w)} non-zero weights")
        self.weights = w
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = _check_generator(generator, "WeightedRandomSampler")

    def __iter__(self):
        rng = _bitgen(self.generator)
        p = self.weights / self.weights.sum()
        yield from rng.choice(len(p), size=self.num_samples, replace=self.replacement, p=p).tolist()

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of ``batch_size`` consecutive indices of ``sampler`` (the last one shorter unless
    ``drop_last``)."""

    def __init__(self, sampler, batch_size, drop_last):
        if not _positive_int(batch_size):
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = drop_last

    def __iter__(self):
        indices = iter(self.sampler)
        while batch := list(itertools.islice(indices, self.batch_size)):
            if self.drop_last and len(batch) < self.batch_size:
                return
            yield batch

    def __len__(self):
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size


class DistributedSampler(Sampler):
    """Rank ``rank``'s shard of ``dataset`` among ``num_replicas`` processes (default: the process group's):
    every ``num_replicas``-th index of one order (a permutation drawn from ``seed + epoch`` when ``shuffle``),
    padded by repeating its start so that all shards have ``ceil(n / num_replicas)`` indices, or trimmed
    to ``floor(n / num_replicas)`` each with ``drop_last``. Call ``set_epoch`` before each epoch to reshuffle."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None or rank is None:
            from .. import distributed      # the process group (layer 6), asked only for these defaults
            num_replicas = distributed.get_world_size() if num_replicas is None else num_replicas
            rank = distributed.get_rank() if rank is None else rank
        if not _positive_int(num_replicas):
            raise ValueError(f"num_replicas should be a positive integer, but got num_replicas={num_replicas}")
        if not isinstance(rank, numbers.Integral) or not 0 <= rank < num_replicas:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.epoch = 0
        n = len(dataset)
        self.num_samples = n // self.num_replicas if drop_last else -(-n // self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def permutation(self):
        """The order of the whole dataset this epoch, before padding and sharding (the same on every rank)."""
        n = len(self.dataset)
        if not self.shuffle:
            return list(range(n))
        return np.random.Generator(np.random.PCG64(self.seed + self.epoch)).permutation(n).tolist()

    def __iter__(self):
        indices = self.permutation()
        if self.drop_last:
            indices = indices[:self.total_size]
        elif indices:
            indices = (indices * -(-self.total_size // len(indices)))[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """Use ``epoch`` in the shuffling seed: a different order each epoch, the same on every rank."""
        self.epoch = epoch
