"""Figures of a run, as PNG files (matplotlib's Agg backend; ``pip install deepgrad[plots]``):
loss and accuracy curves, the confusion matrix, first-layer filters, feature maps of one input
through every convolution (the chapter's figure of feature maps), and misclassified images."""
import os

from .. import backend
from ..autograd.function import no_grad
from ..autograd.tensor import Tensor
from ..nn.layers.conv import Conv2d

np = backend.numpy


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'deepgrad[plots]' (or pip install matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def curves(history, path):
    """Training (and validation) loss and accuracy per epoch."""
    plt = _pyplot()
    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        if any(key in r for r in history):
            ax_loss.plot(epochs, [r.get(key) for r in history], marker="o", label=label)
    for key, label in (("train_accuracy", "train"), ("val_accuracy", "validation")):
        if any(key in r for r in history):
            ax_acc.plot(epochs, [r.get(key) for r in history], marker="o", label=label)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def confusion(matrix, path, class_names=None):
    """The confusion matrix (rows: true class, columns: predicted), with counts."""
    plt = _pyplot()
    n = len(matrix)
    fig, ax = plt.subplots(figsize=(0.5 * n + 2.5, 0.5 * n + 2))
    ax.imshow(matrix, cmap="Blues")
    names = class_names or [str(i) for i in range(n)]
    ax.set(xticks=range(n), yticks=range(n), xticklabels=names, yticklabels=names, xlabel="predicted", ylabel="true",
           title="confusion matrix")
    top = matrix.max() or 1
    for i in range(n):
        for j in range(n):
            ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if matrix[i, j] > top / 2 else "black")
    return _save(fig, path)


def _grid(images, titles, path, title, cmap="gray"):
    plt = _pyplot()
    n = len(images)
    cols = min(n, 8)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.4 * rows + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img, t in zip(axes.ravel(), images, titles):
        ax.imshow(img, cmap=cmap)
        ax.set_title(t, fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def _as_image(chw):
    """(C, H, W) -> an image matplotlib shows: (H, W) for one channel, (H, W, 3) rescaled for three."""
    if chw.shape[0] == 1:
        return chw[0]
    img = np.moveaxis(chw[:3], 0, -1)
    return (img - img.min()) / (np.ptp(img) or 1)


def filters(model, path):
    """The kernels of the first convolution (one panel per output map, input channels averaged)."""
    conv = next((m for m in model.modules() if isinstance(m, Conv2d)), None)
    if conv is None:
        return None
    w = conv.weight.numpy()
    images = [k.mean(0) if k.shape[0] != 3 else _as_image(k) for k in w]
    return _grid(images, [f"map {i}" for i in range(len(images))], path, "first-layer filters", cmap="bwr")


def feature_maps(model, image, path, per_layer=8):
    """One input image (C, H, W) and the first ``per_layer`` maps each convolution produces from it."""
    image = np.asarray(image)
    outputs = []
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: outputs.append((name, out.numpy()[0])))
             for name, m in model.named_modules() if isinstance(m, Conv2d)]
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            model(Tensor.wrap(image[None]))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    if not outputs:
        return None
    plt = _pyplot()
    rows = len(outputs) + 1
    fig, axes = plt.subplots(rows, per_layer, figsize=(1.2 * per_layer, 1.3 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    axes[0, 0].imshow(_as_image(image), cmap="gray")
    axes[0, 0].set_title("input", fontsize=7)
    for r, (name, maps) in enumerate(outputs, 1):
        for c in range(min(per_layer, len(maps))):
            axes[r, c].imshow(maps[c], cmap="viridis")
            axes[r, c].set_title(f"{name} #{c}", fontsize=6)
    fig.suptitle("feature maps", fontsize=9)
    return _save(fig, path)


def misclassified(images, labels, predictions, path, limit=32, class_names=None):
    """A grid of test images the model got wrong, titled 'true → predicted'."""
    wrong = np.nonzero(np.asarray(labels) != np.asarray(predictions))[0][:limit]
    if len(wrong) == 0:
        return None
    names = class_names or [str(i) for i in range(int(max(labels.max(), predictions.max())) + 1)]
    return _grid([_as_image(images[i]) for i in wrong],
                 [f"{names[labels[i]]} → {names[predictions[i]]}" for i in wrong], path, "misclassified")


def all_figures(out_dir, history, model, evaluation, images, class_names=None):
    """Write every figure of a finished run into ``out_dir``; returns the paths written."""
    paths = [curves(history, os.path.join(out_dir, "curves.png")),
             confusion(evaluation["confusion"], os.path.join(out_dir, "confusion.png"), class_names),
             filters(model, os.path.join(out_dir, "filters.png")),
             feature_maps(model, images[0], os.path.join(out_dir, "feature_maps.png")),
             misclassified(images, evaluation["labels"], evaluation["predictions"],
                           os.path.join(out_dir, "misclassified.png"), class_names=class_names)]
    return [p for p in paths if p]
