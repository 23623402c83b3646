"""The benchmark harness itself: one smoke run through real processes, and the table format."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.harness import Case, Row, run_module, table


def test_table_format() -> None:
    case = Case("c", (10, 8), "exp", 2)
    text = table(case, [Row("rankwise", 0.5, 1.0), Row("peer", 1.5, 1.02), Row("broken", 0.0, None, "failed: x")])
    assert "| tool | median time | error / optimum | speed ratio |" in text
    assert "| peer | 1.500 s | 1.0200 | 3.00× |" in text
    assert "| broken | — | — | failed: x |" in text


def test_quick_run_of_the_svd_benchmark() -> None:
    (text,) = run_module("benchmarks.bench_svd", quick=True, repeats=1, tools=["rankwise", "numpy.linalg.svd"])
    assert "| rankwise |" in text and "| 1.0000 |" in text


def test_bench_dask_matrices_have_the_stated_spectrum(tmp_path: Path) -> None:
    from benchmarks.bench_dask import RANK_SIGNAL, write_matrix

    s = write_matrix(tmp_path / "a.npy", 900, 500, "float64", block=128)  # several row blocks
    got = np.linalg.svd(np.load(tmp_path / "a.npy"), compute_uv=False)
    assert s.size == 500 and np.count_nonzero(s) == RANK_SIGNAL
    np.testing.assert_allclose(got, s, atol=1e-13)


def test_bench_cli_times_every_command() -> None:
    from benchmarks.bench_cli import commands
    from rankwise.cli import app

    names = {c.name or c.callback.__name__ for c in app.registered_commands if c.callback} | {
        g.name for g in app.registered_groups}
    timed = {args[0] for _, args in commands({k: "x" for k in ("base", "tuned", "csv", "errors", "out")}, False)}
    assert names - timed == {"grad"}  # grad is symbolic, milliseconds
