"""DataLoader worker processes (num_workers > 0): the same batches as loading in the main process
(random augmentation included), get_worker_info and per-worker seeds, IterableDataset sharding against
torch.utils.data, exceptions re-raised with the worker's traceback, timeouts, dead workers, shared-memory
transfer, and no stray processes after an epoch, a break, garbage collection, Ctrl-C or the main
process's death."""
import collections
import gc
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from multiprocessing import forkserver, resource_tracker

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.data import (DataLoader, Dataset, IterableDataset, TensorDataset, current_generator, get_worker_info,
                           transforms as T, worker)

torch = pytest.importorskip("torch")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------- processes
def _stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def children():
    """This process's child processes (zombies included: a child not reaped is a stray too), apart from
    multiprocessing's own resource tracker and fork server, which live as long as the program."""
    me, infrastructure = os.getpid(), {resource_tracker._resource_tracker._pid,
                                       forkserver._forkserver._forkserver_pid}
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in infrastructure:
            fields = _stat(entry)
            if fields is not None and int(fields[1]) == me:
                found.append(int(entry))
    return found


def alive(pid):
    fields = _stat(pid)
    return fields is not None and fields[0] not in "ZX"


def wait_until(condition, timeout=5.0):
    end = time.monotonic() + timeout
    while not condition() and time.monotonic() < end:
        time.sleep(0.02)
    return condition()


pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="counts processes through /proc")


@pytest.fixture(autouse=True)
def no_strays():
    """Every test starts and ends with no worker processes left."""
    assert children() == []
    yield
    gc.collect()
    assert children() == []


# ---------------------------------------------------------------- datasets (module level: picklable for spawn)
class Noisy(Dataset):
    """Each sample draws from the data generator, as a random transform does."""

    def __len__(self):
        return 40

    def __getitem__(self, i):
        return np.float32(i + current_generator().random()), i


class Images(Dataset):
    """Random augmentation per sample (the item path) or per batch (the get_batch fast path)."""

    def __init__(self, fast):
        self.images = np.random.default_rng(0).random((30, 1, 12, 12), dtype=np.float32)
        self.transform = T.Compose([T.RandomAffine(degrees=15, translate=(0.1, 0.1)), T.RandomCrop(10, padding=1),
                                    T.Normalize([0.5], [0.25])])
        if fast:
            self.get_batch = lambda idx: (self.transform(self.images[idx]), idx)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), i


class WhoLoads(Dataset):
    """Sample i: (i, the loading process's id, its worker id, its worker seed, a draw from its default generator)."""

    def __init__(self, n=12, delay=0.0):
        self.n, self.delay = n, delay

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        time.sleep(self.delay)
        info = get_worker_info()
        return (i, os.getpid(), -1 if info is None else info.id, -1 if info is None else info.seed,
                float(dg.backend.default_generator.bitgen.random()))


