"""Drawing computational graphs (issue 6, item 6): the chapter's eq. 3.1 graph at x=1, w=0, b=0 has
exactly the six primitive nodes h1..h6, its edges carry the forward values 0, 0, 0, 1, 2, 0.5 and the
derivatives (∂f/∂w = 0.25), the DOT text is valid, and traced graphs draw too."""
import importlib.util
import os
import re
import subprocess
import sys

import pytest

import deepgrad as dg
from deepgrad import nn
from deepgrad.static import viz

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "draw_eq_3_1.py")

FORWARD = {"h1": "0", "h2": "0", "h3": "0", "h4": "1", "h5": "2", "h6": "0.5"}
# f = σ(w x + b): ∂f/∂h6 = 1, ∂f/∂h5 = −1/h5² = −1/4, ∂f/∂h4 = ∂f/∂h3 = −1/4 (e^h3 = 1), ∂f/∂h2 = ∂f/∂h1 = 1/4
BACKWARD = {"h1": "0.25", "h2": "0.25", "h3": "-0.25", "h4": "-0.25", "h5": "-0.25", "h6": "1",
            "w": "0.25", "b": "0.25", "x": "0"}


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("deepgrad_example_draw_eq_3_1", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_dot(text):
    """A minimal check of the DOT text: one digraph, balanced braces and quotes, node statements with
    unique ids, edges only between declared nodes. Returns ({id: attributes}, [(src, dst, attributes)])."""
    assert text.startswith("digraph ") and text.rstrip().endswith("}")
    assert text.count("{") == text.count("}")
    nodes, edges = {}, []
    for line in text.splitlines()[1:-1]:
        line = line.strip()
        assert line.endswith(";") or line.endswith("{"), line
        assert line.count('"') % 2 == 0, line
        m = re.match(r'^"([^"]+)" -> "([^"]+)"(?: \[(.*)\])?;$', line)
        if m:
            edges.append((m.group(1), m.group(2), m.group(3) or ""))
            continue
        m = re.match(r'^"([^"]+)" \[(.*)\];$', line)
        if m:
            assert m.group(1) not in nodes, f"node {m.group(1)} declared twice"
            nodes[m.group(1)] = m.group(2)
            continue
        assert re.match(r"^(rankdir=\w+|(graph|node|edge) \[.*\]);$", line), line
    for src, dst, _ in edges:
        assert src in nodes and dst in nodes
    for attrs in [a for _, _, a in edges] + list(nodes.values()):
        for html_label in re.findall(r"label=<(.*)>", attrs):
            assert html_label.count("<font") == html_label.count("</font>")
    return nodes, edges


def _by_name(drawing):
    """{name on the edge: (value text, gradient text)} for the named edges."""
    return {e["name"]: (e["value_text"], e["grad_text"]) for e in drawing.edges if e["name"]}


def _check_eq_3_1(drawing):
    ops = drawing.ops
    assert [n["name"] for n in ops] == ["h1", "h2", "h3", "h4", "h5", "h6"]
    assert [n["label"] for n in ops] == ["mul", "add", "mul", "exp", "add", "div"]
    named = _by_name(drawing)
    for h, value in FORWARD.items():
        assert named[h][0] == value, (h, named[h])
    for name, grad in BACKWARD.items():
        assert named[name][1] == grad, (name, named[name])
    assert named["w"][0] == "0" and named["x"][0] == "1" and named["b"][0] == "0"
    nodes, edges = parse_dot(drawing.dot)
    assert len(nodes) == len(drawing.nodes) and len(edges) == len(drawing.edges)
    assert sum("shape=box" in a for a in nodes.values()) == 6
    labels = " ".join(a for _, _, a in edges)
    assert "h6 = 0.5" in labels and "∂f/∂w = 0.25" in labels and "h4 = 1" in labels and "h5 = 2" in labels


def test_eq_3_1_dynamic_graph(example, tmp_path):
    drawing = example.draw(str(tmp_path / "eq.dot"))
    _check_eq_3_1(drawing)
    assert drawing.format == "dot" and open(tmp_path / "eq.dot", encoding="utf-8").read() == drawing.dot
    # the independent derivative: ∂σ(wx + b)/∂w = σ'(0)·x = 1/4
    assert dg.grad(lambda w: example.f(dg.tensor(1.0), w, dg.tensor(0.0)))(dg.tensor(0.0)).item() == 0.25


def test_eq_3_1_traced_graph(example, tmp_path):
    drawing = example.draw(str(tmp_path / "traced.dot"), traced=True)
    _check_eq_3_1(drawing)
    assert [n["label"] for n in drawing.nodes if n["kind"] == "input"] == ["x", "w", "b"]


def test_drawing_leaves_the_graph_and_grads_alone():
    x, w, b = (dg.tensor(v, requires_grad=True) for v in (1.0, 0.0, 0.0))
    f = 1 / (dg.exp(-1 * (w * x + b)) + 1)
    viz.draw(f, path=None)
    assert w.grad is None
    f.backward()                         # the graph is still there
    assert w.grad.item() == 0.25
    with pytest.raises(RuntimeError, match="retain_graph"):
        viz.draw(f, path=None)


def test_values_and_grads_switches():
    x = dg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    plain = viz.draw(y, values=False, grads=False, path=None)
    assert all(e["value_text"] is None and e["grad_text"] is None for e in plain.edges)
    assert all(attrs == "" for _, _, attrs in parse_dot(plain.dot)[1])
    only_values = viz.draw(y, grads=False, path=None)
    named = _by_name(only_values)
    assert named["x"] == ("f32[3] [1, -2, 3]", None) and named["h2"][0] == "14"
    both = _by_name(viz.draw(y, path=None))
    assert both["x"][1] == "f32[3] [2, -4, 6]" and both["h1"][1] == "f32[3] [1, 1, 1]"


def test_non_scalar_outputs_and_summaries():
    layer = nn.Linear(6, 4)
    x = dg.randn(5, 6)
    drawing = viz.draw(dg.tanh(layer(x)), path=None)
    named = _by_name(drawing)
    assert named["x"][0].startswith("f32[5,6] mean ") and named["x"][1] is None
    assert named["layer.weight"][1].startswith("f32[4,6] mean ")
    assert {n["kind"] for n in drawing.nodes} >= {"op", "param", "input", "output"}
    parse_dot(drawing.dot)


def test_traced_module_and_graph(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = dg.randn(2, 3)
    drawing = viz.draw(model, x, path=str(tmp_path / "m.dot"))
    assert [n["label"].split(" ")[0] for n in drawing.ops] == ["permute", "matmul", "add", "relu", "permute",
                                                                  "matmul", "add"]
    named = _by_name(drawing)
    with dg.no_grad():
        want = model(x).numpy()
    assert named["h7"][0] == viz.summarize(want)
    assert named["0.weight"][1] is not None and named["0.weight"][1].startswith("f32[4,3]")
    graph = dg.trace(model, x)
    structure = viz.draw(graph, path=None)
    assert len(structure.ops) == 7 and all(e["value_text"] is None for e in structure.edges)
    assert "f32[2,3]" in structure.dot
    with_values = viz.draw(graph, *[t for _, t in dg.static.tracer.module_state(model)], x, path=None)
    assert _by_name(with_values)["h7"][0] == viz.summarize(want)
    parse_dot(drawing.dot)


def test_svg_rendering_or_dot_fallback(example, tmp_path, monkeypatch):
    if viz.has_dot():
        drawing = example.draw(str(tmp_path / "eq.svg"))
        assert drawing.format == "svg"
        svg = open(tmp_path / "eq.svg", encoding="utf-8").read()
        assert "<svg" in svg and "h6 = 0.5" in svg and "∂f/∂w = 0.25" in svg
        assert os.path.exists(tmp_path / "eq.dot")
        check = subprocess.run(["dot", "-Tsvg"], input=drawing.dot.encode(), capture_output=True)
        assert check.returncode == 0 and not check.stderr
    monkeypatch.setattr(viz, "has_dot", lambda: False)
    with pytest.warns(UserWarning, match="dot"):
        drawing = example.draw(str(tmp_path / "fallback.svg"))
    assert drawing.format == "dot" and drawing.path.endswith("fallback.dot")
    assert not os.path.exists(tmp_path / "fallback.svg")
    parse_dot(open(drawing.path, encoding="utf-8").read())


def test_example_script(tmp_path):
    r = subprocess.run([sys.executable, EXAMPLE, "--out", str(tmp_path / "g.dot")], capture_output=True, text=True,
                       cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    assert r.returncode == 0, r.stderr
    assert "6 primitives: h1 mul, h2 add, h3 mul, h4 exp, h5 add, h6 div" in r.stdout
    assert re.search(r"h6 = 0\.5 +∂f/∂h6 = 1", r.stdout) and re.search(r"w = 0 +∂f/∂w = 0\.25", r.stdout)
    assert os.path.exists(tmp_path / "g.dot")


def test_bad_arguments():
    with pytest.raises(TypeError, match="expected a Tensor"):
        viz.draw(3.0)
    with pytest.raises(TypeError):
        viz.draw(dg.tensor(1.0), dg.tensor(2.0))
    with pytest.raises(ValueError, match="inputs"):
        viz.draw(dg.trace(lambda a, b: a * b, dg.tensor(1.0), dg.tensor(2.0)), dg.tensor(1.0), path=None)
