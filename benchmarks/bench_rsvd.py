"""Randomized SVD: rankwise against scikit-learn, torch, fbpca, scipy and LAPACK.

Fixed rank (k = 50 unless stated): every tool on the same matrices, each in its own process
with 2 threads; ``precision='mixed'`` runs the passes on A rounded to float32 (a no-op for
float32 input). The ``floor`` row times only the products rankwise's default cannot avoid
(2q + 1 = 5 products of A or Aᵀ with an n × (k + 10) block); its speed ratio is the floor
over rankwise's time. A second table compares the tolerance modes, a third the peak memory
of the out-of-core path on a ``.npy`` file.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from typing import Any

import numpy as np

from benchmarks.harness import Case, optimal_rank, run_json, run_module, svd_error

P = 10  # oversampling used by every randomized tool


def _rankwise(A: np.ndarray, case: Case) -> Any:
    import rankwise

    return rankwise.rsvd(A, case.rank, rng=0)


def _rankwise_mixed(A: np.ndarray, case: Case) -> Any:
    import rankwise

    return rankwise.rsvd(A, case.rank, rng=0, precision="mixed")


def _rankwise_torch(A: np.ndarray, case: Case) -> Any:
    import torch

    import rankwise

    return rankwise.rsvd(torch.from_numpy(A), case.rank, rng=0)


def _floor(A: np.ndarray, case: Case) -> Any:
    l = case.rank + P
    W = np.ones((A.shape[1], l), dtype=A.dtype)
    for _ in range(2):
        Y = A @ W
        W = A.T @ Y
    return A @ W


def _sklearn_fast(A: np.ndarray, case: Case) -> Any:
    from sklearn.utils.extmath import randomized_svd

    return randomized_svd(A, case.rank, n_oversamples=P, n_iter=2, random_state=0)


def _sklearn_default(A: np.ndarray, case: Case) -> Any:
    from sklearn.utils.extmath import randomized_svd

    return randomized_svd(A, case.rank, random_state=0)


def _torch(A: np.ndarray, case: Case) -> Any:
    import torch

    U, S, V = torch.svd_lowrank(torch.from_numpy(A), q=case.rank + P, niter=2)
    return U[:, : case.rank], S[: case.rank], V[:, : case.rank].mT


def _fbpca(A: np.ndarray, case: Case) -> Any:
    import fbpca

    return fbpca.pca(A, case.rank, raw=True, n_iter=2)


def _scipy_id(A: np.ndarray, case: Case) -> Any:
    import scipy.linalg.interpolative as sli

    U, S, V = sli.svd(A, case.rank, rand=True, rng=np.random.default_rng(0))
    return U, S, V.T


def _svds(A: np.ndarray, case: Case) -> Any:
    from scipy.sparse.linalg import svds

    return svds(A, case.rank, random_state=0)


def _gesdd(A: np.ndarray, case: Case) -> Any:
    import scipy.linalg

    U, S, Vh = scipy.linalg.svd(A, full_matrices=False, lapack_driver="gesdd")
    return U[:, : case.rank], S[: case.rank], Vh[: case.rank]


TOOLS = {
    "rankwise": _rankwise,
    "rankwise precision='mixed'": _rankwise_mixed,
    "rankwise (torch tensor in)": _rankwise_torch,
    "floor: 5 products A·X, n×(k+10)": _floor,
    "sklearn randomized_svd(n_iter=2)": _sklearn_fast,
    "sklearn randomized_svd default": _sklearn_default,
    "torch.svd_lowrank(niter=2)": _torch,
    "fbpca.pca(raw, n_iter=2)": _fbpca,
    "scipy interpolative svd(rand)": _scipy_id,
    "scipy svds (ARPACK)": _svds,
    "LAPACK gesdd (full SVD)": _gesdd,
}


def error(A: np.ndarray, out: Any, case: Case) -> float | None:
    if not isinstance(out, tuple):
        return None  # the floor computes no factors
    return svd_error(A, out, case)


def cases(quick: bool) -> list[Case]:
    if quick:
        return [Case("σ=0.9^i (quick)", (800, 600), "exp", 20), Case("σ=1/(i+1) (quick)", (800, 600), "poly", 20)]
    return [
        Case("σ=0.9^i", (4000, 3000), "exp", 50),
        Case("σ=1/(i+1)", (4000, 3000), "poly", 50),
        Case("rank 50 + 1e-3 noise", (4000, 3000), "lowrank", 50),
        Case("tall σ=0.95^i", (20000, 2000), "exp", 50, rate=0.95),
        Case("σ=0.9^i float32", (4000, 3000), "exp", 50, dtype="float32"),
    ]


# --------------------------------------------------------------------------- tolerance mode

_TOL_SCRIPT = r"""
import json, sys, time, numpy as np
A = np.load(sys.argv[1]); tol = float(sys.argv[2]); tool = sys.argv[3]
def run():
    if tool == "rankwise":
        import rankwise
        (U, S, Vh), rep = rankwise.rsvd(A, tol=tol, rng=0, report=True)
        return U, S, Vh
    import scipy.linalg.interpolative as sli
    k, idx, proj = sli.interp_decomp(A, eps, rand=True, rng=np.random.default_rng(0))
    B = sli.reconstruct_skel_matrix(A, k, idx); P = sli.reconstruct_interp_matrix(idx, proj)
    return B, None, P
