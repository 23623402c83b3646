"""LoRA extraction speed, compression quality on all-MiniLM-L6-v2, and the CLI's peak memory.

1. **Extraction**: ``rankwise.nn.extract_lora`` (randomized block-Krylov SVD per layer) against
   what common extraction scripts do, a full ``torch.linalg.svd`` of every ΔW truncated to the
   same rank. Both read the same two safetensors files one tensor at a time, each tool in its
   own process with the harness's thread count. Cases: MiniLM's 36 encoder linear layers
   (tuned = base + a rank-8 change + noise, rank 16) and a synthetic checkpoint of 4096×4096
   float32 layers (rank 64; 1024×1024 with ``--quick``). The table gives the median time, the
   total error Σ‖ΔW − BA‖_F² relative to the full SVD's (the optimum), and the speed ratio.
2. **Compression quality**: mean cosine similarity between the sentence embeddings (mean
   pooling) of the original and the compressed MiniLM on 50 fixed sentences, for
   svd / asvd / whiten at 0.9 / 0.8 / 0.5 of each layer's weights kept (``--quick``: 0.8 only);
   asvd and whiten are calibrated on 60 other sentences.
3. **Peak memory** of ``rankwise lora extract`` on a checkpoint of many layers: the maximum
   resident set (``resource.getrusage``) of the CLI process, measured from the resident set
   after the imports (the high-water mark is reset through ``/proc/self/clear_refs``), next to
   the checkpoint size and the largest layer.

Run: ``python -m benchmarks.run lora [--quick]``.
"""

from __future__ import annotations

import copy
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import THREADS, run_json, thread_env

TOOLS = ("rankwise", "torch.linalg.svd (full)")


def _env() -> dict[str, str]:
    return thread_env(HF_HUB_OFFLINE="1")


# --------------------------------------------------------------------------- checkpoints


def _write(path: Path, tensors: dict[str, Any]) -> Path:
    from rankwise.nn import write_safetensors

    return write_safetensors(path, tensors.items())


def _tuned(base: dict[str, Any], keys: list[str], rank: int, noise: float, seed: int) -> dict[str, Any]:
    import torch

    g = torch.Generator().manual_seed(seed)
    tuned = dict(base)
    for k in keys:
        m, n = base[k].shape
        u, v = torch.randn(m, rank, generator=g), torch.randn(rank, n, generator=g)
        decay = 0.8 ** torch.arange(rank, dtype=torch.float32)
        tuned[k] = base[k] + 0.3 * (u * decay) @ v / n**0.5 + noise * torch.randn(m, n, generator=g)
    return tuned


def minilm_pair(folder: Path) -> tuple[Path, Path, str]:
    """MiniLM's weights and a tuned copy (rank-8 change + noise on every encoder linear layer)."""
    from safetensors.torch import load_file

    from benchmarks import minilm

    base = load_file(str(minilm.model_dir() / "model.safetensors"))
    keys = [k for k in base if k.startswith("encoder.") and k.endswith(".weight") and base[k].ndim == 2]
    return (minilm.model_dir() / "model.safetensors", _write(folder / "minilm_tuned.safetensors",
                                                             _tuned(base, keys, 8, 1e-3, 0)), "encoder.*")


def synthetic_pair(folder: Path, size: int, layers: int, tag: str) -> tuple[Path, Path, str]:
    import torch

    g = torch.Generator().manual_seed(1)
    base = {f"layers.{i}.proj.weight": torch.randn(size, size, generator=g) / size**0.5 for i in range(layers)}
    tuned = _tuned(base, list(base), 32, 1e-3, 2)
    return (_write(folder / f"{tag}_base.safetensors", base), _write(folder / f"{tag}_tuned.safetensors", tuned),
            "layers.*")


# --------------------------------------------------------------------------- extraction workers


def _torch_full_svd(base: str, tuned: str, rank: int, prefix: str) -> dict[str, Any]:
    """The usual script: ΔW, full SVD, keep the leading ``rank`` triplets, B = U√Σ, A = √Σ Vh."""
    import torch
    from safetensors import safe_open

    out = {}
    with safe_open(base, framework="pt") as fb, safe_open(tuned, framework="pt") as ft:
        for k in fb.keys():
            if k.startswith(prefix) and k.endswith(".weight") and len(fb.get_slice(k).get_shape()) == 2:
                D = ft.get_tensor(k).float() - fb.get_tensor(k).float()
                U, S, Vh = torch.linalg.svd(D, full_matrices=False)
                root = S[:rank].sqrt()
                out[k[: -len(".weight")]] = (root[:, None] * Vh[:rank], U[:, :rank] * root)
    return out


def _rankwise(base: str, tuned: str, rank: int, targets: str) -> dict[str, Any]:
    from rankwise.nn import extract_lora

    ad = extract_lora(base, tuned, rank=rank, targets=targets, rng=0)
    return {n: (f.A, f.B) for n, f in ad.layers.items()}


def _worker(tool: str, base: str, tuned: str, rank: int, targets: str, repeats: int) -> None:
    import torch
    from safetensors import safe_open

    torch.set_num_threads(THREADS)
    run = (lambda: _rankwise(base, tuned, rank, targets)) if tool == "rankwise" else (
        lambda: _torch_full_svd(base, tuned, rank, targets.rstrip("*")))
    run()  # warm-up
    times, factors = [], {}
    for _ in range(repeats):
        t0 = time.perf_counter()
        factors = run()
        times.append(time.perf_counter() - t0)
    err2 = 0.0
    with safe_open(base, framework="pt") as fb, safe_open(tuned, framework="pt") as ft:
        for name, (A, B) in factors.items():
            D = ft.get_tensor(f"{name}.weight").double() - fb.get_tensor(f"{name}.weight").double()
            err2 += float(torch.linalg.matrix_norm(D - B.double() @ A.double()) ** 2)
    print(json.dumps({"seconds": statistics.median(times), "err2": err2, "layers": len(factors)}))


