"""Classification metrics on arrays of logits and labels."""
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


def confusion_matrix(predictions, labels, num_classes):
    """counts[true, predicted]."""
    flat = np.asarray(labels).astype(np.int64) * num_classes + np.asarray(predictions).astype(np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
