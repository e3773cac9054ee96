"""``torch.utils.data`` under deepgrad: the names are ``deepgrad.data``'s own (no copies), so
``from deepgrad.utils.data import DataLoader`` is ``from deepgrad.data import DataLoader``."""
from ...data import (BatchSampler, ConcatDataset, DataLoader, Dataset, DistributedSampler, IterableDataset,
                     RandomSampler, Sampler, SequentialSampler, Subset, SubsetRandomSampler, TensorDataset,
                     WeightedRandomSampler, WorkerInfo, default_collate, default_convert, get_worker_info, random_split)

__all__ = ["BatchSampler", "ConcatDataset", "DataLoader", "Dataset", "DistributedSampler", "IterableDataset",
           "RandomSampler", "Sampler", "SequentialSampler", "Subset", "SubsetRandomSampler", "TensorDataset",
           "WeightedRandomSampler", "WorkerInfo", "default_collate", "default_convert", "get_worker_info",
           "random_split"]
