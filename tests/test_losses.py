"""Loss functions and modules against PyTorch: values and gradients (of the input, and of the target
where PyTorch differentiates it) for every option combination, in float32 and float64; gradcheck /
gradgradcheck (reverse, forward and second order against finite differences); stability at extreme
values; and the errors for wrong shapes and dtypes."""
import warnings

import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}
GRAD_TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}
DTYPES = [pytest.param(np.float32, id="f32"), pytest.param(np.float64, id="f64")]
REDUCTIONS = ["none", "mean", "sum"]


def compare(dg_fn, torch_fn, args, grads, dtype, kwargs_dg=None, kwargs_torch=None, seed=0):
    """Run both functions on the same arrays; ``args`` is a list of arrays (floating ones are cast to
    ``dtype``), ``grads`` the indices of the arguments to differentiate. Compares the value and the
    VJP with a random cotangent."""
    rng = np.random.default_rng(seed)
    arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in args]
    d_args = [dg.tensor(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
    t_args = [torch.tensor(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
    d_out = dg_fn(*d_args, **(kwargs_dg or {}))
    t_out = torch_fn(*t_args, **(kwargs_torch or kwargs_dg or {}))
    assert d_out.shape == tuple(t_out.shape)
    assert d_out.dtype == np.dtype(str(t_out.dtype).replace("torch.", ""))
    np.testing.assert_allclose(d_out.numpy(), t_out.detach().numpy(), **TOL[dtype])
    if not grads:
        return d_out
    ct = rng.standard_normal(d_out.shape).astype(d_out.dtype)
    d_out.backward(dg.tensor(ct))
    t_out.backward(torch.tensor(ct))
    for i in grads:
        assert d_args[i].grad is not None, f"no gradient for argument {i}"
        np.testing.assert_allclose(d_args[i].grad.numpy(), t_args[i].grad.numpy(), **GRAD_TOL[dtype],
                                   err_msg=f"gradient of argument {i}")
    return d_out


# ----------------------------------------------------------------------------- cross-entropy / nll
CLASS_SHAPES = {"unbatched": (5,), "NC": (6, 5), "NCd": (3, 5, 4), "NCdd": (2, 5, 3, 2)}


def _index_target(rng, shape, ignore):
    """Class indices for an input of ``shape``; with ``ignore`` set, some are that index."""
    tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    t = rng.integers(0, shape[0 if len(shape) == 1 else 1], size=tshape)
    if ignore == -100 and t.size > 1:
        t.reshape(-1)[::3] = -100
    return np.asarray(t, dtype=np.int64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", list(CLASS_SHAPES), ids=list(CLASS_SHAPES))
@pytest.mark.parametrize("ignore", [None, -100, 1], ids=["noignore", "ignore-100", "ignore1"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_indices(dtype, shape, ignore, weighted, label_smoothing, reduction):
    rng = np.random.default_rng(1)
    shape = CLASS_SHAPES[shape]
    x = 2 * rng.standard_normal(shape)
    t = _index_target(rng, shape, ignore)
    kw = dict(reduction=reduction, label_smoothing=label_smoothing)
    if ignore is not None:
        kw["ignore_index"] = ignore
    args = [x, t]
    if weighted:
        args.append(rng.uniform(0.2, 2.0, shape[0 if len(shape) == 1 else 1]))
        compare(lambda a, b, w: F.cross_entropy(a, b, weight=w, **kw),
                lambda a, b, w: TF.cross_entropy(a, b, weight=w, **kw), args, [0], dtype)
    else:
        compare(lambda a, b: F.cross_entropy(a, b, **kw), lambda a, b: TF.cross_entropy(a, b, **kw),
                args, [0], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", list(CLASS_SHAPES), ids=list(CLASS_SHAPES))
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probabilities(dtype, shape, weighted, label_smoothing, reduction):
    rng = np.random.default_rng(7)
    shape = CLASS_SHAPES[shape]
    axis = 0 if len(shape) == 1 else 1
    x = 2 * rng.standard_normal(shape)
    p = rng.uniform(0.0, 1.0, shape)
    p = p / p.sum(axis=axis, keepdims=True)
    kw = dict(reduction=reduction, label_smoothing=label_smoothing)
    if weighted:
        w = rng.uniform(0.2, 2.0, shape[axis])
        compare(lambda a, b, c: F.cross_entropy(a, b, weight=c, **kw),
                lambda a, b, c: TF.cross_entropy(a, b, weight=c, **kw), [x, p, w], [0, 1], dtype)
    else:
        compare(lambda a, b: F.cross_entropy(a, b, **kw), lambda a, b: TF.cross_entropy(a, b, **kw),
                [x, p], [0, 1], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", list(CLASS_SHAPES), ids=list(CLASS_SHAPES))
@pytest.mark.parametrize("ignore", [None, -100, 2], ids=["noignore", "ignore-100", "ignore2"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(dtype, shape, ignore, weighted, reduction):
    rng = np.random.default_rng(3)
    shape = CLASS_SHAPES[shape]
    axis = 0 if len(shape) == 1 else 1
    logp = np.log(rng.uniform(0.05, 1.0, shape))
    t = _index_target(rng, shape, ignore)
    kw = dict(reduction=reduction)
    if ignore is not None:
        kw["ignore_index"] = ignore
    w = rng.uniform(0.2, 2.0, shape[axis]) if weighted else None
    args = [logp, t] + ([w] if weighted else [])
    compare(lambda a, b, *c: F.nll_loss(a, b, weight=c[0] if c else None, **kw),
            lambda a, b, *c: TF.nll_loss(a, b, weight=c[0] if c else None, **kw), args, [0], dtype)


def test_cross_entropy_all_ignored_is_nan_like_torch():
    x = np.random.default_rng(0).standard_normal((3, 4))
    t = np.full(3, -100)
    for ls in (0.0, 0.1):
        for w in (None, np.ones(4)):
            d = F.cross_entropy(dg.tensor(x), dg.tensor(t), weight=None if w is None else dg.tensor(w),
                                label_smoothing=ls)
            r = TF.cross_entropy(torch.tensor(x), torch.tensor(t), weight=None if w is None else torch.tensor(w),
                                 label_smoothing=ls)
            assert np.isnan(d.item()) and np.isnan(r.item())
    # 'sum' and 'none' are 0 there
    d = F.cross_entropy(dg.tensor(x), dg.tensor(t), reduction="none")
    np.testing.assert_array_equal(d.numpy(), np.zeros(3))


def test_cross_entropy_is_stable_for_huge_logits():
    x = np.array([[1000.0, -1000.0, 0.0], [-5000.0, 5000.0, 4999.0], [1e4, 1e4, -1e4]], np.float32)
    t = np.array([1, 2, 0])
    for ls in (0.0, 0.2):
        a = dg.tensor(x, requires_grad=True)
        b = torch.tensor(x, requires_grad=True)
        la = F.cross_entropy(a, dg.tensor(t), label_smoothing=ls)
        lb = TF.cross_entropy(b, torch.tensor(t), label_smoothing=ls)
        la.backward()
        lb.backward()
        assert np.isfinite(la.item())
        np.testing.assert_allclose(la.item(), lb.item(), rtol=1e-5)
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_cross_entropy_with_minus_inf_logits():
    """A masked (-inf) class that is not the target contributes nothing, as in PyTorch."""
    x = np.array([[0.5, -np.inf, 1.0], [2.0, 0.0, -np.inf]])
    t = np.array([0, 1])
    a = dg.tensor(x, requires_grad=True)
    b = torch.tensor(x, requires_grad=True)
    la, lb = F.cross_entropy(a, dg.tensor(t)), TF.cross_entropy(b, torch.tensor(t))
    la.backward()
    lb.backward()
    np.testing.assert_allclose(la.item(), lb.item(), rtol=1e-12)
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12, atol=1e-15)


# ----------------------------------------------------------------------------- regression losses
REGRESSION = {
    "mse": (F.mse_loss, TF.mse_loss, {}),
    "l1": (F.l1_loss, TF.l1_loss, {}),
    "smooth_l1_b1": (F.smooth_l1_loss, TF.smooth_l1_loss, {"beta": 1.0}),
    "smooth_l1_b05": (F.smooth_l1_loss, TF.smooth_l1_loss, {"beta": 0.5}),
    "smooth_l1_b0": (F.smooth_l1_loss, TF.smooth_l1_loss, {"beta": 0.0}),
    "huber_d1": (F.huber_loss, TF.huber_loss, {"delta": 1.0}),
    "huber_d05": (F.huber_loss, TF.huber_loss, {"delta": 0.5}),
    "huber_d2": (F.huber_loss, TF.huber_loss, {"delta": 2.0}),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(REGRESSION))
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses(dtype, name, reduction):
    dg_fn, torch_fn, kw = REGRESSION[name]
    rng = np.random.default_rng(5)
    x = 2 * rng.standard_normal((4, 6))
    y = 2 * rng.standard_normal((4, 6))
    y[0, 0] = x[0, 0]                # a zero difference: the derivative of |d| is 0 there, as in PyTorch
    kw = dict(kw, reduction=reduction)
    compare(lambda a, b: dg_fn(a, b, **kw), lambda a, b: torch_fn(a, b, **kw), [x, y], [0, 1], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["mse", "l1", "huber_d1", "huber_d05"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses_with_elementwise_weight(dtype, name, reduction):
    """PyTorch 2.13's ``weight`` of mse/l1/huber: 'mean' is Σ w·loss / Σ w for mse and l1 but the
    plain mean of w·loss for huber."""
    dg_fn, torch_fn, kw = REGRESSION[name]
    rng = np.random.default_rng(6)
    x, y, w = 2 * rng.standard_normal((4, 6)), 2 * rng.standard_normal((4, 6)), rng.uniform(0.1, 2.0, (4, 6))
    kw = dict(kw, reduction=reduction)
    compare(lambda a, b, c: dg_fn(a, b, weight=c, **kw), lambda a, b, c: torch_fn(a, b, weight=c, **kw),
            [x, y, w], [0, 1], dtype)
    with pytest.raises(ValueError, match=r"weight and input must have the same size.*\(6,\).*\(4, 6\)"):
        dg_fn(dg.tensor(x), dg.tensor(y), weight=dg.tensor(w[0]), **kw)


@pytest.mark.parametrize("name", ["mse", "l1", "smooth_l1_b1", "huber_d2"])
def test_regression_broadcasting_warns_like_torch(name):
    dg_fn, torch_fn, kw = REGRESSION[name]
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 1))
    with pytest.warns(UserWarning, match="target size"):
        d = dg_fn(dg.tensor(x), dg.tensor(y), **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = torch_fn(torch.tensor(x), torch.tensor(y), **kw)
    np.testing.assert_allclose(d.item(), t.item(), rtol=1e-10)


def test_regression_integer_target_and_dtype_promotion():
    x = np.array([0.5, -1.5, 2.0], np.float32)
    for t in (np.array([1, 0, 2]), np.array([1.0, 0.0, 2.0], np.float64)):
        d = F.mse_loss(dg.tensor(x), dg.tensor(t))
        r = TF.mse_loss(torch.tensor(x), torch.tensor(t))
        assert str(d.dtype) == str(r.dtype).replace("torch.", "")
        np.testing.assert_allclose(d.item(), r.item(), rtol=1e-6)


# ----------------------------------------------------------------------------- binary cross-entropy
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weight", [None, "row", "full"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy(dtype, weight, reduction):
    rng = np.random.default_rng(11)
    x = rng.uniform(0.02, 0.98, (4, 5))
    t = rng.uniform(0.0, 1.0, (4, 5))
    t[0, :2] = [0.0, 1.0]
    kw = dict(reduction=reduction)
    if weight is None:
        compare(lambda a, b: F.binary_cross_entropy(a, b, **kw),
                lambda a, b: TF.binary_cross_entropy(a, b, **kw), [x, t], [0, 1], dtype)
    else:
        w = rng.uniform(0.2, 2.0, (5,) if weight == "row" else (4, 5))
        compare(lambda a, b, c: F.binary_cross_entropy(a, b, weight=c, **kw),
                lambda a, b, c: TF.binary_cross_entropy(a, b, weight=c, **kw), [x, t, w], [0, 1], dtype)


def test_binary_cross_entropy_clamps_log_at_the_ends():
    """x = 0 or 1 gives the finite losses of log clamped to -100, and the gradient is bounded by
    1e12 as PyTorch's (no overflow, also for float32 denormals)."""
    for dtype in (np.float32, np.float64):
        x = np.array([0.0, 1.0, 0.0, 1.0, 0.5, 1e-40, 1e-13, 1 - 1e-13 if dtype == np.float64 else 0.75], dtype)
        t = np.array([1.0, 0.0, 0.0, 1.0, 0.3, 1.0, 1.0, 0.0], dtype)
        a = dg.tensor(x, requires_grad=True)
        b = torch.tensor(x, requires_grad=True)
        d = F.binary_cross_entropy(a, dg.tensor(t), reduction="none")
        r = TF.binary_cross_entropy(b, torch.tensor(t), reduction="none")
        np.testing.assert_allclose(d.numpy(), r.detach().numpy(), rtol=1e-6)
        d.sum().backward()
        r.sum().backward()
        g, gt = a.grad.numpy(), b.grad.numpy()
        assert np.isfinite(g).all()
        # PyTorch clamps x(1 - x) jointly: where t = 1 - x exactly at the ends the gradient is 0 there
        # and d/dx = 1 here (the true derivative of the unclamped term); elsewhere the two agree
        agree = ~np.isin(np.arange(len(x)), [2, 3])
        np.testing.assert_allclose(g[agree], gt[agree], rtol=1e-5)
        np.testing.assert_allclose(g[[2, 3]], [1.0, -1.0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weight", [None, "row", "full"])
@pytest.mark.parametrize("pos_weight", [None, "classes", "scalar"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_with_logits(dtype, weight, pos_weight, reduction):
    rng = np.random.default_rng(13)
    x = 4 * rng.standard_normal((4, 5))
    x[0, :4] = [0.0, 40.0, -40.0, 120.0]      # 0 (the derivative there is σ(0)) and far tails
    t = rng.uniform(0.0, 1.0, (4, 5))
    args, names = [x, t], []
    if weight is not None:
        args.append(rng.uniform(0.2, 2.0, (5,) if weight == "row" else (4, 5)))
        names.append("weight")
    if pos_weight is not None:
        args.append(rng.uniform(0.2, 3.0, (5,) if pos_weight == "classes" else (1,)))
        names.append("pos_weight")

    def call(fn):
        return lambda a, b, *rest: fn(a, b, reduction=reduction, **dict(zip(names, rest)))
    compare(call(F.binary_cross_entropy_with_logits), call(TF.binary_cross_entropy_with_logits), args, [0, 1], dtype)


def test_binary_cross_entropy_with_logits_is_stable():
    x = np.array([-1e4, -800.0, -50.0, 0.0, 50.0, 800.0, 1e4], np.float32)
    t = np.array([1.0, 0.0, 0.5, 1.0, 0.0, 1.0, 0.3], np.float32)
    a = dg.tensor(x, requires_grad=True)
    d = F.binary_cross_entropy_with_logits(a, dg.tensor(t), reduction="none")
    r = TF.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(t), reduction="none")
    np.testing.assert_allclose(d.numpy(), r.numpy(), rtol=1e-6)
    d.sum().backward()
    b = torch.tensor(x, requires_grad=True)
    TF.binary_cross_entropy_with_logits(b, torch.tensor(t), reduction="sum").backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------------- KL divergence
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
def test_kl_div(dtype, log_target, reduction):
    rng = np.random.default_rng(17)
    x = np.log(rng.dirichlet(np.ones(5), size=4))
    p = rng.dirichlet(np.ones(5), size=4)
    t = np.log(p) if log_target else p
    kw = dict(reduction=reduction, log_target=log_target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # 'mean' warns (as PyTorch)
        compare(lambda a, b: F.kl_div(a, b, **kw), lambda a, b: TF.kl_div(a, b, **kw), [x, t], [0, 1], dtype)


def test_kl_div_zero_target_and_mean_warning():
    x = np.log(np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]]))
    t = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(dg.tensor(x), dg.tensor(t))
    a = dg.tensor(x, requires_grad=True)
    d = F.kl_div(a, dg.tensor(t), reduction="batchmean")
    b = torch.tensor(x, requires_grad=True)
    r = TF.kl_div(b, torch.tensor(t), reduction="batchmean")
    d.backward()
    r.backward()
    np.testing.assert_allclose(d.item(), r.item(), rtol=1e-12)
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)


# ----------------------------------------------------------------------------- gradcheck, 2nd order
def _f64(rng, shape, low=None, high=None):
    a = rng.standard_normal(shape) if low is None else rng.uniform(low, high, shape)
    return dg.tensor(a, dtype="float64", requires_grad=True)


def _gradcheck_cases():
    rng = np.random.default_rng(23)
    t_idx = dg.tensor([0, 2, -100, 1])
    t_sp = dg.tensor([[0, 1], [2, 2]])
    w = dg.tensor(rng.uniform(0.5, 2, 3), dtype="float64")
    probs = rng.dirichlet(np.ones(3), size=4)
    y = rng.standard_normal((2, 3))
    y_far = y + np.where(rng.random((2, 3)) > 0.5, 1.7, -1.7)   # |d| away from the beta/delta kinks
    return {
        "cross_entropy": (lambda x: F.cross_entropy(x, t_idx, weight=w, label_smoothing=0.1), [_f64(rng, (4, 3))]),
        "cross_entropy_spatial": (lambda x: F.cross_entropy(x, t_sp, reduction="none"), [_f64(rng, (2, 3, 2))]),
        "cross_entropy_probs": (lambda x, p: F.cross_entropy(x, p, weight=w, label_smoothing=0.2),
                                [_f64(rng, (4, 3)), dg.tensor(probs, requires_grad=True)]),
        "nll_loss": (lambda x: F.nll_loss(x, t_idx, weight=w), [_f64(rng, (4, 3))]),
        "mse_loss": (lambda x, t: F.mse_loss(x, t), [_f64(rng, (2, 3)), _f64(rng, (2, 3))]),
        "l1_loss": (lambda x: F.l1_loss(x, dg.tensor(y_far), reduction="sum"), [dg.tensor(y, requires_grad=True)]),
        "smooth_l1_loss": (lambda x: F.smooth_l1_loss(x, dg.tensor(y_far * 0.6 + y * 0.4), beta=0.5),
                           [dg.tensor(y, requires_grad=True)]),
        "huber_loss": (lambda x: F.huber_loss(x, dg.tensor(y_far * 0.6 + y * 0.4), delta=0.5, reduction="none"),
                       [dg.tensor(y, requires_grad=True)]),
        "binary_cross_entropy": (lambda x, t: F.binary_cross_entropy(x, t, weight=w),
                                 [_f64(rng, (2, 3), 0.1, 0.9), _f64(rng, (2, 3), 0.0, 1.0)]),
        "bce_with_logits": (lambda x, t: F.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=w * 2),
                            [_f64(rng, (2, 3)), _f64(rng, (2, 3), 0.0, 1.0)]),
        "kl_div": (lambda x, t: F.kl_div(x, t, reduction="batchmean"),
                   [_f64(rng, (2, 3), -2.0, -0.1), _f64(rng, (2, 3), 0.1, 0.9)]),
        "kl_div_log_target": (lambda x, t: F.kl_div(x, t, reduction="sum", log_target=True),
                              [_f64(rng, (2, 3), -2.0, -0.1), _f64(rng, (2, 3), -2.0, -0.1)]),
    }


GRADCHECK = _gradcheck_cases()


@pytest.mark.parametrize("name", list(GRADCHECK))
def test_gradcheck_and_gradgradcheck(name):
    fn, inputs = GRADCHECK[name]
    assert dg.gradcheck(fn, inputs)
    assert dg.gradgradcheck(fn, inputs)


def test_hessian_of_cross_entropy_matches_torch():
    rng = np.random.default_rng(29)
    x = rng.standard_normal((3, 4))
    t = np.array([0, 3, 1])
    w = rng.uniform(0.5, 2.0, 4)

    def dg_fn(z):
        return F.cross_entropy(z, dg.tensor(t), weight=dg.tensor(w), label_smoothing=0.1)

    def torch_fn(z):
        return TF.cross_entropy(z, torch.tensor(t), weight=torch.tensor(w), label_smoothing=0.1)

    h = dg.hessian(dg_fn)(dg.tensor(x))
    ht = torch.autograd.functional.hessian(torch_fn, torch.tensor(x))
    np.testing.assert_allclose(h.numpy(), ht.numpy(), rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- modules
def _module_cases():
    rng = np.random.default_rng(31)
    x = rng.standard_normal((4, 3))
    t_idx = np.array([0, 2, 1, 2])
    t = rng.uniform(0, 1, (4, 3))
    w = rng.uniform(0.5, 2.0, 3)
    probs = rng.uniform(0.05, 0.95, (4, 3))
    logp = np.log(rng.dirichlet(np.ones(3), size=4))
    return [
        ("CrossEntropyLoss", dict(weight=w, ignore_index=1, label_smoothing=0.1, reduction="sum"), x, t_idx),
        ("NLLLoss", dict(weight=w, reduction="mean"), logp, t_idx),
        ("MSELoss", dict(reduction="sum"), x, t),
        ("L1Loss", dict(), x, t),
        ("SmoothL1Loss", dict(beta=0.3), x, t),
        ("HuberLoss", dict(delta=0.4, reduction="none"), x, t),
        ("BCELoss", dict(weight=w), probs, t),
        ("BCEWithLogitsLoss", dict(weight=w, pos_weight=w[::-1].copy()), x, t),
        ("KLDivLoss", dict(reduction="batchmean", log_target=False), logp, t),
    ]


@pytest.mark.parametrize("case", _module_cases(), ids=lambda c: c[0])
def test_loss_modules_match_torch(case):
    name, kw, x, t = case
    tensors = {k: v for k, v in kw.items() if isinstance(v, np.ndarray)}
    d_mod = getattr(dg.nn, name)(**{k: dg.tensor(v) if k in tensors else v for k, v in kw.items()})
    t_mod = getattr(torch.nn, name)(**{k: torch.tensor(v) if k in tensors else v for k, v in kw.items()})
    a = dg.tensor(x, requires_grad=True)
    b = torch.tensor(x, requires_grad=True)
    d, r = d_mod(a, dg.tensor(t)), t_mod(b, torch.tensor(t))
    np.testing.assert_allclose(d.numpy(), r.detach().numpy(), rtol=1e-10)
    d.sum().backward()
    r.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-14)
    # class weights are buffers, saved with the module as in PyTorch
    assert sorted(d_mod.state_dict()) == sorted(t_mod.state_dict())
    assert list(d_mod.parameters()) == []
    assert repr(d_mod) == f"{name}()"


def test_loss_module_legacy_flags_and_bad_reduction():
    assert dg.nn.MSELoss(size_average=False).reduction == "sum"
    assert dg.nn.MSELoss(reduce=False).reduction == "none"
    assert dg.nn.KLDivLoss(reduction="batchmean").reduction == "batchmean"
    with pytest.raises(ValueError, match="reduction"):
        dg.nn.L1Loss(reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        dg.nn.MSELoss(reduction="batchmean")


# ----------------------------------------------------------------------------- errors
def _x(*shape, dtype="float32"):
    return dg.tensor(np.random.default_rng(0).standard_normal(shape), dtype=dtype)


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss])
def test_class_index_errors(fn):
    name = fn.__name__
    with pytest.raises(IndexError, match=rf"{name}: target class index 4 is out of range for 4 classes.*\(3, 4\)"):
        fn(_x(3, 4), dg.tensor([0, 4, 1]))
    with pytest.raises(IndexError, match="index -1 is out of range"):
        fn(_x(3, 4), dg.tensor([0, -1, 1]))
    with pytest.raises(ValueError, match=rf"{name}: .*shape \(3,\), got \(2,\)"):
        fn(_x(3, 4), dg.tensor([0, 1]))
    with pytest.raises(ValueError, match=rf"{name}: .*shape \(2, 5\), got \(2, 4\)"):
        fn(_x(2, 3, 5), dg.tensor(np.zeros((2, 4), np.int64)))
    with pytest.raises(TypeError, match=rf"{name}: .*input must be a floating-point tensor.*int64"):
        fn(dg.tensor([[1, 2]]), dg.tensor([0]))
    with pytest.raises(ValueError, match=rf"{name}: weight must be a 1-D tensor with one entry per class \(4\)"):
        fn(_x(3, 4), dg.tensor([0, 1, 2]), weight=dg.ones(3))
    with pytest.raises(ValueError, match=rf"{name}: reduction must be one of"):
        fn(_x(3, 4), dg.tensor([0, 1, 2]), reduction="avg")
    with pytest.raises(ValueError, match=rf"{name}: input must have shape"):
        fn(_x(), dg.tensor(0))


def test_cross_entropy_target_kind_errors():
    # a float target of the index shape: indices were expected
    with pytest.raises(ValueError, match=r"cross_entropy: expected a target of class indices .* of shape \(3,\) "
                                         r"or of class probabilities .* shape \(3, 4\), "
                                         r"got shape \(3,\) and dtype float32"):
        F.cross_entropy(_x(3, 4), dg.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match="nll_loss: expected a target of class indices.*float32"):
        F.nll_loss(_x(3, 4), dg.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match="cross_entropy: expected a target of class indices.*bool"):
        F.cross_entropy(_x(3, 4), dg.tensor([True, False, True]))
    with pytest.raises(ValueError, match="ignore_index=0 is not supported for a target of class probabilities"):
        F.cross_entropy(_x(3, 4), dg.ones(3, 4) / 4, ignore_index=0)
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0"):
        F.cross_entropy(_x(3, 4), dg.tensor([0, 1, 2]), label_smoothing=1.5)


def test_binary_and_regression_errors():
    with pytest.raises(ValueError, match=r"binary_cross_entropy: all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(dg.tensor([0.5, 1.5]), dg.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: all elements of target should be between 0 and 1"):
        F.binary_cross_entropy(dg.tensor([0.5, 0.5]), dg.tensor([0.0, 2.0]))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: .*target of shape \(2, 1\) and input of shape \(2,\)"):
        F.binary_cross_entropy(dg.tensor([0.5, 0.5]), dg.tensor([[0.0], [1.0]]))
    with pytest.raises(TypeError, match=r"binary_cross_entropy_with_logits: target must be a floating-point tensor, "
                                        r"got shape \(2,\) and dtype int64"):
        F.binary_cross_entropy_with_logits(dg.tensor([0.5, 0.5]), dg.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: target size \(3,\) must be the same as "
                                         r"input size \(2,\)"):
        F.binary_cross_entropy_with_logits(dg.tensor([0.5, 0.5]), dg.tensor([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"pos_weight of shape \(3,\) cannot be broadcast to the input of "
                                         r"shape \(2, 2\)"):
        F.binary_cross_entropy_with_logits(dg.ones(2, 2), dg.ones(2, 2), pos_weight=dg.ones(3))
    with pytest.raises(TypeError, match="kl_div: target must be a floating-point tensor"):
        F.kl_div(dg.tensor([0.5, 0.5]), dg.tensor([0, 1]), reduction="sum")
    with pytest.raises(ValueError, match="kl_div: reduction must be one of 'none', 'mean', 'sum', 'batchmean'"):
        F.kl_div(dg.tensor([0.5]), dg.tensor([0.5]), reduction="batch")
    with pytest.raises(ValueError, match=r"mse_loss: the input of shape \(2, 3\) and the target of shape "
                                         r"\(4,\) cannot"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            F.mse_loss(dg.ones(2, 3), dg.ones(4))
    with pytest.raises(ValueError, match="smooth_l1_loss: beta must be non-negative"):
        F.smooth_l1_loss(dg.ones(2), dg.ones(2), beta=-1.0)
    with pytest.raises(ValueError, match="huber_loss: delta must be positive"):
        F.huber_loss(dg.ones(2), dg.ones(2), delta=0.0)
    with pytest.raises(TypeError, match=r"l1_loss: input must be a floating-point tensor, "
                                        r"got shape \(2,\) and dtype int64"):
        F.l1_loss(dg.tensor([1, 2]), dg.ones(2))


def test_forward_mode_through_losses_matches_reverse():
    """A directional derivative (jvp) of each loss equals the gradient dotted with the direction."""
    rng = np.random.default_rng(37)
    x = dg.tensor(rng.standard_normal((4, 3)))
    v = dg.tensor(rng.standard_normal((4, 3)))
    t_idx = dg.tensor([0, 2, 1, 1])
    t = dg.tensor(rng.uniform(0, 1, (4, 3)))
    fns = [lambda z: F.cross_entropy(z, t_idx, label_smoothing=0.2),
           lambda z: F.mse_loss(z, t),
           lambda z: F.smooth_l1_loss(z, t, beta=0.7),
           lambda z: F.binary_cross_entropy_with_logits(z, t, pos_weight=dg.tensor([1.0, 2.0, 3.0])),
           lambda z: F.kl_div(F.log_softmax(z, 1), t, reduction="batchmean")]
    for fn in fns:
        _, tangent = dg.jvp(fn, (x,), (v,))
        g = dg.grad(fn)(x)
        np.testing.assert_allclose(tangent.item(), float((g.numpy() * v.numpy()).sum()), rtol=1e-5, atol=1e-6)

