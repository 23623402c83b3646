"""Vector quantisation: codebook use with a plain and a linear (SimVQ) codebook, and assignment speed.

1. **Digits** (scikit-learn's 8×8 digits, shipped with it; 1500 train / 297 test): the same
   encoder (64→128→8) – :class:`rankwise.nn.VectorQuantizer` (K = 256, d = 8) – decoder (8→128→64),
   Adam (lr 1e-3, batch 128), trained with each codebook × estimator, from the default initial
   codebook (N(0, 1/d) entries) and from nn.Embedding's default N(0, 1). Every ``every`` steps:
   utilisation on the training images, dead codes (codes no training batch used since the last
   checkpoint) and reconstruction MSE (per pixel, pixels in [0, 1]).
2. **Mixture**: direct quantisation (codebook loss only, no encoder) of N points of a mixture of
   32 Gaussians in d = 8 (centres N(0, s²I), unit noise; s = 1 overlapping, s = 2 separated),
   K from 256 to 16384, 200 Adam steps (lr 1e-2, batch 1024) from the same initial codebook.
3. **Assignment speed and peak memory** at K = 16384, d = 64, N = 8192 float32: the torch path
   (``rankwise.nn.vq.assign``), the NumPy path (``rankwise.quantize.assign``) and a
   straightforward ``torch.cdist(x, C).argmin(1)``, each in its own process with the harness's
   threads. Peak memory: the resident set's high-water mark (``VmHWM``, reset through
   ``/proc/self/clear_refs`` after the data are built) during one call, above the resident set
   before it; for the NumPy path also ``tracemalloc``'s peak (NumPy reports its allocations to it).

Run: ``python -m benchmarks.run vq [--quick]`` or ``python -m benchmarks.bench_vq [--quick] [--plot out.png]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import THREADS, run_json, thread_env

DIGITS_VARIANTS = (("plain", "ste", None), ("linear", "ste", None), ("plain", "rotation", None),
                   ("linear", "rotation", None), ("plain", "ste", 1.0), ("linear", "ste", 1.0))
SPEED_TOOLS = ("rankwise.nn.vq.assign (torch)", "rankwise.quantize.assign (numpy)", "torch.cdist + argmin")


@dataclass
class Curve:
    """One training run: the checkpoints and the final figures."""

    name: str
    steps: list[int] = field(default_factory=list)
    utilisation: list[float] = field(default_factory=list)
    dead: list[int] = field(default_factory=list)
    mse: list[float] = field(default_factory=list)
    final: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- digits


def _mlp(sizes: tuple[int, ...], g: Any) -> Any:
    """Linear–ReLU–Linear with PyTorch's default U(−1/√fan_in, 1/√fan_in) init, drawn from ``g``."""
    import torch
    from torch import nn

    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        lin = nn.Linear(a, b)
        for p in lin.parameters():
            nn.init.uniform_(p, -a**-0.5, a**-0.5, generator=g)
        layers += [lin] if i == len(sizes) - 2 else [lin, nn.ReLU()]
    return torch.nn.Sequential(*layers)


def digits() -> tuple[Any, Any]:
    """The 1797 digits scaled to [0, 1], shuffled (seed 0) and split 1500 / 297, as float32 tensors."""
    import torch
    from sklearn.datasets import load_digits

    X = load_digits().data.astype(np.float32) / 16.0
    X = X[np.random.default_rng(0).permutation(len(X))]
    return torch.from_numpy(X[:1500]), torch.from_numpy(X[1500:])


