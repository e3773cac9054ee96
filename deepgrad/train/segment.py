"""Semantic-segmentation runs: ``deepgrad train --task segment --data mnist-canvas --model fcn8s``, also
``run.train(task="segment", ...)`` from Python. The run folder is a classification run's (config.json,
log.jsonl, checkpoints/, report.json) with the segmentation metrics in the report (pixel accuracy, IoU per
class, mIoU over the classes present, background included, and the confusion matrix of pixels) and its
figures: curves.png, confusion.png and overlays.png (input, truth and prediction side by side).

Per-pixel classification in the training loop: ``PixelBatches`` hands the loop each batch's masks flattened
to (N·H·W,), so the loop's counts (``len(labels)`` samples, ``argmax(-1) == labels`` correct) count pixels,
and ``SegmentationTrainer`` gives it logits with one row per pixel. ``augment`` translates each canvas and
its mask together by up to ``SHIFT`` pixels, drawn from deepgrad's global generator (checkpointed, so a
resumed run draws the same)."""
import json
import os
import time

from .. import backend
from ..autograd.function import no_grad
from ..autograd.tensor import Tensor
from ..data import Subset
from ..data.segmentation import MNISTCanvas
from ..nn import functional as F
from ..serialization import atomic_write
from . import recipes
from .checkpoint import load_checkpoint
from .loop import Interrupted, Trainer, pick_device
from .metrics import confusion_matrix, intersection_over_union, mean_iou, pixel_accuracy
from .run import RunInterrupted, new_folder, with_transform

np = backend.numpy

DATASETS = {"mnist-canvas": MNISTCanvas}     # name -> (root, train, download) -> dataset
SHIFT = 4


def pixel_cross_entropy(logits, target):
    """Mean cross-entropy over the pixels of logits (N, C, H, W), the target given as (N, H, W) or flattened
    (N·H·W,) as ``PixelBatches`` gives it."""
    n, _, h, w = logits.shape
    return F.cross_entropy(logits, target.reshape(n, h, w))


class PixelBatches:
    """A segmentation ``DataLoader`` seen by the training loop: batches (images, masks flattened to (N·H·W,)),
    each image and its mask first translated together by up to ``shift`` pixels (what comes in is ``fill``
    and background). Everything else (``len``, ``state_dict``...) is the loader's."""

    def __init__(self, loader, shift=0, fill=0.0):
        self.loader, self.shift, self.fill = loader, shift, fill

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for x, y in self.loader:
            x, y = x.numpy(), y.numpy()
            if self.shift:
                x, y = self._translate(x, y)
            yield Tensor.wrap(x), Tensor.wrap(y.reshape(-1))

    def _translate(self, images, masks):
        s, (h, w) = self.shift, masks.shape[1:]
        images = np.pad(images, ((0, 0), (0, 0), (s, s), (s, s)), constant_values=self.fill)
        masks = np.pad(masks, ((0, 0), (s, s), (s, s)))
        dy, dx = backend.default_generator.bitgen.integers(0, 2 * s + 1, size=(2, len(masks)))
        return (np.stack([im[:, y:y + h, x:x + w] for im, y, x in zip(images, dy, dx)]),
                np.stack([m[y:y + h, x:x + w] for m, y, x in zip(masks, dy, dx)]))


class SegmentationTrainer(Trainer):
    """The ``Trainer`` on per-pixel classification (see the module doc); ``evaluate`` adds pixel accuracy
    (as ``accuracy``), IoU per class and mIoU from the confusion matrix of pixels."""

    def __init__(self, model, optimizer, train_loader, val_loader=None, **kwargs):
        super().__init__(model, optimizer, train_loader, val_loader, loss_fn=pixel_cross_entropy, **kwargs)

    def _train_step(self, x, y):
        loss, logits = super()._train_step(x, y)
        return loss, logits.transpose(0, 2, 3, 1).reshape(-1, logits.shape[1])      # a row per pixel

    def evaluate(self, loader, num_classes=None):
        was_training = self.model.training
        self.model.eval()
        total, count, confusion = 0.0, 0, 0
        with no_grad():
            for x, y in loader:
                out = self.model(self._to_device(x))
                total += float(self.loss_fn(out, self._to_device(y)).item()) * y.numel()
                count += y.numel()
                num_classes = num_classes or out.shape[1]
                confusion = confusion + confusion_matrix(out.cpu().numpy().argmax(1), y.cpu().numpy(), num_classes)
        self.model.train(was_training)
        return {"loss": total / max(count, 1), "accuracy": pixel_accuracy(confusion), "miou": mean_iou(confusion),
                "iou": intersection_over_union(confusion), "confusion": confusion}


