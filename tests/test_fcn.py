"""Fully convolutional networks: torchvision's fcn_resnet50 (state_dict keys and shapes from the fixture that
tests/fixtures/torchvision_fcn.py generates from torchvision's source, parameter count, outputs equal to
torchvision's own code run with torch.nn), bilinear resizing against torch's interpolate, the bilinear
initialisation of transposed convolutions (seed 4.5.1) and the wiring of the small FCN-8s."""
import glob
import json
import pathlib

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import models, nn
from deepgrad.models import fcn
from deepgrad.vision import models as tv_models

torch = pytest.importorskip("torch")
TF = torch.nn.functional

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
SHAPES = json.loads((FIXTURES / "torchvision_fcn_state_dict_shapes.json").read_text())
WHEELS = sorted(glob.glob("/opt/pypi-more/files/torchvision-*.whl"))


def shapes(model):
    return {k: list(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name, aux, count", [("fcn_resnet50", False, 32_957_013),
                                              ("fcn_resnet50_aux", True, 35_322_218)])
def test_fcn_resnet50_state_dict_and_count_equal_torchvisions(name, aux, count):
    with nn.init.skipped():
        model = models.fcn_resnet50(num_classes=21, aux_loss=aux)
    assert list(shapes(model)) == list(SHAPES[name])
    assert shapes(model) == SHAPES[name]
    assert sum(p.numel() for p in model.parameters()) == count


def test_fcn_resnet50_backbone_has_output_stride_8_and_returns_torchvisions_dict():
    with nn.init.skipped():
        model = tv_models.segmentation.fcn_resnet50(num_classes=5, aux_loss=True).eval()
    strides = [(m.stride, m.dilation) for m in model.backbone.layer4.modules() if isinstance(m, nn.Conv2d)
               and m.kernel_size == (3, 3)]
    assert strides == [((1, 1), (2, 2)), ((1, 1), (4, 4)), ((1, 1), (4, 4))]
    with dg.no_grad():
        features = model.backbone(dg.zeros(1, 3, 16, 24))
        out = model(dg.zeros(1, 3, 16, 24))
    assert {k: tuple(v.shape) for k, v in features.items()} == {"out": (1, 2048, 2, 3), "aux": (1, 1024, 2, 3)}
    assert {k: tuple(v.shape) for k, v in out.items()} == {"out": (1, 5, 16, 24), "aux": (1, 5, 16, 24)}
    with pytest.raises(ValueError, match="pretrained"):
        tv_models.segmentation.fcn_resnet50(weights_backbone="IMAGENET1K_V1")


@pytest.fixture(scope="module")
def torchvision_fcn():
    if not WHEELS:
        pytest.skip("no torchvision wheel to read the model code from")
    from fixtures.torchvision_fcn import load
    return load(WHEELS[-1])


@pytest.mark.slow
def test_fcn_resnet50_outputs_equal_torchvisions_with_the_same_weights(torchvision_fcn):
    from test_models_torch import assert_close, copy_into, inputs, randomise
    torch.manual_seed(0)
    x = inputs((2, 3, 40, 32))
    theirs = randomise(torchvision_fcn["fcn_resnet50"](num_classes=6, aux_loss=True, weights_backbone=None),
                       inputs((2, 3, 40, 32), seed=3)).eval()
    with nn.init.skipped():
        ours = copy_into(models.fcn_resnet50(num_classes=6, aux_loss=True), theirs).eval()
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x))
    with dg.no_grad():
        got = ours(dg.tensor(x))
    for key in ("out", "aux"):
        assert_close(got[key].numpy().reshape(2, -1), expected[key].numpy().reshape(2, -1))


