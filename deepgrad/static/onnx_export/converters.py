"""ONNX nodes for each deepgrad primitive: one converter per primitive name, registered in ``CONVERTERS``."""
from ... import backend
from ..ir import Var

np = backend.numpy

INT64_MAX = 2 ** 63 - 1
INT64_MIN = -2 ** 63
DEFAULT_OPSET = 17
MIN_OPSET = 13

CONVERTERS = {}


def _register(*names):
    def deco(fn):
        for n in names:
            CONVERTERS[n] = fn
        return fn
    return deco




_UNARY = {"identity": "Identity", "copy": "Identity", "neg": "Neg", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "abs": "Abs",
          "sin": "Sin", "cos": "Cos", "erf": "Erf", "tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu"}
_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow", "maximum": "Max",
           "minimum": "Min"}
_COMPARE = {"less": "Less", "lessequal": "LessOrEqual", "greater": "Greater", "greaterequal": "GreaterOrEqual",
            "equal": "Equal", "notequal": "NotEqual", "logicaland": "And", "logicalor": "Or"}


def _operands(b, eq, ins, dtype):
    return [b.cast(n, v.dtype, dtype) for n, v in zip(ins, eq.ins)]


@_register(*_UNARY)
def _unary(b, eq, ins):
    return b.node(_UNARY[eq.name], _operands(b, eq, ins, eq.out.dtype))


@_register(*_BINARY)
def _binary(b, eq, ins):
    return b.node(_BINARY[eq.name], _operands(b, eq, ins, eq.out.dtype))


def _compare_op(b, op, names, dtypes):
    if op in ("And", "Or", "Xor"):
        return b.node(op, [b.cast(n, d, np.bool_) for n, d in zip(names, dtypes)])
    common = np.result_type(*dtypes)
    names = [b.cast(n, d, common) for n, d in zip(names, dtypes)]
    if op == "NotEqual":
        return b.node("Not", [b.node("Equal", names)])
    return b.node(op, names)


@_register(*_COMPARE)
def _compare(b, eq, ins):
    return _compare_op(b, _COMPARE[eq.name], ins, [v.dtype for v in eq.ins])


@_register("log1p")
def _log1p(b, eq, ins):
    (x,) = _operands(b, eq, ins, eq.out.dtype)
    return b.node("Log", [b.node("Add", [x, b.const(1, eq.out.dtype)])])


@_register("expm1")
def _expm1(b, eq, ins):
    (x,) = _operands(b, eq, ins, eq.out.dtype)
    return b.node("Sub", [b.node("Exp", [x]), b.const(1, eq.out.dtype)])


@_register("tanhgrad")
def _tanh_grad(b, eq, ins):
    g, y = _operands(b, eq, ins, eq.out.dtype)
    one = b.const(1, eq.out.dtype)
    return b.node("Mul", [g, b.node("Sub", [one, b.node("Mul", [y, y])])])


@_register("sigmoidgrad")
def _sigmoid_grad(b, eq, ins):
    g, y = _operands(b, eq, ins, eq.out.dtype)
    one = b.const(1, eq.out.dtype)
    return b.node("Mul", [b.node("Mul", [g, y]), b.node("Sub", [one, y])])


@_register("powscalar")
def _pow_scalar(b, eq, ins):
    (x,) = _operands(b, eq, ins, eq.out.dtype)
    e = eq.params["exponent"]
    if e == 2:
        return b.node("Mul", [x, x])
    if e == 1:
        return b.node("Identity", [x])
    return b.node("Pow", [x, b.const(e, eq.out.dtype)])


@_register("astype")
def _astype(b, eq, ins):
    return b.node("Cast", ins, to=b.dtype_code(eq.out.dtype))


@_register("clip")
def _clip(b, eq, ins):
    (x,) = _operands(b, eq, ins, eq.out.dtype)
    lo, hi = eq.params["lo"], eq.params["hi"]
    return b.node("Clip", [x, "" if lo is None else b.const(lo, eq.out.dtype),
                           "" if hi is None else b.const(hi, eq.out.dtype)])


@_register("where")
def _where(b, eq, ins):
    cond = b.cast(ins[0], eq.ins[0].dtype, np.bool_)
    x, y = [b.cast(n, v.dtype, eq.out.dtype) for n, v in zip(ins[1:], eq.ins[1:])]
    return b.node("Where", [cond, x, y])


@_register("matmul")
def _matmul(b, eq, ins):
    return b.node("MatMul", _operands(b, eq, ins, eq.out.dtype))


_REDUCE = {"sum": "ReduceSum", "max": "ReduceMax", "min": "ReduceMin", "prod": "ReduceProd",
           "logsumexp": "ReduceLogSumExp"}


