"""``deepgrad.nn.functional``: the stateless functions behind the layers (PyTorch names and semantics)."""
from ...ops import (elu, gelu, leaky_relu, log_softmax, pad, relu, sigmoid, softmax, softplus, tanh)
from .conv import (conv1d, conv2d, conv3d, conv_output_size, conv_transpose1d, conv_transpose2d,
                   conv_transpose3d)
from .pooling import (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_max_pool1d, adaptive_max_pool2d,
                      avg_pool1d, avg_pool2d, max_pool1d, max_pool2d, max_unpool1d, max_unpool2d)
