"""ONNX export of deform_conv2d: its sampling becomes a DeformConv node (opset 19), run by onnxruntime's CPU
kernel and by onnx's reference evaluator, both equal to deepgrad's eager result."""
import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn
from deepgrad.static import onnx_export
from deepgrad.vision.ops import deform_conv2d

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

# (H, W, kernel, stride, padding, dilation, offset groups, mask): the output sizes 6x7, 3x2, 5x5, 1x1 make
# the converter's grid choose stride 1, larger strides and a single output
CASES = [(6, 7, 3, 1, 1, 1, 1, True), (9, 8, 3, 2, 0, 2, 2, False), (5, 5, 1, 1, 0, 1, 1, True),
         (4, 4, 4, 3, 1, 1, 4, True)]


def _case(h, w, k, s, p, d, groups, masked, rng):
    ho, wo = (h + 2 * p - d * (k - 1) - 1) // s + 1, (w + 2 * p - d * (k - 1) - 1) // s + 1
    x = rng.standard_normal((2, 4, h, w)).astype(np.float32)
    offset = (3 * rng.standard_normal((2, 2 * groups * k * k, ho, wo))).astype(np.float32)   # some points outside
    mask = rng.uniform(size=(2, groups * k * k, ho, wo)).astype(np.float32)
    weight = dg.tensor(rng.standard_normal((6, 2, k, k)).astype(np.float32))        # groups = 2
    bias = dg.tensor(rng.standard_normal(6).astype(np.float32))

    def f(x, offset, mask=None):
        return deform_conv2d(x, offset, weight, bias, stride=s, padding=p, dilation=d, mask=mask)
    return f, (x, offset, mask) if masked else (x, offset)


@pytest.mark.parametrize("case", CASES)
def test_deform_conv2d_exports_to_deformconv_that_onnxruntime_runs(case):
    f, arrays = _case(*case, np.random.default_rng(0))
    args = tuple(dg.tensor(a) for a in arrays)
    model = onnx_export.to_model(f, args, opset=19)
    assert [n.op_type for n in model.graph.node].count("DeformConv") == 1
    expected = f(*args).numpy()
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {i.name: a for i, a in zip(session.get_inputs(), arrays)}
    np.testing.assert_allclose(session.run(None, feeds)[0], expected, rtol=1e-4, atol=1e-4)
    from onnx.reference import ReferenceEvaluator
    np.testing.assert_allclose(ReferenceEvaluator(model).run(None, feeds)[0], expected, rtol=1e-4, atol=1e-4)


def test_a_model_with_deformconv2d_exports_with_a_dynamic_batch():
    dg.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.offsets = nn.Conv2d(3, 18, 3, padding=1)
            self.deform = nn.DeformConv2d(3, 5, 3, padding=1)

        def forward(self, x):
            return self.deform(x, self.offsets(x) * 4)

    net = Net().eval()
    model = onnx_export.to_model(net, dg.randn(2, 3, 8, 8), opset=19)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((3, 3, 8, 8)).astype(np.float32)    # another batch size
    with dg.no_grad():
        expected = net(dg.tensor(x)).numpy()
    np.testing.assert_allclose(session.run(None, {"input": x})[0], expected, rtol=1e-4, atol=1e-4)


def test_deformable_sampling_needs_opset_19():
    f, arrays = _case(*CASES[0], np.random.default_rng(0))
    with pytest.raises(NotImplementedError, match="DeformConv, opset >= 19; got opset 17"):
        onnx_export.to_model(f, tuple(dg.tensor(a) for a in arrays), opset=17)
