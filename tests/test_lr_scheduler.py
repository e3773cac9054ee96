"""Learning-rate schedulers against PyTorch: the learning-rate (and momentum) sequences over 60 steps
for each scheduler with several settings and two parameter groups, SequentialLR combinations,
state_dict round trips mid-schedule, the deprecated step(epoch) form, and argument errors."""
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
}


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