def _data(o, data_root, download):
    """Model, loaders (train, validation, test), optimiser, schedule and the recorded data facts of a run."""
    from ..backend import Generator
    if o["data"] not in DATASETS:
        raise ValueError(f"unknown segmentation dataset {o['data']!r}: use one of {', '.join(DATASETS)}")
    build = DATASETS[o["data"]]
    train_full, test_set = build(data_root, train=True, download=download), build(data_root, train=False)
    classes, in_shape = list(train_full.classes), recipes.sample_shape(train_full)
    model, target = recipes.build_model(o["model"], len(classes), in_shape)
    if tuple(target[1:]) != in_shape[1:]:
        raise ValueError(f"{o['model']} takes {target[1]}x{target[2]} inputs, the {o['data']} canvases are "
                         f"{in_shape[1]}x{in_shape[2]}: masks are not resized, choose another model")
    mean, std = recipes.channel_statistics(train_full)
    tf = recipes.preprocessing(in_shape, target, mean, std)
    split = Generator(o["seed"])
    n_val = int(round(len(train_full) * o["val_fraction"]))
    order = split.bitgen.permutation(len(train_full))
    train_full, test = with_transform(train_full, tf), with_transform(test_set, tf)
    train, val = Subset(train_full, order[n_val:]), Subset(train_full, order[:n_val]) if n_val else None
    train_loader, val_loader, test_loader = recipes.loaders(train, val, test, o["batch_size"], split)
    fill = float(tf(np.zeros((1,) + in_shape, np.float32)).ravel()[0])      # black, normalised
    train_loader = PixelBatches(train_loader, SHIFT if o["augment"] else 0, fill)
    optimizer = recipes.make_optimizer(o["optimizer"], model.parameters(), o["lr"])
    scheduler, per_batch = recipes.make_schedule(o["schedule"], optimizer, o["epochs"], len(train_loader), o["lr"])
    recorded = {"classes": classes, "in_shape": in_shape, "input": target, "mean": mean, "std": std}
    return dict(model=model, optimizer=optimizer, scheduler=scheduler, per_batch=per_batch, test=test,
                loaders=(train_loader, val_loader, test_loader), sizes=(len(train), n_val, len(test)),
                recorded=recorded)


def train(o, out, resume, overwrite, data_root, download, progress, plots, echo, world, device="auto"):
    """A segmentation run with the checked options ``o`` (``run.train`` calls it for task "segment")."""
    from .. import get_num_threads
    if world.size > 1:
        raise ValueError(f"segmentation runs take one process, not {world.size}")
    run = _data(o, data_root, download)
    model, (train_loader, val_loader, test_loader) = run["model"], run["loaders"]
    model.to(pick_device(device))
    out = resume or new_folder(out, overwrite, o["model"], o["data"])
    config = {**o, **run["recorded"]}
    trainer = SegmentationTrainer(model, run["optimizer"], train_loader, val_loader, scheduler=run["scheduler"],
                                  scheduler_per_batch=run["per_batch"], clip_grad_norm=o["clip"],
                                  early_stopping=o["early_stopping"], out_dir=out, progress=progress,
                                  metadata={"config": config})
    if resume and os.path.exists(os.path.join(out, "checkpoints", "latest.json")):
        trainer.resume()
        echo(f"resuming {out} after epoch {trainer.epoch}")
    elif not resume:
        atomic_write(os.path.join(out, "config.json"), (json.dumps(config, indent=1) + "\n").encode())
    n_train, n_val, n_test = run["sizes"]
    echo(f"segmenting with {o['model']} on {o['data']} ({n_train} train / {n_val} validation / {n_test} test "
         f"canvases, {sum(p.numel() for p in model.parameters()):,} parameters) -> {out}")
    done, t0, cpu0 = len(trainer.history), time.perf_counter(), time.process_time()
    try:
        trainer.fit(o["epochs"])
    except Interrupted as e:
        raise RunInterrupted(out, e.checkpoint, e.signum) from None
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    for r in trainer.history[done:]:
        val_part = f"  val loss {r['val_loss']:.4f}  val pixel acc {r['val_accuracy']:.4f}" if "val_loss" in r else ""
        echo(f"epoch {r['epoch']:3d}  loss {r['train_loss']:.4f}  pixel acc {r['train_accuracy']:.4f}{val_part}  "
             f"{r['samples_per_s'] / np.prod(config['in_shape'][1:]):.1f} canvases/s")
    report, last = _report(trainer, test_loader, out, seconds, cpu, get_num_threads())
    atomic_write(os.path.join(out, "report.json"), (json.dumps(report, indent=1) + "\n").encode())
    echo(f"test mIoU {report['test_miou']:.4f}, pixel accuracy {report['test_pixel_accuracy']:.4f} with the last "
         f"epoch's weights (epoch {trainer.epoch}); mIoU {report['best']['test_miou']:.4f} with the best checkpoint "
         f"(epoch {report['best']['epoch']}); {seconds:.1f} s ({cpu:.1f} s of CPU time); run folder {out}")
    if plots:
        _figures(out, trainer, last, run["test"], config["classes"], echo)
    return report


