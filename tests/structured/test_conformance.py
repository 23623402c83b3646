"""Conformance of the structured public functions (house rule R13) beyond the matrix table.

Each entry names a function and builds a valid call from a dict of array arguments; the
tests then spoil one array argument at a time (NaN, strings, wrong rank) and check that
the error names it, and run the call on torch to check library and dtype are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from rankwise import structured as S


@dataclass(frozen=True)
class Entry:
    name: str
    call: Callable[[dict[str, Any]], Any]
    arrays: dict[str, np.ndarray]


_g = np.random.default_rng(0)
_A, _B, _ = S.hippo("legs", 4)
_diag = np.array([-1.0, -0.5, -2.0, -0.1])
TABLE = [
    Entry("monarch_project", lambda a: S.monarch_project(a["A"]), {"A": _g.standard_normal((8, 12))}),
    Entry("Monarch", lambda a: S.Monarch(a["L"], a["R"]), {"L": np.ones((2, 3, 2)), "R": np.ones((2, 2, 5))}),
    Entry("discretize", lambda a: S.discretize(a["A"], a["B"], a["C"], 0.1).A, {"A": _A, "B": _B, "C": _B}),
    Entry("ssm_kernel", lambda a: S.ssm_kernel(a["A"], a["B"], a["C"], 0.1, 16), {"A": _A, "B": _B, "C": _B}),
    Entry("ssm_kernel", lambda a: S.ssm_kernel(a["A"], a["B"], a["C"], 0.1, 16, method="diagonal"),
          {"A": _diag, "B": _B, "C": _B}),
    Entry("ssm_apply", lambda a: S.ssm_apply(a["u"], a["kernel"]), {"u": _g.standard_normal(20),
                                                                   "kernel": _g.standard_normal(5)}),
    Entry("rope", lambda a: S.rope(a["x"], a["positions"]), {"x": _g.standard_normal((3, 4)),
                                                            "positions": np.arange(3.0)}),
    Entry("rope_exp", lambda a: S.rope_exp(a["B"], a["positions"]), {"B": S.rope_generator(4),
                                                                     "positions": np.arange(3.0)}),
    Entry("rope_matrix", lambda a: S.rope_matrix(a["positions"], 4), {"positions": np.arange(3.0)}),
]
CASES = [(e, name) for e in TABLE for name in e.arrays]
IDS = [f"{e.name}-{name}" for e, name in CASES]


def _first_array(out: Any) -> Any:
    return out.L if isinstance(out, S.Monarch) else out


@pytest.mark.parametrize(("entry", "arg"), CASES, ids=IDS)
def test_nonfinite_argument_is_named(entry: Entry, arg: str) -> None:
    bad = dict(entry.arrays)
    x = bad[arg].astype(float).copy()
    x.flat[0] = np.nan
    bad[arg] = x
    with pytest.raises(ValueError, match=rf"^{entry.name}: '{arg}' must contain only finite values; got 1 NaN"):
        entry.call(bad)


@pytest.mark.parametrize(("entry", "arg"), CASES, ids=IDS)
def test_non_numeric_argument_is_named(entry: Entry, arg: str) -> None:
    bad = dict(entry.arrays)
    bad[arg] = np.full(bad[arg].shape, "a")
    with pytest.raises(TypeError, match=rf"^{entry.name}: '{arg}' must be a numeric array; got dtype"):
        entry.call(bad)


@pytest.mark.parametrize(("entry", "arg"), CASES, ids=IDS)
def test_empty_argument_is_named(entry: Entry, arg: str) -> None:
    bad = dict(entry.arrays)
    bad[arg] = np.ones((*bad[arg].shape[:-1], 0))
    with pytest.raises(ValueError, match=rf"^{entry.name}: '{arg}' must be"):
        entry.call(bad)


@pytest.mark.parametrize("entry", TABLE, ids=[e.name for e in TABLE])
def test_torch_in_torch_out(entry: Entry) -> None:
    torch = pytest.importorskip("torch")
    ref = _first_array(entry.call(entry.arrays))
    out = _first_array(entry.call({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in entry.arrays.items()}))
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("entry", TABLE, ids=[e.name for e in TABLE])
def test_integer_input_gives_float64(entry: Entry) -> None:
    ints = {k: np.rint(v).astype(np.int64) for k, v in entry.arrays.items()}
    out = _first_array(entry.call(ints))
    assert out.dtype in (np.float64, np.complex128)


def test_mixed_libraries_are_refused() -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"^ssm_kernel: 'A' and 'B' must be arrays of the same library"):
        S.ssm_kernel(_A, torch.from_numpy(_B), _B, 0.1, 8)
    with pytest.raises(TypeError, match=r"^ssm_apply: 'u' and 'kernel' must be arrays of the same library"):
        S.ssm_apply(np.ones(8), torch.ones(3, dtype=torch.float64))
