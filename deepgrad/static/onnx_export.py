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
* NumPy-level equations the tracer records when library code computes on raw arrays: reshape-like
  methods, ``__getitem__``, ``astype``, ``transpose``, ``argmax``/``argmin``, arithmetic and comparison
  operators and ufuncs, ``np.take_along_axis`` (GatherElements), ``np.broadcast_to``, ``np.where``.

Anything else (the pooling derivatives ``window_spread``/``window_pick``/``window_route``, random
draws such as dropout in training mode, ...) raises ``NotImplementedError`` naming the primitive.
"""
import contextlib

from .. import backend
from ..autograd.tensor import Tensor
from ..pytree import tree_flatten, tree_unflatten
from . import prims
from .ir import Slot, Var
from .tracer import module_state, trace_graph

np = backend.numpy

__all__ = ["export", "to_model"]

INT64_MAX = 2 ** 63 - 1
INT64_MIN = -2 ** 63
DEFAULT_OPSET = 17
MIN_OPSET = 13


def _onnx():
    try:
        import onnx
        import onnx.helper  # noqa: F401  (submodules used through ``onnx``)
        import onnx.numpy_helper  # noqa: F401
    except ImportError:
        raise ImportError("ONNX export needs the onnx package: pip install 'deepgrad[onnx]' "
                          "(or pip install onnx onnxruntime)") from None
    return onnx


class Batch:
    """A symbolic dimension: ``k`` times the batch size ``N``."""
    __slots__ = ("k",)

    def __init__(self, k):
        self.k = int(k)

    def __eq__(self, other):
        return isinstance(other, Batch) and other.k == self.k

    def __hash__(self):
        return hash(("batch", self.k))

    def __repr__(self):
        return "N" if self.k == 1 else f"N*{self.k}"


def _is_module(obj):
    from ..nn.module import Module
    return isinstance(obj, Module)


@contextlib.contextmanager
def _eval_mode(model):
    if not _is_module(model):
        yield
        return
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode


# ---------------------------------------------------------------- preparing a traced graph
class _Prepared:
    """A traced graph reduced to what ONNX needs: ``inputs`` (Var, name), ``consts`` {Var: array} with
    ``params`` the ones that are parameters (kept as named initializers, never folded), ``equations``
    (no guards, no dead code, constants folded) and ``outputs``."""

    def __init__(self, graph, state):
        n_state = len(state)
        self.consts, self.const_names, self.params = {}, {}, set()
        for v, (name, t) in zip(graph.inputs[:n_state], state):
            self.consts[v] = np.asarray(t.data)
            self.const_names[v] = name
            self.params.add(v)
        for v, a in graph.constants.items():
            if v in graph.externals:
                a = graph.externals[v].data
                self.params.add(v)
            self.consts[v] = np.asarray(a)
        self.inputs = list(graph.inputs[n_state:])
        self.outputs = list(graph.outputs)
        self.static_outputs = dict(graph.static_outputs)
        equations = []
        for eq in graph.equations:
            if eq.out is None:          # a guard: the exported graph is specialised like the trace
                continue
            if isinstance(eq.prim, prims.Random):
                raise NotImplementedError(
                    f"ONNX export: the primitive '{eq.name}' (a random draw, e.g. dropout in training mode) "
                    "cannot be exported; export the model in eval mode or remove the randomness")
            equations.append(eq)
        self.equations = self._fold(self._dce(equations))

    def _dce(self, equations):
        live, keep = set(self.outputs), []
        for eq in reversed(equations):
            if eq.out in live:
                keep.append(eq)
                live.update(eq.uses)
        keep.reverse()
        return keep

    def _fold(self, equations):
        """Evaluate equations whose inputs are all (non-parameter) constants."""
        keep = []
        foldable = {v for v in self.consts if v not in self.params}
        for eq in equations:
            uses = eq.uses
            if uses and all(u in foldable for u in uses):
                try:
                    params = _substitute(eq.params, self.consts) if eq.param_vars else eq.params
                    value = prims.as_array(eq.prim.forward(*[self.consts[v] for v in eq.ins], **params))
                except Exception:
                    value = None
                if isinstance(value, np.ndarray) and value.shape == eq.out.shape and value.dtype == eq.out.dtype:
                    self.consts[eq.out] = value
                    foldable.add(eq.out)
                    continue
            keep.append(eq)
        return keep


def _substitute(value, env):
    if isinstance(value, Var):
        return env[value]
    if isinstance(value, tuple):
        return tuple(_substitute(v, env) for v in value)
    if isinstance(value, list):
        return [_substitute(v, env) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, env) for k, v in value.items()}
    if isinstance(value, slice):
        return slice(_substitute(value.start, env), _substitute(value.stop, env), _substitute(value.step, env))
    return value


# ---------------------------------------------------------------- symbolic batch dimension
_SHAPE_PRIMS = {"reshape", "broadcastto", "ndarray.reshape", "ndarray.ravel", "ndarray.flatten",
                "ndarray.squeeze", "np.reshape", "np.broadcast_to", "np.squeeze", "np.expand_dims", "np.ravel"}


def _same_params(a, b, vmap):
    if isinstance(a, Var):
        return isinstance(b, Var) and vmap.get(a, b) is b
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and a.dtype == b.dtype and np.array_equal(a, b))
    if isinstance(a, (tuple, list)):
        return (type(a) is type(b) and len(a) == len(b)
                and all(_same_params(x, y, vmap) for x, y in zip(a, b)))
    if isinstance(a, dict):
        return (isinstance(b, dict) and a.keys() == b.keys()
                and all(_same_params(a[k], b[k], vmap) for k in a))
    if isinstance(a, slice):
        return isinstance(b, slice) and _same_params((a.start, a.stop, a.step), (b.start, b.stop, b.step), vmap)
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:
        return a is b


def _symbolic(p1, p2, b1, b2):
    """Compare the graphs traced at batch sizes ``b1`` and ``b2``: {Var of p1: shape with ``Batch``
    dims}, and {Var: (array, shape)} for constants that are the same for every sample."""
    vmap = {}

    def pair(u, v, where):
        if vmap.setdefault(u, v) is not v or u.dtype != v.dtype or len(u.shape) != len(v.shape):
            raise NotImplementedError(f"ONNX export with dynamic_batch: the traced graph changes with the batch "
                                      f"size ({where}); export with dynamic_batch=False")

    if len(p1.inputs) != len(p2.inputs) or len(p1.equations) != len(p2.equations) or \
            len(p1.outputs) != len(p2.outputs):
        raise NotImplementedError("ONNX export with dynamic_batch: the traced graph's structure changes with the "
                                  "batch size (Python control flow on the batch size?); export with "
                                  "dynamic_batch=False")
    for u, v in zip(p1.inputs, p2.inputs):
        pair(u, v, "inputs")
    for i, (e1, e2) in enumerate(zip(p1.equations, p2.equations)):
        if e1.name != e2.name or len(e1.uses) != len(e2.uses):
            raise NotImplementedError(f"ONNX export with dynamic_batch: equation {i} is '{e1.name}' at batch size "
                                      f"{b1} but '{e2.name}' at {b2}; export with dynamic_batch=False")
        for u, v in zip(e1.uses, e2.uses):
            pair(u, v, f"equation {i} ({e1.name})")
        pair(e1.out, e2.out, f"equation {i} ({e1.name})")
        if e1.name not in _SHAPE_PRIMS and not _same_params(e1.params, e2.params, vmap):
            raise NotImplementedError(f"ONNX export with dynamic_batch: the parameters of equation {i} "
                                      f"('{e1.name}') depend on the batch size; export with dynamic_batch=False")
    for u, v in zip(p1.outputs, p2.outputs):
        pair(u, v, "outputs")
    shapes, expanded = {}, {}
    step = b2 - b1
    for u, v in vmap.items():
        dims = []
        for d1, d2 in zip(u.shape, v.shape):
            if d1 == d2:
                dims.append(d1)
                continue
            k, r = divmod(d2 - d1, step)
            if r or k <= 0 or d1 != k * b1:
                raise NotImplementedError(f"ONNX export with dynamic_batch: a dimension of size {d1} at batch size "
                                          f"{b1} is {d2} at batch size {b2}, not a multiple of the batch size; "
                                          "export with dynamic_batch=False")
            dims.append(Batch(k))
        shapes[u] = tuple(dims)
        if u in p1.consts:
            a1, a2 = p1.consts[u], p2.consts[v]
            if any(isinstance(d, Batch) for d in dims):
                index = tuple(slice(0, 1) if isinstance(d, Batch) else slice(None) for d in dims)
                row = a1[index]
                if not (np.array_equal(np.broadcast_to(row, a1.shape), a1, equal_nan=a1.dtype.kind == "f")
                        and np.array_equal(np.broadcast_to(row, a2.shape), a2, equal_nan=a2.dtype.kind == "f")):
                    raise NotImplementedError(f"ONNX export with dynamic_batch: a constant of shape {a1.shape} "
                                              "depends on the batch size and differs between samples; export "
                                              "with dynamic_batch=False")
                expanded[u] = row
            elif a1 is not a2 and not np.array_equal(a1, a2, equal_nan=a1.dtype.kind == "f"):
                raise NotImplementedError(f"ONNX export with dynamic_batch: a constant of shape {a1.shape} has "
                                          "values that depend on the batch size (a mean over the batch axis?); "
                                          "export with dynamic_batch=False")
    return shapes, expanded


# ---------------------------------------------------------------- the ONNX graph builder
class _Builder:
    def __init__(self, onnx, opset, prepared, shapes, expanded):
        self.onnx, self.helper, self.numpy_helper = onnx, onnx.helper, onnx.numpy_helper
        self.opset = opset
        self.p = prepared
        self.shapes = shapes or {}
        self.expanded = expanded or {}
        self.nodes, self.initializers, self.taken = [], [], set()
        self.names = {}             # Var -> ONNX value name
        self._small = {}            # cache of small constants
        self._batch = None          # name of the [N] tensor
        self.batch_source = None    # (input name, axis) to read N from
        self._count = 0

    # ------------------------------------------------------------ names and nodes
    def fresh(self, hint):
        hint = hint.replace(" ", "_")
        name = hint
        while name in self.taken:
            self._count += 1
            name = f"{hint}_{self._count}"
        self.taken.add(name)
        return name

    def node(self, op, inputs, outputs=1, **attrs):
        if isinstance(outputs, int):
            outputs = [self.fresh(f"{op.lower()}") for _ in range(outputs)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(self.helper.make_node(op, list(inputs), list(outputs), name=self.fresh(f"n_{op}"),
                                                **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    def initializer(self, array, name):
        name = self.fresh(name)
        array = np.asarray(array)
        if array.dtype == np.bool_ or array.dtype.kind in "iufb":
            self.initializers.append(self.numpy_helper.from_array(np.array(array, order="C"), name))
        else:
            raise NotImplementedError(f"ONNX export: constants of dtype {array.dtype} are not supported")
        return name

    def const(self, value, dtype=None):
        """A (small) constant tensor, shared between uses."""
        array = np.asarray(value, dtype=dtype)
        key = (array.dtype.str, array.shape, array.tobytes()) if array.size <= 64 else None
        if key is not None and key in self._small:
            return self._small[key]
        name = self.initializer(array, "c")
        if key is not None:
            self._small[key] = name
        return name

    def ints(self, values):
        return self.const(np.asarray(list(values), np.int64))

    def dims(self, v):
        """The shape of ``v`` with ``Batch`` dims where it depends on the batch size."""
        return self.shapes.get(v, v.shape)

    def dtype_code(self, dtype):
        return self.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))

    def cast(self, name, src, dst):
        src, dst = np.dtype(src), np.dtype(dst)
        if src == dst:
            return name
        return self.node("Cast", [name], to=self.dtype_code(dst))

    # ------------------------------------------------------------ shapes
    def batch(self):
        """The 1-element int64 tensor [N], read from the first batched input."""
        if self._batch is None:
            name, axis = self.batch_source
            shape = self.node("Shape", [name])
            self._batch = self.node("Slice", [shape, self.ints([axis]), self.ints([axis + 1]), self.ints([0])])
        return self._batch

    def shape_tensor(self, dims):
        """A 1-D int64 tensor holding ``dims`` (ints and ``Batch`` dims)."""
        if not any(isinstance(d, Batch) for d in dims):
            return self.ints(dims)
        pieces, static = [], []
        for d in dims:
            if isinstance(d, Batch):
                if static:
                    pieces.append(self.ints(static))
                    static = []
                pieces.append(self.batch() if d.k == 1 else self.node("Mul", [self.batch(), self.ints([d.k])]))
            else:
                static.append(int(d))
        if static:
            pieces.append(self.ints(static))
        return pieces[0] if len(pieces) == 1 else self.node("Concat", pieces, axis=0)

    def reshape(self, name, in_dims, out_dims):
        """Reshape to ``out_dims``: a batch dimension kept in place is 0, a single other one -1."""
        in_dims, out_dims = tuple(in_dims), tuple(out_dims)
        if in_dims == out_dims:
            return name
        target = list(out_dims)
        for i, d in enumerate(target):
            if isinstance(d, Batch) and i < len(in_dims) and in_dims[i] == d:
                target[i] = 0
        left = [i for i, d in enumerate(target) if isinstance(d, Batch)]
        if len(left) == 1:
            target[left[0]] = -1
        if any(d == 0 for d in out_dims if not isinstance(d, Batch)):     # an empty tensor: no 0/-1 codes
            return self.node("Reshape", [name, self.shape_tensor(out_dims)], allowzero=1)
        return self.node("Reshape", [name, self.shape_tensor(target)])

    def expand(self, name, in_dims, out_dims):
        """``np.broadcast_to``: Expand, with 1 where the input already has the dimension."""
        in_dims, out_dims = tuple(in_dims), tuple(out_dims)
        if in_dims == out_dims:
            return name
        lead = len(out_dims) - len(in_dims)
        target = [1 if i >= lead and in_dims[i - lead] == d else d for i, d in enumerate(out_dims)]
        return self.node("Expand", [name, self.shape_tensor(target)])

    def slice(self, name, starts, ends, axes, steps=None):
        if not axes:
            return name
        ins = [name, self.ints(starts), self.ints(ends), self.ints(axes)]
        if steps is not None and any(s != 1 for s in steps):
            ins.append(self.ints(steps))
        return self.node("Slice", ins)

    def squeeze(self, name, axes):
        return self.node("Squeeze", [name, self.ints(axes)]) if axes else name

    def unsqueeze(self, name, axes):
        return self.node("Unsqueeze", [name, self.ints(axes)]) if axes else name

    def reduce(self, op, name, axes, keepdims, ndim):
        """``op`` over ``axes`` (None: all); the axes are an input for ReduceSum (opset 13) and for
        the other reductions from opset 18."""
        if axes is not None and len(axes) == 0:
            return self.node("Identity", [name])
        as_input = op == "ReduceSum" or self.opset >= 18
        if axes is None:
            return self.node(op, [name], keepdims=int(keepdims))
        axes = [int(a) % max(ndim, 1) for a in axes]
        if as_input:
            return self.node(op, [name, self.ints(axes)], keepdims=int(keepdims))
        return self.node(op, [name], axes=axes, keepdims=int(keepdims))

    def crop_pad(self, name, dims, before, after, value=None, dtype=None):
        """Positive widths pad (with ``value``), negative ones crop, on the spatial axes 2, 3, ..."""
        crops = [(2 + i, max(-b, 0), max(-a, 0)) for i, (b, a) in enumerate(zip(before, after)) if b < 0 or a < 0]
        if crops:
            starts = [c[1] for c in crops]
            ends = [dims[c[0]] - c[2] for c in crops]
            name = self.slice(name, starts, ends, [c[0] for c in crops])
        pads = [max(b, 0) for b in before], [max(a, 0) for a in after]
        if any(pads[0]) or any(pads[1]):
            full = [0, 0] + pads[0] + [0, 0] + pads[1]
            ins = [name, self.ints(full)]
            if value is not None:
                ins.append(self.const(np.asarray(value, dtype)))
            name = self.node("Pad", ins, mode="constant")
        return name

    # ------------------------------------------------------------ building
    def value_info(self, name, v):
        shape = [f"{d!r}" if isinstance(d, Batch) else int(d) for d in self.dims(v)]
        return self.helper.make_tensor_value_info(name, self.dtype_code(v.dtype), shape)

    def build(self, input_names, output_names, graph_name):
        p = self.p
        inputs = []
        for v, name in zip(p.inputs, input_names):
            self.taken.add(name)
            self.names[v] = name
            inputs.append(self.value_info(name, v))
            if self.batch_source is None and any(isinstance(d, Batch) for d in self.dims(v)):
                axis = next(i for i, d in enumerate(self.dims(v)) if isinstance(d, Batch))
                self.batch_source = (name, axis)
        for name in output_names:
            self.taken.add(name)
        used = set(p.outputs)
        for eq in p.equations:
            used.update(eq.uses)
        for v, array in p.consts.items():
            if v not in used or v in self.names:
                continue
            hint = p.const_names.get(v, "const" if v in p.params else "c")
            if v in self.expanded:
                row = self.initializer(self.expanded[v], hint)
                dims = self.dims(v)
                self.names[v] = self.node("Expand", [row, self.shape_tensor(
                    [d if isinstance(d, Batch) else 1 for d in dims])])
            else:
                self.names[v] = self.initializer(array, hint)
        for i, eq in enumerate(p.equations):
            convert = _converter(eq)
            try:
                out = convert(self, eq, [self.names[v] for v in eq.ins])
            except NotImplementedError as e:
                msg = str(e)
                if not msg.startswith("ONNX export"):
                    msg = f"ONNX export: primitive '{eq.name}' {msg}"
                raise NotImplementedError(f"{msg} (equation {i}: {eq.name} -> {eq.out.aval})") from None
            self.names[eq.out] = out
        outputs = []
        for v, name in zip(p.outputs, output_names):
            self.node("Identity", [self.names[v]], outputs=[name])
            outputs.append(self.value_info(name, v))
        graph = self.helper.make_graph(self.nodes, graph_name, inputs, outputs, self.initializers)
        model = self.helper.make_model(graph, opset_imports=[self.helper.make_opsetid("", self.opset)],
                                       producer_name="deepgrad")
        model.ir_version = min(model.ir_version, _max_ir_version(self.onnx, self.opset))
        return model


def _max_ir_version(onnx, opset):
    """The IR version that goes with ``opset`` (so older runtimes accept the model)."""
    try:
        from onnx.helper import VERSION_TABLE
        for _release, ir, op, *_ in VERSION_TABLE:
            if op == opset:
                return ir
    except Exception:
        pass
    return onnx.IR_VERSION


# ---------------------------------------------------------------- converters
_CONVERTERS = {}


def _register(*names):
    def deco(fn):
        for n in names:
            _CONVERTERS[n] = fn
        return fn
    return deco


def _converter(eq):
    prim = eq.prim
    if isinstance(prim, prims.NumpyMethod):
        return _numpy_method
    if isinstance(prim, prims.NumpyFunction):
        return _numpy_function
    if isinstance(prim, prims.NumpyUfunc):
        return _numpy_ufunc
    fn = _CONVERTERS.get(eq.name)
    if fn is None:
        def unsupported(b, eq, ins):
            raise NotImplementedError(f"ONNX export: primitive '{eq.name}' is not supported")
        return unsupported
    return fn


_UNARY = {"identity": "Identity", "neg": "Neg", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "abs": "Abs",
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


# ---- NumPy-level equations (library code computing on raw arrays while traced)
def _fill(template, eq):
    """The call's arguments with ``Slot(i)`` replaced by the i-th input Var."""
    if isinstance(template, Slot):
        return eq.ins[template.index]
    if isinstance(template, tuple):
        return tuple(_fill(t, eq) for t in template)
    if isinstance(template, list):
        return [_fill(t, eq) for t in template]
    if isinstance(template, dict):
        return {k: _fill(v, eq) for k, v in template.items()}
    if isinstance(template, slice):
        return slice(_fill(template.start, eq), _fill(template.stop, eq), _fill(template.step, eq))
    return template


