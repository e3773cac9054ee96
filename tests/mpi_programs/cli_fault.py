"""``deepgrad train`` on every rank, where rank 1 fails at its third step: by an exception (``raise``) or by
``sys.exit(3)`` (``exit``). The job must end at once, non-zero, with rank 1's message printed once."""
import sys

from deepgrad.cli import main
from deepgrad.train import parallel

how, out = sys.argv[1], sys.argv[2]
step = parallel.DistributedTrainer._train_step


def failing_step(self, x, y):
    if parallel.world().rank == 1 and self.step == 2:
        if how == "exit":
            sys.exit(3)
        raise ZeroDivisionError("rank 1 fails on purpose")
    return step(self, x, y)


parallel.DistributedTrainer._train_step = failing_step
sys.exit(main(["train", "--epochs", "2", "--out", out, "--quiet", "--no-plots"]))
