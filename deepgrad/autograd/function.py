"""Primitive operations and how they are applied: recording the dynamic graph (reverse mode, seed
eq. 3.2) and pushing tangents forward (forward mode, seed eq. 3.4) in the same call.

A primitive has three parts, all given the Tensors of one application:
``forward(*arrays, **params) -> array`` on raw backend arrays;
``vjp(g, out, *inputs, **params) -> one cotangent Tensor (or None) per input``;
``jvp(tangents, out, *inputs, **params) -> the output tangent`` (``tangents`` holds None for zero).
Both rules are written with Tensor operations, so derivatives of derivatives come for free.
"""
import functools
import threading
from contextlib import contextmanager

from .. import backend, threads
from ..backend import array_of, numpy
from .tensor import Tensor


class _ThreadState(threading.local):
    """Grad mode, per thread (as in PyTorch): ``no_grad`` in one thread leaves the others recording."""
    grad_enabled = True


_thread = _ThreadState()
_recorder = None        # deepgrad.static's tracer while it records a function: it then runs every apply()
_levels = []            # active forward-mode levels, outermost first (ids increase inwards)
ndarray, generic = numpy.ndarray, numpy.generic
_writes = [0]           # in-place writes so far: until the first, every tensor is at version 0 (no need to record)
_level_counter = [0]


class Primitive:
    """Base class of the primitives; subclasses define ``forward``, ``vjp`` and ``jvp``. ``saved`` names the
    values the VJP reads ("out" and input positions), so a backward pass refuses exactly those modified
    in place since (None: all of them). ``view``: the result may share its input's memory (reshape, slicing)."""
    differentiable = True
    saved = None
    view = False

    @property
    def name(self):
        return type(self).__name__.lower()

    def __call__(self, *inputs, **params):
        return apply(self, inputs, params)

    def __repr__(self):
        return self.name


def apply(prim, inputs, params):
    """Run ``prim`` on Tensors ``inputs``; record it for reverse mode and push forward tangents."""
    if _recorder is not None:       # tracing (deepgrad.static): the recorder runs and records the primitive
        return _recorder(prim, inputs, params)
    if threads.unsettled:             # the cores free to us changed: fit OpenBLAS here, between BLAS calls
        threads.settle()
    out = Tensor.__new__(Tensor)
    try:
        data = prim.forward(*[t.array for t in inputs], **params)
    except Exception:
        check_devices(prim, inputs)      # the arrays' own error for mixed devices is less clear than ours
        raise
    if type(data) is ndarray:
        out.array = data
    else:                                # a device array (all inputs must be there), or a NumPy scalar
        out.array = array_of(data)
        if len(inputs) > 1 and not isinstance(data, generic):
            check_devices(prim, inputs)
    return finish(prim, inputs, params, out)


def check_devices(prim, inputs):
    """Refuse an application of ``prim`` to tensors on different devices, naming two of them (devices are made
    once each, so identity tells them apart)."""
    first = inputs[0].device if inputs else None
    for t in inputs[1:]:
        if t.device is not first:
            raise RuntimeError(f"{prim.name}: expected all tensors on the same device, found {first} and "
                               f"{t.device}; move them with .to(device) first")


def finish(prim, inputs, params, out):
    """Link ``out`` (whose ``data`` holds the forward result) into the reverse-mode graph and push
    forward tangents: the second half of ``apply``, also used by the static tracer."""
    out.grad = None
    out._retain = False
    out._fw = None
    out._version = 0
    out._older = None
    out.requires_grad = False
    out._node = None
    if _thread.grad_enabled and prim.differentiable:
        for t in inputs:
            if t.requires_grad:
                out.requires_grad = True
                out._node = (prim, inputs, params, _writes[0] and (0,) + tuple(i._version for i in inputs) or None)
                break
    if _levels and prim.differentiable:
        for t in inputs:
            if t._fw:
                _push_tangents(prim, inputs, params, out)
                break
    return out


