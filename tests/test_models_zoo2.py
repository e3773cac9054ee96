"""VGG, Inception v3 and BN-Inception: published parameter counts, torchvision's state_dict keys (the
fixture is generated from torchvision's source by tests/fixtures/torchvision_zoo2.py), output shapes,
and outputs equal to torchvision's own model code (run with torch.nn) carrying the same weights."""
import glob
import importlib.util
import json
import pathlib

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import models, nn
from deepgrad.models.bn_inception import MODULES
from deepgrad.vision import models as tv_models

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
SHAPES = json.loads((FIXTURES / "torchvision_zoo2_state_dict_shapes.json").read_text())
WHEELS = sorted(glob.glob("/opt/pypi-more/files/torchvision-*.whl"))


def count(model):
    return sum(p.numel() for p in model.parameters())


def shapes(model):
    return {k: list(v.shape) for k, v in model.state_dict().items()}


# VGG's 102,764,544-weight first dense layer makes every build take seconds: vgg11 stays in the quick run
VGG_NAMES = ["vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]


@pytest.mark.parametrize("name", [n if n == "vgg11" else pytest.param(n, marks=pytest.mark.slow) for n in VGG_NAMES])
def test_vgg_state_dict_keys_and_shapes_equal_torchvisions(name):
    model = getattr(models, name)(init_weights=False)
    assert list(shapes(model)) == list(SHAPES[name])
    assert shapes(model) == SHAPES[name]
    from_fixture = sum(np.prod(s) for k, s in SHAPES[name].items() if k.endswith(("weight", "bias")))
    assert count(model) == from_fixture == PUBLISHED.get(name, from_fixture)


PUBLISHED = {"vgg11": 132_863_336, "vgg16": 138_357_544, "vgg16_bn": 138_365_992, "inception_v3": 27_161_264,
             "inception_v3_noaux": 23_834_568}


@pytest.mark.parametrize("name, kwargs", [("inception_v3", {}), ("inception_v3_noaux", {"aux_logits": False})])
def test_inception_v3_state_dict_keys_shapes_and_count_equal_torchvisions(name, kwargs):
    model = models.inception_v3(init_weights=False, **kwargs)
    assert list(shapes(model)) == list(SHAPES[name])
    assert shapes(model) == SHAPES[name]
    assert count(model) == PUBLISHED[name]


def test_vgg_trunk_follows_the_papers_configurations():
    """Table 1 of Simonyan & Zisserman: 8, 10, 13, 16 convolutions (+ 3 dense layers = 11..19) and five pools."""
    for depth in (11, 13, 16, 19):
        layers = models.vgg.make_layers(models.vgg.CONFIGS[depth], batch_norm=True)
        kinds = [type(m).__name__ for m in layers]
        assert kinds.count("Conv2d") == depth - 3 == kinds.count("BatchNorm2d")
        assert kinds.count("MaxPool2d") == 5
        assert all(m.kernel_size == (3, 3) and m.padding == (1, 1) for m in layers if isinstance(m, nn.Conv2d))


@pytest.mark.slow
def test_vgg_forward_shapes_and_initialisation():
    dg.manual_seed(0)
    model = models.vgg11_bn(num_classes=7, dropout=0.0)
    conv, linear = model.features[0], model.classifier[0]
    assert conv.bias.array.max() == 0 == linear.bias.array.max()
    assert abs(linear.weight.array.std() - 0.01) < 1e-4          # N(0, 0.01²)
    assert abs(conv.weight.array.std() - (2 / (64 * 9)) ** 0.5) < 0.01   # Kaiming, fan_out = 64·3·3
    assert model.eval()(dg.randn(2, 3, 32, 32)).shape == (2, 7)   # 32×32 → 1×1, replicated to 7×7 by avgpool


def test_inception_v3_outputs_and_aux_head_depend_on_mode():
    model = models.inception_v3(num_classes=5, aux_logits=True, init_weights=False).eval()
    assert model(dg.randn(1, 3, 75, 75)).shape == (1, 5)          # the smallest input it takes
    assert model.aux_logits and model.AuxLogits is not None
    assert models.inception_v3(aux_logits=False).train().AuxLogits is None


@pytest.mark.slow
def test_inception_v3_training_returns_logits_and_aux_logits_at_299():
    model = models.inception_v3(num_classes=5).train()
    out = model(dg.randn(2, 3, 299, 299))
    assert isinstance(out, models.InceptionOutputs)
    assert out.logits.shape == out.aux_logits.shape == (2, 5)
    assert models.inception_v3(num_classes=5, aux_logits=False).train()(dg.randn(1, 3, 299, 299)).shape == (1, 5)


def test_inception_v3_initialisation_is_truncated_normal():
    dg.manual_seed(0)
    model = models.inception_v3()
    w = model.Mixed_7c.branch_pool.conv.weight.array                 # std 0.1, cut at ±2 (= ±20 σ: uncut)
    assert abs(w.std() - 0.1) < 2e-3 and np.abs(w).max() <= 2
    aux = model.AuxLogits.fc.weight.array                            # std 0.001
    assert abs(aux.std() - 0.001) < 2e-5
    assert model.Conv2d_1a_3x3.bn.eps == 1e-3


def test_transform_input_maps_imagenet_normalisation_to_minus_one_one():
    model = models.inception_v3(transform_input=True, init_weights=False)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    pixels = np.random.default_rng(0).random((2, 3, 4, 4)).astype(np.float32)
    normalised = (pixels - mean[:, None, None]) / std[:, None, None]
    got = model._transform_input(dg.tensor(normalised.astype(np.float32)))
    np.testing.assert_allclose(got.numpy(), (pixels - 0.5) / 0.5, atol=1e-5)
    model.transform_input = False
    np.testing.assert_array_equal(model._transform_input(dg.tensor(normalised)).numpy(), normalised)


def test_bn_inception_parameters_follow_the_table():
    """Each module's parameters summed from its row of the table (conv k·k·in·out, no bias; batch norm
    2·out), plus the stem and the classifier: an independent count of the whole network."""
    def conv(k, cin, cout):
        return k * k * cin * cout + 2 * cout
    total = conv(7, 3, 64) + conv(1, 64, 64) + conv(3, 64, 192) + 1024 * 1000 + 1000
    channels = 192
    for name, (cin, c1, r3, c3, rd, d, pool, proj) in MODULES.items():
        assert cin == channels, name                                  # each module reads what the last wrote
        total += (conv(1, cin, c1) if c1 else 0) + conv(1, cin, r3) + conv(3, r3, c3)
        total += conv(1, cin, rd) + conv(3, rd, d) + conv(3, d, d) + (conv(1, cin, proj) if proj else 0)
        channels = c1 + c3 + d + (proj or cin)
    assert channels == 1024
    model = models.bn_inception()
    assert count(model) == total == 11_285_224
    assert [getattr(model, n).out_channels for n in MODULES] == [256, 320, 576, 576, 576, 608, 608, 1056, 1024, 1024]


@pytest.mark.parametrize("size, grid", [(64, 2), (224, 7)])
def test_bn_inception_halves_the_grid_five_times(size, grid):
    model = models.bn_inception(num_classes=3).eval()
    seen = []
    model.inception5b.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    assert model(dg.randn(1, 3, size, size)).shape == (1, 3)
    assert seen == [(1, 1024, grid, grid)]


def test_vision_models_take_torchvisions_keywords():
    model = tv_models.inception_v3(weights=None, progress=False, num_classes=4, aux_logits=False, init_weights=False)
    assert isinstance(model, tv_models.Inception3) and model.fc.out_features == 4 and model.AuxLogits is None
    with pytest.raises(ValueError, match="pretrained"):
        tv_models.vgg11(weights="IMAGENET1K_V1")
    assert {"vgg11", "vgg19_bn", "inception_v3", "bn_inception"} <= set(models.MODELS)


# ---------------------------------------------------------------- against torchvision's own code
torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def torchvision_code():
    if not WHEELS:
        pytest.skip("no torchvision wheel to read the model code from")
    spec = importlib.util.spec_from_file_location("torchvision_zoo2", FIXTURES / "torchvision_zoo2.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {**module.load(WHEELS[-1], "vgg"), **module.load(WHEELS[-1], "inception")}


def compare(ours, theirs, shape):
    from test_models_torch import assert_close, copy_into, inputs, randomise
    torch.manual_seed(0)
    theirs = randomise(theirs, inputs(shape, seed=3)).eval()
    ours = copy_into(ours, theirs).eval()
    x = inputs(shape)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).flatten(1).numpy()
    with dg.no_grad():
        assert_close(ours(dg.tensor(x)).flatten(1).numpy(), expected)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_vgg11_trunk_equals_torchvisions_with_the_same_weights(torchvision_code, batch_norm):
    compare(models.vgg.make_layers(models.vgg.CONFIGS[11], batch_norm),
            torchvision_code["make_layers"](torchvision_code["cfgs"]["A"], batch_norm), (2, 3, 32, 32))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vgg11_bn", "vgg16"])
def test_vgg_outputs_equal_torchvisions_with_the_same_weights(torchvision_code, name):
    compare(getattr(models, name)(num_classes=10, init_weights=False),
            torchvision_code[name](num_classes=10, init_weights=False), (2, 3, 32, 32))


@pytest.mark.parametrize("transform_input", [pytest.param(False, marks=pytest.mark.slow), True])
def test_inception_v3_outputs_equal_torchvisions_with_the_same_weights(torchvision_code, transform_input):
    kwargs = dict(num_classes=10, aux_logits=False, transform_input=transform_input, init_weights=False)
    compare(models.inception_v3(**kwargs), torchvision_code["inception_v3"](**kwargs), (2, 3, 75, 75))
