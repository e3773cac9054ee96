"""Every optimiser against torch.optim on parameters of shapes (), (1,), (3,) and (2, 3) together, in
float32 and float64, over its options: each framework computes the gradients of the same loss on its
own parameters (through ``step(closure)``), and after every step the parameters and the whole
state_dict (keys, shapes, dtypes, values; ``step`` a 0-d float32) must agree. Also: defaults and
argument errors as PyTorch's, and the state of 0-dim parameters through a checkpoint."""
import itertools
import re

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import optim
from deepgrad.train.checkpoint import load_checkpoint, save_checkpoint

torch = pytest.importorskip("torch")

SHAPES = [(), (1,), (3,), (2, 3)]
STEPS = 8            # RAdam's rectified update starts at step 6
TORCH_ONLY = {"foreach", "capturable", "differentiable", "fused"}
# the gradients agree to the last bit or two; float32 rounding then drifts over the steps (normalising
# optimisers divide small differences), float64's stays at the level of a few ulps
TOLERANCE = {"float32": dict(rtol=2e-5, atol=1e-6), "float64": dict(rtol=1e-10, atol=1e-13)}
# L-BFGS differences nearby gradients: float32 rounding (both frameworks' alike, in size) reaches 3e-5
# in the parameters mid-run, and near float32's noise floor the stopping tests fall either way, so in
# float32 it stops above that floor (float64 runs to the default tolerances, compared tightly)
LBFGS_FLOAT32 = dict(rtol=1e-4, atol=1e-5)
LBFGS_FLOAT32_STOP = dict(tolerance_grad=1e-4, tolerance_change=1e-4)


def _problem():
    rng = np.random.default_rng(0)
    return [dict(theta=rng.standard_normal(s), a=rng.uniform(0.5, 1.5, s), b=rng.standard_normal(s))
            for s in SHAPES]


def _loss(params, problem, const, sign):
    """sign·Σ (a·(θ − b)² + θ⁴/10), each term summed over its own parameter."""
    total = 0.0
    for theta, q in zip(params, problem):
        r = theta - const(q["b"])
        total = total + (const(q["a"]) * r * r).sum() + (theta * theta * theta * theta).sum() * 0.1
    return total * sign


