"""Export to ONNX (seed 三: a static graph is a program that other systems can run).

    import deepgrad as dg
    model = dg.models.lenet5()
    dg.onnx.export(model, dg.randn(2, 1, 28, 28), "lenet5.onnx")      # dynamic batch size 'N'

    import onnxruntime as ort
    sess = ort.InferenceSession("lenet5.onnx")
    y = sess.run(None, {"input": x.numpy()})[0]

How it works: the model (switched to eval mode for the trace, then restored) or function is traced with
``dg.trace`` into a ``Graph``; guards are dropped, dead code removed and equations on constants folded;
then every equation becomes one or a few ONNX nodes (``onnx.helper``). A Module's parameters and
buffers become ONNX *initializers* named after them (``0.weight``); tensors a function closes over
become initializers too. Graph inputs are named ``input`` (``input0``, ``input1``, ... for several) and
outputs ``output`` (``output0`` ...), unless ``input_names`` / ``output_names`` are given.

Dynamic batch (``dynamic_batch=True``): the first axis of every tensor argument is the symbolic batch
dimension ``N``. The function is traced twice, at two batch sizes, and the two graphs are compared
equation by equation: a dimension that changes with the batch is ``k·N``. Reshape targets then use
``0`` (keep the input's batch dimension) or ``-1``, or a shape computed from ``Shape(input)`` when one
target has several batch-dependent dimensions; ``Expand`` targets use ``1`` where the input already
has the dimension. A constant that depends on the batch size is exported as its one-row slice
expanded to the batch when it is the same for every sample (adaptive max pooling's index table),
else export fails with a clear error (then use ``dynamic_batch=False``), as it does when the graph's
structure or an operation's parameters change with the batch size (a mean over the batch axis).

Primitives and their ONNX form:

* elementwise: add sub mul div pow powscalar maximum minimum (Add Sub Mul Div Pow Max Min), neg exp log
  log1p expm1 sqrt abs sin cos erf tanh sigmoid relu identity clip astype (Cast), comparisons
  (Less LessOrEqual Greater GreaterOrEqual Equal, Not∘Equal), logical and/or, where;
  tanh_grad/sigmoid_grad as their formulas;
* matmul (MatMul); sum max min prod logsumexp (ReduceSum ReduceMax ReduceMin ReduceProd
  ReduceLogSumExp), softmax, log_softmax;
* reshape (Reshape), permute (Transpose), broadcast_to (Expand), concatenate (Concat), pad (Pad),
  flip (Slice with step −1), getitem (Slice / Squeeze / Unsqueeze for ints, slices, None, Ellipsis;
  Gather or GatherND for integer arrays);
* conv → Conv (pads: ``lo`` before and what the output size implies after; a negative remainder crops
  the input with Slice), conv_transpose → ConvTranspose (explicit pads; extra output rows by Pad),
  conv_weight (groups=1) → a Conv with batch and channels exchanged;
* max_pool → MaxPool (explicit pads, which also express ceil_mode; dilations), window_sum (the sum
  under average pooling, whose divisor is a separate multiplication) → AveragePool with
  count_include_pad=1 times the window size; gather/scatter (adaptive max pooling, max unpooling)
  → GatherElements / ScatterElements(reduction='add', opset ≥ 16) on the flattened planes;
* sample (``deform_conv2d``'s bilinear sampling) → DeformConv with one-hot weights (opset ≥ 19; see
  ``deform.py``), followed by the mask's Mul, the weights' MatMul and the bias's Add;
* NumPy-level equations the tracer records when library code computes on raw arrays: reshape-like
  methods, ``__getitem__``, ``astype``, ``transpose``, ``argmax``/``argmin``, arithmetic and comparison
  operators and ufuncs, ``np.take_along_axis`` (GatherElements), ``np.broadcast_to``, ``np.where``.

Anything else (the pooling derivatives ``window_spread``/``window_pick``/``window_route``, random
draws such as dropout in training mode, ...) raises ``NotImplementedError`` naming the primitive.
"""
from ... import backend
from ...autograd.tensor import Tensor
from ...pytree import tree_flatten, tree_unflatten
from ..tracer import module_state, trace_graph

np = backend.numpy
from .builder import _Builder, _eval_mode, _is_module, _onnx, _Prepared, _symbolic
from .converters import DEFAULT_OPSET, MIN_OPSET
from . import deform  # noqa: F401,E402  (registers the converter of deform_conv2d's sampling)

__all__ = ["export", "to_model"]


