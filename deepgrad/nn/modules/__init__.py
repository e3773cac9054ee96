"""``torch.nn.modules`` names, aliased onto their homes in ``deepgrad.nn``."""
from . import module
