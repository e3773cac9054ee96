"""PyTorch programs (tests/compat/programs, written in the style of PyTorch's tutorials and examples) run
on deepgrad after the substitution of module names alone, and give PyTorch's numbers: each program's
``main()`` returns what it measured, once under torch and once ported, and the two must agree."""
import pathlib

import numpy as np
import pytest

from .porting import load, port

torch = pytest.importorskip("torch")
PROGRAMS = sorted((pathlib.Path(__file__).parent / "programs").glob("*.py"))


def assert_agree(got, expected, path="result"):
    """Nested dicts/lists of numbers, strings and bools agree (floats to float32 training round-off)."""
    if isinstance(expected, dict):
        assert sorted(got) == sorted(expected), path
        for k in expected:
            assert_agree(got[k], expected[k], f"{path}[{k!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(got) == len(expected), f"{path}: {len(got)} items, expected {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_agree(g, e, f"{path}[{i}]")
    elif isinstance(expected, float):
        np.testing.assert_allclose(got, expected, rtol=2e-4, atol=1e-6, err_msg=path)
    else:
        assert got == expected, f"{path}: {got!r}, expected {expected!r}"


def test_the_substitution_renames_modules_only():
    src = "import torch\nimport torchvision.transforms as T\nfrom torch.utils.data import DataLoader\nx = 'torchaudio'\n"
    assert port(src) == ("import deepgrad\nimport deepgrad.vision.transforms as T\n"
                         "from deepgrad.utils.data import DataLoader\nx = 'torchaudio'\n")


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.stem)
def test_ported_program_gives_torchs_results(path):
    expected = load(path, ported=False).main()
    got = load(path, ported=True).main()
    assert_agree(got, expected)
