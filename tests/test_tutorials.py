"""The tutorials in docs/tutorials run as tests: every ```python exec="on"``` block of a page (the blocks
markdown-exec executes when the site is built) runs in order in one fresh namespace per session, so the
asserts that tie each page to the chapter's numbers fail here too, not only in ``mkdocs build``."""
import contextlib
import io
import os
import re
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUTORIALS = os.path.join(ROOT, "docs", "tutorials")
SLOW = {"05-lenet5-mnist.md", "06-resnet-highway.md"}     # each over ~10 s on two cores
PAGES = ["01-feedforward.md", "02-backprop.md", "03-autodiff.md", "04-convolution.md",
         "05-lenet5-mnist.md", "06-resnet-highway.md", "07-transposed-dilated.md", "08-static-graphs-onnx.md"]

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
                   re.M | re.S)
ATTR = re.compile(r'(\w+)="([^"]*)"')


def exec_blocks(text):
    """[(session, first line number, code)] for the fenced blocks markdown-exec runs, in page order."""
    blocks = []
    for m in FENCE.finditer(text):
        info = m.group("info").strip()
        if not info.startswith("python"):
            continue
        attrs = dict(ATTR.findall(info))
        if attrs.get("exec") not in ("on", "true", "1", "yes"):
            continue
        line = text.count("\n", 0, m.start("body")) + 1
        body = "\n".join(s[len(m.group("indent")):] for s in m.group("body").splitlines())
        blocks.append((attrs.get("session", f"block-{line}"), line, body))
    return blocks


def run_page(name):
    """Run every exec block of ``name``, one namespace per session; returns (printed output, seconds)."""
    path = os.path.join(TUTORIALS, name)
    with open(path, encoding="utf-8") as f:
        blocks = exec_blocks(f.read())
    assert blocks, f"{name} has no executed code blocks"
    namespaces, out = {}, io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out):
        for session, line, code in blocks:
            ns = namespaces.setdefault(session, {"__name__": "__main__"})
            exec(compile("\n" * (line - 1) + code, path, "exec"), ns)
    return out.getvalue(), time.perf_counter() - start


def test_exec_blocks_are_found_with_their_sessions():
    page = ('# t\n```python exec="on" source="above" session="a" result="text"\nx = 1\n```\n'
            '```python\nnot run\n```\n```python exec="on" html="1" session="a"\nprint(x)\n```\n'
            '```python exec="on"\ny = 2\n```\n')
    blocks = exec_blocks(page)
    assert [(s, c) for s, _, c in blocks] == [("a", "x = 1"), ("a", "print(x)"), ("block-12", "y = 2")]
    assert [line for _, line, _ in blocks] == [3, 9, 12]


def test_every_tutorial_is_tested():
    assert sorted(n for n in os.listdir(TUTORIALS) if n.endswith(".md")) == sorted(PAGES)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in PAGES])
def test_tutorial_runs(name, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(ROOT)
    output, _ = run_page(name)
    assert output.strip(), f"{name} printed nothing"
