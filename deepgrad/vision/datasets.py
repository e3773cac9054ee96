"""torchvision.datasets' names for deepgrad's datasets (``deepgrad.data.datasets``). As in torchvision, a
``root`` may be the folder above ``MNIST/raw``; installed copies are still found before any download."""
from ..data.datasets import CIFAR10, MNIST, FashionMNIST, ImageFolder  # noqa: F401

__all__ = ["CIFAR10", "MNIST", "FashionMNIST", "ImageFolder"]
