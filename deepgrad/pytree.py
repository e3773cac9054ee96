"""Nested containers of tensors (tuples, lists, dicts, None), flattened to a list of leaves and back,
so the function transforms accept the same structures JAX's do."""


class TreeDef:
    __slots__ = ("kind", "meta", "children")

    def __init__(self, kind, meta, children):
        self.kind, self.meta, self.children = kind, meta, children

    @property
    def num_leaves(self):
        return 1 if self.kind == "leaf" else sum(c.num_leaves for c in self.children)

    def __eq__(self, other):
        return (isinstance(other, TreeDef) and self.kind == other.kind and self.meta == other.meta
                and self.children == other.children)

    def __repr__(self):
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        if self.kind == "dict":
            return "{" + ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.meta, self.children)) + "}"
        inner = ", ".join(map(repr, self.children))
        return f"({inner},)" if self.kind == "tuple" else f"[{inner}]"


def tree_flatten(tree):
    """(leaves, treedef) for a nest of tuples, lists, dicts and None; anything else is a leaf."""
    leaves = []

    def walk(node):
        if isinstance(node, (tuple, list)):
            return TreeDef(type(node).__name__ if type(node) in (tuple, list) else "tuple", None,
                           [walk(c) for c in node])
        if isinstance(node, dict):
            keys = sorted(node)
            return TreeDef("dict", tuple(keys), [walk(node[k]) for k in keys])
        if node is None:
            return TreeDef("none", None, [])
        leaves.append(node)
        return TreeDef("leaf", None, [])

    return leaves, walk(tree)


def tree_unflatten(treedef, leaves):
    """The inverse of ``tree_flatten``."""
    it = iter(leaves)

    def build(d):
        if d.kind == "leaf":
            return next(it)
        if d.kind == "none":
            return None
        children = [build(c) for c in d.children]
        if d.kind == "dict":
            return dict(zip(d.meta, children))
        return tuple(children) if d.kind == "tuple" else children

    return build(treedef)


def tree_map(fn, tree, *rest):
    leaves, treedef = tree_flatten(tree)
    others = [tree_flatten(r)[0] for r in rest]
    return tree_unflatten(treedef, [fn(*xs) for xs in zip(leaves, *others)])
