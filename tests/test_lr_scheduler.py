"""Learning-rate schedulers against PyTorch: the learning-rate (and momentum) sequences over 60 steps
for each scheduler with several settings and two parameter groups, SequentialLR and ChainedScheduler
combinations, ReduceLROnPlateau on metric sequences, the state_dicts themselves, state_dict round trips
mid-schedule, the step(epoch) forms, and argument errors."""
import copy
import math
import warnings

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import optim
from deepgrad.optim import lr_scheduler as dgs

torch = pytest.importorskip("torch")
ts = torch.optim.lr_scheduler

STEPS = 60


def _optimizers(kind="SGD", lrs=(0.1, 0.02)):
    d_params = [dg.tensor(np.ones(2), requires_grad=True) for _ in lrs]
    t_params = [torch.ones(2, requires_grad=True) for _ in lrs]
    extra = {"momentum": 0.9} if kind == "SGD" else {}
    d_opt = getattr(optim, kind)([{"params": [p], "lr": lr} for p, lr in zip(d_params, lrs)], **extra)
    t_opt = getattr(torch.optim, kind)([{"params": [p], "lr": lr} for p, lr in zip(t_params, lrs)], **extra)
    return d_opt, t_opt


def _record(opt, sched):
    row = [list(sched.get_last_lr()), [g["lr"] for g in opt.param_groups]]
    if "momentum" in opt.defaults:
        row.append([g["momentum"] for g in opt.param_groups])
    if "betas" in opt.defaults:
        row.append([g["betas"][0] for g in opt.param_groups])
    return row


def _run(opt, sched, steps):
    rows = [_record(opt, sched)]
    for _ in range(steps):
        opt.step()        # no gradients: a no-op, but the order PyTorch expects (optimizer, then scheduler)
        sched.step()
        rows.append(_record(opt, sched))
    return rows


def compare(make, kind="SGD", lrs=(0.1, 0.02), steps=STEPS):
    """``make(module, optimizer)`` builds the scheduler from ``dgs`` or ``torch.optim.lr_scheduler``."""
    d_opt, t_opt = _optimizers(kind, lrs)
    ours = _run(d_opt, make(dgs, d_opt), steps)
    theirs = _run(t_opt, make(ts, t_opt), steps)
    np.testing.assert_allclose(np.array(ours, dtype=float), np.array(theirs, dtype=float), rtol=0, atol=0)
    return ours


SCHEDULERS = {
    "StepLR-7-0.5": lambda m, o: m.StepLR(o, step_size=7, gamma=0.5),
    "StepLR-1-0.9": lambda m, o: m.StepLR(o, step_size=1, gamma=0.9),
    "StepLR-10": lambda m, o: m.StepLR(o, step_size=10),
    "MultiStepLR-repeated": lambda m, o: m.MultiStepLR(o, milestones=[5, 12, 12, 30], gamma=0.3),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[10, 20]),
    "ExponentialLR-0.95": lambda m, o: m.ExponentialLR(o, gamma=0.95),
    "ExponentialLR-0.8": lambda m, o: m.ExponentialLR(o, gamma=0.8),
    "CosineAnnealingLR-20-eta": lambda m, o: m.CosineAnnealingLR(o, T_max=20, eta_min=0.001),
    "CosineAnnealingLR-50": lambda m, o: m.CosineAnnealingLR(o, T_max=50),
    "CosineAnnealingLR-7": lambda m, o: m.CosineAnnealingLR(o, T_max=7, eta_min=0.005),
    "LinearLR-warmup": lambda m, o: m.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=10),
    "LinearLR-decay": lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=30),
    "LinearLR-default": lambda m, o: m.LinearLR(o),
    "ConstantLR": lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=4),
    "LambdaLR": lambda m, o: m.LambdaLR(o, lambda e: 0.95 ** e),
    "LambdaLR-per-group": lambda m, o: m.LambdaLR(o, [lambda e: 1.0 / (1 + e), lambda e: 0.5 * (e % 3 + 1)]),
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, lambda e: 0.95),
    "MultiplicativeLR-per-group": lambda m, o: m.MultiplicativeLR(o, [lambda e: 1.0 - 0.01 * (e % 5),
                                                                      lambda e: 1.1 if e < 10 else 0.9]),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o, total_iters=30, power=2.0),
    "PolynomialLR-default": lambda m, o: m.PolynomialLR(o),
    "PolynomialLR-sqrt": lambda m, o: m.PolynomialLR(o, total_iters=45, power=0.5),
    "CosineAnnealingWarmRestarts-10": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=10),
    "CosineAnnealingWarmRestarts-mult2": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.001),
    "CosineAnnealingWarmRestarts-mult3": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=1, T_mult=3, eta_min=1),
}


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_scheduler_sequence_matches_torch(name):
    compare(SCHEDULERS[name])


