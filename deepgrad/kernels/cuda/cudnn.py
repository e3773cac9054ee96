"""cuDNN through NVIDIA's Python frontend (``pip install nvidia-cudnn-frontend``, ``import cudnn``): one
graph per operation, built once per (operation, shapes, dtype, parameters, math flags) and cached, then
executed on the current CuPy stream with a workspace from CuPy's memory pool.

Convolutions are graphs of one node: ``conv_fprop`` (``conv``), ``conv_dgrad`` (``conv_transpose``) and
``conv_wgrad`` (``conv_weight``). Batch norm's statistics and x̂ are a ``batchnorm`` node with unit
scale and zero shift. Where the frontend is not installed, or cuDNN supports no engine for a graph (a warning
says so, once per convolution graph), ``conv`` and ``batch_norm`` answer None and the caller takes the generic kernels.

float32 convolutions leave out TF32 tensor-core engines (and engines that convert inputs down) unless
``deepgrad.backends.cudnn.allow_tf32`` is set, so results match the CPU to float32 tolerance;
``deepgrad.backends.cudnn.deterministic`` leaves out nondeterministic engines. The flags are read at
every call (they are part of the cache key).
"""
import functools
import importlib
import math
import warnings

import cupy

from ... import backend


@functools.cache
def frontend():
    """The ``cudnn`` frontend module, or None where it is missing or cannot load the cuDNN library."""
    try:
        return importlib.import_module("cudnn")
    except (ImportError, OSError, RuntimeError):
        return None


def _flags():
    """(allow_tf32, deterministic) from ``deepgrad.backends.cudnn``, False where a flag is not defined."""
    settings = importlib.import_module("deepgrad.backends.cudnn")
    if not getattr(settings, "enabled", True):
        return None
    return bool(getattr(settings, "allow_tf32", False)), bool(getattr(settings, "deterministic", False))


_handles = {}


def _handle():
    """This device's cuDNN handle, bound to CuPy's current stream."""
    cudnn = frontend()
    device = cupy.cuda.Device().id
    if device not in _handles:
        _handles[device] = cudnn.create_handle()
    cudnn.set_stream(handle=_handles[device], stream=cupy.cuda.get_current_stream().ptr)
    return _handles[device]


def _strides(shape):
    """Row-major strides in elements."""
    return [math.prod(shape[i + 1:]) for i in range(len(shape))]


def _types(dtype):
    """(io type, compute type) for float16 and float32, else None (float64 takes cuBLAS's DGEMMs: cuDNN's
    graph engines are for the tensor-core types)."""
    data = frontend().data_type
    return {backend.float16: (data.HALF, data.FLOAT),
            backend.float32: (data.FLOAT, data.FLOAT)}.get(backend.numpy.dtype(dtype))


def _tensor(graph, name, shape, io):
    return graph.tensor(name=name, dim=list(shape), stride=_strides(shape), data_type=io)


def _excluded(dtype, tf32, deterministic):
    notes = frontend().numerical_note
    excluded = [notes.NONDETERMINISTIC] if deterministic else []
    if backend.numpy.dtype(dtype) == backend.float32:
        excluded.append(notes.DOWN_CONVERT_INPUTS)
        if not tf32:
            excluded.append(notes.TENSOR_CORE)
    return excluded


def _built(graph, parts, warn=True):
    """``parts`` and the workspace size once ``graph`` is built; None where cuDNN has no engine for it
    (with a warning if ``warn``)."""
    cudnn = frontend()
    try:
        graph.build([cudnn.heur_mode.A, cudnn.heur_mode.FALLBACK])
    except Exception as error:     # no engine (cudnnGraphNotSupportedError), or a graph this cuDNN refuses
        if warn:
            warnings.warn(f"deepgrad: cuDNN cannot run a graph ({error}); using the generic kernels for it",
                          RuntimeWarning, stacklevel=2)
        return None
    return parts + (graph.get_workspace_size(),)


@functools.lru_cache(maxsize=1024)
def _conv_graph(kind, a_shape, b_shape, out_shape, dtype, pre, post, stride, dilation, device, tf32, deterministic):
    """(graph, its A, B and output tensors, workspace bytes) for one convolution, or None if unsupported."""
    cudnn = frontend()
    io, compute = _types(dtype)
    graph = cudnn.pygraph(io_data_type=io, intermediate_data_type=compute, compute_data_type=compute,
                          handle=_handle())
    a, b = _tensor(graph, "a", a_shape, io), _tensor(graph, "b", b_shape, io)
    geometry = dict(pre_padding=list(pre), post_padding=list(post), stride=list(stride), dilation=list(dilation))
    if kind == "fprop":
        out = graph.conv_fprop(image=a, weight=b, **geometry)
    elif kind == "dgrad":
        out = graph.conv_dgrad(loss=a, filter=b, **geometry)
    else:
        out = graph.conv_wgrad(image=a, loss=b, **geometry)
    out.set_output(True).set_dim(list(out_shape)).set_stride(_strides(out_shape)).set_data_type(io)
    graph.deselect_numeric_notes(_excluded(dtype, tf32, deterministic))
    return _built(graph, (graph, a, b, out))


