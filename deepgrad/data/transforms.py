"""Image transforms for data loading and augmentation, in NumPy (torchvision's names and meanings).

Every transform takes one image ``(C, H, W)`` (or ``(H, W)``) or a batch ``(N, C, H, W)``, as a NumPy
array or a Tensor, and returns the same kind (``ToTensor`` returns a Tensor); random transforms draw
independent parameters for each image of a batch. Transforms are for data, not for the graph: they do
not record gradients.

Random numbers come from the transform's ``generator`` when one is given, else from the per-batch
generator a ``DataLoader`` installs while it loads a batch, else from deepgrad's default generator,
so ``dg.manual_seed`` makes augmentation reproducible (see ``deepgrad.data.current_generator``).
"""
import numbers

from .. import backend
from ..autograd.tensor import Tensor
from ._random import current_generator

np = backend.numpy

__all__ = ["Compose", "ToTensor", "Normalize", "Pad", "Resize", "CenterCrop", "RandomCrop", "RandomHorizontalFlip",
           "RandomVerticalFlip", "RandomAffine", "Lambda"]


def _pair(value, name):
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, numbers.Integral) for v in value):
        return int(value[0]), int(value[1])
    raise ValueError(f"{name}: expected an int or a pair (h, w) of ints, got {value!r}")


class Transform:
    """Base class: ``__call__`` accepts (H, W), (C, H, W) or (N, C, H, W), array or Tensor; subclasses
    implement ``apply(batch, rng)`` on a float or integer array (N, C, H, W)."""
    batched = True      # apply() handles whole batches (DataLoader's fast path uses this)
    random = False

    def __init__(self, generator=None):
        self.generator = generator

    def __call__(self, x):
        is_tensor = isinstance(x, Tensor)
        a = x.array if is_tensor else np.asarray(x)
        if a.ndim not in (2, 3, 4):
            raise ValueError(f"{type(self).__name__}: expected an image (C, H, W) or (H, W) or a batch "
                             f"(N, C, H, W), got shape {a.shape}")
        batch = a.reshape((1, 1) + a.shape) if a.ndim == 2 else a[None] if a.ndim == 3 else a
        rng = current_generator(self.generator) if self.random else None
        out = self.apply(batch, rng)
        if a.ndim == 2:
            out = out[0, 0]
        elif a.ndim == 3:
            out = out[0]
        return Tensor.wrap(out) if is_tensor else out

    def apply(self, batch, rng):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"

    def extra_repr(self):
        return ""


