"""ONNX export (issue 6, item 5): ``dg.onnx.export`` writes a model that ``onnx.checker`` accepts and
onnxruntime runs with deepgrad's outputs to 1e-4, for every zoo model and every conv/pool variant,
also at a batch size other than the example's (dynamic batch); unsupported primitives fail clearly."""
import os
import subprocess
import sys

import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import models, nn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TOL = dict(rtol=1e-4, atol=1e-4)


def _session(model_proto):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model_proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _eager(fn, *args):
    with dg.no_grad():
        out = fn(*args)
    return [o.numpy() for o in (out if isinstance(out, (tuple, list)) else (out,))]


def roundtrip(fn, *args, batches=(5,), dynamic_batch=True, opset=17, tol=TOL):
    """Export ``fn`` traced on ``args``, check the model, and compare onnxruntime with deepgrad on the
    example and (dynamic batch) on fresh inputs of other batch sizes. Returns the ModelProto."""
    proto = dg.onnx.export(fn, args, dynamic_batch=dynamic_batch, opset=opset)
    onnx.checker.check_model(proto, full_check=True)
    sess = _session(proto)
    names = [i.name for i in sess.get_inputs()]
    trials = [args]
    if dynamic_batch:
        for n in batches:
            trials.append(tuple(dg.randn(n, *a.shape[1:]).astype(a.dtype) for a in args))
    for trial in trials:
        got = sess.run(None, {k: a.numpy() for k, a in zip(names, trial)})
        want = _eager(fn, *trial)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, **tol)
    return proto


def _batch_dim(proto, which="input"):
    values = proto.graph.input if which == "input" else proto.graph.output
    return values[0].type.tensor_type.shape.dim[0]


# ---------------------------------------------------------------- the zoo
ZOO = [
    ("mlp", {}, (3, 1, 28, 28)),
    ("highway_mlp", {"depth": 3}, (3, 1, 28, 28)),
    ("lenet5", {}, (3, 1, 28, 28)),
    ("lenet5", {"variant": "classic"}, (3, 1, 32, 32)),
    ("resnet20", {}, (2, 3, 32, 32)),
]
SLOW_ZOO = [
    ("alexnet", {"num_classes": 10}, (2, 3, 64, 64)),
    ("googlenet", {"num_classes": 10}, (2, 3, 64, 64)),
    ("resnet18", {"num_classes": 10}, (2, 3, 32, 32)),
    ("resnet50", {"num_classes": 10}, (2, 3, 32, 32)),
]


def _zoo_roundtrip(name, kwargs, shape, tmp_path):
    model = models.get_model(name, **kwargs)
    model.train()
    x = dg.randn(*shape)
    path = tmp_path / f"{name}.onnx"
    dg.onnx.export(model, x, str(path))
    assert model.training, "export restores the model's mode"
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    params = dict(model.named_parameters())
    inits = {i.name for i in proto.graph.initializer}
    assert set(params) <= inits, "parameters are initializers named after them"
    assert _batch_dim(proto).dim_param == "N" and _batch_dim(proto, "output").dim_param == "N"
    model.eval()
    sess = _session(proto)
    for n in (shape[0], 1, shape[0] + 3):
        xb = dg.randn(n, *shape[1:])
        got = sess.run(None, {"input": xb.numpy()})[0]
        np.testing.assert_allclose(got, _eager(model, xb)[0], **TOL)


