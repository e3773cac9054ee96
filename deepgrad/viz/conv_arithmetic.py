"""Convolution arithmetic (Dumoulin & Visin, "A guide to convolution arithmetic for deep learning"):
which input cells each output cell of a convolution reads, frame by frame, and its animation.

    import deepgrad as dg
    dg.viz.animate_conv(5, 3, stride=2, padding=1, path="conv.gif")           # or .svg
    dg.viz.animate_conv(3, 3, stride=2, padding=1, transposed=True, format="svg")

The cells lit in each frame are not re-derived from the output-size formula: ``conv_frames`` runs
deepgrad's own ``conv1d/conv2d`` (``conv_transpose1d/2d`` when ``transposed``) in float64 on a probe —
one one-hot image per input cell as the batch, one one-hot kernel per kernel offset as the output
channels — so ``out[b, k, t] == 1`` exactly when output cell ``t`` reads input cell ``b`` at kernel
offset ``k``. A second probe over the drawn grid (the input with its zero padding; for a transposed
convolution, the zero-inserted and padded input that the equivalent direct convolution reads, seed
4.5.1) places the whole kernel window, padding included.
"""
import math
import os
from dataclasses import dataclass

from .. import backend
from ..nn import functional as F
from ..nn.functional.conv import resolve_padding
from ..ops import tensor
from .raster import gif
from .scene import scene
from .svg import svg

np = backend.numpy

__all__ = ["ConvArithmetic", "Frame", "conv_frames", "animate_conv"]

OP = "conv_frames"
WRITERS = {"gif": gif, "svg": svg}


@dataclass(frozen=True)
class Frame:
    """One output cell's step: ``reads`` maps each input cell it reads to the kernel offset reading it
    (zero padding excluded); ``window`` maps every kernel offset to the cell of the drawn grid under it."""
    output: tuple
    reads: dict
    window: dict


@dataclass(frozen=True)
class ConvArithmetic:
    """A convolution's cells and frames. ``grid_size`` is the drawn input grid (the input with its zero
    padding and, when ``transposed``, the zeros inserted between its cells); ``placement`` maps each
    input cell to its cell of that grid; ``frames`` has one Frame per output cell, in row-major order."""
    input_size: tuple
    kernel_size: tuple
    stride: tuple
    padding: tuple          # (lo, hi) per axis: the conv's own split of "same" / "full"
    dilation: tuple
    transposed: bool
    output_padding: tuple
    output_size: tuple
    grid_size: tuple
    placement: dict
    frames: tuple


