"""The chunked, threaded NumPy kernels and the fused torch path against the plain formulas."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from rankwise import optim
from rankwise.optim import _kernels


@pytest.fixture
def plain(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[], Any]], Any]:
    """Run a thunk with the kernels switched off: every leaf takes the generic array-API formula."""

    def run(thunk: Callable[[], Any]) -> Any:
        with monkeypatch.context() as m:
            m.setattr(_kernels, "_numpy", lambda *args: None)
            m.setattr(_kernels, "_is_fused_torch", lambda *args: False)
            return thunk()

    return run


def _steps(tx: optim.Transform, x: Any, grads: list[Any]) -> list[Any]:
    state, out = tx.init(x), []
    for g in grads:
        u, state = tx.update(g, state, x)
        x = optim.apply_updates(x, u)
        out.append(x)
    return out


TRANSFORMS = {
    "sgd": lambda: optim.sgd(0.1),
    "momentum": lambda: optim.momentum(0.1, 0.9),
    "nesterov": lambda: optim.nesterov(0.05, 0.8),
    "rmsprop": lambda: optim.rmsprop(0.01),
    "adam": lambda: optim.adam(0.05),
    "adam (schedule)": lambda: optim.adam(optim.warmup_cosine(0.1, total=4, warmup=1)),
    "scale_by_adam": lambda: optim.scale_by_adam(),
    "adamw": lambda: optim.adamw(0.05, weight_decay=0.1),
}


@pytest.mark.parametrize("name", list(TRANSFORMS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [1, 1000, _kernels.PARALLEL_MIN + 12345])
def test_numpy_kernels_are_bitwise_the_plain_formula(name: str, dtype: Any, size: int, plain: Any,
                                                     rng: np.random.Generator) -> None:
    x = rng.standard_normal(size).astype(dtype)
    grads = [rng.standard_normal(size).astype(dtype) for _ in range(3)]
    ours = _steps(TRANSFORMS[name](), x, grads)
    ref = plain(lambda: _steps(TRANSFORMS[name](), x, grads))
    for a, b in zip(ours, ref, strict=True):
        assert a.dtype == dtype and a.shape == (size,)
        np.testing.assert_array_equal(a, b)


def test_chunking_and_threads_do_not_change_results(monkeypatch: pytest.MonkeyPatch,
                                                    rng: np.random.Generator) -> None:
    shape = (700, 1000)  # 2-D, not a multiple of the chunk
    g, m, v = rng.standard_normal(shape), rng.standard_normal(shape), rng.random(shape)
    ref = _kernels.adam(g, m, v, 0.1, 0.001, 3.0, 1e-8, True)
    for threads, chunk in ((1, 1 << 19), (2, 1 << 12), (3, 1 << 21), (4, 1 << 30)):
        monkeypatch.setattr(_kernels, "MAX_THREADS", threads)
        monkeypatch.setattr(_kernels, "CHUNK_BYTES", chunk)
        out = _kernels.adam(g, m, v, 0.1, 0.001, 3.0, 1e-8, True)
        for a, b in zip(out, ref, strict=True):
            assert a.shape == shape and a.flags.c_contiguous
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(g, g.copy())  # nothing given is modified


def test_inputs_the_kernels_do_not_take_fall_back(rng: np.random.Generator) -> None:
    a = rng.standard_normal((6, 4))
    for args in ((a.T, a.T.copy()), (a, a.astype(np.float32)), (np.arange(24).reshape(6, 4), a)):
        assert _kernels._numpy(lambda *x: None, 1, args) is None
    v = np.abs(a.T)
    np.testing.assert_array_equal(_kernels.rms(a.T, v, 0.5, 0.0)[0], v + 0.5 * (a.T**2 - v))  # Fortran order
    assert all(x.shape == (0, 3) for x in _kernels.adam(*(np.empty((0, 3)),) * 3, 0.1, 0.1, 1.0, 1.0, True))


def test_kernels_leave_their_inputs_alone(rng: np.random.Generator) -> None:
    g, m, v = (rng.standard_normal(_kernels.PARALLEL_MIN + 1) for _ in range(3))
    v = np.abs(v)
    copies = [a.copy() for a in (g, m, v)]
    mu, nu, u = _kernels.adam(g, m, v, 0.1, 0.001, 1.0, 1e-8, True)
    for a, c in zip((g, m, v), copies, strict=True):
        np.testing.assert_array_equal(a, c)
    assert not any(np.shares_memory(x, y) for x in (mu, nu, u) for y in (g, m, v))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("descend", [True, False])
def test_fused_torch_adam_matches_the_formula(dtype: str, descend: bool, plain: Any,
                                              rng: np.random.Generator) -> None:
    torch = pytest.importorskip("torch")
    tdt = getattr(torch, dtype)
    g, m = (torch.tensor(rng.standard_normal(500), dtype=tdt) for _ in range(2))
    v = torch.tensor(rng.random(500), dtype=tdt)
    ours = _kernels.adam(g, m, v, 0.1, 0.001, 2.5, 1e-8, descend)
    ref = plain(lambda: _kernels.adam(g, m, v, 0.1, 0.001, 2.5, 1e-8, descend))
    tol = 1e-6 if dtype == "float32" else 1e-14  # lerp and addcmul round differently (fma), not worse
    for a, b in zip(ours, ref, strict=True):
        assert a.dtype == tdt
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=tol, atol=tol * float(b.abs().max()))
    assert (ours[2] < 0).equal(ours[0] > 0) == descend
