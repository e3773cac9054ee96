"""Where data-side random numbers come from.

Random transforms ask ``current_generator(generator)`` for a NumPy Generator: their own ``generator``
when one was given, else the generator that the ``DataLoader`` installed for the batch being loaded
(one per batch, derived from the loader's seeded generator, so augmentation does not depend on
thread timing and is replayed exactly on resume), else deepgrad's default generator
(``dg.manual_seed`` reproduces it).
"""
import contextlib
import threading

from .. import backend

_local = threading.local()


def current_generator(generator=None):
    """The NumPy ``Generator`` a data transform should draw from now (see the module docstring)."""
    if generator is not None:
        return generator.bitgen if isinstance(generator, backend.Generator) else generator
    rng = getattr(_local, "rng", None)
    return rng if rng is not None else backend.default_generator.bitgen


@contextlib.contextmanager
def using(rng):
    """Make ``rng`` (a NumPy Generator) this thread's data generator inside the block."""
    previous = getattr(_local, "rng", None)
    _local.rng = rng
    try:
        yield rng
    finally:
        _local.rng = previous


def batch_generator(seed, batch_index):
    """The generator for batch ``batch_index`` of an epoch whose seed is ``seed``."""
    return backend.numpy.random.Generator(backend.numpy.random.PCG64([int(seed), int(batch_index)]))
