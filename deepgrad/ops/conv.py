"""Convolution as deep-learning layers compute it (cross-correlation, seed eq. 4.1.7), for any number
of spatial dimensions, with stride, zero padding, dilation (seed 4.5.2) and groups.

Three primitives close under differentiation, so every derivative of every order is again one of
them (seed eqs. 4.1.12 and 4.1.14, 4.3.2 and 4.3.6):

* ``conv(x, w)``            y[n,o,t] = Σ_c,k w[o,c,k] · x[n,c, t·s + k·d − lo]
* ``conv_transpose(y, w)``  its adjoint in x (seed 4.5.1: multiplying by Cᵀ; "rot180(W) ⊗̃ δ")
* ``conv_weight(x, y)``     its adjoint in w (seed eq. 4.3.2: ∂L/∂W = δ ⊗ X)

All three share the parameters (stride, lo, dilation, groups) plus one size: the output size of
``conv``, the input size for ``conv_transpose``, the kernel size for ``conv_weight``. ``lo`` is the
padding before each spatial axis; the padding after follows from the sizes (negative means cropped).
Where the compiled direct kernels are built and the batch fills their lanes (``direct.py``), all
three run there, without unfolding windows. Otherwise windows are unfolded with one strided view and
one copy (im2col, on the flat grid of ``grid.py``) into one GEMM per group; the adjoint folds back
with one strided add per kernel offset (no ``np.add.at``). Where the flat grid would waste most of
its positions (kernels large next to the image, as in LeNet-5's C3), the operands are laid out
batch-last instead (``batch_last.py``). Depthwise convolutions take per-offset multiply-adds
(``depthwise.py``). Each VJP lays out the output gradient once for both its gradients
(``sharing.py``); the weight gradient's product is taken in pieces where the weights are tiny
(``gemm.py``).
"""
from .. import backend
from ..autograd.function import Primitive
from . import batch_last, depthwise, direct, gemm, sharing
from .grid import Grid, window_input, window_output


def _spatial(a):
    return tuple(a.shape[2:])


def _is_depthwise(channels_per_group, groups):
    """One input channel per group: then per-offset multiply-adds beat many tiny GEMMs."""
    return groups > 1 and channels_per_group == 1


def im2col(x, grid, lo, groups):
    """The unfolded windows, channel-major: (groups, C/groups · ∏kernel, N · grid size), one contiguous
    buffer, so one GEMM per group multiplies the whole batch."""
    n, c = x.shape[:2]
    cols = backend.empty_aligned((c,) + grid.kernel + (n,) + grid.shape, x.dtype, backend.xp_of(x))
    grid.unfold_into(cols, window_input(x, lo, grid.extent))
    return cols.reshape(groups, -1, n * grid.numel)


