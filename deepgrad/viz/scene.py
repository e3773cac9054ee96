"""What a convolution-arithmetic animation draws where, for both the GIF and the SVG writer: the input
grid (blue cells, the zero padding and inserted zeros white and dashed) on the left, the output grid
(cyan) on the right, and per frame the kernel window over the input (the cells it reads dark blue, the
zeros under it grey) with the output cell it computes lit, in Dumoulin & Visin's colours."""
import itertools
from dataclasses import dataclass

CELL = 28           # pixels per cell
MARGIN = 14
GAP = 3 * CELL      # between the input and the output grid
LINE = 17           # caption line height
CHAR = 7            # a caption character's width, about (13 px sans-serif)

COLORS = {          # a cell's style: (fill, outline); a None outline is dashed in DASHES
    "background": ("#ffffff", "#ffffff"),
    "input": ("#5fa5e0", "#1d3f66"),
    "zero": ("#ffffff", None),
    "read": ("#1f4e96", "#0c1f3d"),
    "window": ("#b9c4d0", None),
    "output": ("#9fe3e3", "#1b5c5c"),
    "current": ("#178f8f", "#0b3d3d"),
}
DASHES, RAY, TEXT = "#8c8c8c", "#7a7a7a", "#222222"
DASH = (4, 3)       # dashes: pixels on, off


@dataclass(frozen=True)
class Box:
    """A cell drawn in ``style`` at pixel (x, y), ``CELL`` wide; ``cell`` is its grid index."""
    style: str
    x: int
    y: int
    cell: tuple


@dataclass(frozen=True)
class Scene:
    """``base`` is drawn under every frame; ``frames[i]`` is (boxes, rays) for output cell i, the rays
    two lines (x0, y0, x1, y1) from the kernel window to that cell; ``caption`` lines start at (x, y)
    and go down by ``LINE``."""
    width: int
    height: int
    caption: tuple
    caption_at: tuple
    base: tuple
    frames: tuple


def _rows_cols(size):
    return (1, size[0]) if len(size) == 1 else size


def input_box(arith, cell, style):
    """The Box of grid cell ``cell`` of the drawn input grid."""
    rows, _ = _rows_cols(arith.grid_size)
    r, c = (0, cell[0]) if len(cell) == 1 else cell
    return Box(style, MARGIN + c * CELL, _top(arith, rows) + r * CELL, cell)


def output_box(arith, cell, style):
    """The Box of output cell ``cell``."""
    rows, cols = _rows_cols(arith.output_size)
    r, c = (0, cell[0]) if len(cell) == 1 else cell
    _, grid_cols = _rows_cols(arith.grid_size)
    return Box(style, MARGIN + grid_cols * CELL + GAP + c * CELL, _top(arith, rows) + r * CELL, cell)


def _top(arith, rows):
    """Grids are centred on the taller one."""
    tallest = max(_rows_cols(arith.grid_size)[0], _rows_cols(arith.output_size)[0])
    return MARGIN + (tallest - rows) * CELL // 2


def _caption(arith):
    def dims(t):
        return "×".join(map(str, t))

    def amount(t):      # "2" for (2, 2), "1×2" otherwise
        return str(t[0]) if len(set(t)) == 1 else dims(t)
    parts = [f"input {dims(arith.input_size)}", f"kernel {dims(arith.kernel_size)}"]
    for name, value in (("stride", arith.stride), ("dilation", arith.dilation)):
        if set(value) != {1}:
            parts.append(f"{name} {amount(value)}")
    lo, hi = arith.padding
    if set(lo + hi) != {0}:
        parts.append(f"padding {amount(lo)}" if lo == hi else f"padding {amount(lo)} before, {amount(hi)} after")
    if set(arith.output_padding) != {0}:
        parts.append(f"output_padding {amount(arith.output_padding)}")
    kind = "transposed convolution" if arith.transposed else "convolution"
    return ", ".join(parts), f"{kind} → output {dims(arith.output_size)}"


def _rays(window, current):
    """Lines from the window's right corners to the output cell's left ones."""
    top, right, bottom = min(b.y for b in window), max(b.x for b in window) + CELL, max(b.y for b in window) + CELL
    return (right, top, current.x, current.y), (right, bottom, current.x, current.y + CELL)


def scene(arith):
    """The Scene of a ConvArithmetic."""
    real = set(arith.placement.values())
    grid = sorted(_indices(arith.grid_size), key=lambda g: g in real)     # solid outlines over dashed ones
    base = tuple(input_box(arith, g, "input" if g in real else "zero") for g in grid) + \
        tuple(output_box(arith, t, "output") for t in _indices(arith.output_size))
    frames = []
    for frame in arith.frames:
        reads = {arith.placement[b] for b in frame.reads}
        window = tuple(input_box(arith, g, "read" if g in reads else "window")
                       for g in sorted(frame.window.values(), key=lambda g: g in reads))
        current = output_box(arith, frame.output, "current")
        frames.append((window + (current,), _rays(window, current)))
    caption = _caption(arith)
    bottom = MARGIN + max(_rows_cols(arith.grid_size)[0], _rows_cols(arith.output_size)[0]) * CELL
    width = max(MARGIN + (_rows_cols(arith.grid_size)[1] + _rows_cols(arith.output_size)[1]) * CELL + GAP,
                MARGIN + CHAR * max(map(len, caption))) + MARGIN
    return Scene(width, bottom + LINE * len(caption) + MARGIN, caption, (MARGIN, bottom + MARGIN // 2), base,
                 tuple(frames))


def _indices(size):
    return itertools.product(*map(range, size))
