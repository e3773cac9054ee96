"""Real-data results: the runs the README quotes, each a `deepgrad train` command, timed.

    python bench/real_data.py            # all runs (about 15-20 minutes on 2 cores)
    python bench/real_data.py digits     # one of: digits, mnist-lenet5, mnist-mlp, fashion-lenet5

Targets (issue 5): digits >= 98% test accuracy in under a minute; LeNet-5 on MNIST <= 0.95% test error
(LeCun et al. 1998) in <= 10 minutes; an MLP 784-800-10 <= 1.6% (Simard et al. 2003); LeNet-5 on
Fashion-MNIST >= 90%. Like the other benchmarks, it unsets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in its
own process (users' machines don't set them) and pins 2 threads.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

RUNS = {
    "digits": (["--data", "digits"], "test accuracy >= 98% in < 60 s", lambda r: r["test_accuracy"] >= 0.98),
    "mnist-lenet5": (["--data", "mnist", "--model", "lenet5", "--epochs", "10", "--batch-size", "64"],
                     "test error <= 0.95% in <= 600 s", lambda r: r["test_error"] <= 0.0095),
    "mnist-mlp": (["--data", "mnist", "--model", "mlp", "--epochs", "20", "--batch-size", "128", "--lr", "1e-3"],
                  "test error <= 1.6%", lambda r: r["test_error"] <= 0.016),
    "fashion-lenet5": (["--data", "fashion-mnist", "--model", "lenet5", "--epochs", "12", "--batch-size", "64",
                        "--no-augment"], "test accuracy >= 90%", lambda r: r["test_accuracy"] >= 0.90),
}


def main(names):
    env = dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2", MKL_NUM_THREADS="2")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(var, None)
    rows = []
    for name in names:
        args, target, ok = RUNS[name]
        out = os.path.join(tempfile.mkdtemp(prefix="deepgrad-bench-"), name)
        command = ["deepgrad", "train", *args, "--out", out, "--quiet"]
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "deepgrad", *command[1:]], env=env, check=True)
        seconds = time.perf_counter() - t0
        with open(os.path.join(out, "report.json")) as f:
            report = json.load(f)
        rows.append((name, " ".join(command[:-3] if command[-3] == "--out" else command), seconds, report, target,
                     ok(report) and (name != "digits" or seconds < 60) and (name != "mnist-lenet5" or seconds <= 600)))
    print(f"\n{'run':<16} {'wall s':>8} {'test acc':>9} {'test err':>9}  target  met  command")
    for name, command, seconds, report, target, met in rows:
        print(f"{name:<16} {seconds:>8.1f} {report['test_accuracy']:>9.4f} {100 * report['test_error']:>8.2f}%  "
              f"{target}  {'yes' if met else 'NO'}  {command}")


if __name__ == "__main__":
    main(sys.argv[1:] or list(RUNS))
