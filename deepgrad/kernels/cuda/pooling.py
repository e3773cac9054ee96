"""Max pooling on CUDA as CuPy elementwise kernels, one thread per output (or per input element for the
route back), where the generic kernels would launch a few kernels per window offset: the maximum and
its window offset in one pass, the pick of an element by its offset, and its adjoint, the route back,
gathered per input element over the windows that cover it (deterministic: no atomic adds). Windows of
1–3 spatial axes are laid out as 3-D ones (unit axes in front). Sums and spreads (mean pooling) stay
generic: one strided add per offset.
"""

import cupy

from ..generic.pooling import Pooling

_DECLARE = ("int32 D, int32 H, int32 W, int32 OD, int32 OH, int32 OW, int32 KD, int32 KH, int32 KW, "
            "int32 SD, int32 SH, int32 SW, int32 PD, int32 PH, int32 PW, int32 DD, int32 DH, int32 DW")

_OUTPUT = """
    long long o = i;
    const int ow = o % OW; o /= OW;
    const int oh = o % OH; o /= OH;
    const int od = o % OD; o /= OD;
    const long long plane = o * D * H * W;
"""

_MAX = cupy.ElementwiseKernel(
    "raw T x, " + _DECLARE, "T y, int32 offset", _OUTPUT + """
    T best = (T)(-INFINITY);
    int arg = 0, t = 0;
    bool nan = false;
    for (int kd = 0; kd < KD; kd++) for (int kh = 0; kh < KH; kh++) for (int kw = 0; kw < KW; kw++, t++) {
        const int d = od * SD - PD + kd * DD, h = oh * SH - PH + kh * DH, w = ow * SW - PW + kw * DW;
        if (d < 0 || d >= D || h < 0 || h >= H || w < 0 || w >= W) continue;
        const T v = x[plane + ((long long)d * H + h) * W + w];
        if (v != v) { best = v; arg = t; nan = true; }            // the last NaN, as PyTorch
        else if (!nan && v > best) { best = v; arg = t; }          // the first maximum
    }
    y = best;
    offset = arg;
""", "deepgrad_window_max")

_PICK = cupy.ElementwiseKernel(
    "raw T x, int32 offset, " + _DECLARE, "T y", _OUTPUT + """
    const int kw = offset % KW, kh = (offset / KW) % KH, kd = offset / (KW * KH);
    const int d = od * SD - PD + kd * DD, h = oh * SH - PH + kh * DH, w = ow * SW - PW + kw * DW;
    y = (d < 0 || d >= D || h < 0 || h >= H || w < 0 || w >= W) ? (T)0 : x[plane + ((long long)d * H + h) * W + w];
""", "deepgrad_window_pick")

_ROUTE = cupy.ElementwiseKernel(
    "raw T g, raw I offsets, " + _DECLARE, "T x", """
    long long p = i;
    const int w = p % W; p /= W;
    const int h = p % H; p /= H;
    const int d = p % D; p /= D;
    const long long plane = p * OD * OH * OW;
    T total = 0;
    int t = 0;
    for (int kd = 0; kd < KD; kd++) for (int kh = 0; kh < KH; kh++) for (int kw = 0; kw < KW; kw++, t++) {
        const int ad = d + PD - kd * DD, ah = h + PH - kh * DH, aw = w + PW - kw * DW;
        if (ad < 0 || ah < 0 || aw < 0 || ad % SD || ah % SH || aw % SW) continue;
        const int od = ad / SD, oh = ah / SH, ow = aw / SW;
        if (od >= OD || oh >= OH || ow >= OW) continue;
        const long long at = plane + ((long long)od * OH + oh) * OW + ow;
        if (offsets[at] == t) total += g[at];
    }
    x = total;
""", "deepgrad_window_route")


def _geometry(spatial, size, kernel, stride, lo, dilation):
    """The 18 int32 arguments of the kernels: in sizes, out sizes, kernel, stride, padding, dilation,
    each as 3 axes (unit axes in front)."""
    pad = 3 - len(kernel)
    parts = [(1,) * pad + tuple(spatial), (1,) * pad + tuple(size), (1,) * pad + tuple(kernel),
             (1,) * pad + tuple(stride), (0,) * pad + tuple(lo), (1,) * pad + tuple(dilation)]
    return tuple(cupy.int32(v) for part in parts for v in part)


def _floating(x):
    """float32 or float64: the types the kernels are written for (float16 takes the generic ones)."""
    return x.dtype.char in "fd"


class CudaPooling(Pooling):
    """``generic.pooling.Pooling`` with max pooling's kernels fused (float32 and float64 arrays)."""

    def _max(self, x, kernel, stride, lo, dilation, size):
        x = cupy.ascontiguousarray(x)
        y = cupy.empty(x.shape[:2] + tuple(size), x.dtype)
        offsets = cupy.empty(y.shape, cupy.int32)
        _MAX(x, *_geometry(x.shape[2:], size, kernel, stride, lo, dilation), y, offsets)
        return y, offsets

    def window_max(self, x, kernel, stride, lo, dilation, size):
        if not _floating(x) or x.size == 0:
            return super().window_max(x, kernel, stride, lo, dilation, size)
        return self._max(x, kernel, stride, lo, dilation, size)[0]

    def max_offsets(self, x, out, kernel, stride, lo, dilation, size):
        if not _floating(x) or x.size == 0:
            return super().max_offsets(x, out, kernel, stride, lo, dilation, size)
        return self._max(x, kernel, stride, lo, dilation, size)[1]

    def window_pick(self, x, offsets, kernel, stride, lo, dilation, size):
        if not _floating(x) or x.size == 0:
            return super().window_pick(x, offsets, kernel, stride, lo, dilation, size)
        y = cupy.empty(x.shape[:2] + tuple(size), x.dtype)
        _PICK(cupy.ascontiguousarray(x), offsets.astype(cupy.int32, copy=False),
              *_geometry(x.shape[2:], size, kernel, stride, lo, dilation), y)
        return y

    def window_route(self, y, offsets, kernel, stride, lo, dilation, size):
        if not _floating(y) or y.size == 0:
            return super().window_route(y, offsets, kernel, stride, lo, dilation, size)
        x = cupy.empty(y.shape[:2] + tuple(size), y.dtype)
        _ROUTE(cupy.ascontiguousarray(y), cupy.ascontiguousarray(offsets),
               *_geometry(size, y.shape[2:], kernel, stride, lo, dilation), x)
        return x
