"""``deepgrad.backends``, as ``torch.backends``: the switches scripts set for cuDNN and ask of MPS. None of
these backends exists in deepgrad yet; the settings are kept so scripts run unchanged."""
from . import cudnn, mps  # noqa: F401