class Failing(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        if i == 7:
            raise ValueError(f"bad sample {i}")
        return i


class Sleepy(Dataset):
    def __init__(self, slow_index, seconds):
        self.slow_index, self.seconds = slow_index, seconds

    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == self.slow_index:
            time.sleep(self.seconds)
        return i


class Shards(IterableDataset):
    """0 .. n-1, each worker taking every num_workers-th, as PyTorch's documentation shows."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))


class TorchShards(torch.utils.data.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))


def plain(value):
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    return value.tolist() if isinstance(value, (dg.Tensor, torch.Tensor)) else value


def as_lists(loader):
    return [plain(b) for b in loader]


# ---------------------------------------------------------------- the same batches as without workers
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_workers_give_the_batches_of_the_main_process(workers):
    def run(**kw):
        loader = DataLoader(Noisy(), batch_size=6, shuffle=True, generator=dg.Generator(5), **kw)
        return [as_lists(loader) for _ in range(2)]
    reference = run(prefetch=0)
    assert reference[0] != reference[1]                 # a new order and new draws each epoch
    assert run(num_workers=workers) == reference
    assert run(num_workers=workers, persistent_workers=True, prefetch_factor=1) == reference


@pytest.mark.parametrize("fast", [False, True])
def test_random_augmentation_is_the_same_with_workers(fast):
    def run(**kw):
        loader = DataLoader(Images(fast), batch_size=7, shuffle=True, generator=dg.Generator(2), **kw)
        return [(x.numpy(), y.numpy()) for x, y in loader]
    reference, threaded, workers = run(prefetch=0), run(prefetch=2), run(num_workers=2)
    assert len(reference) == 5 and reference[0][0].shape == (7, 1, 10, 10)
    for (xa, ya), (xb, yb), (xc, yc) in zip(reference, threaded, workers):
        assert np.array_equal(ya, yc) and np.array_equal(xa, xc) and np.array_equal(xa, xb)
        assert xc.dtype == np.float32 and yc.dtype == np.int64


def test_batches_come_back_in_order_when_workers_finish_out_of_order():
    loader = DataLoader(WhoLoads(12, delay=0.0), batch_size=2, num_workers=3)
    slow_first = DataLoader(Sleepy(0, 0.3), batch_size=2, num_workers=2)
    assert [b[0].tolist() for b in loader] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11]]
    assert [b.tolist() for b in slow_first] == [[0, 1], [2, 3], [4, 5], [6, 7]]


class Counted:
    """Counts the samples loaded, in any process (a shared counter, inherited by forked workers)."""

    def __init__(self):
        self.count = multiprocessing.get_context("fork").Value("i", 0)

    def __len__(self):
        return 40

    def __getitem__(self, i):
        with self.count.get_lock():
            self.count.value += 1
        return i


@pytest.mark.parametrize("workers, factor", [(1, 2), (2, 3)])
def test_prefetch_factor_batches_per_worker_are_loaded_ahead_as_torch(workers, factor):
    def loaded_after_first_batch(module):
        dataset = Counted()
        kw = {} if module is torch.utils.data else {"multiprocessing_context": "fork"}
        it = iter(module.DataLoader(dataset, batch_size=None, num_workers=workers, prefetch_factor=factor, **kw))
        next(it)
        assert wait_until(lambda: dataset.count.value >= workers * factor + 1, timeout=5)
        time.sleep(0.2)                          # nothing more comes
        del it
        return dataset.count.value
    assert loaded_after_first_batch(dg.data) == loaded_after_first_batch(torch.utils.data) == workers * factor + 1


def test_state_dict_resume_with_workers():
    ref = DataLoader(Noisy(), batch_size=3, shuffle=True, generator=dg.Generator(9), num_workers=2)
    it = iter(ref)
    head = [next(it) for _ in range(4)]
    state = ref.state_dict()
    tail = as_lists(it)
    other = DataLoader(Noisy(), batch_size=3, shuffle=True, generator=dg.Generator(0), num_workers=2)
    other.load_state_dict(state)
    assert as_lists(other) == tail and len(head) + len(tail) == len(ref)


# ---------------------------------------------------------------- worker info and seeds
def test_worker_info_seeds_and_init_fn():
    assert get_worker_info() is None
    samples = list(DataLoader(WhoLoads(12), batch_size=None, num_workers=2, generator=dg.Generator(4)))
    pids = {s[1] for s in samples}
    assert os.getpid() not in pids and len(pids) == 2
    seeds = {s[2]: s[3] for s in samples}
    assert sorted(seeds) == [0, 1] and seeds[1] == seeds[0] + 1                # base_seed + worker_id
    # each worker's default generator is seeded with its seed: its first draw is Generator(seed)'s first draw
    first = {}
    for s in samples:
        first.setdefault(s[2], s[4])
    assert all(first[w] == dg.Generator(seeds[w]).bitgen.random() for w in (0, 1))
    # the base seed comes from the loader's generator: the same generator, the same seeds
    again = list(DataLoader(WhoLoads(12), batch_size=None, num_workers=2, generator=dg.Generator(4)))
    assert {s[2]: s[3] for s in again} == seeds


def record_worker(worker_id):
    info = get_worker_info()
    assert info.id == worker_id and info.num_workers == 2
    info.dataset.n = 100 + worker_id          # the worker's own copy of the dataset


class Length(Dataset):
    def __init__(self):
        self.n = 0

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return self.n


def test_worker_init_fn_runs_in_each_worker_on_its_copy():
    dataset = Length()
    got = [int(b) for b in DataLoader(dataset, batch_size=None, num_workers=2, worker_init_fn=record_worker)]
    assert got == [100, 101, 100, 101] and dataset.n == 0       # round robin; the main copy is untouched


@pytest.mark.filterwarnings("ignore:This DataLoader will create")      # torch: more workers than cores
def test_iterable_dataset_sharded_across_workers_matches_torch():
    for workers, kw in ((2, {"batch_size": 4}), (2, {"batch_size": 4, "drop_last": True}), (2, {"batch_size": None}),
                        (3, {"batch_size": 3})):
        ours = as_lists(DataLoader(Shards(23), num_workers=workers, **kw))
        theirs = as_lists(torch.utils.data.DataLoader(TorchShards(23), num_workers=workers, **kw))
        assert ours == theirs, (kw, workers)
    ours = as_lists(DataLoader(Shards(23), batch_size=4, num_workers=2, persistent_workers=True))
    assert sorted(v for b in ours for v in b) == list(range(23))


# ---------------------------------------------------------------- errors
def test_worker_exception_is_reraised_with_its_traceback():
    seen = []
    with pytest.raises(ValueError) as info:
        for batch in DataLoader(Failing(), batch_size=2, num_workers=2):
            seen.append(batch.tolist())
    assert seen == [[0, 1], [2, 3], [4, 5]]              # every batch before the failing one, in order
    message = str(info.value)
    assert "Caught ValueError in DataLoader worker process 1" in message and "bad sample 7" in message
    assert "Original Traceback" in message and "in __getitem__" in message
    assert 'raise ValueError(f"bad sample {i}")' in message        # the worker's source line


class NeedsTwoArguments(Exception):
    def __init__(self, a, b):
        super().__init__(a, b)


def fail_init(worker_id):
    raise NeedsTwoArguments("x", worker_id)


def test_init_errors_and_unconstructible_exception_types():
    with pytest.raises(RuntimeError, match=r"(?s)Caught NeedsTwoArguments.*fail_init"):
        list(DataLoader(Length(), num_workers=2, worker_init_fn=fail_init))


def test_timeout():
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="timed out after 0.2 seconds"):
        list(DataLoader(Sleepy(0, 1.0), batch_size=2, num_workers=1, timeout=0.2))
    assert time.monotonic() - t0 < 5
    assert [b.tolist() for b in DataLoader(Sleepy(0, 0.1), batch_size=4, num_workers=1, timeout=5)] == \
        [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_a_killed_worker_is_reported():
    loader = DataLoader(WhoLoads(40, delay=0.05), batch_size=None, num_workers=2)
    it = iter(loader)
    victim = next(it)[1]
    os.kill(victim, signal.SIGKILL)
    with pytest.raises(RuntimeError, match=rf"exited unexpectedly: pid {victim} with exit code -9"):
        for _ in it:
            pass


def test_unpicklable_datasets_need_fork():
    class Local(Noisy):
        pass

    with pytest.raises(TypeError, match="(?s)pickl.*multiprocessing_context='fork'"):
        list(DataLoader(Local(), num_workers=2, multiprocessing_context="forkserver"))
    # fork (Linux's default) copies the process: a local class is fine
    assert len(list(DataLoader(Local(), batch_size=8, num_workers=2, multiprocessing_context="fork"))) == 5


@pytest.mark.slow
@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_other_start_methods_give_the_same_batches(method):
    reference = as_lists(DataLoader(Noisy(), batch_size=8, shuffle=True, generator=dg.Generator(1), prefetch=0))
    got = as_lists(DataLoader(Noisy(), batch_size=8, shuffle=True, generator=dg.Generator(1), num_workers=2,
                              multiprocessing_context=method))
    assert got == reference


# ---------------------------------------------------------------- shared memory
Pair = collections.namedtuple("Pair", "left right")


def test_batches_travel_through_shared_memory():
    batch = {"x": dg.Tensor.wrap(np.arange(250_000, dtype=np.float64).reshape(500, 500)),
             "y": Pair(np.arange(5, dtype=np.uint8), [dg.zeros(0, dtype=dg.int64), "label"]), "n": 3}
    blocks = worker._Blocks()
    skeleton, name = worker._pack(batch, blocks)
    assert len(pickle.dumps((skeleton, name))) < 1000           # only the skeleton goes through the pipe
    back = worker._unpack(pickle.loads(pickle.dumps(skeleton)), name)
    assert isinstance(back["x"], dg.Tensor) and back["x"].dtype == dg.float64
    assert np.array_equal(back["x"].numpy(), batch["x"].numpy())
    assert isinstance(back["y"], Pair) and back["y"].left.dtype == np.uint8 and back["y"].left.tolist() == [0, 1, 2, 3, 4]
    assert back["y"].right[0].shape == (0,) and back["y"].right[1] == "label" and back["n"] == 3
    assert worker._pack(("only", 1), blocks) == (("only", 1), None)
    # a block is written again once handed back, not before; the worker unlinks its blocks at the end
    busy = worker._pack(batch, blocks)[1]
    assert busy != name
    blocks.give_back(name)
    smaller = {"x": batch["x"][:10]}
    again, reused = worker._pack(smaller, blocks)
    assert reused == name and np.array_equal(worker._unpack(again, reused)["x"].numpy(), batch["x"].numpy()[:10])
    assert all(os.path.exists(f"/dev/shm/{n}") for n in (name, busy))
    blocks.release()
    assert not any(os.path.exists(f"/dev/shm/{n}") for n in (name, busy))


def test_no_shared_memory_left_behind():
    before = set(os.listdir("/dev/shm"))
    loader = DataLoader(Noisy(), batch_size=4, num_workers=2)
    as_lists(loader)
    for i, _ in enumerate(loader):          # abandoned with batches in flight
        if i == 1:
            break
    gc.collect()
    assert set(os.listdir("/dev/shm")) <= before


# ---------------------------------------------------------------- no stray processes
def test_no_workers_left_after_epoch_break_close_and_gc():
    loader = DataLoader(WhoLoads(40), batch_size=4, num_workers=2)
    it = iter(loader)
    next(it)
    assert len(children()) == 2
    as_lists(it)
    assert children() == []                       # the epoch ended
    for i, _ in enumerate(loader):
        if i == 1:
            break
    gc.collect()
    assert children() == []                       # the abandoned iterator was collected
    it = iter(loader)
    next(it)
    it.close()
    assert children() == []
    with pytest.raises(StopIteration):
        next(it)
    persistent = DataLoader(WhoLoads(40), batch_size=4, num_workers=2, persistent_workers=True)
    pids = [{p for b in persistent for p in b[1].tolist()} for _ in range(2)]
    assert pids[0] == pids[1] and len(pids[0]) == 2 and set(children()) == pids[0]   # the same workers
    it = iter(persistent)
    next(it)
    del persistent, it
    gc.collect()
    assert children() == []                       # they go with the loader


def run_child(script, **kw):
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True, **kw)


CHILD = """
    import os, sys, time
    sys.path.insert(0, "tests")
    from test_data_workers import WhoLoads, children
    from deepgrad.data import DataLoader
    loader = DataLoader(WhoLoads(1000, delay=0.05), batch_size=None, num_workers=2, persistent_workers={})
"""


@pytest.mark.slow
def test_ctrl_c_stops_the_workers():
    child = run_child(CHILD.format(False) + """
    try:
        for sample in loader:
            print("worker", sample[1], flush=True)
    except KeyboardInterrupt:
        print("interrupted", children(), flush=True)
    """, start_new_session=True)
    pids = set()
    while len(pids) < 2:
        pids.add(int(child.stdout.readline().split()[1]))
    os.killpg(child.pid, signal.SIGINT)        # as Ctrl-C in a terminal: the whole process group
    out, _ = child.communicate(timeout=30)
    assert "interrupted []" in out             # the workers were gone before the main process went on
    # (persistent workers stay with their loader after Ctrl-C, and go with it: see the test above)
    assert not any(alive(p) for p in pids)


@pytest.mark.slow
def test_workers_exit_when_the_main_process_is_killed():
    child = run_child(CHILD.format(True) + """
    for sample in loader:
        print("worker", sample[1], flush=True)
        time.sleep(600)
    """)
    first = int(child.stdout.readline().split()[1])
    workers = [p for p in map(int, filter(str.isdigit, os.listdir("/proc"))) if (_stat(p) or [0, 0])[1] == str(child.pid)]
    child.kill()
    child.wait()
    assert len(workers) >= 2 and first in workers
    assert wait_until(lambda: not any(alive(p) for p in workers), timeout=10)
