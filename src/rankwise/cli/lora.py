"""``rankwise lora extract|merge``: LoRA adapters from a fine-tune, and merged back into a checkpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ._common import (
    HELP,
    CheckpointArg,
    ForceOpt,
    QuietOpt,
    TargetsOpt,
    _cli_command,
    _console,
    _fmt,
)
from ._progress import _layer_progress
from ._render import new_table, show

lora_app = typer.Typer(help="LoRA adapters: extract one from a fine-tune, merge one into a checkpoint.",
                       no_args_is_help=True, context_settings=HELP, rich_markup_mode=None)

DEFAULT_ENERGY = 0.99


def _extract_table(reports: list[Any], title: str) -> Table:
    t = new_table(title, [("layer", "left"), ("kind", "left"), ("shape", "right"), ("rank", "right"),
                          ("rel. error", "right"), ("energy kept", "right"), ("adapter params", "right"),
                          ("time", "right")])
    for r in reports:
        rank = f"{r.rank} (whole)" if r.capped else str(r.rank)
        params = f"{r.params:,}" + (" (> ΔW)" if r.params > r.dense_params else "")
        t.add_row(r.name, r.kind, "×".join(map(str, r.shape)), rank, _fmt(r.rel_error),
                  f"{100 * r.energy:.4f}%", params, f"{r.seconds:.3f} s")
    return t


def _names(names: list[str], limit: int = 4) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


@lora_app.command("extract")
@_cli_command
def lora_extract(
    base: CheckpointArg,
    tuned: CheckpointArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="Adapter folder to write (PEFT format).")],
    rank: Annotated[int | None, typer.Option("--rank", help="The same rank for every layer (a smaller layer is "
                                                            "kept whole).")] = None,
    energy: Annotated[float | None, typer.Option(
        "--energy", help=f"Per layer, fraction of Σσ² of ΔW kept (the default, {DEFAULT_ENERGY:g}, when no rule "
                         "is given).")] = None,
    tol: Annotated[float | None, typer.Option("--tol", help="Per layer, relative Frobenius error of ΔW.")] = None,
    targets: TargetsOpt = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the randomized SVD.")] = 0,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Extract a LoRA adapter (PEFT format) from BASE and TUNED: truncated SVD of ΔW per layer.

    Unchanged layers are skipped (and listed). The adapter folder appears only once
    complete; an existing one is replaced only with --force.
    """
    from ..io import check_output
    from ..nn.checkpoint import as_source
    from ..nn.extract import iter_extract, plan_extraction
    from ..nn.peft_io import EmptyAdapterError, write_adapter

    if rank is None and energy is None and tol is None:
        energy = DEFAULT_ENERGY
    protect = [base, tuned]  # and everything inside them (see check_output)
    check_output(output, protect=protect, force=force, folder=True)
    b = as_source(base, func="lora extract", name="BASE")
    t = as_source(tuned, func="lora extract", name="TUNED")
    plan = plan_extraction(b, t, targets, func="lora extract")
    reports: list[Any] = []
    with _layer_progress("extracting", quiet) as bar:
        task = bar.add_task("", total=len(plan))

        def layers() -> Iterator[tuple[str, Any]]:
            for name, f, rep in iter_extract(b, t, plan, rank=rank, energy=energy, tol=tol, rng=seed,
                                             func="lora extract"):
                reports.append(rep)
                bar.update(task, completed=len(reports), description=name)
                yield name, f

        try:
            write_adapter(output, layers(), protect=protect, force=force)
        except EmptyAdapterError:
            raise ValueError(f"lora extract: TUNED equals BASE on all {len(plan)} candidate layers; there is "
                             f"nothing to extract ({output} was not written)") from None
    rule = f"rank={rank}" if rank is not None else (f"energy={energy}" if energy is not None else f"tol={tol}")
    console = _console()
    show(console, _extract_table(reports, f"rankwise lora extract  ({rule}, seed={seed})"))
    done = {r.name for r in reports}
    skipped = [p.name for p in plan if p.name not in done]
    total = sum(r.params for r in reports)
    console.print(f"{len(reports)} layers, {total:,} adapter parameters; written to {output}", markup=False)
    if skipped:
        console.print(f"{len(skipped)} unchanged layers skipped: {_names(skipped)}", markup=False)
    larger = [r.name for r in reports if r.params > r.dense_params]
    if larger:
        console.print(f"{len(larger)} layers store more numbers as an adapter than ΔW itself ({_names(larger)}): "
                      "at this rule a low-rank update saves nothing there", markup=False)
    capped = [r.name for r in reports if r.capped]
    if capped:
        console.print(f"{len(capped)} layers are smaller than rank {rank} and are kept whole: {_names(capped)}",
                      markup=False)


@lora_app.command("merge")
@_cli_command
def lora_merge(
    base: CheckpointArg,
    adapter: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="PEFT adapter folder.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Merged .safetensors file to write.")],
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Merge a LoRA adapter into BASE: W = W₀ + (α/r)·BA for every adapted layer."""
    from ..io import check_output
    from ..nn.checkpoint import as_source, write_safetensors
    from ..nn.peft_io import load_adapter, merged_tensors

    protect = [base, adapter]
    check_output(output, suffixes=(".safetensors",), protect=protect, force=force)
    ad = load_adapter(adapter)
    src = as_source(base, func="lora merge", name="BASE")
    with _layer_progress("merging", quiet) as bar:
        task = bar.add_task("", total=len(src.keys()))

        def tensors() -> Iterator[tuple[str, Any]]:
            for i, (key, t) in enumerate(merged_tensors(src, ad)):
                bar.update(task, completed=i + 1, description=key)
                yield key, t

        write_safetensors(output, tensors(), protect=protect, force=force)
    t = new_table(f"rankwise lora merge  ({adapter})", [("layer", "left"), ("kind", "left"), ("rank", "right"),
                                                         ("alpha", "right")])
    for name, f in ad.layers.items():
        t.add_row(name, f.kind, str(f.rank), f"{f.alpha:g}")
    console = _console()
    show(console, t)
    console.print(f"{len(ad.layers)} layers merged; written to {output}", markup=False)