ONE_CYCLE = {
    "sgd-default": ("SGD", dict(max_lr=[0.5, 0.1], total_steps=STEPS)),
    "sgd-linear": ("SGD", dict(max_lr=0.3, total_steps=STEPS, anneal_strategy="linear")),
    "sgd-three-phase": ("SGD", dict(max_lr=0.3, total_steps=STEPS, three_phase=True, pct_start=0.25)),
    "sgd-factors": ("SGD", dict(max_lr=0.3, epochs=6, steps_per_epoch=10, div_factor=10.0, final_div_factor=100.0,
                                base_momentum=[0.8, 0.7], max_momentum=0.99)),
    "sgd-no-momentum-cycle": ("SGD", dict(max_lr=0.3, total_steps=STEPS, cycle_momentum=False, pct_start=0.5)),
    "adam-betas": ("Adam", dict(max_lr=0.01, total_steps=STEPS)),
    "adam-three-phase-linear": ("Adam", dict(max_lr=[0.01, 0.02], total_steps=STEPS, three_phase=True,
                                             anneal_strategy="linear", pct_start=0.4)),
    "rmsprop-momentum": ("RMSprop", dict(max_lr=0.01, total_steps=STEPS)),
}


@pytest.mark.parametrize("name", list(ONE_CYCLE))
def test_one_cycle_lr_matches_torch(name):
    kind, kw = ONE_CYCLE[name]
    rows = compare(lambda m, o: m.OneCycleLR(o, **kw), kind=kind)
    lrs = np.array([r[0][0] for r in rows])
    max_lr = kw["max_lr"][0] if isinstance(kw["max_lr"], list) else kw["max_lr"]
    assert lrs.max() == pytest.approx(max_lr) and lrs[0] < max_lr and lrs[-1] < lrs[0]


def test_one_cycle_lr_cannot_step_past_total_steps():
    opt, _ = _optimizers()
    sched = dgs.OneCycleLR(opt, max_lr=0.1, total_steps=5)
    for _ in range(5):
        sched.step()
    with pytest.raises(ValueError, match="Tried to step 6 times. The specified number of total steps is 5"):
        sched.step()


SEQUENTIAL = {
    "linear-cosine": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=5), m.CosineAnnealingLR(o, T_max=30, eta_min=1e-4)], [5]),
    "exp-step-multistep": lambda m, o: m.SequentialLR(
        o, [m.ExponentialLR(o, gamma=0.9), m.StepLR(o, step_size=5, gamma=0.5), m.MultiStepLR(o, [3, 8], gamma=0.2)],
        [10, 25]),
    "constant-exp": lambda m, o: m.SequentialLR(o, [m.ConstantLR(o, factor=0.3, total_iters=3),
                                                    m.ExponentialLR(o, gamma=0.97)], [8]),
    "linear-linear-cosine": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.5, total_iters=4), m.LinearLR(o, start_factor=1.0, end_factor=0.2,
                                                                       total_iters=10),
            m.CosineAnnealingLR(o, T_max=12)], [4, 20]),
    "cosine-lambda": lambda m, o: m.SequentialLR(o, [m.CosineAnnealingLR(o, T_max=10),
                                                     m.LambdaLR(o, lambda e: 0.9 ** e)], [1]),
    "linear-warm-restarts": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.2, total_iters=5), m.CosineAnnealingWarmRestarts(o, T_0=7, T_mult=2)], [5]),
    "polynomial-multiplicative": lambda m, o: m.SequentialLR(
        o, [m.PolynomialLR(o, total_iters=10), m.MultiplicativeLR(o, lambda e: 0.97)], [8]),
}

