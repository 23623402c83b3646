"""Conformance table (house rule R13): every public matrix function against the same edge cases.

Later issues add their entry points to ``TABLE``: each entry names the function, builds a
call from the matrix argument, says whether it takes a ``rank`` and how to read the output
arrays (so dtype, library and device preservation can be checked). Every function in the
``__all__`` of rankwise, rankwise.linalg, rankwise.structured, rankwise.retrieval and
rankwise.rates is in ``TABLE`` or in ``NOT_MATRIX_FUNCTIONS`` with the test file that checks it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import rankwise
import rankwise.linalg
import rankwise.rates
import rankwise.retrieval
import rankwise.structured


@dataclass(frozen=True)
class Entry:
    name: str
    call: Callable[..., Any]  # call(A, **kwargs)
    outputs: Callable[[Any], list[Any]]  # arrays in the result
    takes_rank: bool = False
    reads_values: bool = True  # False for plans: they are made from the shape and dtype alone
    variant: str = ""  # tells apart two entries of one function in the test ids
    arg: str = "A"  # the matrix argument's name, as errors give it
    real_only: bool = False  # complex input is refused (scores have an order only when real)


def _rhs(A: Any) -> Any:
    """A right-hand side for ``A`` of its own library and dtype (ones when ``A`` is malformed)."""
    return A[:, 0] if A.ndim == 2 and A.shape[1] > 0 else np.ones(A.shape[0])


def _zero_factors(A: Any) -> tuple[Any, Any, Any]:
    """The rank-1 zero approximation (U, S, Vh) of ``A``'s shape, in its library (float64 when ``A`` is not float)."""
    from array_api_compat import array_namespace

    xp = array_namespace(A)
    m, n = (A.shape[0], A.shape[-1]) if A.ndim else (1, 1)
    dt = xp.float64 if A.dtype not in (xp.float32, xp.float64) else A.dtype
    dev = getattr(A, "device", None)
    kw = {"device": dev} if dev is not None and not isinstance(A, np.ndarray) else {}
    return xp.zeros((m, 1), dtype=dt, **kw), xp.zeros((1,), dtype=dt, **kw), xp.zeros((1, n), dtype=dt, **kw)


def _scores_kwargs(A: Any) -> dict[str, Any]:
    """evaluate's arguments that fit a score matrix of ``A``'s size: one budget, recall@1, one test query."""
    m = A.shape[0] if A.ndim else 1
    return {"ks": (1,), "n_anchor_queries": max(1, m - 1), "n_test": 1, "rng": 0}


TABLE = [
    Entry("svd", lambda A, **kw: rankwise.svd(A, kw.get("rank", 2)), lambda r: list(r), takes_rank=True),
    Entry("pinv", lambda A, **kw: rankwise.pinv(A), lambda r: [r]),
    Entry("lstsq", lambda A, **kw: rankwise.lstsq(A, _rhs(A)), lambda r: [r.X]),
    Entry("approximate", lambda A, **kw: rankwise.approximate(A, rank=kw.get("rank", 2)),
          lambda r: list(r.factors), takes_rank=True),
    Entry("rsvd", lambda A, **kw: rankwise.rsvd(A, kw.get("rank", 2), rng=0), lambda r: list(r), takes_rank=True),
    Entry("range_finder", lambda A, **kw: rankwise.range_finder(A, 2, rng=0), lambda r: []),
    Entry("monarch_project", lambda A, **kw: rankwise.monarch_project(A), lambda r: [r.L, r.R]),
    Entry("interp_decomp", lambda A, **kw: rankwise.interp_decomp(A, kw.get("rank", 2), rng=0), lambda r: [r.proj],
          takes_rank=True),
    Entry("interp_decomp", lambda A, **kw: rankwise.interp_decomp(A, kw.get("rank", 2), axis="rows",
                                                                  method="randomized", rng=0),
          lambda r: [r.proj], takes_rank=True, variant="rows-randomized"),
    Entry("cur", lambda A, **kw: rankwise.cur(A, kw.get("rank", 2), rng=0), lambda r: [r.C, r.U, r.R],
          takes_rank=True),
    Entry("cur", lambda A, **kw: rankwise.cur(A, kw.get("rank", 2), select="leverage", core="optimal", rng=0),
          lambda r: [r.C, r.U, r.R], takes_rank=True, variant="leverage-optimal"),
    Entry("id_plan", lambda A, **kw: rankwise.linalg.id_plan(A, kw.get("rank", 2)), lambda r: [], takes_rank=True,
          reads_values=False),
    Entry("rsvd_plan", lambda A, **kw: rankwise.linalg.rsvd_plan(A, kw.get("rank", 2)), lambda r: [],
          takes_rank=True, reads_values=False),
    Entry("estimate_error", lambda A, **kw: rankwise.estimate_error(A, _zero_factors(A), rng=0), lambda r: []),
    Entry("evaluate", lambda A, **kw: rankwise.retrieval.evaluate(A, [1], **_scores_kwargs(A)), lambda r: [],
          arg="M", real_only=True),
]
IDS = [e.name + (f"-{e.variant}" if e.variant else "") for e in TABLE]


