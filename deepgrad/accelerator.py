"""``deepgrad.accelerator``, as ``torch.accelerator``: the current accelerator, none for now (the CPU is not
an accelerator, so scripts fall back to ``deepgrad.device("cpu")``)."""


def is_available():
    return False


def current_accelerator(check_available=False):
    return None


def device_count():
    return 0
