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
    """``fn`` applied leaf by leaf to ``tree`` and the trees of the same structure in ``rest``."""
    if is_leaf(tree):
        return fn(tree, *rest)
    if isinstance(tree, dict):
        return {k: tree_map(fn, v, *(r[k] for r in rest)) for k, v in tree.items()}
    out = [tree_map(fn, v, *(r[i] for r in rest)) for i, v in enumerate(tree)]
    return out if isinstance(tree, list) else tuple(out)


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