def rel_error(out):
    U, S, Vh = out
    approx = (U * S) @ Vh if S is not None else U @ Vh
    return float(np.linalg.norm(A - approx) / np.linalg.norm(A))
eps = tol
if tool == "scipy-matched":  # the largest eps (tol / 10^(j/4)) whose Frobenius error meets tol
    while rel_error(run()) > tol and eps > tol * 1e-4:
        eps /= 10 ** 0.25
run(); ts = []
for _ in range(3):
    t0 = time.perf_counter(); out = run(); ts.append(time.perf_counter() - t0)
print(json.dumps({"seconds": float(np.median(ts)), "rank": int(out[0].shape[1]), "rel_error": rel_error(out),
                  "eps": eps}))
"""


def _tolerance_table(quick: bool) -> None:
    from rankwise.random import decay, low_rank_matrix

    m, n = (800, 600) if quick else (4000, 3000)
    A, S = low_rank_matrix(m, n, decay("exp", n, rate=0.9), rng=0)
    print(f"**Tolerance mode** ({m}×{n} float64, σ=0.9^i; relative Frobenius tolerance)\n")
    print("| tol | tool | median time | rank (optimal) | error / tol | speed ratio |\n|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "A.npy")
        np.save(path, A)
        for tol in (1e-2, 1e-4, 1e-6):
            k_opt = optimal_rank(S, tol)
            ref = None
            for tool, key in (("rankwise", "rankwise"), ("scipy interpolative (eps=tol, rand)", "scipy"),
                              ("scipy interpolative, eps meeting tol", "scipy-matched")):
                r = run_json(["-c", _TOL_SCRIPT, path, str(tol), key])
                if key == "scipy-matched" and "eps" in r:
                    tool = f"{tool} ({r['eps']:.1e})"
                if "failed" in r:
                    print(f"| {tol:g} | {tool} | — | — | — | failed: {r['failed']} |")
                    continue
                ref = ref or r["seconds"]
                print(f"| {tol:g} | {tool} | {r['seconds']:.3f} s | {r['rank']} ({k_opt}) | "
                      f"{r['rel_error'] / tol:.3f} | {r['seconds'] / ref:.2f}× |")
    print()


# --------------------------------------------------------------------------- out-of-core memory

_MEM_SCRIPT = r"""
import json, sys, time
import rankwise
from rankwise.linalg import NpyMatrix
t0 = time.perf_counter()
(U, S, Vh), rep = rankwise.rsvd(NpyMatrix(sys.argv[1]), 50, rng=0, report=True)
# VmHWM, not ru_maxrss: the latter keeps the parent's high-water mark across fork + exec
peak = int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
print(json.dumps({"seconds": time.perf_counter() - t0, "peak_mb": peak,
                  "reads": rep.options.get("file_reads"), "rel_error": rep.rel_fro_error}))
