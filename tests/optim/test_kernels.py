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


# --------------------------------------------------------------------------- step_inplace


def _inplace_steps(tx: optim.Transform, x: Any, grads: list[Any]) -> tuple[list[Any], Any]:
    x = x.copy() if isinstance(x, np.ndarray) else {k: v.copy() for k, v in x.items()}
    state, out = tx.init(x), []
    for g in grads:
        state = optim.step_inplace(tx, g, state, x)
        out.append(x.copy() if isinstance(x, np.ndarray) else {k: v.copy() for k, v in x.items()})
    return out, state


@pytest.mark.parametrize("name", list(TRANSFORMS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [1, 1000, _kernels.PARALLEL_MIN + 12345])
def test_step_inplace_is_bitwise_update_then_apply(name: str, dtype: Any, size: int, rng: np.random.Generator
                                                   ) -> None:
    x = rng.standard_normal(size).astype(dtype)
    grads = [rng.standard_normal(size).astype(dtype) for _ in range(3)]
    ours, state = _inplace_steps(TRANSFORMS[name](), x, grads)
    ref = _steps(TRANSFORMS[name](), x, grads)
    eps = np.finfo(dtype).eps
    for k, (a, b) in enumerate(zip(ours, ref, strict=True)):
        assert a.dtype == dtype
        if name == "sgd":  # BLAS axpy may fuse −η·g into the sum: one rounding per step instead of two
            np.testing.assert_allclose(a, b, rtol=0, atol=(k + 1) * eps * float(np.max(np.abs(b))))
        else:
            np.testing.assert_array_equal(a, b)
    tx = TRANSFORMS[name]()  # the state, too, is the pure run's
    pure_state, y = tx.init(x), x
    for g in grads:
        u, pure_state = tx.update(g, pure_state, y)
        y = optim.apply_updates(y, u)
    for a, b in zip(_leaves(state), _leaves(pure_state), strict=True):
        np.testing.assert_array_equal(a, b)


def _leaves(state: Any) -> list[Any]:
    if isinstance(state, tuple):
        return [leaf for s in state for leaf in _leaves(s)]
    return [state]


def test_step_inplace_writes_into_params_and_the_state(rng: np.random.Generator) -> None:
    x = {"w": rng.standard_normal((300, 7)), "b": rng.standard_normal(7)}
    tx = optim.adam(0.01)
    state = tx.init(x)
    ids = {k: (id(x[k]), id(state.mu[k]), id(state.nu[k])) for k in x}
    g = {k: rng.standard_normal(v.shape) for k, v in x.items()}
    ref = optim.apply_updates(x, tx.update(g, state, x)[0])
    new = optim.step_inplace(tx, g, state, x)
    for k in x:
        np.testing.assert_array_equal(x[k], ref[k])
        assert ids[k] == (id(x[k]), id(new.mu[k]), id(new.nu[k]))  # the same arrays, overwritten
    assert new.step == 1


def test_step_inplace_chunking_threads_and_overlap(monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
                                                   ) -> None:
    shape = (700, 1000)
    x0, g = rng.standard_normal(shape), rng.standard_normal(shape)
    tx = optim.adam(0.1)
    ref = optim.apply_updates(x0, tx.update(g, tx.init(x0), x0)[0])
    for threads, chunk in ((1, 1 << 19), (2, 1 << 12), (4, 1 << 30)):
        monkeypatch.setattr(_kernels, "MAX_THREADS", threads)
        monkeypatch.setattr(_kernels, "CHUNK_BYTES", chunk)
        x = x0.copy()
        optim.step_inplace(tx, g, tx.init(x), x)
        np.testing.assert_array_equal(x, ref)
    x = x0.copy()  # the gradient is the parameter array itself: the kernel must not read what it wrote
    ref = optim.apply_updates(x0, tx.update(x0, tx.init(x0), x0)[0])
    optim.step_inplace(tx, x, tx.init(x), x)
    np.testing.assert_array_equal(x, ref)
    xf = np.asfortranarray(x0)  # Fortran order: the generic formula, still in place
    optim.step_inplace(tx, g, tx.init(xf), xf)
    np.testing.assert_array_equal(xf, optim.apply_updates(x0, tx.update(g, tx.init(x0), x0)[0]))


@pytest.mark.parametrize("name", ["sgd", "adam", "momentum"])
def test_step_inplace_on_torch_matches_the_pure_run(name: str, rng: np.random.Generator) -> None:
    torch = pytest.importorskip("torch")
    x0 = torch.tensor(rng.standard_normal(2000), dtype=torch.float32)
    grads = [torch.tensor(rng.standard_normal(2000), dtype=torch.float32) for _ in range(4)]
    p = torch.nn.Parameter(x0.clone())  # requires grad: the step must run under no_grad
    tx = TRANSFORMS[name]()
    state, y, pure = tx.init(p.detach()), x0, tx.init(x0)
    for g in grads:
        state = optim.step_inplace(tx, g, state, p)
        u, pure = tx.update(g, pure, y)
        y = optim.apply_updates(y, u)
        torch.testing.assert_close(p.detach(), y, rtol=1e-6, atol=1e-6)
    assert p.requires_grad and p.grad is None


def test_step_inplace_bad_input(rng: np.random.Generator) -> None:
    tx = optim.adam(0.1)
    x = rng.standard_normal(5)
    with pytest.raises(TypeError, match="'transform' must be a Transform"):
        optim.step_inplace(lambda g: g, x, None, x)  # type: ignore[arg-type]
    ro = x.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="'params' must be writeable; got a read-only array"):
        optim.step_inplace(tx, x, tx.init(ro), ro)
    with pytest.raises(ValueError, match=r"'grads' must have the shape of 'params' \(5,\); got \(4,\)"):
        optim.step_inplace(tx, x[:4], tx.init(x), x)
    with pytest.raises(ValueError, match=r"'grads' must have one array per parameter array \(2\); got 1"):
        optim.step_inplace(tx, [x], tx.init([x, x]), [x, x.copy()])
    with pytest.raises(TypeError, match=r"'params' \(leaf 1\) must be NumPy arrays or torch tensors"):
        optim.step_inplace(tx, [x, 1.0], tx.init([x, x]), [x, 1.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_axpy_into_is_one_pass_in_place(dtype: Any, rng: np.random.Generator) -> None:
    p = (rng.standard_normal((300, 40)) + (1j * rng.standard_normal((300, 40)) if dtype in (np.complex64, np.complex128)
                                            else 0)).astype(dtype)
    g = p[::-1].copy()
    exact = p.astype(np.complex128) - 0.37 * g.astype(np.complex128)
    before = p.__array_interface__["data"][0]
    assert _kernels.axpy_into(p, g, -0.37)
    assert p.__array_interface__["data"][0] == before and p.dtype == dtype
    np.testing.assert_allclose(p, exact, rtol=0, atol=2 * np.finfo(dtype).eps * float(np.max(np.abs(exact))))
    h = np.zeros(4, dtype=np.float16)  # no BLAS for it, nor for mixed dtypes, strided or read-only p
    ro = np.zeros(4)
    ro.flags.writeable = False
    for args in ((h, h), (np.zeros(4), np.zeros(4, np.float32)), (np.zeros(8)[::2], np.zeros(4)), (ro, np.zeros(4))):
        assert not _kernels.axpy_into(args[0], args[1], 1.0)
