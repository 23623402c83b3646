"""Matrix chains (SPEC §3): optimal order against brute force and numpy, products against left to right."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rankwise
from rankwise.linalg.chain import ChainPlan, Tree, _orient, _tree_cost, chain_dot, chain_plan


def all_trees(i: int, j: int) -> Iterator[Tree]:
    """Every parenthesisation of operands i..j (Catalan(j - i) of them)."""
    if i == j:
        yield i
        return
    for k in range(i, j):
        for left in all_trees(i, k):
            for right in all_trees(k + 1, j):
                yield (left, right)


def brute_force(dims: tuple[int, ...]) -> int:
    return min(_tree_cost(t, dims)[0] for t in all_trees(0, len(dims) - 2))


@st.composite
def chains(draw: st.DrawFn, max_len: int = 8) -> list[tuple[int, ...]]:
    """Random conforming chains of 2..max_len operands, with vectors at the ends and in the middle."""
    n = draw(st.integers(2, max_len))
    dims = draw(st.lists(st.integers(1, 40), min_size=n + 1, max_size=n + 1))
    k = draw(st.integers(1, n - 3)) if n >= 4 and draw(st.booleans()) else 0
    if k:
        dims[k + 1] = 1  # operands k and k + 1 become a column and a row: an outer product
    shapes: list[tuple[int, ...]] = [(dims[i], dims[i + 1]) for i in range(n)]
    if k:
        shapes[k], shapes[k + 1] = (dims[k],), (dims[k + 2],)
    if draw(st.booleans()):
        shapes[0] = (dims[1],)
    if draw(st.booleans()):
        shapes[-1] = (dims[-2],)
    return shapes


@settings(max_examples=60, deadline=None)
@given(chains())
def test_plan_cost_equals_brute_force(shapes: list[tuple[int, ...]]) -> None:
    plan = chain_plan(shapes)
    assert plan.cost == plan.optimal_cost == brute_force(plan.dims)
    assert plan.cost == _tree_cost(plan.tree, plan.dims)[0]
    assert plan.optimal_cost <= min(plan.left_to_right_cost, plan.right_to_left_cost)
    assert len(plan.steps) == len(shapes) - 1 and sum(s.cost for s in plan.steps) == plan.cost


@settings(max_examples=25, deadline=None)
@given(chains(max_len=6), st.integers(0, 2**32 - 1))
def test_product_equals_left_to_right(shapes: list[tuple[int, ...]], seed: int) -> None:
    gen = np.random.default_rng(seed)
    arrays = [gen.standard_normal(s) for s in shapes]
    dims = _orient(tuple(shapes), "test")
    mats = [a.reshape(dims[i], dims[i + 1]) for i, a in enumerate(arrays)]
    ref = functools.reduce(np.matmul, mats)  # left to right, float64
    out = chain_dot(*arrays)
    assert out.shape == chain_plan(shapes).out_shape
    scale = functools.reduce(lambda a, b: np.abs(a) @ np.abs(b), mats)  # bound on rounding of any order
    np.testing.assert_allclose(out.reshape(ref.shape), ref, rtol=0, atol=1e-12 * float(scale.max()))


def test_a1_a2_a3_x_is_right_to_left() -> None:
    n = 1000
    plan = chain_plan([(n, n), (n, n), (n, n), (n,)])
    assert plan.tree == (0, (1, (2, 3))) and plan.parenthesization == "A0 @ (A1 @ (A2 @ A3))"
    assert plan.cost == plan.right_to_left_cost == 3 * n * n  # O(n²)
    assert plan.left_to_right_cost == 2 * n**3 + n * n  # O(n³)
    assert plan.ratio == pytest.approx((2 * n + 1) / 3)


def _numpy_tree(shapes: list[tuple[int, int]]) -> Tree:
    order = pytest.importorskip("numpy.linalg._linalg")._multi_dot_matrix_chain_order
    s = order([np.empty(sh) for sh in shapes])

    def build(i: int, j: int) -> Tree:
        return i if i == j else (build(i, int(s[i, j])), build(int(s[i, j]) + 1, j))

    return build(0, len(shapes) - 1)


@pytest.mark.parametrize("seed", range(12))
def test_agrees_with_numpy_multi_dot(seed: int) -> None:
    gen = np.random.default_rng(seed)
    n = int(gen.integers(4, 9))
    dims = [int(d) for d in gen.integers(1, 60, n + 1)]
    shapes = [(dims[i], dims[i + 1]) for i in range(n)]
    plan = chain_plan(shapes)
    numpy_tree = _numpy_tree(shapes)
    assert plan.cost == _tree_cost(numpy_tree, plan.dims)[0]
    assert plan.tree == numpy_tree  # same tie-breaking: the smallest split
    arrays = [gen.standard_normal(s) for s in shapes]
    np.testing.assert_allclose(chain_dot(*arrays), np.linalg.multi_dot(arrays), rtol=1e-10)


@pytest.mark.parametrize("shapes", [[(5,), (5, 3)], [(4, 5), (5,)], [(5,), (5,)], [(5,), (5, 4), (4,)],
                                    [(2, 3), (3, 4), (4,)], [(3,), (3, 4), (4, 2), (2, 6)]])
def test_vectors_at_the_ends_match_multi_dot(shapes: list[tuple[int, ...]]) -> None:
    gen = np.random.default_rng(1)
    arrays = [gen.standard_normal(s) for s in shapes]
    ref = np.linalg.multi_dot(arrays)
    out = chain_dot(*arrays)
    assert out.shape == np.shape(ref) == chain_plan(shapes).out_shape
    np.testing.assert_allclose(out, ref, rtol=1e-12)


def test_vectors_in_the_middle_are_an_outer_product() -> None:
    gen = np.random.default_rng(2)
    A, x, y, B = gen.standard_normal((50, 40)), gen.standard_normal(40), gen.standard_normal(30), \
        gen.standard_normal((30, 60))
    np.testing.assert_allclose(chain_dot(A, x, y, B), A @ np.outer(x, y) @ B, rtol=1e-12)
    plan = chain_plan([A.shape, x.shape, y.shape, B.shape])
    assert plan.dims == (50, 40, 1, 30, 60)
    assert plan.tree == ((0, 1), (2, 3)) and plan.cost == 50 * 40 + 30 * 60 + 50 * 60  # (Ax)(yᵀB)


def test_plans_for_each_order_and_execution() -> None:
    shapes = [(30, 5), (5, 40), (40, 10), (10,)]
    gen = np.random.default_rng(3)
    arrays = [gen.standard_normal(s) for s in shapes]
    ref = arrays[0] @ arrays[1] @ arrays[2] @ arrays[3]
    for order, tree in (("left", (((0, 1), 2), 3)), ("right", (0, (1, (2, 3))))):
        plan = chain_plan(shapes, order=order)  # type: ignore[arg-type]
        assert plan.tree == tree and plan.order == order
        assert plan.cost == (plan.left_to_right_cost if order == "left" else plan.right_to_left_cost)
        np.testing.assert_allclose(chain_dot(*arrays, plan=plan), ref, rtol=1e-12)
    assert chain_plan(shapes).cost == min(chain_plan(shapes, order=o).cost for o in rankwise.linalg.chain.ORDERS)


def test_plan_is_cached_frozen_and_printable() -> None:
    shapes = [(1000, 20), (20, 1000), (1000, 1)]
    plan = chain_plan(shapes)
    assert chain_plan([list(s) for s in shapes]) is plan  # planned from ints once
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.cost = 0  # type: ignore[misc]
    text = str(plan)
    assert "A0 @ (A1 @ A2)" in text and f"{plan.cost:,}" in text and f"{plan.left_to_right_cost:,}" in text
    assert plan.steps[0].result == "T1" and plan.steps[-1].shape == (1000, 20, 1)


def test_costs_are_exact_integers_for_huge_sizes() -> None:
    n = 10**6
    plan = chain_plan([(n, n)] * 5 + [(n,)])
    assert plan.cost == 5 * n * n and plan.left_to_right_cost == 4 * n**3 + n * n


def test_fifty_matrices() -> None:
    gen = np.random.default_rng(4)
    dims = [int(d) for d in gen.integers(1, 500, 51)]
    plan = chain_plan([(dims[i], dims[i + 1]) for i in range(50)])
    assert plan.cost <= min(plan.left_to_right_cost, plan.right_to_left_cost)
    assert plan.parenthesization.count("@") == 49


@pytest.mark.parametrize(("shapes", "msg"), [
    ([(5, 4), (3, 2)], r"operands 0 and 1 do not match: operand 0 ends in size 4 but operand 1 starts with size 3 "
                       r"\(shapes \(5, 4\) and \(3, 2\)\)"),
    ([(5, 4), (4, 6), (7, 2)], r"operands 1 and 2 do not match: operand 1 ends in size 6 but operand 2 starts "
                               r"with size 7"),
    ([(5, 4), (3,), (3, 2)], r"operands 0 and 1 do not match: operand 1 \(a vector of length 3\) fits neither "
                             r"as a column after operand 0"),
    ([(4,), (5, 2)], r"operands 0 and 1 do not match: operand 0 ends in size 4 but operand 1 starts with size 5"),
    ([(5, 4)], r"'shapes' must be a sequence of at least 2 shapes; got 1 shape"),
    ("3x4", r"'shapes' must be a sequence of at least 2 shapes; got '3x4'"),
    ([(5, 4), (4, 0)], r"'shapes\[1\]' must be a tuple of 1 or 2 positive ints; got \(4, 0\)"),
    ([(5, 4), (4, 2, 2)], r"'shapes\[1\]' must be a tuple of 1 or 2 positive ints"),
    ([(5, 4.0), (4, 2)], r"'shapes\[0\]' must be a tuple of 1 or 2 positive ints"),
])
def test_plan_errors(shapes: object, msg: str) -> None:
    with pytest.raises(ValueError, match=rf"^chain_plan: {msg}"):
        chain_plan(shapes)  # type: ignore[arg-type]


def test_unknown_order() -> None:
    with pytest.raises(ValueError, match=r"^chain_plan: unknown order 'best'; valid: left, optimal, right$"):
        chain_plan([(2, 3), (3, 4)], order="best")  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [3, 80])  # the tiny-size shortcut and the general path say the same
def test_chain_dot_errors(size: int) -> None:
    A = np.ones((size, size))
    bad = A.copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match=r"^chain_dot: 'arrays\[2\]' must contain only finite values; got 1 NaN"):
        chain_dot(A, A, bad)
    with pytest.raises(ValueError, match=r"^chain_dot: operands 1 and 2 do not match: operand 1 ends in size "
                                         rf"{size} but operand 2 starts with size {size + 1}"):
        chain_dot(A, A, np.ones((size + 1, 2)))
    with pytest.raises(ValueError, match=r"^chain_dot: 'arrays\[1\]' must be a 1-D or 2-D array; got a 3-D"):
        chain_dot(A, np.ones((size, 2, 2)))
    with pytest.raises(ValueError, match=r"^chain_dot: 'arrays\[0\]' must be non-empty"):
        chain_dot(np.ones((0, size)), A)
    with pytest.raises(TypeError, match=r"^chain_dot: 'arrays\[1\]' must be a numeric array; got dtype"):
        chain_dot(A, np.array([["a"] * size] * size))
    with pytest.raises(ValueError, match=r"^chain_dot: 'arrays' must be at least 2 arrays; got 1"):
        chain_dot(A)
    with pytest.raises(ValueError, match=r"^chain_dot: 'plan' must be a ChainPlan for shapes"):
        chain_dot(A, A, plan=chain_plan([(size, size), (size, 1)]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_dtype_is_preserved(dtype: type) -> None:
    gen = np.random.default_rng(5)
    for n in (3, 70):  # tiny shortcut and general path
        arrays = [gen.standard_normal(s).astype(dtype) for s in ((n, n), (n, n), (n,))]
        assert chain_dot(*arrays).dtype == np.dtype(dtype)


def test_integers_become_float64_and_lists_are_accepted() -> None:
    out = chain_dot(np.eye(3, dtype=int), [[1, 2], [3, 4], [5, 6]], [1, 1])
    assert out.dtype == np.float64 and out.tolist() == [3.0, 7.0, 11.0]


def test_array_api_strict() -> None:
    xp = pytest.importorskip("array_api_strict")
    gen = np.random.default_rng(6)
    A, B, x = gen.standard_normal((4, 5)), gen.standard_normal((5, 6)), gen.standard_normal(6)
    out = chain_dot(xp.asarray(A), xp.asarray(B), xp.asarray(x))
    assert type(out) is type(xp.asarray(A))
    np.testing.assert_allclose(np.asarray(out), A @ B @ x, rtol=1e-12)


def test_torch_cpu() -> None:
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(0)
    A, B, x = torch.randn(6, 7, generator=g), torch.randn(7, 8, generator=g), torch.randn(8, generator=g)
    out = chain_dot(A, B, x)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (6,)
    torch.testing.assert_close(out, torch.linalg.multi_dot([A, B, x]))
    with pytest.raises(TypeError, match=r"^chain_dot: 'arrays\[0\]' and 'arrays\[1\]' must be arrays of the same"):
        chain_dot(A, B.numpy())


@pytest.mark.gpu
def test_torch_cuda_stays_on_device() -> None:
    torch = pytest.importorskip("torch")
    A, x = torch.randn(50, 50, device="cuda", dtype=torch.float64), torch.randn(50, device="cuda", dtype=torch.float64)
    out = chain_dot(A, A, A, x)
    assert out.device == A.device
    torch.testing.assert_close(out, A @ (A @ (A @ x)))


def test_exports() -> None:
    assert rankwise.chain_plan is chain_plan and rankwise.chain_dot is chain_dot and rankwise.ChainPlan is ChainPlan


def test_opt_einsum_greedy_multiplies_the_matrices_first_and_rankwise_does_not() -> None:
    """The benchmark's claim, on shapes: greedy forms AB first (n³ + 2n²), the optimum is A(B(Cx)) (3n²)."""
    oe = pytest.importorskip("opt_einsum")
    from benchmarks.bench_chain import _equation, _path_cost

    n = 300
    shapes: list[tuple[int, ...]] = [(n, n), (n, n), (n, n), (n,)]
    eq = _equation(shapes)
    assert eq == "ab,bc,cd,d->a"
    greedy, _ = oe.contract_path(eq, *shapes, shapes=True, optimize="greedy")
    assert greedy[0] == (0, 1) and _path_cost(eq, shapes, greedy) == n**3 + 2 * n * n
    optimal, _ = oe.contract_path(eq, *shapes, shapes=True, optimize="optimal")
    assert _path_cost(eq, shapes, optimal) == chain_plan(shapes).cost == 3 * n * n
    assert _equation([(5, 4), (4,), (3,), (3, 2)]) == "ab,b,d,de->ae"  # a column then a row: an outer product


