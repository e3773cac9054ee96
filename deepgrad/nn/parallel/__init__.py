"""``torch.nn.parallel`` under deepgrad: an alias of ``DistributedDataParallel``'s home,
``deepgrad.distributed.ddp`` (imported when this module is)."""
from ...distributed.ddp import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
