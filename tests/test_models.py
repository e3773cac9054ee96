"""The model zoo: published parameter counts, torchvision state_dict compatibility, shapes, summary."""
import json
import pathlib

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import models, nn

FIXTURE = json.loads((pathlib.Path(__file__).parent / "fixtures" / "torchvision_state_dict_shapes.json").read_text())


def count(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("build, expected", [
    (lambda: models.lenet5("modern"), 61_706),
    (lambda: models.lenet5("classic"), 60_850),   # C1 156 + S2 12 + C3 1,516 + S4 32 + C5 48,120 + F6 10,164 + out 850
    (models.alexnet, 61_100_840),
    (models.googlenet, 6_624_904),
    (models.resnet18, 11_689_512),
    (models.resnet34, 21_797_672),
    (models.resnet50, 25_557_032),
    (models.resnet20, 269_722),                    # "0.27M" in He et al. 2016, Table 6: option A adds no parameters
    (models.resnet56, 853_018),
    (models.resnet110, 1_727_962),
], ids=["lenet5-modern", "lenet5-classic", "alexnet", "googlenet", "resnet18", "resnet34", "resnet50", "resnet20",
        "resnet56", "resnet110"])
def test_parameter_counts_match_the_published_ones(build, expected):
    assert count(build()) == expected


@pytest.mark.parametrize("name, build", [
    ("resnet18", models.resnet18), ("resnet34", models.resnet34), ("resnet50", models.resnet50),
    ("alexnet", models.alexnet), ("googlenet", models.googlenet),
    ("googlenet_aux", lambda: models.googlenet(aux_logits=True)),
])
def test_state_dict_keys_and_shapes_equal_torchvisions(name, build):
    """The fixture lists torchvision's state_dict (key -> shape), dumped from its model definitions."""
    ours = {k: list(v.shape) for k, v in build().state_dict().items()}
    assert list(ours) == list(FIXTURE[name])
    assert ours == FIXTURE[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet101", "resnet152"])
def test_deep_resnets_state_dicts_equal_torchvisions(name):
    ours = {k: list(v.shape) for k, v in getattr(models, name)().state_dict().items()}
    assert ours == FIXTURE[name]


def test_a_full_state_dict_loads_every_parameter_and_buffer():
    source, target = models.resnet18(num_classes=10), models.resnet18(num_classes=10)
    state = {k: dg.tensor(v.numpy() + (0.01 if v.dtype.kind == "f" else 3)) for k, v in source.state_dict().items()}
    target.load_state_dict(state)
    for k, v in target.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), state[k].numpy())


@pytest.mark.parametrize("build, shape, classes", [
    (lambda: models.lenet5("modern"), (2, 1, 28, 28), 10),
    (lambda: models.lenet5("classic"), (2, 1, 32, 32), 10),
    (lambda: models.resnet20(), (2, 3, 32, 32), 10),
    (lambda: models.resnet18(num_classes=7), (1, 3, 64, 64), 7),
    (lambda: models.mlp((12, 8, 3), "tanh"), (4, 12), 3),
    (lambda: models.highway_mlp(12, width=8, depth=3, num_classes=3), (4, 3, 4), 3),
])
def test_forward_gives_one_row_of_logits_per_input(build, shape, classes):
    model = build().eval()
    assert model(dg.randn(*shape)).shape == (shape[0], classes)


def test_googlenet_with_aux_heads_returns_three_outputs_in_training_only():
    model = models.googlenet(num_classes=5, aux_logits=True)
    x = dg.randn(1, 3, 96, 96)
    logits, aux2, aux1 = model(x)
    assert logits.shape == aux2.shape == aux1.shape == (1, 5)
    assert model.eval()(x).shape == (1, 5)


def test_classic_lenet_c3_follows_lecun_table_1():
    c3 = models.lenet5("classic")[3]
    connections = models.lenet.C3_CONNECTIONS
    assert connections.sum() == 60 and connections.sum(0).tolist() == [3] * 6 + [4] * 9 + [6]
    assert count(c3) == 1_516
    full = c3.full_weight().numpy()
    assert np.all(full[~connections.T] == 0) and np.all(np.abs(full[connections.T]).sum((1, 2)) > 0)
    # an input map that C3 map j does not read cannot change that map's output
    x = dg.randn(1, 6, 14, 14)
    y0 = c3(x).numpy()
    bumped = x.numpy().copy()
    bumped[0, 3] += 1.0
    y1 = c3(dg.tensor(bumped)).numpy()
    for j in range(16):
        changed = not np.allclose(y0[0, j], y1[0, j])
        assert changed == bool(connections[3, j])


def test_cifar_shortcut_option_a_pads_channels_with_zeros():
    block = models.resnet20().layer2[0]
    x = dg.randn(2, 16, 8, 8)
    s = block.downsample(x).numpy()
    assert s.shape == (2, 32, 4, 4)
    np.testing.assert_array_equal(s[:, 8:24], x.numpy()[:, :, ::2, ::2])
    assert np.all(s[:, :8] == 0) and np.all(s[:, 24:] == 0)


def test_get_model_and_unknown_names():
    assert isinstance(models.get_model("lenet5", variant="modern"), nn.Module)
    with pytest.raises(ValueError, match="unknown model 'vgg'"):
        models.get_model("vgg")
    with pytest.raises(ValueError, match="variant"):
        models.lenet5("tiny")


def test_summary_lists_layers_shapes_and_totals():
    table = dg.summary(models.lenet5(), (1, 1, 28, 28), print_fn=None)
    assert "Total params: 61,706" in table
    assert "(1, 6, 28, 28)" in table and "(1, 16, 5, 5)" in table and "(1, 10)" in table
    assert "Conv2d" in table and "MaxPool2d" in table
