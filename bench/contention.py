"""deepgrad and PyTorch beside a competing training process: how much each slows down.

Cases: ResNet-20 inference at batch 1 (eval mode, no gradients) and a LeNet-5 (modern) training step at
batch 128, the same weights in both frameworks (``models.py``'s twins), 2 threads each (NumPy's BLAS,
deepgrad's and PyTorch's), interleaved in turns of ``harness.BLOCK`` steps. Each child process times the
cases on the machine as it is ("quiet"), then again while a competing process runs (a PyTorch LeNet-5
training loop at batch 256 with PyTorch's default threads, started by this script), and reports medians
and each framework's slowdown. Rounds alternate children with deepgrad's thread sizing on and off
(``DEEPGRAD_ADAPT_THREADS``, see ``deepgrad/threads.py``), so both see the same conditions; the load
average and the free cores deepgrad's watcher saw are printed with each round.

Like the other benchmarks, it unsets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in its own processes (they force a
slower BLAS kernel than users get).

    python bench/contention.py [--rounds N] [--reps N]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402  (before NumPy loads)

SCRIPT = os.path.abspath(__file__)
COMPETITOR_BATCH = 256
SETTLE_UNDER_LOAD_S = 3.0      # the competitor warms up, deepgrad's watcher looks at least twice


def _env(adapt=None):
    env = harness._child_env(True)
    if adapt is not None:
        env["DEEPGRAD_ADAPT_THREADS"] = adapt
    return env


def compete():
    """A PyTorch LeNet-5 training loop at batch 256, PyTorch's default threads, until killed."""
    import torch
    import models
    model = models.torch_models()["lenet5"]().train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(COMPETITOR_BATCH, 1, 28, 28), torch.randint(0, 10, (COMPETITOR_BATCH,))
    while True:
        models.train_step(model, opt, torch.nn.functional.cross_entropy, x, y)


