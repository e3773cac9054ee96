"""deepgrad.allocator: glibc keeps freed memory for reuse unless DEEPGRAD_MALLOC_TUNING=0."""
import os
import subprocess
import sys

import pytest

import deepgrad as dg
from deepgrad import allocator

pytestmark = pytest.mark.skipif(not allocator._glibc(), reason="malloc tuning applies to glibc only")

PROBE = ("import ctypes, resource, numpy as np, deepgrad; "
         "a = [np.ones(1 << 22, np.float32) for _ in range(3)]; del a; "   # 16 MiB blocks, then freed
         "f = resource.getrusage(resource.RUSAGE_SELF).ru_minflt; "
         "b = [np.ones(1 << 22, np.float32) for _ in range(3)]; "
         "print(deepgrad.allocator.tuned, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f)")


def _probe(**env):
    out = subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, **env}, check=True,
                         capture_output=True, text=True).stdout.split()
    return out[0] == "True", int(out[1])


def test_tuned_at_import():
    assert dg.allocator.tuned is True


def test_freed_blocks_are_reused_without_page_faults():
    """48 MiB allocated again right after being freed: served from the kept heap (no page faults)
    when tuned; from fresh kernel pages when opted out (one fault per 4 KiB page, or per 2 MiB where
    transparent huge pages serve them: more than 20 either way)."""
    tuned, tuned_faults = _probe()
    plain, plain_faults = _probe(DEEPGRAD_MALLOC_TUNING="0")
    assert tuned and not plain
    assert tuned_faults <= 10 and plain_faults > 20
