"""The traced graph prepared for export (symbolic batch dimension) and the builder of the ONNX graph."""
import contextlib

from ... import backend
from .. import prims
from ..ir import Var, map_nested

np = backend.numpy
from .converters import CONVERTERS
from .numpy_ops import _numpy_function, _numpy_method, _numpy_ufunc

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
    from ...nn.module import Module
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
            self.consts[v] = np.asarray(t.array)
            self.const_names[v] = name
            self.params.add(v)
        for v, a in graph.constants.items():
            if v in graph.externals:
                a = graph.externals[v].array
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
    return map_nested(value, Var, env.__getitem__)


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




def _converter(eq):
    prim = eq.prim
    if isinstance(prim, prims.NumpyMethod):
        return _numpy_method
    if isinstance(prim, prims.NumpyFunction):
        return _numpy_function
    if isinstance(prim, prims.NumpyUfunc):
        return _numpy_ufunc
    fn = CONVERTERS.get(eq.name)
    if fn is None:
        def unsupported(b, eq, ins):
            raise NotImplementedError(f"ONNX export: primitive '{eq.name}' is not supported")
        return unsupported
    return fn