@pytest.mark.parametrize("entry", TABLE, ids=IDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_input_is_refused(entry: Entry, bad: float) -> None:
    A = np.ones((6, 4))
    A[2, 3] = bad
    if not entry.reads_values:  # a plan is made from the shape alone; executing it refuses the values
        assert entry.call(A) == entry.call(np.ones((6, 4)))
        return
    with pytest.raises(ValueError, match=rf"^{entry.name}: '{entry.arg}' must contain only finite values; got 1 "):
        entry.call(A)


@pytest.mark.parametrize("entry", TABLE, ids=IDS)
@pytest.mark.parametrize(("shape", "msg"), [((5,), "must be a 2-D array; got a 1-D"),
                                            ((2, 3, 4), "must be a 2-D array; got a 3-D"),
                                            ((0, 4), "must be non-empty"), ((4, 0), "must be non-empty")])
def test_bad_shapes_are_refused(entry: Entry, shape: tuple[int, ...], msg: str) -> None:
    with pytest.raises(ValueError, match=rf"^{entry.name}: '{entry.arg}' {msg}"):
        entry.call(np.ones(shape))


@pytest.mark.parametrize("entry", [e for e in TABLE if e.takes_rank], ids=[e.name for e in TABLE if e.takes_rank])
@pytest.mark.parametrize("rank", [0, 5, -1])
def test_rank_out_of_range(entry: Entry, rank: int) -> None:
    with pytest.raises(ValueError, match=rf"'rank' must be an int in \[1, min\(m, n\)\] = \[1, 4\]; got {rank}"):
        entry.call(np.ones((6, 4)), rank=rank)


@pytest.mark.parametrize("entry", TABLE, ids=IDS)
def test_wrong_dtype_is_refused(entry: Entry) -> None:
    with pytest.raises(TypeError, match=rf"^{entry.name}: '{entry.arg}' must be a numeric array; got dtype"):
        entry.call(np.array([["a", "b"], ["c", "d"]]))


@pytest.mark.parametrize("entry", TABLE, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(entry: Entry, dtype: type) -> None:
    A = np.random.default_rng(0).standard_normal((7, 5)).astype(dtype)
    for out in entry.outputs(entry.call(A)):
        assert out.dtype == np.dtype(dtype), (entry.name, out.dtype)


@pytest.mark.parametrize("entry", TABLE, ids=IDS)
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_dtype_is_preserved(entry: Entry, dtype: type) -> None:
    A = np.random.default_rng(0).standard_normal((7, 5)).astype(dtype)
    if entry.real_only:
        with pytest.raises(TypeError, match=rf"'{entry.arg}' must hold real scores; got dtype {np.dtype(dtype)}"):
            entry.call(A)
        return
    for out in entry.outputs(entry.call(A)):
        assert out.dtype in (np.dtype(dtype), np.finfo(dtype).dtype), (entry.name, out.dtype)


@pytest.mark.parametrize("entry", TABLE, ids=IDS)
def test_integer_input_gives_float64(entry: Entry) -> None:
    A = np.arange(35).reshape(7, 5) % 4 + np.eye(7, 5, dtype=int)
    for out in entry.outputs(entry.call(A)):
        assert out.dtype == np.float64


@pytest.mark.parametrize("entry", TABLE, ids=IDS)
def test_array_api_strict(entry: Entry) -> None:
    xp = pytest.importorskip("array_api_strict")
    A = xp.asarray(np.random.default_rng(1).standard_normal((7, 5)))
    for out in entry.outputs(entry.call(A)):
        assert type(out) is type(A)


@pytest.mark.parametrize("entry", TABLE, ids=IDS)
def test_torch_cpu(entry: Entry) -> None:
    torch = pytest.importorskip("torch")
    A = torch.randn(7, 5, generator=torch.Generator().manual_seed(0))
    for out in entry.outputs(entry.call(A)):
        assert isinstance(out, torch.Tensor) and out.device == A.device and out.dtype in (torch.float32,)


@pytest.mark.gpu
@pytest.mark.parametrize("entry", TABLE, ids=IDS)
def test_torch_cuda_stays_on_device(entry: Entry) -> None:
    torch = pytest.importorskip("torch")
    A = torch.randn(7, 5, device="cuda")
    for out in entry.outputs(entry.call(A)):
        assert out.device == A.device


def test_every_public_name_is_documented() -> None:
    for name in rankwise.__all__:
        if name.startswith("__"):
            continue
        obj = getattr(rankwise, name)
        assert obj.__doc__ and len(obj.__doc__.strip()) > 20, name


# Public functions that do not take one matrix A, each with the test file that checks its own domain.
NOT_MATRIX_FUNCTIONS = {
    "rankwise.as_generator": "tests/test_random.py",  # an rng argument
    "rankwise.low_rank_matrix": "tests/test_random.py",  # builds a matrix from shapes and a spectrum
    "rankwise.select_rank": "tests/test_validation.py",  # singular values
    "rankwise.chain_plan": "tests/linalg/test_chain.py",  # shapes
    "rankwise.chain_dot": "tests/linalg/test_chain.py",  # any number of 1-D/2-D operands
    "rankwise.cr_matmul": "tests/linalg/test_matmul.py",  # two matrices A, B
    "rankwise.cr_expected_error": "tests/linalg/test_matmul.py",
    "rankwise.structured.discretize": "tests/structured/test_conformance.py",  # A, B, C of a state-space model
    "rankwise.structured.ssm_kernel": "tests/structured/test_conformance.py",
    "rankwise.structured.ssm_apply": "tests/structured/test_conformance.py",  # a signal and a kernel
    "rankwise.structured.rope": "tests/structured/test_conformance.py",  # vectors and positions
    "rankwise.structured.rope_exp": "tests/structured/test_conformance.py",  # a generator and positions
    "rankwise.structured.rope_matrix": "tests/structured/test_conformance.py",  # positions and a size
    "rankwise.structured.rope_generator": "tests/structured/test_rope.py",  # a size
    "rankwise.structured.hippo": "tests/structured/test_ssm.py",  # a kind and a size
    "rankwise.structured.hippo_nplr": "tests/structured/test_ssm.py",
    "rankwise.retrieval.synthetic_scores": "tests/test_retrieval.py",  # builds a matrix from sizes
    "rankwise.retrieval.recall_figure": "tests/test_public_functions.py",  # a RecallReport (see below)
    "rankwise.rates.analyze": "tests/test_rates.py",  # a sequence of residuals
}
MATRIX_MODULES = ("rankwise", "rankwise.linalg", "rankwise.structured", "rankwise.retrieval", "rankwise.rates")


def _public_functions() -> dict[str, Any]:
    """``{"module.name": function}`` for every function (not class) in the ``__all__`` of MATRIX_MODULES."""
    import importlib

    out: dict[str, Any] = {}
    for mod_name in MATRIX_MODULES:
        mod = importlib.import_module(mod_name)
        for n in mod.__all__:
            obj = getattr(mod, n)
            if callable(obj) and not isinstance(obj, type):
                out[f"{mod_name}.{n}"] = obj
    return out


def test_every_public_function_is_in_the_table() -> None:
    """Each public function is an Entry of TABLE (under its own name) or a NOT_MATRIX_FUNCTIONS key whose test
    file exists and names it; no key is stale. A function re-exported by several modules is checked once."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    functions = _public_functions()
    not_matrix = {id(functions[q]) for q in NOT_MATRIX_FUNCTIONS if q in functions}
    missing = sorted(q for q, f in functions.items() if f.__name__ not in {e.name for e in TABLE}
                     and id(f) not in not_matrix)
    assert not missing, f"public functions in neither TABLE nor NOT_MATRIX_FUNCTIONS: {missing}"
    assert set(NOT_MATRIX_FUNCTIONS) <= set(functions), set(NOT_MATRIX_FUNCTIONS) - set(functions)
    for q, path in NOT_MATRIX_FUNCTIONS.items():
        text = (root / path).read_text(encoding="utf-8")
        assert re.search(rf"\b{q.rsplit('.', 1)[1]}\(", text), f"{path} does not call {q}"
        assert functions[q].__name__ not in {e.name for e in TABLE}, f"{q} is in TABLE too"


def test_recall_figure_draws_one_panel_per_k() -> None:
    pytest.importorskip("matplotlib")
    from rankwise.retrieval import evaluate, recall_figure, synthetic_scores

    M = synthetic_scores("lowrank", 40, 60, rank=3, noise=0.0, rng=0)
    fig = recall_figure(evaluate(M, [6, 12], ks=(1, 5), n_anchor_queries=20, n_test=5, rng=0), title="t")
    assert len(fig.axes) == 2 and [ax.get_title() for ax in fig.axes] == ["recall@1", "recall@5"]
    assert all(len(ax.lines) == 3 for ax in fig.axes)  # anncur, adaptive, random


# --------------------------------------------------------------------------- dtypes beyond the four LAPACK types


@pytest.mark.parametrize("entry", TABLE, ids=IDS)
@pytest.mark.parametrize("dtype", [np.longdouble, np.clongdouble], ids=["longdouble", "clongdouble"])
def test_extended_precision_is_refused_with_the_supported_list(entry: Entry, dtype: type) -> None:
    """longdouble used to be computed in float32 without a word (clongdouble crashed in numpy.linalg)."""
    if np.finfo(dtype).bits <= 64 and np.dtype(dtype).kind == "f":
        pytest.skip("longdouble is float64 on this platform")
    A = np.random.default_rng(0).standard_normal((7, 5)).astype(dtype)
    supported = r"float32, float64, complex64, complex128 .* got (float128|complex256|float96)"
    with pytest.raises(TypeError, match=rf"^{entry.name}: '{entry.arg}' must have a dtype rankwise computes in: "
                                        + supported):
        entry.call(A)


@pytest.mark.parametrize("entry", TABLE, ids=IDS)
@pytest.mark.parametrize("dtype", ["numpy.float16", "torch.float16", "torch.bfloat16", "torch.float8_e4m3fn",
                                   "torch.float8_e5m2"])
def test_narrow_floats_are_computed_and_returned_in_float32(entry: Entry, dtype: str) -> None:
    """Half and quarter precision: computed in float32 and returned in float32 (see rankwise._array), with
    the same result as the float32 copy of the same values."""
    lib, name = dtype.split(".")
    A64 = np.random.default_rng(2).standard_normal((7, 5))
    if lib == "numpy":
        A = A64.astype(getattr(np, name))
        A32: Any = A.astype(np.float32)
        f32: Any = np.float32
    else:
        torch = pytest.importorskip("torch")
        A = torch.from_numpy(A64).to(getattr(torch, name))
        A32 = A.to(torch.float32)
        f32 = torch.float32
    got, want = entry.outputs(entry.call(A)), entry.outputs(entry.call(A32))
    for g, w in zip(got, want, strict=True):
        assert g.dtype == f32, (entry.name, g.dtype)
        np.testing.assert_allclose(np.asarray(g.tolist()), np.asarray(w.tolist()), rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- devices


@pytest.mark.parametrize("entry", TABLE, ids=IDS)
def test_array_api_strict_on_a_non_default_device(entry: Entry) -> None:
    """Every entry point used to crash converting to NumPy ("Can't convert array on the 'device1' device");
    results now come back on the input's device, equal to the default device's."""
    xp = pytest.importorskip("array_api_strict")
    dev = xp.Device("device1")
    A0 = np.random.default_rng(1).standard_normal((7, 5))
    A, ref = xp.asarray(A0, device=dev), xp.asarray(A0)
    got, want = entry.outputs(entry.call(A)), entry.outputs(entry.call(ref))
    for g, w in zip(got, want, strict=True):
        assert type(g) is type(A) and g.device == dev, (entry.name, g.device)
        np.testing.assert_allclose(np.asarray(xp.asarray(g, device=xp.Device("CPU_DEVICE"))), np.asarray(w),
                                   rtol=1e-10, atol=1e-12)
    if entry.name == "range_finder":
        Q = entry.call(A)
        assert Q.device == dev and Q.shape == (7, 2)


# --------------------------------------------------------------------------- layouts, threads, degenerate matrices


@pytest.mark.parametrize("entry", TABLE, ids=IDS)
def test_non_contiguous_read_only_input_is_never_mutated(entry: Entry) -> None:
    base = np.asfortranarray(np.random.default_rng(3).standard_normal((14, 12)))
    A = base[::2, 1::2]  # a strided view of a Fortran-ordered array: neither C- nor F-contiguous
    A.setflags(write=False)
    before = A.tobytes()
    got = entry.outputs(entry.call(A))
    assert A.tobytes() == before
    for g, w in zip(got, entry.outputs(entry.call(np.ascontiguousarray(A))), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    big = base * 2.0**500  # the rescaled route copies: the input still holds its bytes
    before = big.tobytes()
    entry.call(big)
    assert big.tobytes() == before


@pytest.mark.parametrize("entry", TABLE, ids=IDS)
def test_same_seed_same_result_with_one_or_two_blas_threads(entry: Entry) -> None:
    """Results for a seed do not depend on the BLAS thread count beyond rounding (OpenBLAS may split sums
    differently with two threads, so the comparison is to 1e-10, not bitwise)."""
    from threadpoolctl import threadpool_limits

    A = np.random.default_rng(4).standard_normal((80, 60))
    outs = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            outs.append(entry.outputs(entry.call(A, rank=5) if entry.takes_rank else entry.call(A)))
    for a, b in zip(*outs, strict=True):
        if entry.name in ("svd", "approximate", "rsvd"):  # singular vectors are defined up to sign
            a, b = np.abs(a), np.abs(b)
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def _finite_or_says_why(entry: Entry, e: int) -> None:
    """``entry`` on entries of size 2^e: a finite result, or an InputError from the function saying what does not
    fit its range; never an overflow warning, an inf or a NaN."""
    import warnings

    A = np.random.default_rng(5).standard_normal((7, 5))
    for f in rankwise._numerics.pow2_factors(e, "float64"):
        A = A * f
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            out = entry.call(A)
        except rankwise.InputError as exc:
            assert str(exc).startswith(f"{entry.name}: ") and "range" in str(exc), exc
            return
    for arr in entry.outputs(out):
        assert np.all(np.isfinite(arr)), entry.name


@pytest.mark.parametrize("entry", TABLE, ids=IDS)
def test_subnormal_entries_give_a_finite_result_or_say_why(entry: Entry) -> None:
    _finite_or_says_why(entry, -1040)  # about 1e-313


@pytest.mark.parametrize("entry", TABLE, ids=IDS)
def test_huge_entries_give_a_finite_result_or_say_why(entry: Entry) -> None:
    _finite_or_says_why(entry, 1000)  # about 1e301


@pytest.mark.parametrize("entry", TABLE, ids=IDS)
@pytest.mark.parametrize("value", [3.0, 0.0])
def test_one_by_one(entry: Entry, value: float) -> None:
    A = np.array([[value]])
    if entry.name == "range_finder":  # the table asks for 2 columns of a 1×1 matrix
        with pytest.raises(ValueError, match=r"^range_finder: 'size' must be an int in \[1, min\(m, n\)\] = \[1, 1\]"):
            entry.call(A)
        assert rankwise.range_finder(A, 1, rng=0).shape == ((1, 1) if value else (1, 0))
        return
    if entry.name == "evaluate":  # one row cannot be both an anchor query and a test query
        with pytest.raises(ValueError, match=r"^evaluate: 'n_anchor_queries' must be an int in \[1, m - 1\] = \[1, 0"):
            entry.call(A)
        return
    out = entry.call(A, rank=1) if entry.takes_rank else entry.call(A)
    for arr in entry.outputs(out):
        assert np.all(np.isfinite(arr))
    if entry.name in ("svd", "rsvd", "approximate"):
        U, S, Vh = entry.outputs(out)
        np.testing.assert_allclose((U * S) @ Vh, A, atol=1e-15)
    if entry.name == "pinv":
        np.testing.assert_allclose(out, [[1 / value if value else 0.0]])


@pytest.mark.parametrize("entry", TABLE, ids=IDS)
def test_zero_matrix_gives_the_exact_zero_approximation(entry: Entry) -> None:
    """Decision: the all-zero (rank-0) matrix is valid input. Every entry returns its exact approximation:
    S = 0 with orthonormal U and Vh (any basis factorises 0), zero A⁺, X, coefficients and cores, an
    empty range basis, and reports with error 0; tolerance modes return rank 1 with met_tol=True."""
    Z = np.zeros((6, 4))
    out = entry.call(Z, rank=2) if entry.takes_rank else entry.call(Z)
    arrays = entry.outputs(out)
    for arr in arrays:
        assert np.all(np.isfinite(arr))
    if entry.name in ("svd", "rsvd", "approximate"):
        U, S, Vh = arrays
        assert np.all(S == 0)
        np.testing.assert_allclose(U.T @ U, np.eye(2), atol=1e-12)
        np.testing.assert_allclose(Vh @ Vh.T, np.eye(2), atol=1e-12)
    elif entry.name == "range_finder":
        assert out.shape == (6, 0)
    elif entry.name != "monarch_project":
        assert all(np.all(arr == 0) for arr in arrays)
    for report in (rankwise.svd(Z, tol=0.1, report=True)[1], rankwise.rsvd(Z, tol=0.1, rng=0, report=True)[1],
                   rankwise.rsvd(Z, tol=0.1, method="subspace", rng=0, report=True)[1],
                   rankwise.cur(Z, tol=0.1, select="leverage", rng=0).report, rankwise.cur(Z, tol=0.1).report):
        assert report.rank == 1 and report.fro_error == 0 and report.met_tol is True
    assert rankwise.interp_decomp(Z, tol=0.1).met_tol is True
