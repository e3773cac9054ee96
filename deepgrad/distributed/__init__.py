"""Data-parallel training over MPI (layer 6 of DESIGN.md), with ``torch.distributed``'s names: the process
group, collectives on Tensors, and (in ``deepgrad.nn.parallel``) ``DistributedDataParallel``.

    mpiexec -n 4 python train.py        # on one machine; add -f hostfile (or srun) for a cluster
"""
from .collectives import (ReduceOp, Work, all_gather, all_reduce, broadcast, gather, reduce_scatter, scatter)
from .group import (ProcessGroup, barrier, destroy_process_group, get_rank, get_world_size, init_process_group,
                    is_available, is_initialized, is_mpi_available)

__all__ = ["ProcessGroup", "ReduceOp", "Work", "all_gather", "all_reduce", "barrier", "broadcast",
           "destroy_process_group", "gather", "get_rank", "get_world_size", "init_process_group", "is_available",
           "is_initialized", "is_mpi_available", "reduce_scatter", "scatter"]
