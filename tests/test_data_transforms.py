"""deepgrad.data.transforms: shapes, kinds (array in -> array out, Tensor in -> Tensor out), exactness of
flips/crops/pads, identities, Resize against PyTorch's bilinear interpolation, Normalize against the formula,
RandomAffine geometry, and determinism under dg.manual_seed (also through a DataLoader)."""
import numpy as np
import pytest

import deepgrad as dg
from deepgrad.data import DataLoader, transforms as T
from deepgrad.data.datasets import ImageArrayDataset

RNG = np.random.default_rng(0)
IMG = RNG.random((3, 6, 8)).astype(np.float32)
BATCH = RNG.random((16, 3, 6, 8)).astype(np.float32)

ALL = [T.Normalize([0.5, 0.4, 0.3], [0.2, 0.2, 0.5]), T.Pad(2), T.Resize((4, 5)), T.CenterCrop(4),
       T.RandomCrop((5, 5), padding=1), T.RandomHorizontalFlip(), T.RandomVerticalFlip(),
       T.RandomAffine(10, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=5)]
OUT_HW = {T.Pad: (10, 12), T.Resize: (4, 5), T.CenterCrop: (4, 4), T.RandomCrop: (5, 5)}


@pytest.mark.parametrize("t", ALL, ids=lambda t: type(t).__name__)
def test_shapes_and_kinds(t):
    hw = OUT_HW.get(type(t), (6, 8))
    out = t(IMG)
    assert isinstance(out, np.ndarray) and out.shape == (3,) + hw and out.dtype == np.float32
    assert t(BATCH).shape == (16, 3) + hw
    tensor_out = t(dg.tensor(IMG))
    assert isinstance(tensor_out, dg.Tensor) and tensor_out.shape == (3,) + hw
    if not isinstance(t, T.Normalize):
        assert t(IMG[0]).shape == hw                 # (H, W) images too
    assert t.batched


@pytest.mark.parametrize("t", [t for t in ALL if t.random], ids=lambda t: type(t).__name__)
def test_random_transforms_deterministic_under_manual_seed(t):
    dg.manual_seed(11)
    a = t(BATCH)
    dg.manual_seed(11)
    b = t(BATCH)
    assert np.array_equal(a, b)
    dg.manual_seed(11)
    one = t(BATCH[:1])
    dg.manual_seed(11)
    single = t(BATCH[0])
    assert np.array_equal(one[0], single)            # one image == a batch of one
    assert not np.array_equal(t(BATCH), a)          # the stream moves on
    g = type(t).__new__(type(t))
    g.__dict__.update(t.__dict__)
    g.generator = dg.Generator(5)
    c = g(BATCH)
    g.generator = dg.Generator(5)
    assert np.array_equal(g(BATCH), c)


