"""A convolution-arithmetic Scene as an animated GIF, drawn with Pillow (the ``images`` extra; one
palette, no dithering, so every cell has exactly its style's colour)."""
import io

from .scene import CELL, COLORS, DASH, DASHES, LINE, RAY, TEXT


def _palette():
    colors = sorted({c for pair in COLORS.values() for c in pair if c} | {DASHES, RAY, TEXT})
    return colors, {c: i for i, c in enumerate(colors)}


def _dashed(draw, x0, y0, x1, y1, fill):
    on, off = DASH
    if x0 == x1:
        for y in range(y0, y1, on + off):
            draw.line((x0, y, x1, min(y + on - 1, y1)), fill=fill)
    else:
        for x in range(x0, x1, on + off):
            draw.line((x, y0, min(x + on - 1, x1), y1), fill=fill)


def _box(draw, box, index):
    fill, outline = COLORS[box.style]
    x0, y0, x1, y1 = box.x, box.y, box.x + CELL, box.y + CELL
    draw.rectangle((x0, y0, x1, y1), fill=index[fill], outline=index[outline] if outline else None)
    if outline is None:
        dash = index[DASHES]
        for edge in ((x0, y0, x1, y0), (x0, y1, x1, y1), (x0, y0, x0, y1), (x1, y0, x1, y1)):
            _dashed(draw, *edge, dash)


def _font():
    """DejaVu Sans where installed (it has × and →), else Pillow's own font and ASCII for them."""
    from PIL import ImageFont
    try:
        return ImageFont.truetype("DejaVuSans.ttf", 12), {}
    except OSError:
        return ImageFont.load_default(size=13), str.maketrans({"×": "x", "→": "->"})


def gif(scene, frame_ms):
    """The GIF bytes: one frame per output cell, ``frame_ms`` milliseconds each, looping."""
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        raise ImportError("animate_conv(format='gif') needs Pillow: pip install 'deepgrad[images]' "
                          "(format='svg' needs nothing)") from None
    colors, index = _palette()
    palette = [int(c[i:i + 2], 16) for c in colors for i in (1, 3, 5)]
    base = Image.new("P", (scene.width, scene.height), index[COLORS["background"][0]])
    base.putpalette(palette)
    draw = ImageDraw.Draw(base)
    for box in scene.base:
        _box(draw, box, index)
    font, ascii_only = _font()
    x, y = scene.caption_at
    for i, line in enumerate(scene.caption):
        draw.text((x, y + i * LINE), line.translate(ascii_only), fill=index[TEXT], font=font)
    images = []
    for boxes, rays in scene.frames:
        image = base.copy()
        draw = ImageDraw.Draw(image)
        for box in boxes:
            _box(draw, box, index)
        for ray in rays:
            draw.line(ray, fill=index[RAY])
        images.append(image)
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0,
                   optimize=False)
    return out.getvalue()
