"""Argument errors of the convolution and pooling functions: each kind raises ValueError or TypeError
with a message that names the argument and the numbers involved."""
import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as F


def randn(*shape, dtype=dg.float32):
    return dg.randn(*shape, dtype=dtype)


@pytest.mark.parametrize("call,match", [
    (lambda: F.conv2d(randn(2, 4, 5, 5), randn(6, 4, 7, 3)),
     r"conv2d: the \(dilated\) kernel extent 7 on spatial axis 0 is larger than the padded input \(5 \+ 0 \+ 0 = 5\)"),
    (lambda: F.conv1d(randn(1, 2, 4), randn(1, 2, 3), dilation=2),
     r"conv1d: the \(dilated\) kernel extent 5 .* padded input \(4 \+ 0 \+ 0 = 4\)"),
    (lambda: F.conv2d(randn(1, 1, 3, 6), randn(1, 1, 3, 9), padding=(0, 1)),
     r"kernel extent 9 on spatial axis 1 .* \(6 \+ 1 \+ 1 = 8\)"),
    (lambda: F.max_pool1d(randn(1, 1, 3), 4),
     r"max_pool1d: the \(dilated\) kernel extent 4 .* \(3 \+ 2·0 = 3\)"),
    (lambda: F.avg_pool2d(randn(1, 1, 3, 3), (2, 6), padding=(0, 1)),
     r"avg_pool2d: the \(dilated\) kernel extent 6 on spatial axis 1 .* \(3 \+ 2·1 = 5\)"),
], ids=["conv2d", "conv1d-dilated", "conv2d-padded-axis1", "max_pool1d", "avg_pool2d"])
def test_kernel_larger_than_padded_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("arg,value,shown", [("stride", (0, 1), r"\(0, 1\)"), ("stride", -1, r"\(-1, -1\)"),
                                             ("dilation", 0, r"\(0, 0\)"), ("dilation", (1, -2), r"\(1, -2\)")])
def test_stride_or_dilation_below_one(arg, value, shown):
    with pytest.raises(ValueError, match=rf"conv2d: {arg} must be >= 1, got {shown}"):
        F.conv2d(randn(1, 2, 5, 5), randn(3, 2, 2, 2), **{arg: value})
    with pytest.raises(ValueError, match=rf"conv_transpose2d: {arg} must be >= 1, got {shown}"):
        F.conv_transpose2d(randn(1, 2, 5, 5), randn(2, 3, 2, 2), **{arg: value})
    with pytest.raises(ValueError, match=rf"max_pool2d: {arg} must be >= 1, got {shown}"):
        F.max_pool2d(randn(1, 2, 5, 5), 2, **{arg: value})


def test_stride_of_wrong_type_or_length():
    with pytest.raises(TypeError, match=r"conv1d: stride must be an int or a tuple of 1 ints, got 1\.5"):
        F.conv1d(randn(1, 2, 4), randn(1, 2, 3), stride=1.5)
    with pytest.raises(ValueError, match=r"conv2d: padding must be an int or a tuple of 2 ints, got \(1, 2, 3\)"):
        F.conv2d(randn(1, 2, 5, 5), randn(1, 2, 3, 3), padding=(1, 2, 3))
    with pytest.raises(ValueError, match=r"conv1d: padding must be >= 0, got \(-1,\)"):
        F.conv1d(randn(1, 2, 4), randn(1, 2, 3), padding=-1)


def test_channels_not_divisible_by_groups():
    with pytest.raises(ValueError, match=r"conv2d: input channels 3 are not divisible by groups=2"):
        F.conv2d(randn(1, 3, 5, 5), randn(4, 1, 3, 3), groups=2)
    with pytest.raises(ValueError, match=r"conv1d: out channels weight.shape\[0\]=3 are not divisible by groups=2"):
        F.conv1d(randn(1, 4, 5), randn(3, 2, 3), groups=2)
    with pytest.raises(ValueError, match=r"conv_transpose1d: input channels 5 are not divisible by groups=2"):
        F.conv_transpose1d(randn(1, 5, 5), randn(5, 1, 3), groups=2)
    with pytest.raises(ValueError, match=r"conv2d: groups must be a positive int, got 0"):
        F.conv2d(randn(1, 4, 5, 5), randn(4, 4, 3, 3), groups=0)