@_register(*_REDUCE)
def _reduction(b, eq, ins):
    x = eq.ins[0]
    return b.reduce(_REDUCE[eq.name], ins[0], eq.params["axes"], eq.params["keepdims"], len(x.shape))


@_register("softmax", "logsoftmax")
def _softmax(b, eq, ins):
    op = "Softmax" if eq.name == "softmax" else "LogSoftmax"
    return b.node(op, ins, axis=int(eq.params["axis"]))


@_register("reshape")
def _reshape(b, eq, ins):
    return b.reshape(ins[0], b.dims(eq.ins[0]), b.dims(eq.out))


@_register("permute")
def _permute(b, eq, ins):
    return b.node("Transpose", ins, perm=[int(p) for p in eq.params["perm"]])


@_register("broadcastto")
def _broadcast_to(b, eq, ins):
    return b.expand(ins[0], b.dims(eq.ins[0]), b.dims(eq.out))


@_register("concatenate")
def _concatenate(b, eq, ins):
    return b.node("Concat", _operands(b, eq, ins, eq.out.dtype), axis=int(eq.params["axis"]))


@_register("pad")
def _pad(b, eq, ins):
    widths = eq.params["widths"]
    pads = [int(w[0]) for w in widths] + [int(w[1]) for w in widths]
    value = b.const(np.asarray(eq.params["value"], eq.out.dtype))
    return b.node("Pad", [ins[0], b.ints(pads), value], mode="constant")


@_register("flip")
def _flip(b, eq, ins):
    axes = list(eq.params["axes"])
    return b.slice(ins[0], [-1] * len(axes), [INT64_MIN] * len(axes), axes, [-1] * len(axes))


@_register("getitem")
def _getitem_prim(b, eq, ins):
    return _getitem(b, ins[0], eq.ins[0], eq.out, eq.params["index"])


def _index_value(b, item):
    """An index array of ``getitem``: (ONNX name of an int64 tensor, its shape)."""
    if isinstance(item, Var):
        if item.dtype == np.bool_:
            raise NotImplementedError("ONNX export: getitem with a boolean mask computed in the graph is not "
                                      "supported")
        return b.cast(b.names[item], item.dtype, np.int64), b.dims(item)
    array = np.asarray(item)
    if array.dtype == np.bool_:
        raise NotImplementedError("ONNX export: getitem with a boolean mask inside a NumPy-level equation")
    return b.const(array.astype(np.int64)), array.shape


def _getitem(b, name, x, out, index):
    """NumPy indexing of ``x`` (ONNX value ``name``) by ``index`` (ints, slices, None, Ellipsis,
    integer arrays: constants or Vars)."""
    items = list(index) if isinstance(index, tuple) else [index]
    items = [np.asarray(i).nonzero() if isinstance(i, np.ndarray) and i.dtype == np.bool_ else (i,)
             for i in items]
    items = [j for group in items for j in group]
    ndim = len(x.shape)
    consumed = sum(1 for i in items if i is not None and i is not Ellipsis)
    if consumed > ndim:
        raise NotImplementedError(f"getitem: too many indices ({consumed}) for {ndim} dimensions")
    dots = [k for k, i in enumerate(items) if i is Ellipsis]
    fill = [slice(None)] * (ndim - consumed)
    items = items[:dots[0]] + fill + items[dots[0] + 1:] if dots else items + fill

    def is_array(i):
        return isinstance(i, (np.ndarray, Var))

    def is_int(i):
        return isinstance(i, (int, np.integer)) and not isinstance(i, bool)

    arrays = any(is_array(i) for i in items)
    starts, ends, axes, steps, squeeze, new_axes = [], [], [], [], [], []
    axis, out_pos = 0, 0
    advanced = []                  # (axis, item) of the advanced indices
    for pos, i in enumerate(items):
        if i is None:
            if arrays:
                raise NotImplementedError("getitem mixing None and index arrays is not supported")
            new_axes.append(out_pos)
            out_pos += 1
            continue
        if isinstance(i, slice):
            if not (i.start is None and i.stop is None and i.step in (None, 1)):
                if any(isinstance(s, Var) for s in (i.start, i.stop, i.step)):
                    raise NotImplementedError("getitem with slice bounds computed in the graph is not supported")
                step = 1 if i.step is None else int(i.step)
                start = (0 if step > 0 else INT64_MAX) if i.start is None else int(i.start)
                stop = (INT64_MAX if step > 0 else INT64_MIN) if i.stop is None else int(i.stop)
                starts.append(start)
                ends.append(stop)
                axes.append(axis)
                steps.append(step)
            axis += 1
            out_pos += 1
        elif is_int(i) and not arrays:
            i = int(i)
            starts.append(i)
            ends.append(i + 1 if i != -1 else INT64_MAX)
            axes.append(axis)
            steps.append(1)
            squeeze.append(axis)
            axis += 1
        else:
            advanced.append((axis, pos, i))
            axis += 1
    y = b.slice(name, starts, ends, axes, steps)
    if not arrays:
        y = b.squeeze(y, squeeze)
        y = b.unsqueeze(y, new_axes)
        if y is name:
            y = b.node("Identity", [name])
        return y
    # advanced indexing on the sliced tensor (all its axes still there)
    values = []
    for ax, _, item in advanced:
        if is_int(item):
            values.append((b.const(np.asarray(int(item), np.int64)), ()))
        else:
            values.append(_index_value(b, item))
    if len(advanced) == 1:
        return b.node("Gather", [y, values[0][0]], axis=advanced[0][0])
    positions = [a for a, _, _ in advanced]
    contiguous = [p for _, p, _ in advanced] == list(range(advanced[0][1], advanced[0][1] + len(advanced)))
    others = [a for a in range(ndim) if a not in positions]
    y = b.node("Transpose", [y], perm=positions + others)
    shapes = [s for _, s in values]
    bshape = _broadcast_dims(shapes)
    stacked = []
    for (n, s) in values:
        n = b.expand(n, s, bshape)
        stacked.append(b.unsqueeze(n, [len(bshape)]))
    index = b.node("Concat", stacked, axis=-1)
    y = b.node("GatherND", [y, index])
    if contiguous and positions[0] > 0:
        nb, first = len(bshape), positions[0]
        rest = list(range(nb, nb + len(others)))
        perm = rest[:first] + list(range(nb)) + rest[first:]
        y = b.node("Transpose", [y], perm=perm)
    return y


