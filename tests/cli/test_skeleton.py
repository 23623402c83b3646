"""`rankwise approx --method id|cur` and `rankwise matmul`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg.interpolative as sli

from rankwise.random import decay, low_rank_matrix
from tests.cli._run import run


def test_id_reports_the_columns_and_the_error_against_the_optimum(tmp_path: Path) -> None:
    A, s = low_rank_matrix(300, 200, decay("exp", 200, rate=0.85), rng=0)
    np.save(tmp_path / "a.npy", A)
    out = tmp_path / "f.npz"
    code, stdout, err = run("approx", str(tmp_path / "a.npy"), "--method", "id", "--rank", "15", "-o", str(out),
                            "--json", "--seed", "2")
    assert code == 0, err
    (rep,) = json.loads(stdout)
    assert rep["options"]["columns"] == 15 and rep["options"]["axis"] == "columns" and rep["seed"] == 2
    assert rep["optimal_fro_error"] == pytest.approx(np.sqrt(np.sum(s[15:] ** 2)))
    assert 1.0 <= rep["fro_ratio"] < 3 and rep["options"]["max_abs_Z"] >= 1
    assert rep["storage_after"] == 15 * 300 + 15 * 185
    with np.load(out) as z:  # scipy.linalg.interpolative's idx/proj: rebuild with scipy
        idx, proj = z["idx"], z["proj"]
    approx = sli.reconstruct_skel_matrix(A, 15, idx) @ sli.reconstruct_interp_matrix(idx, proj)
    assert np.linalg.norm(A - approx) == pytest.approx(rep["fro_error"], rel=1e-8)


def test_id_table_and_tolerance_on_the_default_matrix() -> None:
    code, stdout, err = run("approx", "--method", "id", "--tol", "0.01")
    assert code == 0, err
    assert "rankwise approx  (method=id, seed=0)" in stdout and "columns=" in stdout and "id_method=" in stdout
    code, stdout, _ = run("approx", "--method", "id", "--tol", "0.01", "--json")
    (rep,) = json.loads(stdout)
    assert rep["rel_fro_error"] <= 0.01 and rep["rank"] >= 44  # 44 is Eckart–Young's rank for 0.9^i at 1%


def test_cur_saves_its_factors(tmp_path: Path) -> None:
    A, _ = low_rank_matrix(120, 90, decay("exp", 90, rate=0.8), rng=1)
    np.save(tmp_path / "a.npy", A)
    out = tmp_path / "cur.npz"
    code, stdout, err = run("approx", str(tmp_path / "a.npy"), "--method", "cur", "--rank", "10", "-o", str(out),
                            "--json")
    assert code == 0, err
    (rep,) = json.loads(stdout)
    assert rep["options"]["columns"] == 10 and rep["options"]["rows"] == 10 and rep["fro_ratio"] >= 1
    with np.load(out) as z:
        assert np.array_equal(z["C"], A[:, z["col_idx"]]) and np.array_equal(z["R"], A[z["row_idx"], :])
        assert np.linalg.norm(A - z["C"] @ z["U"] @ z["R"]) == pytest.approx(rep["fro_error"], rel=1e-10)


def test_matmul_default_pair() -> None:
    for method in ("optimal", "uniform", "topk"):
        code, stdout, err = run("matmul", "--method", method, "--samples", "300", "--json")
        assert code == 0, err
        row = json.loads(stdout)
        assert row["samples"] == 300 and row["shape_A"] == [500, 2000] and row["method"] == method
        if method == "topk":
            assert row["rel_error"] == pytest.approx(row["expected_rel_error"], rel=1e-8)
        else:  # one draw: within a factor of its RMS
            assert 0.2 * row["expected_rel_error"] < row["rel_error"] < 3 * row["expected_rel_error"]
    code, stdout, _ = run("matmul")
    assert code == 0 and "rankwise matmul  (method=optimal, samples=200 of 2000, seed=0)" in stdout


def test_matmul_files_and_errors(tmp_path: Path) -> None:
    g = np.random.default_rng(0)
    np.save(tmp_path / "a.npy", g.standard_normal((20, 30)))
    np.save(tmp_path / "b.npy", g.standard_normal((30, 10)))
    np.save(tmp_path / "c.npy", g.standard_normal((31, 10)))
    code, stdout, err = run("matmul", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "-c", "30", "-m", "topk",
                            "--json")
    assert code == 0, err
    assert json.loads(stdout)["rel_error"] < 1e-12
    code, _, err = run("matmul", str(tmp_path / "a.npy"), str(tmp_path / "c.npy"), "-c", "5")
    assert code == 2 and "shape (20, 30) and B of shape (31, 10)" in err and len(err.strip().splitlines()) == 1
    code, _, err = run("matmul", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "-c", "31")
    assert code == 2 and "'samples' must be an int in [1, n] = [1, 30]; got 31" in err
    code, _, err = run("matmul", str(tmp_path / "a.npy"))
    assert code == 2 and "give both A and B" in err