def _batched_args(args, batch):
    """``args`` with every tensor's first axis resized to ``batch`` (rows repeated cyclically)."""
    leaves, tree = tree_flatten(tuple(args))
    out = []
    for leaf in leaves:
        if isinstance(leaf, Tensor):
            t = Tensor.wrap(np.resize(leaf.array, (batch,) + leaf.shape[1:]).astype(leaf.dtype))
            t.requires_grad = leaf.requires_grad
            out.append(t)
        elif isinstance(leaf, np.ndarray):
            out.append(np.resize(leaf, (batch,) + leaf.shape[1:]).astype(leaf.dtype))
        else:
            out.append(leaf)
    return tree_unflatten(tree, out)


def _batch_size(args):
    sizes = set()
    for leaf in tree_flatten(tuple(args))[0]:
        if isinstance(leaf, (Tensor, np.ndarray)):
            if leaf.ndim == 0:
                raise ValueError("ONNX export with dynamic_batch=True: every tensor argument needs a batch "
                                 "(first) axis; got a zero-dimensional one (pass dynamic_batch=False)")
            sizes.add(leaf.shape[0])
    if len(sizes) > 1:
        raise ValueError(f"ONNX export with dynamic_batch=True: the tensor arguments' first (batch) axes differ "
                         f"({sorted(sizes)}); pass dynamic_batch=False")
    return sizes.pop() if sizes else None


def _trace(model_or_fn, args):
    state = module_state(model_or_fn) if _is_module(model_or_fn) else ()
    from ...autograd.function import _set_grad_mode
    previous = _set_grad_mode(False)
    try:
        graph = trace_graph(model_or_fn, tuple(args), state)
    finally:
        _set_grad_mode(previous)
    return _Prepared(graph, state)


def _names(given, count, default):
    if given is not None:
        given = [given] if isinstance(given, str) else list(given)
        if len(given) != count:
            raise ValueError(f"ONNX export: {count} names needed, got {len(given)}: {given}")
        return given
    return [default] if count == 1 else [f"{default}{i}" for i in range(count)]


def to_model(model_or_fn, example_args, dynamic_batch=True, opset=DEFAULT_OPSET, input_names=None,
             output_names=None, check=True):
    """The ``onnx.ModelProto`` of ``model_or_fn(*example_args)`` (see ``export``)."""
    onnx = _onnx()
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"ONNX export: opset must be an integer from {MIN_OPSET} to {newest} (the newest the "
                         f"installed onnx {onnx.__version__} knows), got {opset!r}")
    args = tuple(example_args) if isinstance(example_args, (tuple, list)) else (example_args,)
    with _eval_mode(model_or_fn):
        shapes = expanded = None
        batch = _batch_size(args) if dynamic_batch else None
        if batch is not None:
            b1 = max(batch, 2)
            first = args if b1 == batch else _batched_args(args, b1)
            p1 = _trace(model_or_fn, first)
            try:
                p2 = _trace(model_or_fn, _batched_args(args, b1 + 1))
            except Exception as e:
                raise NotImplementedError(f"ONNX export with dynamic_batch: tracing again at batch size {b1 + 1} "
                                          f"failed ({type(e).__name__}: {e}); the function depends on the batch "
                                          "size: export with dynamic_batch=False") from e
            shapes, expanded = _symbolic(p1, p2, b1, b1 + 1)
        else:
            p1 = _trace(model_or_fn, args)
    if p1.static_outputs:
        raise ValueError("ONNX export: the function returns Python values (not tensors) at output positions "
                         f"{sorted(p1.static_outputs)}; return tensors only")
    builder = _Builder(onnx, opset, p1, shapes, expanded)
    ins = _names(input_names, len(p1.inputs), "input")
    outs = _names(output_names, len(p1.outputs), "output")
    if set(ins) & set(outs):
        raise ValueError(f"ONNX export: input and output names overlap: {sorted(set(ins) & set(outs))}")
    name = type(model_or_fn).__name__ if _is_module(model_or_fn) else getattr(model_or_fn, "__name__", "graph")
    model = builder.build(ins, outs, name if name != "<lambda>" else "graph")
    if check:
        onnx.checker.check_model(model)
    return model


def export(model_or_fn, example_args, path=None, dynamic_batch=True, opset=DEFAULT_OPSET, input_names=None,
           output_names=None, check=True):
    """Export ``model_or_fn`` (a Module, traced in eval mode, or a function of tensors) to ONNX.

    ``example_args``: a Tensor or a tuple of arguments (nests of tensors and Python values) to trace
    with. ``path``: where to write the ``.onnx`` file (None: only return the model).
    ``dynamic_batch``: the first axis of every tensor argument becomes the symbolic dimension ``N``.
    ``opset``: the ONNX operator set (default 17). ``check``: run ``onnx.checker.check_model``.
    Returns the ``onnx.ModelProto``. Raises ``NotImplementedError`` naming a primitive that has no
    ONNX translation."""
    model = to_model(model_or_fn, example_args, dynamic_batch, opset, input_names, output_names, check)
    if path is not None:
        _onnx().save(model, str(path))
    return model

