"""Structured matrices: Monarch vs dense products, and the naive vs DPLR (S4) vs diagonal (S4D) kernels.

``main(quick, repeats)`` prints Markdown tables (the rows differ from the harness's tool × case
layout, so this module times in-process, with the harness's thread count) and writes one plot:

1. ``M @ X`` for a random float32 Monarch matrix of size n = 1024 … 16384 (blocks chosen
   as in :func:`rankwise.structured.monarch_project`) and X of shape (n, 64), against the
   dense product ``W @ X`` with W = M.to_dense(), in NumPy and in torch. The speed-up is
   compared with the flop ratio m·n / (r·(q·n + k·m)) = n^{1/2}/2 for n = b².
2. The S4 kernel of HiPPO-LegS (N = 64 and 256, float64), in NumPy and in torch:
   ``ssm_kernel`` with ``method="naive"`` (powers of Ā, O(N² L)) on the dense real system
   against ``method="dplr"`` on its conjugate-pair form (:attr:`rankwise.structured.NPLR.pairs`),
   and the S4D kernel (``method="diagonal"``, N poles of S4D-Lin) for scale. The DPLR time per
   (N + L)·log₂ L is shown, and the relative difference of the two kernels. Naive runs
   predicted to take more than :data:`NAIVE_BUDGET` seconds are skipped.
3. The DPLR and S4D kernels for L up to 10⁶ (NumPy): time and the peak of temporary memory
   (``tracemalloc``) against the kernel's own size, plotted to ``ssm_kernel_scaling.png`` in
   ``$RANKWISE_BENCH_DIR`` (default: the temporary directory).

Each table row times its tools interleaved (tool A, tool B, A, B, …), each sample a loop of
calls lasting at least :data:`MIN_SAMPLE` seconds, and reports medians: on a shared machine
both sides of a ratio then see the same load.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import THREADS

BATCH = 64
NAIVE_BUDGET = 5.0  # seconds
MIN_SAMPLE = 0.02  # seconds per timed sample
DT = 1e-2


def _limit_threads() -> str:
    import torch

    torch.set_num_threads(THREADS)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return f"torch {THREADS} threads; NumPy BLAS threads not limited (no threadpoolctl)"
    threadpool_limits(THREADS)
    return f"{THREADS} threads (torch and NumPy's BLAS)"


def _inner(fn: Callable[[], Any]) -> int:
    """Calls per sample so that one sample lasts about MIN_SAMPLE seconds (after a warm-up call)."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = time.perf_counter() - t0
    return max(1, min(1000, int(MIN_SAMPLE / max(once, 1e-7))))


def _median_times(fns: Sequence[Callable[[], Any]], repeats: int) -> list[float]:
    """Median seconds per call of each function, timed interleaved."""
    inner = [_inner(fn) for fn in fns]
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(max(repeats, 1)):
        for fn, k, out in zip(fns, inner, samples, strict=True):
            t0 = time.perf_counter()
            for _ in range(k):
                fn()
            out.append((time.perf_counter() - t0) / k)
    return [statistics.median(s) for s in samples]


BLAS_IDLE = 0.5  # seconds


def _after_numpy(lib: str) -> None:
    """Before timing torch in a process that just ran NumPy: let OpenBLAS's threads go to sleep.

    OpenBLAS's threads spin for a while after each call; on two cores they take the cores torch's
    OpenMP threads need (measured: torch's Monarch/dense ratio at n = 1024 halves, 7.1× → 3.4×,
    right after NumPy's rows, and is back at 7.0× after half a second of idleness).
    """
    if lib == "torch":
        time.sleep(BLAS_IDLE)


def _median_time(fn: Callable[[], Any], repeats: int) -> float:
    return _median_times([fn], repeats)[0]


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
        _after_numpy(lib)
        t_dense, t_monarch = _median_times([lambda Wx=Wx, Xx=Xx: Wx @ Xx, lambda Mx=Mx, Xx=Xx: Mx @ Xx], repeats)
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


def _systems(N: int, lib: str) -> dict[str, tuple[Any, ...]]:
    """(A, B, C) of HiPPO-LegS: dense, in conjugate pairs, and an S4D-Lin diagonal system of N poles."""
    from rankwise.structured import ConjugateDPLR, hippo, hippo_nplr

    A, B, _ = hippo("legs", N)
    pairs = hippo_nplr("legs", N).pairs
    C = np.random.default_rng(0).standard_normal(N)
    lam = -0.5 + 1j * math.pi * np.arange(N)  # S4D-Lin
    out: dict[str, tuple[Any, ...]] = {
        "naive": (A, B, C), "dplr": (pairs.dplr, pairs.B, C @ pairs.V),
        "diagonal": (lam, np.ones(N, complex), C.astype(complex))}
    if lib == "torch":
        import torch

        t = torch.from_numpy
        out = {"naive": (t(A), t(B), t(C)),
               "dplr": (ConjugateDPLR(*(t(x) for x in pairs.dplr)), t(pairs.B), t(C @ pairs.V)),
               "diagonal": tuple(t(x) for x in out["diagonal"])}
    return out


def _kernel(systems: dict[str, tuple[Any, ...]], method: str, L: int) -> Callable[[], Any]:
    from rankwise.structured import ssm_kernel

    A, B, C = systems[method]
    return lambda: ssm_kernel(A, B, C, DT, L, method=method)


