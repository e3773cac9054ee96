"""``deepgrad.nn.functional``: the stateless functions behind the layers (PyTorch names and semantics)."""
from ...ops import (elu, gelu, leaky_relu, log_softmax, pad, relu, sigmoid, softmax, softplus, tanh)
from ...ops import one_hot
from .conv import (conv1d, conv2d, conv3d, conv_output_size, conv_transpose1d, conv_transpose2d,
                   conv_transpose3d)
from .pooling import (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_max_pool1d, adaptive_max_pool2d,
                      avg_pool1d, avg_pool2d, max_pool1d, max_pool2d, max_unpool1d, max_unpool2d)
from .linear import linear
from .normalization import batch_norm, group_norm, layer_norm
from .dropout import dropout, dropout1d, dropout2d, dropout3d
from .loss import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, huber_loss, kl_div, l1_loss, mse_loss, nll_loss, smooth_l1_loss)
