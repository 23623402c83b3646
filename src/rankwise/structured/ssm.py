"""State-space sequence models: HiPPO matrices, discretisation and the S4 convolution kernel (SPEC §1.7).

The continuous system x' = A x + B u, y = C x is discretised with step Δ into
x_k = Ā x_{k−1} + B̄ u_k, y_k = C x_k, whose output is the causal convolution y = K̄ ∗ u with

.. math:: \\bar K = (C\\bar B,\\; C\\bar A\\bar B,\\; \\dots,\\; C\\bar A^{L-1}\\bar B).

``A`` is given in one of three forms, and :data:`KERNEL_METHODS` holds the ways to get K̄:

* a dense (N, N) matrix: ``"naive"`` (powers of Ā);
* a :class:`DPLR` ``(Λ, P, Q)`` meaning A = diag(Λ) − P Qᴴ (S4): ``"dplr"`` evaluates the
  generating function at the roots of unity with a Cauchy kernel and the Woodbury identity,
  then inverts an FFT;
* a 1-D array Λ meaning A = diag(Λ) (S4D): ``"diagonal"`` (a Vandermonde product).

``"naive"`` accepts every form (it densifies), so it is the reference for the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import numpy as np

from .. import _array, _checks
from .._array import Array

__all__ = ["DPLR", "HIPPO_KINDS", "KERNEL_METHODS", "NPLR", "DiscreteSSM", "HiPPO", "discretize", "hippo",
           "hippo_nplr", "ssm_apply", "ssm_kernel"]

Discretization = Literal["bilinear", "zoh"]


class HiPPO(NamedTuple):
    """A HiPPO system: state matrix ``A`` (N, N), input vector ``B`` (N,), and ``P`` (N, r) with
    A + P Pᵀ normal (all NumPy float64)."""

    A: np.ndarray
    B: np.ndarray
    P: np.ndarray


class DPLR(NamedTuple):
    """A diagonal-plus-low-rank state matrix A = diag(Lambda) − P Qᴴ.

    ``Lambda`` has shape (N,), ``P`` and ``Q`` shape (N, r); any library, real or complex.
    """

    Lambda: Array
    P: Array
    Q: Array


class NPLR(NamedTuple):
    """A HiPPO system in the eigenbasis of its normal part (S4's NPLR form).

    With ``V`` unitary, the original system is A = V (diag(Λ) − P Pᴴ) Vᴴ and B = V ``B``;
    a row vector C acts as C V in this basis. :attr:`dplr` is the state matrix as a
    :class:`DPLR`.
    """

    Lambda: np.ndarray
    P: np.ndarray
    B: np.ndarray
    V: np.ndarray

    @property
    def dplr(self) -> DPLR:
        """diag(Λ) − P Pᴴ as a :class:`DPLR` (Q = P)."""
        return DPLR(self.Lambda, self.P, self.P)


class DiscreteSSM(NamedTuple):
    """A discrete system x_k = A x_{k−1} + B u_k, y_k = C x_k (``A`` dense (N, N) or diagonal (N,))."""

    A: Array
    B: Array
    C: Array


def _legs(N: int) -> HiPPO:
    n = np.arange(N, dtype=np.float64)
    r = np.sqrt(2 * n + 1)
    A = np.tril(-np.outer(r, r), -1) - np.diag(n + 1)
    return HiPPO(A, r.copy(), np.sqrt(n + 0.5)[:, None])


HIPPO_KINDS: dict[str, Callable[[int], HiPPO]] = {"legs": _legs}
"""The HiPPO matrices :func:`hippo` knows, by name."""


def hippo(kind: str, N: int) -> HiPPO:
    """The HiPPO state matrix, input vector and low-rank correction of size ``N``.

    Parameters
    ----------
    kind : str
        A key of :data:`HIPPO_KINDS`: ``"legs"`` (scaled Legendre measure).
    N : int
        State size, N ≥ 1.

    Returns
    -------
    HiPPO
        ``(A, B, P)`` as NumPy float64.

    Notes
    -----
    HiPPO-LegS (Gu et al. 2020):

    .. math:: A_{nk} = -\\begin{cases} \\sqrt{2n+1}\\sqrt{2k+1} & n > k \\\\ n + 1 & n = k \\\\ 0 & n < k
              \\end{cases}, \\qquad B_n = \\sqrt{2n+1}, \\qquad P_n = \\sqrt{n + 1/2},

    and A + P Pᵀ = −½ I + S with S skew-symmetric, so A is normal plus rank one.

    Examples
    --------
    >>> A, B, P = hippo("legs", 3)
    >>> A.round(3).tolist()
    [[-1.0, 0.0, 0.0], [-1.732, -2.0, 0.0], [-2.236, -3.873, -3.0]]
    """
    kind = _checks.choice(kind, HIPPO_KINDS, func="hippo", name="kind")
    N = _checks.integer(N, func="hippo", name="N", lo=1)
    return HIPPO_KINDS[kind](N)


def hippo_nplr(kind: str, N: int) -> NPLR:
    """The HiPPO system in normal-plus-low-rank form, unitarily diagonalised.

    Parameters
    ----------
    kind, N :
        As in :func:`hippo`.

    Returns
    -------
    NPLR
        ``(Lambda, P, B, V)`` (complex128) with A = V (diag(Λ) − P Pᴴ) Vᴴ, V unitary.

    Notes
    -----
    A + P Pᵀ = c I + S with S skew-symmetric (c = −½ for LegS). −iS is Hermitian, so
    ``eigh`` gives −iS = V diag(w) Vᴴ with V unitary, and A + P Pᵀ = V diag(c + i w) Vᴴ.
    In that basis P and B become Vᴴ P and Vᴴ B. Diagonalising A itself would need its
    eigenvectors, which are exponentially ill-conditioned; V is unitary.

    Examples
    --------
    >>> import numpy as np
    >>> Lam, P, B, V = hippo_nplr("legs", 4)
    >>> np.allclose(Lam.real, -0.5)
    True
    """
    A, B, P = hippo(kind, N)
    normal = A + P @ P.T
    c = float(np.mean(np.diag(normal)))
    S = normal - c * np.eye(N)
    w, V = np.linalg.eigh(-1j * S)
    return NPLR(c + 1j * w, V.conj().T @ P, V.conj().T @ B, V)


# --------------------------------------------------------------------------------------------- validation


def _form(A: Any, func: str) -> tuple[str, tuple[Array, ...]]:
    """("dense" | "diagonal" | "dplr", arrays) for a state matrix in any of its forms."""
    if isinstance(A, DPLR):
        lam = _checks.array(A.Lambda, func=func, name="A.Lambda", ndim=1)
        P = _checks.array(A.P, func=func, name="A.P", ndim=2)
        Q = _checks.array(A.Q, func=func, name="A.Q", ndim=2)
        N = lam.shape[0]
        if P.shape[0] != N or Q.shape != P.shape:
            _checks._fail(func, f"'A.P' and 'A.Q' must both have shape (N, r) with N = {N}; got "
                                f"{tuple(P.shape)} and {tuple(Q.shape)}")
        _checks.same_namespace(func, **{"A.Lambda": lam, "A.P": P, "A.Q": Q})
        return "dplr", (lam, P, Q)
    A = _checks.array(A, func=func, name="A", ndim=(1, 2))
    if A.ndim == 2 and A.shape[0] != A.shape[1]:
        _checks._fail(func, f"'A' must be a square (N, N) matrix, a diagonal (N,) or a DPLR; got shape "
                            f"{tuple(A.shape)}")
    return ("dense" if A.ndim == 2 else "diagonal"), (A,)


def _vectors(func: str, N: int, **vectors: Any) -> list[Array]:
    out = []
    for name, v in vectors.items():
        v = _checks.array(v, func=func, name=name, ndim=1)
        if v.shape[0] != N:
            _checks._fail(func, f"'{name}' must have shape ({N},) to match A; got {tuple(v.shape)}")
        out.append(v)
    return out


def _promote(*arrays: Array) -> list[Array]:
    xp = _array.namespace(*arrays)
    dt = xp.result_type(*arrays)
    return [a if a.dtype == dt else xp.astype(a, dt) for a in arrays]


def _system(func: str, A: Any, B: Any, C: Any) -> tuple[str, list[Array]]:
    """Validate (A, B, C) and bring them to one library, device and dtype."""
    kind, mats = _form(A, func)
    N = mats[0].shape[0]
    B, C = _vectors(func, N, B=B, C=C)
    _checks.same_namespace(func, A=mats[0], B=B, C=C)
    return kind, _promote(*mats, B, C)


def _step(dt: Any, func: str) -> float:
    return _checks.real(dt, func=func, name="dt", lo=0.0, lo_open=True)


# --------------------------------------------------------------------------------------------- discretisation


def _eye(N: int, ref: Array) -> Array:
    xp = _array.namespace(ref)
    return xp.eye(N, dtype=ref.dtype, device=_array.device(ref))


def _dense(kind: str, mats: list[Array]) -> Array:
    """The (N, N) state matrix of any form."""
    if kind == "dense":
        return mats[0]
    if kind == "diagonal":
        return _eye(mats[0].shape[0], mats[0]) * mats[0][None, :]
    lam, P, Q = mats
    return _eye(lam.shape[0], lam) * lam[None, :] - P @ _array.conj_transpose(Q)


def _expm(M: Array) -> Array:
    """Matrix exponential: torch's ``matrix_exp``, SciPy's ``expm`` otherwise (through NumPy)."""
    if _array.is_torch(M):
        return M.matrix_exp()
    import scipy.linalg

    E = scipy.linalg.expm(_array.to_numpy(M))
    return E if _array.is_numpy(M) else _array.like(E, M)


def _discretize(kind: str, A: Array, B: Array, dt: float, method: str) -> tuple[Array, Array]:
    """(Ā, B̄): elementwise for a diagonal A, dense otherwise."""
    xp = _array.namespace(A)
    if kind == "diagonal":
        if method == "bilinear":
            den = 1 - (dt / 2) * A
            return (1 + (dt / 2) * A) / den, dt * B / den
        x = dt * A
        safe = xp.where(x == 0, xp.ones_like(x), x)
        return xp.exp(x), dt * B * xp.where(x == 0, xp.ones_like(x), xp.expm1(safe) / safe)
    N = A.shape[0]
    if method == "bilinear":
        I = _eye(N, A)
        lhs = I - (dt / 2) * A
        return xp.linalg.solve(lhs, I + (dt / 2) * A), xp.linalg.solve(lhs, dt * B[:, None])[:, 0]
    aug = xp.concat([xp.concat([A, B[:, None]], axis=1), xp.zeros((1, N + 1), dtype=A.dtype,
                                                                   device=_array.device(A))], axis=0)
    E = _expm(dt * aug)  # exp([[A, B], [0, 0]]Δ) = [[Ā, B̄], [0, 1]]: no inverse of A needed
    return E[:N, :N], E[:N, N]


def discretize(A: Any, B: Any, C: Any, dt: float, *, method: Discretization = "bilinear") -> DiscreteSSM:
    """Discretise x' = A x + B u, y = C x with step ``dt``.

    Parameters
    ----------
    A : array of shape (N, N) or (N,), or DPLR
        Dense, diagonal (S4D) or diagonal-plus-low-rank state matrix.
    B, C : arrays of shape (N,)
    dt : float
        Step Δ > 0.
    method : {"bilinear", "zoh"}, default="bilinear"
        Bilinear (Tustin) or zero-order hold.

    Returns
    -------
    DiscreteSSM
        ``(Ā, B̄, C)``; Ā stays diagonal (N,) for a diagonal A and is dense otherwise.

    Notes
    -----
    .. math:: \\text{bilinear: } \\bar A = (I - \\tfrac{\\Delta}{2}A)^{-1}(I + \\tfrac{\\Delta}{2}A), \\quad
              \\bar B = (I - \\tfrac{\\Delta}{2}A)^{-1}\\Delta B;
              \\qquad \\text{ZOH: } \\bar A = e^{\\Delta A}, \\quad \\bar B = \\int_0^\\Delta e^{sA}\\,ds\\; B.

    ZOH uses the exponential of the block matrix [[A, B], [0, 0]]Δ, whose last column is B̄,
    so A need not be invertible.

    Examples
    --------
    >>> import numpy as np
    >>> Ab, Bb, C = discretize(np.array([-1.0]), np.array([1.0]), np.array([1.0]), 0.1, method="zoh")
    >>> round(float(Ab[0]), 6), round(float(Bb[0]), 6)
    (0.904837, 0.095163)
    """
    func = "discretize"
    kind, mats = _system(func, A, B, C)
    dt = _step(dt, func)
    method = _checks.choice(method, ("bilinear", "zoh"), func=func, name="method")  # type: ignore[assignment]
    *Am, B, C = mats
    Adense = Am[0] if kind == "diagonal" else _dense(kind, Am)
    Ab, Bb = _discretize("diagonal" if kind == "diagonal" else "dense", Adense, B, dt, method)
    return DiscreteSSM(Ab, Bb, C)


# --------------------------------------------------------------------------------------------- kernels


def _naive_kernel(kind: str, mats: list[Array], dt: float, L: int, disc: str) -> Array:
    """K_l = C Ā^l B̄ from the Krylov vectors Ā^l B̄, built by doubling: [V, Ā^{2^j} V]."""
    xp = _array.namespace(mats[0])
    *Am, B, C = mats
    Ab, Bb = _discretize("dense", _dense(kind, Am), B, dt, disc)
    V, power = Bb[:, None], Ab
    while V.shape[1] < L:
        V = xp.concat([V, power @ V], axis=1)
        power = power @ power
    return C @ V[:, :L]


def _roots(L: int, ref: Array) -> Array:
    """z_j = exp(−2πi j/L), j < L, complex, on ``ref``'s device."""
    xp = _array.namespace(ref)
    rdt = _array.real_dtype(ref)
    cdt = xp.complex64 if rdt == xp.float32 else xp.complex128
    j = xp.astype(xp.arange(L, dtype=rdt, device=_array.device(ref)), cdt)
    return xp.exp(j * (-2j * math.pi / L))


CAUCHY_CHUNK = 2048
"""Nodes per block of the Cauchy sums: bounds the (N, chunk) temporaries and keeps them in cache."""


def _cauchy(W: Array, lam: Array, alpha: Array, beta: Array) -> Array:
    """Cauchy sums K[j, c] = Σ_i W[i, c] / (α_j − β_j λ_i), in blocks of :data:`CAUCHY_CHUNK` nodes."""
    xp = _array.namespace(W)
    Wt = xp.matrix_transpose(W)
    parts = []
    for start in range(0, alpha.shape[0], CAUCHY_CHUNK):
        a, b = alpha[start:start + CAUCHY_CHUNK], beta[start:start + CAUCHY_CHUNK]
        parts.append(xp.matrix_transpose(Wt @ (1 / (a[None, :] - b[None, :] * lam[:, None]))))
    return xp.concat(parts, axis=0)


def _dplr_kernel(kind: str, mats: list[Array], dt: float, L: int, disc: str) -> Array:
    """The S4 kernel from its generating function at the roots of unity (see :func:`ssm_kernel`)."""
    lam, P, Q, B, C = mats
    xp = _array.namespace(lam)
    N, r = P.shape
    Ab, _ = _discretize("dense", _dense("dplr", [lam, P, Q]), B, dt, "bilinear")
    Ct = C - C @ xp.linalg.matrix_power(Ab, L)                          # C̃ = C (I − Ā^L)
    z = _roots(L, lam)
    lam, P, Q, B, Ct = _promote(lam, P, Q, B, Ct, z[:1])[:5]
    alpha, beta = 1 - z, (dt / 2) * (1 + z)
    Qc = xp.conj(Q)
    W = xp.concat([(Ct * B)[:, None], Ct[:, None] * P, Qc * B[:, None],
                   xp.reshape(Qc[:, :, None] * P[:, None, :], (N, r * r))], axis=1)
    K = _cauchy(W, lam, alpha, beta)                                     # (L, 1 + 2r + r²)
    k00, k01, k10 = K[:, 0], K[:, 1:1 + r], K[:, 1 + r:1 + 2 * r]
    k11 = xp.reshape(K[:, 1 + 2 * r:], (L, r, r))
    eye = xp.eye(r, dtype=K.dtype, device=_array.device(K))
    corr = xp.linalg.solve(eye + beta[:, None, None] * k11, k10[:, :, None])[:, :, 0]   # Woodbury
    return xp.fft.ifft(dt * (k00 - beta * xp.sum(k01 * corr, axis=1)))


def _diagonal_kernel(kind: str, mats: list[Array], dt: float, L: int, disc: str) -> Array:
    """K_l = Σ_i C_i B̄_i Ā_i^l: a Vandermonde product, Ā_i^l = exp(l log Ā_i)."""
    lam, B, C = mats
    xp = _array.namespace(lam)
    real = not _array.is_complex(lam) and not _array.is_complex(B) and not _array.is_complex(C)
    z = _roots(1, lam)
    lam, B, C = _promote(lam, B, C, z)[:3]
    Ab, Bb = _discretize("diagonal", lam, B, dt, disc)
    log_a = dt * lam if disc == "zoh" else xp.log(Ab)
    ell = xp.astype(xp.arange(L, device=_array.device(lam)), lam.dtype)
    K = (C * Bb) @ xp.exp(log_a[:, None] * ell[None, :])
    return xp.real(K) if real else K


KERNEL_METHODS: dict[str, tuple[Callable[..., Array], frozenset[str], frozenset[str]]] = {
    "naive": (_naive_kernel, frozenset({"dense", "diagonal", "dplr"}), frozenset({"bilinear", "zoh"})),
    "dplr": (_dplr_kernel, frozenset({"dplr"}), frozenset({"bilinear"})),
    "diagonal": (_diagonal_kernel, frozenset({"diagonal"}), frozenset({"bilinear", "zoh"})),
}
"""Kernel algorithms: name -> (function, forms of A it takes, discretisations it supports)."""


def ssm_kernel(A: Any, B: Any, C: Any, dt: float, L: int, *, method: str = "naive",
               discretization: Discretization = "bilinear") -> Array:
    """The convolution kernel K̄ = (C B̄, C Ā B̄, …, C Ā^{L−1} B̄) of a discretised state-space model.

    Parameters
    ----------
    A : array of shape (N, N) or (N,), or DPLR
        Dense, diagonal (S4D) or diagonal-plus-low-rank (S4) state matrix.
    B, C : arrays of shape (N,)
        In the basis of ``A`` (for :func:`hippo_nplr`: ``nplr.B`` and ``C @ nplr.V``).
    dt : float
        Step Δ > 0.
    L : int
        Kernel length, L ≥ 1.
    method : {"naive", "dplr", "diagonal"}, default="naive"
        A key of :data:`KERNEL_METHODS`: ``"naive"`` takes every form of A, ``"dplr"`` a
        :class:`DPLR` (bilinear only), ``"diagonal"`` a 1-D A.
    discretization : {"bilinear", "zoh"}, default="bilinear"
        See :func:`discretize`.

    Returns
    -------
    array of shape (L,)
        Of the inputs' library and device; real for real inputs, complex otherwise
        (``"dplr"`` always works in complex arithmetic: for a form obtained from a real
        system, take the real part).

    Notes
    -----
    **naive** forms Ā, B̄ and the Krylov vectors Ā^l B̄ by doubling ([V, Ā^{2^j} V]):
    O(N² L + N³ log L).

    **dplr** (Gu et al. 2022). The truncated generating function at the L-th roots of
    unity z_j = e^{−2πij/L} is

    .. math:: \\hat K(z) = \\sum_{l<L} C\\bar A^l\\bar B z^l = \\tilde C (I - \\bar A z)^{-1}\\bar B
              = \\Delta\\, \\tilde C \\big[(1 - z)I - \\tfrac{\\Delta}{2}(1 + z)A\\big]^{-1} B,
              \\qquad \\tilde C = C(I - \\bar A^L).

    With A = Λ − P Qᴴ the bracket is D + β P Qᴴ, D = diag((1 − z) − β λ_i), β = Δ(1 + z)/2,
    and the Woodbury identity reduces it to four Cauchy sums Σ_i v_i / D_i(z):

    .. math:: \\hat K = \\Delta\\big[k_{00} - \\beta\\, k_{01} (I + \\beta k_{11})^{-1} k_{10}\\big],
              \\quad k_{00} = \\tilde C D^{-1}B,\\; k_{01} = \\tilde C D^{-1} P,\\;
              k_{10} = Q^* D^{-1} B,\\; k_{11} = Q^* D^{-1} P.

    Then K̄ = IFFT(K̂). The denominators are written as (1 − z) − β λ rather than
    g(z) − λ with g = (2/Δ)(1 − z)/(1 + z), so the node z = −1 needs no special case.
    The Cauchy sums are evaluated directly, O(N L r²) (as S4's reference code does);
    C̃ costs O(N³ log L) by repeated squaring; the FFT O(L log L).

    **diagonal** (S4D): K̄_l = Σ_i C_i B̄_i Ā_i^l, a Vandermonde product, O(N L).

    References
    ----------
    .. [1] A. Gu, K. Goel, C. Ré, "Efficiently modeling long sequences with structured state
       spaces", ICLR 2022, arXiv:2111.00396.
    .. [2] A. Gu et al., "On the parameterization and initialization of diagonal state space
       models", NeurIPS 2022, arXiv:2206.11893.

    Examples
    --------
    >>> import numpy as np
    >>> A, B, _ = hippo("legs", 8)
    >>> C = np.ones(8)
    >>> nplr = hippo_nplr("legs", 8)
    >>> K = ssm_kernel(A, B, C, 0.01, 64)
    >>> K2 = ssm_kernel(nplr.dplr, nplr.B, C @ nplr.V, 0.01, 64, method="dplr")
    >>> bool(np.allclose(K, K2.real, rtol=1e-10, atol=0))
    True
    """
    func = "ssm_kernel"
    name = _checks.choice(method, KERNEL_METHODS, func=func, name="method")
    fn, forms, discs = KERNEL_METHODS[name]
    kind, mats = _system(func, A, B, C)
    dt = _step(dt, func)
    L = _checks.integer(L, func=func, name="L", lo=1)
    disc = _checks.choice(discretization, ("bilinear", "zoh"), func=func, name="discretization")
    if kind not in forms:
        want = " or ".join(sorted(forms))
        _checks._fail(func, f"'A' must be {want} for method {name!r}; got a {kind} A "
                            f"(the 'naive' method takes every form)")
    if disc not in discs:
        _checks._fail(func, f"'discretization' must be {' or '.join(sorted(discs))} for method {name!r}; "
                            f"got {disc!r}")
    return fn(kind, mats, dt, L, disc)


# --------------------------------------------------------------------------------------------- applying


def _fft_conv(u: Array, K: Array) -> Array:
    xp = _array.namespace(u)
    L, Lk = u.shape[-1], K.shape[-1]
    nfft = 1 << max(L + Lk - 2, 1).bit_length()  # a power of two ≥ L + Lk − 1
    if _array.is_complex(u) or _array.is_complex(K):
        return xp.fft.ifft(xp.fft.fft(u, n=nfft) * xp.fft.fft(K, n=nfft))[..., :L]
    return xp.fft.irfft(xp.fft.rfft(u, n=nfft) * xp.fft.rfft(K, n=nfft), n=nfft)[..., :L]


def _recurrence(u: Array, sys: DiscreteSSM) -> Array:
    xp = _array.namespace(u)
    Ab, Bb, C = sys
    L = u.shape[-1]
    x = xp.zeros((*u.shape[:-1], Bb.shape[0]), dtype=Bb.dtype, device=_array.device(u))
    ys = []
    for k in range(L):
        x = (Ab * x if Ab.ndim == 1 else x @ xp.matrix_transpose(Ab)) + u[..., k, None] * Bb
        ys.append(xp.sum(x * C, axis=-1))
    return xp.stack(ys, axis=-1)


def ssm_apply(u: Any, kernel: Any) -> Array:
    """Run a sequence through a state-space model: by FFT convolution, or by the recurrence.

    Parameters
    ----------
    u : array of shape (..., L)
        Input sequences along the last axis.
    kernel : array of shape (..., Lk) or DiscreteSSM
        A convolution kernel (from :func:`ssm_kernel`; leading axes broadcast with ``u``'s),
        or a discrete system (from :func:`discretize`), which is run step by step.

    Returns
    -------
    array of shape (..., L)
        y_k = Σ_{j ≤ k} K_j u_{k−j}, i.e. x_k = Ā x_{k−1} + B̄ u_k, y_k = C x_k from x_{−1} = 0.

    Notes
    -----
    The convolution zero-pads to a power of two ≥ L + Lk − 1 and multiplies FFTs:
    O(L log L), against O(N² L) (O(N L) for a diagonal Ā) for the recurrence. The two agree
    because the recurrence unrolls to y_k = Σ_j C Ā^j B̄ u_{k−j}.

    Examples
    --------
    >>> import numpy as np
    >>> sys = discretize(np.array([-1.0, -2.0]), np.ones(2), np.ones(2), 0.1)
    >>> u = np.random.default_rng(0).standard_normal(32)
    >>> K = ssm_kernel(np.array([-1.0, -2.0]), np.ones(2), np.ones(2), 0.1, 32, method="diagonal")
    >>> bool(np.allclose(ssm_apply(u, K), ssm_apply(u, sys)))
    True
    """
    func = "ssm_apply"
    u = _checks.array(u, func=func, name="u", ndim=tuple(range(1, 33)))
    if isinstance(kernel, DiscreteSSM):
        kind, mats = _system(func, kernel.A, kernel.B, kernel.C)
        _checks.same_namespace(func, u=u, kernel=mats[0])
        u, *mats = _promote(u, *mats)
        return _recurrence(u, DiscreteSSM(*mats))
    K = _checks.array(kernel, func=func, name="kernel", ndim=tuple(range(1, 33)))
    _checks.same_namespace(func, u=u, kernel=K)
    try:
        np.broadcast_shapes(tuple(u.shape[:-1]), tuple(K.shape[:-1]))
    except ValueError:
        _checks._fail(func, f"the leading axes of 'kernel' must broadcast with those of 'u'; got shapes "
                            f"{tuple(K.shape)} and {tuple(u.shape)}")
    u, K = _promote(u, K)
    return _fft_conv(u, K)
