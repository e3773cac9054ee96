"""``deepgrad.cuda``, as ``torch.cuda``: what a script asks before choosing a device. deepgrad has no GPU
backend yet, so no CUDA device is available; the seeding calls are accepted (there is nothing to seed)."""


def is_available():
    return False


def device_count():
    return 0


def manual_seed(seed):
    """Accepted and ignored: there is no CUDA generator to seed."""


manual_seed_all = manual_seed


def _unavailable(*args, **kwargs):
    raise RuntimeError("deepgrad.cuda: no CUDA device is available (deepgrad runs on the CPU until its GPU "
                       "backend lands); check deepgrad.cuda.is_available() first")


current_device = set_device = synchronize = get_device_name = _unavailable
