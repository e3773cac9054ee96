"""The convolution-arithmetic gallery (issue 14): each frame of dg.viz.conv_frames lights exactly the
input cells its output cell reads, at the kernel offsets reading them — checked against the Jacobian of
the convolution by deepgrad's reverse mode and by torch's, for direct and transposed convolutions in 1-D
and 2-D with strides, paddings ("same", "full", asymmetric), dilations and output_padding — and the GIF
and SVG draw those frames: every cell's colour in every GIF frame, every SVG frame's cells and timing."""
import contextlib
import io
import itertools
import math
import os
import re
import textwrap
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.nn import functional as F
from deepgrad.viz import scene as scene_module

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")

# (input_size, kernel_size, stride, padding, dilation): Dumoulin & Visin's eight, then harder ones
DIRECT = [
    (4, 3, 1, 0, 1), (5, 4, 1, 2, 1), (5, 3, 1, "same", 1), (5, 3, 1, "full", 1),
    (5, 3, 2, 0, 1), (5, 3, 2, 1, 1), (6, 3, 2, 1, 1), (7, 3, 1, 0, 2),
    ((6,), 4, 1, "same", 1),            # even kernel: "same" pads one more after than before
    ((7,), 2, 3, "full", 2),
    ((9,), 3, 2, "valid", 3),
    ((5,), 1, 2, 3, 1),                 # windows wholly in the padding read nothing
    ((8,), 3, 3, 1, 1),                 # input cells no window reads
    ((5, 7), (2, 3), (2, 1), (1, 0), (1, 2)),
    ((4, 6), 3, 1, "same", (2, 1)),
]
# (input_size, kernel_size, stride, padding, dilation, output_padding): D&V's transposed counterparts, then more
TRANSPOSED = [
    (2, 3, 1, 0, 1, 0), (6, 4, 1, 2, 1, 0), (5, 3, 1, 1, 1, 0), (7, 3, 1, 2, 1, 0),
    (2, 3, 2, 0, 1, 0), (3, 3, 2, 1, 1, 0), (3, 3, 2, 1, 1, 1), (3, 3, 1, 0, 2, 0),
    ((4,), 2, 3, 1, 1, 2),
    ((5,), 3, 1, 0, 3, 2),              # output_padding below the dilation
    ((3, 5), (3, 2), (2, 3), (1, 0), (1, 2), (1, 2)),
]
CASES = [dict(zip(("input_size", "kernel_size", "stride", "padding", "dilation"), c)) for c in DIRECT] + \
    [dict(zip(("input_size", "kernel_size", "stride", "padding", "dilation", "output_padding"), c), transposed=True)
     for c in TRANSPOSED]


def _ids(case):
    return "-".join(f"{k}={v}" for k, v in case.items())


def _tuple(v, nd):
    return (v,) * nd if isinstance(v, int) else tuple(v)


def _jacobian_reads(jacobian, out_size, size, kernel):
    """{output cell: {input cell: kernel offset}} from a Jacobian of a convolution whose weight holds
    1, 2, ... at its offsets in row-major order, so an entry names the offset that reads the cell."""
    jac = np.asarray(jacobian).reshape(math.prod(out_size), math.prod(size))
    return [{np.unravel_index(b, size): np.unravel_index(int(jac[t, b]) - 1, kernel) for b in np.flatnonzero(jac[t])}
            for t in range(jac.shape[0])]


def _as_ints(reads):
    return [{tuple(map(int, b)): tuple(map(int, k)) for b, k in r.items()} for r in reads]