def _axes(name, value, nd, minimum):
    """``value`` (an int, or a tuple of ``nd`` ints) as a tuple of ``nd`` ints, each >= ``minimum``."""
    if isinstance(value, list):
        value = tuple(value)
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,) * nd
    if not (isinstance(value, tuple) and len(value) == nd
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise TypeError(f"{OP}: {name} must be an int or a tuple of {nd} ints, got {value!r}")
    if min(value) < minimum:
        raise ValueError(f"{OP}: {name} must be >= {minimum} on every axis, got {value!r}")
    return value


def _input_size(value):
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if isinstance(value, list):
        value = tuple(value)
    if not (isinstance(value, tuple) and len(value) in (1, 2)):
        raise TypeError(f"{OP}: input_size must be an int (a square) or a tuple of 1 or 2 ints, got {value!r}")
    return _axes("input_size", value, len(value), 1)


def _probe(conv, size, kernel, transposed, **options):
    """{output cell: {input cell: kernel offset}} read off ``conv`` applied to one-hot images with one-hot kernels."""
    n, nk = math.prod(size), math.prod(kernel)
    images = tensor(np.eye(n).reshape((n, 1) + size))
    kernels = tensor(np.eye(nk).reshape(((1, nk) if transposed else (nk, 1)) + kernel))
    out = conv(images, kernels, **options).numpy()
    reads = {t: {} for t in np.ndindex(out.shape[2:])}
    for b, k, *t in np.argwhere(out != 0).tolist():
        reads[tuple(t)][np.unravel_index(b, size)] = np.unravel_index(k, kernel)
    return out.shape[2:], reads


def _cells(index):
    return tuple(int(i) for i in index)


def _direct(conv, size, kernel, stride, padding, dilation):
    """(output size, reads, (lo, hi) padding, grid size, windows as {t: {grid cell: offset}}, placement)."""
    nd = len(size)
    if isinstance(padding, str):
        lo_hi = resolve_padding(OP, padding, nd, kernel, stride, dilation)
    else:
        padding = _axes("padding", padding, nd, 0)
        lo_hi = (padding, padding)
    out_size, reads = _probe(conv, size, kernel, False, stride=stride, padding=padding, dilation=dilation)
    grid = tuple(m + lo + hi for m, lo, hi in zip(size, *lo_hi))
    _, windows = _probe(conv, grid, kernel, False, stride=stride, dilation=dilation)
    placement = {b: tuple(i + lo for i, lo in zip(b, lo_hi[0])) for b in np.ndindex(size)}
    return out_size, reads, lo_hi, grid, windows, placement


def _transposed(conv, conv_t, size, kernel, stride, padding, dilation, extra):
    """As ``_direct``; the grid is the input with zeros inserted and padded, which the equivalent direct
    convolution reads with stride 1 and the kernel flipped (seed 4.5.1)."""
    nd = len(size)
    if isinstance(padding, str):
        raise TypeError(f"{OP}: padding of a transposed convolution must be an int or a tuple of {nd} ints "
                        f"(as in PyTorch), got {padding!r}")
    pad = _axes("padding", padding, nd, 0)
    zeros = tuple(d * (k - 1) - p for k, d, p in zip(kernel, dilation, pad))
    if min(zeros) < 0:
        raise ValueError(f"{OP}: padding {pad} is larger than dilation·(kernel_size − 1) = "
                         f"{tuple(d * (k - 1) for k, d in zip(kernel, dilation))}: the transposed convolution "
                         f"crops its output and has no zero-padded direct equivalent to draw")
    grid = tuple((m - 1) * s + 1 + 2 * z + e for m, s, z, e in zip(size, stride, zeros, extra))
    if any(g <= d * (k - 1) for g, k, d in zip(grid, kernel, dilation)):
        raise ValueError(f"{OP}: padding {pad} crops the output of a transposed convolution over {size} to nothing "
                         f"(output size (i − 1)·s − 2p + d·(k − 1) + output_padding + 1 < 1)")
    out_size, reads = _probe(conv_t, size, kernel, True, stride=stride, padding=pad, output_padding=extra,
                             dilation=dilation)
    _, windows = _probe(conv, grid, kernel, False, dilation=dilation)
    flip = {k: tuple(n - 1 - i for n, i in zip(kernel, k)) for k in np.ndindex(kernel)}
    windows = {t: {g: flip[k] for g, k in w.items()} for t, w in windows.items()}
    placement = {b: tuple(z + i * s for z, i, s in zip(zeros, b, stride)) for b in np.ndindex(size)}
    return out_size, reads, (pad, pad), grid, windows, placement


def conv_frames(input_size, kernel_size, stride=1, padding=0, dilation=1, transposed=False, output_padding=0):
    """The ConvArithmetic of a convolution (``transposed``: a transposed one) over ``input_size``
    (an int for a square, or a tuple (H, W) or (L,)), PyTorch's arguments; ``padding`` may also be
    "valid", "same" or "full" for a direct convolution."""
    size = _input_size(input_size)
    nd = len(size)
    kernel = _axes("kernel_size", kernel_size, nd, 1)
    stride = _axes("stride", stride, nd, 1)
    dilation = _axes("dilation", dilation, nd, 1)
    extra = _axes("output_padding", output_padding, nd, 0)
    conv, conv_t = (F.conv1d, F.conv_transpose1d) if nd == 1 else (F.conv2d, F.conv_transpose2d)
    if not isinstance(transposed, bool):
        raise TypeError(f"{OP}: transposed must be True or False, got {transposed!r}")
    if transposed:
        found = _transposed(conv, conv_t, size, kernel, stride, padding, dilation, extra)
    elif any(extra):
        raise ValueError(f"{OP}: output_padding is for transposed=True only, got {output_padding!r}")
    else:
        found = _direct(conv, size, kernel, stride, padding, dilation)
    out_size, reads, lo_hi, grid, windows, placement = found
    frames = tuple(Frame(_cells(t), {_cells(b): _cells(k) for b, k in reads[t].items()},
                         {_cells(k): _cells(g) for g, k in sorted(windows[t].items(), key=lambda gk: gk[1])})
                   for t in np.ndindex(out_size))
    return ConvArithmetic(size, kernel, stride, lo_hi, dilation, transposed, extra, tuple(out_size), grid,
                          {_cells(b): _cells(g) for b, g in placement.items()}, frames)


def animate_conv(input_size, kernel_size, stride=1, padding=0, dilation=1, transposed=False, output_padding=0,
                 format=None, path=None, frame_ms=600):
    """The animation of ``conv_frames(...)``: GIF bytes (``format="gif"``) or SVG text (``"svg"``), one
    frame of ``frame_ms`` milliseconds per output cell. ``format`` defaults to ``path``'s suffix, else
    "gif"; with a ``path`` the animation is also written there."""
    suffix = os.path.splitext(path)[1].lower().lstrip(".") if path is not None else None
    format = format or suffix or "gif"
    if format not in WRITERS:
        raise ValueError(f"animate_conv: format must be 'gif' or 'svg', got {format!r}")
    if suffix not in (None, format):
        raise ValueError(f"animate_conv: path {path!r} does not end in .{format} (format={format!r})")
    if isinstance(frame_ms, bool) or not isinstance(frame_ms, int) or frame_ms < 1:
        raise ValueError(f"animate_conv: frame_ms must be a positive int (milliseconds), got {frame_ms!r}")
    arith = conv_frames(input_size, kernel_size, stride, padding, dilation, transposed, output_padding)
    data = WRITERS[format](scene(arith), frame_ms)
    if path is not None:
        with open(path, "wb" if format == "gif" else "w", encoding=None if format == "gif" else "utf-8") as f:
            f.write(data)
    return data
