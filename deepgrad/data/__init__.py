"""Data loading (layer 5 of DESIGN.md): datasets, samplers, the DataLoader (a prefetch thread or worker
processes), image transforms. ``deepgrad.utils.data`` is the same under PyTorch's module name.

    from deepgrad.data import DataLoader, MNIST, transforms as T
    train = MNIST(train=True, transform=T.RandomAffine(degrees=10, translate=(0.1, 0.1)))
    for images, labels in DataLoader(train, batch_size=128, shuffle=True):
        ...   # images: float32 Tensor (128, 1, 28, 28) in [0, 1]; labels: int64 Tensor (128,)
"""
from . import datasets, transforms
from ._random import current_generator
from .dataset import ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from .datasets import CIFAR10, MNIST, Digits, FashionMNIST, ImageFolder, data_home, digits, read_idx
from .download import DownloadError, download_file
from .loader import DataLoader, default_collate, default_convert
from .sampler import (BatchSampler, DistributedSampler, RandomSampler, Sampler, SequentialSampler,
                      SubsetRandomSampler, WeightedRandomSampler)
from .segmentation import MNISTCanvas
from .worker import WorkerInfo, get_worker_info

__all__ = ["datasets", "transforms", "current_generator", "ConcatDataset", "Dataset", "IterableDataset", "Subset",
           "TensorDataset", "random_split", "CIFAR10", "MNIST", "Digits", "FashionMNIST", "ImageFolder", "data_home",
           "digits", "read_idx", "MNISTCanvas", "DownloadError", "download_file", "DataLoader", "default_collate",
           "default_convert",
           "BatchSampler", "DistributedSampler", "RandomSampler", "Sampler", "SequentialSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "WorkerInfo", "get_worker_info"]
