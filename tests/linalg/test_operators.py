"""The operator protocol: every input kind gives the products, entries and norm of the same matrix."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from rankwise.linalg import NpyMatrix, Operator, rsvd, rsvd_plan
from rankwise.linalg._inputs import KINDS, as_operator
from rankwise.linalg._operator import DenseOperator, TransposeOperator
from rankwise.linalg.rsvd import Fallback, RSVDPlan, Scheme


def _matrix(m: int = 37, n: int = 23, complex_: bool = False, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    return A + 1j * rng.standard_normal((m, n)) if complex_ else A


def _kinds(tmp_path: Path) -> dict[str, Callable[[np.ndarray], Any]]:
    def npy(A: np.ndarray) -> NpyMatrix:
        path = tmp_path / f"a{A.dtype}.npy"
        np.save(path, A)
        return NpyMatrix(path, block_rows=10)

    def dask(A: np.ndarray) -> Any:
        da = pytest.importorskip("dask.array")
        return da.from_array(A, chunks=(10, A.shape[1]))

    def dask_cols(A: np.ndarray) -> Any:
        da = pytest.importorskip("dask.array")
        return da.from_array(A, chunks=(A.shape[0], 7))

    return {"dense": lambda A: A, "sparse": scipy.sparse.csr_matrix, "sparse-coo": scipy.sparse.coo_matrix,
            "linear-operator": scipy.sparse.linalg.aslinearoperator, "npy-file": npy, "dask": dask,
            "dask-by-columns": dask_cols}


LABELS = {"dense": "dense", "sparse": "sparse", "sparse-coo": "sparse", "linear-operator": "linear-operator",
          "npy-file": "npy-file", "dask": "dask", "dask-by-columns": "dask"}


@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("kind", list(LABELS))
def test_every_kind_is_the_same_matrix(tmp_path: Path, kind: str, complex_: bool) -> None:
    A = _matrix(complex_=complex_)
    op = as_operator(_kinds(tmp_path)[kind](A), func="test")
    assert isinstance(op, Operator) and op.label == LABELS[kind] and op.shape == A.shape
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((23, 4)), rng.standard_normal((37, 3))
    np.testing.assert_allclose(np.asarray(op.matmat(X)), A @ X, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(op.rmatmat(Y)), A.conj().T @ Y, rtol=1e-12, atol=1e-12)
    AX, AhAX = op.fused(X)
    np.testing.assert_allclose(np.asarray(AhAX), A.conj().T @ (A @ X), rtol=1e-12, atol=1e-11)
    idx = np.array([5, 0, 22, 3])
    np.testing.assert_allclose(np.asarray(op.columns(idx)), A[:, idx], atol=1e-12)
    np.testing.assert_allclose(np.asarray(op.rows(idx)), A[idx, :], atol=1e-12)
    exact = np.linalg.norm(A) ** 2
    if op.knows_norm:
        assert op.fro_sq() == pytest.approx(exact, rel=1e-12)
        assert op.frobenius_sq() == (pytest.approx(exact, rel=1e-12), True)
    else:
        assert op.fro_sq() is None
        est = op.frobenius_sq(rng=0, probes=400)
        assert not est.exact and est.value == pytest.approx(exact, rel=0.25)
    C = A[:, :5]
    M = np.linalg.lstsq(C, A, rcond=None)[0]
    assert op.residual_fro_sq(C, M) == pytest.approx(np.linalg.norm(A - C @ M) ** 2, rel=1e-10)
    for conjugate in (False, True):
        T = op.transpose(conjugate=conjugate)
        At = A.conj().T if conjugate else A.T
        assert T.shape == At.shape and T.streamed == op.streamed and T.knows_norm == op.knows_norm
        np.testing.assert_allclose(np.asarray(T.matmat(Y)), At @ Y, atol=1e-12)
        np.testing.assert_allclose(np.asarray(T.rmatmat(X)), At.conj().T @ X, atol=1e-12)
        np.testing.assert_allclose(np.asarray(T.columns(idx)), At[:, idx], atol=1e-12)


def test_capabilities_follow_the_kind(tmp_path: Path) -> None:
    kinds = _kinds(tmp_path)
    A = _matrix()
    caps = {k: (op.has_entries, op.row_access, op.streamed, op.knows_norm)
            for k, op in ((k, as_operator(f(A), func="t")) for k, f in kinds.items())}
    assert caps["dense"] == caps["sparse"] == (True, True, False, True)
    assert caps["linear-operator"] == (False, False, False, False)
    assert caps["npy-file"] == (False, False, True, True)
    assert caps["dask"] == (False, True, True, True)
    np.testing.assert_array_equal(as_operator(scipy.sparse.csr_matrix(A), func="t").host_matrix(), A)
    for kind in ("npy-file", "linear-operator", "dask"):  # no entries in memory: A·I through the products
        np.testing.assert_allclose(as_operator(kinds[kind](A), func="t").host_matrix(), A, atol=1e-12)


def test_an_operator_passes_through_and_a_transpose_of_a_transpose_is_the_original() -> None:
    op = as_operator(_matrix(), func="t")
    assert as_operator(op, func="t") is op
    for conj in (False, True):
        assert op.transpose(conjugate=conj).transpose(conjugate=conj) is op
    assert isinstance(op.transpose().transpose(conjugate=True), TransposeOperator)


def test_every_non_dense_kind_is_listed_once() -> None:
    classes = [cls for _, cls in KINDS]
    assert len(set(classes)) == len(classes) and DenseOperator not in classes
    assert all(issubclass(cls, Operator) for cls in classes)


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 12), n=st.integers(1, 12), cplx=st.booleans(), dtype=st.sampled_from(["float32", "float64"]),
       seed=st.integers(0, 2**16))
def test_dense_transpose_products_match_numpy(m: int, n: int, cplx: bool, dtype: str, seed: int) -> None:
    A = _matrix(m, n, cplx, seed).astype(np.complex64 if cplx and dtype == "float32" else
                                          np.complex128 if cplx else dtype)
    op = as_operator(A, func="t")
    Y = np.random.default_rng(seed + 1).standard_normal((m, 2)).astype(A.real.dtype)
    tol = 1e-4 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(op.transpose().matmat(Y), A.T @ Y, rtol=tol, atol=tol)
    np.testing.assert_allclose(op.transpose(conjugate=True).matmat(Y), A.conj().T @ Y, rtol=tol, atol=tol)
    assert op.fro_sq() == pytest.approx(float(np.linalg.norm(A.astype(np.complex128)) ** 2), rel=1e-6)


# --------------------------------------------------------------------------- the rSVD plan


def test_plan_resolves_every_auto() -> None:
    A = _matrix(300, 200)
    plan = rsvd_plan(A, 20)
    assert (plan.mode, plan.scheme, plan.block, plan.power_iters, plan.normalizer, plan.sketch) == \
        ("rank", Scheme.KRYLOV, 30, 2, "svqb", "gaussian")
    assert plan.fallbacks == Fallback.QB_ON_STEEP  # double precision only
    assert rsvd_plan(A.astype(np.float32), 20).fallbacks == Fallback.NONE
    sub = rsvd_plan(A, 20, method="subspace", normalizer="lu", power_iters=3)
    assert (sub.scheme, sub.power_iters, sub.normalizer) == (Scheme.SUBSPACE, 3, "lu")
    tol = rsvd_plan(A, tol=1e-2, precision="mixed")
    assert (tol.mode, tol.scheme, tol.power_iters, tol.block) == ("tol", Scheme.KRYLOV_TOL, None, 64)
    assert Fallback.FULL_PRECISION in tol.fallbacks
    qb = rsvd_plan(A, tol=1e-2, method="subspace")
    assert (qb.scheme, qb.block, qb.power_iters) == (Scheme.RANDQB, 32, 1)
    assert rsvd_plan(_matrix(300, 40), tol=0.1).block == 40  # a Krylov block never exceeds n


def test_plan_is_frozen_and_printable() -> None:
    plan = rsvd_plan(_matrix(300, 200), tol=1e-3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.rank = 3  # type: ignore[misc]
    text = str(plan)
    for needle in ("dense 300×200 float64", "tol 0.001", "block-krylov-tol", "as many as the tolerance needs",
                   "fallbacks    none"):
        assert needle in text
    assert isinstance(plan, RSVDPlan) and text.count("\n") == 10


@pytest.mark.parametrize("args", [{"rank": 12}, {"rank": 12, "method": "subspace"}, {"tol": 0.05},
                                  {"tol": 0.05, "method": "subspace"}])
def test_rsvd_runs_its_plan(args: dict[str, Any]) -> None:
    from rankwise.random import low_rank_matrix

    A, _ = low_rank_matrix(200, 120, 0.85 ** np.arange(120), rng=0)
    plan = rsvd_plan(A, **args)
    _, rep = rsvd(A, **args, rng=0, report=True)
    assert rep.options["block"] == plan.block and rep.options["normalizer"] == plan.normalizer
    assert rep.options["scheme"].startswith(plan.scheme.value.removesuffix("-tol"))
    if plan.power_iters is not None and plan.mode == "rank":
        assert rep.options["power_iters"] == plan.power_iters


def test_plan_refuses_what_rsvd_refuses() -> None:
    A = _matrix(50, 40)
    with pytest.raises(ValueError, match="exactly one of"):
        rsvd_plan(A)
    with pytest.raises(ValueError, match="'tol' must be >= 10·sqrt"):
        rsvd_plan(A, tol=1e-9)
    with pytest.raises(ValueError, match="LinearOperator"):
        rsvd_plan(scipy.sparse.linalg.aslinearoperator(A), tol=0.1)


def test_id_plan_resolves_auto_and_the_defaults() -> None:
    from rankwise.linalg._inputs import as_operator as wrap
    from rankwise.linalg.skeleton import IDPlan, _plan_id

    small, big = wrap(_matrix(300, 200), func="t"), wrap(_matrix(600, 400), func="t")
    p1 = _plan_id("t", small, 20, None, "columns", "auto", None, None)
    assert isinstance(p1, IDPlan) and (p1.method, p1.oversample, p1.power_iters) == ("qr", 20, 1)
    p2 = _plan_id("t", big, None, 0.1, "rows", "auto", None, None)
    assert (p2.method, p2.oversample, p2.power_iters, p2.axis) == ("randomized", 10, 0, "rows")
    assert _plan_id("t", big, None, 1e-9, "columns", "auto", None, None).method == "qr"  # below the floor
    assert "randomized" in str(p2) and "10 extra rows, 0 power steps" in str(p2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p1.method = "randomized"  # type: ignore[misc]


def test_frobenius_norm_is_accurate_to_a_few_eps() -> None:
    """‖A‖_F² feeds every tolerance: a BLAS dot product summed these 90 000 equal squares with an error of
    ~500 eps (tol = 3e-7 means tol² ≈ 400 eps); the pairwise sum is within a few eps, for every kind."""
    from fractions import Fraction

    import array_api_strict as xps
    import torch

    c = 0.1 + 0.3j
    A = np.full((300, 300), c)
    exact = float((Fraction(c.real) ** 2 + Fraction(c.imag) ** 2) * A.size)
    eps = np.finfo(np.float64).eps
    real = float(Fraction(c.real) ** 2 * A.size)
    cases = [(A, exact), (np.asfortranarray(A), exact), (A.real.copy(), real), (torch.from_numpy(A), exact),
             (xps.asarray(A), exact), (scipy.sparse.csr_matrix(A), exact)]
    for x, want in cases:
        got = as_operator(x, func="test").fro_sq()
        assert got is not None and abs(got - want) <= 4 * eps * want, (type(x), (got - want) / want / eps)
