"""The ``deepgrad`` command: train, evaluate and use networks from the shell.

    deepgrad train                         # LeNet-5 on the bundled 8x8 digits, under a minute
    deepgrad train --model lenet5 --data mnist --epochs 10 --augment
    deepgrad evaluate runs/<run>/checkpoints/best.safetensors --data mnist
    deepgrad predict runs/<run>/checkpoints/best.safetensors digit.png
    deepgrad models
    deepgrad summary resnet20
    deepgrad export runs/<run>/checkpoints/best.safetensors --onnx model.onnx
"""
import argparse
import copy
import json
import os
import sys
import time

from . import backend

np = backend.numpy


def _setup_data(args, model_name, seed, augment):
    """Datasets, model and loaders for a run; returns a dict of everything the run needs."""
    from .backend import Generator
    from .data import Subset
    from .train import recipes

    train_set, test_set, classes = recipes.load_datasets(args.data, args.data_root, args.download)
    in_shape = recipes.sample_shape(train_set)
    model, target = recipes.build_model(model_name, len(classes), in_shape)
    mean, std = recipes.channel_statistics(train_set)
    return {"train": train_set, "test": test_set, "classes": classes, "in_shape": in_shape, "model": model,
            "target": target, "mean": mean, "std": std,
            "train_tf": recipes.preprocessing(in_shape, target, mean, std, augment),
            "eval_tf": recipes.preprocessing(in_shape, target, mean, std, False),
            "split": Generator(seed), "Subset": Subset}


def _with_transform(dataset, transform):
    """A shallow copy of ``dataset`` (sharing its arrays) that applies ``transform``."""
    if hasattr(dataset, "dataset") and hasattr(dataset, "indices"):      # a Subset
        inner = _with_transform(dataset.dataset, transform)
        return type(dataset)(inner, dataset.indices)
    clone = copy.copy(dataset)
    clone.transform = transform
    return clone


# the options that define a run: a resumed run takes them from its config.json
RUN_OPTIONS = ("model", "data", "epochs", "batch_size", "lr", "optimizer", "schedule", "augment", "seed",
               "val_fraction", "clip", "early_stopping")


