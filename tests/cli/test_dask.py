"""`rankwise approx --engine dask --chunks N [--scheduler ADDRESS]` on .npy and Zarr inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rankwise import engine, rsvd
from rankwise.random import low_rank_matrix
from tests.cli._run import run

pytest.importorskip("dask.array")


@pytest.fixture(scope="module")
def npy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    A, s = low_rank_matrix(700, 150, 0.85 ** np.arange(150), rng=2)
    path = tmp_path_factory.mktemp("dask") / "a.npy"
    np.save(path, A)
    return path, A, s


def test_engine_dask_rsvd_equals_in_memory(npy: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path) -> None:
    path, A, s = npy
    out = tmp_path / "f.npz"
    code, stdout, err = run("approx", str(path), "--engine", "dask", "--chunks", "128", "-m", "rsvd", "-k", "12",
                            "--seed", "4", "--json", "-o", str(out))
    assert code == 0, err
    (rep,) = json.loads(stdout)
    assert rep["options"]["input"] == "dask" and rep["options"]["file_reads"] == 3
    ref = rsvd(A, 12, rng=4)
    with np.load(out) as f:
        np.testing.assert_allclose(f["S"], ref.S, rtol=1e-10)
    assert rep["fro_error"] == pytest.approx(np.sqrt(np.sum(s[12:] ** 2)), rel=1e-3)


@pytest.mark.parametrize("method", ["id", "cur", "auto"])
def test_engine_dask_other_methods(npy: tuple[Path, np.ndarray, np.ndarray], method: str) -> None:
    path, A, s = npy
    code, stdout, err = run("approx", str(path), "--engine", "dask", "--chunks", "200", "-m", method, "-k", "10",
                            "--json")
    assert code == 0, err
    (rep,) = json.loads(stdout)
    assert rep["rank"] == 10 and rep["shape"] == [700, 150]
    assert rep["fro_error"] <= (1.01 if method == "auto" else 3.0) * np.sqrt(np.sum(s[10:] ** 2))


def test_passes_one_and_zarr(npy: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path) -> None:
    zarr = pytest.importorskip("zarr")
    path, A, s = npy
    z = zarr.create_array(str(tmp_path / "a.zarr"), shape=A.shape, chunks=(100, 150), dtype="f8")
    z[:] = A
    for src, extra in ((path, ["--engine", "dask"]), (tmp_path / "a.zarr", [])):  # Zarr goes to Dask by itself
        code, stdout, err = run("approx", str(src), *extra, "--passes", "1", "-k", "5", "--json")
        assert code == 0, err
        (rep,) = json.loads(stdout)
        assert rep["method"] == "rsvd-1pass" and rep["options"]["rows_updated"] == 700
        assert rep["fro_error"] <= 1.5 * np.sqrt(np.sum(s[5:] ** 2))
    code, stdout, err = run("approx", str(tmp_path / "a.zarr"), "-m", "rsvd", "-k", "5", "--json")
    assert code == 0 and json.loads(stdout)[0]["options"]["input"] == "dask", err


def test_engine_auto_uses_dask_above_the_threshold(npy: tuple[Path, np.ndarray, np.ndarray],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path, _, _ = npy
    monkeypatch.setattr(engine, "DASK_BYTES", 1000)
    code, stdout, err = run("approx", str(path), "-m", "rsvd", "-k", "5", "--json")
    assert code == 0 and json.loads(stdout)[0]["options"]["input"] == "dask", err
    code, stdout, err = run("approx", str(path), "--engine", "local", "-m", "rsvd", "-k", "5", "--json")
    assert code == 0 and "input" not in json.loads(stdout)[0]["options"], err


@pytest.mark.slow
def test_scheduler_address(npy: tuple[Path, np.ndarray, np.ndarray]) -> None:
    distributed = pytest.importorskip("distributed")
    path, A, _ = npy
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0", silence_logs=50) as lc:
        code, stdout, err = run("approx", str(path), "--scheduler", lc.scheduler_address, "-m", "rsvd", "-k", "6",
                                "--json", "--seed", "1")
    assert code == 0, err
    (rep,) = json.loads(stdout)
    assert rep["options"]["input"] == "dask"
    assert rep["fro_error"] == pytest.approx(rsvd(A, 6, rng=1, report=True)[1].fro_error, rel=1e-8)


@pytest.mark.parametrize(("args", "message"), [
    (["--engine", "spark"], "--engine must be one of auto, local, dask; got 'spark'"),
    (["--engine", "dask", "-m", "svd"], "--engine dask runs --method rsvd, auto, id, cur; got 'svd'"),
    (["--engine", "dask", "--chunks", "0", "-m", "rsvd"], "'--chunks' must be"),
])
def test_errors_are_one_line(npy: tuple[Path, np.ndarray, np.ndarray], args: list[str], message: str) -> None:
    path, _, _ = npy
    code, stdout, err = run("approx", str(path), "-k", "3", *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_engine_dask_needs_an_input_and_zarr_needs_dask(tmp_path: Path) -> None:
    code, _, err = run("approx", "--engine", "dask", "-m", "rsvd", "-k", "3")
    assert code == 2 and "--engine dask needs an INPUT" in err
    (tmp_path / "z.zarr").mkdir()
    code, _, err = run("approx", str(tmp_path / "z.zarr"), "--engine", "local", "-m", "rsvd", "-k", "3")
    assert code == 2 and "a Zarr directory is read through Dask" in err
    code, _, err = run("approx", str(tmp_path / "z.zarr"), "-m", "rsvd", "-k", "3")
    assert code == 2 and "Zarr" in err and len(err.strip().splitlines()) == 1
