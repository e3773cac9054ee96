"""Intra-op parallelism, as ``torch.set_num_threads``: ops whose work is a few long loops (depthwise
convolution over the batch) split it into parts, which the calling thread and a small pool of helper
threads take in turn. NumPy and the compiled loops release the GIL, so the parts run at once. BLAS
keeps its own threads (but see below for their number). The caller works too rather than waiting for the pool: on a 2-core VM, handing
both halves of a 0.6 ms convolution to two pool threads took longer than doing it alone (0.71 vs
0.60 ms), with the caller taking one half 0.39 ms.

The default is the ``OMP_NUM_THREADS`` environment variable if set, else the CPUs this process may
use. Results depend neither on timing nor on the number of threads: the parts are fixed by the size
of the work, each part writes its own slice, and partial sums are added in part order.

Threads are sized to the cores actually free. On a busy machine a helper thread waits for a core
before it can take its part, so each parallel call costs a scheduling delay: beside other busy
processes on 2 cores, ResNet-20 at batch 1 took 180-340 ms with OpenBLAS on 2 threads, 25-37 ms on one.
A watcher thread (Linux; off with ``DEEPGRAD_ADAPT_THREADS=0``) looks at ``/proc/stat`` once a
second: the cores free to this process are the machine's idle share plus what this process itself
used (rounded, at least one). ``parallel_for`` then uses at most that many threads (the parts stay the same), and OpenBLAS
is set to at most that many (``openblas_set_num_threads``, cheap; its own setting is the ceiling,
and a change made by anyone else, e.g. threadpoolctl, becomes the new ceiling) by the computing
thread before its next primitive (``settle``), never by the watcher while a BLAS call may run.
"""
import ctypes
import itertools
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait


def _cpus():
    """The CPUs this process may run on."""
    return os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)


def _default():
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return len(_cpus())


MAX_PARTS = 4
PART_BYTES = 1 << 19   # the least work (bytes of output) worth a thread of its own
_threads = _default()
_pool = None


SAMPLE_S = 1.0          # how often the watcher looks at the machine
_free = None            # the cores free to this process at the watcher's last look (None: not known)


def idle_and_total(stat, cpus):
    """(idle, total) time of the ``cpus`` (numbers) in the text of /proc/stat."""
    names, idle, total = {f"cpu{i}" for i in cpus}, 0, 0
    for line in stat.splitlines():
        name, *fields = line.split()
        if name in names:
            ticks = [int(v) for v in fields[:8]]   # user nice system idle iowait irq softirq steal
            idle, total = idle + ticks[3] + ticks[4], total + sum(ticks)
    return idle, total


def _cpu_times():
    """(idle, total) time since boot of the CPUs this process may run on; None where unknown."""
    try:
        with open("/proc/stat") as f:
            idle, total = idle_and_total(f.read(), _cpus())
    except (OSError, ValueError):
        return None
    return (idle, total) if total else None


def free_cores(before, after, cpus):
    """The cores this process could use between two looks, each (``_cpu_times()``, wall time, this
    process's CPU time): the idle share of the ``cpus`` cores it may run on plus the cores it kept busy."""
    (idle0, total0), wall0, own0 = before
    (idle1, total1), wall1, own1 = after
    idle = cpus * (idle1 - idle0) / max(1, total1 - total0)
    return idle + (own1 - own0) / max(1e-9, wall1 - wall0)


def fit(free, most):
    """The threads worth running: ``free`` cores rounded, at least one, at most ``most``."""
    return most if free is None else max(1, min(most, int(free + 0.5)))


