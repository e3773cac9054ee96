"""``compile_train_step(model, loss_fn, optimizer)``: one training step — forward, backward and the
optimiser's update — traced once into a static graph and replayed at every call.

The update is the optimiser's own formula written functionally with Tensor operations (so it is part
of the trace), reproducing ``deepgrad.optim.SGD`` / ``Adam`` / ``AdamW`` operation for operation
(the same float32 roundings), so a compiled step equals the eager ``zero_grad(); backward(); step()``
to the last bit or within 1e-6. The new parameter values, optimiser state (momentum buffers, Adam's
moments and step counters) and buffers (BatchNorm running statistics) are written back into their
arrays after every call, in place, so eager and compiled steps can be mixed freely and
``optimizer.state_dict()`` stays meaningful. Each group's learning rate is an input of the graph
(a scheduler changing it does not retrace); the other hyper-parameters are fixed in the graph
(changing them retraces). ``.grad`` of the parameters is not written.
"""
from .. import backend
from ..autograd import engine
from ..autograd.function import no_grad
from ..autograd.tensor import Tensor
from ..pytree import tree_flatten
from .compile import Executable, leaf_key, tree_key
from .prims import GuardFailure
from .tracer import module_state, trace_graph

np = backend.numpy


def _adam_scalars(step, lr, beta1, beta2, dtype):
    """-lr/(1 − β1ᵗ) and √(1 − β2ᵗ), computed in Python floats exactly as ``optim.Adam.step`` does, then
    rounded to the parameter's dtype as NumPy rounds a Python float next to an array of it."""
    step, lr = float(step), float(lr)
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    return np.array([-(lr / bias_correction1), bias_correction2 ** 0.5], dtype=dtype)


def _recorder():
    from ..autograd import function
    return function._recorder


def _sgd(p, g, state, group, lr, first):
    momentum, dampening, wd = group["momentum"], group["dampening"], group["weight_decay"]
    if group["maximize"]:
        g = -g
    if wd != 0:
        g = g + p * wd
    new_state = {}
    if momentum != 0:
        if first:
            buf = g
        else:
            buf = state["momentum_buffer"] * momentum
            buf = buf + (g if dampening == 0 else g * (1 - dampening))
        new_state["momentum_buffer"] = buf
        g = g + buf * momentum if group["nesterov"] else buf
    return p - g * lr.astype(p.dtype), new_state


def _adam(p, g, state, group, lr, first):
    beta1, beta2 = group["betas"]
    eps, wd = group["eps"], group["weight_decay"]
    if group["maximize"]:
        g = -g
    step = state["step"] + 1
    if wd != 0:
        if group["decoupled_weight_decay"]:
            p = p * (1 - lr * wd).astype(p.dtype)
        else:
            g = g + p * wd
    m, v = state["exp_avg"], state["exp_avg_sq"]
    w = 1 - beta1
    scratch = g - m
    m = m + scratch * w if w < 0.5 else g - scratch * (1 - w)
    v = v * beta2 + g * (1 - beta2) * g
    new_state = {"step": step, "exp_avg": m, "exp_avg_sq": v}
    scalars = Tensor.wrap(_recorder().opaque(_adam_scalars)(step.array, lr.array, beta1, beta2, p.dtype))
    neg_step_size, bias_correction2_sqrt = scalars[0], scalars[1]
    if group["amsgrad"]:
        v = state["max_exp_avg_sq"].maximum(v)
        new_state["max_exp_avg_sq"] = v
    denom = v.sqrt() / bias_correction2_sqrt + eps
    return p + (m / denom) * neg_step_size, new_state


def _rule(optimizer):
    from ..optim import SGD, Adam
    if isinstance(optimizer, Adam):
        return _adam, ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    if isinstance(optimizer, SGD):
        return _sgd, ("momentum_buffer",)
    raise NotImplementedError(f"compile_train_step supports SGD, Adam and AdamW; got {type(optimizer).__name__} "
                              "(use an eager step for it)")


