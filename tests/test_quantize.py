"""rankwise.quantize: nearest-code assignment against brute force, usage metrics against closed forms."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rankwise.quantize import (
    Assignment,
    CodebookStats,
    assign,
    block_rows,
    code_usage,
    codebook_stats,
    perplexity,
    quantization_error,
    utilisation,
)


def brute_force(X: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float64 reference: the full N × K × d difference tensor, argmin (first minimum) and min."""
    D = ((X.astype(np.float64)[:, None, :] - C.astype(np.float64)[None, :, :]) ** 2).sum(-1)
    return D.argmin(1), D.min(1)


@pytest.mark.parametrize("chunk", [None, 1, 3, 7, 64, 1000])
def test_assignment_equals_brute_force_in_float64(rng: np.random.Generator, chunk: int | None) -> None:
    X, C = rng.standard_normal((61, 5)), rng.standard_normal((37, 5))
    idx, d2 = brute_force(X, C)
    a = assign(X, C, chunk=chunk)
    np.testing.assert_array_equal(a.indices, idx)
    np.testing.assert_allclose(a.distances, d2, rtol=1e-12)
    assert a.indices.dtype == np.int64 and a.distances.dtype == np.float64


def test_float32_picks_a_nearest_code_up_to_rounding(rng: np.random.Generator) -> None:
    X = rng.standard_normal((500, 16)).astype(np.float32)
    C = rng.standard_normal((300, 16)).astype(np.float32)
    _, d2 = brute_force(X, C)
    a = assign(X, C, chunk=64)
    X64, C64 = X.astype(np.float64), C.astype(np.float64)
    chosen = ((X64 - C64[a.indices]) ** 2).sum(1)
    slack = 8 * np.finfo(np.float32).eps * ((X64**2).sum(1) + (C64**2).sum(1).max())
    assert np.all(chosen <= d2 + slack)
    assert a.distances.dtype == np.float32 and np.mean(a.indices == brute_force(X, C)[0]) > 0.99


@pytest.mark.parametrize("chunk", [None, 1, 2, 5])
def test_ties_go_to_the_lowest_index_at_every_chunk_boundary(chunk: int | None) -> None:
    C = np.array([[0, 0], [2, 0], [0, 0], [1, 1], [2, 0]], dtype=np.float64)  # duplicates 0 = 2 and 1 = 4
    X = np.array([[1, 0], [0, 0], [2, 0], [1, 0.5], [3, 0], [1, -1], [0.5, 0.5]], dtype=np.float64)
    # [1, 0] is equidistant from codes 0, 1, 2, 3, 4 (all at distance 1); [1, -1] from 0, 1, 2, 4
    a = assign(X, C, chunk=chunk)
    assert a.indices.tolist() == [0, 0, 1, 3, 1, 0, 0]
    np.testing.assert_array_equal(a.indices, brute_force(X, C)[0])


def test_batch_shape_is_kept_and_ints_are_promoted() -> None:
    C = np.arange(12).reshape(4, 3)
    X = np.arange(24).reshape(2, 4, 3) % 7
    a = assign(X, C)
    assert a.indices.shape == (2, 4) and a.distances.dtype == np.float64
    np.testing.assert_array_equal(a.indices.ravel(), brute_force(X.reshape(-1, 3), C)[0])
    assert assign(np.zeros(3), C).indices.shape == ()


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), k=st.integers(1, 30), d=st.integers(1, 6), chunk=st.integers(1, 50),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_shapes_and_dtypes(n: int, k: int, d: int, chunk: int, dtype: type, seed: int) -> None:
    g = np.random.default_rng(seed)
    X, C = g.standard_normal((n, d)).astype(dtype), g.standard_normal((k, d)).astype(dtype)
    a = assign(X, C, chunk=chunk)
    assert isinstance(a, Assignment)
    assert a.indices.shape == (n,) and a.indices.dtype == np.int64 and a.distances.dtype == dtype
    assert np.all((a.indices >= 0) & (a.indices < k)) and np.all(a.distances >= 0)
    _, d2 = brute_force(X, C)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(a.distances, d2, rtol=tol, atol=tol * (1 + d2.max()))