def _oracles(case, with_deepgrad=True):
    """The reads by deepgrad's jacrev (None unless ``with_deepgrad``) and by torch's jacobian, and torch's
    output size."""
    size = _tuple(case["input_size"], 2)
    nd = len(size)
    kernel = _tuple(case["kernel_size"], nd)
    weight = np.arange(1.0, math.prod(kernel) + 1).reshape((1, 1) + kernel)
    options = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"])
    if case.get("transposed"):
        options["output_padding"] = case["output_padding"]
        dg_conv, torch_conv = ((F.conv_transpose1d, torch.nn.functional.conv_transpose1d) if nd == 1 else
                               (F.conv_transpose2d, torch.nn.functional.conv_transpose2d))
    else:
        dg_conv, torch_conv = ((F.conv1d, torch.nn.functional.conv1d) if nd == 1 else
                               (F.conv2d, torch.nn.functional.conv2d))
    torch_options = dict(options)
    if options["padding"] == "full":    # the chapter's wide convolution: K' − 1 on each side
        torch_options["padding"] = tuple(d * (k - 1) for k, d in zip(kernel, _tuple(case["dilation"], nd)))
    w_dg, w_torch = dg.tensor(weight), torch.tensor(weight)
    x = np.zeros((1, 1) + size)
    jac_torch = torch.autograd.functional.jacobian(lambda v: torch_conv(v, w_torch, **torch_options),
                                                    torch.tensor(x)).numpy()
    out_size = jac_torch.shape[2:2 + nd]
    by_deepgrad = None
    if with_deepgrad:
        jac_dg = dg.jacrev(lambda v: dg_conv(v, w_dg, **options))(dg.tensor(x)).numpy()
        by_deepgrad = _as_ints(_jacobian_reads(jac_dg, out_size, size, kernel))
    return by_deepgrad, _as_ints(_jacobian_reads(jac_torch, out_size, size, kernel)), out_size


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")    # torch pads a copy: fine here
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_frames_light_the_cells_the_convolution_reads(case):
    arith = dg.viz.conv_frames(**case)
    by_deepgrad, by_torch, out_size = _oracles(case)
    assert arith.output_size == out_size
    assert [f.output for f in arith.frames] == list(np.ndindex(out_size))          # row-major, one per cell
    assert [f.reads for f in arith.frames] == by_deepgrad == by_torch


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_windows_sit_over_the_cells_they_read(case):
    """Each window is the kernel's lattice (spacing = dilation; flipped for a transposed convolution, the
    direct convolution it equals) over the drawn grid; the input cells under it are exactly those read."""
    arith = dg.viz.conv_frames(**case)
    nd = len(arith.input_size)
    size, kernel, stride, dilation = arith.input_size, arith.kernel_size, arith.stride, arith.dilation
    if arith.transposed:
        zeros = [d * (k - 1) - p for k, d, p in zip(kernel, dilation, arith.padding[0])]
        assert arith.grid_size == tuple((m - 1) * s + 1 + 2 * z + e for m, s, z, e in
                                        zip(size, stride, zeros, arith.output_padding))
        assert arith.placement == {b: tuple(z + i * s for z, i, s in zip(zeros, b, stride)) for b in np.ndindex(size)}
    else:
        lo, hi = arith.padding
        assert arith.grid_size == tuple(m + a + b for m, a, b in zip(size, lo, hi))
        assert arith.placement == {b: tuple(i + a for i, a in zip(b, lo)) for b in np.ndindex(size)}
    cell_of = {g: b for b, g in arith.placement.items()}
    last = tuple(k - 1 for k in kernel)
    for frame in arith.frames:
        assert sorted(frame.window) == list(np.ndindex(kernel))
        corner = frame.window[last if arith.transposed else (0,) * nd]
        step = (1,) * nd if arith.transposed else stride
        assert corner == tuple(t * s for t, s in zip(frame.output, step))
        for k, g in frame.window.items():
            lattice = tuple(l - i if arith.transposed else i for i, l in zip(k, last))
            assert g == tuple(c + d * i for c, d, i in zip(corner, dilation, lattice))
        assert {cell_of[g]: k for k, g in frame.window.items() if g in cell_of} == frame.reads


def test_same_and_full_padding_are_the_convolutions_own():
    assert dg.viz.conv_frames((6,), 4, padding="same").padding == ((1,), (2,))     # PyTorch's split
    assert dg.viz.conv_frames(5, 3, padding="full", dilation=2).padding == ((4, 4), (4, 4))
    assert dg.viz.conv_frames(5, 3, padding="valid").output_size == (3, 3)


# ---------------------------------------------------------------- the pictures
PICTURED = [dict(input_size=5, kernel_size=3, stride=2, padding=1),
            dict(input_size=3, kernel_size=3, stride=2, padding=1, output_padding=1, transposed=True),
            dict(input_size=(7,), kernel_size=3, padding="same", dilation=2)]