def _push_tangents(prim, inputs, params, out):
    """Forward mode: for each active level (outermost first) compute the output tangent with the
    primitive's JVP rule. Levels at and inside the one being computed are hidden while its rule runs,
    so the rule's own operations only carry the outer levels (no perturbation confusion)."""
    global _levels
    active = _levels
    fw = {}
    out._fw = fw
    try:
        for i, level in enumerate(active):
            tangents = [t._fw.get(level) if t._fw else None for t in inputs]
            if all(t is None for t in tangents):
                continue
            _levels = active[:i]
            tangent = prim.jvp(tangents, out, *inputs, **params)
            if tangent is not None:
                fw[level] = tangent
    finally:
        _levels = active


def bump_version(t):
    """Count an in-place write into ``t`` (see ``Tensor._version``)."""
    t._version += 1
    _writes[0] += 1


def tangent_of(t, level):
    """The tangent ``t`` carries at forward-mode ``level``, or None."""
    return t._fw.get(level) if t._fw and level in _levels else None


def set_tangent(t, level, tangent):
    if t._fw is None:
        t._fw = {}
    t._fw[level] = tangent


@contextmanager
def forward_level():
    """Open a new forward-mode level (one ``jvp``); nested calls get inner levels."""
    global _levels
    _level_counter[0] += 1
    level = _level_counter[0]
    saved = _levels
    _levels = saved + [level]
    try:
        yield level
    finally:
        _levels = saved


def is_grad_enabled():
    """Whether operations in this thread are recorded for reverse mode."""
    return _thread.grad_enabled


def _set_grad_mode(mode):
    """Turn recording in this thread on or off; returns the previous mode."""
    previous, _thread.grad_enabled = _thread.grad_enabled, bool(mode)
    return previous


class _GradMode:
    """Context manager and decorator (``@dg.no_grad()`` or ``@dg.no_grad``) that sets whether operations
    are recorded for reverse mode. Forward-mode tangents are not affected (as in PyTorch)."""
    mode = None

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        return self if fn is None else self(fn)

    def __enter__(self):
        self._previous = _set_grad_mode(self.mode)

    def __exit__(self, *exc):
        _set_grad_mode(self._previous)

    def _fresh(self):
        return type(self)()

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self._fresh():
                return fn(*args, **kwargs)
        return wrapper


class set_grad_enabled(_GradMode):
    """``torch.set_grad_enabled(mode)``: switches recording in this thread at once when called; as
    ``with set_grad_enabled(mode):`` only until the block ends; as a decorator, while the function runs."""

    def __new__(cls, mode):
        return object.__new__(cls)

    def __init__(self, mode):
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled: mode must be a bool, got {type(mode).__name__}")
        self.mode = mode
        self._previous = _set_grad_mode(mode)

    def __enter__(self):
        _set_grad_mode(self.mode)

    def _fresh(self):
        return set_grad_enabled(self.mode)

    def __call__(self, fn):
        _set_grad_mode(self._previous)     # decorating a function does not switch the mode
        return super().__call__(fn)


class no_grad(_GradMode):
    """Do not record operations: results do not require grad (``with dg.no_grad(): ...``)."""
    mode = False


class enable_grad(_GradMode):
    """Record operations again inside a ``no_grad`` region."""
    mode = True


class ToDevice(Primitive):
    """y = x copied to another device (``Tensor.to(device)``); the gradient goes back to x's device."""
    saved = ()

    def forward(self, x, device):
        return backend.to_device(x, device)

    def vjp(self, g, out, x, device):
        return (to_device(g, x.device),)

    def jvp(self, tangents, out, x, device):
        return to_device(tangents[0], device)


_to_device = ToDevice()


def to_device(x, device, non_blocking=False):
    """Tensor ``x`` on ``device`` (itself when it is there already): a copy that stays on the graph."""
    device = backend.check_device(device, "to")
    if x.device == device:
        return x
    if not x.requires_grad and not x._fw:
        return Tensor.wrap(backend.to_device(x.array, device, non_blocking))
    return apply(_to_device, (x,), {"device": device})