@pytest.mark.parametrize("name, kwargs, shape", ZOO, ids=[f"{n}-{k.get('variant', '')}" for n, k, _ in ZOO])
def test_zoo_model_roundtrip(name, kwargs, shape, tmp_path):
    _zoo_roundtrip(name, kwargs, shape, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name, kwargs, shape", SLOW_ZOO, ids=[n for n, _, _ in SLOW_ZOO])
def test_big_zoo_model_roundtrip(name, kwargs, shape, tmp_path):
    _zoo_roundtrip(name, kwargs, shape, tmp_path)


def test_zoo_with_default_highway_depth_and_activations():
    for act in ("gelu", "elu", "leaky_relu", "softplus", "tanh", "sigmoid"):
        roundtrip(models.mlp((12, 7, 5), activation=act).eval(), dg.randn(4, 12) * 3)


# ---------------------------------------------------------------- convolutions
def _w(*shape):
    return dg.randn(*shape) * 0.3


CONV2D = [
    dict(),
    dict(stride=2),
    dict(stride=(2, 3), padding=(1, 2)),
    dict(padding=1),
    dict(padding="valid"),
    dict(padding="same"),
    dict(padding="same", dilation=2),
    dict(padding="full"),
    dict(dilation=(2, 1)),
    dict(stride=3),                      # the last rows fall off (cropping by the floor rule)
    dict(groups=2),
    dict(stride=2, padding=2, dilation=2, groups=4),
]


@pytest.mark.parametrize("kw", CONV2D, ids=[str(k) for k in CONV2D])
@pytest.mark.parametrize("kernel", [3, 4])
def test_conv2d_variants(kw, kernel):
    groups = kw.get("groups", 1)
    w, b = _w(8, 4 // groups, kernel, kernel), _w(8)
    roundtrip(lambda x: F.conv2d(x, w, b, **kw), dg.randn(2, 4, 11, 10))


def test_depthwise_conv_and_no_bias():
    w = _w(12, 1, 3, 3)
    roundtrip(lambda x: F.conv2d(x, w, None, padding=1, groups=4), dg.randn(2, 4, 9, 9))


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(padding="same", dilation=3),
                                dict(padding="full"), dict(groups=2, stride=3)])
def test_conv1d_variants(kw):
    w, b = _w(6, 4 // kw.get("groups", 1), 3), _w(6)
    roundtrip(lambda x: F.conv1d(x, w, b, **kw), dg.randn(2, 4, 17))


def test_conv3d():
    w = _w(4, 2, 2, 3, 3)
    roundtrip(lambda x: F.conv3d(x, w, None, stride=(1, 2, 1), padding=(0, 1, 1)), dg.randn(2, 2, 5, 6, 6))


CONVT = [
    dict(),
    dict(stride=2),
    dict(stride=2, padding=1),
    dict(stride=2, padding=1, output_padding=1),
    dict(stride=3, output_padding=2),
    dict(dilation=2, padding=2),
    dict(groups=2, stride=2, output_padding=1),
]


@pytest.mark.parametrize("kw", CONVT, ids=[str(k) for k in CONVT])
def test_conv_transpose2d_variants(kw):
    groups = kw.get("groups", 1)
    w, b = _w(4, 6 // groups, 3, 3), _w(6)
    roundtrip(lambda x: F.conv_transpose2d(x, w, b, **kw), dg.randn(2, 4, 5, 6))


def test_conv_transpose1d_and_layer():
    w = _w(3, 5, 4)
    roundtrip(lambda x: F.conv_transpose1d(x, w, None, stride=2, padding=1, output_padding=1), dg.randn(2, 3, 7))
    layer = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1)
    roundtrip(layer, dg.randn(2, 3, 4, 5))


def test_conv_weight_adjoint():
    """conv_weight (the weight gradient of a convolution) exports as a Conv with batch and channels exchanged."""
    from deepgrad.ops import conv as conv_ops
    y = dg.randn(2, 5, 4, 4)
    roundtrip(lambda x, g: conv_ops.conv_weight(x, g, (2, 2), (1, 1), (1, 1), 1, (3, 3)), dg.randn(2, 3, 8, 8), y)


# ---------------------------------------------------------------- pooling
MAXPOOL = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=2, stride=3, ceil_mode=True),
    dict(kernel_size=3, stride=1, padding=1, dilation=2),
    dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), ceil_mode=True),
]


@pytest.mark.parametrize("kw", MAXPOOL, ids=[str(k) for k in MAXPOOL])
def test_max_pool2d_variants(kw):
    roundtrip(lambda x: F.max_pool2d(x, **kw), dg.randn(2, 3, 11, 10))


def test_max_pool1d_and_layers():
    roundtrip(lambda x: F.max_pool1d(x, 3, 2, 1, ceil_mode=True), dg.randn(2, 3, 12))
    roundtrip(nn.MaxPool2d(3, 2, ceil_mode=True), dg.randn(2, 3, 8, 8))


AVGPOOL = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=2, stride=3, ceil_mode=True),
    dict(kernel_size=3, divisor_override=2),
]


@pytest.mark.parametrize("kw", AVGPOOL, ids=[str(k) for k in AVGPOOL])
def test_avg_pool2d_variants(kw):
    roundtrip(lambda x: F.avg_pool2d(x, **kw), dg.randn(2, 3, 11, 10))


