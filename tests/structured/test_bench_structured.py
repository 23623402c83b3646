"""The structured benchmark runs and prints its tables (timings are never asserted)."""

from __future__ import annotations

import re

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
    text = bench_structured.ssm_table(True, 1, lengths=(64, 128))
    lines = text.splitlines()
    assert "| L | naive | DPLR | speed-up | DPLR / ((N + L)·log₂ L) | rel. diff |" in text
    first = next(line for line in lines if line.startswith("| 64 |"))
    assert float(first.split("|")[-2]) < 1e-10  # DPLR equals naive
    assert "| 128 | skipped (predicted" in text
