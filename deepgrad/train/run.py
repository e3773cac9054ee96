"""A training run as ``deepgrad train`` makes it, callable from Python with the same options:
config -> data -> model -> optimiser -> loop -> run folder. Also the checks the other commands share:
a run folder or checkpoint given by path, and a run's recorded configuration.

The run folder: ``config.json`` (the options and what the data gave: classes, input shape,
normalisation), ``log.jsonl`` (one line per finished epoch), ``checkpoints/`` (the last epochs,
``best`` by validation accuracy, ``interrupted`` after a signal, ``latest.json`` naming the one to
resume from), ``report.json`` (test metrics of the last and of the best weights) and figures.
"""
import copy
import json
import math
import os
import shutil
import time

from .. import backend
from ..serialization import atomic_write
from . import parallel, recipes
from .checkpoint import load_checkpoint
from .loop import Interrupted, pick_device

np = backend.numpy

# the options that define a run, with their defaults; a resumed run takes them from its config.json
DEFAULTS = {"task": "classify", "model": "lenet5", "data": "digits", "epochs": 20, "batch_size": 32, "lr": 2e-3,
            "optimizer": "adam", "schedule": "cosine", "augment": True, "seed": 0, "val_fraction": 0.1, "clip": None,
            "early_stopping": None}
TASKS = ("classify", "segment")
# what the data gave, recorded next to the options
RECORDED = ("classes", "in_shape", "input", "mean", "std")


class RunInterrupted(Exception):
    """The run was stopped by a signal: ``out`` (its folder), ``checkpoint`` (None: nothing saved yet)
    and ``signum``; ``deepgrad train --resume out`` continues it."""

    def __init__(self, out, checkpoint, signum):
        super().__init__(f"{out} interrupted by signal {signum}")
        self.out, self.checkpoint, self.signum = out, checkpoint, signum


def _integer(name, value, least):
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")


def check_options(options):
    """The run options with defaults filled in; a wrong name, type or value raises naming the option."""
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown run options: {', '.join(sorted(unknown))} (known: {', '.join(DEFAULTS)})")
    o = {**DEFAULTS, **options}
    for name, least in (("epochs", 1), ("batch_size", 1), ("seed", 0)):
        _integer(name, o[name], least)
    if not (isinstance(o["lr"], (int, float)) and math.isfinite(o["lr"]) and o["lr"] > 0):
        raise ValueError(f"lr must be a number > 0, got {o['lr']!r}")
    if not (isinstance(o["val_fraction"], (int, float)) and 0 <= o["val_fraction"] < 1):
        raise ValueError(f"val_fraction must be in [0, 1), got {o['val_fraction']!r}")
    if o["clip"] is not None and not (isinstance(o["clip"], (int, float)) and o["clip"] > 0):
        raise ValueError(f"clip (the largest gradient norm) must be a number > 0, got {o['clip']!r}")
    if o["early_stopping"] is not None:
        _integer("early_stopping", o["early_stopping"], 1)
        if o["val_fraction"] == 0:
            raise ValueError("early_stopping watches the validation loss: it needs val_fraction > 0")
    for name, known in (("model", recipes.MODEL_INPUT), ("optimizer", recipes.OPTIMIZERS),
                        ("schedule", recipes.SCHEDULES)):
        if o[name] not in known:
            raise ValueError(f"unknown {name} {o[name]!r}: use one of {', '.join(known)}")
    if o["task"] not in TASKS:
        raise ValueError(f"unknown task {o['task']!r}: use one of {', '.join(TASKS)}")
    segmenting = o["task"] == "segment"
    if segmenting != (o["model"] in recipes.SEGMENTATION_MODELS):
        raise ValueError(f"task {o['task']!r} needs a {'segmentation' if segmenting else 'classification'} model, "
                         f"not {o['model']} (segmentation models: {', '.join(recipes.SEGMENTATION_MODELS)})")
    if not isinstance(o["augment"], bool):
        raise TypeError(f"augment must be True or False, got {o['augment']!r}")
    if isinstance(o["data"], str) and o["data"] not in recipes.DATASETS and os.path.isdir(o["data"]):
        o["data"] = os.path.abspath(o["data"])       # a folder of images: evaluate works from anywhere
    return o