class _ChannelMajor:
    """The GEMM operands for ``grid`` with positions (N, *grid) per channel: ``im2col`` and the flat
    or strided grid of ``grid.py``."""
    def __init__(self, grid):
        self.grid = grid

    def unfold(self, x, lo, groups):
        return im2col(x, self.grid, lo, groups)

    def positions(self, y, groups):
        """(N, O, *out_size) -> (groups, O/groups, N · grid size), zeros off the outputs."""
        return self.grid.to_grid(y.swapaxes(0, 1)).reshape(groups, y.shape[1] // groups, -1)

    def rows(self, y, groups):
        """``positions`` for the transposed GEMM: on a flat grid, each plane's positions run on into
        the next (``Grid.rows``), so that ``fold`` adds one long run per kernel offset."""
        return self.grid.rows(y.swapaxes(0, 1)).reshape(groups, y.shape[1] // groups, -1)

    def outputs(self, out, batch):
        """(O, N · grid size) GEMM results -> the (N, O, *out_size) outputs, a view."""
        return self.grid.from_grid(out.reshape((len(out), batch) + self.grid.shape)).swapaxes(0, 1)

    def fold(self, cols, batch, lo, size):
        """Adjoint of ``unfold`` for (C, ∏kernel, positions of ``rows``), cut to spatial ``size``."""
        return window_output(self.grid.fold_rows(cols, batch).swapaxes(0, 1), lo, size)


def _layout(grid, batch):
    return batch_last.BatchLast(grid) if batch_last.suits(grid, batch) else _ChannelMajor(grid)


def _laid_out(layout, how, x, *args):
    """``layout.<how>(x, *args)``, computed once per array within a VJP (``sharing``; the key is the
    method itself: in the batch-last layout ``rows`` and ``positions`` are one)."""
    method, g = getattr(type(layout), how), layout.grid
    return sharing.once((method, g.kernel, g.stride, g.dilation, g.size) + args, x, lambda: method(layout, x, *args))


def _empty(a, b):
    """Whether an operand is empty (an empty batch): then there is nothing to sum, and the result is
    zeros (the kernels' reshapes and GEMMs refuse empty arrays)."""
    return a.size == 0 or b.size == 0


def _zeros(like, shape):
    return backend.xp_of(like).zeros(shape, like.dtype)


def _conv_forward(x, w, stride, lo, dilation, groups, size):
    if _empty(x, w):
        return _zeros(x, (len(x), len(w)) + tuple(size))
    grid = Grid(_spatial(w), stride, dilation, size)
    if _is_depthwise(w.shape[1], groups):
        return depthwise.conv(x, w, grid, lo, groups)
    if direct.suits(x):
        return direct.conv(x, w, grid, lo, groups)
    layout = _layout(grid, len(x))
    out = w.reshape(groups, w.shape[0] // groups, -1) @ _laid_out(layout, "unfold", x, tuple(lo), groups)
    return layout.outputs(out.reshape(w.shape[0], -1), len(x))


def _conv_transpose_forward(y, w, stride, lo, dilation, groups, size):
    if _empty(y, w):
        return _zeros(y, (len(y), w.shape[1] * groups) + tuple(size))
    grid = Grid(_spatial(w), stride, dilation, _spatial(y))
    if _is_depthwise(w.shape[1], groups):
        return depthwise.conv_transpose(y, w, grid, lo, groups, size)
    if direct.suits(y):
        return direct.conv_transpose(y, w, grid, lo, groups, size)
    layout = _layout(grid, len(y))
    wt = w.reshape(groups, w.shape[0] // groups, -1).swapaxes(-1, -2)
    cols = wt @ _laid_out(layout, "rows", y, groups)
    return layout.fold(cols.reshape(groups * w.shape[1], len(grid.offsets), -1), len(y), lo, size)


def _conv_weight_forward(x, y, stride, lo, dilation, groups, kernel):
    if _empty(x, y):
        return _zeros(x, (y.shape[1], x.shape[1] // groups) + tuple(kernel))
    grid = Grid(kernel, stride, dilation, _spatial(y))
    if _is_depthwise(x.shape[1] // groups, groups):
        return depthwise.conv_weight(x, y, grid, lo, groups)
    if direct.suits(x):
        return direct.conv_weight(x, y, grid, lo, groups)
    layout = _layout(grid, len(x))
    # dwᵀ = cols · yᵀ: with the long contraction this way round OpenBLAS runs up to twice as fast
    cols = _laid_out(layout, "unfold", x, tuple(lo), groups)
    dw = gemm.inner(cols, _laid_out(layout, "positions", y, groups)).swapaxes(-1, -2)
    return dw.reshape((y.shape[1], x.shape[1] // groups) + tuple(kernel))


def _bilinear_jvp(op, tangents, a, b, params):
    """The tangent of op(a, b) for an op linear in each argument: op(ta, b) + op(a, tb)."""
    ta, tb = tangents
    first = None if ta is None else op(ta, b, *params)
    second = None if tb is None else op(a, tb, *params)
    return second if first is None else first if second is None else first + second


class Conv(Primitive):
    """y = w ⊗ x: cross-correlation with stride, padding ``lo``, dilation and groups (seed eq. 4.2.2)."""
    saved = (0, 1)
    def forward(self, x, w, stride, lo, dilation, groups, size):
        return _conv_forward(x, w, stride, lo, dilation, groups, size)

    def vjp(self, g, out, x, w, stride, lo, dilation, groups, size):
        with sharing.scope():    # both gradients read g laid out the same way
            return (conv_transpose(g, w, stride, lo, dilation, groups, _spatial(x)) if x.requires_grad else None,
                    conv_weight(x, g, stride, lo, dilation, groups, _spatial(w)) if w.requires_grad else None)

    def jvp(self, tangents, out, x, w, stride, lo, dilation, groups, size):
        return _bilinear_jvp(conv, tangents, x, w, (stride, lo, dilation, groups, size))


class ConvTranspose(Primitive):
    """The adjoint of ``conv`` in its input: each y[n,o,t] spreads w[o,c,k]·y over x[n,c,t·s+k·d−lo]
    (seed 4.5.1, transposed / fractionally-strided convolution; seed eq. 4.1.14 for the input gradient)."""
    saved = (0, 1)
    def forward(self, y, w, stride, lo, dilation, groups, size):
        return _conv_transpose_forward(y, w, stride, lo, dilation, groups, size)

    def vjp(self, g, out, y, w, stride, lo, dilation, groups, size):
        with sharing.scope():    # both gradients read the windows of g
            return (conv(g, w, stride, lo, dilation, groups, _spatial(y)) if y.requires_grad else None,
                    conv_weight(g, y, stride, lo, dilation, groups, _spatial(w)) if w.requires_grad else None)

    def jvp(self, tangents, out, y, w, stride, lo, dilation, groups, size):
        return _bilinear_jvp(conv_transpose, tangents, y, w, (stride, lo, dilation, groups, size))


class ConvWeight(Primitive):
    """The adjoint of ``conv`` in its weight: dw[o,c,k] = Σ_n,t y[n,o,t] · x[n,c,t·s+k·d−lo]
    (seed eq. 4.3.2: ∂L/∂W = δ ⊗ X)."""
    saved = (0, 1)
    def forward(self, x, y, stride, lo, dilation, groups, size):
        return _conv_weight_forward(x, y, stride, lo, dilation, groups, size)

    def vjp(self, g, out, x, y, stride, lo, dilation, groups, size):
        return (conv_transpose(y, g, stride, lo, dilation, groups, _spatial(x)) if x.requires_grad else None,
                conv(x, g, stride, lo, dilation, groups, _spatial(y)) if y.requires_grad else None)

    def jvp(self, tangents, out, x, y, stride, lo, dilation, groups, size):
        return _bilinear_jvp(conv_weight, tangents, x, y, (stride, lo, dilation, groups, size))


_conv, _conv_transpose, _conv_weight = Conv(), ConvTranspose(), ConvWeight()


def _params(stride, lo, dilation, groups, size):
    return {"stride": tuple(stride), "lo": tuple(lo), "dilation": tuple(dilation), "groups": int(groups),
            "size": tuple(size)}


def conv(x, w, stride, lo, dilation, groups, size):
    """Primitive cross-correlation producing spatial ``size`` (arguments already validated)."""
    return _conv(x, w, **_params(stride, lo, dilation, groups, size))


def conv_transpose(y, w, stride, lo, dilation, groups, size):
    """Primitive adjoint of ``conv`` in x, producing spatial ``size``."""
    return _conv_transpose(y, w, **_params(stride, lo, dilation, groups, size))


def conv_weight(x, y, stride, lo, dilation, groups, size):
    """Primitive adjoint of ``conv`` in w, producing a kernel of spatial ``size``."""
    return _conv_weight(x, y, **_params(stride, lo, dilation, groups, size))