def _operand(b, value, dtype=None):
    """(ONNX name, dtype) of an argument of a NumPy call: a Var or a Python/NumPy scalar or array."""
    if isinstance(value, Var):
        return b.names[value], value.dtype
    array = np.asarray(value)
    if dtype is not None and array.ndim == 0 and isinstance(value, (bool, int, float)):
        array = array.astype(dtype)
    return b.const(array), array.dtype


_UFUNC_BINARY = {"add": "Add", "subtract": "Sub", "multiply": "Mul", "true_divide": "Div", "divide": "Div",
                 "maximum": "Max", "minimum": "Min", "power": "Pow", "fmax": "Max", "fmin": "Min"}
_UFUNC_COMPARE = {"greater": "Greater", "greater_equal": "GreaterOrEqual", "less": "Less",
                  "less_equal": "LessOrEqual", "equal": "Equal", "not_equal": "NotEqual",
                  "logical_and": "And", "logical_or": "Or", "logical_xor": "Xor"}
_UFUNC_UNARY = {"negative": "Neg", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "absolute": "Abs", "tanh": "Tanh",
                "floor": "Floor", "ceil": "Ceil", "sign": "Sign", "isnan": "IsNaN", "isinf": "IsInf",
                "logical_not": "Not", "positive": "Identity", "sin": "Sin", "cos": "Cos", "reciprocal": "Reciprocal"}