def read_config(folder):
    """A run folder's config.json, checked for every key a run needs."""
    path = os.path.join(folder, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{folder} is not a run folder: {path} is missing")
    try:
        with open(path) as f:
            config = json.load(f)
    except ValueError as e:
        raise ValueError(f"{path} is damaged: not JSON ({e})") from None
    return check_config(config, path)


def check_config(config, where):
    if isinstance(config, dict):
        config.setdefault("task", "classify")          # runs written before segmentation runs existed
    missing = [k for k in (*DEFAULTS, *RECORDED) if not isinstance(config, dict) or k not in config]
    if missing:
        raise ValueError(f"{where}: the run configuration lacks {', '.join(missing)} (was it written by "
                         f"`deepgrad train`?)")
    return config


def checkpoint_path(path):
    """A checkpoint file, or a run folder's best checkpoint."""
    if os.path.isdir(path):
        best = os.path.join(path, "checkpoints", "best.safetensors")
        if not os.path.isfile(best):
            raise FileNotFoundError(f"{path} is a folder without checkpoints/best.safetensors: give a run "
                                    f"folder or a checkpoint file")
        return best
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such checkpoint file or run folder")
    return path


def load_run(path):
    """(model in eval mode, its run configuration) from a checkpoint written by a run, or a run folder."""
    checkpoint = checkpoint_path(path)
    ckpt = load_checkpoint(checkpoint)
    config = ckpt.metadata.get("config")
    if config is None:
        raise ValueError(f"{checkpoint}: the checkpoint does not record how its model was built "
                         "(it was not written by `deepgrad train`)")
    check_config(config, checkpoint)
    model, _ = recipes.build_model(config["model"], len(config["classes"]), tuple(config["in_shape"]))
    ckpt.restore(model)
    return model.eval(), config


def with_transform(dataset, transform):
    """A shallow copy of ``dataset`` (sharing its arrays) that applies ``transform``."""
    if hasattr(dataset, "dataset") and hasattr(dataset, "indices"):      # a Subset
        return type(dataset)(with_transform(dataset.dataset, transform), dataset.indices)
    clone = copy.copy(dataset)
    clone.transform = transform
    return clone


def new_folder(out, overwrite, model, data):
    """The folder of a new run, created (and claimed) now: ``out``, which must not hold anything
    unless ``overwrite`` and it is a run folder, or a fresh ``runs/<model>-<data>-<time>[-n]``."""
    if out is None:
        os.makedirs("runs", exist_ok=True)
        stem = os.path.join("runs", f"{model}-{os.path.basename(str(data).rstrip('/'))}-{time.strftime('%Y%m%d-%H%M%S')}")
        for n in range(1, 10000):
            out = stem if n == 1 else f"{stem}-{n}"
            try:
                os.mkdir(out)                     # atomic: two runs started together get two folders
                return out
            except FileExistsError:
                continue
    if os.path.isdir(out) and os.listdir(out):
        if not overwrite:
            raise FileExistsError(f"{out} already exists and is not empty: pass --overwrite to replace it, "
                                  f"--resume {out} to continue it, or choose another --out")
        if not os.path.isfile(os.path.join(out, "config.json")):
            raise FileExistsError(f"{out} is not a run folder (no config.json): --overwrite only replaces "
                                  "run folders; choose another --out")
        shutil.rmtree(out)
    try:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "config.json"), "x"):   # claim it before another run does
            pass
    except FileExistsError:
        raise FileExistsError(f"{out} was taken by another run just now: choose another --out") from None
    return out


def _resume_folder(resume, options):
    """The saved options of the run in ``resume``; given options must equal them."""
    config = read_config(resume)
    changed = {k: v for k, v in options.items() if config[k] != v}
    if changed:
        given = ", ".join(f"{k}={v!r} (the run has {config[k]!r})" for k, v in changed.items())
        raise ValueError(f"a resumed run keeps the options it was started with: {given}. Only --threads, "
                         f"--quiet, --no-plots, --data-root and --download may be given with --resume; to "
                         f"train differently, start a new run")
    if os.path.isfile(os.path.join(resume, "report.json")):
        raise ValueError(f"{resume} is finished (it has its report.json): nothing to resume; to train longer "
                         f"or differently, start a new run")
    return {k: config[k] for k in DEFAULTS}


