"""torchvision.transforms' names for deepgrad's transforms (``deepgrad.data.transforms``)."""
from ..data.transforms import *  # noqa: F401,F403
from ..data.transforms import __all__  # noqa: F401
