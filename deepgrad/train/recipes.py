"""Names to objects for the command line and the benchmark scripts: a dataset name gives its train
and test sets, a model name gives a zoo model fitted to the data (channels, size, classes), and an
optimiser or schedule name gives the object. What was chosen is recorded in every checkpoint, so
``evaluate`` and ``predict`` rebuild the same model and preprocessing."""
import os
import warnings
from collections import Counter

from .. import backend, models, optim
from ..data import CIFAR10, MNIST, DataLoader, FashionMNIST, ImageFolder, Subset, digits, random_split
from ..data import transforms as T

np = backend.numpy

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")
OPTIMIZERS = {"sgd": lambda p, lr: optim.SGD(p, lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4),
              "adam": lambda p, lr: optim.Adam(p, lr=lr), "adamw": lambda p, lr: optim.AdamW(p, lr=lr),
              "rmsprop": lambda p, lr: optim.RMSprop(p, lr=lr), "adagrad": lambda p, lr: optim.Adagrad(p, lr=lr)}
SCHEDULES = ("none", "step", "cosine", "onecycle")

# the input each model is built for: (channels or None for any, height, width) — None size: any
MODEL_INPUT = {"lenet5": (None, 28, 28), "lenet5-classic": (1, 32, 32), "mlp": (None, None, None),
               "highway_mlp": (None, None, None), "alexnet": (3, 64, 64), "googlenet": (3, 64, 64),
               **{f"resnet{d}": (3, 32, 32) for d in (18, 34, 50, 101, 152, 20, 32, 44, 56, 110)},
               **{f"vgg{d}{bn}": (3, 32, 32) for d in (11, 13, 16, 19) for bn in ("", "_bn")},
               "inception_v3": (3, 75, 75), "bn_inception": (3, 64, 64), "fcn8s": (None, 64, 64),
               "fcn_resnet50": (3, 64, 64)}
# the models that classify pixels (deepgrad train --task segment): logits (N, classes, H, W)
SEGMENTATION_MODELS = ("fcn8s", "fcn_resnet50")