def _data(o, data_root, download, echo):
    """Datasets, model, loaders, optimiser and schedule of a run with options ``o``."""
    from ..backend import Generator
    from ..data import Subset
    train_full, test_set, classes = recipes.load_datasets(o["data"], data_root, download, warn=echo)
    in_shape = recipes.sample_shape(train_full)
    model, target = recipes.build_model(o["model"], len(classes), in_shape)
    mean, std = recipes.channel_statistics(train_full)
    split = Generator(o["seed"])
    n_val = int(round(len(train_full) * o["val_fraction"]))
    if n_val >= len(train_full) or (o["val_fraction"] > 0 and n_val == 0):
        raise ValueError(f"val_fraction {o['val_fraction']} of {len(train_full)} training images leaves "
                         f"{len(train_full) - n_val} to train on and {n_val} to validate on")
    order = split.bitgen.permutation(len(train_full))
    eval_tf = recipes.preprocessing(in_shape, target, mean, std, False)
    train = Subset(with_transform(train_full, recipes.preprocessing(in_shape, target, mean, std, o["augment"])),
                   order[n_val:])
    val = Subset(with_transform(train_full, eval_tf), order[:n_val]) if n_val else None
    test = with_transform(test_set, eval_tf)
    loaders = parallel.loaders(train, val, test, o["batch_size"], split, o["seed"])
    optimizer = recipes.make_optimizer(o["optimizer"], model.parameters(), o["lr"])
    scheduler, per_batch = recipes.make_schedule(o["schedule"], optimizer, o["epochs"], len(loaders[0]), o["lr"])
    recorded = {"classes": classes, "in_shape": in_shape, "input": target, "mean": mean, "std": std}
    if os.path.isdir(o["data"]):
        recorded["image_mode"] = "RGB"               # ImageFolder converts every image to RGB
    return dict(model=model, optimizer=optimizer, scheduler=scheduler, per_batch=per_batch, loaders=loaders,
                sizes=(len(train), n_val, len(test)), test=test, recorded=recorded)


def train(out=None, *, resume=None, overwrite=False, data_root=None, download=False, threads=None, progress=True,
          plots=True, echo=print, device="auto", **options):
    """Train as ``deepgrad train`` does; returns the report (also written to ``<out>/report.json``).

    ``options``: the run options (see ``DEFAULTS``). ``resume``: a run folder to continue; its options
    are fixed (given ones must be equal). ``out``: a new run's folder (default ``runs/<model>-<data>-<time>``);
    an existing non-empty folder is refused unless ``overwrite`` (and it is a run folder).
    ``echo``: where progress lines go. ``device``: 'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N'.
    Raises ``RunInterrupted`` after SIGINT/SIGTERM."""
    from .. import get_num_threads, manual_seed
    world = parallel.start(threads)       # several processes under mpiexec: see train/parallel.py
    if world.rank != 0:
        echo, progress, plots = parallel.quiet, False, False
    if resume is not None:
        if out is not None and os.path.abspath(out) != os.path.abspath(resume):
            raise ValueError("give --resume RUN alone (the run keeps its folder), not with --out")
        options = _resume_folder(resume, options)
    o = check_options(options)
    manual_seed(o["seed"])
    if o["task"] == "segment":            # per-pixel classification: train/segment.py
        from . import segment
        return segment.train(o, out, resume, overwrite, data_root, download, progress, plots, echo, world, device)
    run = _data(o, data_root, download, echo)
    model, (train_loader, val_loader, test_loader) = run["model"], run["loaders"]
    model.to(pick_device(device))        # in place: the optimiser keeps its parameters, its state is made there
    out = resume or parallel.from_rank_zero(world, new_folder, out, overwrite, o["model"], o["data"])
    config = {**o, **run["recorded"]}
    trainer = parallel.trainer(world, model, run["optimizer"], train_loader, val_loader, scheduler=run["scheduler"],
                               scheduler_per_batch=run["per_batch"], clip_grad_norm=o["clip"],
                               early_stopping=o["early_stopping"], out_dir=out, progress=progress,
                               metadata={"config": config})
    if resume and parallel.resume(world, trainer, out, echo):
        echo(f"resuming {out} after epoch {trainer.epoch}")
    elif not resume and world.rank == 0:
        atomic_write(os.path.join(out, "config.json"), (json.dumps(config, indent=1) + "\n").encode())
    n_train, n_val, n_test = run["sizes"]
    echo(f"training {o['model']} on {o['data']} ({n_train} train / {n_val} validation / {n_test} test images, "
         f"{sum(p.numel() for p in model.parameters()):,} parameters) -> {out}")
    if world.size > 1:
        echo(f"data-parallel on {world.size} processes: batch {o['batch_size']} per process, global batch "
             f"{o['batch_size'] * world.size}")
    done = len(trainer.history)
    t0 = time.perf_counter()
    try:
        trainer.fit(o["epochs"])
    except Interrupted as e:
        raise RunInterrupted(out, e.checkpoint, e.signum) from None
    seconds = time.perf_counter() - t0
    for r in trainer.history[done:]:
        val_part = f"  val loss {r['val_loss']:.4f}  val acc {r['val_accuracy']:.4f}" if "val_loss" in r else ""
        echo(f"epoch {r['epoch']:3d}  loss {r['train_loss']:.4f}  acc {r['train_accuracy']:.4f}{val_part}  "
             f"{r['samples_per_s']:.0f} samples/s")
    if trainer.stopped_early:
        echo(f"early stopping after epoch {trainer.epoch} of {o['epochs']}: the validation loss has not improved "
             f"for {o['early_stopping']} epochs (best {trainer.best_val_loss:.4f})")
    report, evaluation = _report(trainer, test_loader, out, len(config["classes"]), seconds, get_num_threads())
    if world.rank == 0:
        atomic_write(os.path.join(out, "report.json"), (json.dumps(report, indent=1) + "\n").encode())
    best = report["best"]
    echo(f"test accuracy {report['test_accuracy']:.4f} (error {100 * report['test_error']:.2f}%) with the last "
         f"epoch's weights (epoch {trainer.epoch}); {best['test_accuracy']:.4f} with the best checkpoint (epoch "
         f"{best['epoch']}, highest validation accuracy), which `deepgrad evaluate {out}` uses; "
         f"{seconds:.1f} s; run folder {out}")
    if plots:
        _figures(out, trainer, evaluation, run["test"], config["classes"], echo)
    return report