"""


def _memory_table(quick: bool) -> None:
    from rankwise.random import decay, low_rank_matrix

    m, n = (4000, 1000) if quick else (40000, 4000)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.npy")
        # written in row blocks so that the benchmark itself never holds the whole matrix
        A, S = low_rank_matrix(2000, n, decay("exp", min(2000, n), rate=0.9), rng=0)
        mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(m, n))
        for i in range(0, m, 2000):
            mm[i:i + 2000] = A[: min(2000, m - i)]
        mm.flush()
        del mm, A
        size_mb = os.path.getsize(path) / 2**20
        r = run_json(["-c", _MEM_SCRIPT, path])
    print(f"**Out of core** (rsvd on NpyMatrix, {m}×{n} float64 file of {size_mb:.0f} MiB, k = 50)\n")
    print("| file size | peak resident memory | file reads | time |\n|---:|---:|---:|---:|")
    if "failed" in r:
        print(f"| {size_mb:.0f} MiB | failed: {r['failed']} | | |\n")
    else:
        print(f"| {size_mb:.0f} MiB | {r['peak_mb']:.0f} MiB | {r['reads']} | {r['seconds']:.2f} s |\n")


_SPARSE_SCRIPT = r"""
import json, sys, time, numpy as np, scipy.sparse
m, n, density, sketch = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
M = scipy.sparse.random(m, n, density=density, rng=np.random.default_rng(0), format="csr")
def run():
    if sketch == "svds":
        from scipy.sparse.linalg import svds
        U, S, Vt = svds(M, 20, random_state=0)
        return float(np.sum(S ** 2))
    import rankwise
    (U, S, Vh), rep = rankwise.rsvd(M, 20, sketch=sketch, rng=0, report=True)
    return float(np.sum(S ** 2))
run(); ts = []
for _ in range(3):
    t0 = time.perf_counter(); kept = run(); ts.append(time.perf_counter() - t0)
print(json.dumps({"seconds": float(np.median(ts)), "kept": kept}))
"""


def _sparse_table(quick: bool) -> None:
    m, n, density = (20000, 2000, 0.01) if quick else (200000, 20000, 0.001)
    print(f"**Sparse input** (scipy CSR {m}×{n}, density {density}, k = 20; energy kept Σ s_i², "
          "larger is better)\n")
    print("| tool | median time | energy kept / svds | speed ratio |\n|---|---:|---:|---:|")
    rows = {tool: run_json(["-c", _SPARSE_SCRIPT, str(m), str(n), str(density), tool])
            for tool in ("gaussian", "sparse-sign", "svds")}
    ref = rows["gaussian"]
    for tool, r in rows.items():
        name = {"sparse-sign": "rankwise (sparse sign sketch)", "gaussian": "rankwise (Gaussian sketch, auto)",
                "svds": "scipy svds (ARPACK)"}[tool]
        if any("failed" in x for x in (r, ref, rows["svds"])):
            print(f"| {name} | — | — | failed |")
        else:
            print(f"| {name} | {r['seconds']:.3f} s | {r['kept'] / rows['svds']['kept']:.4f} | "
                  f"{r['seconds'] / ref['seconds']:.2f}× |")
    print()


def main(quick: bool = False, repeats: int = 3) -> None:
    run_module("benchmarks.bench_rsvd", quick=quick, repeats=repeats)
    _tolerance_table(quick)
    _sparse_table(quick)
    _memory_table(quick)


if __name__ == "__main__":
    t0 = time.perf_counter()
    main(quick="--quick" in sys.argv)
    print(f"({time.perf_counter() - t0:.0f} s)")