def ssm_table(quick: bool, repeats: int, lengths: Sequence[int] | None = None,
              cases: Sequence[tuple[int, str]] | None = None) -> str:
    """naive vs DPLR (and S4D) for each (N, library) of ``cases`` and each L of ``lengths``."""
    full = not quick and lengths is None and cases is None
    lengths = lengths or ((256, 1024) if quick else (1024, 4096, 16384, 65536))
    cases = cases or (((64, "numpy"),) if quick else ((64, "numpy"), (64, "torch")))
    extra = ((256, 16384, "numpy"), (256, 16384, "torch")) if full else ()
    lines = [f"**S4 kernel of HiPPO-LegS** (Δ = {DT:g}, float64): naive powers vs DPLR (conjugate pairs); "
             "S4D (diagonal, N poles) for scale", "",
             "| L | N | library | naive | DPLR | speed-up | S4D | DPLR / ((N + L)·log₂ L) | rel. diff |",
             "|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    runs = [(N, L, lib) for N, lib in cases for L in lengths] + list(extra)
    last: dict[tuple[int, str], tuple[int, float]] = {}
    for N, L, lib in runs:
        systems = _systems(N, lib)
        prev = last.get((N, lib))
        predicted = None if prev is None else prev[1] * L / prev[0]
        skip = predicted is not None and predicted > NAIVE_BUDGET
        fns = [_kernel(systems, "dplr", L), _kernel(systems, "diagonal", L)]
        if not skip:
            fns.append(_kernel(systems, "naive", L))
        _after_numpy(lib)
        times = _median_times(fns, repeats)
        t_dplr, t_diag = times[0], times[1]
        per = 1e9 * t_dplr / ((N + L) * math.log2(L))
        head = f"| {L} | {N} | {lib} | "
        if skip:
            lines.append(head + f"skipped (predicted {predicted:.0f} s) | {1e3 * t_dplr:.2f} ms | — | "
                                f"{1e3 * t_diag:.2f} ms | {per:.1f} ns | — |")
            continue
        t_naive = times[2]
        last[(N, lib)] = (L, t_naive)
        err = _rel(fns[0](), fns[2]())
        lines.append(head + f"{1e3 * t_naive:.2f} ms | {1e3 * t_dplr:.2f} ms | {t_naive / t_dplr:.2f}× | "
                            f"{1e3 * t_diag:.2f} ms | {per:.1f} ns | {err:.1e} |")
    return "\n".join(lines)


def _peak_bytes(fn: Callable[[], Any]) -> int:
    """Peak of NumPy memory traced while ``fn`` runs (its result included)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def scaling_table(quick: bool, repeats: int, lengths: Sequence[int] | None = None,
                  path: str | os.PathLike[str] | None = None) -> str:
    """Time and peak memory of the DPLR and S4D kernels (N = 64, NumPy) up to L = 10⁶, and their plot."""
    N = 64
    lengths = lengths or ((1024, 8192) if quick else (1024, 4096, 16384, 65536, 262144, 1000000))
    systems = _systems(N, "numpy")
    lines = [f"**S4 kernels against L** (N = {N}, HiPPO-LegS, NumPy, float64; peak = temporaries and result, "
             "tracemalloc)", "",
             "| L | naive | DPLR | S4D | DPLR peak memory | S4D peak memory | kernel size |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    series: dict[str, list[tuple[int, float]]] = {"naive": [], "dplr": [], "diagonal": []}
    last: tuple[int, float] | None = None
    for L in lengths:
        fns = [_kernel(systems, "dplr", L), _kernel(systems, "diagonal", L)]
        run_naive = last is None or last[1] * L / last[0] <= NAIVE_BUDGET
        if run_naive:
            fns.append(_kernel(systems, "naive", L))
        times = _median_times(fns, max(1, repeats if L <= 65536 else 1))
        for name, t in zip(series, [times[2] if run_naive else math.nan, times[0], times[1]], strict=True):
            if not math.isnan(t):
                series[name].append((L, t))
        if run_naive:
            last = (L, times[2])
        peaks = [_peak_bytes(fn) / 2**20 for fn in fns[:2]]
        naive = f"{1e3 * times[2]:.2f} ms" if run_naive else "skipped"
        lines.append(f"| {L} | {naive} | {1e3 * times[0]:.2f} ms | {1e3 * times[1]:.2f} ms | {peaks[0]:.1f} MiB | "
                     f"{peaks[1]:.1f} MiB | {8 * L / 2**20:.1f} MiB |")
    out = _plot(series, N, path)
    lines += ["", f"Plot: `{out}`" if out else "Plot: not written (matplotlib missing)"]
    return "\n".join(lines)


def _plot(series: dict[str, list[tuple[int, float]]], N: int, path: str | os.PathLike[str] | None) -> Path | None:
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - matplotlib is a dev dependency
        return None
    from rankwise.plot import save_figure

    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    labels = {"naive": "naive powers, O(N²L)", "dplr": "DPLR (S4, conjugate pairs)", "diagonal": "S4D (diagonal)"}
    for name, pts in series.items():
        if pts:
            ax.loglog([p[0] for p in pts], [p[1] for p in pts], "o-", label=labels[name])
    ax.set_xlabel("kernel length L")
    ax.set_ylabel("seconds")
    ax.set_title(f"S4 kernel of HiPPO-LegS, N = {N} ({THREADS} threads)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    target = Path(path) if path else Path(os.environ.get("RANKWISE_BENCH_DIR", tempfile.gettempdir())) / \
        "ssm_kernel_scaling.png"
    return save_figure(fig, target, force=True)


def main(quick: bool = False, repeats: int = 3) -> list[str]:
    """Print (and return) the Monarch, S4-kernel and scaling tables; write the scaling plot."""
    threads = _limit_threads()
    print(f"_{threads}; tools timed interleaved, median of {repeats} samples of ≥ {1e3 * MIN_SAMPLE:.0f} ms "
          "after a warm-up._\n", flush=True)
    out = []
    for make in (monarch_table, ssm_table, scaling_table):
        text = make(quick, repeats)
        print(text + "\n", flush=True)
        out.append(text)
    return out
