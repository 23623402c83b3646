"""Matrix chains: the cheapest parenthesisation of A₁A₂…A_N, planned from shapes alone (SPEC §3).

:func:`chain_plan` works on ints only (house rule R7): it is cheap, cached and printable.
:func:`chain_dot` executes a plan on NumPy arrays, torch tensors or any array-API arrays.

Vectors may appear anywhere. A 1-D operand of length k is a row (1×k) when it comes first,
a column (k×1) when it comes last, and in the middle a column when the operand before it
ends in size k, a row otherwise (so ``A, x, y, B`` is the product A x yᵀ B). As in
:func:`numpy.linalg.multi_dot`, a vector at an end drops that axis from the result.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, TypeAlias

import numpy as np

from .. import _array, _checks
from .._array import Array

__all__ = ["ORDERS", "ChainPlan", "ChainStep", "chain_dot", "chain_plan"]

Tree: TypeAlias = "int | tuple[Tree, Tree]"
"""A parenthesisation: an operand index, or a pair (left, right) of sub-products."""

Order = Literal["optimal", "left", "right"]


def _left_tree(n: int) -> Tree:
    tree: Tree = 0
    for i in range(1, n):
        tree = (tree, i)
    return tree


def _right_tree(n: int) -> Tree:
    tree: Tree = n - 1
    for i in range(n - 2, -1, -1):
        tree = (i, tree)
    return tree


def _build_tree(split: list[list[int]], i: int, j: int) -> Tree:
    if i == j:
        return i
    k = split[i][j]
    return (_build_tree(split, i, k), _build_tree(split, k + 1, j))


@functools.lru_cache(maxsize=512)
def _optimal_tree(dims: tuple[int, ...]) -> Tree:
    """Dynamic programme over split points (Cormen et al. §15.2), O(N³) for N operands.

    ``cost[i][j]`` is the cheapest way to form A_i…A_j and ``split[i][j]`` its last split; ties
    go to the smallest split, as in ``numpy.linalg.multi_dot``.
    """
    n = len(dims) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            pi, pj = dims[i], dims[j + 1]
            best, k_best = min((cost[i][k] + cost[k + 1][j] + pi * dims[k + 1] * pj, k) for k in range(i, j))
            cost[i][j], split[i][j] = best, k_best
    return _build_tree(split, 0, n - 1)


ORDERS: dict[str, Callable[[tuple[int, ...]], Tree]] = {
    "optimal": _optimal_tree,
    "left": lambda dims: _left_tree(len(dims) - 1),
    "right": lambda dims: _right_tree(len(dims) - 1),
}
"""Registry of the orders :func:`chain_plan` can plan: the cheapest one, left to right, right to left."""


def _tree_cost(tree: Tree, dims: tuple[int, ...]) -> tuple[int, int, int]:
    """(multiply-adds, first operand, last operand) of the sub-product ``tree``."""
    if isinstance(tree, int):
        return 0, tree, tree
    c1, lo, mid = _tree_cost(tree[0], dims)
    c2, _, hi = _tree_cost(tree[1], dims)
    return c1 + c2 + dims[lo] * dims[mid + 1] * dims[hi + 1], lo, hi


class ChainStep(NamedTuple):
    """One product of a plan: ``result = left @ right`` with shapes (m, k) @ (k, n), costing m·k·n."""

    result: str
    left: str
    right: str
    shape: tuple[int, int, int]  # (m, k, n)
    cost: int


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape))


@dataclass(frozen=True, slots=True)
class ChainPlan:
    """A parenthesisation of a matrix chain and what it costs, in multiply-adds.

    Attributes
    ----------
    shapes : tuple of shapes
        The operands' shapes as given (1-D for vectors).
    dims : tuple of int
        p_0, …, p_N: operand i acts as a p_i × p_{i+1} matrix (vectors oriented, see the module).
    order : str
        The order that was planned (a key of :data:`ORDERS`).
    tree : int or nested pairs
        The parenthesisation: ``((0, 1), 2)`` is (A0 A1) A2.
    cost, optimal_cost, left_to_right_cost, right_to_left_cost : int
        Multiply-adds of this order, of the cheapest order, of ((A0 A1) A2)… and of …(A_{N-2} A_{N-1}).
    """

    shapes: tuple[tuple[int, ...], ...]
    dims: tuple[int, ...]
    order: str
    tree: Tree
    cost: int
    optimal_cost: int
    left_to_right_cost: int
    right_to_left_cost: int

    def __post_init__(self) -> None:
        if len(self.dims) != len(self.shapes) + 1:
            raise ValueError(f"ChainPlan: 'dims' must have {len(self.shapes) + 1} entries; got {len(self.dims)}")
        if not 0 <= self.optimal_cost <= min(self.cost, self.left_to_right_cost, self.right_to_left_cost):
            raise ValueError(f"ChainPlan: 'optimal_cost' must be the smallest cost; got {self.optimal_cost} "
                             f"(cost {self.cost}, left to right {self.left_to_right_cost}, "
                             f"right to left {self.right_to_left_cost})")

    @property
    def ratio(self) -> float:
        """Left-to-right cost over this plan's cost (how much the order saves; 1.0 for a free chain)."""
        return self.left_to_right_cost / self.cost if self.cost else 1.0

    @property
    def out_shape(self) -> tuple[int, ...]:
        """Shape of the product (an end vector drops its axis, as in ``numpy.linalg.multi_dot``)."""
        return _out_shape(self.shapes, self.dims)

    @property
    def parenthesization(self) -> str:
        """The order as an expression, e.g. ``A0 @ (A1 @ (A2 @ A3))``."""

        def text(t: Tree, top: bool) -> str:
            if isinstance(t, int):
                return f"A{t}"
            s = f"{text(t[0], False)} @ {text(t[1], False)}"
            return s if top else f"({s})"

        return text(self.tree, True)

    @property
    def steps(self) -> tuple[ChainStep, ...]:
        """The products in execution order; step k produces ``Tk``."""
        out: list[ChainStep] = []

        def walk(t: Tree) -> tuple[str, int, int]:
            if isinstance(t, int):
                return f"A{t}", t, t
            left, lo, mid = walk(t[0])
            right, _, hi = walk(t[1])
            m, k, n = self.dims[lo], self.dims[mid + 1], self.dims[hi + 1]
            out.append(ChainStep(f"T{len(out) + 1}", left, right, (m, k, n), m * k * n))
            return out[-1].result, lo, hi

        walk(self.tree)
        return tuple(out)

    def __str__(self) -> str:
        head = " · ".join(_fmt_shape(s) for s in self.shapes)
        lines = [f"chain of {len(self.shapes)} operands ({head}) → {_fmt_shape(self.out_shape) or 'scalar'}",
                 f"order ({self.order}): {self.parenthesization}"]
        for s in self.steps:
            m, k, n = s.shape
            lines.append(f"  {s.result} = {s.left} @ {s.right}   ({m}×{k} @ {k}×{n})   {s.cost:,} multiply-adds")
        lines.append(f"cost: {self.cost:,}   optimal: {self.optimal_cost:,}   left to right: "
                     f"{self.left_to_right_cost:,}   right to left: {self.right_to_left_cost:,}   "
                     f"left to right / this: {self.ratio:.3g}×")
        return "\n".join(lines)


