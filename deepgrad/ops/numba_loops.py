"""Compiled loops for depthwise convolution on the flat grid of ``grid.py`` (unit stride), with numba
(an optional extra: ``pip install "deepgrad[fast]"``; ``depthwise.py`` falls back to NumPy without it).

Each (n, c) plane is a flat padded row, kernel offset k reads ``row[starts[k] : starts[k] + L]``
for the L grid positions, and each loop below makes one cache-resident pass per offset over one
plane, where NumPy needs two full passes over the whole batch. NumPy arrays in, results written
into arrays the caller made; no Python objects, so threads run the loops at once (``nogil``).
"""
from numba import njit

_jit = njit(nogil=True, fastmath=True, cache=True)


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
                read, acc = row[starts[k]:starts[k] + length], gc[0] * 0
                for q in range(length):
                    acc += gc[q] * read[q]
                dw[c, k] += acc
