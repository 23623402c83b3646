"""Monarch matrices (SPEC §1.6): products, the dense form, projection and the "monarch" approx method."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import rankwise
from rankwise.approx import METHODS, approximate
from rankwise.cli import app
from rankwise.structured import Monarch, monarch_project
from tests.helpers import matrix


def random_monarch(m: int, n: int, k: int, q: int, r: int = 1, *, seed: int = 0, dtype: object = np.float64) -> Monarch:
    g = np.random.default_rng(seed)
    L = g.standard_normal((q, m // q, k * r))
    R = g.standard_normal((k, q * r, n // k))
    if np.dtype(dtype).kind == "c":
        L = L + 1j * g.standard_normal(L.shape)
        R = R + 1j * g.standard_normal(R.shape)
    return Monarch(L.astype(dtype), R.astype(dtype))


def dft(n: int) -> np.ndarray:
    return np.exp(-2j * np.pi * np.outer(np.arange(n), np.arange(n)) / n)


SHAPES = [(16, 16, 4, 4, 1), (12, 20, 4, 3, 1), (24, 36, 6, 4, 2), (6, 10, 1, 6, 1), (9, 9, 9, 3, 1)]


@pytest.mark.parametrize(("m", "n", "k", "q", "r"), SHAPES)
def test_dense_form_is_P2_L_P1_R(m: int, n: int, k: int, q: int, r: int) -> None:
    M = random_monarch(m, n, k, q, r)
    p1, p2 = M.permutations
    Ld = scipy.linalg.block_diag(*M.L)
    Rd = scipy.linalg.block_diag(*M.R)
    P1 = np.eye(k * q * r)[p1]
    P2 = np.eye(m)[p2]
    np.testing.assert_allclose(M.to_dense(), P2 @ Ld @ P1 @ Rd, rtol=1e-13, atol=1e-13)
    assert M.shape == (m, n) and M.blocks == (k, q) and M.rank == r
    assert M.n_params == M.L.size + M.R.size == r * (q * n + k * m)


@pytest.mark.parametrize(("m", "n", "k", "q", "r"), SHAPES)
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_product_equals_dense_product(m: int, n: int, k: int, q: int, r: int, dtype: type) -> None:
    M = random_monarch(m, n, k, q, r, dtype=dtype)
    g = np.random.default_rng(1)
    x, X = g.standard_normal(n), g.standard_normal((n, 7))
    D = M.to_dense()
    np.testing.assert_allclose(M @ x, D @ x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(M @ X, D @ X, rtol=1e-12, atol=1e-12)
    assert (M @ x).shape == (m,) and (M @ X).shape == (m, 7)


def test_square_monarch_has_2_n_to_the_3_halves_parameters() -> None:
    M = random_monarch(64, 64, 8, 8)
    assert M.n_params == 2 * 64**1.5


def test_float32_and_torch_products() -> None:
    torch = pytest.importorskip("torch")
    M64 = random_monarch(36, 48, 6, 6, 2)
    X = np.random.default_rng(2).standard_normal((48, 5))
    ref = M64.to_dense() @ X
    M32 = Monarch(M64.L.astype(np.float32), M64.R.astype(np.float32))
    out32 = M32 @ X.astype(np.float32)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    Mt = Monarch(torch.from_numpy(M64.L), torch.from_numpy(M64.R))
    out = Mt @ torch.from_numpy(X)
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(Mt.to_dense().numpy(), M64.to_dense(), rtol=1e-14)


@settings(max_examples=25, deadline=None)
@given(k=st.integers(1, 5), q=st.integers(1, 5), p=st.integers(1, 5), s=st.integers(1, 5), data=st.data())
def test_projecting_a_monarch_matrix_returns_it(k: int, q: int, p: int, s: int, data: st.DataObject) -> None:
    r = data.draw(st.integers(1, min(s, p)))
    M = random_monarch(q * s, k * p, k, q, r, seed=data.draw(st.integers(0, 1000)))
    P = monarch_project(M.to_dense(), (k, q), rank=r)
    np.testing.assert_allclose(P.to_dense(), M.to_dense(), rtol=1e-10, atol=1e-10 * np.abs(M.to_dense()).max())
    assert P.blocks == (k, q) and P.rank == r


@pytest.mark.parametrize(("n", "k"), [(16, 4), (64, 8), (12, 3), (12, 4), (20, 5)])
def test_dft_with_column_permutation_is_exactly_monarch(n: int, k: int) -> None:
    # F[i, j1 + k·j2] = ω^{(u q + t)(j1 + k j2)} with q = p = n/k: the slice (t, j1) is rank one
    p = n // k
    perm = np.array([j1 + k * j2 for j1 in range(k) for j2 in range(p)])
    F = dft(n)[:, perm]
    M = monarch_project(F, (k, p))
    np.testing.assert_allclose(M.to_dense(), F, atol=1e-12 * n)
    assert M.n_params == n * (k + p)


def test_dft_without_the_permutation_is_not_monarch() -> None:
    F = dft(16)
    err = np.linalg.norm(monarch_project(F, 4).to_dense() - F)
    assert err > 0.1 * np.linalg.norm(F)


@pytest.mark.parametrize("seed", range(5))
def test_projection_is_optimal(seed: int) -> None:
    g = np.random.default_rng(seed)
    A = g.standard_normal((24, 30))
    P = monarch_project(A, (6, 4))
    best = np.linalg.norm(A - P.to_dense())
    # never above a random Monarch's error, nor above small perturbations of the projection
    for j in range(5):
        assert best <= np.linalg.norm(A - random_monarch(24, 30, 6, 4, seed=100 * seed + j).to_dense())
        L = P.L + 1e-3 * g.standard_normal(P.L.shape)
        R = P.R + 1e-3 * g.standard_normal(P.R.shape)
        assert best <= np.linalg.norm(A - Monarch(L, R).to_dense())
    # and it equals the discarded slice energy Σ_{t, j1} Σ_{i>1} σ_i²
    slices = A.reshape(6, 4, 6, 5).transpose(1, 2, 0, 3)
    s = np.linalg.svd(slices, compute_uv=False)
    np.testing.assert_allclose(best, np.sqrt(np.sum(s[..., 1:] ** 2)), rtol=1e-12)


def test_block_rank_error_decreases_to_zero() -> None:
    A = np.random.default_rng(3).standard_normal((20, 30))
    errs = [np.linalg.norm(A - monarch_project(A, (5, 4), rank=r).to_dense()) for r in range(1, 6)]
    assert all(a > b for a, b in itertools.pairwise(errs))
    assert errs[-1] < 1e-12 * np.linalg.norm(A)  # r = min(s, p) = 5 is any matrix


def test_automatic_blocks() -> None:
    assert monarch_project(np.ones((64, 64))).blocks == (8, 8)
    assert monarch_project(np.ones((1000, 800))).blocks == (25, 25)
    assert monarch_project(np.ones((7, 13))).blocks == (1, 1)  # primes: one block


def test_monarch_is_frozen_and_validated() -> None:
    M = random_monarch(16, 16, 4, 4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        M.L = M.R  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"^Monarch: 'L' of shape \(q, s, k·r\) and 'R' .* must agree"):
        Monarch(np.ones((4, 4, 4)), np.ones((4, 8, 4)))
    with pytest.raises(ValueError, match=r"^Monarch: 'L' must be a 3-D array; got a 2-D"):
        Monarch(np.ones((4, 4)), np.ones((4, 4, 4)))
    with pytest.raises(TypeError, match="must have the same dtype"):
        Monarch(np.ones((4, 4, 4)), np.ones((4, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"^Monarch.__matmul__: 'x' must have 16 rows"):
        M @ np.ones(15)
    with pytest.raises(ValueError, match=r"'x' must be a 1-D or 2-D array; got a 3-D"):
        M @ np.ones((16, 2, 2))


def test_projection_arguments_are_validated() -> None:
    A = np.ones((12, 20))
    with pytest.raises(ValueError, match=r"^monarch_project: 'blocks' must divide the shape.*\(k, q\) = \(3, 5\)"):
        monarch_project(A, (3, 5))
    with pytest.raises(ValueError, match=r"^monarch_project: 'blocks' must be an int in \[1, n\] = \[1, 20\]; got 0"):
        monarch_project(A, (0, 3))
    with pytest.raises(ValueError, match=r"'rank' must be an int in \[1, min\(s, p\)\] = \[1, 4\]; got 5"):
        monarch_project(A, (4, 3), rank=5)
    with pytest.raises(ValueError, match="'blocks' must be an int or a pair"):
        monarch_project(A, (1, 2, 3))


def test_approx_method_report() -> None:
    A, s = matrix(48, 36, "poly")
    ap = approximate(A, method="monarch", rank=1, spectrum=s)
    M, rep = ap.factors, ap.report
    assert isinstance(M, Monarch) and M.blocks == (6, 6)
    assert rep.method == "monarch" and rep.storage_after == M.n_params == 36 * 6 + 48 * 6
    np.testing.assert_allclose(rep.fro_error, np.linalg.norm(A - M.to_dense()), rtol=1e-10)
    assert rep.rank == M.n_params // (48 + 36 + 1)  # the SVD rank of equal storage
    assert rep.optimal_fro_error == pytest.approx(np.sqrt(np.sum(s[rep.rank:] ** 2)))
    assert dict(rep.options) == {"blocks_R": 6, "blocks_L": 6, "block_rank": 1}


def test_approx_method_targets() -> None:
    A = np.random.default_rng(4).standard_normal((30, 40))
    for tol in (0.9, 0.5, 0.2):
        rep = approximate(A, method="monarch", tol=tol, blocks=(5, 5)).report
        r = rep.options["block_rank"]
        assert rep.rel_fro_error <= tol
        if r > 1:
            prev = approximate(A, method="monarch", rank=r - 1, blocks=(5, 5)).report
            assert prev.rel_fro_error > tol
    rep = approximate(A, method="monarch", energy=0.5, blocks=(5, 5)).report
    assert rep.energy >= 0.5
    wide = np.random.default_rng(5).standard_normal((8, 64))
    full = approximate(wide, method="monarch", rank=8, blocks=(8, 1)).report  # more storage than a full SVD
    assert full.storage_after == 1024 and full.rank == 8 and full.fro_error < 1e-12
    assert approximate(A, method="monarch").report.options["block_rank"] == 1


def test_approx_method_errors() -> None:
    A = np.ones((12, 12))
    with pytest.raises(ValueError, match="method 'monarch' takes only the option 'blocks'; got \\['power'\\]"):
        approximate(A, method="monarch", power=2)
    with pytest.raises(ValueError, match="give at most one of 'rank', 'tol', 'energy'"):
        approximate(A, method="monarch", rank=1, tol=0.1)
    with pytest.raises(ValueError, match=r"^approximate: 'tol' must be a number in \(0, 1\); got 1.5"):
        approximate(A, method="monarch", tol=1.5)
    with pytest.raises(ValueError, match=r"^approximate: 'rank' must be an int in \[1, min\(s, p\)\] = \[1, 4\]"):
        approximate(A, method="monarch", rank=9)


def test_monarch_is_a_builtin_approx_method() -> None:
    assert METHODS["monarch"].fn.__module__ == "rankwise.approx"
    assert rankwise.monarch_project is monarch_project


def test_cli_reports_monarch_next_to_svd(tmp_path: Path) -> None:
    A, s = matrix(48, 36, "exp")
    src, out = tmp_path / "a.npy", tmp_path / "f.npz"
    np.save(src, A)
    res = CliRunner().invoke(app, ["approx", str(src), "--method", "monarch", "--rank", "1", "--json", "-o", str(out)])
    assert res.exit_code == 0, res.stderr
    (rep,) = json.loads(res.stdout)
    assert rep["method"] == "monarch" and rep["storage_after"] == 6 * 6 * 6 + 6 * 8 * 6
    assert rep["rank"] == rep["storage_after"] // (48 + 36 + 1)
    assert rep["optimal_fro_error"] == pytest.approx(np.sqrt(np.sum(s[rep["rank"]:] ** 2)))
    with np.load(out) as z:
        M = Monarch(z["L"], z["R"])
    assert M.blocks == (6, 6)
    np.testing.assert_allclose(np.linalg.norm(A - M.to_dense()), rep["fro_error"], rtol=1e-10)
    res = CliRunner().invoke(app, ["approx", str(src), "--method", "monarch", "--rank", "9"])
    assert res.exit_code == 2 and "'rank' must be an int in [1, min(s, p)] = [1, 6]; got 9" in res.stderr


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_fast_product_checks_the_result_and_names_bad_input(lib: str) -> None:
    g = np.random.default_rng(11)
    M = Monarch(g.standard_normal((4, 4, 4)), g.standard_normal((4, 4, 4)))
    X = g.standard_normal((16, 3))
    if lib == "torch":
        torch = pytest.importorskip("torch")
        M, X = Monarch(torch.from_numpy(M.L), torch.from_numpy(M.R)), torch.from_numpy(X)
    dense = M.to_dense()
    np.testing.assert_allclose(np.asarray(M @ X), np.asarray(dense @ X), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(M @ X[:, 0]), np.asarray(dense @ X[:, 0]), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(M @ X.T.T), np.asarray(dense @ X), rtol=1e-12)  # strided input
    bad = X * 1.0
    bad[5, 1] = float("nan")
    with pytest.raises(ValueError, match=r"^Monarch.__matmul__: 'x' must contain only finite values; got 1 NaN"):
        M @ bad
    ones = Monarch(M.L * 0 + 1, M.R * 0 + 1)
    with np.errstate(over="ignore"):
        big = ones @ (X * 0 + 1e308)  # finite input whose product overflows: returned, as with a dense product
    assert np.isinf(np.asarray(big)).all()