def _orient(shapes: tuple[tuple[int, ...], ...], func: str) -> tuple[int, ...]:
    """The chain's dims p_0…p_N, orienting vectors; raise on the first pair that does not match."""
    n = len(shapes)
    rows: list[int] = []
    cols: list[int] = []
    for i, s in enumerate(shapes):
        if len(s) == 2:
            r, c = s
        elif i == 0:
            r, c = 1, s[0]
        elif i == n - 1 or cols[-1] == s[0]:
            r, c = s[0], 1
        else:
            r, c = 1, s[0]
        if i and cols[-1] != r:
            _mismatch(func, shapes, i, cols[-1], r)
        rows.append(r)
        cols.append(c)
    return (rows[0], *cols)


def _mismatch(func: str, shapes: tuple[tuple[int, ...], ...], i: int, end: int, start: int) -> None:
    pair = f"shapes {shapes[i - 1]} and {shapes[i]}"
    if len(shapes[i]) == 1 and 0 < i < len(shapes) - 1:
        _checks._fail(func, f"operands {i - 1} and {i} do not match: operand {i} (a vector of length "
                            f"{shapes[i][0]}) fits neither as a column after operand {i - 1}, which ends in size "
                            f"{end}, nor as a row, which needs operand {i - 1} to end in size 1 ({pair})")
    _checks._fail(func, f"operands {i - 1} and {i} do not match: operand {i - 1} ends in size {end} but operand "
                        f"{i} starts with size {start} ({pair})")


def _normalise_shapes(shapes: Any, func: str) -> tuple[tuple[int, ...], ...]:
    if isinstance(shapes, (str, bytes)) or not isinstance(shapes, Sequence) or len(shapes) < 2:
        got = f"{len(shapes)} shape(s)" if isinstance(shapes, Sequence) and not isinstance(shapes, str) \
            else f"{shapes!r} ({type(shapes).__name__})"
        _checks._fail(func, f"'shapes' must be a sequence of at least 2 shapes; got {got}")
    out = []
    for i, s in enumerate(shapes):
        ok = (isinstance(s, Sequence) and not isinstance(s, str) and len(s) in (1, 2)
              and all(isinstance(d, numbers.Integral) and not isinstance(d, (bool, np.bool_)) and int(d) >= 1
                      for d in s))
        if not ok:
            _checks._fail(func, f"'shapes[{i}]' must be a tuple of 1 or 2 positive ints; got {s!r}")
        out.append(tuple(int(d) for d in s))
    return tuple(out)


