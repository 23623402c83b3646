"""Structured matrices: Monarch vs dense products, and the naive vs DPLR (S4) kernel.

``main(quick, repeats)`` prints two Markdown tables (the rows differ from the harness's
tool × case layout, so this module times in-process, with the harness's thread count):

1. ``M @ X`` for a random float32 Monarch matrix of size n = 1024 … 16384 (blocks chosen
   as in :func:`rankwise.structured.monarch_project`) and X of shape (n, 64), against the
   dense product ``W @ X`` with W = M.to_dense(), in NumPy and in torch. The speed-up is
   compared with the flop ratio m·n / (r·(q·n + k·m)) = n^{1/2}/2 for n = b². Goal: ≥ 5×
   at n = 4096 on CPU.
2. The S4 kernel of HiPPO-LegS, N = 64, L = 1024 … 65536: ``ssm_kernel`` with
   ``method="naive"`` (O(N² L)) against ``method="dplr"``; the last column divides the DPLR
   time by (N + L)·log₂ L, which stays flat when the cost grows like O((N + L) log L).
   Naive runs predicted to take more than :data:`NAIVE_BUDGET` seconds are skipped.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from benchmarks.harness import THREADS

BATCH = 64
NAIVE_BUDGET = 5.0  # seconds


def _limit_threads() -> str:
    import torch

    torch.set_num_threads(THREADS)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return f"torch {THREADS} threads; NumPy BLAS threads not limited (no threadpoolctl)"
    threadpool_limits(THREADS)
    return f"{THREADS} threads (torch and NumPy's BLAS)"


def _median_time(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(max(repeats, 1)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _rel(a: Any, b: Any) -> float:
    a = np.asarray(a.numpy() if hasattr(a, "numpy") else a, dtype=np.float64)
    b = np.asarray(b.numpy() if hasattr(b, "numpy") else b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _monarch_case(n: int, repeats: int) -> list[str]:
    import torch

    from rankwise.structured import Monarch
    from rankwise.structured.monarch import _auto_blocks

    k = q = _auto_blocks(n)
    g = np.random.default_rng(n)
    M = Monarch(g.standard_normal((q, n // q, k), dtype=np.float32) / math.sqrt(k),
                g.standard_normal((k, q, n // k), dtype=np.float32) / math.sqrt(n // k))
    W = M.to_dense()
    X = g.standard_normal((n, BATCH), dtype=np.float32)
    flops = n * n / (q * n + k * n)
    Mt = Monarch(torch.from_numpy(M.L), torch.from_numpy(M.R))
    Wt, Xt = torch.from_numpy(W), torch.from_numpy(X)
    rows = []
    for lib, (Mx, Wx, Xx) in (("numpy", (M, W, X)), ("torch", (Mt, Wt, Xt))):
        t_dense = _median_time(lambda Wx=Wx, Xx=Xx: Wx @ Xx, repeats)
        t_monarch = _median_time(lambda Mx=Mx, Xx=Xx: Mx @ Xx, repeats)
        err = _rel(Mx @ Xx, Wx @ Xx)
        rows.append(f"| {n} | ({k}, {q}) | {lib} | {1e3 * t_dense:.3f} ms | {1e3 * t_monarch:.3f} ms | "
                    f"{t_dense / t_monarch:.1f}× | {flops:.1f}× | {err:.1e} |")
    return rows


def monarch_table(quick: bool, repeats: int, sizes: Sequence[int] | None = None) -> str:
    sizes = sizes or ((256, 1024) if quick else (1024, 2048, 4096, 8192, 16384))
    lines = [f"**Monarch product vs dense** (float32, batch {BATCH}, M @ X with X of shape (n, {BATCH}))", "",
             "| n | blocks (k, q) | library | dense | Monarch | speed-up | flop ratio | rel. diff |",
             "|---:|---:|---|---:|---:|---:|---:|---:|"]
    for n in sizes:
        lines += _monarch_case(n, repeats)
    return "\n".join(lines)


def ssm_table(quick: bool, repeats: int, lengths: Sequence[int] | None = None) -> str:
    from rankwise.structured import hippo, hippo_nplr, ssm_kernel

    N, dt = 64, 1e-2
    lengths = lengths or ((256, 1024) if quick else (1024, 4096, 16384, 65536))
    A, B, _ = hippo("legs", N)
    nplr = hippo_nplr("legs", N)
    C = np.random.default_rng(0).standard_normal(N)
    Ct = C @ nplr.V
    lines = [f"**S4 kernel of HiPPO-LegS** (N = {N}, Δ = {dt:g}, float64): naive powers vs DPLR", "",
             "| L | naive | DPLR | speed-up | DPLR / ((N + L)·log₂ L) | rel. diff |", "|---:|---:|---:|---:|---:|---:|"]
    last: tuple[int, float] | None = None
    for L in lengths:
        t_dplr = _median_time(lambda L=L: ssm_kernel(nplr.dplr, nplr.B, Ct, dt, L, method="dplr"), repeats)
        Kd = ssm_kernel(nplr.dplr, nplr.B, Ct, dt, L, method="dplr").real
        per = 1e9 * t_dplr / ((N + L) * math.log2(L))
        predicted = None if last is None else last[1] * L / last[0]
        if predicted is not None and predicted > NAIVE_BUDGET:
            lines.append(f"| {L} | skipped (predicted {predicted:.0f} s) | {1e3 * t_dplr:.2f} ms | — | "
                         f"{per:.1f} ns | — |")
            continue
        t_naive = _median_time(lambda L=L: ssm_kernel(A, B, C, dt, L), repeats)
        last = (L, t_naive)
        err = _rel(Kd, ssm_kernel(A, B, C, dt, L))
        lines.append(f"| {L} | {1e3 * t_naive:.2f} ms | {1e3 * t_dplr:.2f} ms | {t_naive / t_dplr:.2f}× | "
                     f"{per:.1f} ns | {err:.1e} |")
    return "\n".join(lines)


def main(quick: bool = False, repeats: int = 3) -> list[str]:
    """Print (and return) the Monarch and the S4-kernel tables."""
    threads = _limit_threads()
    print(f"_{threads}; median of {repeats} runs after a warm-up._\n", flush=True)
    out = []
    for make in (monarch_table, ssm_table):
        text = make(quick, repeats)
        print(text + "\n", flush=True)
        out.append(text)
    return out
