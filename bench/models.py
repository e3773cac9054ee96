"""Training steps of zoo models, deepgrad vs PyTorch, plus memory and import time.

1. Step time (forward + cross-entropy + backward + SGD step with momentum 0.9, zero_grad included,
   training mode) for MLP 784-256-256-10 at batch 128, LeNet-5 (modern) at batch 128 on 28×28 and
   ResNet-20 at batch 32 on 32×32, interleaved in short turns in one process (``harness``), with the
   same weights in both: the deepgrad model's state_dict is copied into the PyTorch one by key name.
2. Peak RSS of a fresh process that does 200 LeNet-5 training steps at batch 256 with deepgrad, and
   of one that does the same with PyTorch (``ru_maxrss`` at the end; neither imports the other).
3. ``import deepgrad`` in a fresh process (NumPy included), the median of several runs.
4. The step times of 1. with each framework alone in a fresh process, alternating: in 1. PyTorch
   shares deepgrad's process and so also its malloc settings (``deepgrad/allocator.py``), which
   speed PyTorch up as well; here each runs as its users have it.

Targets (issue 4): MLP <= 1.4x, LeNet-5 <= 2.0x, ResNet-20 <= 2.5x PyTorch's time; deepgrad's peak
RSS <= 0.5x PyTorch's; import under 0.3 s. The memory and import children run with
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset (BLAS as users have it) and the harness's thread pinning.

    python bench/models.py [--reps N] [--warmup N]
"""
import functools
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402  (sets up the environment before NumPy loads)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
LR, MOMENTUM = 0.01, 0.9
RSS_STEPS, RSS_BATCH = 200, 256
IMPORT_RUNS = 7
TARGETS = {"time": {"MLP": 1.4, "LeNet-5": 2.0, "ResNet-20": 2.5}, "rss": 0.5, "import_s": 0.3}


# ---------------------------------------------------------------- PyTorch twins of the zoo models
def torch_models():
    """PyTorch definitions with the same module names (so the same state_dict keys) as deepgrad's."""
    import torch
    from torch import nn

    def mlp():
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                             nn.Linear(256, 10))

    def lenet5():
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                             nn.ReLU(), nn.Linear(84, 10))

    class Block(nn.Module):
        """Basic block with the option A shortcut (subsample, zero-pad the new channels)."""

        def __init__(self, c_in, planes, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.stride, self.extra = stride, planes - c_in

        def forward(self, x):
            out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            short = x
            if self.stride != 1 or self.extra:
                short = nn.functional.pad(x[:, :, ::self.stride, ::self.stride],
                                          (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
            return torch.relu(out + short)

    class ResNet20(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            c_in = 16
            for i, (planes, stride) in enumerate(((16, 1), (32, 2), (64, 2))):
                setattr(self, f"layer{i + 1}", nn.Sequential(Block(c_in, planes, stride), Block(planes, planes, 1),
                                                             Block(planes, planes, 1)))
                c_in = planes
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            x = torch.relu(self.bn1(self.conv1(x)))
            x = self.layer3(self.layer2(self.layer1(x)))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return {"mlp": mlp, "lenet5": lenet5, "resnet20": ResNet20}


def train_step(model, opt, loss_fn, x, y):
    """One training step, spelled the same in both frameworks: zero_grad, loss, backward, update."""
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    return loss


def _deepgrad():
    sys.path.insert(0, ROOT)
    import deepgrad as dg
    return dg


def dg_models():
    _deepgrad()
    from deepgrad import models
    return {"mlp": lambda: models.mlp((784, 256, 256, 10)), "lenet5": lambda: models.lenet5("modern"),
            "resnet20": models.resnet20}


# ---------------------------------------------------------------- 1. step time
CASES = [("MLP", "mlp", (128, 784), "MLP 784-256-256-10, batch 128"),
         ("LeNet-5", "lenet5", (128, 1, 28, 28), "LeNet-5 modern 28x28, batch 128"),
         ("ResNet-20", "resnet20", (32, 3, 32, 32), "ResNet-20 32x32, batch 32")]


def build():
    """Training step (forward + backward + SGD momentum step, zero_grad) of MLP, LeNet-5, ResNet-20."""
    import numpy as np
    import torch

    dg = _deepgrad()
    import deepgrad.nn.functional as F
    from deepgrad import optim

    torch_builders, dg_builders = torch_models(), dg_models()
    rng = np.random.default_rng(0)
    cases = []
    for short, key, shape, label in CASES:
        dg.manual_seed(0)
        ours = dg_builders[key]().train()
        theirs = torch_builders[key]().train()
        state = ours.state_dict()
        assert list(state) == list(theirs.state_dict()), f"{key}: state_dict keys differ"
        theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in state.items()})
        x0 = rng.standard_normal(shape).astype(np.float32)
        y0 = rng.integers(0, 10, shape[0])
        x_d, y_d = dg.tensor(x0), dg.tensor(y0)
        x_t, y_t = torch.from_numpy(x0), torch.from_numpy(y0)
        opt_d = optim.SGD(ours.parameters(), lr=LR, momentum=MOMENTUM)
        opt_t = torch.optim.SGD(theirs.parameters(), lr=LR, momentum=MOMENTUM)

        dg_step = functools.partial(train_step, ours, opt_d, F.cross_entropy, x_d, y_d)
        torch_step = functools.partial(train_step, theirs, opt_t, torch.nn.functional.cross_entropy, x_t, y_t)

        # the same computation on both sides: the first losses agree
        first_d, first_t = dg_step().item(), torch_step().item()
        assert abs(first_d - first_t) <= 1e-4 * max(1.0, abs(first_t)), (label, first_d, first_t)
        cases.append((_label(short, label), dg_step, torch_step))
    return cases


def _label(short, label):
    return f"{label} [{short} <= {TARGETS['time'][short]}x]"


# ---------------------------------------------------------------- 4. each framework alone
def build_one(framework):
    """The training steps of 1. with one framework only (each with its own initialisation), for the
    harness's runs of each framework alone in fresh processes."""
    import numpy as np
    if framework == "torch":
        import torch
        builders, tensor = torch_models(), torch.from_numpy
        loss_fn, sgd = torch.nn.functional.cross_entropy, torch.optim.SGD
    else:
        dg = _deepgrad()
        import deepgrad.nn.functional as F
        from deepgrad import optim
        builders, tensor, loss_fn, sgd = dg_models(), dg.tensor, F.cross_entropy, optim.SGD
    rng = np.random.default_rng(0)
    cases = []
    for short, key, shape, label in CASES:
        model = builders[key]().train()
        x, y = tensor(rng.standard_normal(shape).astype(np.float32)), tensor(rng.integers(0, 10, shape[0]))
        opt = sgd(model.parameters(), lr=LR, momentum=MOMENTUM)
        cases.append((_label(short, label), functools.partial(train_step, model, opt, loss_fn, x, y)))
    return cases


# ---------------------------------------------------------------- 2. peak RSS
def rss_child(framework):
    """200 LeNet-5 (modern) training steps at batch 256; prints peak RSS in MiB."""
    import resource
    if framework == "deepgrad":
        dg = _deepgrad()
        import deepgrad.nn.functional as F
        from deepgrad import models, optim
        dg.manual_seed(0)
        model = models.lenet5("modern").train()
        opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
        x, y = dg.randn(RSS_BATCH, 1, 28, 28), dg.randint(0, 10, (RSS_BATCH,))
        cross_entropy = F.cross_entropy
    else:
        import torch
        torch.set_num_threads(int(harness.THREADS))
        torch.manual_seed(0)
        model = torch_models()["lenet5"]().train()
        opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
        x, y = torch.randn(RSS_BATCH, 1, 28, 28), torch.randint(0, 10, (RSS_BATCH,))
        cross_entropy = torch.nn.functional.cross_entropy
    for _ in range(RSS_STEPS):
        loss = train_step(model, opt, cross_entropy, x, y)
    assert loss.item() == loss.item()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)   # KiB on Linux


def _run_child(args):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), *args], env=harness._child_env(True), check=True,
                         capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