@pytest.mark.parametrize("size, out", [((5, 7), (12, 9)), ((8, 8), (64, 64)), ((9, 6), (4, 3)), ((3, 4), (3, 4))])
def test_resize_bilinear_equals_torch_interpolate_with_its_gradient(size, out):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3) + size)
    g = rng.standard_normal((2, 3) + out)
    ours = dg.tensor(x, requires_grad=True)
    y = fcn.resize_bilinear(ours, out)
    (y * dg.tensor(g)).sum().backward()
    theirs = torch.tensor(x, requires_grad=True)
    expected = TF.interpolate(theirs, size=out, mode="bilinear", align_corners=False)
    (expected * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(y.numpy(), expected.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_bilinear_transposed_convolution_equals_interpolate_on_the_interior(factor):
    """Seed 4.5.1: the transposed convolution initialised by bilinear_kernel upsamples as torch's
    interpolate(bilinear, align_corners=False) wherever the sample point lies between input pixels."""
    x = np.random.default_rng(1).standard_normal((2, 3, 5, 6)).astype(np.float32)
    up = fcn.upsampling(3, factor)
    with dg.no_grad():
        y = up(dg.tensor(x)).numpy()
    expected = TF.interpolate(torch.tensor(x), scale_factor=factor, mode="bilinear", align_corners=False).numpy()
    assert y.shape == expected.shape == (2, 3, 5 * factor, 6 * factor)
    inner = slice(factor // 2, -(factor // 2))
    np.testing.assert_allclose(y[..., inner, inner], expected[..., inner, inner], atol=1e-5)
    assert not np.allclose(y[..., 0, :], expected[..., 0, :])    # the border reads zero padding instead


def test_bilinear_kernel_is_fcns_upsample_filter():
    """FCN's upsample_filt: (1 - |i - c| / f) outer itself, c = f - 1 for odd sizes, f - 0.5 for even ones,
    on the diagonal of (channels, channels)."""
    for factor in (1, 2, 3, 4):
        size = 2 * factor - factor % 2
        centre = (size + 1) // 2 - 1 if size % 2 else (size + 1) // 2 - 0.5
        og = np.ogrid[:size, :size]
        filt = (1 - abs(og[0] - centre) / factor) * (1 - abs(og[1] - centre) / factor)
        weight = fcn.bilinear_kernel(3, factor)
        for i in range(3):
            for j in range(3):
                np.testing.assert_allclose(weight[i, j], filt if i == j else 0)
    with pytest.raises(ValueError, match="factor must be an integer >= 1"):
        fcn.bilinear_kernel(3, 0)


@pytest.mark.parametrize("skips", [(3, 4), (0, 3, 4), (0, 1, 2, 3, 4), (4,), ()])
def test_fcn8s_adds_the_scores_of_its_skips(skips):
    """The forward equals its parts composed by hand: scores at stride 32, each ×2 upsampling followed by
    the score of the pool it reaches (when a skip), the last upsampling to the input, the input's score."""
    dg.manual_seed(0)
    model = models.fcn8s(num_classes=4, in_channels=2, widths=(4, 6, 8, 8, 8), fc=8, skips=skips).eval()
    for score in model.score_pool.values():       # zero at initialisation: make the skips count
        score.weight.array[...] = np.random.default_rng(2).standard_normal(score.weight.shape)
    x = dg.randn(2, 2, 32, 64)
    with dg.no_grad():
        pools = [x]
        for stage in model.features:
            pools.append(stage(pools[-1]))
        score = model.score_fr(model.fc(pools[5]))
        level = 5
        for up in model.upscore:
            level -= 1
            score = up(score)
            if level in skips:
                score = score + model.score_pool[str(level)](pools[level])
        expected = model.upscore_final(score)
        if 0 in skips:
            expected = expected + model.score_pool["0"](x)
        got = model(x)
    assert got.shape == (2, 4, 32, 64)
    assert len(model.upscore) == 5 - min([k for k in skips if k > 0], default=5)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6, atol=1e-6)


def test_fcn8s_starts_as_fcn32s_with_bilinear_upsampling():
    model = models.fcn8s()
    for score in model.score_pool.values():
        assert not score.weight.numpy().any() and not score.bias.numpy().any()
    for up in list(model.upscore) + [model.upscore_final]:
        factor = up.stride[0]
        np.testing.assert_array_equal(up.weight.numpy(), fcn.bilinear_kernel(11, factor))
        assert up.padding == (factor // 2,) * 2 and up.bias is None


def test_fcn8s_refuses_bad_arguments():
    with pytest.raises(ValueError, match="multiples of 32"):
        models.fcn8s()(dg.zeros(1, 1, 48, 64))
    with pytest.raises(ValueError, match="skips must be distinct levels"):
        models.fcn8s(skips=(5,))
    with pytest.raises(ValueError, match="widths must give the channels of the 5 stages"):
        models.fcn8s(widths=(8, 8))
    with pytest.raises(ValueError, match="return_layers"):
        fcn.IntermediateLayerGetter(models.resnet18(), {"layer9": "out"})
