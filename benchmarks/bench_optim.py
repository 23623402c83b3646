"""Optimiser steps per second: rankwise's pure (init, update) transforms against torch.optim.

The problem is the same for every tool: a separable quadratic over n float32 parameters,
∇f(x) = d ⊙ (x − c), so one step is the gradient (two passes) plus the optimiser's update.
rankwise runs on NumPy arrays and on torch tensors (the same code through the array-API
namespace), once with ``optim.step_inplace`` (parameters and moments updated in place, as
torch.optim does) and once purely (``update`` then ``apply_updates``: fresh arrays every
step), and through ``rankwise.nn.torch_optimizer`` (the transform inside a
``torch.optim.Optimizer``); torch.optim runs its ``foreach`` implementation.
Each tool runs in its own process with the harness's thread count, a warm-up and ``repeats`` timed runs of ``steps``
steps, three times with the tools taking turns; the table gives the median time per step, steps per
second and the speed ratio
(the tool's time over rankwise's ``step_inplace`` on NumPy for the same optimiser, so > 1 means
that rankwise row is faster).

Run: ``python -m benchmarks.run optim [--quick]``; ``python -m benchmarks.bench_optim --interleaved``
times every tool in one process, taking turns round by round (steadier ratios on a noisy machine).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.harness import THREADS, run_json

OPTIMISERS = ("adam", "sgd")
TOOLS = ("rankwise step_inplace (numpy)", "rankwise step_inplace (torch tensors)", "rankwise torch_optimizer",
         "rankwise pure (numpy)", "rankwise pure (torch tensors)", "torch.optim (foreach)")


def _problem(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.uniform(0.1, 1.0, n).astype(np.float32), rng.standard_normal(n).astype(np.float32)


def _rankwise_step(opt: str, n: int, on_torch: bool, inplace: bool) -> Callable[[], None]:
    from rankwise import optim

    d, c = _problem(n)
    x: Any = np.zeros(n, dtype=np.float32)
    if on_torch:
        import torch

        d, c, x = torch.from_numpy(d), torch.from_numpy(c), torch.zeros(n)
    tx = optim.adam(1e-3) if opt == "adam" else optim.sgd(1e-3)
    box = [x, tx.init(x)]

    def step() -> None:
        x, state = box
        g = x - c
        g *= d
        if inplace:
            box[1] = optim.step_inplace(tx, g, state, x)
        else:
            u, box[1] = tx.update(g, state, x)
            box[0] = optim.apply_updates(x, u)

    return step


def _step(tool: str, opt: str, n: int) -> Callable[[], None]:
    if tool.startswith("torch.optim") or tool.endswith("torch_optimizer"):
        return _torch_step(opt, n, adapter=tool.endswith("torch_optimizer"))
    return _rankwise_step(opt, n, on_torch="torch" in tool, inplace="step_inplace" in tool)


def _torch_step(opt: str, n: int, adapter: bool) -> Callable[[], None]:
    import torch

    from rankwise import nn as rnn
    from rankwise import optim

    d, c = (torch.from_numpy(a) for a in _problem(n))
    p = torch.zeros(n, requires_grad=True)
    if adapter:
        o = rnn.torch_optimizer(optim.adam(1e-3) if opt == "adam" else optim.sgd(1e-3), [p])
    elif opt == "adam":
        o = torch.optim.Adam([p], lr=1e-3, foreach=True)
    else:
        o = torch.optim.SGD([p], lr=1e-3, foreach=True)

    def step() -> None:
        with torch.no_grad():
            g = p - c
            g *= d
        p.grad = g
        o.step()

    return step


def _worker(tool: str, opt: str, n: int, steps: int, repeats: int) -> None:
    if "torch" in tool:
        import torch

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", THREADS)))
    step = _step(tool, opt, n)
    for _ in range(3):
        step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - t0) / steps)
    print(json.dumps({"seconds": statistics.median(times)}))


def interleaved(opt: str, n: int = 10**6, rounds: int = 15, steps: int = 30) -> dict[str, float]:
    """Median seconds per step of every tool in *one* process, the tools taking turns round by round.

    On a loaded or virtualised machine the separate-process timings drift by ±20 % between
    runs; taking turns exposes every tool to the same drift, so their ratios are steadier.
    """
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", THREADS)))
    fns = {tool: _step(tool, opt, n) for tool in TOOLS}
    times: dict[str, list[float]] = {tool: [] for tool in TOOLS}
    for _ in range(rounds):
        for tool, step in fns.items():
            for _ in range(3):
                step()
            t0 = time.perf_counter()
            for _ in range(steps):
                step()
            times[tool].append((time.perf_counter() - t0) / steps)
    return {tool: statistics.median(t) for tool, t in times.items()}


def _run(tool: str, opt: str, n: int, steps: int, repeats: int) -> dict[str, Any]:
    return run_json(["-m", "benchmarks.bench_optim", "--worker", tool, opt, str(n), str(steps), str(repeats)])


def table(opt: str, n: int, rows: list[tuple[str, dict[str, Any]]]) -> str:
    """The Markdown table of one optimiser."""
    ref = next((r["seconds"] for t, r in rows if t == TOOLS[0] and "seconds" in r), None)
    lines = [f"**{opt}**, n = {n:,} float32 parameters (one step = gradient + update)", "",
             "| tool | median time per step | steps/s | speed ratio |", "|---|---:|---:|---:|"]
    for tool, r in rows:
        if "failed" in r:
            lines.append(f"| {tool} | — | — | failed: {r['failed']} |")
            continue
        s = r["seconds"]
        ratio = f"{s / ref:.2f}×" if ref else "n/a"
        lines.append(f"| {tool} | {1e3 * s:.3f} ms | {1 / s:,.0f} | {ratio} |")
    return "\n".join(lines)


def _median_of_rounds(results: list[dict[str, Any]]) -> dict[str, Any]:
    times = [r["seconds"] for r in results if "seconds" in r]
    return {"seconds": statistics.median(times)} if times else results[-1]


def main(quick: bool = False, repeats: int = 3, rounds: int = 3) -> list[str]:
    """Run every optimiser through every tool; print and return the tables.

    Each tool runs ``rounds`` times in a fresh process, the tools taking turns, and the
    table gives the median over the rounds: the machine's drift reaches every tool alike.
    """
    n, steps, rounds = (10**5, 20, 1) if quick else (10**6, 100, rounds)
    out = []
    for opt in OPTIMISERS:
        runs: dict[str, list[dict[str, Any]]] = {tool: [] for tool in TOOLS}
        for _ in range(rounds):
            for tool in TOOLS:
                runs[tool].append(_run(tool, opt, n, steps, repeats))
        rows = [(tool, _median_of_rounds(runs[tool])) for tool in TOOLS]
        text = table(opt, n, rows)
        print(text + "\n", flush=True)
        out.append(text)
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--interleaved":
        for opt_ in OPTIMISERS:
            medians = interleaved(opt_)
            print(table(opt_, 10**6, [(t, {"seconds": v}) for t, v in medians.items()]) + "\n", flush=True)
    elif len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, tool_, opt_, n_, steps_, repeats_ = sys.argv
        _worker(tool_, opt_, int(n_), int(steps_), int(repeats_))
    else:
        main(quick="--quick" in sys.argv)
