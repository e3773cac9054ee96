"""Rank 1 raises while the others wait in a collective: the job must end at once, non-zero, with rank 1's
traceback printed once. ``--interrupt`` raises KeyboardInterrupt instead."""
import sys

import deepgrad as dg
import deepgrad.distributed as dist

dist.init_process_group(backend="mpi")
if dist.get_rank() == 1:
    if "--interrupt" in sys.argv:
        raise KeyboardInterrupt
    raise RuntimeError("rank 1 fails on purpose")
dist.all_reduce(dg.ones(3))       # never completes: rank 1 does not take part
print("unreachable", flush=True)
