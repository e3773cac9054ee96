"""Segmentation: the metrics against scikit-learn, the digits-on-a-canvas dataset against an independent
rendering of its rule, and a short ``deepgrad train --task segment`` run."""
import json
import os

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.data import MNIST
from deepgrad.data.segmentation import MNISTCanvas
from deepgrad.train import metrics, recipes, run, segment

sk = pytest.importorskip("sklearn.metrics")


# ---------------------------------------------------------------- metrics
def _pixels(seed=0, classes=5, shape=(3, 7, 9)):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, shape)
    predictions = np.where(rng.random(shape) < 0.6, labels, rng.integers(0, classes, shape))
    return labels, predictions


def test_confusion_matrix_and_pixel_accuracy_equal_sklearns_with_ignored_pixels():
    labels, predictions = _pixels()
    labels[0, :2] = 255
    confusion = metrics.confusion_matrix(predictions, labels, 5, ignore_index=255)
    keep = labels.ravel() != 255
    expected = sk.confusion_matrix(labels.ravel()[keep], predictions.ravel()[keep], labels=range(5))
    np.testing.assert_array_equal(confusion, expected)
    assert confusion.sum() == keep.sum() < labels.size
    assert metrics.pixel_accuracy(confusion) == pytest.approx(
        sk.accuracy_score(labels.ravel()[keep], predictions.ravel()[keep]))


def _jaccard(labels, predictions, classes):
    """scikit-learn's per-class Jaccard index, NaN for a class neither true nor predicted."""
    labels, predictions = np.ravel(labels), np.ravel(predictions)
    scores = sk.jaccard_score(labels, predictions, labels=range(classes), average=None, zero_division=0)
    present = [np.any((labels == c) | (predictions == c)) for c in range(classes)]
    return np.where(present, scores, np.nan)


def test_iou_and_miou_equal_sklearns_jaccard_over_the_classes_present():
    labels, predictions = _pixels(1, classes=6)
    labels[labels == 4] = 0                 # class 4 is predicted but never true: IoU 0, counted
    predictions[predictions == 5] = 1
    labels[labels == 5] = 2                 # class 5 is neither true nor predicted: left out
    confusion = metrics.confusion_matrix(predictions, labels, 6)
    iou = metrics.intersection_over_union(confusion)
    expected = _jaccard(labels, predictions, 6)
    np.testing.assert_allclose(iou, expected)
    assert iou[4] == 0 and np.isnan(iou[5])
    assert metrics.mean_iou(confusion) == pytest.approx(np.mean(expected[:5]))


def test_metrics_refuse_labels_outside_the_classes():
    with pytest.raises(ValueError, match="labels must lie in 0..2"):
        metrics.confusion_matrix(np.zeros(4, int), np.array([0, 1, 3, 0]), 3)
    with pytest.raises(ValueError, match="3 predictions for 4 labels"):
        metrics.confusion_matrix(np.zeros(3, int), np.zeros(4, int), 3)


@pytest.mark.parametrize("kwargs", [{}, {"label_smoothing": 0.1}, {"reduction": "sum"}])
def test_per_pixel_cross_entropy_ignores_an_index_outside_the_classes_as_torch(kwargs):
    """Segmentation's usual void label 255 (above the classes): the loss and its gradient equal torch's,
    with class weights; test_losses covers the other options on (N, C, d1, d2) logits."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    logits, target = rng.standard_normal((2, 4, 5, 6)), rng.integers(0, 4, (2, 5, 6))
    target[0, :2] = 255
    weight = rng.uniform(0.5, 2.0, 4)
    x = dg.tensor(logits, requires_grad=True)
    loss = dg.nn.functional.cross_entropy(x, dg.tensor(target), weight=dg.tensor(weight), ignore_index=255, **kwargs)
    loss.backward()
    t = torch.tensor(logits, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(t, torch.tensor(target), weight=torch.tensor(weight),
                                                 ignore_index=255, **kwargs)
    expected.backward()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), atol=1e-14)
    assert not x.grad.numpy()[0, :, :2].any()


# ---------------------------------------------------------------- the dataset
@pytest.fixture(scope="module")
def test_digits():
    return MNIST(train=False)


def _render(mnist, layout, size, threshold):
    """The rule, written independently: every non-zero pixel of a digit moved so that the top-left of its
    ink lands on the digit's corner; the mask is class + 1 where the pixel is above the threshold."""
    image, mask = np.zeros((size, size)), np.zeros((size, size), np.int64)
    for index, y, x in layout:
        if index < 0:
            continue
        digit = mnist.data[index, 0]
        rows, cols = np.nonzero(digit)
        image[y + rows - rows.min(), x + cols - cols.min()] = digit[rows, cols] / 255
        above = digit[rows, cols] > 255 * threshold
        mask[y + rows[above] - rows.min(), x + cols[above] - cols.min()] = mnist.targets[index] + 1
    return image, mask


