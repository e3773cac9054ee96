"""Data-parallel scaling over MPI (issue 16): training throughput of 1 and 2 processes, all-reduce bandwidth
against message size, and the backward time that hides the gradient all-reduce (overlap).

    python bench/distributed.py                # about 5 minutes on 2 quiet cores
    python bench/distributed.py --reps 10      # fewer timed steps

Every measurement runs under ``mpiexec -n 1`` and ``-n 2`` (the mpich wheel's, next to this Python) with one
thread per process (OMP/OPENBLAS/MKL_NUM_THREADS=1), so 2 processes use the cores one process of 2 threads
would. Like the other benchmarks it unsets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in its own processes (users'
machines don't set them). Inputs are random images of the datasets' shapes (a step's time does not depend
on pixel values): LeNet-5 on MNIST (1x28x28, 64 per process), ResNet-20 on CIFAR-10 (3x32x32, 32 per
process); SGD with momentum. The machine's load average is printed before and after: on a shared machine
the figures are only as good as it was quiet.

Target: scaling efficiency (2-process throughput / twice 1-process throughput) >= 90%.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CASES = {"lenet5 / MNIST": ("lenet5", (1, 28, 28), 64), "resnet20 / CIFAR-10": ("resnet20", (3, 32, 32), 32)}
SIZES = [2 ** k for k in range(8, 25, 2)]        # float32 elements: 1 KiB to 64 MiB


def _env():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))       # this checkout's deepgrad
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(var, None)
    return env


def _median_ms(step, reps, comm):
    """Median over ``reps`` of ``step``'s time, all ranks starting each step together."""
    times = []
    for _ in range(reps):
        comm.Barrier()
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def _training_step(name, shape, batch, rank, wrap):
    import deepgrad as dg
    from deepgrad import models, optim
    from deepgrad.nn import functional as F
    dg.manual_seed(rank)
    model = models.lenet5("modern", 10) if name == "lenet5" else models.get_model(name, num_classes=10)
    net = wrap(model)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = dg.randn(batch, *shape)
    y = dg.randint(0, 10, (batch,))

    def step():
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def child(reps):
    """Under mpiexec: this process's figures, printed as JSON by rank 0."""
    import numpy as np
    from mpi4py import MPI

    import deepgrad.distributed as dist
    from deepgrad.nn.parallel import DistributedDataParallel
    dist.init_process_group("mpi")
    comm, rank, size = MPI.COMM_WORLD, dist.get_rank(), dist.get_world_size()
    plain = lambda model: model                                                  # noqa: E731
    ddp = (lambda cap: lambda model: DistributedDataParallel(model, bucket_cap_mb=cap))  # noqa: E731
    result = {"throughput": {}}
    for label, (name, shape, batch) in CASES.items():
        step = _training_step(name, shape, batch, rank, ddp(25) if size > 1 else plain)
        for _ in range(3):
            step()
        result["throughput"][label] = size * batch / _median_ms(step, reps, comm) * 1e3
    if size > 1:
        result["allreduce_us"] = {}
        for n in SIZES:
            buffer = np.ones(n, np.float32)
            count = max(5, min(200, 2 ** 22 // n))
            result["allreduce_us"][n] = 1e3 * _median_ms(
                lambda: comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM), count, comm)
        # ResNet-20's step: no communication; all gradients reduced after backward (one bucket, started when
        # the last gradient is ready); buckets of 0.25 MB started while backward runs
        name, shape, batch = CASES["resnet20 / CIFAR-10"]
        result["overlap_ms"] = {}
        for key, wrap in (("compute", plain), ("after backward", ddp(25)), ("overlapped", ddp(0.25))):
            step = _training_step(name, shape, batch, rank, wrap)
            for _ in range(3):
                step()
            result["overlap_ms"][key] = _median_ms(step, reps, comm)
    if rank == 0:
        print(json.dumps(result))


def _run(nproc, reps):
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    mpiexec = mpiexec if os.access(mpiexec, os.X_OK) else "mpiexec"
    done = subprocess.run([mpiexec, "-n", str(nproc), sys.executable, __file__, "--child", "--reps", str(reps)],
                          env=_env(), capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"mpiexec -n {nproc} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _fit(sizes_us):
    """(α in µs, B in GB/s) of t = 2(p-1)/p · n/B + 2(p-1)·α at p = 2 (t = n/B + 2α): α from the smallest
    message, B from the largest."""
    sizes = sorted(sizes_us, key=int)
    alpha = sizes_us[sizes[0]] / 2
    return alpha, 4 * int(sizes[-1]) / (sizes_us[sizes[-1]] - 2 * alpha) / 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20, help="timed steps per measurement (median reported)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.reps)
    print(f"bench/distributed.py: {os.cpu_count()} CPUs, 1 thread per process, OPENBLAS_CORETYPE / "
          f"OPENBLAS_L2_SIZE unset; median of {args.reps} steps")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    one, two = _run(1, args.reps), _run(2, args.reps)
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print(f"{'training step':<22} {'1 process img/s':>16} {'2 processes img/s':>18} {'efficiency':>11}")
    for label in CASES:
        a, b = one["throughput"][label], two["throughput"][label]
        print(f"{label:<22} {a:>16.1f} {b:>18.1f} {100 * b / (2 * a):>10.1f}%")
    print(f"\n{'all-reduce, 2 processes':<24} {'time µs':>10} {'n/t GB/s':>9}   (n/t = bus bandwidth at p = 2)")
    for n, us in two["allreduce_us"].items():
        print(f"{4 * int(n) / 1024:>12.0f} KiB float32  {us:>10.1f} {4 * int(n) / us / 1e3:>9.3f}")
    alpha, bandwidth = _fit(two["allreduce_us"])
    print(f"t = 2(p-1)/p·n/B + 2(p-1)·α at p = 2: α = {alpha:.1f} µs (smallest message), B = {bandwidth:.2f} GB/s "
          "(largest)")
    o = two["overlap_ms"]
    comm = o["after backward"] - o["compute"]
    hidden = o["after backward"] - o["overlapped"]
    print(f"\nResNet-20 step on 2 processes: {o['compute']:.1f} ms without communication, "
          f"{o['after backward']:.1f} ms reducing after backward, {o['overlapped']:.1f} ms with 0.25 MB "
          f"buckets reduced during backward: {hidden:.1f} of {comm:.1f} ms of communication hidden "
          f"({100 * hidden / comm if comm > 0 else 0:.0f}%); against 2 processes that do not communicate, "
          f"{100 * o['compute'] / o['overlapped']:.0f}% efficiency (the rest of the gap to 1 process is the CPU time "
          f"the machine gave 2 processes)")


if __name__ == "__main__":
    main()