def _expected_styles(arith, frame):
    """{(x, y) of a cell: style} of everything drawn in ``frame``."""
    styles = {(b.x, b.y): b.style for b in scene_module.scene(arith).base}
    reads = {arith.placement[b] for b in frame.reads}
    for g in frame.window.values():
        box = scene_module.input_box(arith, g, "read" if g in reads else "window")
        styles[box.x, box.y] = box.style
    current = scene_module.output_box(arith, frame.output, "current")
    styles[current.x, current.y] = "current"
    return styles


def _rgb(color):
    return tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))


@pytest.mark.parametrize("case", PICTURED, ids=_ids)
def test_gif_frames_colour_every_cell(case):
    arith = dg.viz.conv_frames(**case)
    picture = scene_module.scene(arith)
    image = Image.open(io.BytesIO(dg.viz.animate_conv(**case, format="gif", frame_ms=250)))
    assert image.n_frames == len(arith.frames) == math.prod(arith.output_size)
    assert image.size == (picture.width, picture.height)
    assert image.info["duration"] == 250
    inner = range(3, scene_module.CELL - 2)
    for i, frame in enumerate(arith.frames):
        image.seek(i)
        rgb = np.asarray(image.convert("RGB"))
        for (x, y), style in _expected_styles(arith, frame).items():
            pixels = rgb[y + inner.start:y + inner.stop, x + inner.start:x + inner.stop]
            share = (pixels == _rgb(scene_module.COLORS[style][0])).all(-1).mean()
            assert share > 0.8, (i, x, y, style)        # most of it: a ray may cross a cell


def _visible_slots(animate, n):
    """The slots j (of n equal ones in the loop) at whose middle a discrete visibility animation shows."""
    times = [float(t) for t in animate.get("keyTimes").split(";")]
    values = animate.get("values").split(";")
    assert times[0] == 0 and animate.get("calcMode") == "discrete" and animate.get("repeatCount") == "indefinite"
    return [j for j in range(n) if values[max(i for i, t in enumerate(times) if t <= (j + 0.5) / n)] == "visible"]


@pytest.mark.parametrize("case", PICTURED, ids=_ids)
def test_svg_has_one_step_per_output_cell(case, tmp_path):
    arith = dg.viz.conv_frames(**case)
    path = tmp_path / "conv.svg"
    text = dg.viz.animate_conv(**case, path=str(path), frame_ms=400)
    assert path.read_text(encoding="utf-8") == text
    svg = ET.fromstring(text)
    ns = {"s": "http://www.w3.org/2000/svg"}
    groups = svg.findall("s:g[@class='frame']", ns)
    n = len(arith.frames)
    assert len(groups) == n == math.prod(arith.output_size)
    for i, (group, frame) in enumerate(zip(groups, arith.frames)):
        (animate,) = group.findall("s:animate", ns)
        assert float(animate.get("dur").rstrip("s")) == pytest.approx(n * 0.4)
        assert _visible_slots(animate, n) == [i]
        assert group.get("data-output") == ",".join(map(str, frame.output))

        def cells(style):
            return {tuple(int(v) for v in r.get("data-cell").split(",")) for r in group.findall(f"s:rect[@class='{style}']", ns)}
        reads = {arith.placement[b] for b in frame.reads}
        assert cells("read") == reads
        assert cells("window") == set(frame.window.values()) - reads
        assert cells("current") == {frame.output}


def test_gif_written_to_path_and_format_from_suffix(tmp_path):
    path = tmp_path / "conv.gif"
    data = dg.viz.animate_conv(4, 3, path=str(path))
    assert path.read_bytes() == data and data[:6] == b"GIF89a"
    assert dg.viz.animate_conv(4, 3, format="svg").startswith("<svg")


def test_draw_is_still_the_graph_drawer():
    from deepgrad.static import viz as static_viz
    assert dg.viz.draw is static_viz.draw and dg.viz.Drawing is static_viz.Drawing