def test_avg_pool1d():
    roundtrip(lambda x: F.avg_pool1d(x, 4, 3, 2, ceil_mode=True, count_include_pad=False), dg.randn(2, 3, 13))


@pytest.mark.parametrize("size", [(3, 2), (1, 1), (7, 5), (4, 4)])
def test_adaptive_pools(size):
    roundtrip(lambda x: F.adaptive_avg_pool2d(x, size), dg.randn(2, 3, 7, 5))
    roundtrip(lambda x: F.adaptive_max_pool2d(x, size), dg.randn(2, 3, 7, 5))


def test_adaptive_pools_1d():
    roundtrip(lambda x: F.adaptive_avg_pool1d(x, 4), dg.randn(2, 3, 10))
    roundtrip(lambda x: F.adaptive_max_pool1d(x, 4), dg.randn(2, 3, 10))


def test_max_unpool_with_fixed_indices():
    """Unpooling scatters into the plane (ScatterElements with reduction 'add'); its indices are
    constants here, which depend on the samples, so the batch is fixed."""
    x = dg.randn(2, 3, 8, 6)
    _, idx = F.max_pool2d(x, 2, return_indices=True)
    proto = roundtrip(lambda y: F.max_unpool2d(y, idx, 2), dg.randn(2, 3, 4, 3), dynamic_batch=False)
    assert any(n.op_type == "ScatterElements" for n in proto.graph.node)
    with pytest.raises(NotImplementedError, match="batch"):
        dg.onnx.export(lambda y: F.max_unpool2d(y, idx, 2), dg.randn(2, 3, 4, 3))


# ---------------------------------------------------------------- other primitives
def test_elementwise_reductions_and_shapes():
    def f(x, y):
        a = dg.where(x > 0, x.exp(), (y * 2).sigmoid()) + x.abs().sqrt() - dg.log1p(y.abs()) / (1 + x * x)
        b = dg.softmax(a, -1) + dg.log_softmax(a, 1) + dg.logsumexp(a, 2, keepdim=True)
        c = dg.maximum(b, y).clip(-2, 3) ** 2 + dg.minimum(a, 0.5).tanh() + dg.expm1(x * 0.1)
        d = c.sum((1, 2)) + c.amax(-1).mean(-1) + c.amin(1).sum(-1) + c.var(2).sum(-1)
        e = (c.permute(0, 2, 1) @ c).reshape(x.shape[0], -1) + dg.erf(x).flatten(1).sum(-1, keepdim=True)
        return d, e, dg.concatenate([a, b.flip(2)], 1).astype(dg.float64)
    roundtrip(f, dg.randn(3, 4, 5), dg.randn(3, 4, 5))


def test_getitem_pad_expand_and_matmul_broadcast():
    w = dg.randn(5, 6)
    idx = np.array([2, 0, 1, 1])

    def f(x):
        a = x[:, 1:4, ::2] + x[:, -1:, ::2] + x[:, None, 2, :3].squeeze(1).unsqueeze(1)
        b = x[..., idx] * 2 + x[:, :, 1:5]
        c = F.pad(a, (1, 2, 0, 1), value=0.5)
        d = x[:, 0].unsqueeze(1).expand(x.shape[0], 3, 5) @ w
        e = x[:, [0, 2], 1:3] + x[:, ::-1, ::-2][:, :2, :2]
        return c, b, d, e, x[:, 2, [1, 3]]
    roundtrip(f, dg.randn(3, 4, 5))


def test_cross_entropy_style_graph_and_batch_dependent_error():
    def per_sample(x):
        return F.log_softmax(x, -1).mean(-1)
    roundtrip(per_sample, dg.randn(4, 7))

    def batch_mean(x):          # a mean over the batch: its divisor depends on the batch size
        return x.mean()
    with pytest.raises(NotImplementedError, match="batch size"):
        dg.onnx.export(batch_mean, dg.randn(4, 7))
    roundtrip(batch_mean, dg.randn(4, 7), dynamic_batch=False)


