"""Classification metrics on arrays of logits and labels, and the segmentation metrics (pixel accuracy,
intersection over union) read from a confusion matrix of pixels."""
from .. import backend

np = backend.numpy


def accuracy(logits, labels):
    """Fraction of rows whose arg-max is the label."""
    return float((np.asarray(logits).argmax(-1) == np.asarray(labels)).mean())


def top_k_accuracy(logits, labels, k=5):
    """Fraction of rows whose label is among the ``k`` largest logits."""
    logits, labels = np.asarray(logits), np.asarray(labels)
    k = min(k, logits.shape[-1])
    top = np.argpartition(-logits, k - 1, axis=-1)[:, :k]
    return float((top == labels[:, None]).any(-1).mean())


def confusion_matrix(predictions, labels, num_classes, ignore_index=None):
    """counts[true, predicted] over all elements (any shape: samples or pixels); elements whose label is
    ``ignore_index`` are left out."""
    labels, predictions = np.asarray(labels).ravel(), np.asarray(predictions).ravel()
    if labels.shape != predictions.shape:
        raise ValueError(f"confusion_matrix: {predictions.size} predictions for {labels.size} labels")
    if ignore_index is not None:
        keep = labels != ignore_index
        labels, predictions = labels[keep], predictions[keep]
    for name, a in (("labels", labels), ("predictions", predictions)):
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(f"confusion_matrix: {name} must lie in 0..{num_classes - 1}, got {a.min()}..{a.max()}")
    flat = labels.astype(np.int64) * num_classes + predictions.astype(np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def pixel_accuracy(confusion):
    """Fraction of the counted pixels whose predicted class is the true one: trace / total."""
    confusion = np.asarray(confusion)
    return float(np.trace(confusion) / max(confusion.sum(), 1))


def intersection_over_union(confusion):
    """Per-class IoU = TP / (TP + FP + FN) from counts[true, predicted]; NaN for a class that is neither
    in the truth nor predicted."""
    confusion = np.asarray(confusion, dtype=np.float64)
    tp = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def mean_iou(confusion):
    """mIoU: the mean of the per-class IoU over the classes present (in the truth or the predictions),
    background included when it is a class."""
    iou = intersection_over_union(confusion)
    return float(np.nanmean(iou)) if not np.isnan(iou).all() else float("nan")
