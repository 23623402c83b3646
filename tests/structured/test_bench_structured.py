"""The structured benchmark runs and prints its tables (timings are never asserted)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("torch")

from benchmarks import bench_structured


def test_monarch_table_format_and_accuracy() -> None:
    text = bench_structured.monarch_table(True, 1, sizes=(64, 144))
    assert "| n | blocks (k, q) | library | dense | Monarch | speed-up | flop ratio | rel. diff |" in text
    rows = [line for line in text.splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(rows) == 4 and {"numpy", "torch"} <= {r.split("|")[3].strip() for r in rows}
    assert "| 64 | (8, 8) | numpy |" in text and "| 4.0× |" in text  # flop ratio √64/2
    assert all(float(r.split("|")[-2]) < 1e-5 for r in rows)  # float32 products agree


def test_ssm_table_skips_long_naive_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_structured, "NAIVE_BUDGET", 0.0)
    text = bench_structured.ssm_table(True, 1, lengths=(64, 128), cases=((16, "numpy"), (16, "torch")))
    lines = text.splitlines()
    assert "| L | N | library | naive | DPLR | speed-up | S4D | DPLR / ((N + L)·log₂ L) | rel. diff |" in text
    for lib in ("numpy", "torch"):
        first = next(line for line in lines if line.startswith(f"| 64 | 16 | {lib} |"))
        assert float(first.split("|")[-2]) < 1e-10  # DPLR equals naive
        assert f"| 128 | 16 | {lib} | skipped (predicted" in text


def test_scaling_table_writes_the_plot(tmp_path: Path) -> None:
    text = bench_structured.scaling_table(True, 1, lengths=(64, 256), path=tmp_path / "s.png")
    assert "| L | naive | DPLR | S4D | DPLR peak memory | S4D peak memory | kernel size |" in text
    assert (tmp_path / "s.png").stat().st_size > 0 and "| 256 |" in text
