"""The Tensor: a backend array (``array``: NumPy's, or CuPy's on a GPU) plus what reverse and forward mode
need to know about it. ``data`` is PyTorch's: a detached tensor sharing the array.

``_node`` is ``(primitive, inputs, params, versions)`` for a result recorded on the dynamic graph, None
for a leaf, and ``FREED`` once a backward pass without ``retain_graph`` has released it; ``versions``
holds the ``_version`` of the result and of each input when it was recorded. ``_version`` counts the
in-place modifications of a tensor, so a backward pass can refuse values that changed after they
were recorded (as PyTorch's version counters); ``_older`` is the tensor that took over this one's
previous value and history when a recorded in-place operation changed it (see ``inplace``). ``_fw`` maps
active forward-mode levels to tangent Tensors. Operators and methods (``+``, ``exp``, ``sum``...)
are installed by the ``ops`` layer, which sits above this one.
"""
from .. import backend

FREED = ("freed",)

# Set by deepgrad.static while it traces a function: ``_trace_check(tensor, what)`` raises its TraceError
# when ``tensor`` holds a traced value that would leave the graph as a Python value (bool(), item(), ...).
_trace_check = None


class Tensor:
    __slots__ = ("array", "requires_grad", "grad", "_node", "_fw", "_retain", "_version", "_older",
                 "__weakref__")
    __hash__ = object.__hash__   # == is elementwise, yet tensors can key dicts and sets

    def __init__(self, data, dtype=None, requires_grad=False):
        self.array = backend.as_array(data.array if isinstance(data, Tensor) else data, dtype)
        self.grad = None
        self._node = None
        self._fw = None
        self._retain = False
        self._version = 0
        self._older = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def wrap(cls, array):
        """A leaf Tensor around a backend array, without copying (internal fast path). A NumPy scalar
        (what NumPy returns for 0-d results) becomes a 0-d array, so in-place updates stay in place."""
        t = cls.__new__(cls)
        t.array = array if type(array) is backend.numpy.ndarray else backend.array_of(array)
        t.requires_grad = False
        t.grad = None
        t._node = None
        t._fw = None
        t._retain = False
        t._version = 0
        t._older = None
        return t

    @property
    def data(self):
        """The values as a new tensor sharing this one's memory, cut off from the graph, whose in-place
        changes autograd does not track (``torch.Tensor.data``). ``t.array`` is the backend array itself."""
        return Tensor.wrap(self.array)

    @data.setter
    def data(self, value):
        """``t.data = other``: this tensor holds ``other``'s values from now on (its memory; shape and dtype too)."""
        if not isinstance(value, Tensor) and not hasattr(value, "__array_interface__") \
                and not backend.is_array(value):
            raise TypeError(f"data must be set to a Tensor, got {type(value).__name__}")
        self.array = value.array if isinstance(value, Tensor) else value

    # ------------------------------------------------------------ array facts
    @property
    def shape(self):
        return self.array.shape

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def ndim(self):
        return self.array.ndim

    @property
    def device(self):
        return backend.device_of(self.array)

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    def size(self, dim=None):
        return self.array.shape if dim is None else self.array.shape[dim]

    def numel(self):
        return self.array.size

    def dim(self):
        return self.array.ndim

    def __len__(self):
        if self.array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    # ------------------------------------------------------------ leaving the tensor world
    def numpy(self):
        """The values as a NumPy array sharing this tensor's memory; on a device, copy with ``.cpu()`` first."""
        if _trace_check is not None:
            _trace_check(self, "numpy()")
        if self.device is not backend.CPU:
            raise TypeError(f"can't convert a {self.device} tensor to a NumPy array: copy it to the host "
                            "first with .cpu() (t.cpu().numpy())")
        return backend.numpy.asarray(self.array)

    def _host(self):
        """The values as a NumPy array: this tensor's own on the CPU, an explicit copy from a device."""
        return backend.to_host(self.array)

    def __array__(self, dtype=None, copy=None):
        if _trace_check is not None:
            _trace_check(self, "conversion to a NumPy array (np.asarray / __array__)")
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def __dlpack__(self, *, stream=None, **kwargs):
        """The DLPack capsule of this tensor's memory, for zero-copy exchange (``torch.from_dlpack(t)``)."""
        if self.requires_grad:
            raise RuntimeError("can't export a tensor that requires grad through DLPack; use tensor.detach()")
        return self.array.__dlpack__(stream=stream, **kwargs)

    def __dlpack_device__(self):
        return self.array.__dlpack_device__()

    def item(self):
        if _trace_check is not None:
            _trace_check(self, "item()")
        if self.array.size != 1:
            raise ValueError(f"item() needs a tensor with exactly one element, got shape {self.shape}")
        return self._host().reshape(()).item()

    def tolist(self):
        if _trace_check is not None:
            _trace_check(self, "tolist()")
        return self._host().tolist()

    def __float__(self):
        if _trace_check is not None:
            _trace_check(self, "float()")
        return float(self.item())

    def __int__(self):
        if _trace_check is not None:
            _trace_check(self, "int()")
        return int(self.item())

    def __index__(self):
        if _trace_check is not None:
            _trace_check(self, "use as a Python index (__index__)")
        if self.dtype.kind not in "iu" or self.array.size != 1:
            raise TypeError(f"only integer tensors of one element can be used as an index, "
                            f"got dtype {self.dtype} and shape {self.shape}")
        return int(self.item())

    def __bool__(self):
        if _trace_check is not None:
            _trace_check(self, "bool() (Python control flow on a tensor's value, e.g. `if tensor:`)")
        if self.array.size != 1:
            raise ValueError(f"the truth value of a tensor with {self.array.size} elements is ambiguous; "
                             "use .any() or .all()")
        return bool(self.item())

    def __repr__(self):
        if _trace_check is not None and _trace_check(self, None):
            return f"tensor(<traced {self.dtype}{list(self.shape)}>)"
        body = backend.numpy.array2string(self._host(), separator=", ", prefix="tensor(", precision=4)
        extra = "" if self.device is backend.CPU else f", device='{self.device}'"
        if self.dtype not in (backend.float32, backend.int64, backend.bool_):
            extra += f", dtype={self.dtype}"
        if self._node is not None and self._node is not FREED:
            extra += f", grad_fn=<{self.grad_fn.name()}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # ------------------------------------------------------------ autograd
    @property
    def is_leaf(self):
        return self._node is None

    @property
    def grad_fn(self):
        """The recorded operation that produced this tensor (a ``graph.Node``; None for a leaf)."""
        if self._node is None or self._node is FREED:
            return None
        from .graph import Node
        return Node(self)

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor replaces the
        gradient. Returns a handle whose ``remove()`` takes the hook off (``torch.Tensor.register_hook``)."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that does not require gradient")
        from .engine import register_hook
        return register_hook(self, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(self)`` once a backward pass has accumulated all of this leaf's gradient into
        ``.grad`` (``torch.Tensor.register_post_accumulate_grad_hook``); returns a removable handle."""
        if self._node is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that does not require gradient")
        from .engine import register_post_accumulate_grad_hook
        return register_post_accumulate_grad_hook(self, hook)

    def requires_grad_(self, requires_grad=True):
        if requires_grad and not backend.is_floating(self.dtype):
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {self.dtype}")
        if not requires_grad and self._node is not None:
            raise RuntimeError("requires_grad can only be switched off on a leaf; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self):
        """Keep ``.grad`` for this non-leaf tensor after ``backward`` (leaves always keep it)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        self._retain = True
        return self

    def detach(self):
        """The same values, cut off from the graph (shares memory, like ``torch.Tensor.detach``)."""
        return Tensor.wrap(self.array)

    def backward(self, gradient=None, retain_graph=False, create_graph=False, inputs=None):
        """Reverse mode (seed eq. 3.5): accumulate d(self)/d(leaf) into every leaf's ``.grad``."""
        from .engine import backward
        backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)