def _broadcast_dims(shapes):
    nd = max(len(s) for s in shapes)
    out = []
    for i in range(nd):
        d = 1
        for s in shapes:
            j = i - (nd - len(s))
            if j >= 0 and s[j] != 1:
                d = s[j]
        out.append(d)
    return tuple(out)


# ---- convolution and pooling
def _fit(b, name, x_dims, lo, size, extent, stride, pad_value=None, dtype=None, max_pad=None):
    """Pads (before, after) for a windowed op producing ``size`` outputs: ``lo`` before, what the size
    implies after (floor rule). Negative pads crop the input; pads a runtime cannot take as attributes
    (``max_pad``: e.g. pooling's "pad smaller than the kernel") are applied with a Pad node."""
    spatial = x_dims[2:]
    before, after, pre_before, pre_after = [], [], [], []
    for m, l, n, e, s, k in zip(spatial, lo, size, extent, stride, max_pad or extent):
        l = int(l)
        crop_lo = -l if l < 0 else 0
        l = max(l, 0)
        m2 = m - crop_lo
        hi = (n - 1) * s + e - m2 - l
        crop_hi = 0
        if hi < 0:
            if hi > -s:
                hi = 0
            else:
                crop_hi, hi = -hi, 0
        if max_pad is not None and (l >= k or hi >= k):
            pre_before.append(l - crop_lo)
            pre_after.append(hi - crop_hi)
            before.append(0)
            after.append(0)
        else:
            pre_before.append(-crop_lo)
            pre_after.append(-crop_hi)
            before.append(l)
            after.append(hi)
    if any(pre_before) or any(pre_after):
        name = b.crop_pad(name, x_dims, pre_before, pre_after, pad_value, dtype)
    return name, before + after


@_register("conv")
def _conv(b, eq, ins):
    x, w = eq.ins
    p = eq.params
    kernel = w.shape[2:]
    extent = [(k - 1) * d + 1 for k, d in zip(kernel, p["dilation"])]
    name, pads = _fit(b, ins[0], b.dims(x), p["lo"], p["size"], extent, p["stride"])
    xw = _operands(b, eq, [name, ins[1]], eq.out.dtype)
    return b.node("Conv", xw, kernel_shape=list(kernel), strides=list(p["stride"]), pads=pads,
                  dilations=list(p["dilation"]), group=int(p["groups"]))


