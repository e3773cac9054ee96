import numpy as np
import pytest

import deepgrad as dg


@pytest.fixture(autouse=True)
def _seed():
    dg.manual_seed(0)
    np.random.seed(0)


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: needs CuPy and an NVIDIA GPU (skipped with a reason elsewhere)")


def pytest_collection_modifyitems(config, items):
    if dg.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA GPU: pip install \"deepgrad[cuda13]\" on a GPU machine")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


@pytest.fixture
def strict_cuda():
    """The strict test device (tests/strict_device.py) registered as "cuda" for one test."""
    import strict_device
    restore = strict_device.register()
    yield strict_device
    restore()
