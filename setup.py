"""The optional C extension (direct convolution kernels); everything else is in pyproject.toml.
Where no C compiler is found the build goes on without it, and deepgrad uses im2col + GEMM."""
import sys

from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "deepgrad.kernels.cpu._direct", ["deepgrad/kernels/cpu/_direct.c"], depends=["deepgrad/kernels/cpu/_direct_kernels.h"],
    extra_compile_args=[] if sys.platform == "win32" else ["-O3", "-Wno-psabi"], optional=True)])
