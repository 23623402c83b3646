"""No silent wrong answers: malformed input to a public entry point is one clear line, never a result.

Each case is an input that used to return a (wrong) answer or fail deep inside with an
unrelated message; each must now raise ``ValueError``/``TypeError`` whose message starts
with the function's name and names the argument.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from rankwise import StreamingSVD, estimate_error, select_rank
from rankwise.calculus import ParseError, parse
from rankwise.rates import analyze

A = np.random.default_rng(0).standard_normal((30, 20))
U, S, VH = np.linalg.svd(A, full_matrices=False)


def _stream(*updates: tuple[Any, Any]) -> None:
    sk = StreamingSVD((10, 6), 2, rng=0)
    for block, rows in updates:
        sk.update(block, rows=rows)


CASES: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    # select_rank: the spectrum and the target
    ("select_rank NaN", lambda: select_rank([3.0, np.nan, 1.0], tol=0.1), ValueError,
     r"^select_rank: 'S' must contain only finite values; got 1 NaN"),
    ("select_rank inf", lambda: select_rank([np.inf, 1.0], tol=0.1), ValueError,
     r"^select_rank: 'S' must contain only finite values; got 1 infinite"),
    ("select_rank negative", lambda: select_rank([3.0, 2.0, -1.0], tol=0.1), ValueError,
     r"^select_rank: 'S' must be non-negative; got 1 negative value\(s\), the first S\[2\] = -1.0"),
    ("select_rank unsorted", lambda: select_rank([1.0, 3.0, 2.0], energy=0.5), ValueError,
     r"^select_rank: 'S' must be in descending order; got S\[1\] = 3.0 > S\[0\] = 1.0"),
    ("select_rank complex", lambda: select_rank(np.array([2.0 + 1j, 1.0]), tol=0.1), TypeError,
     r"^select_rank: 'S' must be real; got dtype complex128"),
    ("select_rank 2-D", lambda: select_rank(np.ones((2, 2)), tol=0.1), ValueError,
     r"^select_rank: 'S' must be a 1-D array"),
    ("select_rank tol 0", lambda: select_rank([2.0, 1.0], tol=0.0), ValueError,
     r"^select_rank: 'tol' must be a number in \(0, 1\); got 0.0"),
    ("select_rank tol nan", lambda: select_rank([2.0, 1.0], tol=float("nan")), ValueError,
     r"^select_rank: 'tol' must be a number in \(0, 1\); got nan"),
    ("select_rank energy 1.5", lambda: select_rank([2.0, 1.0], energy=1.5), ValueError,
     r"^select_rank: 'energy' must be a number in \(0, 1\]; got 1.5"),
    ("select_rank both", lambda: select_rank([2.0, 1.0], tol=0.1, energy=0.9), ValueError,
     r"^select_rank: give at most one of 'tol', 'energy'"),
    ("select_rank none", lambda: select_rank([2.0, 1.0]), ValueError,
     r"^select_rank: give exactly one of 'tol', 'energy'; got none"),
    ("select_rank total below", lambda: select_rank([2.0, 1.0], tol=0.1, total=1.0), ValueError,
     r"^select_rank: 'total' must be at least Σ S² = 5"),
    ("select_rank total inf", lambda: select_rank([2.0, 1.0], tol=0.1, total=np.inf), ValueError,
     r"^select_rank: 'total' must be a number in \[0, inf\]; got inf"),
    # estimate_error: the approximation's factors
    ("estimate_error S broadcasts", lambda: estimate_error(A, (U[:, :3], S[:1], VH[:3]), rng=0), ValueError,
     r"^estimate_error: 'approx' factors must have shapes \(m, k\), \(k,\), \(k, n\) = \(30, 1\)"),
    ("estimate_error k mismatch", lambda: estimate_error(A, (U[:, :3], S[:4], VH[:4]), rng=0), ValueError,
     r"^estimate_error: 'approx' factors must have shapes"),
    ("estimate_error NaN S", lambda: estimate_error(A, (U[:, :2], np.array([np.nan, 1.0]), VH[:2]), rng=0),
     ValueError, r"^estimate_error: 'approx S' must contain only finite values; got 1 NaN"),
    ("estimate_error negative S", lambda: estimate_error(A, (U[:, :2], -S[:2], VH[:2]), rng=0), ValueError,
     r"^estimate_error: 'approx S' must be non-negative"),
    ("estimate_error NaN Q", lambda: estimate_error(A, np.full((30, 3), np.nan), rng=0), ValueError,
     r"^estimate_error: 'approx' must contain only finite values; got 90 NaN"),
    ("estimate_error two factors", lambda: estimate_error(A, (U, S), rng=0), ValueError,
     r"^estimate_error: 'approx' must be Q of shape \(m, l\) or three factors \(U, S, Vh\); got a tuple of 2"),
    ("estimate_error probes 0", lambda: estimate_error(A, U[:, :3], probes=0), ValueError,
     r"^estimate_error: 'probes' must be an int in \[1, inf\); got 0"),
    ("estimate_error confidence 1", lambda: estimate_error(A, U[:, :3], confidence=1.0), ValueError,
     r"^estimate_error: 'confidence' must be a number in \(0, 1\); got 1.0"),
    ("estimate_error confidence nan", lambda: estimate_error(A, U[:, :3], confidence=float("nan")), ValueError,
     r"^estimate_error: 'confidence' must be a number in \(0, 1\); got nan"),
    # StreamingSVD: each row once, finite, real when the sketch is
    ("stream rows twice", lambda: _stream((np.ones((4, 6)), slice(0, 4)), (np.ones((2, 6)), slice(3, 5))),
     ValueError, r"^StreamingSVD.update: 'rows' must be rows not fed before; got 1 row\(s\) already fed, the "
                 r"first row 3"),
    ("stream same block twice", lambda: _stream((np.ones((4, 6)), slice(0, 4)), (np.ones((4, 6)), slice(0, 4))),
     ValueError, r"^StreamingSVD.update: 'rows' must be rows not fed before; got 4 row\(s\)"),
    ("stream repeated index", lambda: _stream((np.ones((3, 6)), np.array([1, 5, 1])),), ValueError,
     r"^StreamingSVD.update: 'rows' must name each row once; got row 1 more than once"),
    ("stream complex block", lambda: _stream((np.ones((2, 6)) * 1j, slice(0, 2)),), TypeError,
     r"^StreamingSVD.update: 'block' must be real for sketches of dtype float64; got dtype complex128"),
    ("stream inf block", lambda: _stream((np.full((2, 6), np.inf), slice(0, 2)),), ValueError,
     r"^StreamingSVD.update: 'block' must contain only finite values; got 12 infinite"),
    ("stream columns", lambda: _stream((np.ones((2, 5)), slice(0, 2)),), ValueError,
     r"^StreamingSVD.update: 'block' must have n = 6 columns; got shape \(2, 5\)"),
    ("stream strings", lambda: _stream((np.array([["a"] * 6]), slice(0, 1)),), TypeError,
     r"^StreamingSVD.update: 'block' must be a numeric array; got dtype"),
    # rates: only real, non-negative, NaN-free terms
    ("analyze NaN", lambda: analyze([1.0, 0.5, np.nan, 0.125]), ValueError,
     r"^analyze: 'r' must not contain NaN; got 1 NaN value\(s\), the first r\[2\]"),
    ("analyze negative", lambda: analyze([1.0, 0.5, -0.25, 0.125]), ValueError,
     r"^analyze: 'r' must be non-negative; got 1 negative value\(s\), the first r\[2\] = -0.25"),
    ("analyze -inf", lambda: analyze(np.r_[0.5 ** np.arange(10.0), -np.inf]), ValueError,
     r"^analyze: 'r' must be non-negative; got 1 negative value\(s\), the first r\[10\] = -inf"),
    ("analyze complex", lambda: analyze(0.5 ** np.arange(10.0) + 0j), TypeError,
     r"^analyze: 'r' must be real \(errors, gaps or norms\); got dtype complex128"),
    ("analyze inf after decrease", lambda: analyze(np.r_[0.5 ** np.arange(20.0), np.inf]), ValueError,
     r"^analyze: 'r' must be finite; got r\[20\] = inf after terms read as linear"),
    # calculus: literals that do not survive as float64
    ("parse 1e999", lambda: parse("2*x + 1e999*y"), ParseError,
     r"^parse: the number '1e999' at position 6 overflows to inf"),
    ("parse 1e-999", lambda: parse("x*1e-999"), ParseError,
     r"^parse: the number '1e-999' at position 2 underflows to 0"),
    ("parse exponent", lambda: parse("X^1e400"), ParseError, r"^parse: the number '1e400' at position 2 overflows"),
    ("parse folded", lambda: parse("1e200*1e200*x"), ParseError,
     r"^parse: a constant must be a finite number; got inf .* \(at position 5 in '1e200\*1e200\*x'\)"),
    ("parse division by zero", lambda: parse("x/0"), ParseError, r"^parse: division by zero at position 1"),
]


@pytest.mark.parametrize(("fn", "exc", "match"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_input_is_one_clear_line(fn: Callable[[], Any], exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match) as info:
        fn()
    assert "\n" not in str(info.value)


def test_valid_edge_cases_still_answer() -> None:
    assert select_rank([2.0, 2.0, 0.0], tol=0.75) == 1  # ties and zeros are a valid spectrum
    assert select_rank(np.zeros(3), tol=0.1) == 1
    assert select_rank([2.0, 1.0], tol=0.1, total=5.0 * (1 - 1e-6)) == 2  # rounding below Σσ² is accepted
    est = estimate_error(A, [U[:, :3], S[:3], VH[:3]], rng=0)  # a list of factors, like a tuple
    assert est.fro == pytest.approx(estimate_error(A, (U[:, :3], S[:3], VH[:3]), rng=0).fro)
    assert analyze(np.append(0.5 ** np.arange(40.0), np.zeros(5))).kind == "linear"  # exact convergence: zeros
    assert analyze(np.append(2.0 ** np.arange(20.0), [np.inf, np.nan])).kind == "diverging"  # overflow, then NaN
    assert str(parse("1e300*x + 0e0*y + 0.000*z")) == "1e+300*x"
