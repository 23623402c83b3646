"""The convergence figure and the optimiser benchmark's table."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.bench_optim import TOOLS, table
from rankwise.plot import convergence_figure, save_figure
from rankwise.rates import analyze


def test_convergence_figure_overlays_runs_and_fits(tmp_path: Path) -> None:
    k = np.arange(200.0)
    runs = {"gd": 0.9**k, "sgd": 1 / (k + 1), "floor": np.maximum(0.5**k, 1e-16)}
    fig = convergence_figure(runs, ylabel="‖x_k − x*‖")
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[0].startswith("gd: linear, q = 0.9") and "gd: fit q = 0.9" in labels
    assert any(lab.startswith("sgd: fit k^-1") for lab in labels)
    fit = next(line for line in ax.get_lines() if line.get_label() == "gd: fit q = 0.9")
    x, y = fit.get_data()
    np.testing.assert_allclose(y, 0.9 ** np.asarray(x), rtol=1e-9)  # the fitted C q^k lies on the exact curve
    rep = analyze(runs["gd"])
    fig2 = convergence_figure([runs["gd"]], reports={"run 0": rep})
    assert len(fig2.axes[0].get_lines()) == 2
    out = save_figure(fig, tmp_path / "c.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_benchmark_table_format() -> None:
    rows = [(TOOLS[0], {"seconds": 0.002}), (TOOLS[1], {"seconds": 0.001}), (TOOLS[-1], {"failed": "x"})]
    text = table("adam", 10**6, rows)
    assert "| tool | median time per step | steps/s | speed ratio |" in text
    assert "| rankwise step_inplace (numpy) | 2.000 ms | 500 | 1.00× |" in text
    assert "| rankwise step_inplace (torch tensors) | 1.000 ms | 1,000 | 0.50× |" in text
    assert "| torch.optim (foreach) | — | — | failed: x |" in text


def test_long_curves_are_thinned_not_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from rankwise.plot import MAX_POINTS, _thin, convergence_figure, save_figure, spectrum_figure

    k = np.arange(5_000_000, dtype=np.float64)
    x, y = _thin(k, 0.999999 ** k)
    assert x.size <= MAX_POINTS and x[0] == 0 and x[-1] == k[-1] and np.all(np.diff(x) > 0)
    np.testing.assert_array_equal(y, 0.999999 ** x)
    fig = convergence_figure({"long": 1.0 / (1.0 + k)})
    assert max(line.get_xdata().size for line in fig.axes[0].get_lines()) <= MAX_POINTS
    save_figure(fig, tmp_path / "c.png")
    save_figure(spectrum_figure(np.sort(np.random.default_rng(0).random(3_000_000))[::-1], 10), tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 0
