"""Matrix chains: planning time, and chain_dot against numpy.linalg.multi_dot and opt_einsum.

Three tables (``main(quick, repeats)``; run with ``python -m benchmarks.run chain [--quick]``):

1. planning time for chains of 2…50 random matrices (shapes only): rankwise.chain_plan with
   cold caches and cached, numpy's private ``_multi_dot_matrix_chain_order`` (it needs arrays),
   opt_einsum's ``contract_path`` with ``greedy``, ``dp`` and (up to 6 operands) ``optimal``;
2. products of chains mixing matrices and vectors: rankwise.chain_dot, numpy.linalg.multi_dot,
   opt_einsum.contract (greedy and optimal) and plain ``@`` from left to right, with the
   multiply-adds of each tool's order and the error against a float64 left-to-right product.
   opt_einsum's greedy path multiplies the two matrices first on ij,jk,kl,l->i (n³ work);
   rankwise must not;
3. the overhead on tiny chains (4×4 and 8×8), where ``@`` itself takes microseconds.

Every tool runs in this one process (they all use NumPy's BLAS, so no two thread pools compete), and the
tools of one table row are timed interleaved, median of at least 5 samples.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

Shapes = list[tuple[int, ...]]


def _median_time(fn: Callable[[], Any], repeats: int, inner: int = 1) -> float:
    return _median_times([fn], repeats, [inner])[0]


def _median_times(fns: list[Callable[[], Any]], repeats: int, inners: list[int] | None = None) -> list[float]:
    """Median seconds per call of each function, timed interleaved (f₀, f₁, …, f₀, f₁, …) after a warm-up,
    so that every tool of a table row sees the same load on a shared machine; each sample follows one
    untimed call of the same function, so no tool pays for refilling the caches after another."""
    inners = inners or [1] * len(fns)
    for fn in fns:
        fn()
    samples: list[list[float]] = [[] for _ in fns]
    k = len(fns)
    for rep in range(repeats):
        for i in range(rep, rep + k):  # each round starts with the next tool: no tool always follows the slowest
            fn, inner, out = fns[i % k], inners[i % k], samples[i % k]
            fn()  # untimed: the previous tool's data leave the caches, not this tool's time
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            out.append((time.perf_counter() - t0) / inner)
    return [statistics.median(s) for s in samples]


def _equation(shapes: Shapes) -> str:
    """An einsum equation for a chain (1-D operands: a row at the start, a column at the end,
    and in the middle a column after a matching operand, else a row — rankwise's rule)."""
    import opt_einsum as oe

    from rankwise.linalg.chain import _orient

    dims = _orient(tuple(shapes), "bench")
    sym = [oe.get_symbol(i) for i in range(len(dims))]
    terms, out = [], []
    for i, s in enumerate(shapes):
        if len(s) == 2:
            terms.append(sym[i] + sym[i + 1])
        else:
            terms.append(sym[i + 1] if dims[i] == 1 else sym[i])
    if len(shapes[0]) == 2:
        out.append(sym[0])
    if len(shapes[-1]) == 2:
        out.append(sym[-1])
    return ",".join(terms) + "->" + "".join(out)


def _path_cost(eq: str, shapes: Shapes, path: list[tuple[int, ...]]) -> int:
    """Multiply-adds of an opt_einsum path: each pairwise step costs the product of the sizes it touches."""
    inputs, _ = eq.split("->")
    ops = [set(t) for t in inputs.split(",")]
    size = {c: d for t, s in zip(inputs.split(","), shapes, strict=True) for c, d in zip(t, s, strict=True)}
    keep = set(eq.split("->")[1])
    total = 0
    for step in path:
        picked = [ops[i] for i in step]
        for i in sorted(step, reverse=True):
            ops.pop(i)
        touched = set().union(*picked)
        total += int(np.prod([size[c] for c in touched]))
        rest = set().union(*ops) if ops else set()
        ops.append({c for c in touched if c in keep or c in rest})
    return total


def planning_table(quick: bool, repeats: int) -> str:
    import opt_einsum as oe

    from rankwise.linalg import chain as chain_mod

    lengths = (2, 5, 10) if quick else (2, 5, 10, 20, 50)
    gen = np.random.default_rng(0)
    lines = ["**Planning time** (random sizes in [10, 500); median per plan)", "",
             "| operands | rankwise (cold) | rankwise (cached) | numpy order (private) | opt_einsum greedy "
             "| opt_einsum dp | opt_einsum optimal |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for n in lengths:
        dims = [int(d) for d in gen.integers(10, 500, n + 1)]
        shapes: Shapes = [(dims[i], dims[i + 1]) for i in range(n)]
        arrays = [np.empty(s) for s in shapes]
        eq = _equation(shapes)

        def cold(shapes: Shapes = shapes) -> Any:
            chain_mod._plan.cache_clear()
            chain_mod._optimal_tree.cache_clear()
            return chain_mod.chain_plan(shapes)

        numpy_order = getattr(np.linalg, "_linalg", None)
        cells = [_median_time(cold, repeats), _median_time(lambda s=shapes: chain_mod.chain_plan(s), repeats, 100)]
        if numpy_order is not None and n >= 3:
            cells.append(_median_time(lambda a=arrays, m=numpy_order: m._multi_dot_matrix_chain_order(a), repeats))
        else:
            cells.append(float("nan"))
        for opt in ("greedy", "dp", "optimal"):
            if opt == "optimal" and n > 6:
                cells.append(float("nan"))
                continue
            cells.append(_median_time(lambda o=opt, s=shapes, e=eq: oe.contract_path(e, *s, shapes=True,
                                                                                  optimize=o), repeats))
        lines.append(f"| {n} | " + " | ".join("—" if np.isnan(c) else _fmt_time(c) for c in cells) + " |")
    return "\n".join(lines)


def _fmt_time(t: float) -> str:
    return f"{t * 1e6:.1f} µs" if t < 1e-3 else f"{t * 1e3:.2f} ms" if t < 1 else f"{t:.3f} s"


def _cases(quick: bool) -> list[tuple[str, Shapes]]:
    n = 300 if quick else 1000
    m = n // 10
    return [
        ("A₁A₂A₃x (ij,jk,kl,l->i)", [(n, n), (n, n), (n, n), (n,)]),
        ("xᵀABy", [(n,), (n, n), (n, n), (n,)]),
        ("A x yᵀ B (outer product inside)", [(n, n), (n,), (n,), (n, n)]),
        ("tall-wide mix then a vector", [(4 * n, m), (m, 4 * n), (4 * n, m // 2), (m // 2,)]),
    ]


def _tools(shapes: Shapes) -> dict[str, tuple[Callable[[list[np.ndarray]], Any], str, int | None]]:
    """name -> (fn(arrays), order description, multiply-adds)."""
    import opt_einsum as oe

    import rankwise

    plan = rankwise.chain_plan(shapes)
    left = rankwise.chain_plan(shapes, order="left")
    eq = _equation(shapes)
    tools: dict[str, tuple[Callable[[list[np.ndarray]], Any], str, int | None]] = {
        "rankwise.chain_dot": (lambda a: rankwise.chain_dot(*a), plan.parenthesization, plan.cost),
    }
    middle_vector = any(len(s) == 1 for s in shapes[1:-1])
    if not middle_vector:
        tools["numpy.linalg.multi_dot"] = (np.linalg.multi_dot, "same DP as rankwise", plan.cost)
    for opt in ("greedy", "optimal"):
        path, _ = oe.contract_path(eq, *shapes, shapes=True, optimize=opt)
        tools[f"opt_einsum {opt}"] = (functools.partial(lambda a, o: oe.contract(eq, *a, optimize=o), o=opt),
                                      f"path {path}", _path_cost(eq, shapes, path))
    if not middle_vector:
        tools["@ left to right"] = (lambda a: functools.reduce(np.matmul, a), left.parenthesization, left.cost)
    return tools


def product_tables(quick: bool, repeats: int) -> list[str]:
    import rankwise

    out = []
    for name, shapes in _cases(quick):
        gen = np.random.default_rng(1)
        arrays = [gen.standard_normal(s) for s in shapes]
        ref = rankwise.chain_dot(*arrays, plan=rankwise.chain_plan(shapes, order="left"))
        lines = [f"**{name}** (shapes {', '.join('×'.join(map(str, s)) for s in shapes)}, float64)", "",
                 "| tool | median time | multiply-adds | order | rel. error vs left to right | speed ratio |",
                 "|---|---:|---:|---|---:|---:|"]
        rows = []
        tools = _tools(shapes)
        inner = 3 if quick else 5  # products of a few ms: several per sample
        times = _median_times([functools.partial(fn, arrays) for fn, _, _ in tools.values()], max(repeats, 5),
                              [inner if "greedy" not in t and "left" not in t else 1 for t in tools])
        for (tool, (fn, order, cost)), t in zip(tools.items(), times, strict=True):
            err = float(np.linalg.norm(np.asarray(fn(arrays)) - ref) / np.linalg.norm(ref))
            rows.append((tool, t, cost, order, err))
        ref_t = rows[0][1]
        for tool, t, cost, order, err in rows:
            lines.append(f"| {tool} | {_fmt_time(t)} | {cost:,} | {order} | {err:.1e} | {t / ref_t:.2f}× |")
        out.append("\n".join(lines))
    return out


def tiny_table(repeats: int) -> str:
    import opt_einsum as oe

    import rankwise

    lines = ["**Tiny chains** (per call; the cost of validation and planning next to the arithmetic)", "",
             "| chain | rankwise.chain_dot | numpy.linalg.multi_dot | opt_einsum.contract | plain @ |",
             "|---|---:|---:|---:|---:|"]
    gen = np.random.default_rng(2)
    for n, k in ((4, 2), (4, 3), (4, 4), (8, 5)):
        arrays = [gen.standard_normal((n, n)) for _ in range(k - 1)] + [gen.standard_normal(n)]
        eq = _equation([a.shape for a in arrays])
        calls: list[tuple[Callable[[list[np.ndarray]], Any], int]] = [
            (lambda a: rankwise.chain_dot(*a), 2000), (np.linalg.multi_dot, 2000),
            (lambda a, e=eq: oe.contract(e, *a), 200), (lambda a: functools.reduce(np.matmul, a), 2000)]
        cells = _median_times([functools.partial(fn, arrays) for fn, _ in calls], max(repeats, 5),
                              [inner for _, inner in calls])
        lines.append(f"| {k - 1} × ({n}×{n}) then a vector | " + " | ".join(_fmt_time(c) for c in cells) + " |")
    return "\n".join(lines)


def main(quick: bool = False, repeats: int = 3) -> list[str]:
    """Print (and return) the Markdown tables."""
    tables = [planning_table(quick, repeats), *product_tables(quick, repeats), tiny_table(repeats)]
    for t in tables:
        print(t + "\n", flush=True)
    return tables


if __name__ == "__main__":
    main(quick=True)
