from __future__ import annotations

import numpy as np
import pytest

from rankwise import _checks


def test_rank_message_template() -> None:
    with pytest.raises(ValueError, match=r"^svd: 'rank' must be an int in \[1, min\(m, n\)\] = \[1, 4\]; "
                                         r"got 7 \(A has shape \(5, 4\)\)$"):
        _checks.rank(7, (5, 4), func="svd")


@pytest.mark.parametrize("bad", [1.0, True, "3", None, np.float64(2.0)])
def test_rank_wrong_type_is_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="'rank' must be an int"):
        _checks.rank(bad, (5, 4), func="svd")


def test_rank_accepts_numpy_integers() -> None:
    assert _checks.rank(np.int64(3), (5, 4), func="f") == 3


def test_nan_and_inf_are_counted() -> None:
    A = np.ones((4, 3))
    A[0, 0] = np.nan
    A[1, 1] = np.nan
    A[2, 2] = np.inf
    with pytest.raises(ValueError, match=r"'A' must contain only finite values; got 2 NaN and 1 infinite"):
        _checks.matrix(A, func="f")


def test_large_finite_values_that_overflow_a_sum_are_accepted() -> None:
    A = np.full((4, 4), np.finfo(np.float64).max / 2)
    assert _checks.matrix(A, func="f") is A


def test_complex_nan_is_found() -> None:
    A = np.ones((2, 2), dtype=complex)
    A[0, 1] = complex(0, np.nan)
    with pytest.raises(ValueError, match="1 NaN"):
        _checks.matrix(A, func="f")


@pytest.mark.parametrize(("A", "msg"), [
    (np.ones(3), r"'A' must be a 2-D array; got a 1-D array of shape \(3,\)"),
    (np.ones((2, 2, 2)), r"got a 3-D array"),
    (np.ones((0, 3)), r"'A' must be non-empty; got shape \(0, 3\)"),
])
def test_shape_errors(A: np.ndarray, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        _checks.matrix(A, func="f")


@pytest.mark.parametrize("A", [np.array([["a", "b"]]), np.array([[object(), 1]], dtype=object), None])
def test_non_numeric_is_type_error(A: object) -> None:
    with pytest.raises(TypeError, match="'A' must be"):
        _checks.matrix(A, func="f")


def test_lists_become_float_arrays() -> None:
    out = _checks.matrix([[1, 2], [3, 4]], func="f")
    assert isinstance(out, np.ndarray) and out.dtype == np.float64


def test_at_most_one_and_exactly_one() -> None:
    assert _checks.at_most_one("f", rank=None, tol=0.1) == "tol"
    with pytest.raises(ValueError, match=r"give at most one of 'rank', 'tol'; got rank=3, tol=0.1"):
        _checks.at_most_one("f", rank=3, tol=0.1)
    with pytest.raises(ValueError, match="give exactly one"):
        _checks.exactly_one("f", rank=None, tol=None)


def test_real_interval_and_choice() -> None:
    with pytest.raises(ValueError, match=r"'tol' must be a number in \(0, 1\); got 1.0"):
        _checks.real(1.0, func="f", name="tol", lo=0, hi=1, lo_open=True, hi_open=True)
    with pytest.raises(ValueError, match="got nan"):
        _checks.real(float("nan"), func="f", name="tol")
    with pytest.raises(ValueError, match=r"unknown method 'Qr'; valid: lu, none, qr"):
        _checks.choice("Qr", ("qr", "lu", "none"), func="f", name="method")


def test_errors_are_rankwise_errors() -> None:
    with pytest.raises(_checks.RankwiseError):
        _checks.rank(0, (3, 3), func="f")
