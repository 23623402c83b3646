"""rankwise on Dask vs ``dask.array.linalg.svd_compressed``: time, error / optimum, peak memory.

Matrices are written to ``.npy`` files in row blocks (never held whole) with a known spectrum,
A = C·diag(σ)·Vᵀ with C the first r orthonormal DCT-II vectors of length m and V a Haar-random
n × r, σ_i = 1/(i + 1) for i < r = 400: the optimum at rank k is (Σ_{i>=k} σ_i²)^{1/2} exactly.
Each tool runs in its own process (Dask's threads, or a ``LocalCluster`` of 2 worker processes
with 1 thread each), reading the file through :func:`rankwise.io.open_dask` with the same row
chunks; BLAS is capped at 1 thread per Dask thread (2 cores in all). Both tools get the same rank
and the same number of power iterations q (rankwise: q Krylov blocks, q + 1 reads of A;
svd_compressed: q power steps, 2q + 2 products, with ``compute=True``, its documented setting for
data larger than memory, and with its default ``compute=False``, one graph for every pass); one more
row gives svd_compressed q + 2 power steps, what it needs to reach rankwise's error on these spectra,
and one gives rankwise q − 1 (what equal-or-better error allows where svd_compressed's power steps
lose accuracy).
``precision='mixed'`` converts each chunk to float32 in the task that reads it.
The floor row is no tool: rankwise's 5 products (A X and Aᵀ(A X) twice, then A X) over the same
row chunks of the memory map in a plain pool of 2 threads, no Dask and no factorisation; no
implementation of this algorithm at this q can be faster than it.
Peak memory is VmHWM (resident high-water mark) of the client and of each worker process.

``python -m benchmarks.run dask [--quick] [--repeats N]``.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import run_json, thread_env

RANK_SIGNAL = 400
# name -> (runner, extra power iterations over the common q)
TOOLS = {
    "rankwise": ("rankwise", 0),
    "rankwise precision='mixed'": ("rankwise-mixed", 0),  # float32 passes (float64 data only)
    "rankwise (q − 1)": ("rankwise", -1),  # one Krylov block fewer: 3 products in 2 reads
    "svd_compressed": ("svd_compressed", 0),
    "svd_compressed (compute=False)": ("svd_compressed-lazy", 0),
    "svd_compressed (q + 2)": ("svd_compressed", 2),  # the q it needs to match rankwise's error
    "floor: rankwise's products only": ("floor", 0),  # 2q + 1 products in q + 1 reads, a thread pool
}
CLUSTER_TOOLS = ("rankwise", "svd_compressed")  # the floor runs on threads only
ENGINES = ("threads", "cluster")


def spectrum(m: int, n: int) -> np.ndarray:
    s = np.zeros(min(m, n))
    r = min(RANK_SIGNAL, s.size)
    s[:r] = 1.0 / (np.arange(r) + 1.0)
    return s


def write_matrix(path: Path, m: int, n: int, dtype: str, seed: int = 0, block: int = 8192) -> np.ndarray:
    """Write A = C·diag(σ)·Vᵀ (see the module docstring) to ``path`` by row blocks; return σ."""
    s = spectrum(m, n)
    r = min(RANK_SIGNAL, m, n)
    V = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, r)))[0]
    SVt = s[:r, None] * V.T
    out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(m, n))
    j = np.arange(r)
    scale = np.where(j == 0, math.sqrt(1.0 / m), math.sqrt(2.0 / m))
    for i0 in range(0, m, block):
        i = np.arange(i0, min(i0 + block, m))[:, None]
        C = scale * np.cos(np.pi * (i + 0.5) * j / m)
        out[i0:i0 + C.shape[0]] = (C @ SVt).astype(dtype)
    out.flush()
    del out
    return s


def _peak_mb() -> float:
    with open("/proc/self/status") as f:
        return int(next(ln for ln in f if ln.startswith("VmHWM")).split()[1]) / 1024


def _residual(path: str, U: np.ndarray, S: np.ndarray, Vh: np.ndarray, block: int = 8192) -> float:
    A = np.load(path, mmap_mode="r")
    total = 0.0
    for i0 in range(0, A.shape[0], block):
        E = np.asarray(A[i0:i0 + block], dtype=np.float64) - (U[i0:i0 + block] * S) @ Vh
        total += float(np.vdot(E, E))
    return math.sqrt(total)


def _products_only(path: str, l: int, q: int, chunks: int) -> None:
    """rankwise's 2q + 1 products with A in q + 1 reads, as a pool of 2 threads over the row chunks."""
    from concurrent.futures import ThreadPoolExecutor

    A = np.load(path, mmap_mode="r")
    m, n = A.shape
    X = np.random.default_rng(0).standard_normal((n, l)).astype(A.dtype)

    def chunk(i0: int, adjoint: bool) -> np.ndarray:
        blk = np.load(path, mmap_mode="r")[i0:i0 + chunks]  # a view of the map, as open_dask gives
        Y = blk @ X
        return blk.T @ Y if adjoint else Y

    with ThreadPoolExecutor(2) as pool:
        for p in range(q + 1):
            starts = range(0, m, chunks)
            list(pool.map(chunk, starts, [p < q] * len(starts)))