def test_metrics_closed_forms() -> None:
    assert utilisation(np.arange(10), 40) == 0.25
    assert perplexity(np.repeat(np.arange(8), 5), 64) == pytest.approx(8.0, rel=1e-12)
    assert perplexity(np.zeros(9, dtype=np.int64), 4) == 1.0
    p = np.array([0.5, 0.25, 0.25])
    idx = np.repeat([0, 1, 2], [2, 1, 1])
    assert perplexity(idx, 3) == pytest.approx(math.exp(-(p * np.log(p)).sum()), rel=1e-12)  # 2^1.5
    assert perplexity(idx, 3) == pytest.approx(2 ** 1.5, rel=1e-12)
    assert code_usage(np.array([[1, 1], [3, 0]]), 5).tolist() == [1, 2, 0, 1, 0]


def test_quantization_error_and_stats(rng: np.random.Generator) -> None:
    X, C = rng.standard_normal((200, 3)), rng.standard_normal((50, 3))
    _, d2 = brute_force(X, C)
    assert quantization_error(X, C, chunk=9) == pytest.approx(d2.mean(), rel=1e-12)
    s = codebook_stats(X, C)
    idx = brute_force(X, C)[0]
    assert isinstance(s, CodebookStats) and s.points == 200 and s.num_codes == 50
    assert s.used == np.unique(idx).size and s.dead == 50 - s.used
    assert s.utilisation == utilisation(idx, 50) and s.perplexity == pytest.approx(perplexity(idx, 50))
    assert s.error == pytest.approx(d2.mean(), rel=1e-12)
    with pytest.raises(ValueError, match="'used' must be in"):
        CodebookStats(num_codes=3, points=2, used=3, perplexity=1.0, error=0.0)


def test_block_rows_bounds_the_block() -> None:
    assert block_rows(16384, 4, budget=2**20) == 16 and block_rows(1, 8, budget=8) == 1


@pytest.mark.parametrize(("call", "exc", "message"), [
    (lambda: assign(np.ones((4, 3)), np.ones((5, 2))), ValueError,
     r"^assign: 'X' must have the codebook's dimension d = 2 in its last axis; got shape \(4, 3\)"),
    (lambda: assign(np.ones((0, 2)), np.ones((5, 2))), ValueError, r"^assign: 'X' must be non-empty; got shape"),
    (lambda: assign(np.ones((4, 2)), np.ones((0, 2))), ValueError, r"^assign: 'codebook' must be non-empty"),
    (lambda: assign(np.array([[1.0, np.nan], [0, np.nan]]), np.ones((5, 2))), ValueError,
     r"^assign: 'X' must contain only finite values; got 2 NaN value\(s\)"),
    (lambda: assign(np.ones((4, 2)), np.full((5, 2), np.inf)), ValueError, r"^assign: 'codebook' must contain only"),
    (lambda: assign(np.ones((4, 2)), np.ones(5)), ValueError, r"^assign: 'codebook' must be a 2-D array; got a 1-D"),
    (lambda: assign(np.ones((4, 2)), np.ones((5, 2)), chunk=0), ValueError,
     r"^assign: 'chunk' must be an int in \[1, inf\); got 0"),
    (lambda: assign(np.ones((4, 2)), np.ones((5, 2)), chunk=2.0), TypeError, r"^assign: 'chunk' must be an int"),
    (lambda: assign(np.ones((4, 2)), np.ones((5, 2), dtype=complex)), TypeError,
     r"^assign: 'codebook' must be a real array; got dtype complex128"),
    (lambda: assign(np.array(["a", "b"]), np.ones((5, 2))), TypeError, r"^assign: 'X' must be a numeric array"),
    (lambda: utilisation([0, 1], 0), ValueError, r"^utilisation: 'num_codes' must be an int in \[1, inf\); got 0"),
    (lambda: utilisation([0, 5], 5), ValueError,
     r"^utilisation: 'indices' must lie in \[0, num_codes\) = \[0, 5\); got values in \[0, 5\]"),
    (lambda: perplexity([], 5), ValueError, r"^perplexity: 'indices' must be non-empty"),
    (lambda: code_usage([0.5], 5), TypeError, r"^code_usage: 'indices' must be an integer array; got dtype float64"),
])
def test_bad_input_gets_a_one_line_error_naming_the_argument(call, exc: type, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc, match=message) as info:
        call()
    assert "\n" not in str(info.value)


def test_the_numpy_path_imports_no_torch() -> None:
    code = ("import sys, numpy as np; from rankwise.quantize import codebook_stats; "
            "codebook_stats(np.ones((3, 2)), np.eye(2)); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