def test_channels_disagree_with_weight():
    with pytest.raises(ValueError, match=r"conv2d: input has 6 channels but weight expects "
                                         r"weight.shape\[1\] \* groups = 2 \* 2 = 4"):
        F.conv2d(randn(1, 6, 5, 5), randn(4, 2, 3, 3), groups=2)
    with pytest.raises(ValueError, match=r"conv_transpose2d: input has 4 channels but weight.shape\[0\] is 3"):
        F.conv_transpose2d(randn(1, 4, 5, 5), randn(3, 2, 3, 3))


@pytest.mark.parametrize("call,match", [
    (lambda: F.conv2d(randn(2, 4, 5, 5), randn(6, 4, 3)),
     r"conv2d: weight must have 4 dimensions \(out, in/groups, kernel...\), got shape \(6, 4, 3\)"),
    (lambda: F.conv1d(randn(2, 4, 5), randn(6, 4, 3, 3)),
     r"conv1d: weight must have 3 dimensions .* got shape \(6, 4, 3, 3\)"),
    (lambda: F.conv_transpose2d(randn(2, 4, 5, 5), randn(4, 2, 3)),
     r"conv_transpose2d: weight must have 4 dimensions \(in, out/groups, kernel...\), got shape \(4, 2, 3\)"),
], ids=["conv2d", "conv1d", "conv_transpose2d"])
def test_wrong_weight_rank(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_wrong_input_rank():
    with pytest.raises(ValueError, match=r"conv2d: expected input of shape \(N, C, H, W\) or unbatched "
                                         r"\(C, ...\), i.e. 4 or 3 dimensions, got shape \(4, 5\)"):
        F.conv2d(randn(4, 5), randn(2, 4, 3, 3))


def test_mismatched_dtypes():
    with pytest.raises(TypeError, match=r"conv2d: input dtype float32 and weight dtype float64 differ"):
        F.conv2d(randn(1, 2, 5, 5), randn(3, 2, 3, 3, dtype=dg.float64))
    with pytest.raises(TypeError, match=r"conv_transpose1d: input dtype float64 and weight dtype float32 differ"):
        F.conv_transpose1d(randn(1, 2, 5, dtype=dg.float64), randn(2, 3, 3))
    with pytest.raises(TypeError, match=r"conv1d: bias dtype float64 and input dtype float32 differ"):
        F.conv1d(randn(1, 2, 5), randn(3, 2, 3), randn(3, dtype=dg.float64))
    with pytest.raises(TypeError, match=r"conv1d: needs floating-point tensors, got dtype int64"):
        F.conv1d(dg.tensor(np.ones((1, 1, 3), np.int64)), dg.tensor(np.ones((1, 1, 1), np.int64)))


def test_bad_bias_shape():
    with pytest.raises(ValueError, match=r"conv2d: bias must have shape \(6,\) \(one per output channel\), got \(5,\)"):
        F.conv2d(randn(2, 4, 5, 5), randn(6, 4, 3, 3), randn(5))
    with pytest.raises(ValueError, match=r"conv_transpose2d: bias must have shape \(6,\) .* got \(1, 6\)"):
        F.conv_transpose2d(randn(2, 4, 5, 5), randn(4, 3, 3, 3), randn(1, 6), groups=2)


def test_padding_same_needs_stride_one():
    with pytest.raises(ValueError,
                       match=r"conv2d: padding='same' needs stride 1 \(as in PyTorch\), got stride \(1, 2\)"):
        F.conv2d(randn(1, 2, 5, 5), randn(3, 2, 3, 3), padding="same", stride=(1, 2))
    with pytest.raises(ValueError, match=r"conv1d: padding='same' needs stride 1 .* got stride \(2,\)"):
        F.conv1d(randn(1, 2, 5), randn(3, 2, 3), padding="same", stride=2)


@pytest.mark.parametrize("padding", ["sam", "SAME", "wide"])
def test_bad_padding_string(padding):
    with pytest.raises(ValueError, match=rf"conv2d: padding must be an int, a tuple, 'valid', 'same' or 'full', "
                                         rf"got '{padding}'"):
        F.conv2d(randn(1, 2, 5, 5), randn(3, 2, 3, 3), padding=padding)


def test_output_padding_too_large():
    with pytest.raises(ValueError, match=r"conv_transpose2d: output_padding 2 must be smaller than stride or "
                                         r"dilation \(stride \(2, 2\), dilation \(1, 1\)\)"):
        F.conv_transpose2d(randn(1, 4, 5, 5), randn(4, 2, 3, 3), stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"conv_transpose1d: output_padding 3 .* \(stride \(2,\), dilation \(3,\)\)"):
        F.conv_transpose1d(randn(1, 2, 4), randn(2, 1, 3), stride=2, dilation=3, output_padding=3)
    with pytest.raises(ValueError, match=r"conv_transpose2d: output_padding \(0, 1\) .* \(stride \(2, 1\), "
                                         r"dilation \(1, 1\)\)"):
        F.conv_transpose2d(randn(1, 4, 5, 5), randn(4, 2, 3, 3), stride=(2, 1), output_padding=(0, 1))
    # below the limit it works (output_padding < max(stride, dilation), as in PyTorch)
    y = F.conv_transpose1d(randn(1, 2, 4), randn(2, 1, 3), stride=1, dilation=3, output_padding=2)
    assert y.shape == (1, 1, 12)


def test_conv_transpose_padding_crops_everything():
    with pytest.raises(ValueError, match=r"conv_transpose1d: padding 1 crops the output of input \(1, 2, 1\) "
                                         r"to an empty size \(-1,\)"):
        F.conv_transpose1d(randn(1, 2, 1), randn(2, 1, 1), padding=1)


@pytest.mark.parametrize("call,match", [
    (lambda: F.max_pool2d(randn(1, 1, 6, 6), 3, padding=2),
     r"max_pool2d: padding 2 on axis 0 must be at most half of the \(dilated\) kernel extent 3"),
    (lambda: F.max_pool2d(randn(1, 1, 6, 6), (3, 2), padding=(1, 2)),
     r"max_pool2d: padding 2 on axis 1 must be at most half of the \(dilated\) kernel extent 2"),
    (lambda: F.max_pool1d(randn(1, 2, 9), 2, dilation=3, padding=3),
     r"max_pool1d: padding 3 on axis 0 must be at most half of the \(dilated\) kernel extent 4"),
    (lambda: F.avg_pool1d(randn(1, 2, 9), 3, padding=2),
     r"avg_pool1d: padding 2 on axis 0 must be at most half of the \(dilated\) kernel extent 3"),
], ids=["max_pool2d", "max_pool2d-axis1", "max_pool1d-dilated", "avg_pool1d"])
def test_pool_padding_more_than_half_kernel(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_other_pooling_arguments():
    with pytest.raises(ValueError, match=r"avg_pool2d: divisor_override must be a non-zero int, got 0"):
        F.avg_pool2d(randn(1, 1, 4, 4), 2, divisor_override=0)
    with pytest.raises(ValueError, match=r"adaptive_avg_pool1d: output_size must be >= 1, got \(0,\)"):
        F.adaptive_avg_pool1d(randn(1, 2, 5), 0)
    with pytest.raises(ValueError, match=r"max_unpool1d: indices must lie in \[0, 4\) for output size \(4,\), "
                                         r"got \[0, 9\]"):
        F.max_unpool1d(randn(1, 1, 2), dg.tensor(np.array([[[0, 9]]])), 2)
    with pytest.raises(ValueError, match=r"max_unpool1d: indices have shape \(1, 1, 3\) but the input has "
                                         r"shape \(1, 1, 2\)"):
        F.max_unpool1d(randn(1, 1, 2), dg.tensor(np.array([[[0, 1, 2]]])), 2)
    with pytest.raises(TypeError, match=r"max_pool1d: needs a floating-point tensor, got dtype int64"):
        F.max_pool1d(dg.tensor(np.ones((1, 1, 4), np.int64)), 2)
