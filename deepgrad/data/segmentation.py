"""MNIST digits on a canvas: a semantic-segmentation task built from MNIST's IDX files (seed 4.6, fully
convolutional networks).

The rule, exactly (``MNISTCanvas``):

1. Each MNIST image of the split (train canvases from MNIST's training split, test canvases from its
   test split) is cropped to the bounding box of its non-zero pixels: all of its ink, nothing else.
2. Canvas ``i`` of ``length`` draws, from ``numpy.random.default_rng(seed)`` in canvas order: the number of
   digits k, uniform in ``digits`` = (fewest, most) (default 1..3); then for each digit in turn an
   MNIST image index, uniform over the split, and a top-left corner, uniform over the positions where the
   crop lies inside the ``size`` x ``size`` canvas. A corner whose box (grown by ``gap`` pixels) meets a box
   already placed is drawn again, up to ``tries`` times; a digit still without a place is left out (the
   first always fits). Boxes never overlap, so no pixel belongs to two digits.
3. The canvas (1, size, size) holds the crops' pixels (uint8, shown as float32 in [0, 1]) on black.
   The mask (size, size), int64: a pixel of a digit whose intensity is above ``threshold`` (in [0, 1])
   is labelled with the digit's class + 1 (1..10), every other pixel 0 (background). 11 classes.

The layout (which image where) is all that is stored; canvases are drawn on demand, so any ``length``
costs a few bytes a canvas. The same arguments and IDX files give the same canvases, bit for bit.
"""
from .. import backend
from .dataset import Dataset, _as_index_array, _index
from .datasets import MNIST

np = backend.numpy


class MNISTCanvas(Dataset):
    """MNIST digits placed on a canvas, with per-pixel labels (see the module doc for the rule).

    Samples are ``(image, mask)``: float32 (1, size, size) in [0, 1] (then ``transform``) and int64
    (size, size) with 0 for background and class + 1 for a digit's pixels. ``root``/``download`` find
    MNIST's files as ``MNIST`` does. ``length``: canvases (default 20000 train, 2000 test)."""

    classes = ("background",) + MNIST.classes

    def __init__(self, root=None, train=True, length=None, size=64, digits=(1, 3), threshold=0.5, gap=1,
                 tries=100, seed=0, transform=None, download=False):
        name = type(self).__name__
        for arg, value, least in (("size", size, 28), ("gap", gap, 0), ("tries", tries, 1), ("seed", seed, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{name}: {arg} must be an integer >= {least}, got {value!r}")
        length = (20000 if train else 2000) if length is None else length
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise ValueError(f"{name}: length must be an integer >= 0, got {length!r}")
        if (not isinstance(digits, (tuple, list)) or len(digits) != 2 or not all(isinstance(d, int) for d in digits)
                or not 1 <= digits[0] <= digits[1]):
            raise ValueError(f"{name}: digits must be (fewest, most) with 1 <= fewest <= most, got {digits!r}")
        if not (isinstance(threshold, (int, float)) and 0 <= threshold < 1):
            raise ValueError(f"{name}: threshold must be a number in [0, 1), got {threshold!r}")
        mnist = MNIST(root, train=train, download=download)
        self.split, self.source = mnist.split, mnist.source
        self.size, self.digits, self.threshold, self.gap, self.seed = size, tuple(digits), threshold, gap, seed
        self.transform = transform
        self.images, self.labels = mnist.data[:, 0], mnist.targets
        self.boxes = _ink_boxes(self.images)
        self.layout = self._layout(length, tries)

    def _layout(self, length, tries):
        """int64 (length, most, 3): (MNIST index, top, left) of each digit, index -1 where none."""
        rng = np.random.default_rng(self.seed)
        layout = np.full((length, self.digits[1], 3), -1, np.int64)
        for canvas in layout:
            placed = []
            for slot in range(rng.integers(self.digits[0], self.digits[1] + 1)):
                index = rng.integers(len(self.images))
                top, left, bottom, right = self.boxes[index]
                h, w = bottom - top, right - left
                for _ in range(tries):
                    y, x = rng.integers(self.size - h + 1), rng.integers(self.size - w + 1)
                    if all(y + h + self.gap <= py or py + ph + self.gap <= y or x + w + self.gap <= px
                           or px + pw + self.gap <= x for py, px, ph, pw in placed):
                        placed.append((y, x, h, w))
                        canvas[slot] = index, y, x
                        break
        return layout

    def __len__(self):
        return len(self.layout)

    def canvases(self, indices):
        """The canvases at ``indices`` (an index array), untransformed: (float32 images (N, 1, size, size)
        in [0, 1], int64 masks (N, size, size))."""
        images = np.zeros((len(indices), 1, self.size, self.size), np.float32)
        masks = np.zeros((len(indices), self.size, self.size), np.int64)
        for image, mask, digits in zip(images[:, 0], masks, self.layout[indices]):
            for index, y, x in digits[digits[:, 0] >= 0]:
                top, left, bottom, right = self.boxes[index]
                crop = self.images[index, top:bottom, left:right]
                image[y:y + bottom - top, x:x + right - left] = crop / np.float32(255)
                mask[y:y + bottom - top, x:x + right - left] = np.where(crop > self.threshold * 255,
                                                                        self.labels[index] + 1, 0)
        return images, masks

    def __getitem__(self, index):
        i = _index(index, len(self), type(self).__name__)
        images, masks = self.canvases(np.array([i]))
        return (images[0] if self.transform is None else self.transform(images[0])), masks[0]

    def get_batch(self, indices):
        """The canvases at ``indices`` as (float32 images (N, 1, size, size), int64 masks (N, size, size));
        ``transform`` (one that handles batches, as all of ``deepgrad.data.transforms``) is applied once to
        the whole batch. Transforms change the image only, never the mask."""
        images, masks = self.canvases(_as_index_array(indices, len(self), type(self).__name__))
        return (images if self.transform is None else self.transform(images)), masks

    def __repr__(self):
        return (f"{type(self).__name__}({self.split}: {len(self)} canvases {self.size}x{self.size}, "
                f"{self.digits[0]}-{self.digits[1]} digits, from {self.source})")


def _ink_boxes(images):
    """int64 (N, 4): (top, left, bottom, right) of each image's non-zero pixels (the whole frame if none)."""
    rows, cols = images.any(axis=2), images.any(axis=1)
    n, h, w = images.shape

    def span(any_, size):
        first = np.where(any_.any(1), any_.argmax(1), 0)
        last = np.where(any_.any(1), size - any_[:, ::-1].argmax(1), size)
        return first, last
    (top, bottom), (left, right) = span(rows, h), span(cols, w)
    return np.stack([top, left, bottom, right], axis=1).astype(np.int64)
