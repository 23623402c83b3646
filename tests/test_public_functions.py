"""Conformance table (house rule R13): every public matrix function against the same edge cases.

Later issues add their entry points to ``TABLE``: each entry names the function, builds a
call from the matrix argument, says whether it takes a ``rank`` and how to read the output
arrays (so dtype, library and device preservation can be checked).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import rankwise


@dataclass(frozen=True)
class Entry:
    name: str
    call: Callable[..., Any]  # call(A, **kwargs)
    outputs: Callable[[Any], list[Any]]  # arrays in the result
    takes_rank: bool = False


def _rhs(A: Any) -> Any:
    """A right-hand side for ``A`` of its own library and dtype (ones when ``A`` is malformed)."""
    return A[:, 0] if A.ndim == 2 and A.shape[1] > 0 else np.ones(A.shape[0])


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
    Entry("cur", lambda A, **kw: rankwise.cur(A, kw.get("rank", 2), rng=0), lambda r: [r.C, r.U, r.R],
          takes_rank=True),
]
IDS = [e.name for e in TABLE]


@pytest.mark.parametrize("entry", TABLE, ids=IDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_input_is_refused(entry: Entry, bad: float) -> None:
    A = np.ones((6, 4))
    A[2, 3] = bad
    with pytest.raises(ValueError, match=rf"^{entry.name}: 'A' must contain only finite values; got 1 "):
        entry.call(A)


@pytest.mark.parametrize("entry", TABLE, ids=IDS)
@pytest.mark.parametrize(("shape", "msg"), [((5,), "must be a 2-D array; got a 1-D"),
                                            ((2, 3, 4), "must be a 2-D array; got a 3-D"),
                                            ((0, 4), "must be non-empty"), ((4, 0), "must be non-empty")])
def test_bad_shapes_are_refused(entry: Entry, shape: tuple[int, ...], msg: str) -> None:
    with pytest.raises(ValueError, match=rf"^{entry.name}: 'A' {msg}"):
        entry.call(np.ones(shape))


@pytest.mark.parametrize("entry", [e for e in TABLE if e.takes_rank], ids=[e.name for e in TABLE if e.takes_rank])
@pytest.mark.parametrize("rank", [0, 5, -1])
def test_rank_out_of_range(entry: Entry, rank: int) -> None:
    with pytest.raises(ValueError, match=rf"'rank' must be an int in \[1, min\(m, n\)\] = \[1, 4\]; got {rank}"):
        entry.call(np.ones((6, 4)), rank=rank)


@pytest.mark.parametrize("entry", TABLE, ids=IDS)
def test_wrong_dtype_is_refused(entry: Entry) -> None:
    with pytest.raises(TypeError, match="'A' must be a numeric array; got dtype"):
        entry.call(np.array([["a", "b"], ["c", "d"]]))


@pytest.mark.parametrize("entry", TABLE, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_dtype_is_preserved(entry: Entry, dtype: type) -> None:
    A = np.random.default_rng(0).standard_normal((7, 5)).astype(dtype)
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


def test_every_public_function_is_in_the_table() -> None:
    from rankwise import as_generator, chain_dot, chain_plan, low_rank_matrix, select_rank

    # chain_plan takes shapes, chain_dot any number of 1-D/2-D operands: their own conformance
    # tests are in tests/linalg/test_chain.py; estimate_error takes a matrix and its approximation.
    not_matrix_functions = {as_generator, low_rank_matrix, select_rank, chain_plan, chain_dot,
                            rankwise.estimate_error,
                            # two matrices A, B: their conformance tests are in tests/linalg/test_matmul.py
                            rankwise.cr_matmul, rankwise.cr_expected_error}
    functions = {getattr(rankwise, n) for n in rankwise.__all__
                 if callable(getattr(rankwise, n)) and not isinstance(getattr(rankwise, n), type)}
    assert {f.__name__ for f in functions - not_matrix_functions} <= set(IDS)
