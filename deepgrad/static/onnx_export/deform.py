"""ONNX form of deformable convolution's sampling (``deform_conv2d``): the ``sample`` primitive becomes one
``DeformConv`` node (opset >= 19).

``sample`` reads x (N, C, H, W) bilinearly at points (py, px) of shape (N, G, K, Ho, Wo); torchvision's
rule, which ONNX's DeformConv shares: zero outside the input. The node is a DeformConv whose kernel is a
row of K taps, with ``group`` = C and one-hot weights (output map c·K + k copies tap k of channel c), so its
output (N, C·K, Ho, Wo) is the sample reshaped; its offsets are the points less the taps' regular grid,
whose strides and (end) paddings are chosen only to give the output size Ho × Wo. The mask, the weights
and the bias of ``deform_conv2d`` follow as the Mul, MatMul and Add the rest of the graph exports to.
"""
from ... import backend
from .converters import _register

np = backend.numpy


def _grid(n_in, taps, n_out):
    """(stride, end padding) so that a convolution of ``taps`` taps over ``n_in`` gives ``n_out`` outputs."""
    if n_out == 1:
        pad = max(0, taps - n_in)
        return n_in + pad - taps + 1, pad
    stride = max(1, -(-(n_in - taps) // (n_out - 1)))
    return stride, (n_out - 1) * stride + taps - n_in


@_register("sample")
def _sample(b, eq, ins):
    x, py, px = eq.ins
    if tuple(eq.params["order"]) != (0, 0):
        raise NotImplementedError("(a derivative of bilinear sampling, from a backward pass) has no ONNX form")
    if b.opset < 19:
        raise NotImplementedError(f"(deformable convolution's sampling) needs ONNX's DeformConv, opset >= 19; "
                                  f"got opset {b.opset}")
    _, c, h, w = x.shape
    _, g, k, ho, wo = py.shape
    (sh, ph), (sw, pw) = _grid(h, 1, ho), _grid(w, k, wo)
    rows = (np.arange(ho) * sh)[None, :, None] + np.zeros((k, 1, wo))
    cols = (np.arange(wo) * sw)[None, None, :] + np.arange(k)[:, None, None] + np.zeros((1, ho, 1))
    dims = b.dims(py)
    pair = [b.unsqueeze(b.node("Sub", [name, b.const(base.astype(py.dtype))]), [3])
            for name, base in ((ins[1], rows), (ins[2], cols))]
    offset = b.reshape(b.node("Concat", pair, axis=3), dims[:3] + (2,) + dims[3:],
                       (dims[0], g * k * 2, ho, wo))
    weight = np.zeros((c * k, 1, 1, k), x.dtype)
    weight[np.arange(c * k), 0, 0, np.tile(np.arange(k), c)] = 1
    out = b.node("DeformConv", [ins[0], b.const(weight), offset], kernel_shape=[1, k], strides=[sh, sw],
                 pads=[0, 0, ph, pw], group=c, offset_group=g)
    return b.reshape(out, (dims[0], c * k, ho, wo), b.dims(eq.out))