def _run_tool(tool: str, path: str, k: int, q: int, chunks: int) -> tuple[Any, ...] | None:
    import dask

    from rankwise import rsvd
    from rankwise.io import open_dask

    runner, extra = TOOLS[tool]
    if runner == "floor":
        _products_only(path, k + 10, q, chunks)
        return None
    D = open_dask(path, chunks=chunks)
    if runner.startswith("rankwise"):
        precision = "mixed" if runner == "rankwise-mixed" else "full"
        res = rsvd(D, k, power_iters=q + extra, oversample=10, rng=0, precision=precision)
        return tuple(np.asarray(x) for x in res)  # U is a Dask array: computed here, inside the timing
    import dask.array as da

    u, s, v = da.linalg.svd_compressed(D, k, n_power_iter=q + extra, n_oversamples=10, seed=0,
                                       compute=runner == "svd_compressed")
    return tuple(np.asarray(x) for x in dask.compute(u, s, v))


def worker(tool: str, path: str, k: int, q: int, chunks: int, engine: str, repeats: int) -> None:
    """Time one tool in this process (the client); print JSON with time, error and peak memory."""
    client = None
    if engine == "cluster":
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=":0", silence_logs=50)
        client = Client(cluster)
    else:
        import dask

        dask.config.set(scheduler="threads", num_workers=2)
    out = _run_tool(tool, path, k, q, chunks)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = _run_tool(tool, path, k, q, chunks)
        times.append(time.perf_counter() - t0)
    workers = [] if client is None else list(client.run(_peak_mb).values())
    client_peak = _peak_mb()
    err = None
    if out is not None:
        U, S, Vh = (np.asarray(x, dtype=np.float64) for x in out)
        err = _residual(path, U, S, Vh)
    print(json.dumps({"seconds": statistics.median(times), "error": err, "client_mb": client_peak,
                      "worker_mb": max(workers) if workers else None}))
    if client is not None:
        client.close()


def cases(quick: bool) -> list[dict[str, Any]]:
    if quick:
        return [{"name": "tall", "shape": (20000, 500), "dtype": "float64", "k": 20, "chunks": 4096},
                {"name": "square", "shape": (3000, 3000), "dtype": "float32", "k": 20, "chunks": 1000}]
    return [{"name": "tall", "shape": (200000, 2000), "dtype": "float64", "k": 50, "chunks": 16384},
            {"name": "square on disk", "shape": (20000, 20000), "dtype": "float32", "k": 50, "chunks": 2048}]


def main(quick: bool = False, repeats: int = 3, q: int = 2) -> list[str]:
    tables = []
    with tempfile.TemporaryDirectory(prefix="rankwise-dask-") as tmp:
        for case in cases(quick):
            m, n = case["shape"]
            path = Path(tmp) / "A.npy"
            s = write_matrix(path, m, n, case["dtype"])
            opt = float(np.sqrt(np.sum(s[case["k"]:] ** 2)))
            gb = path.stat().st_size / 2**30
            lines = [f"**{case['name']}** ({m}×{n} {case['dtype']}, {gb:.2f} GiB .npy, σ_i = 1/(i+1) for i < "
                     f"{RANK_SIGNAL}, k = {case['k']}, q = {q}, chunks of {case['chunks']} rows)", "",
                     "| tool | engine | median time | error / optimum | speed ratio | peak client | peak worker |",
                     "|---|---|---:|---:|---:|---:|---:|"]
            ref: dict[str, float] = {}
            for engine in ENGINES:
                for tool in TOOLS:
                    if engine == "cluster" and tool not in CLUSTER_TOOLS:
                        continue
                    res = run_json(["-m", "benchmarks.bench_dask", "--worker", tool, str(path), str(case["k"]),
                                    str(q), str(case["chunks"]), engine, str(repeats)], env=thread_env(1))
                    if "failed" in res:
                        lines.append(f"| {tool} | {engine} | — | — | failed: {res['failed']} | — | — |")
                        continue
                    ref.setdefault(engine, res["seconds"])
                    wk = "—" if res["worker_mb"] is None else f"{res['worker_mb']:.0f} MB"
                    err = "—" if res["error"] is None else f"{res['error'] / opt:.4f}"
                    lines.append(f"| {tool} | {engine} | {res['seconds']:.2f} s | {err} | "
                                 f"{res['seconds'] / ref[engine]:.2f}× | {res['client_mb']:.0f} MB | {wk} |")
            path.unlink()
            text = "\n".join(lines)
            print(text + "\n", flush=True)
            tables.append(text)
    return tables


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, tool, path, k, q, chunks, engine, repeats = sys.argv
        worker(tool, path, int(k), int(q), int(chunks), engine, int(repeats))