def load_datasets(name, root=None, download=False, warn=warnings.warn):
    """(train, test, class names) for a dataset name or a folder of images (one subfolder per class).
    A folder's images are all read now: those that cannot be read, or differ in size from the most
    common size, are left out, with one ``warn`` message counting them."""
    if name == "digits":
        return digits(train=True), digits(train=False), [str(i) for i in range(10)]
    kinds = {"mnist": MNIST, "fashion-mnist": FashionMNIST, "cifar10": CIFAR10}
    if name in kinds:
        cls = kinds[name]
        train, test = cls(root, train=True, download=download), cls(root, train=False, download=download)
        return train, test, list(cls.classes)
    if os.path.isdir(name):
        folder = ImageFolder(name)
        full = _readable(folder, warn)
        if len(full) < 2:
            raise ValueError(f"{name}: {len(full)} usable image(s); a run needs at least 2 (train and test)")
        n_test = max(1, len(full) // 5)
        from ..backend import Generator
        train, test = random_split(full, [len(full) - n_test, n_test], generator=Generator(0))
        return train, test, list(folder.classes)
    raise ValueError(f"unknown dataset {name!r}: use one of {', '.join(DATASETS)} or a folder of images "
                     "(one subfolder per class)")


def _readable(folder, warn):
    """The Subset of an ImageFolder's images that load and have the most common (C, H, W)."""
    shapes, problems = [], []
    for path, _ in folder.samples:
        try:
            shapes.append(folder.load(path).shape)
        except ValueError as e:
            shapes.append(None)
            problems.append(str(e))
    sizes = Counter(s for s in shapes if s is not None)
    if not sizes:
        raise ValueError(f"{folder.root}: none of its {len(shapes)} images can be read (first: {problems[0]})")
    common = sizes.most_common(1)[0][0]
    keep = [i for i, s in enumerate(shapes) if s == common]
    odd = [folder.samples[i][0] for i, s in enumerate(shapes) if s is not None and s != common]
    if len(keep) < len(shapes):
        c, h, w = common
        warn(f"skipped {len(shapes) - len(keep)} of {len(shapes)} images under {folder.root}: "
             f"{len(problems)} unreadable, {len(odd)} not {w}x{h} like the others (first: "
             f"{(problems + [f'{p}: another size' for p in odd])[0]})")
    return Subset(folder, keep)


def sample_shape(dataset):
    image, _ = dataset[0]
    return tuple(np.asarray(image).shape)


def build_model(name, num_classes, in_shape):
    """The zoo model ``name`` for inputs of ``in_shape`` (C, H, W) and ``num_classes`` classes, and the
    (C, H, W) it expects (inputs are resized and channel-converted to it)."""
    if name not in MODEL_INPUT:
        raise ValueError(f"unknown model {name!r}: use one of {', '.join(MODEL_INPUT)}")
    c, h, w = MODEL_INPUT[name]
    target = (c or in_shape[0], h or in_shape[1], w or in_shape[2])
    if name == "lenet5":
        model = models.lenet5("modern", num_classes, in_channels=target[0])
    elif name == "lenet5-classic":
        model = models.lenet5("classic", num_classes)
    elif name == "mlp":
        model = models.mlp((int(np.prod(target)), 800, num_classes))
    elif name == "highway_mlp":
        model = models.highway_mlp(int(np.prod(target)), num_classes=num_classes)
    elif name == "inception_v3":          # the auxiliary head needs 299x299 inputs and a second loss
        model = models.inception_v3(num_classes=num_classes, aux_logits=False)
    elif name == "fcn8s":
        model = models.fcn8s(num_classes, in_channels=target[0])
    elif name == "fcn_resnet50":          # torchvision's dict output; runs, summary and export take the logits
        fcn = models.fcn_resnet50(num_classes=num_classes)
        model = models.fcn.FCNLogits(fcn.backbone, fcn.classifier)
    else:
        model = models.get_model(name, num_classes=num_classes)
    return model, target


def channel_statistics(dataset, limit=5000):
    """Per-channel mean and standard deviation of (up to ``limit``) training images, for Normalize."""
    idx = np.arange(min(len(dataset), limit))
    if hasattr(dataset, "get_batch"):
        images = np.asarray(dataset.get_batch(idx)[0])
    else:
        images = np.stack([np.asarray(dataset[int(i)][0]) for i in idx])
    return images.mean(axis=(0, 2, 3)).tolist(), (images.std(axis=(0, 2, 3)) + 1e-8).tolist()


def preprocessing(in_shape, target, mean, std, augment=False):
    """Transforms from the dataset's images (C, H, W) in [0, 1] to the model's input: channel
    conversion, resize, optional augmentation (small affine distortions, as LeCun et al. 1998, or
    crops and flips for colour images), and normalisation."""
    steps = []
    if in_shape[0] == 1 and target[0] == 3:
        steps.append(T.Lambda(lambda x: np.repeat(np.asarray(x), 3, axis=-3)))
        mean, std = mean * 3, std * 3
    elif in_shape[0] == 3 and target[0] == 1:
        steps.append(T.Lambda(lambda x: np.asarray(x).mean(axis=-3, keepdims=True)))
        mean, std = [sum(mean) / 3], [sum(std) / 3]
    if tuple(in_shape[1:]) != tuple(target[1:]):
        steps.append(T.Resize(target[1:]))
    if augment:
        if target[0] == 3:
            steps += [T.RandomCrop(target[1:], padding=4), T.RandomHorizontalFlip()]
        else:
            steps.append(T.RandomAffine(degrees=8, translate=(0.08, 0.08), scale=(0.92, 1.08)))
    steps.append(T.Normalize(mean, std))
    return T.Compose(steps)


def make_optimizer(name, params, lr):
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, lr)


def make_schedule(name, optimizer, epochs, steps_per_epoch, lr):
    """(scheduler or None, whether it steps per batch)."""
    if name == "none":
        return None, False
    if name == "step":
        return optim.lr_scheduler.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1), False
    if name == "cosine":
        return optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs), False
    if name == "onecycle":
        return optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, epochs=epochs, steps_per_epoch=steps_per_epoch), True
    raise ValueError(f"unknown schedule {name!r}: use one of {', '.join(SCHEDULES)}")


def loaders(train, val, test, batch_size, generator):
    return (DataLoader(train, batch_size=batch_size, shuffle=True, generator=generator),
            DataLoader(val, batch_size=512) if val is not None else None,
            DataLoader(test, batch_size=512))