def train_digits(codebook: str, estimator: str, init_std: float | None, *, steps: int, every: int,
                 seed: int = 0) -> Curve:
    import torch

    from rankwise.nn import VectorQuantizer
    from rankwise.quantize import perplexity, utilisation

    train, test = digits()
    g = torch.Generator().manual_seed(seed)
    enc, dec = _mlp((64, 128, 8), g), _mlp((8, 128, 64), g)
    vq = VectorQuantizer(256, 8, codebook=codebook, estimator=estimator, init_std=init_std, rng=seed)  # type: ignore[arg-type]
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters(), *vq.parameters()], lr=1e-3)
    init = "N(0, 1)" if init_std == 1.0 else "N(0, 1/d)"
    curve = Curve(f"{codebook}, {estimator}, init {init}")

    def evaluate(X: Any) -> tuple[Any, float]:
        with torch.no_grad():
            out = vq(enc(X))
            return out.indices.numpy(), float((dec(out.quantized) - X).square().mean())

    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        x = train[torch.randint(0, len(train), (128,), generator=g)]
        out = vq(enc(x))
        loss = (dec(out.quantized) - x).square().mean() + out.loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % every == 0:
            vq.eval()
            idx, mse = evaluate(train)
            vq.train()
            curve.steps.append(step)
            curve.utilisation.append(utilisation(idx, 256))
            curve.dead.append(vq.dead_codes())
            curve.mse.append(mse)
            vq.reset_usage()
    seconds = time.perf_counter() - t0
    vq.eval()
    idx, mse = evaluate(train)
    curve.final = {"utilisation": utilisation(idx, 256), "perplexity": perplexity(idx, 256), "mse": mse,
                   "test_mse": evaluate(test)[1], "dead": curve.dead[-1], "seconds": seconds}
    return curve


