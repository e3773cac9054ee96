"""Convolution layers' functions, PyTorch semantics and layout (NCL / NCHW): ``conv1d``, ``conv2d``,
``conv3d``, ``conv_transpose1d/2d/3d``, and the output-size formula ``conv_output_size``.
They compute cross-correlations (seed eq. 4.1.7); ``deepgrad.signal`` has true convolution."""
from ... import backend
from ...ops import conv as prim
from ...ops.common import lift
from ._args import check_input, effective_kernel, ntuple, out_sizes


def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    """Output length (M − K' + 2P) // S + 1 with K' = K + (K − 1)(D − 1) (seed 4.1.3, 4.5.2).
    ``padding`` may be an int (P on each side), "valid" (narrow), "same" (equal-width) or "full" (wide)."""
    op = "conv_output_size"
    (lo,), (hi,) = resolve_padding(op, padding, 1, (kernel_size,), (stride,), (dilation,))
    return out_sizes(op, (size,), (kernel_size,), (stride,), (lo,), (hi,), (dilation,))[0]


def transpose_sizes(sizes, kernel, stride, padding, dilation, output_padding):
    """Output sizes of a transposed convolution per axis: (M − 1)·S − 2P + D·(K − 1) + output_padding + 1."""
    return tuple((m - 1) * s - 2 * p + d * (k - 1) + e + 1
                 for m, k, s, p, d, e in zip(sizes, kernel, stride, padding, dilation, output_padding))


def resolve_padding(op, padding, nd, kernel, stride, dilation):
    """(lo, hi) padding per axis from an int, a tuple, "valid", "same" (PyTorch's split: the extra
    element goes after) or "full" (the chapter's wide convolution, K' − 1 per side)."""
    if isinstance(padding, str):
        eff = effective_kernel(kernel, dilation)
        if padding == "valid":
            return (0,) * nd, (0,) * nd
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' needs stride 1 (as in PyTorch), got stride {stride}")
            lo = tuple((k - 1) // 2 for k in eff)
            return lo, tuple(k - 1 - l for k, l in zip(eff, lo))
        if padding == "full":
            full = tuple(k - 1 for k in eff)
            return full, full
        raise ValueError(f"{op}: padding must be an int, a tuple, 'valid', 'same' or 'full', got {padding!r}")
    pad = ntuple(padding, nd, f"{op}: padding", minimum=0)
    return pad, pad


def _check_weight(op, x, weight, groups, nd, transposed):
    if weight.ndim != nd + 2:
        raise ValueError(f"{op}: weight must have {nd + 2} dimensions "
                         f"({'in, out/groups' if transposed else 'out, in/groups'}, kernel...), got shape {weight.shape}")
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    c = x.shape[1]
    if c % groups:
        raise ValueError(f"{op}: input channels {c} are not divisible by groups={groups}")
    if transposed:
        if weight.shape[0] != c:
            raise ValueError(f"{op}: input has {c} channels but weight.shape[0] is {weight.shape[0]}")
    else:
        if weight.shape[0] % groups:
            raise ValueError(f"{op}: out channels weight.shape[0]={weight.shape[0]} are not divisible by groups={groups}")
        if weight.shape[1] * groups != c:
            raise ValueError(f"{op}: input has {c} channels but weight expects weight.shape[1] * groups = "
                             f"{weight.shape[1]} * {groups} = {weight.shape[1] * groups}")
    if x.dtype != weight.dtype:
        raise TypeError(f"{op}: input dtype {x.dtype} and weight dtype {weight.dtype} differ")
    if not backend.is_floating(x.dtype):
        raise TypeError(f"{op}: needs floating-point tensors, got dtype {x.dtype}")
    if 0 in weight.shape:
        raise ValueError(f"{op}: weight of shape {weight.shape} is empty")


def _add_bias(op, y, bias, nd):
    if bias is None:
        return y
    bias = lift(bias)
    if bias.shape != (y.shape[1],):
        raise ValueError(f"{op}: bias must have shape ({y.shape[1]},) (one per output channel), got {bias.shape}")
    if bias.dtype != y.dtype:
        raise TypeError(f"{op}: bias dtype {bias.dtype} and input dtype {y.dtype} differ")
    return y + bias.reshape((1, y.shape[1]) + (1,) * nd)


def _operands(op, nd, input, weight, groups, stride, dilation, transposed):
    """Checked (x, batched, weight, stride, dilation) of a convolution: tensors, and per-axis tuples."""
    x, batched = check_input(op, lift(input), nd)
    weight = lift(weight)
    _check_weight(op, x, weight, groups, nd, transposed=transposed)
    return x, batched, weight, ntuple(stride, nd, f"{op}: stride"), ntuple(dilation, nd, f"{op}: dilation")


def _conv(nd, input, weight, bias, stride, padding, dilation, groups):
    op = f"conv{nd}d"
    x, batched, weight, stride, dilation = _operands(op, nd, input, weight, groups, stride, dilation, False)
    kernel = weight.shape[2:]
    lo, hi = resolve_padding(op, padding, nd, kernel, stride, dilation)
    size = out_sizes(op, x.shape[2:], kernel, stride, lo, hi, dilation)
    y = _add_bias(op, prim.conv(x, weight, stride, lo, dilation, groups, size), bias, nd)
    return y if batched else y.squeeze(0)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation over (N, C_in, L) with weight (C_out, C_in/groups, K)."""
    return _conv(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation over (N, C_in, H, W) with weight (C_out, C_in/groups, U, V) (seed eq. 4.2.2)."""
    return _conv(2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(3, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(nd, input, weight, bias, stride, padding, output_padding, groups, dilation):
    op = f"conv_transpose{nd}d"
    x, batched, weight, stride, dilation = _operands(op, nd, input, weight, groups, stride, dilation, True)
    kernel = weight.shape[2:]
    pad = ntuple(padding, nd, f"{op}: padding", minimum=0)
    extra = ntuple(output_padding, nd, f"{op}: output_padding", minimum=0)
    for e, s, d in zip(extra, stride, dilation):
        if e >= max(s, d):
            raise ValueError(f"{op}: output_padding {output_padding} must be smaller than stride or dilation "
                             f"(stride {stride}, dilation {dilation})")
    size = transpose_sizes(x.shape[2:], kernel, stride, pad, dilation, extra)
    if any(n < 1 for n in size):
        raise ValueError(f"{op}: padding {padding} crops the output of input {x.shape} to an empty size {size}")
    y = _add_bias(op, prim.conv_transpose(x, weight, stride, pad, dilation, groups, size), bias, nd)
    return y if batched else y.squeeze(0)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed (fractionally-strided) 1-D convolution (seed 4.5.1); weight (C_in, C_out/groups, K).
    Output length (L − 1)·S − 2P + D·(K − 1) + output_padding + 1."""
    return _conv_transpose(1, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed (fractionally-strided) 2-D convolution (seed 4.5.1); weight (C_in, C_out/groups, U, V)."""
    return _conv_transpose(2, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _conv_transpose(3, input, weight, bias, stride, padding, output_padding, groups, dilation)