def test_canvases_follow_the_rule(test_digits):
    data = MNISTCanvas(train=False, length=40, threshold=0.4, gap=2, seed=3)
    images, masks = data.get_batch(np.arange(40))
    assert images.shape == (40, 1, 64, 64) and images.dtype == np.float32 and masks.dtype == np.int64
    counts = (data.layout[:, :, 0] >= 0).sum(1)
    assert counts.min() >= 1 and counts.max() == 3 and len(set(counts)) == 3
    for i in range(40):
        image, mask = _render(test_digits, data.layout[i], 64, 0.4)
        np.testing.assert_allclose(images[i, 0], image, atol=1e-7)
        np.testing.assert_array_equal(masks[i], mask)
        boxes = []
        for index, y, x in data.layout[i][data.layout[i][:, 0] >= 0]:
            rows, cols = np.nonzero(test_digits.data[index, 0])
            boxes.append((y, x, y + np.ptp(rows) + 1, x + np.ptp(cols) + 1))
        for a in range(len(boxes)):
            for b in range(a):                  # boxes grown by the gap do not meet
                (t1, l1, b1, r1), (t2, l2, b2, r2) = boxes[a], boxes[b]
                assert b1 + 2 <= t2 or b2 + 2 <= t1 or r1 + 2 <= l2 or r2 + 2 <= l1
    image, mask = data[5]
    np.testing.assert_array_equal(image, images[5])
    np.testing.assert_array_equal(mask, masks[5])


def test_canvases_are_deterministic_and_drawn_in_order():
    a, b = MNISTCanvas(train=False, length=30), MNISTCanvas(train=False, length=10)
    np.testing.assert_array_equal(a.layout[:10], b.layout)      # canvas i does not depend on the length
    np.testing.assert_array_equal(a.get_batch(np.arange(10))[1], b.get_batch(np.arange(10))[1])
    assert not np.array_equal(MNISTCanvas(train=False, length=10, seed=1).layout, b.layout)
    train = MNISTCanvas(train=True, length=200)
    assert train.layout[:, :, 0].max() >= 10000 and train.split == "train"


def test_transform_changes_the_image_only():
    data = MNISTCanvas(train=False, length=4, transform=lambda x: x * 2 + 1)
    plain = MNISTCanvas(train=False, length=4)
    x, y = data.get_batch([0, 3])
    px, py = plain.get_batch([0, 3])
    np.testing.assert_allclose(x, px * 2 + 1)
    np.testing.assert_array_equal(y, py)


@pytest.mark.parametrize("kwargs, message", [
    ({"size": 20}, "size must be an integer >= 28"), ({"digits": (0, 2)}, "digits must be"),
    ({"digits": (3, 2)}, "digits must be"), ({"threshold": 1.0}, r"threshold must be a number in \[0, 1\)"),
    ({"length": -1}, "length must be an integer >= 0"), ({"gap": -1}, "gap must be an integer >= 0")])
def test_canvas_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MNISTCanvas(train=False, **kwargs)


# ---------------------------------------------------------------- the run
def test_pixel_batches_move_image_and_mask_together():
    data = MNISTCanvas(train=False, length=6)
    loader = dg.data.DataLoader(data, batch_size=6)
    dg.manual_seed(0)
    (x, y), = list(segment.PixelBatches(loader, shift=4, fill=-1.0))
    (x0, y0), = list(loader)
    y = y.numpy().reshape(6, 64, 64)
    assert x.shape == (6, 1, 64, 64) and not np.array_equal(y, y0.numpy())
    np.testing.assert_array_equal(y > 0, x.numpy()[:, 0] > 0.5)            # labels sit on their pixels
    came_in = x.numpy() < 0                                                 # canvases hold values in [0, 1]
    assert came_in.any() and (x.numpy()[came_in] == -1.0).all()