@functools.lru_cache(maxsize=512)
def _plan(shapes: tuple[tuple[int, ...], ...], order: str) -> ChainPlan:
    func = "chain_plan"
    dims = _orient(shapes, func)
    n = len(shapes)
    tree = ORDERS[order](dims)
    optimal = _tree_cost(_optimal_tree(dims), dims)[0]
    left = _tree_cost(_left_tree(n), dims)[0]
    right = _tree_cost(_right_tree(n), dims)[0]
    return ChainPlan(shapes, dims, order, tree, _tree_cost(tree, dims)[0], optimal, left, right)


def chain_plan(shapes: Sequence[Sequence[int]], *, order: Order = "optimal") -> ChainPlan:
    """Plan the product of a chain of matrices and vectors from their shapes alone.

    Parameters
    ----------
    shapes : sequence of shapes
        At least two shapes, each ``(m, n)`` for a matrix or ``(n,)`` for a vector (see the
        module for how vectors are oriented). Only ints are read, so plans are cached.
    order : {"optimal", "left", "right"}, default="optimal"
        The cheapest parenthesisation, or the naive left-to-right / right-to-left one
        (registry :data:`ORDERS`).

    Returns
    -------
    ChainPlan
        The parenthesisation and its cost in multiply-adds, next to the left-to-right and
        right-to-left costs; ``print(plan)`` shows every step.

    Raises
    ------
    InputError
        Fewer than two shapes, a malformed shape, or neighbours that do not match (the
        message names both operand indices and both sizes).

    Notes
    -----
    Multiplying a p×q by a q×r matrix costs pqr multiply-adds. With operand i of size
    p_i × p_{i+1}, the cheapest cost of A_i…A_j satisfies

    .. math:: m_{ij} = \\min_{i \\le k < j} \\; m_{ik} + m_{k+1,j} + p_i\\, p_{k+1}\\, p_{j+1},
              \\qquad m_{ii} = 0,

    a dynamic programme over split points in O(N³) time for N operands. It is the
    algorithm of ``numpy.linalg.multi_dot`` (which plans from arrays, not shapes).

    Examples
    --------
    >>> plan = chain_plan([(1000, 1000), (1000, 1000), (1000, 1000), (1000,)])
    >>> plan.parenthesization
    'A0 @ (A1 @ (A2 @ A3))'
    >>> plan.cost, plan.left_to_right_cost, round(plan.ratio)
    (3000000, 2001000000, 667)
    """
    func = "chain_plan"
    norm = _normalise_shapes(shapes, func)
    order = _checks.choice(order, ORDERS, func=func, name="order")  # type: ignore[assignment]
    return _plan(norm, order)


class _Program(NamedTuple):
    """A plan compiled for execution: reshapes of middle vectors, then pairwise products.

    ``steps[k] = (i, j)`` overwrites slot i with ``slot_i @ slot_j``; the product ends in slot 0.
    End vectors stay 1-D, because ``@`` already reads a leading 1-D operand as a row and a trailing
    one as a column and drops that axis, as :func:`numpy.linalg.multi_dot` does.
    """

    reshapes: tuple[tuple[int, tuple[int, int]], ...]
    steps: tuple[tuple[int, int], ...]
    scalar: bool  # both ends are vectors: the result is 0-d


def _steps(tree: Tree, out: list[tuple[int, int]]) -> int:
    """Append the products of ``tree`` in post-order; return the slot holding its result (its first operand)."""
    if isinstance(tree, int):
        return tree
    left, right = _steps(tree[0], out), _steps(tree[1], out)
    out.append((left, right))
    return left


@functools.lru_cache(maxsize=1024)
def _program(shapes: tuple[tuple[int, ...], ...], tree: Tree | None) -> _Program | None:
    """The program for these shapes (``tree=None``: the cheapest order), or None when the shapes are not a
    valid chain, so that the validating path reports the error. Depends on shapes only: any dtype may use it."""
    if any(len(s) not in (1, 2) or 0 in s for s in shapes):
        return None
    try:
        dims = _orient(shapes, "chain_dot")
    except _checks.InputError:
        return None
    if tree is None:
        tree = ORDERS["optimal"](dims)
    last = len(shapes) - 1
    reshapes = tuple((i, (dims[i], dims[i + 1])) for i, s in enumerate(shapes) if len(s) == 1 and 0 < i < last)
    steps: list[tuple[int, int]] = []
    _steps(tree, steps)
    return _Program(reshapes, tuple(steps), len(shapes[0]) == 1 and len(shapes[-1]) == 1)


