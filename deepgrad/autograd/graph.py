"""A look at the recorded graph as PyTorch shows it: ``t.grad_fn`` is a ``Node`` (``name()``, e.g.
``MulBackward0``, and ``next_functions``, the nodes its gradient flows to: ``AccumulateGrad`` for a leaf
that requires grad, None for an input that needs no gradient)."""
from .tensor import FREED


class Node:
    """The recorded operation that produced ``tensor`` (a view: made afresh on each ``grad_fn`` access)."""

    def __init__(self, tensor):
        self._tensor = tensor
        self._prim = tensor._node[0]

    def name(self):
        prim = self._prim
        custom = getattr(prim, "cls", None)
        return f"{custom.__name__}Backward" if custom else f"{type(prim).__name__}Backward0"

    @property
    def next_functions(self):
        from .engine import parents_of
        node = self._tensor._node
        if node is None or node is FREED:
            return ()
        return tuple((node_of(p), 0) for p in parents_of(node))

    def __eq__(self, other):
        return isinstance(other, Node) and other._tensor is self._tensor

    def __hash__(self):
        return id(self._tensor)

    def __repr__(self):
        return f"<{self.name()} object at {id(self._tensor):#x}>"


class AccumulateGrad:
    """Where the gradient of a leaf that requires grad ends up (its ``.grad``); ``variable`` is the leaf."""

    def __init__(self, variable):
        self.variable = variable

    def name(self):
        return "torch::autograd::AccumulateGrad"

    next_functions = ()

    def __repr__(self):
        return f"<AccumulateGrad object at {id(self.variable):#x}>"


def node_of(t):
    """``t``'s node in PyTorch's terms: a Node, an AccumulateGrad, or None."""
    if not t.requires_grad:
        return None
    return AccumulateGrad(t) if t._node is None else Node(t)
