"""The porting contract (issue 13): a PyTorch program in deepgrad's scope runs on deepgrad after one
textual substitution of module names, ``torchvision`` -> ``deepgrad.vision``, then ``torch`` -> ``deepgrad``."""
import re
import types


def port(source):
    """``source`` with PyTorch's module names replaced by deepgrad's."""
    return re.sub(r"\btorch\b", "deepgrad", re.sub(r"\btorchvision\b", "deepgrad.vision", source))


def load(path, ported, name=None):
    """The program at ``path`` as a fresh module, as written (for torch) or ported (for deepgrad)."""
    with open(path, encoding="utf-8") as f:
        source = f.read()
    module = types.ModuleType(name or ("ported_" if ported else "torch_") + path.stem)
    module.__file__ = str(path)
    exec(compile(port(source) if ported else source, str(path), "exec"), module.__dict__)
    return module