_OPERATORS = {"__add__": "add", "__sub__": "subtract", "__mul__": "multiply", "__truediv__": "true_divide",
              "__pow__": "power", "__gt__": "greater", "__ge__": "greater_equal", "__lt__": "less",
              "__le__": "less_equal", "__eq__": "equal", "__ne__": "not_equal", "__and__": "bitwise_and",
              "__or__": "bitwise_or", "__xor__": "bitwise_xor", "__neg__": "negative", "__pos__": "positive",
              "__abs__": "absolute", "__invert__": "invert"}


def _elementwise(b, ufunc_name, args, out):
    """An elementwise NumPy ufunc on Vars and scalars (scalars take the dtype of the array operand)."""
    like = next((a.dtype for a in args if isinstance(a, Var)), None)
    ops = [_operand(b, a, like) for a in args]
    names, dtypes = [n for n, _ in ops], [d for _, d in ops]
    if ufunc_name in ("bitwise_and", "bitwise_or", "bitwise_xor", "invert") and all(d == np.bool_ for d in dtypes):
        ufunc_name = {"bitwise_and": "logical_and", "bitwise_or": "logical_or", "bitwise_xor": "logical_xor",
                      "invert": "logical_not"}[ufunc_name]
    if ufunc_name == "isfinite":
        x = names[0]
        return b.node("Not", [b.node("Or", [b.node("IsNaN", [x]), b.node("IsInf", [x])])])
    if ufunc_name in _UFUNC_COMPARE:
        return _compare_op(b, _UFUNC_COMPARE[ufunc_name], names, dtypes)
    if ufunc_name in _UFUNC_BINARY:
        return b.node(_UFUNC_BINARY[ufunc_name], [b.cast(n, d, out.dtype) for n, d in zip(names, dtypes)])
    if ufunc_name in _UFUNC_UNARY:
        op = _UFUNC_UNARY[ufunc_name]
        if op in ("IsNaN", "IsInf", "Not"):
            return b.node(op, names)
        return b.node(op, [b.cast(names[0], dtypes[0], out.dtype)])
    raise NotImplementedError(f"ONNX export: the NumPy operation '{ufunc_name}' is not supported")


