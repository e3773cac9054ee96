"""``summary(model, input_shape)``: a table of layers, output shapes and parameter counts, like torchinfo."""
from ..autograd.function import no_grad
from ..ops import zeros
from .module import Module


def summary(model, input_shape, dtype=None, print_fn=print):
    """Run ``model`` once on zeros of ``input_shape`` (batch dimension included) and return (and print)
    a table with one row per submodule: its name and type, output shape and own parameter count."""
    if not isinstance(model, Module):
        raise TypeError(f"summary: expected a Module, got {type(model).__name__}")
    rows, handles = [], []
    for name, module in model.named_modules():
        if module is model:
            continue

        def hook(mod, inputs, output, name=name):
            shape = tuple(output.shape) if hasattr(output, "shape") else type(output).__name__
            own = sum(p.numel() for p in mod.parameters(recurse=False))
            rows.append((name, type(mod).__name__, shape, own, name.count(".")))
        handles.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            out = model(zeros(*input_shape, dtype=dtype))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    width = max([len("  " * depth + f"{name} ({kind})") for name, kind, _, _, depth in rows] + [20])
    lines = [f"{'Layer (type)':<{width}}  {'Output shape':<22} {'Param #':>12}", "=" * (width + 37)]
    for name, kind, shape, own, depth in rows:
        lines.append(f"{'  ' * depth + f'{name} ({kind})':<{width}}  {str(shape):<22} {own:>12,}")
    lines += ["=" * (width + 37), f"Input shape: {tuple(input_shape)}   Output shape: {tuple(out.shape)}",
              f"Total params: {total:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}"]
    table = "\n".join(lines)
    if print_fn is not None:
        print_fn(table)
    return table
