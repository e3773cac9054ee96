"""The ``deepgrad`` command: train, evaluate and use networks from the shell.

    deepgrad train                         # LeNet-5 on the bundled 8x8 digits, under a minute
    deepgrad train --model lenet5 --data mnist --epochs 10 --augment
    deepgrad evaluate runs/<run> --data mnist          # a run folder (its best checkpoint) or a checkpoint file
    deepgrad predict runs/<run> digit.png
    deepgrad models
    deepgrad summary resnet20
    deepgrad export runs/<run> --onnx model.onnx

Exit status: 0 done, 1 the run failed (non-finite loss, a file could not be written), 2 bad arguments
or input, 128 + signal number after SIGINT (130) or SIGTERM (143), with a resumable checkpoint saved.
See docs/cli.md.
"""
import argparse
import os
import signal
import sys

from . import backend

np = backend.numpy


def cmd_train(args):
    from .train import parallel, run
    if args.nproc is not None and (status := parallel.launch(args.nproc, args.argv)) is not None:
        return status        # mpiexec ran this command on --nproc processes
    if parallel.world().rank != 0:
        sys.stdout = open(os.devnull, "w")       # rank 0 speaks for the job; errors still reach stderr
    options = {k: getattr(args, k) for k in run.DEFAULTS if getattr(args, k) is not None}
    try:
        run.train(args.out, resume=args.resume, overwrite=args.overwrite, data_root=args.data_root,
                  download=args.download, threads=args.threads, progress=not args.quiet, plots=not args.no_plots,
                  device=args.device, **options)
    except run.RunInterrupted as e:
        name = "Ctrl-C" if e.signum == signal.SIGINT else signal.Signals(e.signum).name
        if e.checkpoint is None:
            print(f"\n{name}: stopped before the first checkpoint, nothing trained is saved; start again with: "
                  f"deepgrad train --resume {e.out}")
        else:
            print(f"\n{name}: saved {e.checkpoint}; continue with: deepgrad train --resume {e.out}")
        return 128 + e.signum
    return 0


def cmd_evaluate(args):
    from .train import Trainer, recipes, run
    model, config = run.load_run(args.checkpoint)
    data = args.data or config["data"]
    if config["task"] == "segment":
        from .train import segment
        count, result = segment.evaluate_run(model, config, data, args.data_root, args.download)
        print(f"{data}: test mIoU {result['miou']:.4f}, pixel accuracy {result['accuracy']:.4f}, "
              f"loss {result['loss']:.4f} on {count} canvases ({run.checkpoint_path(args.checkpoint)})")
        return 0
    _, test, classes = recipes.load_datasets(data, args.data_root, args.download, warn=print)
    if len(classes) != len(config["classes"]):
        raise ValueError(f"the checkpoint's model has {len(config['classes'])} classes but {data} has {len(classes)}")
    in_shape = recipes.sample_shape(test)
    tf = recipes.preprocessing(in_shape, tuple(config["input"]), config["mean"], config["std"])
    loader = recipes.DataLoader(run.with_transform(test, tf), batch_size=512)
    result = Trainer(model, None, loader, progress=False).evaluate(loader, len(classes))
    print(f"{data}: test accuracy {result['accuracy']:.4f} (error {100 * (1 - result['accuracy']):.2f}%), "
          f"loss {result['loss']:.4f}, top-5 {result['top5_accuracy']:.4f} on {len(test)} images "
          f"({run.checkpoint_path(args.checkpoint)})")
    return 0


def _read_image(path, config, resize):
    """An image file as the model's (C, H, W) input in [0, 1]; wrong size or colour mode is refused
    unless ``resize`` (an image-folder run converts every image to RGB, as its training did)."""
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
    if config.get("image_mode"):
        img = img.convert(config["image_mode"])
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
    from .train import recipes, run
    model, config = run.load_run(args.checkpoint)
    if config["task"] == "segment":
        raise ValueError(f"{args.checkpoint} is a segmentation run: predict names one class per image; the run's "
                         "overlays.png shows its per-pixel predictions and `deepgrad evaluate` its mIoU")
    tf = recipes.preprocessing(tuple(config["in_shape"]), tuple(config["input"]), config["mean"], config["std"])
    images = np.stack([_read_image(p, config, args.resize) for p in args.images])
    with no_grad():
        probs = model(Tensor.wrap(np.asarray(tf(images), np.float32))).softmax(-1).numpy()
    for path, p in zip(args.images, probs):
        top = np.argsort(-p, kind="stable")[:args.top]
        shown = ", ".join(f"{config['classes'][i]}: {p[i]:.3f}" for i in top)
        print(f"{path}: {config['classes'][top[0]]}  ({shown})")
    return 0