def _axis_arg(args, kwargs, position=0, key="axis"):
    if key in kwargs:
        return kwargs[key]
    return args[position] if len(args) > position else None


def _numpy_reduce(b, op, x, name, args, kwargs, default_axis=None):
    axis = _axis_arg(args, kwargs)
    axis = default_axis if axis is None and default_axis is not None else axis
    keep = bool(kwargs.get("keepdims", False))
    axes = None if axis is None else ((axis,) if isinstance(axis, int) else tuple(axis))
    return b.reduce(op, name, axes, keep, len(x.shape))


def _arg_extremum(b, op, x, name, args, kwargs):
    axis = _axis_arg(args, kwargs)
    keep = int(bool(kwargs.get("keepdims", False)))
    if axis is None:
        name = b.node("Reshape", [name, b.ints([-1])])
        axis, keep = 0, 0
    return b.node(op, [name], axis=int(axis), keepdims=keep, select_last_index=0)


def _check_item(eq):
    if eq.params.get("item") is not None:
        raise NotImplementedError(f"ONNX export: the NumPy operation '{eq.name}' with several results is not "
                                  "supported")


def _numpy_method(b, eq, ins):
    _check_item(eq)
    method = eq.prim.method
    args, kwargs = _fill(eq.params["args"], eq), _fill(eq.params["kwargs"], eq)
    x, name = eq.ins[0], ins[0]
    if method in ("reshape", "ravel", "flatten", "squeeze"):
        return b.reshape(name, b.dims(x), b.dims(eq.out)) if b.dims(x) != b.dims(eq.out) else \
            b.node("Identity", [name])
    if method in ("copy", "view") and not args:
        return b.node("Identity", [name])
    if method == "astype":
        return b.cast(name, x.dtype, eq.out.dtype) if x.dtype != eq.out.dtype else b.node("Identity", [name])
    if method == "__getitem__":
        return _getitem(b, name, x, eq.out, args[0])
    if method in ("transpose", "swapaxes"):
        nd = len(x.shape)
        if method == "swapaxes":
            a0, a1 = args[0] % nd, args[1] % nd
            perm = list(range(nd))
            perm[a0], perm[a1] = perm[a1], perm[a0]
        elif not args or args[0] is None:
            perm = list(range(nd))[::-1]
        else:
            perm = list(args[0]) if isinstance(args[0], (tuple, list)) else list(args)
        return b.node("Transpose", [name], perm=[int(p) % nd for p in perm])
    if method in ("argmax", "argmin"):
        y = _arg_extremum(b, "ArgMax" if method == "argmax" else "ArgMin", x, name, args, kwargs)
        return b.cast(y, np.int64, eq.out.dtype)
    if method in ("sum", "max", "min", "prod", "mean"):
        op = {"sum": "ReduceSum", "max": "ReduceMax", "min": "ReduceMin", "prod": "ReduceProd",
              "mean": "ReduceMean"}[method]
        return b.cast(_numpy_reduce(b, op, x, name, args, kwargs), x.dtype, eq.out.dtype)
    if method.startswith("__r") and method.replace("__r", "__", 1) in _OPERATORS:
        return _elementwise(b, _OPERATORS[method.replace("__r", "__", 1)], [args[0], x], eq.out)
    if method in _OPERATORS:
        return _elementwise(b, _OPERATORS[method], [x] + list(args), eq.out)
    raise NotImplementedError(f"ONNX export: the NumPy operation 'ndarray.{method}' is not supported")


