"""dg.data: Dataset/TensorDataset/Subset/ConcatDataset/random_split/IterableDataset, the samplers, and
the DataLoader (batching, drop_last, samplers and batch samplers, shuffling from seeded generators, the
prefetch thread, exceptions, default_collate, exact resume from state_dict), against torch.utils.data
where the semantics are deterministic. Worker processes: tests/test_data_workers.py."""
import collections
import gc
import json
import threading
import time

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.data import (BatchSampler, ConcatDataset, DataLoader, Dataset, IterableDataset, RandomSampler, Sampler,
                           SequentialSampler, Subset, SubsetRandomSampler, TensorDataset, WeightedRandomSampler,
                           current_generator, default_collate, random_split)

torch = pytest.importorskip("torch")
tud = torch.utils.data


def prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "deepgrad-DataLoader-prefetch"]


def wait_no_prefetch_threads(timeout=5.0):
    end = time.monotonic() + timeout
    while prefetch_threads() and time.monotonic() < end:
        time.sleep(0.01)
    return not prefetch_threads()


class Items(Dataset):
    """A dataset without the batch fast path: sample i is (float64 features, int label)."""

    def __init__(self, n, fail_at=None):
        self.n, self.fail_at = n, fail_at
        self.calls = 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.calls += 1
        if i == self.fail_at:
            raise ValueError(f"bad sample {i}")
        return np.full(3, float(i)), i


def labels_of(loader):
    return [batch[-1].numpy().tolist() for batch in loader]


# ---------------------------------------------------------------- datasets
def test_tensor_dataset_items_and_errors():
    x = dg.arange(12, dtype=dg.float32).reshape(6, 2)
    y = np.arange(6)
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    a, b = ds[4]
    assert isinstance(a, dg.Tensor) and a.numpy().tolist() == [8.0, 9.0] and int(b) == 4
    assert ds[-1][1].item() == 5
    assert ds.get_batch(np.array([5, 0]))[0].numpy().tolist() == [[10, 11], [0, 1]]
    with pytest.raises(IndexError, match="out of range"):
        ds[6]
    with pytest.raises(TypeError, match="integers"):
        ds[1.5]
    with pytest.raises(ValueError, match="same first dimension.*6, 5"):
        TensorDataset(x, np.arange(5))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()


def test_subset_and_concat():
    ds = TensorDataset(np.arange(10) * 10)
    sub = Subset(ds, [7, 2, 5])
    assert len(sub) == 3 and [int(sub[i][0]) for i in range(3)] == [70, 20, 50]
    assert sub.get_batch(np.array([2, 0]))[0].numpy().tolist() == [50, 70]
    assert not hasattr(Subset(Items(4), [1]), "get_batch")        # fast path only when the dataset has one
    with pytest.raises(IndexError):
        Subset(ds, [10])
    cat = ds + Items(3)
    assert isinstance(cat, ConcatDataset) and len(cat) == 13
    assert int(cat[9][0]) == 90 and cat[10][1] == 0 and cat[12][1] == 2 and cat[-1][1] == 2


def test_random_split_sizes_fractions_disjoint_and_seeded():
    ds = TensorDataset(np.arange(11))
    dg.manual_seed(3)
    parts = random_split(ds, [0.3, 0.3, 0.4])
    assert [len(p) for p in parts] == [4, 3, 4]     # floors 3, 3, 4; the remainder goes to the first (PyTorch)
    seen = np.concatenate([p.get_batch(np.arange(len(p)))[0].numpy() for p in parts])
    assert sorted(seen.tolist()) == list(range(11))  # disjoint and covering
    dg.manual_seed(3)
    again = random_split(ds, [0.3, 0.3, 0.4])
    assert all(np.array_equal(p._idx, q._idx) for p, q in zip(parts, again))
    a, b = random_split(ds, [8, 3], generator=dg.Generator(1))
    c, d = random_split(ds, [8, 3], generator=dg.Generator(1))
    assert np.array_equal(a._idx, c._idx) and len(b) == 3
    assert [len(p) for p in random_split(ds, [1.0, 0.0])] == [11, 0]
    with pytest.raises(ValueError, match="sum to 10.*11 samples"):
        random_split(ds, [5, 5])
    with pytest.raises(ValueError, match="fractions"):
        random_split(ds, [0.5, 0.6])