class TrainStep:
    """``step(x, *targets) -> loss``: ``loss_fn(model(x), *targets)``, its gradients with respect to the
    optimiser's parameters, and the optimiser's update, as one compiled graph."""

    def __init__(self, model, loss_fn, optimizer, fuse=True, reuse_buffers=True):
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.update_rule, self.state_keys = _rule(optimizer)
        self.options = dict(fuse=fuse, reuse=reuse_buffers)
        self.graphs = {}
        self.traces = 0
        self._modules = list(model.modules())

    # ------------------------------------------------------------ optimiser state
    def _initial_state(self, p, group):
        zeros = Tensor.wrap(np.zeros_like(p.array))
        if self.update_rule is _adam:
            state = {"step": Tensor.wrap(np.zeros((), np.float32)), "exp_avg": zeros,
                     "exp_avg_sq": Tensor.wrap(np.zeros_like(p.array))}
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = Tensor.wrap(np.zeros_like(p.array))
            return state
        return {"momentum_buffer": zeros} if group["momentum"] != 0 else {}

    def _prepare(self):
        """Create missing optimiser state (as the eager step would); return which parameters had none."""
        opt = self.optimizer
        first = []
        stateless = self.update_rule is _sgd
        for group in opt.param_groups:
            if stateless and group["momentum"] == 0:
                first.extend(False for _ in group["params"])
                continue
            for p in group["params"]:
                has = p in opt.state and len(opt.state[p]) > 0
                first.append(not has)
                if not has:
                    opt.state[p].update(self._initial_state(p, group))
        return tuple(first)

    def _state_list(self):
        state = module_state(self.model)
        seen = {id(t) for _, t in state}
        opt = self.optimizer
        for gi, group in enumerate(opt.param_groups):
            for pi, p in enumerate(group["params"]):
                if id(p) not in seen:
                    seen.add(id(p))
                    state.append((f"optimizer.group{gi}.param{pi}", p))
        for gi, group in enumerate(opt.param_groups):
            for pi, p in enumerate(group["params"]):
                entries = opt.state.get(p, {})
                for k in self.state_keys:
                    t = entries.get(k)
                    if isinstance(t, Tensor) and id(t) not in seen:
                        seen.add(id(t))
                        state.append((f"optimizer.group{gi}.param{pi}.{k}", t))
        return state

    # ------------------------------------------------------------ the traced step
    def _body(self, first):
        model, loss_fn, opt, rule = self.model, self.loss_fn, self.optimizer, self.update_rule
        sgd_first = first if rule is _sgd else (False,) * len(first)

        def step(lrs, x, *targets):
            loss = loss_fn(model(x), *targets)
            params = [p for g in opt.param_groups for p in g["params"]]
            trainable = [p for p in params if p.requires_grad]
            grads = engine.grad([loss], trainable, allow_unused=True) if trainable else ()
            grad_of = {id(p): g for p, g in zip(trainable, grads)}
            k = 0
            with no_grad():
                for group, lr in zip(opt.param_groups, lrs):
                    lr = Tensor.wrap(lr)
                    for p in group["params"]:
                        g = grad_of.get(id(p))
                        is_first = sgd_first[k]
                        k += 1
                        if g is None:
                            continue
                        state = opt.state[p]
                        new_p, new_state = rule(p, g, state, group, lr, is_first)
                        p.array = new_p.array
                        for name, value in new_state.items():
                            state[name].array = value.array
            return loss.detach()
        return step

    def _key(self, batch, first, state):
        leaves, tree = tree_flatten(tuple(batch))
        hyper = tuple(tuple(sorted((k, repr(v)) for k, v in g.items() if k not in ("params", "lr", "param_names")))
                      for g in self.optimizer.param_groups)
        return (tree_key(tree), tuple(leaf_key(x) for x in leaves), tuple(m.training for m in self._modules), hyper,
                first if self.update_rule is _sgd else (),
                tuple((id(t), t.array.shape, t.array.dtype.str, t.requires_grad) for _, t in state))

    def executable(self, *batch):
        """(Executable, state list, first-step flags, cache key) for this batch, tracing if needed."""
        first = self._prepare()
        state = self._state_list()
        key = self._key(batch, first, state)
        entry = self.graphs.get(key)
        if entry is None:
            entry = self._build(batch, first, state, key)
        return entry, state, first, key

    def _build(self, batch, first, state, key):
        self.traces += 1
        lrs = tuple(np.asarray(float(g["lr"]), np.float64) for g in self.optimizer.param_groups)
        graph = trace_graph(self._body(first), (lrs,) + tuple(batch), state)
        entry = Executable(graph, **self.options)
        self.graphs[key] = entry
        return entry

    def __call__(self, *batch):
        if not batch:
            raise TypeError("a train step needs at least the model's input: step(x, *targets)")
        entry, state, first, key = self.executable(*batch)
        lrs = [np.asarray(float(g["lr"]), np.float64) for g in self.optimizer.param_groups]
        leaves = [x for x in tree_flatten(tuple(batch))[0] if isinstance(x, (Tensor, np.ndarray))]
        tensors = [t for _, t in state] + lrs + leaves
        arrays = [t.array if isinstance(t, Tensor) else t for t in tensors]
        rng = entry.rng_state() if entry.generators else None
        try:
            (loss,) = entry(tensors, arrays, state, False)
        except GuardFailure:
            for g, s in rng or ():
                g.set_state(s)
            entry = self._build(batch, first, state, key)
            (loss,) = entry(tensors, arrays, state, False)
        return loss

    @property
    def plan(self):
        """The memory plan of the most recently traced graph."""
        return list(self.graphs.values())[-1].plan if self.graphs else None


def compile_train_step(model, loss_fn, optimizer, fuse=True, reuse_buffers=True):
    """Compile ``loss_fn(model(x), *targets)``, its backward pass and ``optimizer``'s update (SGD,
    Adam or AdamW) into one static graph: ``step = compile_train_step(model, F.cross_entropy, opt)``,
    then ``loss = step(x, y)`` per batch. Equals the eager ``opt.zero_grad(); loss.backward();
    opt.step()`` (parameters, optimiser state and buffers are updated in place)."""
    return TrainStep(model, loss_fn, optimizer, fuse=fuse, reuse_buffers=reuse_buffers)