def _numpy_function(b, eq, ins):
    _check_item(eq)
    fname = getattr(eq.prim.func, "__name__", "function")
    args, kwargs = _fill(eq.params["args"], eq), _fill(eq.params["kwargs"], eq)
    if fname == "take_along_axis":
        arr, idx = args[0], args[1]
        axis = _axis_arg(args, kwargs, 2)
        nd = len(arr.shape)
        axis = int(axis) % nd
        out_dims = b.dims(eq.out)
        target = [1 if i == axis else d for i, d in enumerate(out_dims)]
        data = b.names[arr] if isinstance(arr, Var) else b.const(arr)
        index = b.cast(b.names[idx], idx.dtype, np.int64) if isinstance(idx, Var) else b.const(
            np.asarray(idx, np.int64))
        adims = b.dims(arr) if isinstance(arr, Var) else arr.shape
        idims = b.dims(idx) if isinstance(idx, Var) else np.shape(idx)
        if [d for i, d in enumerate(adims) if i != axis] != [d for i, d in enumerate(out_dims) if i != axis]:
            data = b.node("Expand", [data, b.shape_tensor(target)])
        if [d for i, d in enumerate(idims) if i != axis] != [d for i, d in enumerate(out_dims) if i != axis]:
            index = b.node("Expand", [index, b.shape_tensor(target)])
        return b.node("GatherElements", [data, index], axis=axis)
    if fname in ("reshape", "squeeze", "expand_dims", "ravel"):
        x = args[0]
        return b.reshape(b.names[x], b.dims(x), b.dims(eq.out))
    if fname == "broadcast_to":
        x = args[0]
        name, dims = (b.names[x], b.dims(x)) if isinstance(x, Var) else (b.const(x), np.shape(x))
        return b.expand(name, dims, b.dims(eq.out))
    if fname == "where" and len(args) == 3:
        like = next((a.dtype for a in args[1:] if isinstance(a, Var)), eq.out.dtype)
        cond, cd = _operand(b, args[0])
        (xn, xd), (yn, yd) = _operand(b, args[1], like), _operand(b, args[2], like)
        return b.node("Where", [b.cast(cond, cd, np.bool_), b.cast(xn, xd, eq.out.dtype),
                                b.cast(yn, yd, eq.out.dtype)])
    if fname == "transpose":
        x = args[0]
        axes = _axis_arg(args[1:], kwargs, 0, "axes")
        nd = len(x.shape)
        perm = list(range(nd))[::-1] if axes is None else [int(a) % nd for a in axes]
        return b.node("Transpose", [b.names[x]], perm=perm)
    if fname in ("concatenate",):
        parts = args[0]
        axis = _axis_arg(args[1:], kwargs, 0)
        names = [b.cast(_operand(b, p)[0], _operand(b, p)[1], eq.out.dtype) for p in parts]
        return b.node("Concat", names, axis=int(0 if axis is None else axis))
    if fname in ("sum", "amax", "amin", "max", "min", "prod", "mean"):
        op = {"sum": "ReduceSum", "amax": "ReduceMax", "max": "ReduceMax", "amin": "ReduceMin",
              "min": "ReduceMin", "prod": "ReduceProd", "mean": "ReduceMean"}[fname]
        x = args[0]
        return b.cast(_numpy_reduce(b, op, x, b.names[x], args[1:], kwargs), x.dtype, eq.out.dtype)
    if fname in ("argmax", "argmin"):
        x = args[0]
        y = _arg_extremum(b, "ArgMax" if fname == "argmax" else "ArgMin", x, b.names[x], args[1:], kwargs)
        return b.cast(y, np.int64, eq.out.dtype)
    if fname in ("copy", "ascontiguousarray", "asarray", "array"):
        x = args[0]
        return b.cast(b.names[x], x.dtype, eq.out.dtype) if x.dtype != eq.out.dtype else b.node("Identity",
                                                                                                 [b.names[x]])
    raise NotImplementedError(f"ONNX export: the NumPy operation 'np.{fname}' is not supported")


