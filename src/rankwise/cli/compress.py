"""``rankwise compress``: replace a checkpoint's linear weights by low-rank factors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ._common import CheckpointArg, TargetsOpt, _cli_command, _console, _fmt, _layer_progress, _protected, _storage


def _compress_table(reports: list[Any], title: str) -> Table:
    t = Table(title=title, header_style="bold")
    for col in ("layer", "shape", "rank", "params before → after", "rel. weight error", "whitening"):
        t.add_column(col, justify="left" if col in ("layer", "whitening") else "right", overflow="fold")
    for r in reports:
        t.add_row(r.name, "×".join(map(str, r.shape)), str(r.rank), _storage(r.params_before, r.params_after),
                  _fmt(r.rel_error), r.whitening)
    return t


@_cli_command
def compress_cmd(
    model: CheckpointArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="Compressed .safetensors file to write.")],
    ratio: Annotated[float | None, typer.Option("--ratio", help="Fraction of each layer's weights kept.")] = None,
    energy: Annotated[float | None, typer.Option("--energy", help="Per layer, fraction of Σσ² kept.")] = None,
    method: Annotated[str, typer.Option("--method", help="svd, asvd or whiten.")] = "svd",
    calibration: Annotated[Path | None, typer.Option(
        "--calibration", exists=True, dir_okay=False,
        help="Input statistics (.safetensors from rankwise.nn.calibrate(...).save); asvd and whiten.")] = None,
    targets: TargetsOpt = None,
) -> None:
    """Replace MODEL's linear weights W by low-rank factors A (r×in), B (out×r): keys NAME.A, NAME.B."""
    from ..nn.checkpoint import as_source, write_safetensors
    from ..nn.compression import Calibration, iter_compress, plan_compression

    src = as_source(model, func="compress", name="MODEL")
    plan = plan_compression(src, targets)
    cal = Calibration.load(calibration) if calibration is not None else None
    reports: list[Any] = []
    with _layer_progress("compressing") as bar:
        task = bar.add_task("", total=len(plan))

        def tensors() -> Iterator[tuple[str, Any]]:
            for key, t, rep in iter_compress(src, plan, ratio=ratio, energy=energy, method=method, calibration=cal):
                if rep is not None:
                    reports.append(rep)
                    bar.update(task, completed=len(reports), description=rep.name)
                yield key, t

        write_safetensors(output, tensors(), protect=_protected(model) + ([calibration] if calibration else []))
    rule = f"ratio={ratio}" if ratio is not None else f"energy={energy}"
    console = _console()
    console.print(_compress_table(reports, f"rankwise compress  (method={method}, {rule})"))
    before, after = sum(r.params_before for r in reports), sum(r.params_after for r in reports)
    console.print(f"{len(reports)} of {len(plan)} layers compressed: {_storage(before, after)} weights; "
                  f"written to {output}", markup=False)