@pytest.mark.parametrize("kwargs, error, names", [
    (dict(input_size="5", kernel_size=3), TypeError, "input_size"),
    (dict(input_size=(1, 2, 3), kernel_size=3), TypeError, "input_size"),
    (dict(input_size=5, kernel_size=0), ValueError, "kernel_size"),
    (dict(input_size=5, kernel_size=3, stride=(1, 2, 3)), TypeError, "stride"),
    (dict(input_size=5, kernel_size=3, dilation=0), ValueError, "dilation"),
    (dict(input_size=5, kernel_size=3, padding=-1), ValueError, "padding"),
    (dict(input_size=5, kernel_size=3, padding="half"), ValueError, "padding"),
    (dict(input_size=5, kernel_size=3, padding="same", stride=2), ValueError, "same"),
    (dict(input_size=5, kernel_size=7), ValueError, "kernel"),
    (dict(input_size=5, kernel_size=3, output_padding=1), ValueError, "output_padding"),
    (dict(input_size=5, kernel_size=3, transposed=1), TypeError, "transposed"),
    (dict(input_size=5, kernel_size=3, transposed=True, padding="same"), TypeError, "padding"),
    (dict(input_size=5, kernel_size=3, transposed=True, padding=3), ValueError, "padding"),
    (dict(input_size=(1,), kernel_size=3, transposed=True, padding=2), ValueError, "padding"),    # empty output
    (dict(input_size=5, kernel_size=3, transposed=True, stride=2, output_padding=2), ValueError, "output_padding"),
])
def test_bad_arguments_are_named(kwargs, error, names):
    with pytest.raises(error, match=names):
        dg.viz.conv_frames(**kwargs)
    with pytest.raises(error, match=names):
        dg.viz.animate_conv(**kwargs)


@pytest.mark.parametrize("kwargs, names", [
    (dict(format="png"), "format"), (dict(path="conv.gif", format="svg"), "path"),
    (dict(path="conv.png"), "format"), (dict(frame_ms=0), "frame_ms"), (dict(frame_ms=0.5), "frame_ms"),
])
def test_bad_animation_arguments_are_named(kwargs, names):
    with pytest.raises(ValueError, match=names):
        dg.viz.animate_conv(4, 3, **kwargs)


def test_gallery_page_runs_and_shows_every_case():
    """docs/gallery.md's exec blocks (what markdown-exec runs at site build) print one animation per case
    of Dumoulin & Visin, direct and transposed, each a well-formed SVG (the page asserts the formulas)."""
    page = open(os.path.join(os.path.dirname(__file__), os.pardir, "docs", "gallery.md"), encoding="utf-8").read()
    fenced = re.findall(r'^ *```python exec="on"[^\n]*\n(.*?)^ *```$', page, re.M | re.S)
    blocks = [textwrap.dedent(code) for code in fenced]
    namespace, out = {}, io.StringIO()
    with contextlib.redirect_stdout(out):
        for code in blocks:
            exec(code, namespace)       # noqa: S102  (the page's own code)
    svgs = re.findall(r"<svg .*?</svg>", out.getvalue(), re.S)
    assert len(svgs) == len(blocks) - 1 == 16
    titles = [ET.fromstring(s).find("{http://www.w3.org/2000/svg}title").text for s in svgs]
    assert sum("transposed" in t for t in titles) == 8


def _sweep():
    """Every 1-D case with input 1..5, kernel 1..3, stride 1..3, dilation 1..2, whose output is not empty."""
    for m, k, s, d in itertools.product(range(1, 6), range(1, 4), range(1, 4), range(1, 3)):
        k_eff = d * (k - 1) + 1
        for p in (0, 1, 2, "same", "full"):
            padded = m + ({"same": k_eff - 1, "full": 2 * k_eff - 2}[p] if isinstance(p, str) else 2 * p)
            if (p != "same" or s == 1) and padded >= k_eff:
                yield dict(input_size=(m,), kernel_size=k, stride=s, padding=p, dilation=d)
        for p, e in itertools.product(range(d * (k - 1) + 1), range(max(s, d))):
            if (m - 1) * s - 2 * p + d * (k - 1) + e + 1 >= 1:
                yield dict(input_size=(m,), kernel_size=k, stride=s, padding=p, dilation=d, output_padding=e,
                           transposed=True)


@pytest.mark.slow      # 805 cases: 86 s on two busy cores
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_every_small_1d_case_reads_what_torch_reads():
    cases = list(_sweep())
    for case in cases:
        _, by_torch, out_size = _oracles(case, with_deepgrad=False)
        arith = dg.viz.conv_frames(**case)
        assert arith.output_size == out_size and [f.reads for f in arith.frames] == by_torch, case
    assert len(cases) >= 800
