"""S4 state-space kernels (SPEC §1.7): HiPPO, NPLR form, discretisation, naive vs DPLR vs diagonal kernels."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from rankwise.structured import (
    DPLR,
    DiscreteSSM,
    discretize,
    hippo,
    hippo_nplr,
    ssm_apply,
    ssm_kernel,
)


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def power_kernel(Ab: np.ndarray, Bb: np.ndarray, C: np.ndarray, L: int) -> np.ndarray:
    """The definition, one power at a time."""
    out, v = [], Bb
    for _ in range(L):
        out.append(C @ v)
        v = Ab @ v
    return np.array(out)


@pytest.mark.parametrize("N", [1, 2, 5, 16])
def test_legs_entries_follow_the_formula(N: int) -> None:
    A, B, P = hippo("legs", N)
    for n in range(N):
        assert B[n] == pytest.approx(np.sqrt(2 * n + 1))
        for k in range(N):
            want = -np.sqrt(2 * n + 1) * np.sqrt(2 * k + 1) if n > k else (-(n + 1) if n == k else 0.0)
            assert A[n, k] == pytest.approx(want, rel=1e-15)


@pytest.mark.parametrize("N", [4, 33, 64])
def test_legs_is_normal_plus_low_rank(N: int) -> None:
    A, _, P = hippo("legs", N)
    S = A + P @ P.T + 0.5 * np.eye(N)
    np.testing.assert_allclose(S, -S.T, atol=1e-12 * N)  # A + PPᵀ = −½I + skew-symmetric
    assert np.abs(S).max() > 1  # and the skew part is not trivial


@pytest.mark.parametrize("N", [4, 32, 64])
def test_nplr_is_a_unitary_diagonalisation(N: int) -> None:
    A, B, _ = hippo("legs", N)
    Lam, P, Bt, V = hippo_nplr("legs", N)
    np.testing.assert_allclose(V.conj().T @ V, np.eye(N), atol=1e-12)
    np.testing.assert_allclose(Lam.real, -0.5, atol=1e-12)
    np.testing.assert_allclose(V @ (np.diag(Lam) - P @ P.conj().T) @ V.conj().T, A, atol=1e-11 * N)
    np.testing.assert_allclose(V @ Bt, B, atol=1e-12 * N)


@pytest.mark.parametrize("N", [8, 16, 64])
@pytest.mark.parametrize("L", [64, 256, 1024])
def test_dplr_kernel_equals_naive_kernel(N: int, L: int) -> None:
    A, B, _ = hippo("legs", N)
    nplr = hippo_nplr("legs", N)
    C = np.random.default_rng(N + L).standard_normal(N)
    for dt in (1e-3, 1e-2, 1e-1):
        K = ssm_kernel(A, B, C, dt, L, method="naive")
        Kd = ssm_kernel(nplr.dplr, nplr.B, C @ nplr.V, dt, L, method="dplr")
        assert rel(Kd.real, K) <= 1e-10
        assert np.linalg.norm(Kd.imag) <= 1e-10 * np.linalg.norm(K)


@pytest.mark.parametrize("L", [1, 2, 7, 64, 100])
def test_dplr_kernel_random_rank_two_and_odd_lengths(L: int) -> None:
    g = np.random.default_rng(L)
    N, r = 12, 2
    lam = -g.uniform(0.1, 1, N) + 1j * g.standard_normal(N)
    P, Q = (g.standard_normal((N, r)) + 1j * g.standard_normal((N, r)) for _ in range(2))
    P, Q = 0.3 * P, 0.3 * Q
    B, C = (g.standard_normal(N) + 1j * g.standard_normal(N) for _ in range(2))
    Kd = ssm_kernel(DPLR(lam, P, Q), B, C, 0.05, L, method="dplr")
    Ad = np.diag(lam) - P @ Q.conj().T
    I = np.eye(N)
    Ab = np.linalg.solve(I - 0.025 * Ad, I + 0.025 * Ad)
    Bb = np.linalg.solve(I - 0.025 * Ad, 0.05 * B)
    assert rel(Kd, power_kernel(Ab, Bb, C, L)) <= 1e-10
    assert rel(ssm_kernel(DPLR(lam, P, Q), B, C, 0.05, L), Kd) <= 1e-10  # naive on the DPLR form


@pytest.mark.parametrize("disc", ["bilinear", "zoh"])
@pytest.mark.parametrize("kind", ["real", "complex"])
def test_diagonal_kernel_equals_naive_kernel(disc: str, kind: str) -> None:
    g = np.random.default_rng(5)
    N, L = 16, 300
    lam = -g.uniform(0.1, 2, N) + (1j * g.uniform(0, 5, N) if kind == "complex" else 0)
    B, C = g.standard_normal(N), g.standard_normal(N)
    K = ssm_kernel(lam, B, C, 0.05, L, method="diagonal", discretization=disc)
    Kn = ssm_kernel(np.diag(lam), B, C, 0.05, L, method="naive", discretization=disc)
    assert rel(K, Kn) <= 1e-11
    assert np.iscomplexobj(K) == (kind == "complex")


def test_naive_kernel_is_the_power_series() -> None:
    A, B, _ = hippo("legs", 10)
    C = np.arange(10.0)
    sys = discretize(A, B, C, 0.01)
    for L in (1, 5, 33):
        assert rel(ssm_kernel(A, B, C, 0.01, L), power_kernel(sys.A, sys.B, C, L)) <= 1e-12


def test_bilinear_and_zoh_formulas() -> None:
    A, B, _ = hippo("legs", 6)
    C, dt, I = np.ones(6), 0.1, np.eye(6)
    Ab, Bb, _ = discretize(A, B, C, dt)
    np.testing.assert_allclose(Ab, np.linalg.inv(I - dt / 2 * A) @ (I + dt / 2 * A), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(Bb, np.linalg.inv(I - dt / 2 * A) @ (dt * B), rtol=1e-12)
    Az, Bz, _ = discretize(A, B, C, dt, method="zoh")
    E = scipy.linalg.expm(dt * A)
    np.testing.assert_allclose(Az, E, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(Bz, np.linalg.solve(A, (E - I) @ B), rtol=1e-10)  # A⁻¹(e^{ΔA} − I)B
    # diagonal ZOH, including a zero eigenvalue (B̄ = ΔB there)
    a, b, _ = discretize(np.array([0.0, -1.0]), np.array([2.0, 1.0]), np.ones(2), 0.5, method="zoh")
    np.testing.assert_allclose(a, np.exp([0.0, -0.5]))
    np.testing.assert_allclose(b, [1.0, 1 - np.exp(-0.5)])


@pytest.mark.parametrize("form", ["dense", "diagonal"])
def test_convolution_equals_recurrence(form: str) -> None:
    g = np.random.default_rng(6)
    A, B, _ = hippo("legs", 8)
    A = A if form == "dense" else -g.uniform(0.5, 2, 8) + 1j * g.standard_normal(8)
    C = g.standard_normal(8)
    u = g.standard_normal((3, 2, 200))
    for disc in ("bilinear", "zoh"):
        sys = discretize(A, B, C, 0.05, method=disc)
        K = ssm_kernel(A, B, C, 0.05, 200, discretization=disc)
        y_conv, y_rec = ssm_apply(u, K), ssm_apply(u, sys)
        assert y_conv.shape == u.shape
        assert rel(y_conv, y_rec) <= 1e-11


def test_fft_convolution_is_causal_convolution() -> None:
    g = np.random.default_rng(7)
    u, K = g.standard_normal(50), g.standard_normal(13)
    np.testing.assert_allclose(ssm_apply(u, K), np.convolve(u, K)[:50], atol=1e-12)
    Kb = g.standard_normal((4, 1, 13))  # leading axes broadcast
    ub = g.standard_normal((3, 50))
    want = np.array([[np.convolve(ub[j], Kb[i, 0])[:50] for j in range(3)] for i in range(4)])
    np.testing.assert_allclose(ssm_apply(ub, Kb), want, atol=1e-12)


def test_torch_matches_numpy() -> None:
    torch = pytest.importorskip("torch")
    A, B, _ = hippo("legs", 16)
    nplr = hippo_nplr("legs", 16)
    C = np.linspace(-1, 1, 16)
    ref = ssm_kernel(A, B, C, 0.01, 128)
    Kt = ssm_kernel(*(torch.from_numpy(v) for v in (A, B, C)), 0.01, 128)
    dp = DPLR(*(torch.from_numpy(v) for v in nplr.dplr))
    Kd = ssm_kernel(dp, torch.from_numpy(nplr.B), torch.from_numpy(C @ nplr.V), 0.01, 128, method="dplr")
    assert isinstance(Kt, torch.Tensor) and isinstance(Kd, torch.Tensor)
    assert rel(Kt.numpy(), ref) <= 1e-12 and rel(Kd.real.numpy(), ref) <= 1e-10
    Kz = ssm_kernel(*(torch.from_numpy(v) for v in (A, B, C)), 0.01, 128, discretization="zoh")
    assert rel(Kz.numpy(), ssm_kernel(A, B, C, 0.01, 128, discretization="zoh")) <= 1e-12
    u = torch.from_numpy(np.random.default_rng(8).standard_normal(128))
    y = ssm_apply(u, Kt)
    assert isinstance(y, torch.Tensor)
    assert rel(y.numpy(), ssm_apply(u.numpy(), ref)) <= 1e-12


def test_float32_stays_float32() -> None:
    lam = np.array([-1.0, -0.5], dtype=np.float32)
    K = ssm_kernel(lam, np.ones(2, np.float32), np.ones(2, np.float32), 0.1, 16, method="diagonal")
    assert K.dtype == np.float32
    assert ssm_apply(np.ones(16, np.float32), K).dtype == np.float32


def test_errors_name_the_argument() -> None:
    A, B, _ = hippo("legs", 4)
    nplr = hippo_nplr("legs", 4)
    C = np.ones(4)
    with pytest.raises(ValueError, match=r"^ssm_kernel: 'A' must be dplr for method 'dplr'; got a dense A"):
        ssm_kernel(A, B, C, 0.1, 8, method="dplr")
    with pytest.raises(ValueError, match=r"'discretization' must be bilinear for method 'dplr'; got 'zoh'"):
        ssm_kernel(nplr.dplr, nplr.B, C, 0.1, 8, method="dplr", discretization="zoh")
    with pytest.raises(ValueError, match=r"^ssm_kernel: unknown method 'fast'; valid: diagonal, dplr, naive"):
        ssm_kernel(A, B, C, 0.1, 8, method="fast")
    with pytest.raises(ValueError, match=r"^ssm_kernel: 'B' must have shape \(4,\) to match A; got \(3,\)"):
        ssm_kernel(A, B[:3], C, 0.1, 8)
    with pytest.raises(ValueError, match=r"^ssm_kernel: 'dt' must be a number in \(0, inf\]; got 0.0"):
        ssm_kernel(A, B, C, 0.0, 8)
    with pytest.raises(ValueError, match=r"^ssm_kernel: 'L' must be an int in \[1, inf\); got 0"):
        ssm_kernel(A, B, C, 0.1, 0)
    with pytest.raises(ValueError, match=r"^discretize: 'A' must be a square \(N, N\) matrix"):
        discretize(np.ones((4, 3)), B, C, 0.1)
    with pytest.raises(ValueError, match=r"'A.P' and 'A.Q' must both have shape \(N, r\)"):
        ssm_kernel(DPLR(nplr.Lambda, nplr.P, nplr.P[:2]), nplr.B, C, 0.1, 8, method="dplr")
    with pytest.raises(ValueError, match=r"^ssm_kernel: 'C' must contain only finite values; got 1 NaN"):
        ssm_kernel(A, B, np.array([1.0, np.nan, 0, 0]), 0.1, 8)
    with pytest.raises(ValueError, match=r"^ssm_apply: the leading axes of 'kernel' must broadcast"):
        ssm_apply(np.ones((3, 10)), np.ones((2, 5)))
    with pytest.raises(ValueError, match=r"^hippo: unknown kind 'legt'; valid: legs"):
        hippo("legt", 4)
    with pytest.raises(ValueError, match=r"^hippo: 'N' must be an int in \[1, inf\); got 0"):
        hippo("legs", 0)
    with pytest.raises(ValueError, match=r"^ssm_apply: 'u' must be non-empty"):
        ssm_apply(np.ones(0), DiscreteSSM(np.ones(2), np.ones(2), np.ones(2)))


# ------------------------------------------------------------------ conjugate pairs, Vandermonde, chunking


def naive_ref(N: int, C: np.ndarray, dt: float, L: int) -> np.ndarray:
    A, B, _ = hippo("legs", N)
    return ssm_kernel(A, B, C, dt, L)


@pytest.mark.parametrize("N", [1, 2, 7, 16, 64])
@pytest.mark.parametrize("L", [1, 2, 63, 64, 1000])
def test_conjugate_pair_kernel_is_real_and_equals_naive(N: int, L: int) -> None:
    pairs = hippo_nplr("legs", N).pairs
    assert pairs.Lambda.shape == ((N + 1) // 2,) and pairs.V.shape == (N, (N + 1) // 2)
    C = np.random.default_rng(N * L).standard_normal(N)
    for dt in (1e-3, 1e-2, 1e-1):
        K = naive_ref(N, C, dt, L)
        Kp = ssm_kernel(pairs.dplr, pairs.B, C @ pairs.V, dt, L, method="dplr")
        assert Kp.dtype == np.float64 and Kp.shape == (L,)
        assert rel(Kp, K) <= 1e-10
        Kn = ssm_kernel(pairs.dplr, pairs.B, C @ pairs.V, dt, L)  # naive on the pair form: real coordinates
        assert Kn.dtype == np.float64 and rel(Kn, K) <= 1e-10


def test_pairs_half_the_state_and_discretize_in_real_coordinates() -> None:
    N, dt = 9, 0.05
    A, B, _ = hippo("legs", N)
    pairs = hippo_nplr("legs", N).pairs
    C = np.linspace(-1, 1, N)
    sys_p = discretize(pairs.dplr, pairs.B, C @ pairs.V, dt)
    assert sys_p.A.shape == (2 * len(pairs.Lambda),) * 2 and sys_p.A.dtype == np.float64
    assert rel(power_kernel(sys_p.A, sys_p.B, sys_p.C, 40), power_kernel(*discretize(A, B, C, dt), 40)) <= 1e-11
    # x = 2 Re(V x̃): the pairs' V rebuilds the original state from the half-state
    x_half = np.random.default_rng(0).standard_normal(len(pairs.Lambda)) * (1 + 1j)
    full = np.concatenate([x_half, x_half.conj()])
    V_full = np.concatenate([pairs.V, pairs.V.conj()], axis=1)
    np.testing.assert_allclose(V_full @ full, 2 * (pairs.V @ x_half).real, atol=1e-12)


@pytest.mark.parametrize("block", [1, 7, 64, None])
def test_kernels_chunked_over_L_equal_unchunked(block: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    from rankwise.structured import ssm

    N, L, dt = 16, 777, 0.02
    nplr = hippo_nplr("legs", N)
    C = np.random.default_rng(1).standard_normal(N)
    lam = -np.linspace(0.1, 2, N) + 1j * np.linspace(0, 40, N)
    args = [(nplr.pairs.dplr, nplr.pairs.B, C @ nplr.pairs.V, "dplr"), (nplr.dplr, nplr.B, C @ nplr.V, "dplr"),
            (lam, np.ones(N), C, "diagonal")]
    monkeypatch.setattr(ssm, "LAG_BLOCK", L)  # one block: the whole (N, L) Vandermonde matrix at once
    whole = [ssm_kernel(A, B, Cv, dt, L, method=m) for A, B, Cv, m in args]
    monkeypatch.setattr(ssm, "LAG_BLOCK", block)
    for (A, B, Cv, m), ref in zip(args, whole, strict=True):
        assert rel(ssm_kernel(A, B, Cv, dt, L, method=m), ref) <= 1e-13


@pytest.mark.parametrize("disc", ["bilinear", "zoh"])
@pytest.mark.parametrize("L", [1, 5, 4096])
def test_s4d_vandermonde_kernel_equals_powers_of_a_diagonal(disc: str, L: int) -> None:
    g = np.random.default_rng(L)
    N, dt = 32, 0.01
    lam = -g.uniform(0.05, 1, N) + 1j * np.pi * np.arange(N)  # S4D-Lin-like poles
    B, C = g.standard_normal(N) + 1j * g.standard_normal(N), g.standard_normal(N) + 1j * g.standard_normal(N)
    Ab, Bb, _ = discretize(lam, B, C, dt, method=disc)
    K = ssm_kernel(lam, B, C, dt, L, method="diagonal", discretization=disc)
    assert rel(K, power_kernel(np.diag(Ab), Bb, C, L)) <= 1e-11
    real = ssm_kernel(-np.linspace(0.1, 3, N), np.ones(N), np.ones(N), dt, L, method="diagonal",
                      discretization=disc)
    assert real.dtype == np.float64
    assert rel(real, ssm_kernel(np.diag(-np.linspace(0.1, 3, N)), np.ones(N), np.ones(N), dt, L,
                                discretization=disc)) <= 1e-11


def test_poles_off_the_vandermonde_path_are_summed_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    from rankwise.structured import ssm

    g = np.random.default_rng(9)
    N, r, L, dt = 10, 2, 96, 0.05
    lam = g.uniform(-1, 0.3, N) + 1j * g.standard_normal(N)  # some unstable poles (|ā| > 1)
    lam[0] = 1j * 2 * np.pi / (L * dt)  # on the imaginary axis: |ā| = 1
    P, Q = (0.2 * (g.standard_normal((N, r)) + 1j * g.standard_normal((N, r))) for _ in range(2))
    B, C = (g.standard_normal(N) + 1j * g.standard_normal(N) for _ in range(2))
    Ad = np.diag(lam) - P @ Q.conj().T
    I = np.eye(N)
    Ab, Bb = np.linalg.solve(I - dt / 2 * Ad, I + dt / 2 * Ad), np.linalg.solve(I - dt / 2 * Ad, dt * B)
    want = power_kernel(Ab, Bb, C, L)
    assert rel(ssm_kernel(DPLR(lam, P, Q), B, C, dt, L, method="dplr"), want) <= 1e-10
    monkeypatch.setattr(ssm, "VANDERMONDE_AMPLIFICATION", 0.0)  # every pole summed node by node
    assert rel(ssm_kernel(DPLR(lam, P, Q), B, C, dt, L, method="dplr"), want) <= 1e-10
    pairs = hippo_nplr("legs", 12).pairs
    Cp = np.ones(12) @ pairs.V
    assert rel(ssm_kernel(pairs.dplr, pairs.B, Cp, dt, L, method="dplr"), naive_ref(12, np.ones(12), dt, L)) <= 1e-10


def test_torch_conjugate_pairs_match_numpy() -> None:
    torch = pytest.importorskip("torch")
    from rankwise.structured import ConjugateDPLR

    pairs = hippo_nplr("legs", 32).pairs
    C = np.random.default_rng(3).standard_normal(32) @ pairs.V
    ref = ssm_kernel(pairs.dplr, pairs.B, C, 0.01, 512, method="dplr")
    dp = ConjugateDPLR(*(torch.from_numpy(v) for v in pairs.dplr))
    Kt = ssm_kernel(dp, torch.from_numpy(pairs.B), torch.from_numpy(C), 0.01, 512, method="dplr")
    assert isinstance(Kt, torch.Tensor) and Kt.dtype == torch.float64
    assert rel(Kt.numpy(), ref) <= 1e-12
    lam = torch.from_numpy(-np.linspace(0.1, 1, 8) + 1j * np.arange(8.0))
    Kd = ssm_kernel(lam, torch.ones(8, dtype=torch.complex128), torch.ones(8, dtype=torch.complex128), 0.01, 300,
                    method="diagonal")
    assert rel(Kd.numpy(), ssm_kernel(lam.numpy(), np.ones(8), np.ones(8), 0.01, 300, method="diagonal")) <= 1e-13


def test_long_kernel_memory_stays_bounded() -> None:
    import tracemalloc

    pairs = hippo_nplr("legs", 64).pairs
    C = np.ones(64) @ pairs.V
    L = 200_000
    tracemalloc.start()
    try:
        K = ssm_kernel(pairs.dplr, pairs.B, C, 0.01, L, method="dplr")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert K.shape == (L,)
    assert peak <= 16 * K.nbytes  # O(L): four sums and their spectra; one (N, L) complex matrix would be 128×