def _apply(program: _Program, arrays: tuple[Any, ...], dot: Callable[[Any, Any], Any]) -> Any:
    slots = list(arrays)
    for i, shape in program.reshapes:
        slots[i] = slots[i].reshape(shape)
    for i, j in program.steps:
        slots[i] = dot(slots[i], slots[j])
    return slots[0]


_FAST_DTYPES = frozenset("fdFD")  # float32, float64, complex64, complex128: already computing dtypes


def _numpy_fast(arrays: tuple[Any, ...], tree: Tree | None) -> np.ndarray | None:
    """The product of NumPy operands in computing dtypes, or None to take the validating path.

    No operand is copied or converted, and none is scanned: finiteness is read from the product,
    since in IEEE arithmetic a NaN or ±∞ entry of any operand reaches it (NaN·x = NaN, ∞·0 = NaN,
    ∞·x = ±∞, and every entry of every operand multiplies at least one entry of its neighbour).
    When the product is not finite the validating path runs, which names the operand at fault
    (or, when all are finite and the product overflowed, returns the same product).
    """
    if len(arrays) < 2:
        return None
    for a in arrays:
        if type(a) is not np.ndarray or a.dtype.char not in _FAST_DTYPES:
            return None
    program = _program(tuple([a.shape for a in arrays]), tree)
    if program is None:
        return None
    out = _apply(program, arrays, np.dot)
    if program.scalar:
        out = np.asarray(out)
    return out if math.isfinite(np.vdot(out, out).real) else None


def chain_dot(*arrays: Array, plan: ChainPlan | None = None) -> Array:
    """The product A₀A₁…A_{N−1} in the cheapest order (or the order of ``plan``).

    Parameters
    ----------
    *arrays : arrays of shape (m, n) or (n,)
        At least two operands of one library and device (NumPy, torch or array API);
        vectors are oriented as described in the module.
    plan : ChainPlan, optional
        A plan from :func:`chain_plan` for exactly these shapes; default: the cheapest order.

    Returns
    -------
    array
        The product, of the operands' library and device; an end vector drops its axis, so
        ``chain_dot(x, A, y)`` is a 0-d array.

    Notes
    -----
    Equivalent to ``numpy.linalg.multi_dot`` (same order and the same multiply-adds for the
    same shapes) and to ``torch.linalg.multi_dot``, with vectors allowed inside the chain and
    plans reusable. The execution program is cached per shape tuple, so a repeated chain is
    not planned again; operands are never copied. NumPy operands in float32/64 or
    complex64/128 are not scanned for NaN/Inf: a non-finite entry of any operand always
    reaches the product, so the product is checked instead, and the operands only when it
    is not finite (to name the one at fault).

    Examples
    --------
    >>> import numpy as np
    >>> A = np.eye(3); x = np.arange(3.0)
    >>> chain_dot(A, 2 * A, A, x).tolist()
    [0.0, 2.0, 4.0]
    """
    tree = None
    if plan is not None:
        if not isinstance(plan, ChainPlan) or plan.shapes != tuple([getattr(a, "shape", None) for a in arrays]):
            return _chain_dot_checked(arrays, plan)
        tree = plan.tree
    out = _numpy_fast(arrays, tree)
    return out if out is not None else _chain_dot_checked(arrays, plan)


def _chain_dot_checked(arrays: tuple[Any, ...], plan: Any) -> Array:
    """:func:`chain_dot` with every operand validated by :mod:`rankwise._checks` (any library)."""
    func = "chain_dot"
    if len(arrays) < 2:
        _checks._fail(func, f"'arrays' must be at least 2 arrays; got {len(arrays)}")
    mats = [_checks.array(a, func=func, name=f"arrays[{i}]", ndim=(1, 2)) for i, a in enumerate(arrays)]
    _checks.same_namespace(func, **{f"arrays[{i}]": a for i, a in enumerate(mats)})
    shapes = tuple(tuple(int(d) for d in a.shape) for a in mats)
    if plan is not None and (not isinstance(plan, ChainPlan) or plan.shapes != shapes):
        got = f"a plan for shapes {plan.shapes}" if isinstance(plan, ChainPlan) else f"{type(plan).__name__}"
        _checks._fail(func, f"'plan' must be a ChainPlan for shapes {shapes}; got {got}")
    _orient(shapes, func)  # raises on the first pair that does not match
    program = _program(shapes, None if plan is None else plan.tree)
    assert program is not None  # the operands were validated above
    xp = _array.namespace(mats[0])
    out = _apply(program, tuple(mats), xp.matmul)
    return xp.reshape(out, ()) if program.scalar else out


def _out_shape(shapes: tuple[tuple[int, ...], ...], dims: tuple[int, ...]) -> tuple[int, ...]:
    """An end vector drops its axis from the product."""
    return (() if len(shapes[0]) == 1 else (dims[0],)) + (() if len(shapes[-1]) == 1 else (dims[-1],))
