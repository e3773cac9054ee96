"""The computational graph of seed eq. 3.1, drawn with its forward values and derivatives.

    f(x; w, b) = 1 / (1 + exp(−(w·x + b)))

is evaluated as six primitive operations (seed 三):

    h1 = w · x      h2 = h1 + b      h3 = −1 · h2
    h4 = exp(h3)    h5 = h4 + 1      h6 = 1 / h5 = f

At x = 1, w = 0, b = 0 the forward pass gives h1..h6 = 0, 0, 0, 1, 2, 0.5 (the chapter's red numbers on
the edges), and reverse mode gives ∂f/∂h6 = 1, ∂f/∂h5 = −1/h5² = −0.25, ∂f/∂h4 = −0.25,
∂f/∂h3 = −0.25·e^h3 = −0.25, ∂f/∂h2 = 0.25, ∂f/∂h1 = 0.25, hence ∂f/∂w = x·0.25 = 0.25, ∂f/∂b = 0.25
and ∂f/∂x = w·0.25 = 0.

    python examples/draw_eq_3_1.py                  # writes eq_3_1.svg (and eq_3_1.dot)
    python examples/draw_eq_3_1.py --out g.dot      # DOT text only
    python examples/draw_eq_3_1.py --traced         # the static graph dg.trace records instead

Without Graphviz's ``dot`` program the DOT text is written (render it with any Graphviz viewer).
"""
import argparse
import sys

import deepgrad as dg


def f(x, w, b):
    """Eq. 3.1 as its six primitives, in the chapter's order."""
    h1 = w * x
    h2 = h1 + b
    h3 = -1 * h2
    h4 = dg.exp(h3)
    h5 = h4 + 1
    h6 = 1 / h5
    return h6


def draw(path="eq_3_1.svg", traced=False, x=1.0, w=0.0, b=0.0):
    """Evaluate eq. 3.1 and draw its graph to ``path``; returns the ``Drawing``."""
    x, w, b = (dg.tensor(v, requires_grad=True) for v in (x, w, b))
    title = "seed eq. 3.1: f = 1 / (1 + exp(-(w x + b)))"
    if traced:
        return dg.viz.draw(f, x, w, b, path=path, title=title + " (traced)")
    out = f(x, w, b)
    return dg.viz.draw(out, path=path, names={"x": x, "w": w, "b": b}, title=title)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="eq_3_1.svg", help="file to write (.svg, .png, .pdf or .dot)")
    parser.add_argument("--traced", action="store_true", help="draw the traced (static) graph")
    args = parser.parse_args(argv)
    drawing = draw(args.out, args.traced)
    for e in drawing.edges:
        if e["name"]:
            print(f"{e['name']:>3} = {e['value_text']:<5} ∂f/∂{e['name']} = {e['grad_text']}")
    print(f"{len(drawing.ops)} primitives: {', '.join(n['name'] + ' ' + n['label'] for n in drawing.ops)}")
    print(f"wrote {drawing.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