def test_random_split_fraction_sizes_match_torch():
    for n, fr in [(11, [0.3, 0.3, 0.4]), (10, [0.33, 0.33, 0.34]), (1797, [0.8, 0.2]), (7, [0.5, 0.25, 0.25])]:
        ours = [len(p) for p in random_split(TensorDataset(np.arange(n)), fr)]
        theirs = [len(p) for p in torch.utils.data.random_split(range(n), fr)]
        assert ours == theirs, (n, fr)


# ---------------------------------------------------------------- batching
@pytest.mark.parametrize("prefetch", [0, 2])
def test_batches_drop_last_and_len(prefetch):
    ds = TensorDataset(np.arange(10, dtype=np.float32), np.arange(10))
    loader = DataLoader(ds, batch_size=3, prefetch=prefetch)
    batches = list(loader)
    assert len(loader) == 4 and [len(b[1]) for b in batches] == [3, 3, 3, 1]
    assert np.concatenate([b[1].numpy() for b in batches]).tolist() == list(range(10))
    assert batches[0][0].dtype == dg.float32 and batches[0][1].dtype == dg.int64
    dropped = DataLoader(ds, batch_size=3, drop_last=True, prefetch=prefetch)
    assert len(dropped) == 3 and [len(b[1]) for b in dropped] == [3, 3, 3]
    assert len(DataLoader(ds, batch_size=20, drop_last=True)) == 0 and list(DataLoader(ds, batch_size=20,
                                                                                       drop_last=True)) == []
    singles = list(DataLoader(Items(3), batch_size=None, prefetch=prefetch))
    assert isinstance(singles[2][0], dg.Tensor) and singles[2][1] == 2 and singles[2][0].dtype == dg.float64


def test_fast_path_equals_item_path_and_is_used():
    x = np.random.default_rng(0).standard_normal((23, 2, 3)).astype(np.float32)
    y = np.arange(23)
    fast = TensorDataset(x, y)

    class Slow(Dataset):
        def __len__(self):
            return 23

        def __getitem__(self, i):
            return fast[i]

    for shuffle in (False, True):
        a = list(DataLoader(fast, batch_size=5, shuffle=shuffle, generator=dg.Generator(4)))
        b = list(DataLoader(Slow(), batch_size=5, shuffle=shuffle, generator=dg.Generator(4)))
        assert len(a) == len(b) == 5
        for (xa, ya), (xb, yb) in zip(a, b):
            assert np.array_equal(xa.numpy(), xb.numpy()) and np.array_equal(ya.numpy(), yb.numpy())
            assert xa.dtype == xb.dtype and ya.dtype == yb.dtype

    calls = []

    class Counting(TensorDataset):
        def __getitem__(self, i):
            calls.append(i)
            return super().__getitem__(i)

    list(DataLoader(Subset(Counting(x, y), range(10)), batch_size=4))
    assert calls == []              # one fancy index per batch, through the Subset too


def test_collate_fn_gets_list_of_samples():
    got = []

    def collate(samples):
        got.append(len(samples))
        return [s[1] for s in samples]

    out = list(DataLoader(Items(5), batch_size=2, collate_fn=collate))
    assert out == [[0, 1], [2, 3], [4]] and got == [2, 2, 1]


