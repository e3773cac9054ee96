"""``torch.backends.cudnn``'s settings (``benchmark``, ``deterministic``, ``enabled``): kept, without effect
until deepgrad has a cuDNN backend."""
enabled = True
benchmark = False
deterministic = False


def is_available():
    return False