def conv(kind, a, b, out_shape, pre, post, stride, dilation):
    """One convolution graph on contiguous CuPy arrays ``a`` and ``b`` (``kind``: "fprop" a = x, b = w;
    "dgrad" a = dy, b = w; "wgrad" a = x, b = dy), giving a new array of ``out_shape``; None where
    cuDNN cannot run it."""
    flags = _flags()
    if frontend() is None or flags is None or _types(a.dtype) is None:
        return None
    entry = _conv_graph(kind, a.shape, b.shape, tuple(out_shape), a.dtype.str, tuple(pre), tuple(post),
                        tuple(stride), tuple(dilation), cupy.cuda.Device().id, *flags)
    if entry is None:
        return None
    graph, ta, tb, tout, workspace = entry
    out = cupy.empty(out_shape, a.dtype)
    space = cupy.empty(workspace, cupy.uint8)
    graph.execute({ta: a.data.ptr, tb: b.data.ptr, tout: out.data.ptr}, space.data.ptr, handle=_handle())
    return out


@functools.lru_cache(maxsize=256)
def _norm_graph(shape, dtype, device):
    """The batch-norm graph for an (N, C, *spatial) input: x̂ with unit scale and zero shift."""
    cudnn = frontend()
    io, compute = _types(dtype)
    data = cudnn.data_type
    graph = cudnn.pygraph(io_data_type=io, intermediate_data_type=compute, compute_data_type=compute,
                          handle=_handle())
    channel = (1, shape[1]) + (1,) * (len(shape) - 2)
    x = _tensor(graph, "x", shape, io)
    stats = {name: graph.tensor(name=name, dim=list(channel), stride=_strides(channel), data_type=data.FLOAT)
             for name in ("scale", "bias", "mean", "var")}
    scalars = {name: graph.tensor(name=name, dim=[1] * len(shape), stride=[1] * len(shape), data_type=data.FLOAT,
                                  is_pass_by_value=True) for name in ("eps", "momentum")}
    y, mean, inv_var, run_mean, run_var = graph.batchnorm(
        name="bn", input=x, scale=stats["scale"], bias=stats["bias"], in_running_mean=stats["mean"],
        in_running_var=stats["var"], epsilon=scalars["eps"], momentum=scalars["momentum"])
    y.set_output(True).set_dim(list(shape)).set_stride(_strides(shape)).set_data_type(io)
    for t in (mean, inv_var, run_mean, run_var):
        t.set_output(True).set_data_type(data.FLOAT)
    # quietly: cuDNN's batch-norm engines may want channels-last inputs; the generic kernels then serve
    return _built(graph, (graph, x, y, stats, scalars, (mean, inv_var, run_mean, run_var)), warn=False)


def batch_norm(x, eps):
    """x̂ over the batch and spatial axes of a contiguous CuPy array (biased variance), or None."""
    if frontend() is None or _flags() is None or x.ndim < 3 or _types(x.dtype) is None:
        return None
    entry = _norm_graph(x.shape, x.dtype.str, cupy.cuda.Device().id)
    if entry is None:
        return None
    graph, tx, ty, stats, scalars, outputs, workspace = entry
    c = x.shape[1]
    ones, zeros = cupy.ones(c, cupy.float32), cupy.zeros(c, cupy.float32)
    host = {name: backend.numpy.full(1, value, backend.float32) for name, value in (("eps", eps), ("momentum", 0.0))}
    y = cupy.empty_like(x)
    pack = {tx: x.data.ptr, ty: y.data.ptr, stats["scale"]: ones.data.ptr, stats["bias"]: zeros.data.ptr,
            stats["mean"]: zeros.data.ptr, stats["var"]: ones.data.ptr}
    pack.update({scalars[name]: host[name].ctypes.data for name in host})
    scratch = [cupy.empty(c, cupy.float32) for _ in outputs]
    pack.update({t: s.data.ptr for t, s in zip(outputs, scratch)})
    space = cupy.empty(workspace, cupy.uint8)
    graph.execute(pack, space.data.ptr, handle=_handle())
    return y