def _report(trainer, test_loader, out, num_classes, seconds, threads):
    """(report, evaluation of the last weights): test metrics of the last weights and of the best checkpoint's."""
    last = trainer.evaluate(test_loader, num_classes)
    best_ckpt = load_checkpoint(os.path.join(out, "checkpoints", "best.safetensors"))
    weights = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
    best_ckpt.restore(trainer.model)
    best = trainer.evaluate(test_loader, num_classes)
    trainer.model.load_state_dict(weights)
    return {"weights": "last epoch", "test_loss": last["loss"], "test_accuracy": last["accuracy"],
            "test_error": 1 - last["accuracy"], "top5_accuracy": last["top5_accuracy"],
            "best": {"checkpoint": "checkpoints/best.safetensors", "epoch": best_ckpt.metadata["epoch"],
                     "test_loss": best["loss"], "test_accuracy": best["accuracy"],
                     "top5_accuracy": best["top5_accuracy"]},
            "epochs": trainer.epoch, "stopped_early": trainer.stopped_early, "train_seconds": seconds,
            "threads": threads, "confusion": last["confusion"].tolist()}, last


def _figures(out, trainer, evaluation, test, classes, echo):
    from .plots import all_figures
    try:
        images = np.stack([np.asarray(test[i][0]) for i in range(min(len(test), 512))])
        sub = dict(evaluation, labels=evaluation["labels"][:len(images)],
                   predictions=evaluation["predictions"][:len(images)])
        paths = all_figures(out, trainer.history, trainer.model, sub, images, classes)
        echo("figures: " + ", ".join(os.path.basename(p) for p in paths))
    except ImportError as e:
        echo(f"(no figures: {e})")


def export_onnx(model, shape, path, opset=17, dynamic_batch=True, overwrite=False):
    """Write ``model`` (inputs (N, *shape), as preprocessed for evaluation) to ``path`` as ONNX: a new
    file unless ``overwrite``, at an opset the installed onnx knows, and only once onnxruntime (where
    installed) has accepted it."""
    from ..autograd.tensor import Tensor
    from ..static import onnx_export
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists: pass --overwrite to replace it")
    example = Tensor.wrap(np.zeros((2,) + tuple(shape), np.float32))
    data = onnx_export.to_model(model, example, dynamic_batch=dynamic_batch, opset=opset).SerializeToString()
    try:
        import onnxruntime
    except ImportError:
        pass
    else:
        try:
            onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
        except Exception as e:       # onnxruntime raises its own exception types
            raise ValueError(f"onnxruntime {onnxruntime.__version__} refuses the model at opset {opset}: "
                             f"{str(e).splitlines()[0]}; use a lower --opset") from None
    atomic_write(path, data)