def cmd_models(args):
    from .nn import init
    from .train.recipes import MODEL_INPUT, build_model
    print(f"{'model':<16} {'input (C, H, W)':<18} {'parameters (10 classes)':>24}")
    for name, shape in MODEL_INPUT.items():
        with init.skipped():        # only counted: no random weights drawn (VGG-19 has 139 million)
            model, target = build_model(name, 10, tuple(d or 28 for d in (shape[0] or 1, shape[1], shape[2])))
        print(f"{name:<16} {str(target):<18} {sum(p.numel() for p in model.parameters()):>24,}")
    return 0


def cmd_summary(args):
    from .nn import init, summary
    from .train.recipes import MODEL_INPUT, build_model
    if args.model not in MODEL_INPUT:
        raise ValueError(f"unknown model {args.model!r}: use one of {', '.join(MODEL_INPUT)}")
    fixed = MODEL_INPUT[args.model]
    shape = tuple(args.input_shape) if args.input_shape else tuple(d or 28 for d in (fixed[0] or 1, *fixed[1:]))
    if any(d is not None and d != g for d, g in zip(fixed, shape)):
        wanted = ", ".join("any" if d is None else str(d) for d in fixed)
        raise ValueError(f"{args.model} takes inputs of (C, H, W) = ({wanted}), not --input-shape "
                         f"{' '.join(map(str, shape))} (deepgrad train resizes images to the model's input)")
    with init.skipped():            # described, not trained: no random weights drawn
        model, target = build_model(args.model, args.classes, shape)
    summary(model, (1,) + tuple(target))
    return 0