def test_flips_exact():
    assert np.array_equal(T.RandomHorizontalFlip(p=1.0)(IMG), IMG[:, :, ::-1])
    assert np.array_equal(T.RandomHorizontalFlip(p=0.0)(IMG), IMG)
    assert np.array_equal(T.RandomVerticalFlip(p=1.0)(IMG), IMG[:, ::-1, :])
    dg.manual_seed(0)
    out = T.RandomHorizontalFlip(p=0.5)(BATCH)
    flipped = [np.array_equal(o, b[:, :, ::-1]) for o, b in zip(out, BATCH)]
    kept = [np.array_equal(o, b) for o, b in zip(out, BATCH)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 0 < sum(flipped) < len(BATCH)          # independent per image
    with pytest.raises(ValueError, match="p must be"):
        T.RandomHorizontalFlip(1.5)


def test_crop_and_pad_exact():
    assert np.array_equal(T.RandomCrop((6, 8))(IMG), IMG)          # full-size crop is the identity
    padded = T.Pad(1)(BATCH)
    dg.manual_seed(2)
    out = T.RandomCrop((6, 8), padding=1)(BATCH)
    offsets = set()
    for o, p in zip(out, padded):                 # each output is a window of the padded image
        hits = [(i, j) for i in range(3) for j in range(3) if np.array_equal(o, p[:, i:i + 6, j:j + 8])]
        assert hits
        offsets.add(hits[0])
    assert len(offsets) > 1
    # torchvision order (left, top, right, bottom), fill and modes as np.pad
    assert np.array_equal(T.Pad((1, 2, 3, 4), fill=7)(IMG),
                          np.pad(IMG, ((0, 0), (2, 4), (1, 3)), constant_values=7))
    assert np.array_equal(T.Pad((1, 2))(IMG), np.pad(IMG, ((0, 0), (2, 2), (1, 1))))
    assert np.array_equal(T.Pad(2, padding_mode="reflect")(IMG), np.pad(IMG, ((0, 0), (2, 2), (2, 2)), "reflect"))
    assert np.array_equal(T.CenterCrop(4)(IMG), IMG[:, 1:5, 2:6])
    assert T.RandomCrop(10, pad_if_needed=True)(IMG).shape == (3, 10, 10)
    with pytest.raises(ValueError, match="larger than"):
        T.RandomCrop(10)(IMG)
    with pytest.raises(ValueError, match="padding"):
        T.Pad(-1)


def test_normalize_matches_formula():
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.5]
    want = (BATCH - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    assert np.allclose(T.Normalize(mean, std)(BATCH), want, atol=1e-6)
    assert np.allclose(T.Normalize(0.1307, 0.3081)(IMG[:1]), (IMG[:1] - 0.1307) / 0.3081, atol=1e-6)
    u8 = (IMG * 255).astype(np.uint8)
    assert T.Normalize(0, 1)(u8).dtype == np.float32
    with pytest.raises(ValueError, match="2 mean values for an image with 3 channels"):
        T.Normalize([0.1, 0.2], [1, 1])(IMG)
    with pytest.raises(ValueError, match="non-zero"):
        T.Normalize(0, 0)


def test_resize_matches_torch_bilinear():
    torch = pytest.importorskip("torch")
    x = RNG.random((2, 3, 7, 9)).astype(np.float32)
    for size in [(14, 18), (3, 4), (5, 13), (7, 9), (1, 1)]:
        want = torch.nn.functional.interpolate(torch.tensor(x), size=size, mode="bilinear",
                                               align_corners=False).numpy()
        assert np.allclose(T.Resize(size)(x), want, atol=1e-6), size
    assert T.Resize(14)(x).shape == (2, 3, 14, 18)        # int: the smaller edge, aspect kept
    assert T.Resize(4)(np.zeros((1, 10, 5), np.float32)).shape == (1, 8, 4)


def test_to_tensor():
    hwc = (RNG.random((5, 4, 3)) * 255).astype(np.uint8)
    t = T.ToTensor()(hwc)
    assert isinstance(t, dg.Tensor) and t.shape == (3, 5, 4) and t.dtype == dg.float32
    assert np.array_equal(t.numpy(), hwc.transpose(2, 0, 1).astype(np.float32) / 255)
    assert T.ToTensor()(hwc[:, :, 0]).shape == (1, 5, 4)
    assert np.array_equal(T.ToTensor()(IMG).numpy(), IMG)           # float (C, H, W): wrapped as it is
    x = dg.tensor(IMG)
    assert T.ToTensor()(x) is x
    pil = pytest.importorskip("PIL.Image")
    assert np.array_equal(T.ToTensor()(pil.fromarray(hwc)).numpy(), t.numpy())


def test_affine_identity_and_geometry():
    assert np.array_equal(T.RandomAffine(0)(BATCH), BATCH)
    assert np.array_equal(T.RandomAffine(0, translate=(0, 0), scale=(1, 1), shear=0)(IMG), IMG)
    sq = RNG.random((2, 5, 5)).astype(np.float32)
    rot = T.RandomAffine(degrees=(90, 90))(sq)               # counter-clockwise as displayed, like np.rot90
    assert np.allclose(rot, np.rot90(sq, 1, axes=(1, 2)), atol=1e-5)
    m = np.array([[[1.0, 0, 2], [0, 1, -1]]])                # a shift by 2 right and 1 up
    shifted = T.affine_grid_sample(IMG[None], m)[0]
    want = np.zeros_like(IMG)
    want[:, :5, 2:] = IMG[:, 1:, :6]
    assert np.array_equal(shifted, want)
    filled = T.affine_grid_sample(IMG[None], m, fill=0.5)[0]
    assert np.all(filled[:, 5, :] == 0.5) and np.all(filled[:, :, :2] == 0.5)
    zoom = T.affine_grid_sample(sq[None], np.array([[[2.0, 0, 0], [0, 2, 0]]]))[0]
    assert np.allclose(zoom[:, 2, 2], sq[:, 2, 2])          # the centre stays put
    dg.manual_seed(0)
    out = T.RandomAffine(15, translate=(0.1, 0.1), scale=(0.9, 1.1))(BATCH)
    assert out.min() >= 0 and out.max() <= 1                # bilinear mixing of [0, 1] values and a 0 fill
    for bad in [dict(degrees=-1), dict(degrees=0, translate=(2, 0)), dict(degrees=0, scale=(0, 1))]:
        with pytest.raises(ValueError):
            T.RandomAffine(**bad)


def test_affine_uint8_stays_uint8():
    u8 = (IMG * 255).astype(np.uint8)
    out = T.RandomAffine(10)(u8)
    assert out.dtype == np.uint8 and out.shape == u8.shape
    assert np.array_equal(T.RandomAffine(0)(u8), u8)


def test_compose():
    c = T.Compose([T.Pad(1), T.RandomCrop(6), T.Normalize(0.5, 0.5)])
    assert c.batched and c(IMG).shape == (3, 6, 6)
    assert not T.Compose([T.Pad(1), T.Lambda(lambda x: x)]).batched
    assert "RandomCrop" in repr(c)
    with pytest.raises(TypeError):
        T.Compose([3])


class Images(ImageArrayDataset):
    classes = tuple("0123456789")

    def __init__(self, n, transform=None, target_transform=None):
        data = (np.arange(n * 64) % 251).astype(np.uint8).reshape(n, 1, 8, 8)
        self.split = "train"
        self._setup(data, np.arange(n) % 10, 255.0, transform, target_transform, "memory")


def test_transforms_in_loader_are_seeded_and_match_batch_path():
    aug = T.Compose([T.RandomAffine(10, translate=(0.1, 0.1)), T.RandomHorizontalFlip()])

    def run(prefetch, transform=aug):
        dg.manual_seed(3)
        loader = DataLoader(Images(40, transform), batch_size=8, shuffle=True, prefetch=prefetch)
        return [x.numpy() for _ in range(2) for x, _ in loader]

    a, b = run(0), run(2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert a[0].dtype == np.float32 and a[0].shape == (8, 1, 8, 8)
    plain = run(0, None)
    assert not np.array_equal(a[0], plain[0])
    # a non-batched (per-image) transform takes the item path and gives the same images as ds[i]
    ds = Images(10, T.Lambda(lambda x: x * 2))
    xb, yb = ds.get_batch(np.array([3, 1]))
    assert np.array_equal(xb.numpy(), np.stack([ds[3][0], ds[1][0]])) and yb.tolist() == [3, 1]