# ------------------------------------------------------------------ execution: cached programs, no copies


def test_program_cache_is_keyed_by_shapes_and_serves_every_dtype() -> None:
    from rankwise.linalg import chain as chain_mod

    gen = np.random.default_rng(7)
    wide = [(2, 50), (50, 3), (3, 40)]  # optimal: (A0 A1) A2
    tall = [(40, 3), (3, 50), (50, 2)]  # optimal: A0 (A1 A2)
    assert chain_plan(wide).tree == ((0, 1), 2) and chain_plan(tall).tree == (0, (1, 2))
    for shapes in (wide, tall, wide):  # alternate: each call must use its own shapes' program
        for dtype in (np.float64, np.float32, np.complex128, np.complex64):
            arrays = [gen.standard_normal(s).astype(dtype) for s in shapes]
            out = chain_dot(*arrays)
            assert out.dtype == np.dtype(dtype)
            tol = 1e-5 if dtype in (np.float32, np.complex64) else 1e-12
            np.testing.assert_allclose(out, arrays[0] @ arrays[1] @ arrays[2], rtol=tol)
    assert chain_mod._program(tuple(map(tuple, wide)), None).steps == ((0, 1), (0, 2))
    assert chain_mod._program(tuple(map(tuple, tall)), None).steps == ((1, 2), (0, 1))
    assert chain_mod._program(((2, 3), (4, 5)), None) is None  # not a chain: left to the validating path