class Compose:
    """Apply ``transforms`` one after another."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: {t!r} is not callable")

    @property
    def batched(self):
        return all(getattr(t, "batched", False) for t in self.transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self):
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class Lambda:
    """Wrap a function as a transform (applied per image: not batched)."""
    batched = False

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError("Lambda: fn must be callable")
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)


class ToTensor:
    """To a float32 Tensor (C, H, W) in [0, 1], as torchvision: a PIL image or an integer NumPy image
    (H, W) or (H, W, C) (uint8: divided by 255) is moved to channels-first; a floating NumPy array is
    taken as already (C, H, W) / (N, C, H, W) (or (H, W): a channel is added) and only wrapped; a Tensor
    is returned as it is."""
    batched = True

    def __call__(self, x):
        if isinstance(x, Tensor):
            return x
        if not isinstance(x, np.ndarray) and hasattr(x, "mode") and hasattr(x, "size"):   # a PIL image
            x = np.asarray(x)
        a = np.asarray(x)
        if a.dtype.kind in "iub":
            if a.ndim == 2:
                a = a[:, :, None]
            if a.ndim == 3:
                a = a.transpose(2, 0, 1)
            elif a.ndim == 4:
                a = a.transpose(0, 3, 1, 2)
            else:
                raise ValueError(f"ToTensor: expected an image (H, W) or (H, W, C), got shape {a.shape}")
            scale = 255.0 if a.dtype == np.uint8 else 1.0
            return Tensor.wrap(np.ascontiguousarray(a, dtype=np.float32) / np.float32(scale))
        if a.dtype.kind != "f":
            raise TypeError(f"ToTensor: cannot convert an array of dtype {a.dtype}")
        if a.ndim == 2:
            a = a[None]
        if a.ndim not in (3, 4):
            raise ValueError(f"ToTensor: expected (C, H, W) or (N, C, H, W), got shape {a.shape}")
        return Tensor.wrap(a.astype(np.float32, copy=False))

    def __repr__(self):
        return "ToTensor()"


class Normalize(Transform):
    """``(x - mean[c]) / std[c]`` for each channel c (float32 for non-float input)."""

    def __init__(self, mean, std):
        super().__init__()
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        if self.mean.ndim != 1 or self.std.ndim != 1:
            raise ValueError("Normalize: mean and std must be numbers or sequences, one per channel")
        if np.any(self.std == 0):
            raise ValueError(f"Normalize: std must be non-zero, got {self.std.tolist()}")

    def apply(self, batch, rng):
        c = batch.shape[1]
        for name, v in (("mean", self.mean), ("std", self.std)):
            if len(v) not in (1, c):
                raise ValueError(f"Normalize: {len(v)} {name} values for an image with {c} channels")
        dtype = batch.dtype if batch.dtype.kind == "f" else np.float32
        mean = self.mean.astype(dtype).reshape(1, -1, 1, 1)
        std = self.std.astype(dtype).reshape(1, -1, 1, 1)
        return (batch.astype(dtype, copy=False) - mean) / std

    def extra_repr(self):
        return f"mean={self.mean.tolist()}, std={self.std.tolist()}"


def _padding4(padding, name):
    """torchvision order: an int (all sides), (left/right, top/bottom) or (left, top, right, bottom)."""
    if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        p = (padding,) * 4
    elif isinstance(padding, (tuple, list)) and len(padding) == 2:
        p = (padding[0], padding[1], padding[0], padding[1])
    elif isinstance(padding, (tuple, list)) and len(padding) == 4:
        p = tuple(padding)
    else:
        raise ValueError(f"{name}: padding must be an int, (lr, tb) or (left, top, right, bottom), got {padding!r}")
    if any(not isinstance(v, numbers.Integral) or v < 0 for v in p):
        raise ValueError(f"{name}: padding must be non-negative ints, got {padding!r}")
    return tuple(int(v) for v in p)


_PAD_MODES = {"constant": "constant", "edge": "edge", "reflect": "reflect", "symmetric": "symmetric"}


def _pad(batch, left, top, right, bottom, fill, mode):
    widths = ((0, 0), (0, 0), (top, bottom), (left, right))
    if mode == "constant":
        return np.pad(batch, widths, mode="constant", constant_values=fill)
    return np.pad(batch, widths, mode=_PAD_MODES[mode])


class Pad(Transform):
    """Pad the borders: ``padding`` an int, (left/right, top/bottom) or (left, top, right, bottom);
    ``padding_mode`` 'constant' (with ``fill``), 'edge', 'reflect' or 'symmetric'."""

    def __init__(self, padding, fill=0, padding_mode="constant"):
        super().__init__()
        self.padding = _padding4(padding, "Pad")
        if padding_mode not in _PAD_MODES:
            raise ValueError(f"Pad: padding_mode must be one of {sorted(_PAD_MODES)}, got {padding_mode!r}")
        self.fill, self.padding_mode = fill, padding_mode

    def apply(self, batch, rng):
        return _pad(batch, *self.padding, self.fill, self.padding_mode)

    def extra_repr(self):
        return f"padding={self.padding}, fill={self.fill}, padding_mode={self.padding_mode!r}"


def _resize_axis(n_in, n_out):
    """Source indices and weights for bilinear resampling with half-pixel centres (align_corners=False)."""
    pos = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    pos = np.maximum(pos, 0.0)
    i0 = np.minimum(np.floor(pos).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w1 = pos - i0
    return i0, i1, w1


class Resize(Transform):
    """Bilinear resize, as ``torch.nn.functional.interpolate(mode='bilinear', align_corners=False)``
    (no antialiasing). ``size`` (h, w), or an int: the smaller edge becomes ``size``, the aspect ratio
    is kept (torchvision)."""

    def __init__(self, size):
        super().__init__()
        if isinstance(size, numbers.Integral) and not isinstance(size, bool):
            if size <= 0:
                raise ValueError(f"Resize: size must be positive, got {size}")
            self.size = int(size)
        else:
            self.size = _pair(size, "Resize")
            if min(self.size) <= 0:
                raise ValueError(f"Resize: size must be positive, got {size!r}")

    def _target(self, h, w):
        if isinstance(self.size, tuple):
            return self.size
        if h <= w:
            return self.size, int(self.size * w / h)
        return int(self.size * h / w), self.size

    def apply(self, batch, rng):
        h, w = batch.shape[-2:]
        oh, ow = self._target(h, w)
        dtype = batch.dtype if batch.dtype.kind == "f" else np.float32
        x = batch.astype(dtype, copy=False)
        if (oh, ow) == (h, w):
            return x.copy()
        r0, r1, wr = _resize_axis(h, oh)
        c0, c1, wc = _resize_axis(w, ow)
        wr = wr.astype(dtype)[:, None]
        wc = wc.astype(dtype)
        rows = x[:, :, r0, :] * (1 - wr) + x[:, :, r1, :] * wr
        out = rows[:, :, :, c0] * (1 - wc) + rows[:, :, :, c1] * wc
        if batch.dtype.kind in "iu":
            info = np.iinfo(batch.dtype)
            out = np.clip(np.rint(out), info.min, info.max).astype(batch.dtype)
        return out

    def extra_repr(self):
        return f"size={self.size}"


class CenterCrop(Transform):
    """Crop the centre ``size`` (int or (h, w)); the image must be at least that large."""

    def __init__(self, size):
        super().__init__()
        self.size = _pair(size, "CenterCrop")

    def apply(self, batch, rng):
        h, w = batch.shape[-2:]
        th, tw = self.size
        if th > h or tw > w:
            raise ValueError(f"CenterCrop: crop size {self.size} is larger than the image ({h}, {w})")
        top, left = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
        return batch[:, :, top:top + th, left:left + tw].copy()

    def extra_repr(self):
        return f"size={self.size}"


class RandomCrop(Transform):
    """Crop a random ``size`` window (int or (h, w)), after padding the image by ``padding`` (as ``Pad``;
    the standard CIFAR augmentation is ``RandomCrop(32, padding=4)``). ``pad_if_needed`` pads an image
    smaller than ``size``. One window per image of a batch."""
    random = True

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant", generator=None):
        super().__init__(generator)
        self.size = _pair(size, "RandomCrop")
        self.padding = None if padding is None else _padding4(padding, "RandomCrop")
        if padding_mode not in _PAD_MODES:
            raise ValueError(f"RandomCrop: padding_mode must be one of {sorted(_PAD_MODES)}, got {padding_mode!r}")
        self.pad_if_needed, self.fill, self.padding_mode = bool(pad_if_needed), fill, padding_mode

    def apply(self, batch, rng):
        if self.padding is not None:
            batch = _pad(batch, *self.padding, self.fill, self.padding_mode)
        th, tw = self.size
        h, w = batch.shape[-2:]
        if self.pad_if_needed and (h < th or w < tw):
            dh, dw = max(th - h, 0), max(tw - w, 0)
            batch = _pad(batch, dw, dh, dw, dh, self.fill, self.padding_mode)
            h, w = batch.shape[-2:]
        if h < th or w < tw:
            raise ValueError(f"RandomCrop: crop size {self.size} is larger than the (padded) image ({h}, {w}); "
                             "use padding or pad_if_needed=True")
        n = batch.shape[0]
        tops = rng.integers(0, h - th + 1, size=n)
        lefts = rng.integers(0, w - tw + 1, size=n)
        out = np.empty(batch.shape[:2] + (th, tw), dtype=batch.dtype)
        for i in range(n):
            out[i] = batch[i, :, tops[i]:tops[i] + th, lefts[i]:lefts[i] + tw]
        return out

    def extra_repr(self):
        return f"size={self.size}, padding={self.padding}"


class RandomHorizontalFlip(Transform):
    """Mirror left-right with probability ``p`` (independently for each image of a batch)."""
    random = True

    def __init__(self, p=0.5, generator=None):
        super().__init__(generator)
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = float(p)

    def apply(self, batch, rng):
        flip = rng.random(batch.shape[0]) < self.p
        out = batch.copy()
        out[flip] = batch[flip][..., ::-1]
        return out

    def extra_repr(self):
        return f"p={self.p}"


class RandomVerticalFlip(Transform):
    """Mirror top-bottom with probability ``p`` (independently for each image of a batch)."""
    random = True

    def __init__(self, p=0.5, generator=None):
        super().__init__(generator)
        if not 0 <= p <= 1:
            raise ValueError(f"RandomVerticalFlip: p must be in [0, 1], got {p}")
        self.p = float(p)

    def apply(self, batch, rng):
        flip = rng.random(batch.shape[0]) < self.p
        out = batch.copy()
        out[flip] = batch[flip][..., ::-1, :]
        return out

    def extra_repr(self):
        return f"p={self.p}"


def _range(value, name, centre=0.0, nonneg=True):
    if value is None:
        return None
    if isinstance(value, numbers.Real):
        if nonneg and value < 0:
            raise ValueError(f"RandomAffine: {name} must be non-negative when a single number, got {value}")
        return (centre - float(value), centre + float(value))
    if isinstance(value, (tuple, list)) and len(value) == 2 and value[0] <= value[1]:
        return (float(value[0]), float(value[1]))
    raise ValueError(f"RandomAffine: {name} must be a number or a (min, max) pair, got {value!r}")


def affine_grid_sample(batch, matrices, fill=0.0):
    """Warp each image of ``batch`` (N, C, H, W) by the 2x3 affine map ``matrices[n]`` (N, 2, 3), given in
    pixel coordinates centred on the image centre, from input to output. Each output pixel is
    inverse-mapped into the input and sampled bilinearly; points outside the input read ``fill``."""
    n, c, h, w = batch.shape
    dtype = batch.dtype if batch.dtype.kind == "f" else np.float32
    x = batch.astype(dtype, copy=False)
    a = matrices[:, :, :2]
    t = matrices[:, :, 2]
    det = a[:, 0, 0] * a[:, 1, 1] - a[:, 0, 1] * a[:, 1, 0]
    if np.any(np.abs(det) < 1e-12):
        raise ValueError("affine_grid_sample: a matrix is singular")
    inv = np.empty_like(a)
    inv[:, 0, 0], inv[:, 0, 1] = a[:, 1, 1] / det, -a[:, 0, 1] / det
    inv[:, 1, 0], inv[:, 1, 1] = -a[:, 1, 0] / det, a[:, 0, 0] / det
    # source coordinates of every output pixel (float32: exact for the integer and half-integer grid)
    f32 = np.float32
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    ys = (np.arange(h, dtype=f32) - f32(cy))[None, :, None]
    xs = (np.arange(w, dtype=f32) - f32(cx))[None, None, :]
    inv, t = inv.astype(f32), t.astype(f32)
    u = xs - t[:, 0, None, None]                # output pixel minus translation
    v = ys - t[:, 1, None, None]
    sx = inv[:, 0, 0, None, None] * u + inv[:, 0, 1, None, None] * v + f32(cx)     # (N, H, W)
    sy = inv[:, 1, 0, None, None] * u + inv[:, 1, 1, None, None] * v + f32(cy)
    # sample from the image framed by one pixel of ``fill``: corners outside it all land on the frame
    fx = np.clip(np.floor(sx), -1, w)
    fy = np.clip(np.floor(sy), -1, h)
    wx = np.clip(sx - fx, 0, 1).astype(dtype)[:, None]
    wy = np.clip(sy - fy, 0, 1).astype(dtype)[:, None]
    pw, plane = w + 2, (h + 2) * (w + 2)
    framed = np.full((n, c, h + 2, w + 2), fill, dtype=dtype)
    framed[:, :, 1:-1, 1:-1] = x
    flat = framed.reshape(n * c, plane)
    corner = ((fy + 1) * pw + (fx + 1)).astype(np.intp)        # (N, H, W) top-left corners in the framed plane
    right = (fx < w).astype(np.intp)                            # the frame's last column has none to its right
    below = np.where(fy < h, pw, 0).astype(np.intp)
    rows = (np.arange(n * c, dtype=np.intp) * plane).reshape(n, c, 1, 1)
    flat = flat.ravel()
    tl = rows + corner[:, None]
    tr = tl + right[:, None]
    bl = tl + below[:, None]
    br = bl + right[:, None]
    upper = flat[tl] * (1 - wx) + flat[tr] * wx
    lower = flat[bl] * (1 - wx) + flat[br] * wx
    out = upper * (1 - wy) + lower * wy
    if batch.dtype.kind in "iu":
        info = np.iinfo(batch.dtype)
        out = np.clip(np.rint(out), info.min, info.max).astype(batch.dtype)
    return out


class RandomAffine(Transform):
    """Random rotation, translation, scaling and horizontal shear about the image centre: the planar
    distortions LeCun et al. (1998) used to enlarge MNIST. Inverse-mapped bilinear sampling in NumPy.

    degrees: a rotation angle drawn uniformly from (-degrees, degrees) or (min, max), counter-clockwise
    as displayed. translate: (a, b): shifts drawn from (-a*W, a*W) and (-b*H, b*H) pixels (sub-pixel).
    scale: (lo, hi): a zoom factor drawn from [lo, hi]. shear: an x-shear angle in degrees from
    (-shear, shear) or (min, max). fill: the value outside the image. Independent draws per image;
    all parameters zero/None gives back the input exactly.
    """
    random = True

    def __init__(self, degrees, translate=None, scale=None, shear=None, fill=0.0, generator=None):
        super().__init__(generator)
        self.degrees = _range(degrees, "degrees")
        if translate is not None:
            if (not isinstance(translate, (tuple, list)) or len(translate) != 2
                    or not all(0 <= float(v) <= 1 for v in translate)):
                raise ValueError(f"RandomAffine: translate must be a pair of fractions in [0, 1], got {translate!r}")
            translate = (float(translate[0]), float(translate[1]))
        self.translate = translate
        if scale is not None:
            if (not isinstance(scale, (tuple, list)) or len(scale) != 2 or not 0 < scale[0] <= scale[1]):
                raise ValueError(f"RandomAffine: scale must be a pair 0 < lo <= hi, got {scale!r}")
            scale = (float(scale[0]), float(scale[1]))
        self.scale = scale
        self.shear = _range(shear, "shear")
        self.fill = float(fill)

    def sample_matrices(self, n, h, w, rng):
        """Draw ``n`` forward 2x3 matrices (centred pixel coordinates) for images of size (h, w)."""
        angle = np.deg2rad(rng.uniform(*self.degrees, size=n)) if self.degrees is not None else np.zeros(n)
        if self.translate is not None:
            tx = rng.uniform(-self.translate[0] * w, self.translate[0] * w, size=n)
            ty = rng.uniform(-self.translate[1] * h, self.translate[1] * h, size=n)
        else:
            tx = ty = np.zeros(n)
        s = rng.uniform(*self.scale, size=n) if self.scale is not None else np.ones(n)
        sh = np.tan(np.deg2rad(rng.uniform(*self.shear, size=n))) if self.shear is not None else np.zeros(n)
        cos, sin = np.cos(angle), np.sin(angle)
        # rotation (y axis points down, so counter-clockwise on screen) @ scale @ x-shear
        m = np.empty((n, 2, 3))
        m[:, 0, 0] = s * cos
        m[:, 0, 1] = s * (cos * sh + sin)
        m[:, 1, 0] = -s * sin
        m[:, 1, 1] = s * (-sin * sh + cos)
        m[:, 0, 2] = tx
        m[:, 1, 2] = ty
        return m

    def apply(self, batch, rng):
        n, _, h, w = batch.shape
        return affine_grid_sample(batch, self.sample_matrices(n, h, w, rng), self.fill)

    def extra_repr(self):
        return f"degrees={self.degrees}, translate={self.translate}, scale={self.scale}, shear={self.shear}"
