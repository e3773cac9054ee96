"""The layers of ``deepgrad.nn``, split by topic; all are re-exported from ``deepgrad.nn``."""
from .activation import ELU, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Softplus, Tanh
from .conv import (Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d, LazyConv1d, LazyConv2d,
                   LazyConv3d, LazyConvTranspose1d, LazyConvTranspose2d, LazyConvTranspose3d)
from .deform import DeformConv2d
from .dropout import Dropout, Dropout1d, Dropout2d, Dropout3d
from .highway import Highway
from .lenet import ScaledTanh, Subsampling
from .linear import LazyLinear, Linear
from .misc import Flatten, Identity, Unflatten
from .normalization import (BatchNorm1d, BatchNorm2d, BatchNorm3d, GroupNorm, LayerNorm, LazyBatchNorm1d, LazyBatchNorm2d,
                            LazyBatchNorm3d)
from .pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool1d, AdaptiveMaxPool2d, AvgPool1d,
                      AvgPool2d, MaxPool1d, MaxPool2d, MaxUnpool1d, MaxUnpool2d)
from .residual import BasicBlock, Bottleneck, Residual, ResidualUnit
from .sync_batchnorm import SyncBatchNorm

__all__ = [name for name in dir() if not name.startswith("_") and name not in
           ("activation", "conv", "deform", "dropout", "highway", "lenet", "linear", "misc", "normalization",
            "pooling", "residual", "sync_batchnorm")]
