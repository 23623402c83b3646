"""`rankwise lr-scaling`: the table fits 80 columns, the plot is never overwritten silently, one-line failures."""

from __future__ import annotations

from pathlib import Path

from tests.cli._run import run as cli_run

SMALL = ["lr-scaling", "--draws", "200", "--dim", "4", "--samples", "500", "--batch-sizes", "1,16,256",
         "--eps", "0.1"]


def run(*args: str) -> tuple[int, str, str]:
    return cli_run(*args, env={"COLUMNS": "80"})


def test_table_fits_80_columns() -> None:
    code, out, err = run(*SMALL, "--seed", "3")
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80
    for text in ("linreg", "quadratic", "η* calc", "adam ε=0.1σ", "B_noise = ", "max |z|", "seed=3"):
        assert text in out, text


def test_horizon_table_fits_80_columns() -> None:
    code, out, err = run(*SMALL, "--horizon", "5", "--seed", "2")
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80
    for text in ("best constant η for T = 5 steps", "η*₁ calc", "η*_5 sim", "ratio", "adam ε=0.1σ"):
        assert text in out, text
    code, _, err = run(*SMALL, "--horizon", "0")
    assert code == 2
    assert err.strip() == "rankwise: error: lr_scaling_experiment: 'horizon' must be an int in [1, inf); got 0"
    code, out, _ = run(*SMALL)
    assert "best constant η" not in out  # off by default


def test_plot_is_not_overwritten_without_force(tmp_path: Path) -> None:
    png = tmp_path / "eta.png"
    png.write_bytes(b"keep me")
    code, out, err = run(*SMALL, "--plot", str(png))
    assert code == 2 and out == ""
    assert err.strip() == f"rankwise: error: {png}: already exists (a file); pass --force to replace it"
    assert png.read_bytes() == b"keep me"
    code, out, err = run(*SMALL, "--plot", str(png), "--force")
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"plot written to {png}" in " ".join(out.split())
    assert not list(tmp_path.glob(".*.tmp"))


def test_plot_needs_a_png_path(tmp_path: Path) -> None:
    code, _, err = run(*SMALL, "--plot", str(tmp_path / "eta.jpg"))
    assert code == 2 and "output must end in .png" in err and len(err.strip().splitlines()) == 1


def test_malformed_arguments_are_one_line() -> None:
    code, out, err = run("lr-scaling", "--batch-sizes", "1,x,16")
    assert code == 2 and out == ""
    assert err.strip() == ("rankwise: error: --batch-sizes: 'x' is not a number; expected comma-separated numbers "
                           "such as 1,4,16")
    code, _, err = run("lr-scaling", "--batch-sizes", "4,-1", "--draws", "10")
    assert code == 2
    assert err.strip() == ("rankwise: error: lr_scaling_experiment: 'batch_sizes' must be positive and finite; "
                           "got -1.0 at index 1")
    code, _, err = run("lr-scaling", "--eps", "-0.5", "--draws", "10")
    assert code == 2 and "'eps_rel' must be a number in [0, inf]; got -0.5" in err


def test_help() -> None:
    code, out, _ = run("lr-scaling", "--help")
    assert code == 0 and "--batch-sizes" in out and "--force" in out and "--horizon" in out