def test_batch_one_example_and_several_inputs_outputs(tmp_path):
    layer = nn.Linear(6, 3)
    fn = lambda a, b: (layer(a) * b.sum(-1, keepdim=True), a.reshape(a.shape[0], 2, 3))  # noqa: E731
    proto = roundtrip(fn, dg.randn(1, 6), dg.randn(1, 4), batches=(1, 4))
    assert [i.name for i in proto.graph.input] == ["input0", "input1"]
    assert [o.name for o in proto.graph.output] == ["output0", "output1"]
    named = dg.onnx.export(fn, (dg.randn(2, 6), dg.randn(2, 4)), str(tmp_path / "m.onnx"),
                           input_names=["a", "b"], output_names=["y", "z"])
    assert [i.name for i in named.graph.input] == ["a", "b"] and os.path.getsize(tmp_path / "m.onnx") > 0


def test_static_batch_and_opset_18():
    model = models.lenet5().eval()
    proto = roundtrip(model, dg.randn(2, 1, 28, 28), dynamic_batch=False)
    assert _batch_dim(proto).dim_value == 2
    roundtrip(lambda x: x.amax(-1) + x.amin(1).sum(-1, keepdim=True) + dg.logsumexp(x, -1), dg.randn(3, 4, 5),
              opset=18)


def test_unsupported_primitives_raise_clearly():
    from deepgrad.ops import pool
    with pytest.raises(NotImplementedError, match="windowspread"):
        dg.onnx.export(lambda y: pool.window_spread(y, (2, 2), (2, 2), (0, 0), (4, 4)), dg.randn(2, 1, 2, 2))
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    model.train()
    proto = dg.onnx.export(model, dg.randn(3, 4))      # exported in eval mode: dropout is the identity
    assert model.training
    x = dg.randn(5, 4)
    got = _session(proto).run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, _eager(model.eval(), x)[0], **TOL)
    with pytest.raises(NotImplementedError, match="random"):
        dg.onnx.export(lambda x: F.dropout(x, 0.5, training=True), dg.randn(3, 4))


def _checkpoint(tmp_path, name="lenet5"):
    """A checkpoint as ``deepgrad train`` writes it (its config records how to rebuild the model)."""
    from deepgrad.train import recipes, save_checkpoint
    model, target = recipes.build_model(name, 10, (1, 8, 8))
    from deepgrad.train.run import DEFAULTS
    config = {**DEFAULTS, "model": name, "classes": [str(i) for i in range(10)], "in_shape": [1, 8, 8],
              "input": list(target), "mean": [0.0], "std": [1.0]}
    path = tmp_path / "best.safetensors"
    save_checkpoint(str(path), model, config=config)
    return path


def test_cli_export(tmp_path, capsys):
    from deepgrad.cli import main
    from deepgrad.train.run import load_run
    ckpt = _checkpoint(tmp_path)
    out = tmp_path / "model.onnx"
    assert main(["export", str(ckpt), "--onnx", str(out)]) == 0
    assert "model.onnx" in capsys.readouterr().out
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto)
    assert _batch_dim(proto).dim_param == "N"
    model, config = load_run(str(ckpt))
    x = dg.randn(5, *config["input"])
    got = _session(proto).run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, _eager(model, x)[0], **TOL)
    assert main(["export", str(ckpt), "--onnx", str(out), "--static-batch", "--opset", "18"]) == 2   # exists
    assert main(["export", str(ckpt), "--onnx", str(out), "--static-batch", "--opset", "18", "--overwrite"]) == 0
    assert _batch_dim(onnx.load(str(out))).dim_value == 2


def test_cli_export_errors(tmp_path):
    r = subprocess.run([sys.executable, "-m", "deepgrad", "export", str(tmp_path / "missing.safetensors"),
                        "--onnx", str(tmp_path / "m.onnx")], capture_output=True, text=True,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert r.returncode != 0 and "deepgrad export: error" in r.stderr
    r = subprocess.run([sys.executable, "-m", "deepgrad", "export", "x.safetensors"], capture_output=True, text=True,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert r.returncode == 2 and "--onnx" in r.stderr


@pytest.mark.parametrize("opset", [12, 10_000, True, "17"])
def test_export_refuses_an_opset_onnx_does_not_know(opset):
    """The library API checks the range too (not only the CLI): above the installed onnx's newest opset a file
    would be written that onnxruntime refuses."""
    with pytest.raises(ValueError, match="opset must be an integer from 13 to"):
        dg.onnx.export(dg.nn.Linear(2, 2), dg.zeros(1, 2), opset=opset)
