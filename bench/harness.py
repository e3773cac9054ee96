"""Side-by-side timing of deepgrad and PyTorch in one process, interleaved in short turns.

Each case alternates turns of ``BLOCK`` timed steps of deepgrad and of PyTorch, so slow drift of the
machine hits both alike; each turn starts with untimed steps that let the other framework's worker
threads go idle (``_settle``).

Each benchmark script calls ``run(__file__, build)``. The parent process starts one child per BLAS
environment and prints a table: the environment as it is, and, when this machine sets
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (which force a slower BLAS kernel than users get), the same
run with both unset in the child's own environment. Tests and CI never change them.
Each child pins 2 threads for NumPy's BLAS and for PyTorch. Do not import NumPy before this module.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
THREADS = "2"


def _child_env(unset_blas):
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = THREADS
    if unset_blas:
        for var in BLAS_VARS:
            env.pop(var, None)
    return env


SETTLE_S = 0.15   # untimed steps after each switch of framework, at least this long
BLOCK = 5         # timed steps per turn


def _settle(step):
    """Run ``step`` untimed for at least SETTLE_S (once at least): whatever the other framework left
    running (PyTorch's OpenMP workers spin for milliseconds after each parallel region, OpenBLAS's
    threads likewise) has gone idle before a timed step, as it would in a program using one framework."""
    end = time.perf_counter() + SETTLE_S
    step()
    while time.perf_counter() < end:
        step()


def _timed(step, count):
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def _time_cases(build, reps, warmup):
    import torch
    torch.set_num_threads(int(THREADS))
    results = []
    for name, dg_step, torch_step in build():
        for _ in range(warmup):
            dg_step()
            torch_step()
        dg_times, torch_times = [], []
        while len(dg_times) < reps:
            count = min(BLOCK, reps - len(dg_times))
            _settle(dg_step)
            dg_times += _timed(dg_step, count)
            _settle(torch_step)
            torch_times += _timed(torch_step, count)
        results.append({"case": name, "deepgrad_ms": 1e3 * statistics.median(dg_times),
                        "torch_ms": 1e3 * statistics.median(torch_times)})
    return results


def _paired(build_one):
    """``build()`` from a per-framework ``build_one(framework)`` -> [(name, step)]."""
    def build():
        ours, theirs = build_one("deepgrad"), build_one("torch")
        return [(name, d, t) for (name, d), (_, t) in zip(ours, theirs)]
    build.__doc__ = build_one.__doc__
    return build


ALONE_ROUNDS = 3


def _time_alone(build_one, framework, reps, warmup):
    """Medians (ms) of every case with only ``framework`` imported in this process."""
    if framework == "torch":
        import torch
        torch.set_num_threads(int(THREADS))
    medians = []
    for _, step in build_one(framework):
        for _ in range(warmup):
            step()
        _settle(step)     # the previous case's worker threads (OpenBLAS spins ~0.1 s after a GEMM) go idle
        medians.append(1e3 * statistics.median(_timed(step, reps)))
    return medians


def _run_alone(script, build_one, reps, warmup):
    """Each framework alone in fresh processes, rounds alternating: no other framework's threads or
    malloc settings (``deepgrad/allocator.py`` applies to the whole process) around it."""
    names = [name for name, _ in build_one("deepgrad")]
    runs = {"deepgrad": [], "torch": []}
    for _ in range(ALONE_ROUNDS):
        for framework in runs:
            out = subprocess.run([sys.executable, script, "--alone-child", framework, "--reps", str(reps),
                                  "--warmup", str(warmup)], env=_child_env(True), check=True,
                                 capture_output=True, text=True).stdout
            runs[framework].append(json.loads(out.strip().splitlines()[-1]))
    print(f"\n[each framework alone in a fresh process, {ALONE_ROUNDS} alternating rounds, median of round medians]")
    print(f"{'case':<44} {'deepgrad ms':>12} {'torch ms':>10} {'ratio':>7}")
    for i, name in enumerate(names):
        d, t = (statistics.median(r[i] for r in runs[f]) for f in ("deepgrad", "torch"))
        print(f"{name:<44} {d:>12.3f} {t:>10.3f} {d / t:>6.2f}x")


def _compiled_loops():
    """Whether deepgrad's compiled loops would run here, found without importing numba in this process."""
    from importlib.metadata import PackageNotFoundError, version
    if os.environ.get("DEEPGRAD_NUMBA") == "0":
        return "off (DEEPGRAD_NUMBA=0)"
    try:
        return f"on (numba {version('numba')})"
    except PackageNotFoundError:
        return "off (numba not installed)"


def run(script, build=None, reps=50, warmup=10, build_one=None):
    """Entry point of a benchmark script: ``build()`` returns [(name, deepgrad_step, torch_step)] for
    the in-process run. With ``build_one(framework)`` -> [(name, step)] it also times each framework
    alone (``_run_alone``), and ``build`` defaults to both frameworks' steps from it."""
    build = build or _paired(build_one)
    parser = argparse.ArgumentParser(description=(build.__doc__ or "").strip())
    parser.add_argument("--reps", type=int, default=reps, help="timed steps per case (median is reported)")
    parser.add_argument("--warmup", type=int, default=warmup, help="untimed steps first")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--alone-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_time_cases(build, args.reps, args.warmup)))
        return
    if args.alone_child:
        print(json.dumps(_time_alone(build_one, args.alone_child, args.reps, args.warmup)))
        return
    variants = [("environment as is", False)]
    set_vars = [v for v in BLAS_VARS if v in os.environ]
    if set_vars:
        variants.append((f"{' and '.join(set_vars)} unset", True))
    print(f"{os.path.basename(script)}: median of {args.reps} steps after {args.warmup} warm-up steps, "
          f"{THREADS} threads, deepgrad and PyTorch interleaved in turns of {BLOCK} in one process")
    if not set_vars:
        print(f"({' / '.join(BLAS_VARS)} are not set here, so one run covers both cases)")
    print(f"deepgrad's compiled loops (the [fast] extra): {_compiled_loops()}")
    for label, unset in variants:
        out = subprocess.run([sys.executable, script, "--child", "--reps", str(args.reps),
                              "--warmup", str(args.warmup)], env=_child_env(unset), check=True,
                             capture_output=True, text=True).stdout
        rows = json.loads(out.strip().splitlines()[-1])
        print(f"\n[{label}]")
        print(f"{'case':<44} {'deepgrad ms':>12} {'torch ms':>10} {'ratio':>7}")
        for r in rows:
            print(f"{r['case']:<44} {r['deepgrad_ms']:>12.3f} {r['torch_ms']:>10.3f} "
                  f"{r['deepgrad_ms'] / r['torch_ms']:>6.2f}x")
    if build_one is not None:
        _run_alone(script, build_one, args.reps, args.warmup)