CHAINED = {
    "constant-exponential": lambda m, o: m.ChainedScheduler([m.ConstantLR(o, factor=0.1, total_iters=2),
                                                             m.ExponentialLR(o, gamma=0.9)]),
    "linear-cosine-step": lambda m, o: m.ChainedScheduler(
        [m.LinearLR(o, start_factor=0.3, total_iters=8), m.CosineAnnealingLR(o, T_max=20),
         m.StepLR(o, step_size=9, gamma=0.5)], optimizer=o),
    "multiplicative-multistep": lambda m, o: m.ChainedScheduler(
        [m.MultiplicativeLR(o, lambda e: 0.99), m.MultiStepLR(o, [10, 30], gamma=0.3)]),
    "chained-in-sequential": lambda m, o: m.SequentialLR(
        o, [m.ChainedScheduler([m.ConstantLR(o, factor=0.5, total_iters=4), m.ExponentialLR(o, gamma=0.95)]),
            m.PolynomialLR(o, total_iters=20)], [12]),
}


@pytest.mark.parametrize("name", list(CHAINED))
def test_chained_scheduler_matches_torch(name):
    compare(CHAINED[name])


@pytest.mark.parametrize("name", list(SEQUENTIAL))
def test_sequential_lr_matches_torch(name):
    compare(SEQUENTIAL[name])


ROUND_TRIP = {
    "StepLR": SCHEDULERS["StepLR-7-0.5"],
    "CosineAnnealingLR": SCHEDULERS["CosineAnnealingLR-20-eta"],
    "LinearLR": SCHEDULERS["LinearLR-decay"],
    "MultiStepLR": SCHEDULERS["MultiStepLR-repeated"],
    "OneCycleLR": lambda m, o: m.OneCycleLR(o, max_lr=0.2, total_steps=STEPS, three_phase=True),
    "SequentialLR": SEQUENTIAL["linear-cosine"],
    "MultiplicativeLR": SCHEDULERS["MultiplicativeLR"],
    "PolynomialLR": SCHEDULERS["PolynomialLR"],
    "CosineAnnealingWarmRestarts": SCHEDULERS["CosineAnnealingWarmRestarts-mult2"],
    "ChainedScheduler": CHAINED["linear-cosine-step"],
}


@pytest.mark.parametrize("name", list(ROUND_TRIP))
def test_state_dict_round_trip_mid_schedule(name):
    make = ROUND_TRIP[name]
    opt, _ = _optimizers()
    sched = make(dgs, opt)
    full = _run(opt, sched, STEPS)

    opt, _ = _optimizers()
    sched = make(dgs, opt)
    _run(opt, sched, 25)
    saved_sched = copy.deepcopy(sched.state_dict())
    saved_opt = copy.deepcopy(opt.state_dict())
    assert "optimizer" not in saved_sched

    opt2, _ = _optimizers(lrs=(7.0, 7.0))
    sched2 = make(dgs, opt2)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    assert sched2.get_last_lr() == full[25][0]
    rows = _run(opt2, sched2, STEPS - 25)
    assert rows == full[25:]


def _torch_state(value):
    if isinstance(value, dict):
        return {k: _torch_state(v) for k, v in value.items() if k != "_get_lr_called_within_step"}
    if isinstance(value, list):
        return [_torch_state(v) for v in value]
    return value


ALL = {**SCHEDULERS, **SEQUENTIAL, **CHAINED}


@pytest.mark.parametrize("name", list(ALL))
def test_state_dict_is_torchs(name):
    """The same keys and values as PyTorch's state_dict after 17 steps (less its own bookkeeping flag)."""
    d_opt, t_opt = _optimizers()
    ours, theirs = ALL[name](dgs, d_opt), ALL[name](ts, t_opt)
    for _ in range(17):
        d_opt.step()
        t_opt.step()
        ours.step()
        theirs.step()
    assert ours.state_dict() == _torch_state(theirs.state_dict())


