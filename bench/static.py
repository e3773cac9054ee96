"""Static graphs (deepgrad.static) vs eager execution, in one run:

* training steps (forward, cross-entropy, backward, SGD update) eager vs ``compile_train_step``:
  an MLP 784-256-256-10 at batch 16 (overhead-bound; target >= 1.5x faster) and LeNet-5 (modern)
  at batch 128 (compute-bound; target: not slower), with PyTorch's eager step for reference;
* memory of ResNet-20 inference (eval, batch 32): eager peak vs the compiled graph's planned peak
  and its measured peak (tracemalloc, which sees NumPy's allocations).

Timings follow harness.py: child processes per BLAS environment with 2 threads, eager and compiled
steps interleaved in one, PyTorch's reference step in another (an initialised PyTorch thread pool slows
NumPy's BLAS in the same process), medians reported. Run: ``python bench/static.py [--reps N] [--warmup N]``.
"""
import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402  (sets up the environment before NumPy loads)
from models import train_step  # noqa: E402

MLP_SIZES = (784, 256, 256, 10)
MLP_BATCH = 16
LENET_BATCH = 128
RESNET_BATCH = 32
LR = 0.01


def _import():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import numpy as np
    import deepgrad as dg
    import deepgrad.models  # noqa: F401
    import deepgrad.nn.functional as F
    return np, dg, F


def cases(dg):
    return ((f"MLP {'-'.join(map(str, MLP_SIZES))} SGD step, batch {MLP_BATCH}",
             lambda: dg.models.mlp(MLP_SIZES), (MLP_BATCH, MLP_SIZES[0]), MLP_BATCH, 0.0),
            (f"LeNet-5 (modern) SGD+momentum step, batch {LENET_BATCH}",
             lambda: dg.models.lenet5("modern"), (LENET_BATCH, 1, 28, 28), LENET_BATCH, 0.9))


def build_training():
    """(name, eager step, compiled step) for the training-step cases."""
    np, dg, F = _import()
    rng = np.random.default_rng(0)
    built = []
    for name, make_model, x_shape, batch, momentum in cases(dg):
        x0 = rng.standard_normal(x_shape).astype(np.float32)
        y0 = rng.integers(0, 10, batch)
        dg.manual_seed(0)
        eager_model = make_model()
        compiled_model = make_model()
        compiled_model.load_state_dict(eager_model.state_dict())
        x, y = dg.tensor(x0), dg.tensor(y0)
        eager_opt = dg.optim.SGD(eager_model.parameters(), lr=LR, momentum=momentum)
        compiled_opt = dg.optim.SGD(compiled_model.parameters(), lr=LR, momentum=momentum)

        eager_step = functools.partial(train_step, eager_model, eager_opt, F.cross_entropy, x, y)

        step = dg.static.compile_train_step(compiled_model, F.cross_entropy, compiled_opt)

        def compiled_step(step=step, x=x, y=y):
            return step(x, y)
        built.append((name, eager_step, compiled_step))
    return built


def time_training(reps, warmup):
    rows = []
    for name, eager, compiled in build_training():
        t0 = time.perf_counter()
        compiled()                               # the first call traces (SGD momentum: the second again)
        trace_s = time.perf_counter() - t0
        for _ in range(warmup):
            eager()
            compiled()
        times = {"eager": [], "compiled": []}
        for i in range(reps):                    # eager and compiled interleaved (alternating order)
            order = (("eager", eager), ("compiled", compiled))
            for key, fn in (order if i % 2 == 0 else order[::-1]):
                t0 = time.perf_counter()
                fn()
                times[key].append(time.perf_counter() - t0)
        rows.append({"case": name, "first_call_s": trace_s,
                     **{f"{k}_ms": 1e3 * statistics.median(v) for k, v in times.items()}})
    return rows


def time_torch(reps, warmup):
    """PyTorch's eager step for the same networks (a reference), in its own process."""
    import numpy as np
    import torch
    import torch.nn as tnn
    torch.set_num_threads(int(harness.THREADS))
    torch.manual_seed(0)
    layers = [tnn.Flatten()]
    for i, (a, b) in enumerate(zip(MLP_SIZES[:-1], MLP_SIZES[1:])):
        layers.append(tnn.Linear(a, b))
        if i < len(MLP_SIZES) - 2:
            layers.append(tnn.ReLU())
    lenet = tnn.Sequential(tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Conv2d(6, 16, 5),
                           tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(400, 120), tnn.ReLU(),
                           tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, 10))
    rng = np.random.default_rng(0)
    out = []
    for net, shape, batch, momentum in ((tnn.Sequential(*layers), (MLP_BATCH, MLP_SIZES[0]), MLP_BATCH, 0.0),
                                        (lenet, (LENET_BATCH, 1, 28, 28), LENET_BATCH, 0.9)):
        x = torch.tensor(rng.standard_normal(shape).astype(np.float32))
        y = torch.tensor(rng.integers(0, 10, batch))
        opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=momentum)

        step = functools.partial(train_step, net, opt, torch.nn.functional.cross_entropy, x, y)
        for _ in range(warmup):
            step()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        out.append(1e3 * statistics.median(times))
    return out


