from __future__ import annotations

import numpy as np
import pytest

from rankwise import _array


@pytest.mark.parametrize(("dtype", "expected"), [
    (np.float32, np.float32), (np.float64, np.float64), (np.complex64, np.complex64),
    (np.complex128, np.complex128), (np.int32, np.float64), (np.int64, np.float64),
    (np.bool_, np.float64), (np.float16, np.float32),
])
def test_dtype_rules_numpy(dtype: type, expected: type) -> None:
    x = np.ones((2, 2), dtype=dtype)
    assert _array.as_float(x).dtype == expected


def test_as_float_does_not_copy_when_dtype_is_kept() -> None:
    x = np.ones((3, 3))
    assert _array.as_float(x) is x


def test_real_dtype_and_eps() -> None:
    assert _array.real_dtype(np.ones(2, np.complex64)) == np.float32
    assert _array.eps(np.ones(2, np.float32)) == np.finfo(np.float32).eps


def test_conj_transpose_complex() -> None:
    A = np.array([[1 + 2j, 3], [0, 1j]])
    np.testing.assert_array_equal(_array.conj_transpose(A), A.conj().T)


def test_torch_rules() -> None:
    torch = pytest.importorskip("torch")
    for dt, want in [(torch.float32, torch.float32), (torch.int64, torch.float64),
                     (torch.float16, torch.float32), (torch.bfloat16, torch.float32),
                     (torch.complex64, torch.complex64)]:
        t = torch.ones(2, 2, dtype=dt)
        assert _array.as_float(t).dtype == want
    t = torch.arange(4.0).reshape(2, 2)
    assert _array.is_torch(t) and not _array.is_numpy(t)
    assert isinstance(_array.to_numpy(t), np.ndarray)
    back = _array.like(np.eye(2), t)
    assert back.dtype == torch.float32 and back.device == t.device


@pytest.mark.filterwarnings("ignore:ComplexHalf support is experimental")
def test_narrow_and_extended_dtypes() -> None:
    torch = pytest.importorskip("torch")
    for dt, want in [(torch.float8_e4m3fn, torch.float32), (torch.float8_e5m2, torch.float32),
                     (torch.complex32, torch.complex64)]:
        assert _array.as_float(torch.zeros(2, 2, dtype=dt)).dtype == want
    assert _array.is_extended(np.clongdouble) and not _array.is_extended(np.complex128)
    assert not _array.is_extended(torch.float64)
    if np.finfo(np.longdouble).bits > 64:
        with pytest.raises(TypeError, match="extended precision float128 has no LAPACK type; supported: float32"):
            _array.as_float(np.ones(2, dtype=np.longdouble))