def cmd_export(args):
    from .train import run
    model, config = run.load_run(args.checkpoint)
    shape = tuple(config["input"])
    run.export_onnx(model, shape, args.onnx, opset=args.opset, dynamic_batch=not args.static_batch,
                    overwrite=args.overwrite)
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
        p.add_argument("--data", default=None, help=f"dataset: {', '.join(DATASETS)} or a folder of images with "
                       "one subfolder per class" + (f" (default: {default})" if default else ""))
        p.add_argument("--data-root", default=None, help="folder holding the dataset files (default: found "
                       "automatically, see deepgrad.data.datasets)")
        p.add_argument("--download", action="store_true", help="download the dataset if it is not found")

    def threads_option(p):
        p.add_argument("--threads", type=_at_least(1), metavar="N", help="threads for deepgrad's ops "
                       "(default: the CPUs it may use; on a machine busy with other work, fewer is faster: "
                       "see deepgrad.set_num_threads)")

    t = sub.add_parser("train", help="train a model (default: LeNet-5 on the bundled digits)",
                       description="Train a zoo model on a dataset, writing a run folder with a log, checkpoints, "
                                   "a report and figures.")
    # run options default to None here: run.DEFAULTS fills them, and a resume can tell what was given
    t.add_argument("--task", choices=["classify", "segment"], help="classify images, or classify every pixel "
                   "(--task segment --data mnist-canvas --model fcn8s: see deepgrad.train.segment) (default: classify)")
    t.add_argument("--model", choices=list(MODEL_INPUT), help="model (default: lenet5)")
    data_options(t, "digits")
    t.add_argument("--epochs", type=_at_least(1), help="epochs (default: 20)")
    t.add_argument("--batch-size", type=_at_least(1), help="minibatch size (default: 32)")
    t.add_argument("--lr", type=float, help="learning rate (default: 2e-3)")
    t.add_argument("--optimizer", choices=list(OPTIMIZERS), help="optimizer (default: adam)")
    t.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule (default: cosine)")
    t.add_argument("--augment", action=argparse.BooleanOptionalAction,
                   help="random distortions of the training images: small rotations, shifts and scalings as LeCun "
                        "et al. 1998, or crops and flips for colour images (default: on)")
    t.add_argument("--clip", type=float, metavar="NORM", help="clip the gradient norm to NORM (> 0)")
    t.add_argument("--early-stopping", type=_at_least(1), metavar="EPOCHS",
                   help="stop after this many epochs in a row without a better validation loss")
    t.add_argument("--val-fraction", type=float, help="part of the training set held out for validation, in "
                   "[0, 1) (default: 0.1)")
    t.add_argument("--seed", type=_at_least(0), help="random seed (default: 0)")
    t.add_argument("--out", default=None, help="run folder, new or empty (default: runs/<model>-<data>-<time>)")
    t.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    t.add_argument("--resume", default=None, metavar="DIR", help="continue the run in DIR exactly where it stopped, "
                   "with the options it was started with (only --threads, --quiet, --no-plots, --data-root and "
                   "--download may be given)")
    threads_option(t)
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.add_argument("--nproc", type=_at_least(1), metavar="N", help="train data-parallel on N processes, started "
                   "with mpiexec (pip install \"deepgrad[mpi]\"); --batch-size is per process. Or start them "
                   "yourself: mpiexec -n N deepgrad train ... (see docs/distributed.md)")
    t.add_argument("--no-plots", action="store_true", help="do not draw figures")
    t.add_argument("--device", default="auto", metavar="{auto,cpu,cuda,cuda:N}", help="where to train: auto (a "
                   "CUDA GPU when deepgrad.cuda.is_available(), else the CPU), cpu, cuda or cuda:N "
                   "(pip install \"deepgrad[cuda13]\"; see docs/gpu.md) (default: auto)")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="test accuracy of a checkpoint", description="Evaluate a checkpoint on "
                       "the test set of a dataset.")
    e.add_argument("checkpoint", help="a run folder (its best checkpoint) or a checkpoint file")
    data_options(e, None)
    threads_option(e)
    e.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="classify image files", description="Print the predicted class and "
                       "probabilities of each image.")
    p.add_argument("checkpoint", help="a run folder (its best checkpoint) or a checkpoint file")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--resize", action="store_true", help="convert images of another size or colour mode")
    p.add_argument("--top", type=_at_least(1), default=3, help="how many classes to show (default: 3)")
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
    x.add_argument("checkpoint", help="a run folder (its best checkpoint) or a checkpoint file")
    x.add_argument("--onnx", required=True, metavar="PATH", help="the .onnx file to write (a new file)")
    x.add_argument("--overwrite", action="store_true", help="replace the file at PATH")
    x.add_argument("--opset", type=int, default=17, help="ONNX opset (default: 17)")
    x.add_argument("--static-batch", action="store_true", help="fix the batch size (default: a dynamic batch N)")
    x.set_defaults(func=cmd_export)
    return parser


def _at_least(least):
    """An argparse type: an integer >= ``least``."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {least}, got {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"expected an integer >= {least}, got {value}")
        return value
    return parse


def main(argv=None):
    """Run the command; returns the exit status (see the module docstring). In a job of several processes
    (mpiexec), a failure of one ends them all."""
    from .train.parallel import finish
    return finish(_main, sys.argv[1:] if argv is None else list(argv))


def _main(argv):
    from .train import NonFiniteLoss
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    if args.command is None:
        parser.print_help()
        return 2
    if getattr(args, "threads", None) is not None:
        from . import set_num_threads
        set_num_threads(args.threads)
    try:
        return args.func(args)
    except NonFiniteLoss as e:
        print(f"deepgrad {args.command}: the run failed: {e}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, ImportError, PermissionError,
            RuntimeError) as e:
        print(f"deepgrad {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:       # disk full, file too large, I/O error: the run could not write its files
        where = f" ({e.filename})" if e.filename else ""
        print(f"deepgrad {args.command}: the run failed: {e.strerror or e}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\ndeepgrad {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