def cmd_train(args):
    from . import manual_seed
    from .train import Trainer, recipes
    from .train.plots import all_figures

    if args.resume:
        path = os.path.join(args.resume, "config.json")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{args.resume} is not a run folder: {path} is missing")
        with open(path) as f:
            saved = json.load(f)
        for key in RUN_OPTIONS:
            setattr(args, key, saved[key])
    manual_seed(args.seed)
    setup = _setup_data(args, args.model, args.seed, args.augment)
    train_full = setup["train"]
    n_val = int(round(len(train_full) * args.val_fraction))
    order = setup["split"].bitgen.permutation(len(train_full))
    Subset = setup["Subset"]
    train = Subset(_with_transform(train_full, setup["train_tf"]), order[n_val:])
    val = Subset(_with_transform(train_full, setup["eval_tf"]), order[:n_val]) if n_val else None
    test = _with_transform(setup["test"], setup["eval_tf"])
    train_loader, val_loader, test_loader = recipes.loaders(train, val, test, args.batch_size, setup["split"])
    model = setup["model"]
    optimizer = recipes.make_optimizer(args.optimizer, model.parameters(), args.lr)
    scheduler, per_batch = recipes.make_schedule(args.schedule, optimizer, args.epochs, len(train_loader), args.lr)
    out = args.resume or args.out or os.path.join("runs", f"{args.model}-{os.path.basename(args.data.rstrip('/'))}-"
                                                          f"{time.strftime('%Y%m%d-%H%M%S')}")
    config = {**{key: getattr(args, key) for key in RUN_OPTIONS}, "classes": setup["classes"],
              "in_shape": setup["in_shape"], "input": setup["target"], "mean": setup["mean"], "std": setup["std"]}
    trainer = Trainer(model, optimizer, train_loader, val_loader, scheduler=scheduler, scheduler_per_batch=per_batch,
                      clip_grad_norm=args.clip, early_stopping=args.early_stopping, out_dir=out,
                      progress=not args.quiet, metadata={"config": config})
    if args.resume:
        trainer.resume()
        print(f"resuming {out} after epoch {trainer.epoch}")
    else:
        _write_json(os.path.join(out, "config.json"), config)
    print(f"training {args.model} on {args.data} ({len(train)} train / {n_val} validation / {len(test)} test images, "
          f"{sum(p.numel() for p in model.parameters()):,} parameters) -> {out}")
    t0 = time.perf_counter()
    try:
        trainer.fit(args.epochs)
    except KeyboardInterrupt:
        print(f"\ninterrupted: saved {trainer.last_checkpoint}; continue with: deepgrad train --resume {out}")
        return 130
    for r in trainer.history:
        val_part = f"  val loss {r['val_loss']:.4f}  val acc {r['val_accuracy']:.4f}" if "val_loss" in r else ""
        print(f"epoch {r['epoch']:3d}  loss {r['train_loss']:.4f}  acc {r['train_accuracy']:.4f}{val_part}  "
              f"{r['samples_per_s']:.0f} samples/s")
    evaluation = trainer.evaluate(test_loader, len(setup["classes"]))
    report = {"test_loss": evaluation["loss"], "test_accuracy": evaluation["accuracy"],
              "test_error": 1 - evaluation["accuracy"], "top5_accuracy": evaluation["top5_accuracy"],
              "train_seconds": time.perf_counter() - t0, "epochs": trainer.epoch,
              "confusion": evaluation["confusion"].tolist()}
    _write_json(os.path.join(out, "report.json"), report)
    print(f"test accuracy {report['test_accuracy']:.4f} (error {100 * report['test_error']:.2f}%) "
          f"in {report['train_seconds']:.1f} s; run folder {out}")
    if not args.no_plots:
        try:
            images = np.stack([np.asarray(test[i][0]) for i in range(min(len(test), 512))])
            preds = evaluation["predictions"][:len(images)]
            sub = dict(evaluation, labels=evaluation["labels"][:len(images)], predictions=preds)
            paths = all_figures(out, trainer.history, model, sub, images, setup["classes"])
            print("figures: " + ", ".join(os.path.basename(p) for p in paths))
        except ImportError as e:
            print(f"(no figures: {e})")
    return 0


def _write_json(path, obj):
    from .serialization import atomic_write
    atomic_write(path, (json.dumps(obj, indent=1) + "\n").encode())


def _load_run(checkpoint):
    """The model of a checkpoint, rebuilt from its recorded configuration and loaded."""
    from .train import load_checkpoint, recipes
    ckpt = load_checkpoint(checkpoint)
    config = ckpt.metadata.get("config")
    if config is None:
        raise ValueError(f"{checkpoint}: the checkpoint does not record how its model was built "
                         "(it was not written by `deepgrad train`)")
    model, _ = recipes.build_model(config["model"], len(config["classes"]), tuple(config["in_shape"]))
    ckpt.restore(model)
    return model.eval(), config


def cmd_evaluate(args):
    from .train import Trainer, recipes
    model, config = _load_run(args.checkpoint)
    data = args.data or config["data"]
    _, test, classes = recipes.load_datasets(data, args.data_root, args.download)
    if len(classes) != len(config["classes"]):
        raise ValueError(f"the checkpoint's model has {len(config['classes'])} classes but {data} has {len(classes)}")
    in_shape = recipes.sample_shape(test)
    tf = recipes.preprocessing(in_shape, tuple(config["input"]), config["mean"], config["std"])
    loader = recipes.DataLoader(_with_transform(test, tf), batch_size=512)
    result = Trainer(model, None, loader, progress=False).evaluate(loader, len(classes))
    print(f"{data}: test accuracy {result['accuracy']:.4f} (error {100 * (1 - result['accuracy']):.2f}%), "
          f"loss {result['loss']:.4f}, top-5 {result['top5_accuracy']:.4f} on {len(test)} images")
    return 0


