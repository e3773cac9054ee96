"""``deepgrad.vision``: torchvision's names (``datasets``, ``transforms``, ``models``, ``ops``, ``utils``) onto
deepgrad's own homes, so ``from torchvision import datasets, transforms`` becomes ``from deepgrad.vision import ...``.
Only ``utils`` (``make_grid``, ``save_image``) is implemented here; the rest are aliases."""
from . import datasets, models, ops, transforms, utils  # noqa: F401
