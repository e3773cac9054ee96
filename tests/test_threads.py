"""Intra-op threads (deepgrad.threads): the API, the split, and results that do not depend on it."""
import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import threads


@pytest.fixture
def restore_threads():
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
