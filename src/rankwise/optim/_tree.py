"""Parameter trees: one array, or a dict / list / tuple of arrays (nested).

Optimisers and :func:`~rankwise.optim.minimize` map functions over the leaves of such
trees. A single array costs one call and nothing more, so the common case has no overhead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _array

Tree = Any
"""One array, or a dict / list / tuple whose leaves are arrays."""


def is_leaf(x: Any) -> bool:
    return not isinstance(x, (dict, list, tuple))


def tree_map(fn: Callable[..., Any], tree: Tree, *rest: Tree) -> Tree:
    """``fn`` applied leaf by leaf to ``tree`` and the trees of the same structure in ``rest``.

    The trees' dicts must have the same keys and their lists / tuples the same lengths: an
    entry of one that the other lacks raises ``ValueError`` (it is never dropped silently).
    """
    if is_leaf(tree):
        return fn(tree, *rest)
    if isinstance(tree, dict):
        for r in rest:
            if not isinstance(r, dict) or r.keys() != tree.keys():
                raise ValueError(f"optim: parameter trees must have the same keys; got {_keys(tree)} and "
                                 f"{_keys(r) if isinstance(r, dict) else type(r).__name__}")
        return {k: tree_map(fn, v, *(r[k] for r in rest)) for k, v in tree.items()}
    for r in rest:
        if is_leaf(r) or isinstance(r, dict) or len(r) != len(tree):
            raise ValueError(f"optim: parameter trees must have the same structure; got a {type(tree).__name__} "
                             f"of {len(tree)} and {_what(r)}")
    out = [tree_map(fn, v, *(r[i] for r in rest)) for i, v in enumerate(tree)]
    return out if isinstance(tree, list) else tuple(out)


def _keys(d: dict[Any, Any]) -> str:
    return "{" + ", ".join(repr(k) for k in d) + "}"


def _what(x: Any) -> str:
    if isinstance(x, dict):
        return f"a dict with keys {_keys(x)}"
    if isinstance(x, (list, tuple)):
        return f"a {type(x).__name__} of {len(x)}"
    shape = getattr(x, "shape", None)
    return f"an array of shape {tuple(shape)}" if shape is not None else f"a {type(x).__name__}"


def mismatch(got: Tree, want: Tree, path: str = "") -> str | None:
    """Where ``got`` differs from ``want`` in nesting or leaf shapes (None when they agree).

    The answer reads ``no entry for parameter 'w'`` / ``an extra entry 'b'`` / ``shape (3,)
    for parameter 'w'; expected (3, 1)``, with nested parameters written ``'layer'/'w'``.
    """
    def name(k: Any) -> str:
        return f"{path}/{k!r}" if path else repr(k)

    if is_leaf(want):
        if not is_leaf(got):
            return f"{_what(got)} for parameter {path or 'x'}; expected an array of shape {tuple(want.shape)}"
        gs, ws = tuple(getattr(got, "shape", ())), tuple(getattr(want, "shape", ()))
        if gs != ws or not hasattr(got, "shape"):
            return f"{_what(got)} for parameter {path or 'x'}; expected shape {ws}"
        return None
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return f"{_what(got)} for {path or 'the parameters'}; expected a dict with keys {_keys(want)}"
        missing = [k for k in want if k not in got]
        if missing:
            return f"no entry for parameter {name(missing[0])}; expected one array per parameter"
        extra = [k for k in got if k not in want]
        if extra:
            return f"an entry {name(extra[0])} that is not a parameter; expected keys {_keys(want)}"
        return next((m for k in want if (m := mismatch(got[k], want[k], name(k))) is not None), None)
    if is_leaf(got) or isinstance(got, dict) or len(got) != len(want):
        return f"{_what(got)} for {path or 'the parameters'}; expected {_what(want)}"
    return next((m for i, (g, w) in enumerate(zip(got, want, strict=True))
                 if (m := mismatch(g, w, name(i))) is not None), None)


def leaves(tree: Tree) -> list[Any]:
    """The arrays of ``tree`` in a fixed order (dict insertion order)."""
    if is_leaf(tree):
        return [tree]
    items = tree.values() if isinstance(tree, dict) else tree
    return [leaf for v in items for leaf in leaves(v)]


def structure(tree: Tree) -> Any:
    """A hashable description of ``tree``'s nesting and leaf shapes (to compare two trees)."""
    if is_leaf(tree):
        return tuple(getattr(tree, "shape", ()))
    if isinstance(tree, dict):
        return ("dict", tuple((k, structure(v)) for k, v in tree.items()))
    return (type(tree).__name__, tuple(structure(v) for v in tree))


_NAMESPACES: dict[type, Any] = {}


def namespace(x: Any) -> Any:
    """The array namespace of ``x``, cached by type (the lookup costs more than a small step)."""
    xp = _NAMESPACES.get(type(x))
    if xp is None:
        xp = _NAMESPACES[type(x)] = _array.namespace(x)
    return xp


def dot(x: Any, y: Any) -> float:
    """⟨x, y⟩ of two arrays of one library, as a Python float."""
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        return float(np.dot(x.ravel(), y.ravel()))
    return _array.to_float(namespace(x).sum(x * y))


def norm(tree: Tree) -> float:
    """Euclidean norm of all leaves together, as a Python float (NaN when it is not finite)."""
    total = sum(dot(leaf, leaf) for leaf in leaves(tree))
    return math.sqrt(total) if total >= 0 else math.nan


def vdot(a: Tree, b: Tree) -> float:
    """⟨a, b⟩ over all leaves, as a Python float."""
    return sum(dot(x, y) for x, y in zip(leaves(a), leaves(b), strict=True))


def sub(a: Tree, b: Tree) -> Tree:
    return tree_map(lambda x, y: x - y, a, b)


def add(a: Tree, b: Tree) -> Tree:
    return tree_map(lambda x, y: x + y, a, b)


def zeros_like(tree: Tree) -> Tree:
    return tree_map(lambda x: namespace(x).zeros_like(x), tree)