def memory_resnet20():
    """Eager vs planned vs measured peak bytes of ResNet-20 inference."""
    import tracemalloc
    np, dg, F = _import()
    dg.manual_seed(0)
    model = dg.models.resnet20().eval()
    x = dg.randn(RESNET_BATCH, 3, 32, 32)
    compiled = dg.compile(model)
    with dg.no_grad():
        out_c = compiled(x)                      # trace + optimise + first run
        out_e = model(x)
        agree = float(np.abs(out_c.numpy() - out_e.numpy()).max())

        def peak(fn):
            tracemalloc.start()
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            fn()
            top = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            return top - base
        eager_peak = min(peak(lambda: model(x)) for _ in range(3))
        compiled_peak = min(peak(lambda: compiled(x)) for _ in range(3))
    eager_grad_peak = min(peak(lambda: model(x)) for _ in range(2))   # grad mode: the tape keeps activations
    plan = compiled.executable(x).plan
    return {"batch": RESNET_BATCH, "max_abs_diff": agree, "eager_peak": eager_peak, "eager_grad_peak": eager_grad_peak,
            "compiled_peak": compiled_peak, "planned_peak": plan.peak_bytes,
            "planned_peak_without_reuse": plan.peak_without_reuse, "naive_sum": plan.naive_bytes,
            "reused_buffers": plan.reused_buffers,
            "equations": len(compiled.executable(x).graph), "traced_equations": len(compiled.executable(x).traced)}


def child(reps, warmup, which):
    if which == "torch":
        print(json.dumps({"torch": time_torch(reps, warmup)}))
    else:
        print(json.dumps({"training": time_training(reps, warmup), "memory": memory_resnet20()}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=50, help="timed steps per case (median is reported)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first")
    parser.add_argument("--child", choices=("deepgrad", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.reps, args.warmup, args.child)
        return
    variants = [("environment as is", False)]
    set_vars = [v for v in harness.BLAS_VARS if v in os.environ]
    if set_vars:
        variants.append((f"{' and '.join(set_vars)} unset", True))
    print(f"static.py: median of {args.reps} steps after {args.warmup} warm-up steps, {harness.THREADS} threads, "
          "eager and compiled steps interleaved in one process, PyTorch's in another")
    for label, unset in variants:
        result = {}
        for which in ("deepgrad", "torch"):
            out = subprocess.run([sys.executable, __file__, "--child", which, "--reps", str(args.reps), "--warmup",
                                  str(args.warmup)], env=harness._child_env(unset), check=True, capture_output=True,
                                 text=True).stdout
            result.update(json.loads(out.strip().splitlines()[-1]))
        print(f"\n[{label}]")
        print(f"{'training step':<46} {'eager ms':>9} {'compiled ms':>12} {'speed-up':>9} {'torch ms':>9} "
              f"{'1st call s':>10}")
        for r, torch_ms in zip(result["training"], result["torch"]):
            print(f"{r['case']:<46} {r['eager_ms']:>9.3f} {r['compiled_ms']:>12.3f} "
                  f"{r['eager_ms'] / r['compiled_ms']:>8.2f}x {torch_ms:>9.3f} {r['first_call_s']:>10.2f}")
        m = result["memory"]
        mib = 2 ** 20
        print(f"\nResNet-20 inference, batch {m['batch']} (eval; compiled vs eager max |diff| {m['max_abs_diff']:.1e}; "
              f"{m['traced_equations']} traced -> {m['equations']} optimised equations)")
        print(f"  eager peak, no_grad (tracemalloc)            {m['eager_peak'] / mib:9.2f} MiB")
        print(f"  eager peak, grad mode (tape kept)            {m['eager_grad_peak'] / mib:9.2f} MiB")
        print(f"  compiled peak, measured (tracemalloc)        {m['compiled_peak'] / mib:9.2f} MiB")
        print(f"  planned peak of intermediates (memory plan)  {m['planned_peak'] / mib:9.2f} MiB  "
              f"({m['reused_buffers']} buffers reused; {m['planned_peak_without_reuse'] / mib:.2f} MiB freeing only)")
        print(f"  naive sum of intermediates (nothing freed)   {m['naive_sum'] / mib:9.2f} MiB")


if __name__ == "__main__":
    main()