IMPORT_SNIPPET = ("import sys, time; sys.path.insert(0, {root!r}); t = time.perf_counter(); import {module}; "
                  "print(time.perf_counter() - t)")


def _import_time(module, pycache):
    """Import times with compiled bytecode cached (in ``pycache``) as an installed package has it,
    whatever PYTHONDONTWRITEBYTECODE says here; the first, compiling run is not timed."""
    env = harness._child_env(True)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = pycache
    times = []
    for _ in range(IMPORT_RUNS + 1):
        out = subprocess.run([sys.executable, "-c", IMPORT_SNIPPET.format(root=os.path.abspath(ROOT), module=module)],
                             env=env, check=True, capture_output=True, text=True).stdout
        times.append(float(out.strip().splitlines()[-1]))
    return statistics.median(times[1:]), min(times[1:]), max(times[1:])


def _verdict(ok):
    return "ok" if ok else "MISSED"


def extras():
    print(f"\nPeak RSS, fresh process, {RSS_STEPS} LeNet-5 (modern) training steps at batch {RSS_BATCH} "
          f"(ru_maxrss; BLAS variables unset):")
    dg_rss, torch_rss = _run_child(["--rss-child", "deepgrad"]), _run_child(["--rss-child", "torch"])
    ratio = dg_rss / torch_rss
    print(f"  deepgrad {dg_rss:8.1f} MiB   PyTorch {torch_rss:8.1f} MiB   ratio {ratio:.2f}x "
          f"(target <= {TARGETS['rss']}x: {_verdict(ratio <= TARGETS['rss'])})")
    print(f"\n`import` in a fresh process, bytecode cached, median of {IMPORT_RUNS} (min-max):")
    with tempfile.TemporaryDirectory() as pycache:
        imports = {module: _import_time(module, pycache) for module in ("numpy", "deepgrad")}
    for module, (med, lo, hi) in imports.items():
        note = (f" (target < {TARGETS['import_s']} s: {_verdict(med < TARGETS['import_s'])})"
                if module == "deepgrad" else " (included in deepgrad's)")
        print(f"  import {module:<9} {med:6.3f} s ({lo:.3f}-{hi:.3f}){note}")


def main():
    if "--rss-child" in sys.argv:
        rss_child(sys.argv[sys.argv.index("--rss-child") + 1])
        return
    child = "--child" in sys.argv or "--alone-child" in sys.argv
    if not child:
        print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} ({os.cpu_count()} CPUs)")
    harness.run(__file__, build, reps=30, warmup=5, build_one=build_one)
    if child:
        return
    extras()
    print(f"\nload average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
