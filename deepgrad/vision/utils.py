"""torchvision.utils' ``make_grid`` and ``save_image``: a batch of images tiled into one picture."""
import math

from .. import backend
from ..autograd.tensor import Tensor

np = backend.numpy


def make_grid(tensor, nrow=8, padding=2, normalize=False, value_range=None, scale_each=False, pad_value=0.0):
    """Images (B, C, H, W), or a list of (C, H, W), tiled ``nrow`` per row with ``padding`` pixels of
    ``pad_value`` around each, as a (C, H', W') tensor (torchvision's rules: one channel becomes three;
    ``normalize`` maps ``value_range``, or each batch's/image's min..max, to 0..1)."""
    images = _as_batch(tensor)
    if normalize:
        images = images.copy()
        for block in (images if scale_each else [images]):
            lo, hi = value_range if value_range is not None else (block.min(), block.max())
            np.clip(block, lo, hi, out=block)
            block -= lo
            block /= max(hi - lo, 1e-5)
    if images.shape[0] == 1:
        return Tensor.wrap(images[0])
    n, c, h, w = images.shape
    columns = min(nrow, n)
    rows = int(math.ceil(n / columns))
    grid = np.full((c, rows * (h + padding) + padding, columns * (w + padding) + padding), pad_value, images.dtype)
    for k in range(n):
        y, x = divmod(k, columns)
        top, left = y * (h + padding) + padding, x * (w + padding) + padding
        grid[:, top:top + h, left:left + w] = images[k]
    return Tensor.wrap(grid)


def _as_batch(tensor):
    if isinstance(tensor, (list, tuple)):
        tensor = np.stack([_array(t) for t in tensor])
    a = _array(tensor)
    if a.ndim == 2:
        a = a[None]
    if a.ndim == 3:
        a = np.concatenate([a] * 3) if a.shape[0] == 1 else a
        a = a[None]
    if a.ndim != 4:
        raise ValueError(f"make_grid: expected images (B, C, H, W), (C, H, W) or (H, W), got shape {a.shape}")
    if a.shape[1] == 1:
        a = np.concatenate([a] * 3, axis=1)
    return a


def _array(t):
    return t.detach().numpy() if isinstance(t, Tensor) else np.asarray(t)


def save_image(tensor, fp, format=None, **kwargs):
    """``make_grid(tensor, **kwargs)`` saved as an 8-bit image file (PNG, JPEG... through Pillow)."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("save_image needs Pillow: pip install Pillow (or deepgrad[images])") from None
    grid = make_grid(tensor, **kwargs).numpy()
    pixels = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels).save(fp, format=format)