def _plain(value):
    """A state_dict's values as NumPy arrays (tensors) or plain numbers, nested as they are."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.detach().numpy().copy()
    if isinstance(value, dg.Tensor):
        return value.numpy().copy()
    return value


def run(lib, name, kwargs, dtype, steps=STEPS):
    """(parameters, state) after each step, and the optimiser."""
    problem = _problem()
    if lib is dg:
        params = [dg.tensor(q["theta"], dtype=dtype, requires_grad=True) for q in problem]
        opt = getattr(optim, name)(params, **kwargs)
        const = lambda x: dg.tensor(x, dtype=dtype)  # noqa: E731
    else:
        params = [torch.tensor(q["theta"], dtype=getattr(torch, dtype), requires_grad=True) for q in problem]
        opt = getattr(torch.optim, name)(params, **kwargs)
        const = lambda x: torch.tensor(x, dtype=getattr(torch, dtype))  # noqa: E731
    sign = -1.0 if kwargs.get("maximize") else 1.0   # maximise the negated loss: still bounded

    def closure():
        opt.zero_grad()
        loss = _loss(params, problem, const, sign)
        loss.backward()
        return loss

    history = []
    for _ in range(steps):
        opt.step(closure)
        history.append((_plain(params), _plain(opt.state_dict()["state"])))
    return history, opt


def assert_same(ours, theirs, tol, where):
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and set(ours) == set(theirs), f"{where}: keys {set(ours)} != {set(theirs)}"
        for key in theirs:
            assert_same(ours[key], theirs[key], tol, f"{where}[{key!r}]")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), f"{where}: {ours!r} != {theirs!r}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, tol, f"{where}[{i}]")
    elif isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray), f"{where}: {type(ours).__name__}, PyTorch has a tensor"
        assert (ours.shape, ours.dtype) == (theirs.shape, theirs.dtype), \
            f"{where}: {ours.shape} {ours.dtype}, PyTorch's {theirs.shape} {theirs.dtype}"
        scale = max(1.0, float(np.abs(theirs).max(initial=0.0)))     # absolute errors grow with the values
        np.testing.assert_allclose(ours, theirs, rtol=tol["rtol"], atol=tol["atol"] * scale, err_msg=where)
    elif isinstance(theirs, (bool, int, str)) or theirs is None:
        assert ours == theirs and type(ours) is type(theirs), f"{where}: {ours!r} != {theirs!r}"
    else:
        assert isinstance(ours, float) and ours == pytest.approx(theirs, rel=tol["rtol"]), f"{where}: {ours!r}"


def _grid(**options):
    return [dict(zip(options, values)) for values in itertools.product(*options.values())]


def _only_with_weight_decay(kwargs):
    return kwargs["weight_decay"] or not kwargs.get("decoupled_weight_decay")


CASES = {
    "SGD": [kw for kw in _grid(lr=[0.05], momentum=[0.0, 0.9], dampening=[0.0, 0.3], nesterov=[False, True],
                               weight_decay=[0.0, 0.1], maximize=[False, True])
            if not kw["nesterov"] or (kw["momentum"] and not kw["dampening"])],
    "Adam": [kw for kw in _grid(lr=[0.05], weight_decay=[0.0, 0.1], amsgrad=[False, True], maximize=[False, True],
                                decoupled_weight_decay=[False, True]) if _only_with_weight_decay(kw)]
    + [dict(lr=0.05, betas=(0.5, 0.8), eps=1e-3)],
    "AdamW": _grid(lr=[0.05], weight_decay=[0.0, 0.1], amsgrad=[False, True], maximize=[False, True]),
    "Adagrad": _grid(lr=[0.1], lr_decay=[0.0, 0.05], weight_decay=[0.0, 0.1], initial_accumulator_value=[0.0, 0.5],
                     maximize=[False, True]),
    "RMSprop": _grid(lr=[0.01], weight_decay=[0.0, 0.1], momentum=[0.0, 0.9], centered=[False, True],
                     maximize=[False, True]) + [dict(lr=0.01, alpha=0.5, eps=1e-3, centered=True)],
    "Adadelta": _grid(lr=[1.0], rho=[0.9, 0.5], weight_decay=[0.0, 0.1], maximize=[False, True])
    + [dict(lr=0.5, eps=1e-3)],
    "Adamax": _grid(lr=[0.05], betas=[(0.9, 0.999), (0.5, 0.8)], weight_decay=[0.0, 0.1], maximize=[False, True]),
    "NAdam": [kw for kw in _grid(lr=[0.05], weight_decay=[0.0, 0.1], decoupled_weight_decay=[False, True],
                                 momentum_decay=[4e-3, 0.1], maximize=[False, True]) if _only_with_weight_decay(kw)]
    + [dict(lr=0.05, betas=(0.5, 0.8), eps=1e-3)],
    "RAdam": [kw for kw in _grid(lr=[0.05], weight_decay=[0.0, 0.1], decoupled_weight_decay=[False, True],
                                 maximize=[False, True]) if _only_with_weight_decay(kw)]
    + [dict(lr=0.05, betas=(0.5, 0.95), eps=1e-3)],
    "LBFGS": [dict(), dict(lr=0.5, history_size=2), dict(max_iter=3), dict(max_iter=1), dict(max_eval=5),
              dict(tolerance_grad=1e-2), dict(tolerance_change=1e-2), dict(line_search_fn="strong_wolfe"),
              dict(lr=0.3, line_search_fn="strong_wolfe", history_size=3, max_iter=6),
              dict(line_search_fn="strong_wolfe", max_eval=4)],
}
PARAMS = [(name, kw) for name, grid in CASES.items() for kw in grid]
IDS = [f"{name}[{','.join(f'{k}={v}' for k, v in kw.items())}]" for name, kw in PARAMS]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kwargs", PARAMS, ids=IDS)
def test_parameters_and_state_match_torch_at_every_step(name, kwargs, dtype):
    tol = TOLERANCE[dtype]
    if (name, dtype) == ("LBFGS", "float32"):
        kwargs, tol = {**LBFGS_FLOAT32_STOP, **kwargs}, LBFGS_FLOAT32
    ours, opt = run(dg, name, kwargs, dtype)
    theirs, topt = run(torch, name, kwargs, dtype)
    for step, ((params, state), (tparams, tstate)) in enumerate(zip(ours, theirs), 1):
        for shape, p, q in zip(SHAPES, params, tparams):
            assert_same(p, q, tol, f"step {step}: parameter of shape {shape}")
        assert_same(state, tstate, tol, f"step {step}: state")
    group, tgroup = opt.state_dict()["param_groups"][0], topt.state_dict()["param_groups"][0]
    assert set(group) == set(tgroup) - TORCH_ONLY
    assert all(group[k] == tgroup[k] for k in group), (group, tgroup)


@pytest.mark.parametrize("name", list(CASES))
def test_defaults_match_torch(name):
    ours = getattr(optim, name)([dg.ones(2, requires_grad=True)]).defaults
    theirs = getattr(torch.optim, name)([torch.ones(2, requires_grad=True)]).defaults
    assert ours == {k: v for k, v in theirs.items() if k not in TORCH_ONLY}


BAD_OPTIONS = [("Adadelta", dict(lr=-1.0)), ("Adadelta", dict(rho=1.5)), ("Adadelta", dict(eps=-1e-6)),
               ("Adadelta", dict(weight_decay=-0.1)), ("Adamax", dict(betas=(1.0, 0.9))),
               ("Adamax", dict(betas=(0.9, -0.1))), ("Adamax", dict(eps=-1.0)), ("NAdam", dict(momentum_decay=-1e-3)),
               ("NAdam", dict(weight_decay=-0.1)), ("RAdam", dict(betas=(0.9, 1.0))), ("RAdam", dict(lr=-0.1)),
               ("LBFGS", dict(lr=-1.0))]


@pytest.mark.parametrize("name,kwargs", BAD_OPTIONS, ids=[f"{n}-{kw}" for n, kw in BAD_OPTIONS])
def test_bad_options_raise_torchs_errors(name, kwargs):
    with pytest.raises(ValueError) as theirs:
        getattr(torch.optim, name)([torch.ones(2, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError, match=re.escape(str(theirs.value))):
        getattr(optim, name)([dg.ones(2, requires_grad=True)], **kwargs)


def test_lbfgs_refuses_what_torch_fails_on_later():
    W = dg.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="per-parameter options"):
        optim.LBFGS([{"params": [W]}, {"params": [dg.ones(1, requires_grad=True)]}])
    with pytest.raises(ValueError, match="line_search_fn must be None or 'strong_wolfe', got 'armijo'"):
        optim.LBFGS([W], line_search_fn="armijo")
    for name in ("history_size", "max_iter", "max_eval"):
        with pytest.raises(ValueError, match=f"{name} must be a positive integer, got 0"):
            optim.LBFGS([W], **{name: 0})
    with pytest.raises(TypeError, match="closure"):
        optim.LBFGS([W]).step()


CHECKPOINT_CASES = [("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.1, maximize=True)),
                    ("Adam", dict(lr=0.05, amsgrad=True)), ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
                    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True)), ("Adadelta", dict()),
                    ("Adamax", dict(lr=0.05)), ("NAdam", dict(lr=0.05)), ("RAdam", dict(lr=0.05)),
                    ("LBFGS", dict(history_size=3, max_iter=4, line_search_fn="strong_wolfe"))]


@pytest.mark.parametrize("name,kwargs", CHECKPOINT_CASES, ids=[c[0] for c in CHECKPOINT_CASES])
def test_state_of_0dim_parameters_round_trips_through_a_checkpoint(tmp_path, name, kwargs):
    problem = _problem()[:3]
    const = lambda x: dg.tensor(x, dtype="float64")  # noqa: E731
    sign = -1.0 if kwargs.get("maximize") else 1.0

    def make():
        model = dg.nn.Module()
        for i, q in enumerate(problem):
            setattr(model, f"p{i}", dg.nn.Parameter(dg.tensor(q["theta"], dtype="float64")))
        params = list(model.parameters())
        opt = getattr(optim, name)(params, **kwargs)

        def closure():
            opt.zero_grad()
            loss = _loss(params, problem, const, sign)
            loss.backward()
            return loss
        return model, params, opt, closure

    model, params, opt, closure = make()
    for _ in range(3):
        opt.step(closure)
    save_checkpoint(tmp_path / "run.safetensors", model, opt)
    model2, params2, opt2, closure2 = make()
    load_checkpoint(tmp_path / "run.safetensors").restore(model2, opt2)
    assert params2[0].shape == ()
    assert_same(_plain(opt2.state_dict()), _plain(opt.state_dict()), dict(rtol=0, atol=0), "loaded state")
    if name != "LBFGS":
        assert all(t.shape == (() if k in ("step", "mu_product") else p.shape)
                   for p in params2 for k, t in opt2.state[p].items())
    for _ in range(3):       # and training continues identically
        opt.step(closure)
        opt2.step(closure2)
    for p, p2 in zip(params, params2):
        np.testing.assert_array_equal(p2.numpy(), p.numpy())
