"""``Optimizer``: the base of the optimisers, with PyTorch's structure: ``param_groups`` (a list of
dicts holding ``params`` and that group's options), ``defaults``, per-parameter ``state``,
``zero_grad``, ``add_param_group`` and ``state_dict``/``load_state_dict`` in PyTorch's format
(state keyed by parameter index; groups with ``params`` as lists of indices).

Steps update ``p.array`` in place with the operations of its array namespace (NumPy, or CuPy on a GPU),
outside any graph; optimiser state (moments, momentum buffers) is kept as Tensors of the parameter's shape,
on its device, whose arrays are updated in place too (``step`` stays a 0-d CPU tensor, as in PyTorch). The arithmetic sees every array through ``_nd`` (a 0-d array as its shape-(1,) view), as
NumPy turns 0-d results into scalars, which can be neither ``out=`` targets nor updated in place.
"""
import copy
import warnings
from collections import defaultdict
from itertools import chain

from .. import backend
from ..autograd.function import enable_grad
from ..autograd.tensor import Tensor

np = backend.numpy


class _RequiredParameter:
    """Marks a default (such as SGD's lr in old PyTorch) that every group must give."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def _zeros_like(p):
    return Tensor.wrap(backend.xp_of(p.array).zeros_like(p.array))


def _scalar_tensor(value=0.0):
    """A scalar of the state such as ``step``: a 0-d float32 tensor, as in PyTorch."""
    return Tensor.wrap(np.full((), value, np.float32))


def _next_step(state):
    """Count one more step in ``state['step']``; returns the new count as a float. (Assigning a Python
    float is 8x faster than NumPy's ``+= 1`` on a 0-d array, which costs 5 µs.)"""
    counter = state["step"].array
    counter[...] = float(counter) + 1
    return float(counter)


class Optimizer:
    """Base class: subclasses define ``step`` and pass their option ``defaults`` here.

    ``params`` is an iterable of Tensors, of (name, Tensor) pairs, or of dicts (parameter groups,
    each with a ``params`` entry and optionally its own options)."""

    _scalar_state = ("step",)   # state entries kept as 0-d float32 (``_state_of``'s scalars)

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {type(params).__name__}")
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    # ------------------------------------------------------------ groups
    def add_param_group(self, param_group):
        """Add a group of parameters (a dict with ``params``); missing options come from ``defaults``."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        param_group = dict(param_group)
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        else:
            params = list(params)
        names = None
        if params and isinstance(params[0], tuple):
            if not all(isinstance(p, tuple) and len(p) == 2 for p in params):
                raise ValueError("all optimizer params should be Tensors or all (name, Tensor) pairs")
            names = [name for name, _ in params]
            params = [p for _, p in params]
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
            if not backend.is_floating(p.dtype):
                raise TypeError(f"optimizer can only optimize floating-point Tensors, got dtype {p.dtype}")
        param_group["params"] = params
        if names is not None:
            param_group["param_names"] = names
        elif any("param_names" in g for g in self.param_groups):
            raise ValueError("all optimizer param groups should be with or without names")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        if len({id(p) for p in params}) != len(params):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will "
                          "cause an error", UserWarning, stacklevel=3)
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ------------------------------------------------------------ gradients
    def zero_grad(self, set_to_none=True):
        """Reset the gradients: to None (the default) or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    g = p.grad
                    if g.requires_grad or g._node is not None or not backend.writeable(g.array):
                        p.grad = g = Tensor.wrap(g.array.copy())
                    g.array[...] = 0

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()``'s loss if given.
        Subclasses define the update of one parameter, ``_update(p, θ, g, group)``: θ is p's array and
        g the gradient to follow (negated, so a new array, for ``maximize``), both seen through ``_nd``."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            maximize, update = group["maximize"], self._update
            for p in group["params"]:
                if p.grad is not None:
                    theta, g = p.array, p.grad.array
                    if not theta.ndim:                  # _nd, inlined on this hot path
                        theta, g = theta.reshape(1), g.reshape(1)
                    update(p, theta, -g if maximize else g, group)
        return loss

    def _update(self, p, theta, g, group):
        raise NotImplementedError(f"{type(self).__name__} must define step() or _update()")

    def _closure_loss(self, closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # ------------------------------------------------------------ state
    def _state_of(self, p, *names, **scalars):
        """p's state, created on first use as PyTorch does: ``step`` and the ``scalars`` (0-d float32,
        from the values given) and zero arrays ``names`` of p's shape."""
        state = self.state[p]
        if len(state) == 0:
            state["step"] = _scalar_tensor()
            for name, value in scalars.items():
                state[name] = _scalar_tensor(value)
            for name in names:
                state[name] = _zeros_like(p)
        return state

    def state_dict(self):
        """{'state': {index: per-parameter state}, 'param_groups': [group options with 'params' as
        index lists]}, indices numbering the parameters in group order (PyTorch's format). Like
        PyTorch, the state entries are the optimiser's own (deep-copy to snapshot them)."""
        mapping = {}
        start = 0

        def pack(group):
            nonlocal start
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            return packed

        groups = [pack(g) for g in self.param_groups]
        state = {mapping[id(p)]: v for p, v in self.state.items() if id(p) in mapping}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a state_dict() (from this or an identically structured optimiser). The state is
        copied, floating-point entries cast to their parameter's dtype, except the float32 scalars
        (``step``; NAdam's ``mu_product`` too, which PyTorch casts, so that a resumed run continues
        exactly)."""
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError(f"loaded state dict has a different number of parameter groups "
                             f"({len(saved_groups)}) than the optimizer ({len(groups)})")
        for i, (g, s) in enumerate(zip(groups, saved_groups)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(f"loaded state dict contains a parameter group ({i}) with {len(s['params'])} "
                                 f"parameters, but the optimizer's group has {len(g['params'])}")
        id_map = dict(zip(chain.from_iterable(s["params"] for s in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))

        def cast(param, value, key=None):
            if isinstance(value, Tensor) or backend.is_array(value):
                array = value.array if isinstance(value, Tensor) else value
                array = array.copy()
                if key not in self._scalar_state:       # on the parameter's device (the scalars stay on the CPU)
                    array = backend.to_device(array, param.device)
                    if backend.is_floating(param.dtype) and backend.is_floating(array.dtype):
                        array = array.astype(param.dtype, copy=False)
                return Tensor.wrap(array)
            if isinstance(value, dict):
                return {k: cast(param, v, k) for k, v in value.items()}
            return copy.deepcopy(value)

        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = cast(param, v)
            else:
                state[k] = copy.deepcopy(v)

        new_groups = []
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            for name, default in self.defaults.items():   # options older checkpoints lack
                saved.setdefault(name, default)
            new_groups.append(saved)
        self.state = state
        self.param_groups = new_groups

    # ------------------------------------------------------------ printing
    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key not in ("params", "param_names"):
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def _nd(array):
    """``array``, or for a 0-d array its shape-(1,) view (writes go through): arithmetic on it gives
    arrays, never NumPy scalars, so ``out=`` and in-place updates work for 0-dim parameters too."""
    return array if array.ndim else array.reshape(1)


def _apply_weight_decay(g, theta, weight_decay, owned):
    """g + weight_decay·θ (``grad.add(param, alpha=weight_decay)``), reusing g when it is ours."""
    if weight_decay == 0:
        return g, owned
    if owned:
        g += weight_decay * theta
        return g, True
    return g + weight_decay * theta, True


def _check_adam_options(lr, betas, eps, weight_decay):
    """PyTorch's checks of the Adam family's options."""
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


def _decay_weight(g, theta, lr, weight_decay, decoupled, owned):
    """Weight decay of the Adam family: θ ← θ·(1 − lr·λ) when ``decoupled`` (AdamW), else g + λ·θ."""
    if weight_decay != 0 and decoupled:
        theta *= 1 - lr * weight_decay
        return g
    return _apply_weight_decay(g, theta, weight_decay, owned)[0]


def _average_square_(v, g, beta, scratch):
    """v ← β·v + (1 − β)·g² in place (``v.mul_(β).addcmul_(g, g, value=1 − β)``); ``scratch`` (v's
    shape) is overwritten."""
    v *= beta
    backend.xp_of(v).multiply(g, 1 - beta, out=scratch)
    scratch *= g
    v += scratch


def _lerp_(target, end, weight, scratch):
    """target.lerp_(end, weight) in place, with PyTorch's two-sided formula: target + w·(end − target)
    for w < 0.5, else end − (1 − w)·(end − target). ``scratch`` (target's shape) is overwritten."""
    xp = backend.xp_of(target)
    xp.subtract(end, target, out=scratch)
    if weight < 0.5:
        scratch *= weight
        target += scratch
    else:
        scratch *= 1 - weight
        xp.subtract(end, scratch, out=target)
