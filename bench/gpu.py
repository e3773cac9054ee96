"""deepgrad vs PyTorch on one CUDA GPU, in one run: median milliseconds per training step (forward,
cross-entropy, backward, SGD with momentum, zero_grad), synchronised before and after every timed step,
the two frameworks alternating in short turns, and the ratio deepgrad / PyTorch.

Cases (issue 20): ResNet-50 b64 224², ResNet-18 b64 224², ResNet-20 b128 32², LeNet-5 b256 28², and a
3×3 64→64 convolution at b64 56² (forward + backward); in float32 (TF32 off in both, as deepgrad's
default) and with automatic mixed precision where deepgrad has ``deepgrad.autocast`` (otherwise the AMP
rows say so). Bars: ResNet-50 and ResNet-18 <= 1.3x, ResNet-20 <= 2.0x, LeNet-5 <= 3.0x.

ResNet-20 and LeNet-5 use the PyTorch twins of bench/models.py (same state_dict keys, same weights);
ResNet-18/50 use torchvision's when installed (deepgrad's zoo has its keys), else those rows are skipped.

    python bench/gpu.py [--reps N] [--warmup N] [--json PATH] [--only NAME ...]
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

BARS = {"ResNet-50": 1.3, "ResNet-18": 1.3, "ResNet-20": 2.0, "LeNet-5": 3.0}
CASES = [  # name, model key (None: the single convolution), input shape, classes
    ("ResNet-50", "resnet50", (64, 3, 224, 224), 1000),
    ("ResNet-18", "resnet18", (64, 3, 224, 224), 1000),
    ("ResNet-20", "resnet20", (128, 3, 32, 32), 10),
    ("LeNet-5", "lenet5", (256, 1, 28, 28), 10),
    ("conv 3x3 64->64", None, (64, 64, 56, 56), None),
]


def _models(key):
    """(deepgrad model, PyTorch model) with the same weights, or None where PyTorch's twin is missing."""
    import torch

    import deepgrad as dg
    from deepgrad import models
    if key in ("resnet20", "lenet5"):
        from models import torch_models
        ours = models.resnet20() if key == "resnet20" else models.lenet5("modern")
        theirs = torch_models()[key]()
    else:
        try:
            import torchvision
        except ImportError:
            return None
        ours, theirs = getattr(models, key)(), getattr(torchvision.models, key)()
    state = ours.state_dict()
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in state.items()})
    return ours.to("cuda").train(), theirs.to("cuda").train(), dg


def _amp(framework):
    """A context for mixed precision in ``framework`` ("dg" or "torch") and a gradient scaler, or a reason
    why there is none."""
    import torch

    import deepgrad as dg
    if framework == "torch":
        return (lambda: torch.autocast("cuda", dtype=torch.float16)), torch.amp.GradScaler("cuda")
    if not hasattr(dg, "autocast"):
        return "deepgrad.autocast does not exist yet"
    scaler = dg.amp.GradScaler() if hasattr(dg, "amp") else None
    return (lambda: dg.autocast("cuda", dtype=dg.float16)), scaler


def _step(lib, model, opt, x, y, amp):
    """One training step; with ``amp`` = (context, scaler), under autocast with a scaled loss."""
    opt.zero_grad()
    if amp is None:
        loss = lib.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return
    context, scaler = amp
    with context():
        loss = lib.nn.functional.cross_entropy(model(x), y)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()


def _conv_step(lib, x, w):
    def step():
        x.grad = w.grad = None
        out = lib.nn.functional.conv2d(x, w, padding=1)
        out.backward(lib.ones_like(out))
    return step


def build(name, key, shape, classes, amp):
    """{"deepgrad": step, "torch": step} for one case, or a string saying why it is skipped."""
    import numpy as np
    import torch

    import deepgrad as dg
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal(shape).astype(np.float32)
    if key is None:
        w0 = (rng.standard_normal((64, 64, 3, 3)) * 0.05).astype(np.float32)
        if amp:
            return "mixed precision is timed on the models"
        return {"deepgrad": _conv_step(dg, dg.tensor(x0, device="cuda", requires_grad=True),
                                       dg.tensor(w0, device="cuda", requires_grad=True)),
                "torch": _conv_step(torch, torch.tensor(x0, device="cuda", requires_grad=True),
                                    torch.tensor(w0, device="cuda", requires_grad=True))}
    pair = _models(key)
    if pair is None:
        return "torchvision is not installed (PyTorch's twin of the model)"
    ours, theirs, _ = pair
    y0 = rng.integers(0, classes, shape[0])
    steps = {}
    for framework, lib, model in (("deepgrad", dg, ours), ("torch", torch, theirs)):
        scaler = _amp("dg" if lib is dg else "torch") if amp else None
        if isinstance(scaler, str):
            return scaler
        x = lib.tensor(x0, device="cuda")
        y = lib.tensor(y0, device="cuda")
        opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        steps[framework] = (lambda lib=lib, model=model, opt=opt, x=x, y=y, scaler=scaler:
                            _step(lib, model, opt, x, y, scaler))
    return steps


def _sync():
    import torch

    import deepgrad as dg
    dg.cuda.synchronize()
    torch.cuda.synchronize()


def time_case(steps, reps, warmup, turn=5):
    """Median ms per step of each framework, in alternating turns of ``turn`` timed steps."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    _sync()
    times = {k: [] for k in steps}
    while min(len(t) for t in times.values()) < reps:
        for k, step in steps.items():
            step()            # one untimed step after the switch
            _sync()
            for _ in range(turn):
                start = time.perf_counter()
                step()
                _sync()
                times[k].append(time.perf_counter() - start)
    return {k: 1e3 * statistics.median(v) for k, v in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--only", nargs="*", help="case names to run (default: all)")
    args = parser.parse_args()
    import torch

    import deepgrad as dg
    if not dg.cuda.is_available() or not torch.cuda.is_available():
        sys.exit("bench/gpu.py needs a CUDA GPU with CuPy (deepgrad[cuda13]) and PyTorch built for CUDA")
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    from deepgrad.kernels.cuda import cudnn
    print(f"GPU: {torch.cuda.get_device_name()}; cuDNN frontend: "
          f"{'yes' if cudnn.frontend() is not None else 'NO (im2col + cuBLAS)'}; TF32 off in both")
    rows = []
    print(f"{'case':<24}{'precision':<11}{'deepgrad ms':>12}{'torch ms':>10}{'ratio':>8}{'bar':>6}")
    for name, key, shape, classes in CASES:
        if args.only and name not in args.only:
            continue
        for amp in (False, True):
            precision = "amp" if amp else "float32"
            try:
                steps = build(name, key, shape, classes, amp)
                result = steps if isinstance(steps, str) else time_case(steps, args.reps, args.warmup)
            except Exception as error:                  # one failing case must not hide the others' figures
                result = f"error: {type(error).__name__}: {error}"
            if isinstance(result, str):
                print(f"{name:<24}{precision:<11}  skipped: {result}")
                rows.append({"case": name, "precision": precision, "skipped": result})
                continue
            ratio = result["deepgrad"] / result["torch"]
            bar = BARS.get(name)
            print(f"{name:<24}{precision:<11}{result['deepgrad']:>12.2f}{result['torch']:>10.2f}{ratio:>7.2f}x"
                  f"{'' if bar is None else f'{bar:>5.1f}x'}{'  OVER' if bar and ratio > bar else ''}", flush=True)
            rows.append({"case": name, "precision": precision, "deepgrad_ms": result["deepgrad"],
                         "torch_ms": result["torch"], "ratio": ratio, "bar": bar})
            dg.cuda.empty_cache()
            torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
