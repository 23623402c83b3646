"""``rankwise lora extract|merge``: LoRA adapters from a fine-tune, and merged back into a checkpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ._common import HELP, CheckpointArg, TargetsOpt, _cli_command, _console, _fmt, _layer_progress, _protected

lora_app = typer.Typer(help="LoRA adapters: extract one from a fine-tune, merge one into a checkpoint.",
                       no_args_is_help=True, context_settings=HELP)


def _extract_table(reports: list[Any], title: str) -> Table:
    t = Table(title=title, header_style="bold")
    for col in ("layer", "kind", "shape", "rank", "rel. error", "energy kept", "adapter params", "time"):
        t.add_column(col, justify="left" if col in ("layer", "kind") else "right", overflow="fold")
    for r in reports:
        t.add_row(r.name, r.kind, "×".join(map(str, r.shape)), str(r.rank), _fmt(r.rel_error),
                  f"{100 * r.energy:.4f}%", f"{r.params:,}", f"{r.seconds:.3f} s")
    return t


@lora_app.command("extract")
@_cli_command
def lora_extract(
    base: CheckpointArg,
    tuned: CheckpointArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="Adapter folder to write (PEFT format).")],
    rank: Annotated[int | None, typer.Option("--rank", help="The same rank for every layer (default 16).")] = None,
    energy: Annotated[float | None, typer.Option("--energy", help="Per layer, fraction of Σσ² of ΔW kept.")] = None,
    tol: Annotated[float | None, typer.Option("--tol", help="Per layer, relative Frobenius error of ΔW.")] = None,
    targets: TargetsOpt = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the randomized SVD.")] = 0,
) -> None:
    """Extract a LoRA adapter (PEFT format) from BASE and TUNED: truncated SVD of ΔW per layer."""
    from ..nn.checkpoint import as_source
    from ..nn.extract import iter_extract, plan_extraction
    from ..nn.peft_io import write_adapter

    if rank is None and energy is None and tol is None:
        rank = 16
    b = as_source(base, func="lora extract", name="BASE")
    t = as_source(tuned, func="lora extract", name="TUNED")
    plan = plan_extraction(b, t, targets, func="lora extract")
    reports: list[Any] = []
    with _layer_progress("extracting") as bar:
        task = bar.add_task("", total=len(plan))

        def layers() -> Iterator[tuple[str, Any]]:
            for name, f, rep in iter_extract(b, t, plan, rank=rank, energy=energy, tol=tol, rng=seed,
                                             func="lora extract"):
                reports.append(rep)
                bar.update(task, completed=len(reports), description=name)
                yield name, f

        write_adapter(output, layers(), protect=_protected(base, tuned))
    rule = f"rank={rank}" if rank is not None else (f"energy={energy}" if energy is not None else f"tol={tol}")
    console = _console()
    console.print(_extract_table(reports, f"rankwise lora extract  ({rule}, seed={seed})"))
    skipped = len(plan) - len(reports)
    total = sum(r.params for r in reports)
    console.print(f"{len(reports)} layers, {total:,} adapter parameters"
                  + (f"; {skipped} unchanged layers skipped" if skipped else "") + f"; written to {output}",
                  markup=False)


@lora_app.command("merge")
@_cli_command
def lora_merge(
    base: CheckpointArg,
    adapter: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="PEFT adapter folder.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Merged .safetensors file to write.")],
) -> None:
    """Merge a LoRA adapter into BASE: W = W₀ + (α/r)·BA for every adapted layer."""
    from ..nn.checkpoint import as_source, write_safetensors
    from ..nn.peft_io import load_adapter, merged_tensors

    ad = load_adapter(adapter)
    src = as_source(base, func="lora merge", name="BASE")
    with _layer_progress("merging") as bar:
        task = bar.add_task("", total=len(src.keys()))

        def tensors() -> Iterator[tuple[str, Any]]:
            for i, (key, t) in enumerate(merged_tensors(src, ad)):
                bar.update(task, completed=i + 1, description=key)
                yield key, t

        write_safetensors(output, tensors(), protect=_protected(base, adapter))
    t = Table(title=f"rankwise lora merge  ({adapter})", header_style="bold")
    for col in ("layer", "kind", "rank", "alpha"):
        t.add_column(col, justify="left" if col in ("layer", "kind") else "right")
    for name, f in ad.layers.items():
        t.add_row(name, f.kind, str(f.rank), f"{f.alpha:g}")
    console = _console()
    console.print(t)
    console.print(f"{len(ad.layers)} layers merged; written to {output}", markup=False)