def test_the_task_and_the_model_must_agree():
    with pytest.raises(ValueError, match="task 'segment' needs a segmentation model, not lenet5"):
        run.check_options({"task": "segment"})
    with pytest.raises(ValueError, match="task 'classify' needs a classification model, not fcn8s"):
        run.check_options({"model": "fcn8s"})
    with pytest.raises(ValueError, match="unknown task 'detect'"):
        run.check_options({"task": "detect"})


def _predict(checkpoint, length):
    """(masks, predicted classes) of the first ``length`` test canvases by a run's checkpoint, on the CPU."""
    model, config = run.load_run(str(checkpoint))
    x, y = MNISTCanvas(train=False, length=length).get_batch(np.arange(length))
    x = recipes.preprocessing((1, 64, 64), tuple(config["input"]), config["mean"], config["std"])(x)
    with dg.no_grad():
        return y, model(dg.tensor(x)).numpy().argmax(1)


@pytest.mark.slow
def test_a_short_segmentation_run_reports_miou_and_draws_overlays(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(segment.DATASETS, "mnist-canvas",
                        lambda root, train, download=False: MNISTCanvas(root, train=train, length=160 if train else 48))
    out = tmp_path / "run"
    report = run.train(str(out), task="segment", data="mnist-canvas", model="fcn8s", epochs=2, batch_size=16,
                       lr=5e-3, progress=False, echo=lambda *a: None)
    files = set(os.listdir(out))
    assert {"overlays.png", "curves.png", "confusion.png", "report.json", "config.json"} <= files
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert all(0 <= r["train_accuracy"] <= 1 and 0 <= r["val_accuracy"] <= 1 for r in log)   # pixels, not images
    y, predictions = _predict(out / "checkpoints" / "epoch-002.safetensors", 48)
    confusion = sk.confusion_matrix(y.ravel(), predictions.ravel(), labels=range(11))
    assert report["confusion"] == confusion.tolist()
    assert report["test_pixel_accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
    assert report["test_miou"] == pytest.approx(np.nanmean(_jaccard(y, predictions, 11)))
    assert report["test_pixel_accuracy"] > 0.9          # at least the background is learnt
    from deepgrad.cli import main                        # deepgrad evaluate: the best checkpoint's test metrics
    assert main(["evaluate", str(out)]) == 0
    best = report["best"]
    assert (f"mnist-canvas: test mIoU {best['test_miou']:.4f}, pixel accuracy {best['test_pixel_accuracy']:.4f}, "
            f"loss {best['test_loss']:.4f} on 48 canvases") in capsys.readouterr().out
    assert main(["predict", str(out), "digit.png"]) == 2
    assert "is a segmentation run: predict names one class per image" in capsys.readouterr().err


def test_the_cli_takes_the_task_and_summarises_the_segmentation_models(capsys, tmp_path):
    from deepgrad import models
    from deepgrad.cli import main
    assert main(["train", "--task", "segment", "--model", "lenet5", "--out", str(tmp_path / "r")]) == 2
    assert "task 'segment' needs a segmentation model, not lenet5" in capsys.readouterr().err
    for name, count in (("fcn8s", sum(p.numel() for p in models.fcn8s(10).parameters())),
                        ("fcn_resnet50", 32_951_370)):       # 32,957,013 with 21 classes: 2,053 more
        assert main(["summary", name]) == 0
        out = capsys.readouterr().out
        assert f"Total params: {count:,}" in out and "(1, 10, 64, 64)" in out


@pytest.mark.slow
def test_a_segmentation_run_on_the_strict_device_evaluates_as_the_cpu(tmp_path, monkeypatch, strict_cuda):
    monkeypatch.setitem(segment.DATASETS, "mnist-canvas",
                        lambda root, train, download=False: MNISTCanvas(root, train=train, length=32 if train else 16))
    report = run.train(str(tmp_path), task="segment", data="mnist-canvas", model="fcn8s", epochs=1, batch_size=16,
                       progress=False, echo=lambda *a: None, device="cuda")
    assert os.path.isfile(tmp_path / "overlays.png")
    y, predictions = _predict(tmp_path / "checkpoints" / "epoch-001.safetensors", 16)
    assert report["confusion"] == sk.confusion_matrix(y.ravel(), predictions.ravel(), labels=range(11)).tolist()