def _run(tool: str, case: tuple[Path, Path, str], rank: int, repeats: int) -> dict[str, Any]:
    base, tuned, targets = case
    return run_json(["-m", "benchmarks.bench_lora", "--worker", tool, str(base), str(tuned), str(rank), targets,
                     str(repeats)], env=_env())


def extraction_table(title: str, rows: list[tuple[str, dict[str, Any]]]) -> str:
    ref = dict(rows)[TOOLS[0]]
    opt = dict(rows)[TOOLS[1]]
    lines = [f"**{title}**", "", "| tool | median time | error / full SVD's | speed ratio |", "|---|---:|---:|---:|"]
    for tool, r in rows:
        if "failed" in r or "failed" in ref:
            lines.append(f"| {tool} | — | — | failed: {r.get('failed') or ref.get('failed')} |")
            continue
        err = (r["err2"] / opt["err2"]) ** 0.5 if "err2" in opt and opt["err2"] > 0 else float("nan")
        lines.append(f"| {tool} | {r['seconds']:.3f} s | {err:.4f} | {r['seconds'] / ref['seconds']:.2f}× |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- compression quality


def quality_table(ratios: tuple[float, ...]) -> str:
    from benchmarks import minilm
    from rankwise.nn import calibrate, compress

    base = minilm.load_model()
    batch = minilm.encode(minilm.SENTENCES)
    ref = minilm.embed(base, batch)
    cal = calibrate(base, minilm.calibration_batches(), targets="encoder.*")
    lines = ["**Compression quality, all-MiniLM-L6-v2** (mean cosine of sentence embeddings, 50 sentences; "
             "all 36 encoder linear layers)", "",
             "| method | " + " | ".join(f"{r:g} kept" for r in ratios) + " |", "|---|" + "---:|" * len(ratios)]
    for method in ("svd", "asvd", "whiten"):
        cells = []
        for ratio in ratios:
            model, rep = compress(copy.deepcopy(base), ratio=ratio, method=method, calibration=cal, targets="encoder.*")
            cells.append(f"{minilm.mean_cosine(ref, minilm.embed(model, batch)):.4f}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- peak memory


_PROBE = """
import sys
import torch, rankwise.nn, rankwise.cli
with open("/proc/self/clear_refs", "w") as fh:  # reset the high-water mark: imports are not the job's memory
    fh.write("5")
rss = next(int(ln.split()[1]) for ln in open("/proc/self/status") if ln.startswith("VmRSS"))
try:
    rankwise.cli.app(sys.argv[1:])
except SystemExit as e:
    assert not e.code, e.code
# VmHWM (reset above), not ru_maxrss: the latter keeps the parent's high-water mark across fork + exec
hwm = next(int(ln.split()[1]) for ln in open("/proc/self/status") if ln.startswith("VmHWM"))
print("PEAK", hwm - rss, file=sys.stderr)
"""


def _peak_kib(args: list[str]) -> int:
    """Peak resident memory (KiB) of the CLI run, above the resident set after the imports."""
    res = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, env=_env(),
                         check=False)
    peak = [ln for ln in res.stderr.splitlines() if ln.startswith("PEAK")]
    if res.returncode != 0 or not peak:
        raise RuntimeError(f"memory probe failed: {res.stderr.strip()[-300:]}")
    return int(peak[-1].split()[1])


def memory_table(case: tuple[Path, Path, str], out: Path, size: int, layers: int) -> str:
    base, tuned, _ = case
    peak = _peak_kib(["lora", "extract", str(base), str(tuned), "-o", str(out), "--rank", "16"])
    layer_mib = size * size * 4 / 2**20
    return "\n".join([
        f"**Peak memory of `rankwise lora extract`** ({layers} layers of {size}×{size} float32, rank 16)", "",
        "| checkpoint size (each of 2) | largest layer | peak RSS of the extraction (above the imports) |",
        "|---:|---:|---:|",
        f"| {layers * layer_mib:.0f} MiB | {layer_mib:.0f} MiB | {peak / 1024:.0f} MiB |",
    ])


def main(quick: bool = False, repeats: int = 3) -> list[str]:
    """Run the three parts; print and return the tables."""
    size, rank = (1024, 64) if quick else (4096, 64)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = [("MiniLM-L6 encoder (36 layers, rank 16)", minilm_pair(folder), 16),
                 (f"synthetic {size}×{size} float32 (2 layers, rank {rank})",
                  synthetic_pair(folder, size, 2, "syn"), rank)]
        for title, case, r in cases:
            rows = [(tool, _run(tool, case, r, 1 if quick else repeats)) for tool in TOOLS]
            out.append(extraction_table(title, rows))
            print(out[-1] + "\n", flush=True)
        msize, mlayers = (512, 8) if quick else (2048, 12)
        mem_case = synthetic_pair(folder, msize, mlayers, "mem")
        out.append(memory_table(mem_case, folder / "adapter", msize, mlayers))
        print(out[-1] + "\n", flush=True)
    out.append(quality_table((0.8,) if quick else (0.9, 0.8, 0.5)))
    print(out[-1] + "\n", flush=True)
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, tool_, base_, tuned_, rank_, targets_, repeats_ = sys.argv
        _worker(tool_, base_, tuned_, int(rank_), targets_, int(repeats_))
    else:
        main(quick="--quick" in sys.argv)
