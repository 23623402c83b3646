"""``rankwise compress``: replace a checkpoint's linear weights by low-rank factors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ._common import CheckpointArg, ForceOpt, QuietOpt, TargetsOpt, _cli_command, _console, _fmt, _storage
from ._progress import _layer_progress
from ._render import new_table, show

DEFAULT_RATIO = 0.5


def _compress_table(reports: list[Any], title: str) -> Table:
    t = new_table(title, [("layer", "left"), ("shape", "right"), ("rank", "right"),
                          ("params before → after", "right"), ("rel. weight error", "right"), ("whitening", "left")])
    for r in reports:
        t.add_row(r.name, "×".join(map(str, r.shape)), str(r.rank), _storage(r.params_before, r.params_after),
                  _fmt(r.rel_error), r.whitening)
    return t


@_cli_command
def compress_cmd(
    model: CheckpointArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="Compressed .safetensors file to write.")],
    ratio: Annotated[float | None, typer.Option(
        "--ratio", help=f"Fraction of each layer's weights kept (the default, {DEFAULT_RATIO:g}, when neither "
                        "--ratio nor --energy is given).")] = None,
    energy: Annotated[float | None, typer.Option("--energy", help="Per layer, fraction of Σσ² kept.")] = None,
    method: Annotated[str, typer.Option("--method", help="svd, asvd or whiten.")] = "svd",
    calibration: Annotated[Path | None, typer.Option(
        "--calibration", exists=True, dir_okay=False,
        help="Input statistics (.safetensors from rankwise.nn.calibrate(...).save); asvd and whiten.")] = None,
    targets: TargetsOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Replace MODEL's linear weights W by low-rank factors A (r×in), B (out×r): keys NAME.A, NAME.B."""
    from ..io import check_output
    from ..nn.checkpoint import as_source, write_safetensors
    from ..nn.compression import Calibration, iter_compress, plan_compression

    if ratio is None and energy is None:
        ratio = DEFAULT_RATIO
    protect = [model, *([calibration] if calibration else [])]
    check_output(output, suffixes=(".safetensors",), protect=protect, force=force)
    src = as_source(model, func="compress", name="MODEL")
    plan = plan_compression(src, targets)
    cal = Calibration.load(calibration) if calibration is not None else None
    reports: list[Any] = []
    with _layer_progress("compressing", quiet) as bar:
        task = bar.add_task("", total=len(plan))

        def tensors() -> Iterator[tuple[str, Any]]:
            for key, t, rep in iter_compress(src, plan, ratio=ratio, energy=energy, method=method, calibration=cal):
                if rep is not None:
                    reports.append(rep)
                    bar.update(task, completed=len(reports), description=rep.name)
                yield key, t

        write_safetensors(output, tensors(), protect=protect, force=force)
    rule = f"ratio={ratio}" if ratio is not None else f"energy={energy}"
    console = _console()
    show(console, _compress_table(reports, f"rankwise compress  (method={method}, {rule})"))
    before, after = sum(r.params_before for r in reports), sum(r.params_after for r in reports)
    console.print(f"{len(reports)} of {len(plan)} layers compressed: {_storage(before, after)} weights; "
                  f"written to {output}", markup=False)
    dense = [name for name in plan if name not in {r.name for r in reports}]
    if dense:
        shown = ", ".join(dense[:4]) + (f" and {len(dense) - 4} more" if len(dense) > 4 else "")
        console.print(f"{len(dense)} layers kept dense: at this {rule.split('=')[0]} their factors would store "
                      f"at least as many numbers as the weight ({shown})", markup=False)