def evaluate_run(model, config, data, data_root, download):
    """(number of canvases, metrics) of a segmentation run's ``model`` on ``data``'s test split, preprocessed
    as in training (``deepgrad evaluate``)."""
    if data not in DATASETS:
        raise ValueError(f"unknown segmentation dataset {data!r}: use one of {', '.join(DATASETS)}")
    test = DATASETS[data](data_root, train=False, download=download)
    tf = recipes.preprocessing(tuple(config["in_shape"]), tuple(config["input"]), config["mean"], config["std"])
    loader = recipes.DataLoader(with_transform(test, tf), batch_size=64)
    trainer = SegmentationTrainer(model, None, loader, progress=False)
    return len(test), trainer.evaluate(loader, len(config["classes"]))


def _scores(evaluation):
    return {"test_loss": evaluation["loss"], "test_miou": evaluation["miou"],
            "test_pixel_accuracy": evaluation["accuracy"]}


def _report(trainer, test_loader, out, seconds, cpu, threads):
    """(report, evaluation of the last weights): test metrics of the last weights and of the best checkpoint's."""
    last = trainer.evaluate(test_loader)
    best_ckpt = load_checkpoint(os.path.join(out, "checkpoints", "best.safetensors"))
    weights = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
    best_ckpt.restore(trainer.model)
    best = trainer.evaluate(test_loader)
    trainer.model.load_state_dict(weights)
    return {"weights": "last epoch", **_scores(last), "test_iou": [None if np.isnan(v) else v for v in last["iou"]],
            "best": {"checkpoint": "checkpoints/best.safetensors", "epoch": best_ckpt.metadata["epoch"],
                     **_scores(best)},
            "epochs": trainer.epoch, "stopped_early": trainer.stopped_early, "train_seconds": seconds,
            "train_cpu_seconds": cpu, "threads": threads, "confusion": last["confusion"].tolist()}, last


def _figures(out, trainer, evaluation, test, classes, echo):
    try:
        from .plots import confusion, curves
        images, masks = test.get_batch(np.arange(min(len(test), 8)))
        trainer.model.eval()
        with no_grad():
            predictions = trainer.model(Tensor.wrap(images).to(trainer.device)).cpu().numpy().argmax(1)
        paths = [curves(trainer.history, os.path.join(out, "curves.png")),
                 confusion(evaluation["confusion"], os.path.join(out, "confusion.png"), classes),
                 overlays(images, masks, predictions, os.path.join(out, "overlays.png"), classes)]
        echo("figures: " + ", ".join(os.path.basename(p) for p in paths))
    except ImportError as e:
        echo(f"(no figures: {e})")


def colours(n):
    """RGB colours of ``n`` classes: black for class 0 (background), then matplotlib's tab10 and tab20."""
    from matplotlib import colormaps
    table = [colormaps["tab10"](i)[:3] for i in range(10)] + [colormaps["tab20"](i)[:3] for i in range(20)]
    return np.array([(0.0, 0.0, 0.0)] + table[:n - 1])


def overlays(images, masks, predictions, path, classes):
    """One row per image: the input, the true mask and the predicted mask, a colour per class (legend
    below), the row titled with the pixels the prediction gets wrong."""
    from .plots import _pyplot, _save
    plt = _pyplot()
    palette = colours(len(classes))
    fig, axes = plt.subplots(len(images) + 1, 3, figsize=(5.4, 1.8 * len(images) + 0.9), squeeze=False,
                             gridspec_kw={"height_ratios": [1] * len(images) + [0.5]})
    for ax in axes.ravel():
        ax.axis("off")
    for row, image, mask, pred in zip(axes, images, masks, predictions):
        row[0].imshow(image[0], cmap="gray")
        row[1].imshow(palette[mask])
        row[2].imshow(palette[pred])
        row[2].set_title(f"{int((mask != pred).sum())} pixels wrong", fontsize=7)
    for ax, title in zip(axes[0], ("input", "truth", "prediction")):
        ax.set_title(title + (f"\n{ax.get_title()}" if ax.get_title() else ""), fontsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in palette]
    axes[-1, 1].legend(handles, [str(c).split(" - ")[0] for c in classes], loc="center", ncol=6, fontsize=7,
                       frameon=False, handlelength=1, columnspacing=0.8)
    return _save(fig, path)