def _cases():
    """[(name, deepgrad step, torch step)]: ResNet-20 inference at batch 1, LeNet-5 training step at batch 128."""
    import numpy as np
    import torch
    import models
    dg = models._deepgrad()
    import deepgrad.nn.functional as F
    from deepgrad import optim
    rng = np.random.default_rng(0)
    pairs = {}
    for key, mode in (("resnet20", "eval"), ("lenet5", "train")):
        dg.manual_seed(0)
        ours, theirs = models.dg_models()[key](), models.torch_models()[key]()
        theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
        pairs[key] = getattr(ours, mode)(), getattr(theirs, mode)()
    x1 = rng.standard_normal((1, 3, 32, 32)).astype(np.float32)
    x128, y128 = rng.standard_normal((128, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 128)
    (r_dg, r_torch), (l_dg, l_torch) = pairs["resnet20"], pairs["lenet5"]

    def infer_dg():
        with dg.no_grad():
            return r_dg(dg.tensor(x1))

    def infer_torch():
        with torch.no_grad():
            return r_torch(torch.from_numpy(x1))
    opt_dg = optim.SGD(l_dg.parameters(), lr=0.01, momentum=0.9)
    opt_torch = torch.optim.SGD(l_torch.parameters(), lr=0.01, momentum=0.9)
    x_dg, y_dg, x_t, y_t = dg.tensor(x128), dg.tensor(y128), torch.from_numpy(x128), torch.from_numpy(y128)
    assert np.allclose(infer_dg().numpy(), infer_torch().numpy(), atol=1e-4), "ResNet-20 outputs differ"
    return [("ResNet-20 inference, batch 1", infer_dg, infer_torch),
            ("LeNet-5 training step, batch 128",
             lambda: models.train_step(l_dg, opt_dg, F.cross_entropy, x_dg, y_dg),
             lambda: models.train_step(l_torch, opt_torch, torch.nn.functional.cross_entropy, x_t, y_t))]


def _medians(cases, reps):
    """{case: (deepgrad ms, torch ms)}, interleaved in turns as in ``harness``."""
    out = {}
    for name, dg_step, torch_step in cases:
        times = {dg_step: [], torch_step: []}
        while len(times[dg_step]) < reps:
            for step in times:
                harness._settle(step)
                times[step] += harness._timed(step, min(harness.BLOCK, reps - len(times[step])))
        out[name] = [1e3 * statistics.median(times[s]) for s in (dg_step, torch_step)]
    return out


def child(reps):
    """Times the cases quiet, then beside the competitor; prints JSON."""
    import torch
    from deepgrad import threads
    torch.set_num_threads(int(harness.THREADS))
    cases = _cases()
    for _, dg_step, torch_step in cases:
        dg_step(), torch_step()
    result = {"load_quiet": os.getloadavg()[0], "quiet": _medians(cases, reps), "free_quiet": threads._free}
    competitor = subprocess.Popen([sys.executable, SCRIPT, "--compete"], env=_competitor_env(),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(SETTLE_UNDER_LOAD_S)
        result["loaded"] = _medians(cases, reps)
        result["free_loaded"], result["load_loaded"] = threads._free, os.getloadavg()[0]
    finally:
        competitor.kill()
        competitor.wait()
    print(json.dumps(result))


def _competitor_env():
    """The competitor takes PyTorch's default threads: no thread-count variables in its environment."""
    env = _env()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(var, None)
    return env


def _row(label, r):
    (dq, tq), (dl, tl) = r["quiet"][label], r["loaded"][label]
    return f"{dq:8.2f} {dl:8.2f} {dl / dq:6.2f}x | {tq:8.2f} {tl:8.2f} {tl / tq:6.2f}x | {(dl / dq) / (tl / tq):6.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (sizing on, sizing off) children")
    parser.add_argument("--reps", type=int, default=20, help="timed steps per case and phase (median reported)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--compete", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compete:
        return compete()
    if args.child:
        return child(args.reps)
    print(f"bench/contention.py: {os.cpu_count()} CPUs, {harness.THREADS} threads for deepgrad and PyTorch, "
          f"OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset; median of {args.reps} steps per phase;\n"
          f"competitor: PyTorch LeNet-5 training at batch {COMPETITOR_BATCH}, default threads")
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    runs = {"on": [], "off": []}
    header = (f"{'sizing':<7} {'case':<33} {'deepgrad quiet/loaded ms':>30} | {'torch quiet/loaded ms':>26} | "
              f"{'dg/torch slowdown':>6}")
    for i in range(args.rounds):
        print(f"\nround {i + 1}\n{header}")
        for adapt in runs:
            out = subprocess.run([sys.executable, SCRIPT, "--child", "--reps", str(args.reps)], env=_env(
                "1" if adapt == "on" else "0"), check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            runs[adapt].append(r)
            for label in r["quiet"]:
                print(f"{adapt:<7} {label:<33} {_row(label, r)}")
            free = ("" if r["free_quiet"] is None else
                    f", deepgrad saw {r['free_quiet']:.2f} / {r['free_loaded']:.2f} cores free")
            print(f"{'':<7} load average quiet {r['load_quiet']:.2f}, loaded {r['load_loaded']:.2f}{free}")
    print("\nmedians over rounds: deepgrad's time / PyTorch's, quiet and loaded; each framework's slowdown "
          "(loaded / quiet), and deepgrad's slowdown / PyTorch's")
    for adapt, rs in runs.items():
        for label in rs[0]["quiet"]:
            (dq, tq), (dl, tl) = ([[r[phase][label][k] for r in rs] for k in (0, 1)] for phase in ("quiet", "loaded"))
            quiet, loaded, dg_slow, torch_slow = (statistics.median(map(lambda a, b: a / b, *p)) for p in
                                                  ((dq, tq), (dl, tl), (dl, dq), (tl, tq)))
            relative = statistics.median(d1 / d0 / (t1 / t0) for d0, t0, d1, t1 in zip(dq, tq, dl, tl))
            print(f"  sizing {adapt:<4} {label:<33} vs PyTorch: quiet {quiet:5.2f}x loaded {loaded:5.2f}x   "
                  f"slowdown: deepgrad {dg_slow:5.2f}x PyTorch {torch_slow:5.2f}x relative {relative:5.2f}")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
