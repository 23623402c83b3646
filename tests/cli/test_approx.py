"""`rankwise approx`: formats, outputs, the report, and one-line failures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse

from tests.cli._run import one_line_error, run
from tests.helpers import matrix


def test_default_run_prints_the_table() -> None:
    code, out, _ = run("approx")
    assert code == 0, out
    assert "1000×800" in out and "seed=0" in out and "rank" in out


def test_default_json_is_exact() -> None:
    code, out, _ = run("approx", "--rank", "10", "--json")
    assert code == 0
    (rep,) = json.loads(out)
    s = 0.9 ** np.arange(800)
    assert rep["rank"] == 10 and rep["fro_ratio"] == pytest.approx(1.0)
    assert rep["spectral_error"] == pytest.approx(s[10], rel=1e-8)
    assert rep["storage_after"] == 10 * 1801


def test_npy_with_output_and_plot(tmp_path: Path) -> None:
    A, s = matrix(60, 40, "exp")
    src = tmp_path / "a.npy"
    np.save(src, A)
    out = tmp_path / "f.npz"
    png = tmp_path / "p.png"
    code, stdout, err = run("approx", str(src), "--energy", "0.99", "-o", str(out), "--plot", str(png))
    assert code == 0, err
    with np.load(out) as z:
        U, S, Vh = z["U"], z["S"], z["Vh"]
    k = S.size
    assert np.sum(s[:k] ** 2) >= 0.99 * np.sum(s**2) > np.sum(s[: k - 1] ** 2)
    np.testing.assert_allclose(np.linalg.norm(A - (U * S) @ Vh), np.sqrt(np.sum(s[k:] ** 2)), rtol=1e-8)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left behind


def test_formats(tmp_path: Path) -> None:
    A, _ = matrix(30, 20, "poly")
    np.savetxt(tmp_path / "a.csv", A, delimiter=",", header="c" + ",c" * 19, comments="")
    np.savetxt(tmp_path / "a.txt", A)
    np.savez(tmp_path / "a.npz", first=A, second=A[:10])
    scipy.io.mmwrite(tmp_path / "a.mtx", scipy.sparse.random(30, 20, density=0.3, random_state=1))
    for f in ("a.csv", "a.txt", "a.mtx"):
        code, out, err = run("approx", str(tmp_path / f), "--rank", "3", "--json")
        assert code == 0, err
        assert json.loads(out)[0]["shape"] == [30, 20]
    code, out, _ = run("approx", str(tmp_path / "a.npz"), "--key", "second", "--rank", "2", "--json")
    assert code == 0 and json.loads(out)[0]["shape"] == [10, 20]
    code, out, _ = run("approx", str(tmp_path / "a.npz"), "--all", "--rank", "2", "--json")
    assert [r["name"] for r in json.loads(out)] == ["first", "second"]


def test_safetensors_all_and_output(tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    A, _ = matrix(16, 12, dtype=np.float32)
    save_file({"w1": A, "w2": A.T.copy(), "bias": np.ones(4, np.float32)}, str(tmp_path / "m.safetensors"))
    out = tmp_path / "f.safetensors"
    code, stdout, err = run("approx", str(tmp_path / "m.safetensors"), "--all", "--rank", "3",
                            "-o", str(out), "--json")
    assert code == 0, err
    names = [r["name"] for r in json.loads(stdout)]
    assert names == ["w1", "w2"]  # the 1-D bias is skipped
    f = load_file(str(out))
    assert set(f) == {"w1.U", "w1.S", "w1.Vh", "w2.U", "w2.S", "w2.Vh"} and f["w1.U"].dtype == np.float32


def test_mixed_precision_option() -> None:
    code, out, _ = run("approx", "--method", "rsvd", "--rank", "10", "--precision", "mixed", "--json")
    assert code == 0, out
    (rep,) = json.loads(out)
    assert rep["options"]["precision"] == "mixed" and rep["fro_ratio"] == pytest.approx(1.0, abs=1e-6)
    code, out, _ = run("approx", "--method", "auto", "--rank", "10", "--precision", "mixed", "--json")
    assert code == 0 and json.loads(out)[0]["method"] == "svd"  # small: exact, in A's precision
    for args, msg in ((("--method", "svd", "--precision", "mixed"), "--precision mixed works with --method rsvd"),
                      (("--method", "rsvd", "--precision", "half"), "unknown --precision 'half'; valid: full, mixed")):
        code, _, err = run("approx", *args)
        assert msg in one_line_error(code, err)


def test_failures_are_one_line_with_status_2(tmp_path: Path) -> None:
    A, _ = matrix(10, 8)
    np.save(tmp_path / "a.npy", A)
    np.save(tmp_path / "v.npy", np.ones(5))
    (tmp_path / "bad.npy").write_bytes(b"not a numpy file at all")
    (tmp_path / "bad.safetensors").write_bytes(b"\x00\x01garbage")
    np.savez(tmp_path / "two.npz", a=A, b=A)
    cases = [
        (("approx", str(tmp_path / "missing.npy")), "no such file"),
        (("approx", str(tmp_path / "bad.npy")), "is not a .npy file (it does not start with NumPy's magic string"),
        (("approx", str(tmp_path / "bad.safetensors")), "not a readable safetensors file"),
        (("approx", str(tmp_path / "two.npz"), "--key", "zzz"), "no array named 'zzz'; it holds: a, b"),
        (("approx", str(tmp_path / "two.npz")), "choose one with --key"),
        (("approx", str(tmp_path / "v.npy")), "must be 2-D; got a 1-D array of shape (5,)"),
        (("approx", str(tmp_path / "a.npy"), "-o", str(tmp_path / "a.npy")), "is an input; refusing to write over it"),
        (("approx", str(tmp_path / "a.npy"), "-o", str(tmp_path / "f.txt")), "must end in .npz or .safetensors"),
        (("approx", str(tmp_path / "a.npy"), "--rank", "9"), "'rank' must be an int in [1, min(m, n)] = [1, 8]"),
        (("approx", str(tmp_path / "a.npy"), "--rank", "2", "--tol", "0.1"), "give at most one of"),
        (("approx", "--method", "nope"), "unknown method 'nope'"),
        (("approx", str(tmp_path)), "is a directory"),
    ]
    for args, msg in cases:
        code, _, err = run(*args)
        assert msg in one_line_error(code, err), (args, err)
    assert np.load(tmp_path / "a.npy").shape == (10, 8)  # the input is intact


def test_nan_in_file(tmp_path: Path) -> None:
    A = np.ones((4, 4))
    A[1, 2] = np.nan
    np.save(tmp_path / "n.npy", A)
    code, _, err = run("approx", str(tmp_path / "n.npy"))
    assert "1 NaN" in one_line_error(code, err)


def test_auto_checks_precision_before_taking_the_exact_path() -> None:
    import rankwise

    A = np.random.default_rng(0).standard_normal((50, 40))
    assert rankwise.approximate(A, method="auto", rank=5, precision="mixed").report.method == "svd"
    with pytest.raises(ValueError, match=r"^approximate: unknown precision 'half'; valid: full, mixed$"):
        rankwise.approximate(A, method="auto", rank=5, precision="half")


def test_verbose_prints_the_plan_on_stderr_and_leaves_json_alone() -> None:
    code, out, err = run("approx", "--rank", "12", "--method", "rsvd", "--json", "--verbose")
    assert code == 0, err
    (rep,) = json.loads(out)  # stdout is still only the report
    assert rep["rank"] == 12 and rep["options"]["block"] == 22
    assert "rsvd plan" in err and "block-krylov" in err and "block        22" in err
    code, out, err = run("approx", "--method", "id", "-v")
    assert code == 0 and "interp_decomp plan" in err and "tol 0.01" in err
    code, _, err = run("approx", "--rank", "5", "-v")
    assert code == 0 and "svd plan" in err and "rank 5" in err


def test_describe_follows_auto_and_validates_like_approximate() -> None:
    from rankwise.approx import describe

    small, big = np.ones((100, 80)), np.ones((2000, 1000))
    assert describe(small, method="auto", rank=3).startswith("svd plan")
    assert describe(big, method="auto", energy=0.99).startswith("rsvd plan")
    assert "tol 0.1 " in describe(big, method="rsvd", energy=0.99)
    with pytest.raises(ValueError, match="at most one of"):
        describe(big, method="rsvd", rank=3, tol=0.1)
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        describe(big, method="nope", rank=3)
