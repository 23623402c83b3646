"""State-space sequence models: HiPPO matrices, discretisation and the S4 convolution kernel (SPEC §1.7).

The continuous system x' = A x + B u, y = C x is discretised with step Δ into
x_k = Ā x_{k−1} + B̄ u_k, y_k = C x_k, whose output is the causal convolution y = K̄ ∗ u with

.. math:: \\bar K = (C\\bar B,\\; C\\bar A\\bar B,\\; \\dots,\\; C\\bar A^{L-1}\\bar B).

``A`` is given in one of three forms, and :data:`KERNEL_METHODS` holds the ways to get K̄:

* a dense (N, N) matrix: ``"naive"`` (powers of Ā);
* a :class:`DPLR` ``(Λ, P, Q)`` meaning A = diag(Λ) − P Qᴴ (S4): ``"dplr"`` evaluates the
  generating function at the roots of unity with Cauchy sums and the Woodbury identity,
  then inverts an FFT; a :class:`ConjugateDPLR` is the same for a real system stored by one
  pole of each conjugate pair (:attr:`NPLR.pairs`), whose kernel is real;
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

__all__ = ["DPLR", "HIPPO_KINDS", "KERNEL_METHODS", "NPLR", "ConjugateDPLR", "DiscreteSSM", "HiPPO", "NPLRPairs",
           "discretize", "hippo", "hippo_nplr", "ssm_apply", "ssm_kernel"]

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


class ConjugateDPLR(NamedTuple):
    """A real DPLR state matrix stored by one member of each conjugate pair of poles (S4's form).

    With ``Lambda`` (n,), ``P`` and ``Q`` (n, r), and B, C of shape (n,), the system is the
    2n-state one with poles Λ ∪ conj(Λ), low-rank factors [P; conj P], [Q; conj Q], input
    [B; conj B] and output [C, conj C]: real, so its kernel is real. A real pole is listed
    once with its P, Q, B, C scaled by 1/√2 (two equal copies of it are the same system).
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

    @property
    def pairs(self) -> NPLRPairs:
        """The same system with one pole of each conjugate pair (:class:`NPLRPairs`).

        The system is real, so its normal part's eigenvalues come in pairs λ, conj λ whose
        eigenvectors are conjugate: the half with Im λ > 0 determines the other. A real
        eigenvalue (odd N) is kept once, scaled by 1/√2 (see :class:`ConjugateDPLR`).
        """
        order = np.argsort(self.Lambda.imag, kind="stable")
        N = order.shape[0]
        idx = np.concatenate([order[N - N // 2:], order[N // 2:N - N // 2]])
        scale = np.where(np.arange(idx.shape[0]) < N // 2, 1.0, math.sqrt(0.5))
        return NPLRPairs(self.Lambda[idx], self.P[idx] * scale[:, None], self.B[idx] * scale,
                         self.V[:, idx] * scale[None, :])


class NPLRPairs(NamedTuple):
    """A HiPPO system in the eigenbasis of its normal part, one pole per conjugate pair.

    ``Lambda`` (n,), ``P`` (n, r), ``B`` (n,), ``V`` (N, n) with n = ⌈N/2⌉: the state is
    x = 2 Re(V x̃), so a real row C acts as C V, and :attr:`dplr` is the state matrix as a
    :class:`ConjugateDPLR`, whose kernels are real.
    """

    Lambda: np.ndarray
    P: np.ndarray
    B: np.ndarray
    V: np.ndarray

    @property
    def dplr(self) -> ConjugateDPLR:
        """diag(Λ) − P Pᴴ (with the conjugate poles implied) as a :class:`ConjugateDPLR`."""
        return ConjugateDPLR(self.Lambda, self.P, self.P)


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
    """("dense" | "diagonal" | "dplr" | "pairs", arrays) for a state matrix in any of its forms."""
    if isinstance(A, (DPLR, ConjugateDPLR)):
        lam = _checks.array(A.Lambda, func=func, name="A.Lambda", ndim=1)
        P = _checks.array(A.P, func=func, name="A.P", ndim=2)
        Q = _checks.array(A.Q, func=func, name="A.Q", ndim=2)
        N = lam.shape[0]
        if P.shape[0] != N or Q.shape != P.shape:
            _checks._fail(func, f"'A.P' and 'A.Q' must both have shape (N, r) with N = {N}; got "
                                f"{tuple(P.shape)} and {tuple(Q.shape)}")
        _checks.same_namespace(func, **{"A.Lambda": lam, "A.P": P, "A.Q": Q})
        return ("dplr" if isinstance(A, DPLR) else "pairs"), (lam, P, Q)
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


def _realify(lam: Array, P: Array, Q: Array, B: Array, C: Array) -> tuple[Array, Array, Array]:
    """(A, B, C) in real coordinates (a, b) = (Re x̃, Im x̃) for a :class:`ConjugateDPLR` system.

    ẋ = Λx − 2P Re(Qᴴx) + Bu and y = 2 Re(Cx) become A = [[Re Λ, −Im Λ], [Im Λ, Re Λ]] −
    2 [Re P; Im P][Re Q; Im Q]ᵀ, B = [Re B; Im B], C = 2 [Re C, −Im C].
    """
    xp = _array.namespace(lam)
    lam, P, Q, B, C = _complex(lam, P, Q, B, C)
    n = lam.shape[0]
    I = xp.eye(n, dtype=_array.real_dtype(lam), device=_array.device(lam))
    lr, li = I * xp.real(lam)[None, :], I * xp.imag(lam)[None, :]
    D = xp.concat([xp.concat([lr, -li], axis=1), xp.concat([li, lr], axis=1)], axis=0)
    Pr, Qr = (xp.concat([xp.real(M), xp.imag(M)], axis=0) for M in (P, Q))
    A = D - 2 * (Pr @ xp.matrix_transpose(Qr))
    return A, xp.concat([xp.real(B), xp.imag(B)]), 2 * xp.concat([xp.real(C), -xp.imag(C)])


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
        return _bilinear(A, dt / 2, xp), xp.linalg.solve(_eye(N, A) - (dt / 2) * A, dt * B[:, None])[:, 0]
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
    if kind == "pairs":
        Adense, B, C = _realify(Am[0], Am[1], Am[2], B, C)
    else:
        Adense = Am[0] if kind == "diagonal" else _dense(kind, Am)
    Ab, Bb = _discretize("diagonal" if kind == "diagonal" else "dense", Adense, B, dt, method)
    return DiscreteSSM(Ab, Bb, C)


# --------------------------------------------------------------------------------------------- kernels


def _naive_kernel(kind: str, mats: list[Array], dt: float, L: int, disc: str) -> Array:
    """K_l = C Ā^l B̄ from the Krylov vectors Ā^l B̄, built by doubling: [V, Ā^{2^j} V]."""
    xp = _array.namespace(mats[0])
    *Am, B, C = mats
    if kind == "pairs":
        A, B, C = _realify(Am[0], Am[1], Am[2], B, C)
    else:
        A = _dense(kind, Am)
    Ab, Bb = _discretize("dense", A, B, dt, disc)
    V, power = Bb[:, None], Ab
    while V.shape[1] < L:
        V = xp.concat([V, power @ V], axis=1)
        power = power @ power
    return C @ V[:, :L]


def _complex(*arrays: Array) -> list[Array]:
    """The arrays in the complex dtype of their common precision."""
    xp = _array.namespace(*arrays)
    dt = xp.result_type(*arrays)
    if not xp.isdtype(dt, "complex floating"):
        dt = xp.complex64 if dt == xp.float32 else xp.complex128
    return [a if a.dtype == dt else xp.astype(a, dt) for a in arrays]


def _betas(n: int, L: int, h: float, ref: Array, xp: Any) -> Array:
    """β_j = h(1 + z_j) for j < n, z_j = exp(−2πij/L), from a real cosine and sine."""
    theta = xp.arange(n, dtype=_array.real_dtype(ref), device=_array.device(ref)) * (2 * math.pi / L)
    return xp.astype(h * (1 + xp.cos(theta)), ref.dtype) - 1j * xp.astype(h * xp.sin(theta), ref.dtype)


CAUCHY_CHUNK = 2048
"""Nodes per block of the direct Cauchy sums: bounds their (N, chunk) temporaries."""

LAG_BLOCK: int | None = None
"""Lags per block of the Vandermonde products (None: the power of two nearest above √L).

The temporaries of a kernel of length L are O((N + m)·(block + L/block)) besides its O(m L) sums.
"""

VANDERMONDE_AMPLIFICATION = 1e4
"""Largest (Σ_l |a|^l) / |1 − a^L| for which a pole's resolvent sums go through the Vandermonde product."""


def _fft(x: Array) -> Any:
    """The FFT module for ``x``: SciPy's for NumPy arrays (the faster pocketfft build), else the array API's."""
    if _array.is_numpy(x):
        import scipy.fft

        return scipy.fft
    return _array.namespace(x).fft


def _powers(a: Array, n: int, xp: Any) -> Array:
    """(a_i^s) for s < n, shape (N, n), by doubling: [a^0 … a^{k−1}, a^k · (a^0 … a^{k−1})]."""
    P, step = xp.ones((a.shape[0], 1), dtype=a.dtype, device=_array.device(a)), a[:, None]
    while P.shape[1] < n:
        P = xp.concat([P, P * step], axis=1)
        step = step * step
    return P[:, :n]


def _vandermonde(W: Array, a: Array, L: int, *, real: bool, xp: Any) -> Array:
    """V[k, l] = Σ_i W[i, k] a_i^l for l < L (its real part when ``real``), as one product of blocks.

    With lags l = c·b + s (block size b), a^l = a^{cb}·a^s: the (m·blocks, N) weights W ∘ a^{cb}
    times the (N, b) Vandermonde matrix a^s. O(m N L) multiply-adds in one matmul, and only
    O((N + m)(b + L/b)) temporaries besides the (m, L) result.
    """
    N, m = W.shape
    b = max(1, min(L, LAG_BLOCK or 1 << math.isqrt(L - 1).bit_length()))  # a power of two ≥ √L
    nb = -(-L // b)
    P = _powers(a, b, xp)                                                            # (N, b): a^s
    starts = xp.matrix_transpose(_powers(P[:, b - 1] * a, nb, xp))                   # (nb, N): a^{cb}
    U = xp.reshape(xp.matrix_transpose(W)[:, None, :] * starts[None, :, :], (m * nb, N))
    if real and xp.isdtype(U.dtype, "complex floating"):
        out = xp.concat([xp.real(U), -xp.imag(U)], axis=1) @ xp.concat([xp.real(P), xp.imag(P)], axis=0)
    else:
        out = U @ P
    return xp.reshape(out, (m, nb * b))[:, :L]


def _resolvent_sums(W: Array, lam: Array, h: float, L: int, beta: Array, pairs: bool, xp: Any) -> Array:
    """k[j, :] = Σ_i W_i / d_i(z_j), d_i(z) = (1 − z) − h(1 + z)λ_i, at the L-th roots of unity.

    ``beta`` holds β_j = h(1 + z_j) for the nodes returned (:func:`_betas`), which the caller
    also needs for the Woodbury step. ``pairs``: the poles are {λ_i} ∪ {conj λ_i} with weights
    W and conj W (a real system); the sums are then returned for j ≤ L/2 only (the others are
    their conjugates).

    Since d_i(z) = (1 − hλ_i)(1 − a_i z) with a_i = (1 + hλ_i)/(1 − hλ_i), and z^L = 1,

    .. math:: \\frac{1}{d_i(z)} = \\frac{1}{(1 - h\\lambda_i)(1 - a_i^L)} \\sum_{l<L} a_i^l z^l,

    so k is the FFT of a Vandermonde product (:func:`_vandermonde`). That is exact; it is used
    for the poles with |a_i| < 1 whose rounding amplification (Σ_l |a_i|^l)/|1 − a_i^L| is at
    most :data:`VANDERMONDE_AMPLIFICATION`; the others are summed directly, node by node.
    """
    a = (1 + h * lam) / (1 - h * lam)
    mag = xp.abs(a)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        aL = xp.exp(L * xp.log(a))
        fast = (mag < 1) & ((1 - mag**L) / ((1 - mag) * xp.abs(1 - aL)) <= VANDERMONDE_AMPLIFICATION)
    k = None
    if bool(xp.any(fast)):
        Wf = W[fast, :] / (((1 - h * lam[fast]) * (1 - aL[fast])) / (2 if pairs else 1))[:, None]
        v = _vandermonde(Wf, a[fast], L, real=pairs, xp=xp)             # pairs: 2 Re, the conjugates' share
        k = xp.matrix_transpose(_fft(v).rfft(v, axis=-1) if pairs else _fft(v).fft(v, axis=-1))
    if not bool(xp.all(fast)):
        Ws, ls = W[~fast, :], lam[~fast]
        if pairs:
            Ws, ls = xp.concat([Ws, xp.conj(Ws)], axis=0), xp.concat([ls, xp.conj(ls)])
        direct = _cauchy(Ws, ls, 2 - beta / h, beta)                    # 1 − z = 2 − (1 + z)
        k = direct if k is None else k + direct
    return k


def _cauchy(W: Array, lam: Array, alpha: Array, beta: Array) -> Array:
    """Cauchy sums K[j, c] = Σ_i W[i, c] / (α_j − β_j λ_i), in blocks of :data:`CAUCHY_CHUNK` nodes."""
    xp = _array.namespace(W)
    Wt = xp.matrix_transpose(W)
    parts = []
    for start in range(0, alpha.shape[0], CAUCHY_CHUNK):
        a, b = alpha[start:start + CAUCHY_CHUNK], beta[start:start + CAUCHY_CHUNK]
        parts.append(xp.matrix_transpose(Wt @ (1 / (a[None, :] - b[None, :] * lam[:, None]))))
    return xp.concat(parts, axis=0)


def _row_power(v: Array, M: Array, L: int) -> Array:
    """v M^L by repeated squaring: ⌊log₂ L⌋ matrix squarings, one vector product per set bit of L."""
    power = M
    while True:
        if L & 1:
            v = v @ power
        L >>= 1
        if not L:
            return v
        power = power @ power


def _bilinear(A: Array, h: float, xp: Any) -> Array:
    """Ā = (I − hA)^{-1}(I + hA), h = Δ/2."""
    I = _eye(A.shape[0], A)
    return xp.linalg.solve(I - h * A, I + h * A)


def _weights(Ct: Array, B: Array, P: Array, Q: Array, xp: Any) -> Array:
    """Per pole i: [C̃_i B_i, C̃_i P_i, Q̄_i B_i, Q̄_i ⊗ P_i] (N, 1 + 2r + r²), the numerators of the sums."""
    N, r = P.shape
    Qc = xp.conj(Q)
    return xp.concat([(Ct * B)[:, None], Ct[:, None] * P, Qc * B[:, None],
                      xp.reshape(Qc[:, :, None] * P[:, None, :], (N, r * r))], axis=1)


def _woodbury(k: Array, beta: Array, r: int, dt: float, xp: Any) -> Array:
    """K̂ = Δ[k00 − β k01 (I + β k11)^{-1} k10] per node (a scalar division for r = 1)."""
    k00, k01, k10, k11 = k[:, 0], k[:, 1:1 + r], k[:, 1 + r:1 + 2 * r], k[:, 1 + 2 * r:]
    if r == 1:
        return dt * (k00 - beta * k01[:, 0] * k10[:, 0] / (1 + beta * k11[:, 0]))
    n = k.shape[0]
    eye = xp.eye(r, dtype=k.dtype, device=_array.device(k))
    corr = xp.linalg.solve(eye + beta[:, None, None] * xp.reshape(k11, (n, r, r)), k10[:, :, None])[:, :, 0]
    return dt * (k00 - beta * xp.sum(k01 * corr, axis=1))


def _dplr_kernel(kind: str, mats: list[Array], dt: float, L: int, disc: str) -> Array:
    """The S4 kernel from its generating function at the roots of unity (see :func:`ssm_kernel`)."""
    if kind == "pairs":
        return _pairs_kernel(mats, dt, L)
    lam, P, Q, B, C = _complex(*mats)
    xp, h = _array.namespace(lam), dt / 2
    Ct = C - _row_power(C, _bilinear(_dense("dplr", [lam, P, Q]), h, xp), L)     # C̃ = C (I − Ā^L)
    beta = _betas(L, L, h, lam, xp)
    k = _resolvent_sums(_weights(Ct, B, P, Q, xp), lam, h, L, beta, False, xp)
    Kh = _woodbury(k, beta, P.shape[1], dt, xp)
    return _fft(Kh).ifft(Kh)


def _pairs_kernel(mats: list[Array], dt: float, L: int) -> Array:
    """The real S4 kernel of a :class:`ConjugateDPLR`: C̃ in real coordinates, half the nodes, a real inverse FFT."""
    lam, P, Q, B, C = _complex(*mats)
    xp, h, n = _array.namespace(lam), dt / 2, lam.shape[0]
    Ar, _, Cr = _realify(lam, P, Q, B, C)
    Ctr = Cr - _row_power(Cr, _bilinear(Ar, h, xp), L)                           # C̃ in real coordinates
    Ct = xp.astype(Ctr[:n] / 2, lam.dtype) - 1j * xp.astype(Ctr[n:] / 2, lam.dtype)
    beta = _betas(L // 2 + 1, L, h, lam, xp)
    k = _resolvent_sums(_weights(Ct, B, P, Q, xp), lam, h, L, beta, True, xp)
    Kh = _woodbury(k, beta, P.shape[1], dt, xp)
    return _fft(Kh).irfft(Kh, n=L)


def _diagonal_kernel(kind: str, mats: list[Array], dt: float, L: int, disc: str) -> Array:
    """K_l = Σ_i C_i B̄_i Ā_i^l: a Vandermonde product (:func:`_vandermonde`)."""
    xp = _array.namespace(*mats)
    real = not xp.isdtype(xp.result_type(*mats), "complex floating")
    lam, B, C = _complex(*mats)
    Ab, Bb = _discretize("diagonal", lam, B, dt, disc)
    return _vandermonde((C * Bb)[:, None], Ab, L, real=real, xp=xp)[0]


KERNEL_METHODS: dict[str, tuple[Callable[..., Array], frozenset[str], frozenset[str]]] = {
    "naive": (_naive_kernel, frozenset({"dense", "diagonal", "dplr", "pairs"}), frozenset({"bilinear", "zoh"})),
    "dplr": (_dplr_kernel, frozenset({"dplr", "pairs"}), frozenset({"bilinear"})),
    "diagonal": (_diagonal_kernel, frozenset({"diagonal"}), frozenset({"bilinear", "zoh"})),
}
"""Kernel algorithms: name -> (function, forms of A it takes, discretisations it supports)."""


def ssm_kernel(A: Any, B: Any, C: Any, dt: float, L: int, *, method: str = "naive",
               discretization: Discretization = "bilinear") -> Array:
    """The convolution kernel K̄ = (C B̄, C Ā B̄, …, C Ā^{L−1} B̄) of a discretised state-space model.

    Parameters
    ----------
    A : array of shape (N, N) or (N,), DPLR or ConjugateDPLR
        Dense, diagonal (S4D) or diagonal-plus-low-rank (S4) state matrix.
    B, C : arrays of shape (N,)
        In the basis of ``A`` (for :func:`hippo_nplr`: ``nplr.B`` and ``C @ nplr.V``; for
        its :attr:`~NPLR.pairs`: ``pairs.B`` and ``C @ pairs.V``).
    dt : float
        Step Δ > 0.
    L : int
        Kernel length, L ≥ 1.
    method : {"naive", "dplr", "diagonal"}, default="naive"
        A key of :data:`KERNEL_METHODS`: ``"naive"`` takes every form of A, ``"dplr"`` a
        :class:`DPLR` or :class:`ConjugateDPLR` (bilinear only), ``"diagonal"`` a 1-D A.
    discretization : {"bilinear", "zoh"}, default="bilinear"
        See :func:`discretize`.

    Returns
    -------
    array of shape (L,)
        Of the inputs' library and device; real for real inputs and for a
        :class:`ConjugateDPLR`, complex otherwise (``"dplr"`` on a :class:`DPLR` always
        works in complex arithmetic: for a form obtained from a real system, take the real
        part, or use its conjugate-pair form).

    Notes
    -----
    **naive** forms Ā, B̄ and the Krylov vectors Ā^l B̄ by doubling ([V, Ā^{2^j} V]):
    O(N² L + N³ log L). A :class:`ConjugateDPLR` is first written in real coordinates.

    **dplr** (Gu et al. 2022). The truncated generating function at the L-th roots of
    unity z_j = e^{−2πij/L} is

    .. math:: \\hat K(z) = \\sum_{l<L} C\\bar A^l\\bar B z^l = \\tilde C (I - \\bar A z)^{-1}\\bar B
              = \\Delta\\, \\tilde C \\big[(1 - z)I - \\tfrac{\\Delta}{2}(1 + z)A\\big]^{-1} B,
              \\qquad \\tilde C = C(I - \\bar A^L).

    With A = Λ − P Qᴴ the bracket is D + β P Qᴴ, D = diag(d_i), d_i = (1 − z) − βλ_i,
    β = Δ(1 + z)/2, and the Woodbury identity reduces it to four sums Σ_i v_i / d_i(z):

    .. math:: \\hat K = \\Delta\\big[k_{00} - \\beta\\, k_{01} (I + \\beta k_{11})^{-1} k_{10}\\big],
              \\quad k_{00} = \\tilde C D^{-1}B,\\; k_{01} = \\tilde C D^{-1} P,\\;
              k_{10} = Q^* D^{-1} B,\\; k_{11} = Q^* D^{-1} P,

    a scalar division per node for rank r = 1. Then K̄ = IFFT(K̂). The sums are not formed
    node by node (N·L complex divisions): since d_i(z) = (1 − hλ_i)(1 − a_i z) with
    h = Δ/2, a_i = (1 + hλ_i)/(1 − hλ_i), and z^L = 1 at the nodes,

    .. math:: \\sum_i \\frac{v_i}{d_i(z_j)} = \\sum_{l<L} z_j^l \\sum_i
              \\frac{v_i\\, a_i^l}{(1 - h\\lambda_i)(1 - a_i^L)},

    the FFT of a Vandermonde product, which is computed in blocks of lags as one matrix
    product (O(N L r²) multiply-adds, O((N + r²)√L) temporaries). This identity is exact;
    it serves the poles with |a_i| < 1 whose rounding amplification (Σ_l |a_i|^l)/|1 − a_i^L|
    is at most :data:`VANDERMONDE_AMPLIFICATION`, and any other pole is summed node by node,
    so the result agrees with the naive kernel to rounding (tested to 1e-10 relative).
    C̃ costs O(N³ log L) by repeated squaring (applied to the row C only where a bit of L is
    set); the FFTs O(L log L). For a :class:`ConjugateDPLR` the squaring runs in real
    arithmetic, the sums of the conjugate poles are the conjugates' share of a real
    sequence, and only the nodes j ≤ L/2 are formed before a real inverse FFT.

    **diagonal** (S4D): K̄_l = Σ_i C_i B̄_i Ā_i^l, the same blocked Vandermonde product, O(N L).

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
    >>> pairs = nplr.pairs  # 4 poles and their implied conjugates: a real kernel
    >>> K3 = ssm_kernel(pairs.dplr, pairs.B, C @ pairs.V, 0.01, 64, method="dplr")
    >>> K3.dtype, bool(np.allclose(K, K3, rtol=1e-10, atol=0))
    (dtype('float64'), True)
    """
    func = "ssm_kernel"
    name = _checks.choice(method, KERNEL_METHODS, func=func, name="method")
    fn, forms, discs = KERNEL_METHODS[name]
    kind, mats = _system(func, A, B, C)
    dt = _step(dt, func)
    L = _checks.integer(L, func=func, name="L", lo=1)
    disc = _checks.choice(discretization, ("bilinear", "zoh"), func=func, name="discretization")
    if kind not in forms:
        want = " or ".join(sorted({"dplr" if f == "pairs" else f for f in forms}))
        got = "conjugate-pair dplr" if kind == "pairs" else kind
        _checks._fail(func, f"'A' must be {want} for method {name!r}; got a {got} A "
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