@_register("convtranspose")
def _conv_transpose(b, eq, ins):
    y, w = eq.ins
    p = eq.params
    kernel = w.shape[2:]
    spatial = y.shape[2:]
    full = [(m - 1) * s + (k - 1) * d + 1 for m, s, k, d in zip(spatial, p["stride"], kernel, p["dilation"])]
    lo = [int(v) for v in p["lo"]]
    hi = [f - l - n for f, l, n in zip(full, lo, p["size"])]
    pads = [max(v, 0) for v in lo] + [max(v, 0) for v in hi]
    out = b.node("ConvTranspose", _operands(b, eq, ins, eq.out.dtype), kernel_shape=list(kernel),
                 strides=list(p["stride"]), pads=pads, dilations=list(p["dilation"]), group=int(p["groups"]))
    extra_lo, extra_hi = [max(-v, 0) for v in lo], [max(-v, 0) for v in hi]
    if any(extra_lo) or any(extra_hi):       # rows nothing reaches (output_padding): zeros
        out = b.crop_pad(out, None, extra_lo, extra_hi, 0, eq.out.dtype)
    return out


@_register("convweight")
def _conv_weight(b, eq, ins):
    x, y = eq.ins
    p = eq.params
    if p["groups"] != 1:
        raise NotImplementedError("ONNX export: primitive 'convweight' with groups > 1 is not supported")
    nd = len(x.shape) - 2
    swap = [1, 0] + list(range(2, 2 + nd))
    xt = b.node("Transpose", [ins[0]], perm=swap)      # (C, N, *M): batch C, channels N
    yt = b.node("Transpose", [ins[1]], perm=swap)      # (O, N, *T): O kernels over N channels
    t_dims = y.shape[2:]
    extent = [(t - 1) * s + 1 for t, s in zip(t_dims, p["stride"])]
    xd = b.dims(x)
    xt_dims = (xd[1], xd[0]) + tuple(xd[2:])
    name, pads = _fit(b, xt, xt_dims, p["lo"], p["size"], extent, p["dilation"])
    dw = b.node("Conv", _operands(b, eq, [name, yt], eq.out.dtype), kernel_shape=list(t_dims),
                strides=list(p["dilation"]), pads=pads, dilations=list(p["stride"]), group=1)
    return b.node("Transpose", [dw], perm=swap)


@_register("maxpool")
def _max_pool(b, eq, ins):
    (x,) = eq.ins
    p = eq.params
    extent = [(k - 1) * d + 1 for k, d in zip(p["kernel"], p["dilation"])]
    name, pads = _fit(b, ins[0], b.dims(x), p["lo"], p["size"], extent, p["stride"], -np.inf, x.dtype,
                      max_pad=p["kernel"])
    return b.node("MaxPool", [name], kernel_shape=list(p["kernel"]), strides=list(p["stride"]), pads=pads,
                  dilations=list(p["dilation"]), ceil_mode=0)


@_register("windowsum")
def _window_sum(b, eq, ins):
    (x,) = eq.ins
    p = eq.params
    name, pads = _fit(b, ins[0], b.dims(x), p["lo"], p["size"], p["kernel"], p["stride"], 0, x.dtype,
                      max_pad=p["kernel"])
    avg = b.node("AveragePool", [name], kernel_shape=list(p["kernel"]), strides=list(p["stride"]), pads=pads,
                 count_include_pad=1, ceil_mode=0)
    return b.node("Mul", [avg, b.const(float(np.prod(p["kernel"])), x.dtype)])


@_register("gather")
def _gather(b, eq, ins):
    (x,) = eq.ins
    index = eq.params["index"]
    idx, _ = _index_value(b, index)
    data = b.node("Reshape", [ins[0], b.ints([0, 0, -1])])
    flat = b.node("Reshape", [idx, b.ints([0, 0, -1])])
    picked = b.node("GatherElements", [data, flat], axis=2)
    return b.node("Reshape", [picked, b.node("Shape", [idx])])


@_register("scatter")
def _scatter(b, eq, ins):
    if b.opset < 16:
        raise NotImplementedError("ONNX export: primitive 'scatter' needs opset >= 16 (ScatterElements "
                                  "with reduction='add')")
    (y,) = eq.ins
    idx, _ = _index_value(b, eq.params["index"])
    out_dims = b.dims(eq.out)
    plane = int(np.prod(eq.params["size"]))
    updates = b.node("Reshape", [ins[0], b.ints([0, 0, -1])])
    flat = b.node("Reshape", [idx, b.ints([0, 0, -1])])
    zeros_shape = b.shape_tensor(tuple(out_dims[:2]) + (plane,))
    zeros = b.node("ConstantOfShape", [zeros_shape],
                   value=b.numpy_helper.from_array(np.zeros(1, eq.out.dtype)))
    summed = b.node("ScatterElements", [zeros, flat, updates], axis=2, reduction="add")
    return b.reshape(summed, tuple(out_dims[:2]) + (plane,), out_dims)


