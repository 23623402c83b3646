"""The `rankwise rates` and `rankwise fit` commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.cli._run import one_line_error, run


def test_rates_several_columns_with_a_header(tmp_path: Path) -> None:
    k = np.arange(1, 40.0)
    np.savetxt(tmp_path / "r.csv", np.column_stack([4 / 3**k, 1 / k**10, 1 / k**k]), delimiter=",",
               header="geometric,poly,kk", comments="")
    code, out, err = run("rates", str(tmp_path / "r.csv"), "--json")
    assert code == 0, err
    reps = {r["sequence"]: r for r in json.loads(out)}
    assert (reps["geometric"]["kind"], reps["poly"]["kind"], reps["kk"]["kind"]) == ("linear", "sublinear",
                                                                                     "superlinear")
    assert abs(reps["geometric"]["q"] - 1 / 3) < 1e-9
    code, out, _ = run("rates", str(tmp_path / "r.csv"))
    assert code == 0 and "superlinear" in out and "0.3333" in out and "confidence" in out


def test_rates_single_column_and_npy(tmp_path: Path) -> None:
    np.savetxt(tmp_path / "one.txt", 0.707 ** (2 ** np.arange(1, 10.0)))
    code, out, _ = run("rates", str(tmp_path / "one.txt"), "--json")
    assert code == 0 and json.loads(out)[0]["kind"] == "quadratic"
    np.save(tmp_path / "h.npy", 0.5 ** np.arange(30.0))
    code, out, _ = run("rates", str(tmp_path / "h.npy"), "--json")
    assert code == 0 and json.loads(out)[0]["kind"] == "linear" and json.loads(out)[0]["sequence"] == "column 0"
    code, _, err = run("rates", str(tmp_path / "h.npy"), "--start", "0")
    assert "analyze: 'start' must be an int in [1, inf); got 0" in one_line_error(code, err)


def _data(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.1 * rng.standard_normal(200)
    lin = tmp_path / "lin.csv"
    np.savetxt(lin, np.column_stack([X, y]), delimiter=",", header="a,b,c,y", comments="")
    lab = (rng.uniform(size=200) < 1 / (1 + np.exp(-(X @ np.array([2.0, -1.0, 0.0]))))).astype(float)
    log = tmp_path / "log.csv"
    np.savetxt(log, np.column_stack([X, lab]), delimiter=",", header="a,b,c,label", comments="")
    return lin, log, X


def test_fit_linear_methods_reach_the_closed_form(tmp_path: Path) -> None:
    lin, _, _ = _data(tmp_path)
    code, out, err = run("fit", str(lin), "--target", "y", "--method", "closed-form")
    assert code == 0, err
    assert "R²" in out and "weight intercept" in out
    for method in ("gd", "nesterov", "momentum"):
        code, out, err = run("fit", str(lin), "--target", "y", "--method", method)
        assert code == 0, err
        assert "converged" in out and "rate of ‖w_k − w*‖: linear" in out, out
    png = tmp_path / "curve.png"
    code, out, err = run("fit", str(lin), "-t", "y", "-m", "minibatch", "--batch", "20", "--lr", "0.05",
                         "--max-iter", "300", "--plot", str(png), "--seed", "3")
    assert code == 0, err
    assert "iter    270" in out and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fit_logistic_newton_is_quadratic(tmp_path: Path) -> None:
    _, log, _ = _data(tmp_path)
    code, out, err = run("fit", str(log), "--target", "label", "--model", "logistic", "--method", "newton")
    assert code == 0, err
    assert "accuracy" in out and "rate of ‖∇L(w_k)‖: quadratic" in out


def test_fit_and_rates_errors(tmp_path: Path) -> None:
    lin, log, _ = _data(tmp_path)
    (tmp_path / "empty.csv").write_text("a,b,y\n")
    (tmp_path / "ragged.csv").write_text("a,y\n1,2\n3\n")
    cases = [
        (("fit", str(lin), "--target", "z"), "--target 'z' is not a column; columns: a, b, c, y"),
        (("fit", str(lin), "--target", "y", "--lr", "0"), "minimize: 'lr' must be a number in (0, inf]; got 0.0"),
        (("fit", str(lin), "--target", "y", "--lr", "-1"), "'lr' must be a number in (0, inf]"),
        (("fit", str(lin), "--target", "y", "--method", "bfgs"), "unknown --method 'bfgs'"),
        (("fit", str(log), "--target", "label", "--model", "logistic", "--method", "closed-form"),
         "closed-form is only for --model linear"),
        (("fit", str(lin), "--target", "y", "--model", "logistic"), "'y' must hold labels 0 or 1"),
        (("fit", str(tmp_path / "empty.csv"), "--target", "y"), "has a header (line 1) but no data rows"),
        (("fit", str(lin), "--target", "y", "--plot", str(lin)), "is an input; refusing to write over it"),
        (("rates", str(tmp_path / "missing.csv")), "no such file"),
        (("rates", str(tmp_path / "ragged.csv")), "line 3 has 1 cell; expected 2 (as on line 1)"),
        (("rates", str(tmp_path / "empty.csv")), "has a header (line 1) but no data rows"),
    ]
    for args, msg in cases:
        code, _, err = run(*args)
        assert msg in one_line_error(code, err), (args, err)
    assert lin.read_text().startswith("a,b,c,y")  # the input is intact
