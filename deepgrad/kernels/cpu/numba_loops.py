"""Compiled loops, with numba (an optional extra: ``pip install "deepgrad[fast]"``; without it the
callers run their NumPy code): depthwise convolution on the flat grid of ``grid.py`` (unit stride),
and im2col and its fold on strided grids for the GEMM-based convolutions.

On a flat grid (unit stride) each (n, c) plane is a flat padded row and kernel offset k reads
``row[starts[k] : starts[k] + L]`` for the L grid positions; the depthwise loops make one
cache-resident pass per offset over one plane, where NumPy needs two full passes over the whole
batch. On strided grids (1-D as one row, or 2-D) window rows are read from column phases, where
NumPy would copy element by element. NumPy arrays in, results written into arrays the caller made,
no Python objects: the loops release the GIL (``nogil``), so the callers split them over threads
without NumPy's many short GIL hand-offs.
"""
import numpy as np
from numba import njit

_jit = njit(nogil=True, fastmath={"reassoc", "contract"}, cache=True)   # no "nnan": NaN must stay NaN


@_jit
def taps(padded, w, starts, out):
    """out[n, c, q] = Σ_k w[c, k] · padded[n, c, starts[k] + q] (the forward convolution)."""
    length = out.shape[2]
    for n in range(out.shape[0]):
        for c in range(out.shape[1]):
            o, row = out[n, c], padded[n, c]
            read, wk = row[starts[0]:starts[0] + length], w[c, 0]
            for q in range(length):
                o[q] = wk * read[q]
            for k in range(1, len(starts)):
                read, wk = row[starts[k]:starts[k] + length], w[c, k]
                for q in range(length):
                    o[q] += wk * read[q]


@_jit
def scatter_taps(g, w, starts, buf):
    """The adjoint of ``taps`` in the input: buf[n, c, starts[k] + q] += w[c, k] · g[n, c, q], from zero."""
    length = g.shape[2]
    for n in range(g.shape[0]):
        for c in range(g.shape[1]):
            row, gc = buf[n, c], g[n, c]
            row[:] = 0
            for k in range(len(starts)):
                write, wk = row[starts[k]:starts[k] + length], w[c, k]
                for q in range(length):
                    write[q] += wk * gc[q]


@_jit
def tap_dots(padded, g, starts, dw):
    """The adjoint of ``taps`` in the weights: dw[c, k] += Σ_n,q g[n, c, q] · padded[n, c, starts[k] + q]."""
    length = g.shape[2]
    for n in range(g.shape[0]):
        for c in range(g.shape[1]):
            row, gc = padded[n, c], g[n, c]
            for k in range(len(starts)):
                read = row[starts[k]:starts[k] + length]
                acc = gc[0] * read[0]          # not 0·gc[0], which is NaN where gc[0] is ±inf
                for q in range(1, length):
                    acc += gc[q] * read[q]
                dw[c, k] += acc


@_jit
def unfold_strided(padded, sh, sw, dh, dw, cols):
    """im2col for strides > 1:
    cols[c, ky, kx, n, i, j] = padded[n, c, i·sh + ky·dh, j·sw + kx·dw]. Each plane is first split
    into its sw column phases (x = u·sw + r), so that every window row is a contiguous run of one phase."""
    kh, kw, oh, ow = cols.shape[1], cols.shape[2], cols.shape[4], cols.shape[5]
    eh, ew = padded.shape[2], padded.shape[3]
    phases = np.zeros((eh, sw, (ew + sw - 1) // sw), padded.dtype)
    for c in range(cols.shape[0]):
        for n in range(cols.shape[3]):
            for y in range(eh):
                row = padded[n, c, y]
                for r in range(sw):
                    phase = phases[y, r]
                    for u in range((ew - r + sw - 1) // sw):
                        phase[u] = row[u * sw + r]
            for ky in range(kh):
                for kx in range(kw):
                    r, u = (kx * dw) % sw, (kx * dw) // sw
                    for i in range(oh):
                        src, dst = phases[i * sh + ky * dh, r, u:u + ow], cols[c, ky, kx, n, i]
                        for j in range(ow):
                            dst[j] = src[j]


@_jit
def fold_strided(cols, sh, sw, dh, dw, buf):
    """The adjoint of ``unfold_strided``: buf[a, n, i·sh + ky·dh, j·sw + kx·dw] += cols[a, ky, kx, n, i, j],
    from zero, summed on column phases and interleaved once at the end."""
    kh, kw, oh, ow = cols.shape[1], cols.shape[2], cols.shape[4], cols.shape[5]
    eh, ew = buf.shape[2], buf.shape[3]
    phases = np.empty((eh, sw, (ew + sw - 1) // sw), buf.dtype)
    for a in range(cols.shape[0]):
        for n in range(cols.shape[3]):
            phases[:] = 0
            for ky in range(kh):
                for kx in range(kw):
                    r, u = (kx * dw) % sw, (kx * dw) // sw
                    for i in range(oh):
                        src, dst = cols[a, ky, kx, n, i], phases[i * sh + ky * dh, r, u:u + ow]
                        for j in range(ow):
                            dst[j] += src[j]
            for y in range(eh):
                row = buf[a, n, y]
                for r in range(sw):
                    phase = phases[y, r]
                    for u in range((ew - r + sw - 1) // sw):
                        row[u * sw + r] = phase[u]