def _read_image(path, config, resize):
    """An image file as the model's (C, H, W) input in [0, 1]; wrong size or colour mode is refused
    unless ``resize``."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("predict reads images with Pillow: pip install 'deepgrad[images]' (or pip install Pillow)") from None
    c, h, w = config["in_shape"]
    mode = "L" if c == 1 else "RGB"
    try:
        img = Image.open(path)
        img.load()
    except OSError as e:
        raise ValueError(f"{path}: not a readable image ({e})") from None
    if not resize and (img.size != (w, h) or img.mode != mode):
        raise ValueError(f"{path}: expected a {w}x{h} image in mode {mode!r} ({'grayscale' if c == 1 else 'colour'}), "
                         f"like the {config['data']} images the model was trained on; got {img.size[0]}x{img.size[1]} "
                         f"in mode {img.mode!r}. Pass --resize to convert it.")
    img = img.convert(mode).resize((w, h)) if resize else img
    array = np.asarray(img, dtype=np.float32) / 255.0
    if config["data"] == "digits":
        array = np.round(array * 16) / 16
    return array.reshape(h, w, -1).transpose(2, 0, 1)


def cmd_predict(args):
    from . import Tensor, no_grad
    from .train import recipes
    model, config = _load_run(args.checkpoint)
    tf = recipes.preprocessing(tuple(config["in_shape"]), tuple(config["input"]), config["mean"], config["std"])
    images = np.stack([_read_image(p, config, args.resize) for p in args.images])
    with no_grad():
        probs = model(Tensor.wrap(np.asarray(tf(images), np.float32))).softmax(-1).numpy()
    for path, p in zip(args.images, probs):
        top = np.argsort(-p)[:args.top]
        shown = ", ".join(f"{config['classes'][i]}: {p[i]:.3f}" for i in top)
        print(f"{path}: {config['classes'][top[0]]}  ({shown})")
    return 0


def cmd_models(args):
    from .train.recipes import MODEL_INPUT, build_model
    print(f"{'model':<16} {'input (C, H, W)':<18} {'parameters (10 classes)':>24}")
    for name, shape in MODEL_INPUT.items():
        model, target = build_model(name, 10, tuple(d or 28 for d in (shape[0] or 1, shape[1], shape[2])))
        print(f"{name:<16} {str(target):<18} {sum(p.numel() for p in model.parameters()):>24,}")
    return 0


def cmd_summary(args):
    from .nn import summary
    from .train.recipes import MODEL_INPUT, build_model
    if args.model not in MODEL_INPUT:
        raise ValueError(f"unknown model {args.model!r}: use one of {', '.join(MODEL_INPUT)}")
    c, h, w = MODEL_INPUT[args.model]
    shape = tuple(args.input_shape) if args.input_shape else (c or 1, h or 28, w or 28)
    model, target = build_model(args.model, args.classes, shape)
    summary(model, (1,) + tuple(target))
    return 0


def cmd_export(args):
    from . import Tensor
    from .static import onnx_export
    model, config = _load_run(args.checkpoint)
    shape = tuple(config["input"])
    example = Tensor.wrap(np.zeros((2,) + shape, np.float32))
    onnx_export.export(model, example, args.onnx, dynamic_batch=not args.static_batch, opset=args.opset)
    batch = "N" if not args.static_batch else "2"
    print(f"wrote {args.onnx}: input 'input' of shape ({batch}, {', '.join(map(str, shape))}) (preprocessed as "
          f"for evaluation), output 'output' ({batch}, {len(config['classes'])}) logits, opset {args.opset}")
    return 0


def build_parser():
    from .train.recipes import DATASETS, MODEL_INPUT, OPTIMIZERS, SCHEDULES
    parser = argparse.ArgumentParser(prog="deepgrad", description="Train and use feedforward and convolutional "
                                     "networks (deepgrad).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def data_options(p, default):
        p.add_argument("--data", default=default, help=f"dataset: {', '.join(DATASETS)} or a folder of images with "
                       "one subfolder per class" + (f" (default: {default})" if default else ""))
        p.add_argument("--data-root", default=None, help="folder holding the dataset files (default: found "
                       "automatically, see deepgrad.data.datasets)")
        p.add_argument("--download", action="store_true", help="download the dataset if it is not found")

    t = sub.add_parser("train", help="train a model (default: LeNet-5 on the bundled digits)",
                       description="Train a zoo model on a dataset, writing a run folder with a log, checkpoints, "
                                   "a report and figures.")
    t.add_argument("--model", default="lenet5", choices=list(MODEL_INPUT), help="model (default: lenet5)")
    data_options(t, "digits")
    t.add_argument("--epochs", type=int, default=20, help="epochs (default: 20)")
    t.add_argument("--batch-size", type=int, default=32, help="minibatch size (default: 32)")
    t.add_argument("--lr", type=float, default=2e-3, help="learning rate (default: 2e-3)")
    t.add_argument("--optimizer", default="adam", choices=list(OPTIMIZERS), help="optimizer (default: adam)")
    t.add_argument("--schedule", default="cosine", choices=SCHEDULES, help="learning-rate schedule (default: cosine)")
    t.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                   help="random distortions of the training images: small rotations, shifts and scalings as LeCun "
                        "et al. 1998, or crops and flips for colour images (default: on)")
    t.add_argument("--clip", type=float, default=None, help="clip the gradient norm to this value")
    t.add_argument("--early-stopping", type=int, default=None, metavar="EPOCHS",
                   help="stop after this many epochs without a better validation loss")
    t.add_argument("--val-fraction", type=float, default=0.1, help="part of the training set held out for "
                   "validation (default: 0.1)")
    t.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    t.add_argument("--out", default=None, help="run folder (default: runs/<model>-<data>-<time>)")
    t.add_argument("--resume", default=None, metavar="DIR", help="continue the run in DIR exactly where it stopped "
                   "(with the options it was started with)")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.add_argument("--no-plots", action="store_true", help="do not draw figures")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="test accuracy of a checkpoint", description="Evaluate a checkpoint on "
                       "the test set of a dataset.")
    e.add_argument("checkpoint")
    data_options(e, None)
    e.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="classify image files", description="Print the predicted class and "
                       "probabilities of each image.")
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--resize", action="store_true", help="convert images of another size or colour mode")
    p.add_argument("--top", type=int, default=3, help="how many classes to show (default: 3)")
    p.set_defaults(func=cmd_predict)

    m = sub.add_parser("models", help="list the models", description="List the zoo models and their sizes.")
    m.set_defaults(func=cmd_models)

    s = sub.add_parser("summary", help="layers of a model", description="Print a model's layers, output shapes "
                       "and parameter counts.")
    s.add_argument("model")
    s.add_argument("--input-shape", type=int, nargs=3, metavar=("C", "H", "W"), help="input (default: the model's)")
    s.add_argument("--classes", type=int, default=10, help="number of classes (default: 10)")
    s.set_defaults(func=cmd_summary)

    x = sub.add_parser("export", help="export a checkpoint to ONNX", description="Write a checkpoint's model as an "
                       "ONNX file (needs: pip install 'deepgrad[onnx]').")
    x.add_argument("checkpoint")
    x.add_argument("--onnx", required=True, metavar="PATH", help="the .onnx file to write")
    x.add_argument("--opset", type=int, default=17, help="ONNX opset (default: 17)")
    x.add_argument("--static-batch", action="store_true", help="fix the batch size (default: a dynamic batch N)")
    x.set_defaults(func=cmd_export)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["train"] + list(argv if argv is not None else sys.argv[1:]))
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, ImportError, PermissionError, RuntimeError) as e:
        print(f"deepgrad {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
