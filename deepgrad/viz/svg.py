"""A convolution-arithmetic Scene as one self-contained animated SVG: each frame is a group shown for
its share of the loop by a discrete SMIL ``<animate>`` of its visibility (no script, so it plays inline
in a page or in an ``<img>``); the first frame is visible where SMIL is not played."""
import html

from .scene import CELL, COLORS, DASH, DASHES, LINE, RAY, TEXT


def _box(box):
    cell = ",".join(map(str, box.cell))
    return f'<rect class="{box.style}" data-cell="{cell}" x="{box.x}" y="{box.y}" width="{CELL}" height="{CELL}"/>'


def _style():
    """One CSS rule per style, scoped to the drawing (it may sit inline in a page with others)."""
    rules = [f".conv-arithmetic .{style}{{fill:{fill};stroke:{outline}}}" if outline else
             f".conv-arithmetic .{style}{{fill:{fill};stroke:{DASHES};stroke-dasharray:{DASH[0]} {DASH[1]}}}"
             for style, (fill, outline) in COLORS.items()]
    return "<style>" + "".join(rules) + f".conv-arithmetic .ray{{stroke:{RAY}}}</style>"


def _visibility(i, n, seconds):
    """The discrete animation showing frame i of n during [i/n, (i+1)/n) of a ``seconds`` loop."""
    steps = ([(0, "hidden")] if i else []) + [(i / n, "visible")] + ([((i + 1) / n, "hidden")] if i + 1 < n else [])
    times = ";".join(f"{t:.6g}" for t, _ in steps)
    values = ";".join(v for _, v in steps)
    return (f'<animate attributeName="visibility" values="{values}" keyTimes="{times}" calcMode="discrete" '
            f'dur="{seconds:g}s" repeatCount="indefinite"/>')


def svg(scene, frame_ms):
    """The SVG text: one frame group per output cell, ``frame_ms`` milliseconds each, looping."""
    n = len(scene.frames)
    seconds = n * frame_ms / 1000
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="conv-arithmetic" width="{scene.width}" '
             f'height="{scene.height}" viewBox="0 0 {scene.width} {scene.height}" font-family="sans-serif" '
             f'font-size="13">', f'<title>{html.escape(" ".join(scene.caption))}</title>', _style(),
             f'<rect class="background" width="{scene.width}" height="{scene.height}"/>',
             '<g class="base">', *map(_box, scene.base), '</g>']
    for i, (boxes, rays) in enumerate(scene.frames):
        output = ",".join(map(str, boxes[-1].cell))
        parts += [f'<g class="frame" data-output="{output}" visibility="{"hidden" if i else "visible"}">',
                  _visibility(i, n, seconds), *map(_box, boxes),
                  *(f'<line class="ray" x1="{a}" y1="{b}" x2="{c}" y2="{d}"/>' for a, b, c, d in rays), '</g>']
    x, y = scene.caption_at
    parts += [f'<text x="{x}" y="{y + (i + 1) * LINE - 4}" fill="{TEXT}">{html.escape(line)}</text>'
              for i, line in enumerate(scene.caption)]
    return "\n".join(parts + ["</svg>"]) + "\n"