def digits_table(curves: list[Curve], steps: int, every: int) -> str:
    lines = [f"**Digits** (K = 256, latent 8, {steps} Adam steps; utilisation and MSE on the 1500 training images, "
             "test MSE on 297 held out)", "",
             f"| codebook, estimator, initial codes | utilisation | perplexity | dead (last {every} steps) | MSE | "
             "test MSE | time |", "|---|---:|---:|---:|---:|---:|---:|"]
    for c in curves:
        f = c.final
        lines.append(f"| {c.name} | {100 * f['utilisation']:.1f} % | {f['perplexity']:.1f} | {f['dead']:.0f} | "
                     f"{f['mse']:.4f} | {f['test_mse']:.4f} | {f['seconds']:.1f} s |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- mixture


def mixture(n: int, d: int, spread: float, seed: int = 0) -> np.ndarray:
    """n points of an equal-weight mixture of 32 Gaussians: centres N(0, spread²·I), unit covariance."""
    g = np.random.default_rng(seed)
    centres = g.normal(0.0, spread, (32, d))
    return (centres[g.integers(0, 32, n)] + g.normal(0.0, 1.0, (n, d))).astype(np.float32)


def train_mixture(X: np.ndarray, K: int, codebook: str, *, steps: int, seed: int = 1) -> dict[str, float]:
    import torch

    from rankwise.nn import VectorQuantizer
    from rankwise.quantize import perplexity, utilisation

    vq = VectorQuantizer(K, X.shape[1], codebook=codebook, rng=seed)  # type: ignore[arg-type]
    opt = torch.optim.Adam(vq.parameters(), lr=1e-2)
    Xt = torch.from_numpy(X)
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        vq(Xt[torch.randint(0, len(X), (1024,), generator=g)]).loss.backward()
        opt.step()
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        idx = vq.assign(Xt)
        err = float((Xt - vq.codebook()[idx]).square().sum(1).mean())
    return {"utilisation": utilisation(idx.numpy(), K), "perplexity": perplexity(idx.numpy(), K), "error": err,
            "seconds": seconds}


def mixture_rows(quick: bool) -> list[tuple[float, int, str, dict[str, float]]]:
    n = 16384 if quick else 131072
    plan = [(1.0, (256, 1024) if quick else (256, 1024, 4096, 16384)), (2.0, (1024,) if quick else (1024, 16384))]
    rows = []
    for spread, Ks in plan:
        X = mixture(n, 8, spread)
        for K in Ks:
            for mode in ("plain", "linear"):
                rows.append((spread, K, mode, train_mixture(X, K, mode, steps=50 if quick else 200)))
    return rows


def mixture_table(rows: list[tuple[float, int, str, dict[str, float]]], n: int) -> str:
    lines = [f"**Mixture** (N = {n} points, d = 8, 32 Gaussians; direct quantisation, 200 Adam steps of 1024 points; "
             "error = mean squared distance to the nearest code)", "",
             "| centres spread s | K | codebook | utilisation | perplexity | error | training time |",
             "|---:|---:|---|---:|---:|---:|---:|"]
    for spread, K, mode, r in rows:
        lines.append(f"| {spread:g} | {K} | {mode} | {100 * r['utilisation']:.1f} % | {r['perplexity']:.0f} | "
                     f"{r['error']:.3f} | {r['seconds']:.1f} s |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- assignment speed


def _status(key: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(ln.split()[1]) for ln in fh if ln.startswith(key))


def _speed_worker(tool: str, n: int, k: int, d: int, repeats: int, out: str) -> None:
    g = np.random.default_rng(0)
    X = g.standard_normal((n, d), dtype=np.float32)
    C = g.standard_normal((k, d), dtype=np.float32)
    if tool == SPEED_TOOLS[1]:
        from rankwise.quantize import assign

        def run() -> np.ndarray:
            return assign(X, C).indices
    else:
        import torch

        torch.set_num_threads(THREADS)
        x, c = torch.from_numpy(X), torch.from_numpy(C)
        if tool == SPEED_TOOLS[0]:
            from rankwise.nn.vq import assign as t_assign

            def run() -> np.ndarray:
                return t_assign(x, c).numpy()
        else:
            def run() -> np.ndarray:
                return torch.cdist(x, c).argmin(1).numpy()
    with open("/proc/self/clear_refs", "w") as fh:  # reset the high-water mark: the data are not the job's memory
        fh.write("5")
    rss = _status("VmRSS")
    idx = run()
    peak_kib = _status("VmHWM") - rss
    traced = None
    if tool == SPEED_TOOLS[1]:
        import tracemalloc

        tracemalloc.start()
        run()
        traced = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    np.save(out, idx)
    print(json.dumps({"seconds": statistics.median(times), "peak_mib": peak_kib / 1024, "traced_mib": traced}))


def speed_table(quick: bool, repeats: int) -> str:
    n, k, d = (2048, 16384, 64) if quick else (8192, 16384, 64)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        idx = {}
        for i, tool in enumerate(SPEED_TOOLS):
            path = str(Path(tmp) / f"{i}.npy")
            rows[tool] = run_json(["-m", "benchmarks.bench_vq", "--worker", tool, str(n), str(k), str(d),
                                   str(repeats), path], env=thread_env(THREADS))
            if "failed" not in rows[tool]:
                idx[tool] = np.load(path)
    ref = rows[SPEED_TOOLS[2]]
    lines = [f"**Assignment** (N = {n}, K = {k}, d = {d} float32, {THREADS} threads, median of {repeats}; peak = "
             "VmHWM above the resident set before the call; largest temporary from the algorithm)", "",
             "| tool | median time | speed ratio (cdist's time / tool's) | peak RSS | tracemalloc peak | "
             "largest temporary | same indices as cdist |", "|---|---:|---:|---:|---:|---:|---:|"]
    from rankwise.quantize import BLOCK_BYTES, block_rows

    temp = {SPEED_TOOLS[0]: 4 * k * min(n, block_rows(k, 4, BLOCK_BYTES // 4)),
            SPEED_TOOLS[1]: 4 * k * min(n, block_rows(k, 4)), SPEED_TOOLS[2]: 4 * n * k}
    for tool, r in rows.items():
        if "failed" in r:
            lines.append(f"| {tool} | — | failed: {r['failed']} | | | | |")
            continue
        same = float(np.mean(idx[tool] == idx[SPEED_TOOLS[2]])) if SPEED_TOOLS[2] in idx else float("nan")
        traced = "—" if r["traced_mib"] is None else f"{r['traced_mib']:.0f} MiB"
        speed = f"{ref['seconds'] / r['seconds']:.2f}×" if "seconds" in ref else "n/a"
        lines.append(f"| {tool} | {r['seconds']:.3f} s | {speed} | {r['peak_mib']:.0f} MiB | {traced} | "
                     f"{temp[tool] / 2**20:.0f} MiB | {100 * same:.3f} % |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- plot and main


def plot(curves: list[Curve], mix: list[tuple[float, int, str, dict[str, float]]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    for c in curves:
        ax[0].plot(c.steps, [100 * u for u in c.utilisation], label=c.name)
        ax[1].plot(c.steps, c.mse, label=c.name)
    ax[0].set(xlabel="Adam step", ylabel="codes used (%)", title="Digits: utilisation (K = 256)")
    ax[1].set(xlabel="Adam step", ylabel="reconstruction MSE", title="Digits: reconstruction error", yscale="log")
    ax[0].legend(fontsize=7)
    for spread in sorted({s for s, *_ in mix}):
        for mode, style in (("plain", "o--"), ("linear", "s-")):
            pts = [(K, 100 * r["utilisation"]) for s, K, m, r in mix if s == spread and m == mode]
            ax[2].plot(*zip(*pts, strict=True), style, label=f"{mode}, s = {spread:g}")
    ax[2].set(xscale="log", xlabel="codes K", ylabel="codes used (%)", title="Mixture: utilisation")
    ax[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def goals(curves: list[Curve], mix: list[tuple[float, int, str, dict[str, float]]]) -> str:
    f = {c.name: c.final for c in curves}
    lin, plain = f["linear, ste, init N(0, 1/d)"], f["plain, ste, init N(0, 1/d)"]
    plain1 = f["plain, ste, init N(0, 1)"]
    s1 = [r["utilisation"] for s, _, m, r in mix if s == 1.0 and m == "linear"]
    lines = ["**Goals**", "",
             "- digits, linear vs plain from the same initial codebook: utilisation "
             f"{lin['utilisation'] / plain['utilisation']:.2f}× (goal ≥ 5×), "
             f"MSE {lin['mse']:.4f} vs {plain['mse']:.4f}",
             f"- digits, linear (N(0, 1/d)) vs plain from nn.Embedding's N(0, 1): utilisation "
             f"{lin['utilisation'] / plain1['utilisation']:.1f}×, MSE {lin['mse']:.4f} vs {plain1['mse']:.4f}",
             f"- mixture s = 1, linear: lowest utilisation over K = {100 * min(s1):.1f} % (goal ≥ 90 %)"]
    return "\n".join(lines)


def main(quick: bool = False, repeats: int = 3, plot_path: str | None = None) -> list[str]:
    """Run the three parts; print and return the tables (and draw the figure when ``plot_path`` is given)."""
    import torch

    torch.set_num_threads(THREADS)
    steps, every = (300, 50) if quick else (3000, 100)
    out = []
    curves = [train_digits(cb, est, std, steps=steps, every=every) for cb, est, std in DIGITS_VARIANTS]
    out.append(digits_table(curves, steps, every))
    print(out[-1] + "\n", flush=True)
    mix = mixture_rows(quick)
    out.append(mixture_table(mix, 16384 if quick else 131072))
    print(out[-1] + "\n", flush=True)
    out.append(speed_table(quick, 1 if quick else repeats))
    print(out[-1] + "\n", flush=True)
    out.append(goals(curves, mix))
    print(out[-1] + "\n", flush=True)
    if plot_path:
        plot(curves, mix, plot_path)
        print(f"figure written to {plot_path}")
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, tool_, n_, k_, d_, repeats_, out_ = sys.argv
        _speed_worker(tool_, int(n_), int(k_), int(d_), int(repeats_), out_)
    else:
        p = argparse.ArgumentParser(description="Vector quantisation benchmark.")
        p.add_argument("--quick", action="store_true")
        p.add_argument("--repeats", type=int, default=3)
        p.add_argument("--plot", help="write the figure (utilisation and error curves) to this path")
        a = p.parse_args()
        main(quick=a.quick, repeats=a.repeats, plot_path=a.plot)