_UFUNC_REDUCE = {"add": "ReduceSum", "maximum": "ReduceMax", "minimum": "ReduceMin", "multiply": "ReduceProd"}


def _numpy_ufunc(b, eq, ins):
    _check_item(eq)
    ufunc, method = eq.prim.ufunc, eq.prim.method
    args, kwargs = _fill(eq.params["args"], eq), _fill(eq.params["kwargs"], eq)
    extra = {k: v for k, v in kwargs.items() if k not in ("axis", "keepdims", "dtype")}
    if extra:
        raise NotImplementedError(f"ONNX export: the NumPy operation '{eq.name}' with {sorted(extra)} is not "
                                  "supported")
    if method == "__call__":
        return _elementwise(b, ufunc.__name__, list(args), eq.out)
    if method == "reduce" and ufunc.__name__ in _UFUNC_REDUCE:
        x = args[0]
        y = _numpy_reduce(b, _UFUNC_REDUCE[ufunc.__name__], x, b.names[x], args[1:], kwargs, default_axis=0)
        return b.cast(y, x.dtype, eq.out.dtype)
    raise NotImplementedError(f"ONNX export: the NumPy operation '{eq.name}' is not supported")


# ---------------------------------------------------------------- the entry points
def _batched_args(args, batch):
    """``args`` with every tensor's first axis resized to ``batch`` (rows repeated cyclically)."""
    leaves, tree = tree_flatten(tuple(args))
    out = []
    for leaf in leaves:
        if isinstance(leaf, Tensor):
            t = Tensor.wrap(np.resize(leaf.data, (batch,) + leaf.shape[1:]).astype(leaf.dtype))
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
    from ..autograd.function import set_grad_enabled
    previous = set_grad_enabled(False)
    try:
        graph = trace_graph(model_or_fn, tuple(args), state)
    finally:
        set_grad_enabled(previous)
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
    if not isinstance(opset, int) or opset < MIN_OPSET:
        raise ValueError(f"ONNX export: opset must be an int >= {MIN_OPSET}, got {opset!r}")
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
