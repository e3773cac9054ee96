"""``deepgrad.vision``: torchvision's module names (issue 13). ``make_grid``/``save_image`` follow
torchvision's layout rules (checked by hand: torchvision's wheels do not load beside torch 2.13 here)."""
import numpy as np
import pytest

import deepgrad as dg
from deepgrad.vision import datasets, models, transforms, utils


def test_the_aliases_are_deepgrads_own_objects():
    assert datasets.MNIST is dg.data.MNIST and transforms.Normalize is dg.data.transforms.Normalize
    assert models.ResNet is dg.models.ResNet
    from deepgrad.vision import ops
    assert ops.deform_conv2d is dg.deform_conv2d and ops.DeformConv2d is dg.nn.DeformConv2d


def test_model_builders_take_torchvisions_keywords():
    net = models.resnet18(weights=None, progress=False, num_classes=10)
    assert sum(p.numel() for p in net.parameters()) == 11_181_642
    with pytest.raises(ValueError, match="pretrained"):
        models.resnet18(weights="IMAGENET1K_V1")


def test_make_grid_places_images_with_padding_in_rows_of_nrow():
    images = dg.tensor(np.arange(1, 6, dtype=np.float32)[:, None, None, None] * np.ones((5, 1, 2, 3), np.float32))
    grid = utils.make_grid(images, nrow=2, padding=1, pad_value=-1).numpy()
    assert grid.shape == (3, 3 * (2 + 1) + 1, 2 * (3 + 1) + 1)      # one channel becomes three
    assert (grid[0] == grid[2]).all()
    rows, cols = [1, 4, 7], [1, 5]
    for k in range(5):
        y, x = divmod(k, 2)
        assert (grid[0, rows[y]:rows[y] + 2, cols[x]:cols[x] + 3] == k + 1).all()
    assert (grid[0, 7:9, 5:8] == -1).all()              # the sixth cell stays padding
    assert (grid[0, 0] == -1).all() and (grid[0, :, 0] == -1).all()
    assert (grid == -1).sum() == grid.size - 3 * 5 * 6


def test_make_grid_normalises_over_the_batch_or_each_image():
    a = np.stack([np.full((1, 2, 2), 2.0), np.full((1, 2, 2), 4.0)]).astype(np.float32)
    a[0, 0, 0, 0] = 0.0
    whole = utils.make_grid(dg.tensor(a), normalize=True, padding=0).numpy()
    np.testing.assert_allclose(whole[0, :, 2:], 1.0)       # 4 is the batch's max
    np.testing.assert_allclose(whole[0, 1, :2], 0.5)
    each = utils.make_grid(dg.tensor(a), normalize=True, scale_each=True, padding=0).numpy()
    np.testing.assert_allclose(each[0, 1, :2], 1.0)        # 2 is the first image's max
    clipped = utils.make_grid(dg.tensor(a), normalize=True, value_range=(0.0, 2.0), padding=0).numpy()
    np.testing.assert_allclose(clipped[0, :, 2:], 1.0)
    single = utils.make_grid(dg.ones(1, 3, 4, 5))
    assert single.shape == (3, 4, 5)
    listed = utils.make_grid([dg.ones(3, 4, 5), dg.zeros(3, 4, 5)], padding=0)
    assert listed.shape == (3, 4, 10)
    with pytest.raises(ValueError, match="expected images"):
        utils.make_grid(dg.ones(1, 1, 1, 1, 1))


def test_save_image_writes_the_grid_as_8_bit_pixels(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    x = dg.tensor(np.linspace(0, 1, 2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4))
    utils.save_image(x, tmp_path / "grid.png", nrow=2, padding=1)
    pixels = np.asarray(Image.open(tmp_path / "grid.png"))
    expected = np.clip(utils.make_grid(x, nrow=2, padding=1).numpy() * 255 + 0.5, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(pixels, expected.transpose(1, 2, 0))
