"""`rankwise approx --method rsvd|auto`, `--passes 1` and the out-of-core path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rankwise import engine
from rankwise.random import decay, low_rank_matrix
from tests.cli._run import run


@pytest.mark.parametrize("method", ["rsvd", "auto"])
def test_methods_on_the_default_matrix(method: str) -> None:
    code, out, err = run("approx", "--method", method, "--tol", "0.01", "--json")
    assert code == 0, err
    (rep,) = json.loads(out)
    assert rep["rank"] == 44 and rep["rel_fro_error"] <= 0.01  # the optimal rank for 0.9^i at 1%
    assert rep["fro_ratio"] == pytest.approx(1.0, abs=1e-3)
    assert rep["method"] == ("rsvd" if method == "rsvd" else "svd")  # auto: 800 000 entries is small


def test_rsvd_rank_report_lists_the_choices() -> None:
    code, out, _ = run("approx", "--method", "rsvd", "--rank", "20", "--json", "--seed", "3")
    (rep,) = json.loads(out)
    assert code == 0 and rep["options"]["scheme"] == "block-krylov" and rep["options"]["passes"] == 5
    assert rep["seed"] == 3 and rep["fro_ratio"] < 1.001


def test_passes_one_streams_a_npy_file(tmp_path: Path) -> None:
    A, s = low_rank_matrix(600, 200, decay("exp", 200, rate=0.8), rng=0)
    np.save(tmp_path / "a.npy", A)
    out = tmp_path / "f.npz"
    code, stdout, err = run("approx", str(tmp_path / "a.npy"), "--passes", "1", "--rank", "5", "-o", str(out),
                            "--json")
    assert code == 0, err
    (rep,) = json.loads(stdout)
    assert rep["method"] == "rsvd-1pass" and rep["exact"] is False and rep["options"]["passes"] == 1
    with np.load(out) as z:
        U, S, Vh = z["U"], z["S"], z["Vh"]
    assert np.linalg.norm(A - (U * S) @ Vh) <= 1.5 * np.sqrt(np.sum(s[5:] ** 2))


@pytest.mark.parametrize(("args", "msg"), [
    (("--passes", "1"), "--passes 1 needs --rank"),
    (("--passes", "2", "--rank", "3"), "--passes must be 1"),
])
def test_passes_errors(tmp_path: Path, args: tuple, msg: str) -> None:
    np.save(tmp_path / "a.npy", np.ones((5, 4)))
    code, _, err = run("approx", str(tmp_path / "a.npy"), *args)
    assert code == 2 and msg in err


def test_large_npy_goes_out_of_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    A, s = low_rank_matrix(500, 100, decay("exp", 100, rate=0.8), rng=0)
    np.save(tmp_path / "big.npy", A)
    monkeypatch.setattr(engine, "OUT_OF_CORE_BYTES", 1000)
    code, out, err = run("approx", str(tmp_path / "big.npy"), "--method", "rsvd", "--rank", "10", "--json")
    assert code == 0, err
    (rep,) = json.loads(out)
    assert rep["options"]["file_reads"] == 3
    assert rep["fro_error"] == pytest.approx(np.sqrt(np.sum(s[10:] ** 2)), rel=1e-3)


def test_sparse_mtx_with_rsvd(tmp_path: Path) -> None:
    import scipy.io
    import scipy.sparse

    M = scipy.sparse.random(300, 200, density=0.05, random_state=0)
    scipy.io.mmwrite(tmp_path / "s.mtx", M)
    code, out, err = run("approx", str(tmp_path / "s.mtx"), "--method", "rsvd", "--rank", "5", "--json")
    assert code == 0, err
    (rep,) = json.loads(out)
    assert rep["options"]["sketch"] == "gaussian" and rep["fro_ratio"] < 1.05