def test_operands_are_neither_copied_nor_mutated(monkeypatch: pytest.MonkeyPatch) -> None:
    gen = np.random.default_rng(8)
    A = gen.standard_normal((30, 20))
    Bt = gen.standard_normal((40, 20)).T  # a non-contiguous view: used as it is
    x, y, C = gen.standard_normal(40), gen.standard_normal(25), gen.standard_normal((25, 6))
    arrays = (A, Bt, x, y, C)
    before = [a.copy() for a in arrays]
    seen: list[np.ndarray] = []
    real_dot = np.dot

    def spy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        seen.extend([a, b])
        return real_dot(a, b)

    monkeypatch.setattr(np, "dot", spy)
    out = chain_dot(*arrays)
    monkeypatch.undo()
    np.testing.assert_allclose(out, A @ Bt @ np.outer(x, y) @ C, rtol=1e-12)
    for a, b in zip(arrays, before, strict=True):
        np.testing.assert_array_equal(a, b)  # not mutated
    assert any(s is A for s in seen) and any(s is Bt for s in seen) and any(s is C for s in seen)
    assert any(s.base is x for s in seen) and any(s.base is y for s in seen)  # middle vectors: reshaped views


@pytest.mark.parametrize("order", ["optimal", "left", "right"])
def test_vectors_at_the_ends_with_and_without_a_plan(order: str) -> None:
    gen = np.random.default_rng(9)
    x, A, B, y = gen.standard_normal(6), gen.standard_normal((6, 5)), gen.standard_normal((5, 4)), \
        gen.standard_normal(4)
    for arrays, want in (((x, A, B, y), x @ A @ B @ y), ((x, A, B), x @ A @ B), ((A, B, y), A @ B @ y),
                         ((x, A), x @ A), ((B, y), B @ y), ((x, x), x @ x)):
        plan = chain_plan([a.shape for a in arrays], order=order)  # type: ignore[arg-type]
        for out in (chain_dot(*arrays), chain_dot(*arrays, plan=plan)):
            assert isinstance(out, np.ndarray) and out.shape == np.shape(want) == plan.out_shape
            np.testing.assert_allclose(out, want, rtol=1e-12)


def test_nonfinite_operand_is_named_and_overflow_is_returned() -> None:
    A = np.ones((4, 4))
    x = np.ones(4)
    for bad_value, word in ((np.nan, "NaN"), (np.inf, "infinite")):
        bad = A.copy()
        bad[2, 3] = bad_value
        with pytest.raises(ValueError, match=rf"^chain_dot: 'arrays\[1\]' must contain only finite values; got 1 "
                                              rf"{word}"):
            chain_dot(A, bad, x)
    huge = np.full((4, 4), 1e300)
    with np.errstate(over="ignore"):
        out = chain_dot(huge, huge, x)  # finite operands whose product overflows: no error, as with @
    assert np.isinf(out).all()
