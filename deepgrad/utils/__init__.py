"""PyTorch's ``torch.utils`` module names over deepgrad's own modules (DESIGN.md: thin aliases, one home per
name): ``deepgrad.utils.data`` is ``deepgrad.data``'s loading API."""
from . import data

__all__ = ["data"]