# ----------------------------------------------------------------------------- ReduceLROnPlateau
def _metrics(steps=STEPS, seed=0):
    """A falling loss with noisy plateaus, flat from epoch 30: improvements come in bursts; rounded, so
    that some values tie with the best."""
    rng = np.random.default_rng(seed)
    return [round(1.0 / (1 + min(e, 30) // 9) + 0.02 * rng.standard_normal(), 2) for e in range(steps)]


PLATEAU = {
    "default": dict(),
    "ties": dict(threshold=0.0, patience=2),
    "patience-cooldown": dict(patience=2, cooldown=3, factor=0.5),
    "abs": dict(threshold_mode="abs", threshold=0.01, patience=1),
    "max-rel": dict(mode="max", patience=3, factor=0.3, threshold=0.05),
    "max-abs": dict(mode="max", threshold_mode="abs", threshold=0.0, patience=1),
    "min-lr-per-group": dict(patience=1, factor=0.5, min_lr=[0.03, 0.004]),
    "min-lr-eps": dict(patience=0, factor=0.5, min_lr=0.01, eps=1e-3),
}


@pytest.mark.parametrize("name", list(PLATEAU))
def test_reduce_lr_on_plateau_matches_torch(name):
    kw = PLATEAU[name]
    sign = -1.0 if kw.get("mode") == "max" else 1.0
    d_opt, t_opt = _optimizers()
    ours, theirs = dgs.ReduceLROnPlateau(d_opt, **kw), ts.ReduceLROnPlateau(t_opt, **kw)
    lrs = []
    for metric in _metrics():
        ours.step(dg.tensor(sign * metric))     # a 0-dim Tensor works as a metric, as in PyTorch
        theirs.step(torch.tensor(sign * metric))
        assert ours.get_last_lr() == theirs.get_last_lr() == [g["lr"] for g in d_opt.param_groups]
        assert ours.state_dict() == theirs.state_dict()
        lrs.append(ours.get_last_lr()[0])
    assert lrs[-1] < lrs[0]         # the schedule did reduce


def test_reduce_lr_on_plateau_state_dict_round_trip():
    metrics = _metrics()
    opt, _ = _optimizers()
    full = dgs.ReduceLROnPlateau(opt, patience=1, cooldown=2, factor=0.5)
    expected = []
    for m in metrics:
        full.step(m)
        expected.append(full.get_last_lr())
    opt, _ = _optimizers()
    sched = dgs.ReduceLROnPlateau(opt, patience=1, cooldown=2, factor=0.5)
    for m in metrics[:25]:
        sched.step(m)
    saved_sched, saved_opt = copy.deepcopy(sched.state_dict()), copy.deepcopy(opt.state_dict())
    opt2, _ = _optimizers(lrs=(7.0, 7.0))
    sched2 = dgs.ReduceLROnPlateau(opt2, mode="max", threshold_mode="abs")
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    assert (sched2.mode, sched2.mode_worse, sched2.threshold_mode) == ("min", math.inf, "rel")
    rows = []
    for m in metrics[25:]:
        sched2.step(m)
        rows.append(sched2.get_last_lr())
    assert rows == expected[25:]


def test_reduce_lr_on_plateau_with_a_group_added_later():
    W = dg.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([W], lr=1.0)
    sched = dgs.ReduceLROnPlateau(opt, patience=0, min_lr=0.2)
    opt.add_param_group({"params": [dg.tensor(np.ones(1), requires_grad=True)], "lr": 0.5})
    sched.step(1.0)
    sched.step(2.0)
    assert [g["lr"] for g in opt.param_groups] == [0.2, pytest.approx(0.2)]
    sched = dgs.ReduceLROnPlateau(opt, patience=0, min_lr=[0.1, 0.1])
    opt.add_param_group({"params": [dg.tensor(np.ones(1), requires_grad=True)]})
    sched.step(1.0)
    with pytest.raises(RuntimeError, match="differs from when `ReduceLROnPlateau` was initialized"):
        sched.step(2.0)


def test_warm_restarts_with_fractional_epochs_match_torch():
    """SGDR's documented use: step(epoch + i / iters) inside each epoch, then jumps back and forth."""
    for kw in (dict(T_0=4), dict(T_0=2, T_mult=2, eta_min=0.01)):
        d_opt, t_opt = _optimizers()
        ours, theirs = dgs.CosineAnnealingWarmRestarts(d_opt, **kw), ts.CosineAnnealingWarmRestarts(t_opt, **kw)
        epochs = [e + i / 5 for e in range(12) for i in range(5)] + [3, 0, 17.5, 6]
        for epoch in epochs:
            with warnings.catch_warnings():
                warnings.simplefilter("error")       # no deprecation warning here
                ours.step(epoch)
            theirs.step(epoch)
            assert ours.get_last_lr() == theirs.get_last_lr(), epoch
            assert (ours.T_cur, ours.T_i, ours.last_epoch) == (theirs.T_cur, theirs.T_i, theirs.last_epoch)


def test_deprecated_step_with_epoch_uses_the_closed_form():
    d_opt, t_opt = _optimizers()
    ours, theirs = dgs.CosineAnnealingLR(d_opt, T_max=10), ts.CosineAnnealingLR(t_opt, T_max=10)
    for epoch in (3, 7, 4, 15):
        with pytest.warns(UserWarning, match="epoch"):
            ours.step(epoch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs.step(epoch)
        np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-14)


def test_schedulers_compose_with_the_optimizer_step():
    """The scheduled lr is the one the next optimizer step uses."""
    W = dg.tensor(np.zeros(1), requires_grad=True)
    opt = optim.SGD([W], lr=1.0)
    sched = dgs.StepLR(opt, step_size=1, gamma=0.5)
    for expected in (1.0, 0.5, 0.25):
        W.grad = dg.tensor([-1.0], dtype=W.dtype)
        before = W.item()
        opt.step()
        assert W.item() - before == pytest.approx(expected)
        sched.step()


def test_scheduler_errors():
    opt, _ = _optimizers()
    with pytest.raises(TypeError, match="is not an Optimizer"):
        dgs.StepLR(object(), step_size=1)
    with pytest.raises(KeyError, match="initial_lr"):
        dgs.ExponentialLR(opt, gamma=0.9, last_epoch=3)
    with pytest.raises(ValueError, match="total_steps OR \\(epochs AND steps_per_epoch\\)"):
        dgs.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="pct_start"):
        dgs.OneCycleLR(opt, max_lr=0.1, total_steps=10, pct_start=1.5)
    with pytest.raises(ValueError, match="max_lr must have the same length as optimizer.param_groups"):
        dgs.OneCycleLR(opt, max_lr=[0.1, 0.2, 0.3], total_steps=10)
    ada = optim.Adagrad([dg.tensor(np.ones(2), requires_grad=True)])
    with pytest.raises(ValueError, match="momentum or beta1"):
        dgs.OneCycleLR(ada, max_lr=0.1, total_steps=10)
    with pytest.raises(ValueError, match="one more than the number of milestones"):
        dgs.SequentialLR(opt, [dgs.ExponentialLR(opt, 0.9), dgs.ExponentialLR(opt, 0.8)], [2, 4])
    other, _ = _optimizers()
    with pytest.raises(ValueError, match="same optimizer"):
        dgs.SequentialLR(opt, [dgs.ExponentialLR(opt, 0.9), dgs.ExponentialLR(other, 0.8)], [2])
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        dgs.LinearLR(opt, start_factor=0.0)
    assert math.isclose(dgs.ExponentialLR(opt, 0.5).get_last_lr()[0], 0.1)
    with pytest.raises(TypeError, match="lr_lambda should be a function, but got float"):
        dgs.MultiplicativeLR(opt, 0.9)
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        dgs.MultiplicativeLR(opt, [lambda e: 0.9])
    with pytest.raises(ValueError, match="Expected positive integer T_0, but got 0"):
        dgs.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="Expected integer T_mult >= 1, but got 1.5"):
        dgs.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=1.5)
    with pytest.raises(ValueError, match="Expected float or int eta_min"):
        dgs.CosineAnnealingWarmRestarts(opt, T_0=2, eta_min="0")
    with pytest.raises(ValueError, match="Expected non-negative epoch, but got -1"):
        dgs.CosineAnnealingWarmRestarts(opt, T_0=2).step(-1)
    with pytest.raises(ValueError, match="expects at least one scheduler"):
        dgs.ChainedScheduler([], optimizer=opt)
    with pytest.raises(ValueError, match="same optimizer"):
        dgs.ChainedScheduler([dgs.ExponentialLR(opt, 0.9), dgs.ExponentialLR(other, 0.8)])
    for composite in (lambda s: dgs.ChainedScheduler(s), lambda s: dgs.SequentialLR(opt, s, [3])):
        with pytest.raises(ValueError, match="does not support `ReduceLROnPlateau`.*index 1"):
            composite([dgs.ExponentialLR(opt, 0.9), dgs.ReduceLROnPlateau(opt)])
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        dgs.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode average is unknown!"):
        dgs.ReduceLROnPlateau(opt, mode="average")
    with pytest.raises(ValueError, match="threshold mode relative is unknown!"):
        dgs.ReduceLROnPlateau(opt, threshold_mode="relative")
    with pytest.raises(ValueError, match="expected 2 min_lrs, got 3"):
        dgs.ReduceLROnPlateau(opt, min_lr=[0.1, 0.1, 0.1])
    with pytest.raises(TypeError, match="is not an Optimizer"):
        dgs.ReduceLROnPlateau(object())