def test_default_collate_types():
    Point = collections.namedtuple("Point", "x y")
    b = default_collate([(np.zeros((2, 2)), 1, 0.5, "a", True), (np.ones((2, 2)), 2, 1.5, "b", False)])
    assert b[0].dtype == dg.float32 and b[0].shape == (2, 2, 2)     # float64 arrays -> float32
    assert b[1].dtype == dg.int64 and b[1].tolist() == [1, 2]
    assert b[2].dtype == dg.float32 and b[3] == ["a", "b"] and b[4].dtype == dg.bool_
    img = default_collate([np.zeros((1, 4, 4), np.uint8)] * 3)
    assert img.dtype == dg.uint8 and img.shape == (3, 1, 4, 4)        # uint8 images stay uint8, as torch
    labels = default_collate([np.int32(3), np.int64(4)])
    assert labels.dtype == dg.int64 and labels.tolist() == [3, 4]
    d = default_collate([{"x": dg.ones(2, dtype=dg.float64), "p": Point(1, 2.0)}] * 2)
    assert d["x"].dtype == dg.float64 and d["x"].shape == (2, 2)        # Tensors keep their dtype
    assert isinstance(d["p"], Point) and d["p"].x.tolist() == [1, 1]
    with pytest.raises(RuntimeError, match="different shapes"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(TypeError, match="collate_fn"):
        default_collate([object()])


def test_argument_errors():
    ds = Items(3)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            DataLoader(ds, batch_size=bad)
    with pytest.raises(ValueError, match="prefetch"):
        DataLoader(ds, prefetch=-1)
    with pytest.raises(TypeError, match="generator"):
        DataLoader(ds, generator=np.random.default_rng(0))
    with pytest.raises(TypeError, match="collate_fn"):
        DataLoader(ds, collate_fn=3)


# ---------------------------------------------------------------- shuffling
def test_shuffle_reproducible_under_manual_seed_new_permutation_each_epoch():
    ds = TensorDataset(np.arange(50))
    dg.manual_seed(7)
    a = DataLoader(ds, batch_size=50, shuffle=True)
    e1, e2 = (next(iter(a))[0].numpy() for _ in range(2))
    assert sorted(e1.tolist()) == list(range(50)) and sorted(e2.tolist()) == list(range(50))
    assert not np.array_equal(e1, e2) and not np.array_equal(e1, np.arange(50))
    dg.manual_seed(7)
    b = DataLoader(ds, batch_size=50, shuffle=True)
    assert np.array_equal(next(iter(b))[0].numpy(), e1) and np.array_equal(next(iter(b))[0].numpy(), e2)
    dg.manual_seed(8)
    c = DataLoader(ds, batch_size=50, shuffle=True)
    assert not np.array_equal(next(iter(c))[0].numpy(), e1)
    # an explicit generator (or seed) decides alone
    g1 = [labels_of(DataLoader(ds, batch_size=10, shuffle=True, generator=dg.Generator(1)))]
    dg.manual_seed(123)
    g2 = [labels_of(DataLoader(ds, batch_size=10, shuffle=True, generator=1))]
    assert g1 == g2


def test_no_shuffle_is_in_order():
    ds = TensorDataset(np.arange(7))
    assert [b[0].tolist() for b in DataLoader(ds, batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]


# ---------------------------------------------------------------- the prefetch thread
def test_prefetch_thread_ends_after_epoch_break_and_close():
    ds = TensorDataset(np.arange(100))
    assert wait_no_prefetch_threads()
    loader = DataLoader(ds, batch_size=4, prefetch=2)
    assert len(list(loader)) == 25
    assert wait_no_prefetch_threads()
    for i, _ in enumerate(loader):       # abandon the epoch: dropping the iterator stops its thread
        if i == 2:
            break
    gc.collect()
    assert wait_no_prefetch_threads()
    it = iter(loader)
    next(it)
    assert prefetch_threads()
    it.close()
    assert wait_no_prefetch_threads()
    with pytest.raises(StopIteration):
        next(it)
    it = iter(loader)
    next(it)
    del it
    assert wait_no_prefetch_threads()


@pytest.mark.parametrize("prefetch", [0, 1, 3])
def test_exceptions_reach_the_consumer(prefetch):
    loader = DataLoader(Items(10, fail_at=7), batch_size=2, prefetch=prefetch)
    seen = []
    with pytest.raises(ValueError, match="bad sample 7"):
        for _, y in loader:
            seen.append(y.tolist())
    assert seen == [[0, 1], [2, 3], [4, 5]]     # every batch before the failing one arrived, in order
    assert wait_no_prefetch_threads()


def test_prefetch_overlaps_loading_with_compute():
    class Slow(TensorDataset):
        def get_batch(self, indices):
            time.sleep(0.03)
            return super().get_batch(indices)

    ds = Slow(np.arange(12))

    def run(prefetch):
        t = time.perf_counter()
        for _ in DataLoader(ds, batch_size=1, prefetch=prefetch):
            time.sleep(0.03)            # the "compute" on each batch
        return time.perf_counter() - t

    sync, overlapped = run(0), run(2)
    assert sync > 0.6
    assert overlapped < 0.8 * sync, (sync, overlapped)


# ---------------------------------------------------------------- randomness and exact resume
class Noisy(Dataset):
    """Each sample draws from the data generator, as a random transform does."""

    def __len__(self):
        return 20

    def __getitem__(self, i):
        return np.float32(i + current_generator().random()), i


def epochs(loader, n):
    return [[(x.numpy().tolist(), y.numpy().tolist()) for x, y in loader] for _ in range(n)]


def test_augmentation_draws_are_seeded_and_independent_of_prefetch():
    dg.manual_seed(0)
    a = epochs(DataLoader(Noisy(), batch_size=6, shuffle=True, prefetch=0), 2)
    dg.manual_seed(0)
    b = epochs(DataLoader(Noisy(), batch_size=6, shuffle=True, prefetch=3), 2)
    assert a == b
    assert a[0] != a[1]
    # the loader's draws do not touch deepgrad's default generator once it is built
    dg.manual_seed(0)
    loader = DataLoader(Noisy(), batch_size=6, shuffle=True)
    state = dg.backend.default_generator.get_state()
    epochs(loader, 1)
    assert dg.backend.default_generator.get_state() == state


@pytest.mark.parametrize("prefetch", [0, 2])
def test_state_dict_resumes_mid_epoch_exactly(prefetch):
    dg.manual_seed(1)
    ref = DataLoader(Noisy(), batch_size=3, shuffle=True, prefetch=prefetch)
    first = epochs(ref, 1)[0]
    it = iter(ref)
    head = [next(it) for _ in range(3)]
    state = json.loads(json.dumps(ref.state_dict()))            # JSON-serialisable
    assert state["epoch"] == 1 and state["batch"] == 3
    tail = [(x.numpy().tolist(), y.numpy().tolist()) for x, y in it]
    later = epochs(ref, 2)

    other = DataLoader(Noisy(), batch_size=3, shuffle=True, generator=dg.Generator(999), prefetch=prefetch)
    other.load_state_dict(state)
    assert other.state_dict() == state
    resumed = [(x.numpy().tolist(), y.numpy().tolist()) for x, y in other]
    assert resumed == tail and len(head) + len(tail) == len(ref)
    assert epochs(other, 2) == later
    assert first != later[0]


def test_state_dict_at_epoch_boundaries():
    ds = TensorDataset(np.arange(9))
    loader = DataLoader(ds, batch_size=3, shuffle=True, generator=dg.Generator(5))
    s0 = loader.state_dict()
    assert s0["epoch"] == 0 and s0["batch"] == 0
    e0 = labels_of(loader)
    s1 = loader.state_dict()
    assert s1["epoch"] == 1 and s1["batch"] == 0 and loader.epoch == 1
    it = iter(loader)
    all_three = [next(it)[0].tolist() for _ in range(3)]     # every batch delivered, StopIteration not yet seen
    assert loader.state_dict()["epoch"] == 2 and loader.state_dict()["batch"] == 0
    fresh = DataLoader(ds, batch_size=3, shuffle=True, generator=dg.Generator(0))
    fresh.load_state_dict(s0)
    assert [b[0].tolist() for b in fresh] == e0
    fresh.load_state_dict(s1)
    assert [b[0].tolist() for b in fresh] == all_three
    with pytest.raises(ValueError, match="outside"):
        fresh.load_state_dict({**s1, "batch": 4})
    with pytest.raises(KeyError, match="generator"):
        fresh.load_state_dict({"epoch": 0, "batch": 0})


# ---------------------------------------------------------------- samplers, against torch.utils.data
def raises_like_torch(ours, theirs):
    """Both calls raise the same exception type, or neither raises."""
    def outcome(call):
        try:
            call()
        except Exception as e:      # noqa: BLE001 - the type is what is compared
            return type(e)
        return None
    got, want = outcome(ours), outcome(theirs)
    assert got == want, (got, want)
    return got


def test_sequential_and_batch_sampler_match_torch():
    for n in (0, 1, 7, 10):
        assert list(SequentialSampler(range(n))) == list(tud.SequentialSampler(range(n)))
        assert len(SequentialSampler(range(n))) == n
        for size in (1, 3, 5, 11):
            for drop_last in (False, True):
                ours = BatchSampler(SequentialSampler(range(n)), size, drop_last)
                theirs = tud.BatchSampler(tud.SequentialSampler(range(n)), size, drop_last)
                assert list(ours) == list(theirs) and len(ours) == len(theirs), (n, size, drop_last)
    # any iterable of indices works as the base sampler
    assert list(BatchSampler([4, 2, 9, 1, 0], 2, False)) == [[4, 2], [9, 1], [0]]


def test_sampler_argument_errors_match_torch():
    cases = [
        (lambda m: m.BatchSampler(range(5), 0, False)), (lambda m: m.BatchSampler(range(5), True, False)),
        (lambda m: m.BatchSampler(range(5), 2.0, False)), (lambda m: m.BatchSampler(range(5), 2, 1)),
        (lambda m: m.RandomSampler(range(5), replacement=1)), (lambda m: m.RandomSampler(range(5), num_samples=0)),
        (lambda m: m.RandomSampler(range(5), num_samples=2.5)), (lambda m: m.RandomSampler(range(0))),
        (lambda m: m.RandomSampler(range(5), num_samples=3)),
        (lambda m: m.WeightedRandomSampler([1.0, 2.0], 0)), (lambda m: m.WeightedRandomSampler([1.0, 2.0], True)),
        (lambda m: m.WeightedRandomSampler([1.0, 2.0], 3, replacement=0)),
        (lambda m: m.WeightedRandomSampler([[1.0, 2.0]], 3)), (lambda m: m.WeightedRandomSampler([1.0, 2.0], 5)),
    ]
    ours = dg.data
    kinds = [raises_like_torch(lambda: case(ours), lambda: case(tud)) for case in cases]
    assert kinds.count(None) == 2            # the last of each group is valid
    with pytest.raises(TypeError, match="generator"):
        RandomSampler(range(5), generator=np.random.default_rng(0))
    # checked when built (torch.multinomial complains only when drawing)
    for weights, n, replacement in (([1.0, -1.0], 1, True), ([0.0, 0.0], 1, True), ([1.0, 0.0, 2.0], 3, False)):
        with pytest.raises(ValueError, match="WeightedRandomSampler"):
            WeightedRandomSampler(weights, n, replacement=replacement)
    with pytest.raises(NotImplementedError):
        iter(Sampler())


def test_random_sampler_lengths_and_index_sets():
    n = 10
    for num_samples in (None, 4, 10, 25):
        ours, theirs = RandomSampler(range(n), num_samples=num_samples), tud.RandomSampler(range(n), num_samples=num_samples)
        a, b = list(ours), list(theirs)
        assert len(ours) == len(theirs) == len(a) == len(b)
        # successive permutations: every index k or k+1 times, the same counts as torch's
        assert sorted(np.bincount(a, minlength=n)) == sorted(np.bincount(b, minlength=n))
    ours = RandomSampler(range(n), replacement=True, num_samples=70)
    draws = list(ours)
    assert len(draws) == len(ours) == 70 and set(draws) <= set(range(n)) and len(set(draws)) < 70
    assert len(set(draws)) > 5                  # not a constant
    # a generator decides alone; without one, dg.manual_seed does; a new order each pass
    g = list(RandomSampler(range(50), generator=dg.Generator(3)))
    assert g == list(RandomSampler(range(50), generator=dg.Generator(3))) and g != list(range(50))
    dg.manual_seed(1)
    s = RandomSampler(range(50))
    first, second = list(s), list(s)
    dg.manual_seed(1)
    assert list(RandomSampler(range(50))) == first and first != second


def test_subset_and_weighted_samplers():
    idx = [11, 3, 7, 42]
    ours = SubsetRandomSampler(idx, generator=dg.Generator(0))
    assert len(ours) == len(tud.SubsetRandomSampler(idx)) == 4 and sorted(ours) == sorted(idx)
    orders = {tuple(ours) for _ in range(30)}
    assert len(orders) > 1
    w = WeightedRandomSampler([0.0, 1.0, 3.0], 20000, generator=dg.Generator(0))
    draws = np.array(list(w))
    assert len(w) == len(tud.WeightedRandomSampler([0.0, 1.0, 3.0], 20000)) == 20000 == len(draws)
    assert not (draws == 0).any() and abs((draws == 2).mean() - 0.75) < 0.02
    unique = list(WeightedRandomSampler(dg.tensor([0.5, 0.0, 2.0, 1.0]), 3, replacement=False))
    assert sorted(unique) == [0, 2, 3]          # without replacement: each non-zero index once


def test_loader_with_sampler_and_batch_sampler_matches_torch():
    x = np.arange(20, dtype=np.float32) * 10
    ours_ds, theirs_ds = TensorDataset(x), tud.TensorDataset(torch.from_numpy(x))
    order = [5, 3, 19, 0, 7, 7, 12]
    batches = [[1, 2], [9], [4, 0, 3]]
    for kwargs in ({"sampler": order, "batch_size": 3}, {"sampler": order, "batch_size": 3, "drop_last": True},
                   {"batch_sampler": batches}, {"sampler": order, "batch_size": None}):
        ours = DataLoader(ours_ds, **kwargs)
        theirs = tud.DataLoader(theirs_ds, **kwargs)
        assert len(ours) == len(theirs)
        assert [b[0].tolist() for b in ours] == [b[0].tolist() for b in theirs], kwargs
    loader = DataLoader(ours_ds, sampler=SubsetRandomSampler(range(10, 20), generator=dg.Generator(1)), batch_size=4)
    got = np.concatenate([b[0].numpy() for b in loader])
    assert sorted(got.tolist()) == x[10:].tolist() and len(loader) == 3


def test_loader_argument_conflicts_match_torch():
    ds = list(range(10))
    cases = [dict(sampler=[1, 2], shuffle=True), dict(batch_sampler=[[1]], batch_size=2),
             dict(batch_sampler=[[1]], shuffle=True), dict(batch_sampler=[[1]], sampler=[1]),
             dict(batch_sampler=[[1]], drop_last=True), dict(batch_size=None, drop_last=True),
             dict(num_workers=-1), dict(timeout=-1), dict(prefetch_factor=2), dict(persistent_workers=True),
             dict(num_workers=1, prefetch_factor=-1), dict(multiprocessing_context="fork"),
             dict(num_workers=1, multiprocessing_context="no-such-method"),
             dict(num_workers=1, multiprocessing_context=3),
             dict(batch_sampler=[[1]], batch_size=1, shuffle=False), dict(sampler=[1, 2], shuffle=False)]
    kinds = [raises_like_torch(lambda: DataLoader(ds, **kw), lambda: tud.DataLoader(ds, **kw)) for kw in cases]
    assert kinds == [ValueError] * 13 + [TypeError, None, None]

    class Stream(IterableDataset):
        def __iter__(self):
            return iter(range(3))

    class TorchStream(tud.IterableDataset):
        def __iter__(self):
            return iter(range(3))

    for kw in (dict(shuffle=True), dict(sampler=[0]), dict(batch_sampler=[[0]]), dict(shuffle=False)):
        raises_like_torch(lambda: DataLoader(Stream(), **kw), lambda: tud.DataLoader(TorchStream(), **kw))
    loader, theirs = DataLoader(ds), tud.DataLoader(ds)
    for name in ("batch_size", "sampler", "dataset", "drop_last", "batch_sampler", "persistent_workers"):
        raises_like_torch(lambda: setattr(loader, name, None), lambda: setattr(theirs, name, None))
    loader.collate_fn = default_collate          # not one of the fixed attributes
    assert DataLoader(ds, pin_memory=True, batch_size=4).pin_memory     # accepted: nothing to pin on the CPU


class Countdown(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))


class TorchCountdown(tud.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


def test_iterable_dataset_batches_match_torch():
    for kwargs in ({"batch_size": 3}, {"batch_size": 3, "drop_last": True}, {"batch_size": None},
                   {"batch_size": 5}, {"batch_size": 2, "prefetch": 0}):
        torch_kwargs = {k: v for k, v in kwargs.items() if k != "prefetch"}
        ours = [b.tolist() if isinstance(b, dg.Tensor) else b for b in DataLoader(Countdown(10), **kwargs)]
        theirs = [b.tolist() if isinstance(b, torch.Tensor) else b
                  for b in tud.DataLoader(TorchCountdown(10), **torch_kwargs)]
        assert ours == theirs, kwargs

    class Sized(Countdown):
        def __len__(self):
            return self.n

    for bs, drop in ((3, False), (3, True), (None, False)):
        assert len(DataLoader(Sized(10), batch_size=bs, drop_last=drop)) == \
            len(tud.DataLoader(TorchCountdown(10), batch_size=bs, drop_last=drop))
    with pytest.raises(TypeError, match="len"):
        len(DataLoader(Countdown(3)))
    with pytest.raises(TypeError, match="IterableDataset"):
        ConcatDataset([Countdown(3)])


def test_tensor_dataset_slicing_matches_torch():
    x, y = np.arange(12, dtype=np.float32).reshape(6, 2), np.arange(6)
    ours, theirs = TensorDataset(x, y), tud.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    for index in (slice(1, 4), slice(None, None, 2), slice(-3, None), [4, 0, 4], np.array([5, 1]), dg.tensor([2, 3])):
        t_index = torch.tensor(index.numpy() if isinstance(index, dg.Tensor) else index) \
            if not isinstance(index, slice) else index
        for a, b in zip(ours[index], theirs[t_index]):
            assert isinstance(a, dg.Tensor) and a.numpy().tolist() == b.tolist(), index


def test_utils_data_is_an_alias():
    import deepgrad.utils.data as ud
    for name in ud.__all__:
        assert getattr(ud, name) is getattr(dg.data, name), name
    assert set(ud.__all__) >= {"Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset",
                               "random_split", "DataLoader", "default_collate", "get_worker_info", "Sampler",
                               "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
                               "WeightedRandomSampler", "BatchSampler"}
