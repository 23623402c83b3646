"""Skeleton decompositions: rankwise.interp_decomp against scipy.linalg.interpolative, and CR products.

Three tables, every tool in its own process with ``THREADS`` BLAS threads (the harness's 2):

1. ID at a fixed rank (k = 50; 20 with --quick): error / optimum is the *Frobenius* error
   ‖A − A[:, J] Z‖_F over Eckart–Young's ‖A − A_k‖_F; the speed ratio is the tool's time over rankwise's.
2. ID at a tolerance: both tools get the same number (scipy reads it as its relative precision
   ``eps``, rankwise as a relative Frobenius error); the table shows the rank chosen (Eckart–Young's
   smallest rank for that Frobenius error in brackets) and the relative Frobenius error reached.
   scipy's eps is not a Frobenius bound (it misses the target several times over), so one more row
   runs scipy at the largest eps of the form tol·10^(−j/4) whose Frobenius error meets the target
   (found before timing): the like-for-like comparison.
3. CR products against the exact product at several sample counts.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from typing import Any

import numpy as np

from benchmarks import harness
from benchmarks.harness import Case, optimal_rank, run_json, run_module


def _rankwise(A: np.ndarray, case: Case) -> Any:
    import rankwise

    res = rankwise.interp_decomp(A, case.rank, rng=0)
    return res.idx, res.proj


def _rankwise_qr(A: np.ndarray, case: Case) -> Any:
    import rankwise

    res = rankwise.interp_decomp(A, case.rank, method="qr")
    return res.idx, res.proj


def _scipy(rand: bool) -> Any:
    def run(A: np.ndarray, case: Case) -> Any:
        import scipy.linalg.interpolative as sli

        return sli.interp_decomp(A, case.rank, rand=rand, rng=np.random.default_rng(0))

    return run


TOOLS = {
    "rankwise": _rankwise,
    "rankwise (method='qr')": _rankwise_qr,
    "scipy interp_decomp(rand=True)": _scipy(True),
    "scipy interp_decomp(rand=False)": _scipy(False),
}


def error(A: np.ndarray, out: Any, case: Case) -> float:
    """‖A − A[:, idx[:k]] @ [I, proj]Pᵀ‖_F (scipy.linalg.interpolative's conventions, shared by rankwise)."""
    import scipy.linalg.interpolative as sli

    idx, proj = out
    k = case.rank
    return float(np.linalg.norm(A - sli.reconstruct_skel_matrix(A, k, idx) @ sli.reconstruct_interp_matrix(idx, proj)))


def cases(quick: bool) -> list[Case]:
    if quick:
        return [Case("σ=0.9^i (quick)", (800, 600), "exp", 20), Case("σ=1/(i+1) (quick)", (800, 600), "poly", 20)]
    return [Case("σ=0.9^i", (4000, 3000), "exp", 50), Case("σ=1/(i+1)", (4000, 3000), "poly", 50)]


THREADS = harness.THREADS  # BLAS threads of every process (the harness's setting)


# --------------------------------------------------------------------------- tolerance

_TOL_SCRIPT = r"""
import json, sys, time, numpy as np
A = np.load(sys.argv[1]); tol = float(sys.argv[2]); tool = sys.argv[3]; repeats = int(sys.argv[4])
def run():
    if tool == "rankwise":
        import rankwise
        res = rankwise.interp_decomp(A, tol=tol, rng=0)
        return res.rank, res.idx, res.proj
    import scipy.linalg.interpolative as sli
    return sli.interp_decomp(A, eps, rand=tool != "scipy-det", rng=np.random.default_rng(0))
def rel_error(out):
    import scipy.linalg.interpolative as sli
    k, idx, proj = out
    approx = sli.reconstruct_skel_matrix(A, k, idx) @ sli.reconstruct_interp_matrix(idx, proj)
    return float(np.linalg.norm(A - approx) / np.linalg.norm(A))
eps = tol
if tool == "scipy-matched":  # the largest eps (tol / 10^(j/4)) whose Frobenius error meets tol
    while rel_error(run()) > tol and eps > tol * 1e-4:
        eps /= 10 ** 0.25
run(); ts = []
for _ in range(repeats):
    t0 = time.perf_counter(); out = run(); ts.append(time.perf_counter() - t0)
print(json.dumps({"seconds": float(np.median(ts)), "rank": int(out[0]), "rel_error": rel_error(out), "eps": eps}))
"""

_TOL_TOOLS = {"rankwise": "rankwise", "scipy interp_decomp(eps, rand=True)": "scipy-rand",
              "scipy rand=True, eps meeting tol": "scipy-matched",
              "scipy interp_decomp(eps, rand=False)": "scipy-det"}


def _tolerance_table(quick: bool, repeats: int) -> None:
    from rankwise.random import decay, low_rank_matrix

    m, n = (800, 600) if quick else (4000, 3000)
    print(f"**ID at a tolerance** ({m}×{n} float64; rankwise: relative Frobenius error, scipy: its eps)\n")
    print("| σ | tol | tool | median time | rank (Eckart–Young) | rel. Frobenius error | speed ratio |\n"
          "|---|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for kind, tols in (("exp", (1e-2, 1e-4)), ("poly", (1e-1,))):
            A, S = low_rank_matrix(m, n, decay(kind, n, rate=0.9), rng=0)  # type: ignore[arg-type]
            path = os.path.join(tmp, "A.npy")
            np.save(path, A)
            for tol in tols:
                k_opt = optimal_rank(S, tol)
                ref = None
                for name, tool in _TOL_TOOLS.items():
                    r = run_json(["-c", _TOL_SCRIPT, path, str(tol), tool, str(repeats)])
                    if "failed" in r:
                        print(f"| {kind} | {tol:g} | {name} | — | — | — | failed: {r['failed']} |")
                        continue
                    ref = ref or r["seconds"]
                    label = f"{name} ({r['eps']:.1e})" if tool == "scipy-matched" else name
                    print(f"| {kind} | {tol:g} | {label} | {r['seconds']:.3f} s | {r['rank']} ({k_opt}) | "
                          f"{r['rel_error']:.3e} | {r['seconds'] / ref:.2f}× |")
    print()


# --------------------------------------------------------------------------- CR products

_CR_SCRIPT = r"""
import json, sys, time, numpy as np
import rankwise
m, n, p, repeats = (int(x) for x in sys.argv[1:5])
g = np.random.default_rng(0)
s = np.exp(g.standard_normal(n))
A = g.standard_normal((m, n)) * s; B = s[:, None] * g.standard_normal((n, p))
def timed(fn):
    fn(); ts = []
    for _ in range(repeats):
        t0 = time.perf_counter(); out = fn(); ts.append(time.perf_counter() - t0)
    return float(np.median(ts)), out
t_exact, AB = timed(lambda: A @ B)
norm = np.linalg.norm(AB)
rows = []
for c in (n // 50, n // 10, n // 4):
    for method in ("optimal", "uniform", "topk"):
        gen = np.random.default_rng(1)
        t, _ = timed(lambda: rankwise.cr_matmul(A, B, c, method=method, rng=gen))
        errs = [np.linalg.norm(AB - rankwise.cr_matmul(A, B, c, method=method, rng=gen)) / norm for _ in range(5)]
        exp = np.sqrt(rankwise.cr_expected_error(A, B, c, method=method)) / norm
        rows.append({"c": c, "method": method, "seconds": t, "rel_error": float(np.mean(errs)), "expected": float(exp)})
print(json.dumps({"exact": t_exact, "rows": rows}))
"""


def _cr_table(quick: bool, repeats: int) -> None:
    m, n, p = (500, 2000, 400) if quick else (2000, 8000, 2000)
    out = run_json(["-c", _CR_SCRIPT, str(m), str(n), str(p), str(repeats)])
    print(f"**CR product** (A {m}×{n} · B {n}×{p}, log-normal column scales; relative Frobenius error, mean of "
          "5 draws; expected = closed form, RMS)\n")
    print("| samples c | method | median time | exact product | rel. error | expected | speed-up |\n"
          "|---:|---|---:|---:|---:|---:|---:|")
    if "failed" in out:
        print(f"| — | failed: {out['failed']} | | | | | |\n")
        return
    for r in out["rows"]:
        print(f"| {r['c']} | {r['method']} | {r['seconds']:.4f} s | {out['exact']:.4f} s | {r['rel_error']:.3e} | "
              f"{r['expected']:.3e} | {out['exact'] / r['seconds']:.1f}× |")
    print()


def main(quick: bool = False, repeats: int = 3) -> None:
    run_module("benchmarks.bench_skeleton", quick=quick, repeats=repeats, threads=THREADS)
    _tolerance_table(quick, repeats)
    _cr_table(quick, repeats)


if __name__ == "__main__":
    t0 = time.perf_counter()
    main(quick="--quick" in sys.argv)
    print(f"({time.perf_counter() - t0:.0f} s)")
