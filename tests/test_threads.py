"""Intra-op threads (deepgrad.threads): the API, the split, results that do not depend on it, and threads
sized to the cores free."""
import threading

import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import threads


@pytest.fixture
def restore_threads(monkeypatch):
    """Restores the thread count after the test, during which the machine counts as idle (whatever the
    watcher sees of other processes), so the pool takes parts."""
    monkeypatch.setattr("deepgrad.threads.usable_threads", dg.get_num_threads)
    before = dg.get_num_threads()
    yield
    dg.set_num_threads(before)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", None])
def test_set_num_threads_rejects_bad_values(bad, restore_threads):
    with pytest.raises(ValueError, match="set_num_threads: expected an int >= 1"):
        dg.set_num_threads(bad)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_parallel_for_parts_cover_range_in_order(n, restore_threads):
    dg.set_num_threads(n)
    for total, min_part in [(1, 1), (10, 1), (10, 4), (7, 100), (0, 1)]:
        parts = threads.parallel_for(lambda lo, hi: (lo, hi), total, min_part)
        assert parts[0][0] == 0 and parts[-1][1] == total
        assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
        assert len(parts) == max(1, min(threads.MAX_PARTS, total // min_part))


@pytest.mark.parametrize("failing", [0, 3])
def test_parallel_for_raises_a_parts_error_after_every_part_has_run(failing, restore_threads):
    """The caller takes parts too; an error in any part (the caller's or a helper's) is raised once all
    the parts taken have finished, so none still writes after the call returns."""
    dg.set_num_threads(2)
    done = []

    def body(lo, hi):
        if lo == failing:
            raise RuntimeError(f"part at {lo}")
        done.append(lo)
    with pytest.raises(RuntimeError, match=f"part at {failing}"):
        threads.parallel_for(body, 4, 1)
    assert sorted(done) == [i for i in range(4) if i != failing]


def test_default_follows_omp_num_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads._default() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "junk")
    assert threads._default() >= 1


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled-loops", "numpy-loops"])
@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_results_identical_for_any_thread_count(stride, compiled, restore_threads, monkeypatch):
    """Parts write disjoint slices and partial weight sums are added in part order: one thread or
    three give bit-identical values and gradients (the big batch makes parts split)."""
    monkeypatch.setattr("deepgrad.threads.PART_BYTES", 1)
    if not compiled:
        monkeypatch.setattr("deepgrad.kernels.cpu.compiled.loops", lambda: None)
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((6, 4, 9, 9)).astype(np.float32)
    w0 = rng.standard_normal((8, 1, 3, 3)).astype(np.float32)

    def run():
        x, w = dg.tensor(x0, requires_grad=True), dg.tensor(w0, requires_grad=True)
        y = F.conv2d(x, w, padding=1, stride=stride, groups=4)
        (y * y).sum().backward()
        return y.numpy(), x.grad.numpy(), w.grad.numpy()

    dg.set_num_threads(1)
    one = run()
    dg.set_num_threads(3)
    three = run()
    for a, b in zip(one, three):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_forked_child_gets_its_own_pool(restore_threads, monkeypatch):
    """After fork the parent's pool threads are gone; the child must not wait on them."""
    import multiprocessing
    monkeypatch.setattr("deepgrad.threads.PART_BYTES", 1)
    dg.set_num_threads(2)
    x, w = dg.randn(4, 3, 8, 8), dg.randn(3, 1, 3, 3)
    expected = F.conv2d(x, w, padding=1, groups=3).numpy()    # the parent's pool now exists
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(_depthwise_in_child, (x.numpy(), w.numpy())).get(timeout=60)
    np.testing.assert_array_equal(got, expected)


def _depthwise_in_child(x, w):
    import deepgrad.threads
    deepgrad.threads.PART_BYTES = 1
    return F.conv2d(dg.tensor(x), dg.tensor(w), padding=1, groups=3).numpy()


def test_fit_rounds_free_cores_within_one_and_the_count():
    assert threads.fit(None, 4) == 4                 # nothing known yet: as set
    assert threads.fit(0.2, 4) == 1                  # a busy machine: the calling thread only
    assert threads.fit(1.4, 4) == 1 and threads.fit(1.6, 4) == 2
    assert threads.fit(7.0, 4) == 4                  # never more than asked for


def test_free_cores_adds_this_process_share_to_the_idle_share():
    """Two looks 1 s apart on 4 cores: a quarter of the CPU time idle is one core; this process used
    0.5 s of CPU, half a core of what the others did not take."""
    before = ((100, 1000), 10.0, 2.0)
    after = ((200, 1400), 11.0, 2.5)
    assert threads.free_cores(before, after, 4) == pytest.approx(4 * 100 / 400 + 0.5)


def test_usable_threads_follow_the_free_cores(monkeypatch, restore_threads):
    monkeypatch.undo()                               # the real usable_threads, with the free cores set here
    dg.set_num_threads(2)
    monkeypatch.setattr("deepgrad.threads._free", 0.3)
    assert threads.usable_threads() == 1
    monkeypatch.setattr("deepgrad.threads._free", 5.0)
    assert threads.usable_threads() == 2


@pytest.mark.parametrize("usable, helpers_used", [(1, False), (2, True)])
def test_parallel_for_keeps_parts_on_the_caller_when_one_thread_is_usable(usable, helpers_used, monkeypatch,
                                                                        restore_threads):
    """Large work on a busy machine runs on the calling thread; with two usable threads a pool thread
    takes a part (the first part waits until another thread has taken one)."""
    dg.set_num_threads(2)
    monkeypatch.setattr("deepgrad.threads.usable_threads", lambda: usable)
    caller, taken = threading.get_ident(), threading.Event()

    def body(lo, hi):
        if threading.get_ident() != caller:
            taken.set()
        elif lo == 0 and usable > 1:
            taken.wait(timeout=10)
        return threading.get_ident()
    idents = threads.parallel_for(body, 4, 1)
    assert (set(idents) != {caller}) == helpers_used


def test_small_work_stays_on_the_caller(restore_threads):
    dg.set_num_threads(2)
    caller = threading.get_ident()
    idents = threads.parallel_for(lambda lo, hi: threading.get_ident(), 10, 100)
    assert idents == [caller]


class _FakeBLAS:
    """An OpenBLAS thread count, as its get/set functions see it."""

    def __init__(self, n):
        self.n = n

    def get(self):
        return self.n

    def put(self, n):
        self.n = n


def test_openblas_gets_the_free_cores_under_its_own_ceiling():
    """OpenBLAS is set to the free cores, never above the count it had; a count set by someone else
    (threadpoolctl, the user) becomes the new ceiling."""
    fake, blas = _FakeBLAS(2), threads._OpenBLAS()
    blas.libraries = [[fake.get, fake.put, 2, None]]
    blas.fit(0.4)
    assert fake.n == 1
    blas.fit(6.0)
    assert fake.n == 2
    fake.n = 1                                       # someone limits it
    blas.fit(6.0)
    assert fake.n == 1
    fake.n = 3
    blas.fit(2.2)
    assert fake.n == 2
    blas.fit(9.0)
    assert fake.n == 3


def test_openblas_is_found_with_numpys_thread_count():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    openblas = [lib for lib in threadpoolctl.threadpool_info() if lib["internal_api"] == "openblas"]
    if not openblas:
        pytest.skip("NumPy does not use OpenBLAS here")
    found = threads._OpenBLAS()._find()
    assert sorted(get() for get, _, _, _ in found) == sorted(lib["num_threads"] for lib in openblas)


def test_idle_and_total_count_only_the_cpus_given():
    stat = ("cpu  50 0 10 300 5 0 0 0 0 0\ncpu0 10 0 5 100 1 0 0 0 0 0\ncpu1 40 0 5 200 4 0 0 0 0 0\n"
            "intr 12345\n")
    assert threads.idle_and_total(stat, {1}) == (204, 249)
    assert threads.idle_and_total(stat, {0, 1}) == (305, 365)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_forked_child_keeps_the_openblas_ceiling(monkeypatch):
    """A child forked while the parent's watcher had OpenBLAS on 1 thread inherits that count; its
    ceiling is still the parent's, so it goes back up where the cores are free."""
    import multiprocessing
    fake, blas = _FakeBLAS(2), threads._OpenBLAS()
    blas.libraries = [[fake.get, fake.put, 2, None]]
    blas.fit(0.4)
    monkeypatch.setattr("deepgrad.threads._blas", blas)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply_async(_fit_blas_in_child, (6.0,)).get(timeout=60) == 2


def _fit_blas_in_child(free):
    threads._blas.fit(free)
    return threads._blas.libraries[0][0]()


def test_openblas_is_fitted_by_the_computing_thread_before_its_next_primitive(monkeypatch):
    """The watcher only measures (changing OpenBLAS's count while a BLAS call runs in another thread is
    not safe); the thread that applies the next primitive fits OpenBLAS to the last look, once."""
    calls = []

    class Recording(_FakeBLAS):
        def put(self, n):
            calls.append((threading.current_thread().name, n))
            super().put(n)

    fake, blas = Recording(2), threads._OpenBLAS()
    blas.libraries = [[fake.get, fake.put, 2, None]]
    monkeypatch.setattr("deepgrad.threads._blas", blas)
    monkeypatch.setattr("deepgrad.threads._free", 0.6)
    monkeypatch.setattr("deepgrad.threads.unsettled", True)      # as the watcher leaves it after a look
    x = dg.ones(3)
    y = x + 1
    assert calls == [(threading.current_thread().name, 1)] and not threads.unsettled
    y * 2                                                        # nothing new seen: nothing to fit
    assert calls == [(threading.current_thread().name, 1)]
    np.testing.assert_array_equal(y.numpy(), [2.0, 2.0, 2.0])
