"""One benchmark harness for every issue: same matrices, one process per tool, one table format.

A benchmark module defines

* ``TOOLS``: a dict ``name -> fn(A, case) -> factors`` (``fn`` may import its peer lazily);
* ``cases(quick)``: a list of :class:`Case` (a matrix built from a known spectrum, a rank);
* optionally ``error(A, factors, case) -> float`` (default: ‖A − U·diag(S)·Vh‖_F).

:func:`run_module` writes each case's matrix to a temporary ``.npy``, runs every tool in its own
Python process (so BLAS/OpenMP pools of different libraries never share a process, see
PERFORMANCE.md's pitfalls), each with ``threads`` threads, a warm-up and ``repeats`` timed runs,
and prints one Markdown table per case::

    | tool | median time | error / optimum | speed ratio |

where the speed ratio is the tool's median time over the reference tool's (rankwise), so a
value above 1 means rankwise is faster.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rankwise import select_rank as rankwise_select_rank

THREADS = 2


@dataclass(frozen=True)
class Case:
    """A benchmark matrix: ``U·diag(spectrum)·Vᵀ`` of ``shape`` and ``dtype``, and the target rank."""

    name: str
    shape: tuple[int, int]
    spectrum: str  # "exp", "poly" or "lowrank" (rankwise.random.decay), with ``rate``
    rank: int
    dtype: str = "float64"
    rate: float = 0.9
    seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)

    def build(self) -> tuple[np.ndarray, np.ndarray]:
        from rankwise.random import decay, low_rank_matrix

        m, n = self.shape
        s = decay(self.spectrum, min(m, n), rate=self.rate)  # type: ignore[arg-type]
        return low_rank_matrix(m, n, s, dtype=np.dtype(self.dtype), rng=self.seed)

    def optimum(self, S: np.ndarray) -> float:
        return float(np.sqrt(np.sum(np.asarray(S, dtype=np.float64)[self.rank:] ** 2)))


@dataclass(frozen=True)
class Row:
    tool: str
    seconds: float
    error_ratio: float | None
    note: str = ""


def svd_error(A: np.ndarray, factors: Any, case: Case) -> float:
    """‖A − U·diag(S)·Vh‖_F in float64 (numpy, torch or any array with ``.numpy()``)."""
    U, S, Vh = (_host(x) for x in factors)
    return float(np.linalg.norm(A.astype(np.float64) - (U * S) @ Vh))


def _host(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64 if not np.iscomplexobj(x) else np.complex128)


def _limit_threads(threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)


def _worker(module: str, tool: str, case_json: str, matrix: str, repeats: int, threads: int) -> None:
    mod = importlib.import_module(module)
    case = Case(**json.loads(case_json))
    A = np.load(matrix)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    fn: Callable[[np.ndarray, Case], Any] = mod.TOOLS[tool]
    out = fn(A, case)  # warm-up (and imports)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(A, case)
        times.append(time.perf_counter() - t0)
    err_fn = getattr(mod, "error", svd_error)
    err = err_fn(A, out, case)
    print(json.dumps({"seconds": statistics.median(times), "error": err}))


def thread_env(threads: int = THREADS, **extra: str) -> dict[str, str]:
    """The environment with every BLAS/OpenMP pool capped at ``threads`` (plus ``extra`` variables)."""
    t = str(threads)
    return dict(os.environ, OMP_NUM_THREADS=t, OPENBLAS_NUM_THREADS=t, MKL_NUM_THREADS=t, **extra)


def run_json(args: Sequence[str], *, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``python ARGS`` in a fresh process; its last stdout line is JSON.

    Returns that object, or ``{"failed": reason}`` (the last line of stderr) when the process fails.
    """
    res = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                         env=thread_env() if env is None else env, check=False)
    if res.returncode != 0:
        return {"failed": (res.stderr.strip().splitlines() or ["no output"])[-1][:120]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def optimal_rank(S: np.ndarray, tol: float) -> int:
    """Smallest k with (Σ_{i>k} σ_i²)^{1/2} <= tol·‖A‖_F for the complete spectrum ``S``."""
    return int(rankwise_select_rank(S, tol=tol) or len(S))


def run_tool(module: str, tool: str, case: Case, matrix: Path, repeats: int, threads: int) -> dict[str, Any]:
    """Run one tool in a fresh process; returns {"seconds", "error"} or {"failed": reason}."""
    payload = json.dumps({**case.__dict__, "shape": list(case.shape)})
    return run_json(["-m", "benchmarks.harness", "--worker", module, tool, payload, str(matrix), str(repeats),
                     str(threads)], env=thread_env(threads))


def table(case: Case, rows: Sequence[Row], reference: str = "rankwise") -> str:
    """The Markdown table of one case."""
    ref = next((r.seconds for r in rows if r.tool == reference), None)
    lines = [f"**{case.name}** ({case.shape[0]}×{case.shape[1]} {case.dtype}, σ: {case.spectrum}, k = {case.rank})",
             "", "| tool | median time | error / optimum | speed ratio |", "|---|---:|---:|---:|"]
    for r in rows:
        if r.note:
            lines.append(f"| {r.tool} | — | — | {r.note} |")
            continue
        ratio = "n/a" if r.error_ratio is None else f"{r.error_ratio:.4f}"
        speed = f"{r.seconds / ref:.2f}×" if ref else "n/a"
        lines.append(f"| {r.tool} | {r.seconds:.3f} s | {ratio} | {speed} |")
    return "\n".join(lines)


def run_module(module: str, *, quick: bool = False, repeats: int = 3, threads: int = THREADS,
               tools: Sequence[str] | None = None) -> list[str]:
    """Run every case of a benchmark module through every tool; print and return the tables."""
    mod = importlib.import_module(module)
    names = list(tools) if tools else list(mod.TOOLS)
    out = []
    with tempfile.TemporaryDirectory(prefix="rankwise-bench-") as tmp:
        for case in mod.cases(quick):
            A, S = case.build()
            path = Path(tmp) / "A.npy"
            np.save(path, A)
            opt = case.optimum(S)
            rows = []
            for tool in names:
                res = run_tool(module, tool, case, path, repeats, threads)
                if "failed" in res:
                    rows.append(Row(tool, float("nan"), None, note=f"failed: {res['failed']}"))
                else:
                    ratio = res["error"] / opt if opt > 0 and res["error"] is not None else None
                    rows.append(Row(tool, res["seconds"], ratio))
            text = table(case, rows)
            print(text + "\n", flush=True)
            out.append(text)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--worker":
        _, module, tool, case_json, matrix, repeats, threads = argv
        _limit_threads(int(threads))
        _worker(module, tool, case_json, matrix, int(repeats), int(threads))
        return
    p = argparse.ArgumentParser(description="Run one benchmark module.")
    p.add_argument("module")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    run_module(args.module, quick=args.quick, repeats=args.repeats)


if __name__ == "__main__":
    main()
