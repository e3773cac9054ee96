"""Datasets with PyTorch semantics: map-style ``Dataset``, ``TensorDataset``, ``Subset``, ``ConcatDataset``,
``random_split``, and iterable-style ``IterableDataset``.

A dataset is anything with ``__getitem__(i)`` and ``__len__()``. A dataset may also offer the batch fast
path ``get_batch(indices)``: given an int64 NumPy array of indices it returns the *already batched* sample
(a tuple of arrays or Tensors with a leading batch dimension), built with one fancy index instead of a
Python loop over items. ``DataLoader`` uses it when no ``collate_fn`` is given; it must return what
collating ``[dataset[i] for i in indices]`` would.
"""
import bisect
import math
import numbers

from .. import backend
from ..autograd.tensor import Tensor

np = backend.numpy


class Dataset:
    """Base class of map-style datasets: subclasses define ``__getitem__`` and ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """Base class of iterable-style datasets (streams): subclasses define ``__iter__``, which yields samples.

    With ``DataLoader(num_workers=N)`` every worker iterates its own copy of the dataset, so each sample
    would come N times; split the stream in ``__iter__`` (or in a ``worker_init_fn``) with
    ``get_worker_info()``, as in PyTorch::

        def __iter__(self):
            info = deepgrad.data.get_worker_info()          # None in the main process
            start, step = (0, 1) if info is None else (info.id, info.num_workers)
            return itertools.islice(self.stream(), start, None, step)
    """

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __len__(self):
        raise TypeError(f"{type(self).__name__} has no len() (define __len__ to give DataLoader a length)")


def _as_index_array(indices, n, what):
    idx = np.asarray(indices)
    if idx.size == 0:
        return idx.astype(np.int64).reshape(0)
    if idx.dtype.kind not in "iu" or idx.ndim != 1:
        raise TypeError(f"{what}: indices must be a 1-D sequence of ints, got dtype {idx.dtype}, shape {idx.shape}")
    idx = idx.astype(np.int64)
    if idx.min() < -n or idx.max() >= n:
        bad = idx[(idx < -n) | (idx >= n)][0]
        raise IndexError(f"{what}: index {int(bad)} is out of range for a dataset of {n} samples")
    return np.where(idx < 0, idx + n, idx)


def _index(i, n, what):
    if isinstance(i, Tensor):
        i = i.__index__()
    if not isinstance(i, numbers.Integral) or isinstance(i, bool):
        raise TypeError(f"{what} indices must be integers, got {type(i).__name__}")
    i = int(i)
    if not -n <= i < n:
        raise IndexError(f"{what}: index {i} is out of range for a dataset of {n} samples")
    return i + n if i < 0 else i


class TensorDataset(Dataset):
    """Samples are rows of the given tensors (Tensors or arrays, all with the same first dimension):
    ``dataset[i] == (t[i] for t in tensors)``. Arrays keep their dtype."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        arrays = [t.array if isinstance(t, Tensor) else backend.as_array(t) for t in tensors]
        for k, a in enumerate(arrays):
            if a.ndim == 0:
                raise ValueError(f"TensorDataset: tensor {k} is 0-d; every tensor needs a first (sample) dimension")
        n = arrays[0].shape[0]
        sizes = [a.shape[0] for a in arrays]
        if any(s != n for s in sizes):
            raise ValueError(f"TensorDataset: all tensors must have the same first dimension, got sizes {sizes}")
        self.arrays = tuple(arrays)
        self.tensors = tuple(Tensor.wrap(a) for a in arrays)

    def __getitem__(self, index):
        """Row ``index`` of every tensor; a slice or a 1-D sequence of indices gives those rows, as in PyTorch."""
        if isinstance(index, slice):
            return tuple(Tensor.wrap(a[index]) for a in self.arrays)
        if isinstance(index, Tensor) and index.ndim > 0:
            index = index.array
        if isinstance(index, (list, tuple, np.ndarray)):
            return self.get_batch(index)
        i = _index(index, len(self), "TensorDataset")
        return tuple(Tensor.wrap(a[i]) for a in self.arrays)

    def __len__(self):
        return self.arrays[0].shape[0]

    def get_batch(self, indices):
        idx = _as_index_array(indices, len(self), "TensorDataset")
        return tuple(Tensor.wrap(a[idx]) for a in self.arrays)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices
        self._idx = _as_index_array(indices, len(dataset), "Subset")

    def __getitem__(self, index):
        return self.dataset[int(self._idx[_index(index, len(self), "Subset")])]

    def __len__(self):
        return len(self._idx)

    @property
    def get_batch(self):
        """The batch fast path, present exactly when the wrapped dataset has one."""
        inner = getattr(self.dataset, "get_batch", None)
        if inner is None:
            raise AttributeError(f"{type(self.dataset).__name__} has no get_batch")
        return lambda indices: inner(self._idx[_as_index_array(indices, len(self), "Subset")])


class ConcatDataset(Dataset):
    """The samples of several datasets one after the other."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset needs at least one dataset")
        if any(isinstance(d, IterableDataset) for d in self.datasets):
            raise TypeError("ConcatDataset does not support IterableDataset (it needs indexable datasets)")
        self.cumulative_sizes = []
        total = 0
        for d in self.datasets:
            total += len(d)
            self.cumulative_sizes.append(total)

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        i = _index(index, len(self), "ConcatDataset")
        k = bisect.bisect_right(self.cumulative_sizes, i)
        start = self.cumulative_sizes[k - 1] if k else 0
        return self.datasets[k][i - start]


def _split_lengths(lengths, n):
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: lengths must not be empty")
    if all(isinstance(x, numbers.Integral) and not isinstance(x, bool) for x in lengths):
        lengths = [int(x) for x in lengths]
        if any(x < 0 for x in lengths):
            raise ValueError(f"random_split: lengths must be non-negative, got {lengths}")
        if sum(lengths) != n:
            raise ValueError(f"random_split: the lengths {lengths} sum to {sum(lengths)}, "
                             f"but the dataset has {n} samples")
        return lengths
    fractions = [float(x) for x in lengths]
    if any(not 0 <= f <= 1 for f in fractions) or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise ValueError(f"random_split: lengths must be ints summing to the dataset size ({n}) or fractions "
                         f"in [0, 1] summing to 1, got {lengths}")
    sizes = [int(math.floor(n * f)) for f in fractions]
    for k in range(n - sum(sizes)):        # PyTorch: the remainder goes round-robin from the first split
        sizes[k % len(sizes)] += 1
    return sizes


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` into disjoint random ``Subset``s of the given ``lengths``: ints summing to
    ``len(dataset)`` or fractions summing to 1 (floors, the remainder spread one by one from the
    first split, as PyTorch). The permutation comes from ``generator`` (a ``deepgrad.Generator``;
    default: deepgrad's default generator, so ``dg.manual_seed`` reproduces the split)."""
    n = len(dataset)
    sizes = _split_lengths(lengths, n)
    gen = generator if generator is not None else backend.default_generator
    perm = gen.bitgen.permutation(n)
    out, start = [], 0
    for size in sizes:
        out.append(Subset(dataset, perm[start:start + size]))
        start += size
    return out