class _OpenBLAS:
    """OpenBLAS's thread count, in each copy of the library this process has loaded."""
    SYMBOLS = (("openblas_get_num_threads", "openblas_set_num_threads"),
               ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
               ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
               ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"))

    def __init__(self):
        self.libraries = None     # [(get, set, ceiling, last set)], found once NumPy has loaded one

    def _find(self):
        try:
            with open("/proc/self/maps") as f:
                paths = sorted({line.split()[-1] for line in f if "openblas" in line.rsplit("/", 1)[-1]})
        except OSError:
            return []
        found = []
        for path in paths:
            try:
                library = ctypes.CDLL(path)
            except OSError:
                continue
            for get, put in self.SYMBOLS:
                if hasattr(library, get) and hasattr(library, put):
                    get, put = getattr(library, get), getattr(library, put)
                    get.restype, put.argtypes = ctypes.c_int, [ctypes.c_int]
                    found.append([get, put, get(), None])
                    break
        return found

    def fit(self, free):
        """Set each library to ``fit(free, ceiling)`` threads."""
        if self.libraries is None:
            self.libraries = self._find()
        for entry in self.libraries:
            get, put, ceiling, last = entry
            now = get()
            if last is not None and now != last:    # set by someone else since: their value is the ceiling
                ceiling = now
            target = fit(free, ceiling)
            if target != now:
                put(target)
            entry[2:] = ceiling, target


_blas = _OpenBLAS()


def _look():
    return _cpu_times(), time.monotonic(), time.process_time()


def _watch():
    """Every ``SAMPLE_S``: the cores free to this process, for ``parallel_for`` and (through ``settle``)
    OpenBLAS. The watcher only measures: OpenBLAS's count is changed by the thread that computes, between
    operations, since changing it from another thread while a BLAS call runs is not safe."""
    global _free, unsettled
    before = _look()
    while True:
        time.sleep(SAMPLE_S)
        after = _look()
        if after[0] is not None:
            _free = free_cores(before, after, len(_cpus()))
            unsettled = True
            before = after


unsettled = False       # whether the watcher has looked since OpenBLAS's count was last fitted


def settle():
    """Fit OpenBLAS's threads to the cores free at the watcher's last look; deepgrad calls it before each
    primitive runs (cheap when nothing changed: callers test ``unsettled`` first)."""
    global unsettled
    unsettled = False
    _blas.fit(_free)


def _start_watcher():
    if os.environ.get("DEEPGRAD_ADAPT_THREADS", "1") != "0" and _cpu_times() is not None:
        threading.Thread(target=_watch, name="deepgrad-watcher", daemon=True).start()


def _after_fork():
    """A forked child has none of the parent's threads: it starts its own pool when it needs one, and
    its own watcher (which keeps the parent's OpenBLAS ceilings: the child inherits the count the
    parent's watcher set)."""
    global _pool, _free, unsettled
    _pool, _free, unsettled = None, None, False
    _start_watcher()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
_start_watcher()


def get_num_threads():
    """The number of threads ops split their work over (at most: see ``usable_threads``)."""
    return _threads


def usable_threads():
    """The threads ``parallel_for`` runs now: ``get_num_threads()``, or fewer where fewer cores are free."""
    return fit(_free, _threads)


def set_num_threads(n):
    """Use ``n`` (≥ 1) threads for intra-op parallelism."""
    global _threads, _pool
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected an int >= 1, got {n!r}")
    if n != _threads and _pool is not None:
        _pool.shutdown()
        _pool = None
    _threads = n


def min_part(item_bytes):
    """The fewest items of ``item_bytes`` each that make ``PART_BYTES`` of work."""
    return -(-PART_BYTES // max(1, item_bytes))


def parallel_for(body, total, min_part):
    """Call ``body(lo, hi)`` on consecutive parts of [0, total), none smaller than ``min_part`` and at
    most ``MAX_PARTS``, and return the results in part order. The calling thread and up to
    ``usable_threads() − 1`` pool threads each take the next part not yet taken until none is left.
    The parts depend on the work only, not on the number of threads, so results are bit-identical for
    any number."""
    global _pool
    parts = max(1, min(MAX_PARTS, total // max(1, min_part)))
    bounds = [total * i // parts for i in range(parts + 1)]
    pieces = list(zip(bounds[:-1], bounds[1:]))
    workers = min(usable_threads(), parts)
    if workers == 1:
        return [body(lo, hi) for lo, hi in pieces]
    if _pool is None:
        _pool = ThreadPoolExecutor(_threads - 1, thread_name_prefix="deepgrad")
    results, claim = [None] * parts, itertools.count()   # next() on a count is atomic

    def take_parts():
        while (i := next(claim)) < parts:
            results[i] = body(*pieces[i])
    helpers = [_pool.submit(take_parts) for _ in range(workers - 1)]
    try:
        take_parts()
    finally:
        wait(helpers)              # no part may still run once this returns, nor after an error
    for helper in helpers:
        helper.result()
    return results
