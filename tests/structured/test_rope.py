"""Rotary position embeddings (SPEC §1.7): relative-position property, layouts, complex form, exp(mB)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from rankwise.structured import rope, rope_exp, rope_generator, rope_matrix

LAYOUTS = ["interleaved", "half"]


def half_perm(d: int) -> np.ndarray:
    """Index map with x_half = x_interleaved[perm]: pair i sits at (2i, 2i+1) vs (i, i + d/2)."""
    return np.concatenate([np.arange(0, d, 2), np.arange(1, d, 2)])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_rotations_compose_by_difference(layout: str) -> None:
    d = 8
    for m, n in [(0, 0), (3, 7), (7, 3), (-5, 11), (1000, 1234)]:
        Rm, Rn = rope_matrix(m, d, layout=layout), rope_matrix(n, d, layout=layout)
        np.testing.assert_allclose(Rm.T @ Rn, rope_matrix(n - m, d, layout=layout), atol=1e-12)
        np.testing.assert_allclose(Rm.T @ Rm, np.eye(d), atol=1e-14)


@settings(max_examples=30, deadline=None)
@given(half_d=st.integers(1, 16), m=st.integers(-500, 500), n=st.integers(-500, 500),
       shift=st.integers(-500, 500), layout=st.sampled_from(LAYOUTS), seed=st.integers(0, 2**16))
def test_scores_depend_on_the_offset_only(half_d: int, m: int, n: int, shift: int, layout: str, seed: int) -> None:
    d = 2 * half_d
    g = np.random.default_rng(seed)
    q, k = g.standard_normal(d), g.standard_normal(d)
    score = rope(q, m, layout=layout) @ rope(k, n, layout=layout)
    shifted = rope(q, m + shift, layout=layout) @ rope(k, n + shift, layout=layout)
    assert shifted == pytest.approx(score, abs=1e-9 * np.linalg.norm(q) * np.linalg.norm(k))
    assert score == pytest.approx(q @ rope(k, n - m, layout=layout), abs=1e-9 * np.linalg.norm(q) * np.linalg.norm(k))


def test_rope_applies_the_explicit_matrices() -> None:
    g = np.random.default_rng(0)
    x = g.standard_normal((2, 5, 6))
    pos = np.array([0, 1, 4, 9, 16])
    for layout in LAYOUTS:
        R = rope_matrix(pos, 6, base=100.0, layout=layout)  # (5, 6, 6)
        want = np.einsum("lij,blj->bli", R, x)
        np.testing.assert_allclose(rope(x, pos, base=100.0, layout=layout), want, atol=1e-14)


def test_layouts_agree_up_to_a_fixed_permutation() -> None:
    g = np.random.default_rng(1)
    d = 10
    perm = half_perm(d)
    x = g.standard_normal((7, d))
    pos = np.arange(7) * 3
    y_int = rope(x, pos, layout="interleaved")
    y_half = rope(x[:, perm], pos, layout="half")
    np.testing.assert_allclose(y_half, y_int[:, perm], atol=1e-14)
    Pm = np.eye(d)[perm]
    np.testing.assert_allclose(rope_matrix(5, d, layout="half"), Pm @ rope_matrix(5, d) @ Pm.T, atol=1e-14)
    assert not np.allclose(rope(x, pos, layout="half"), y_int)  # the pairing does matter


def test_complex_number_form() -> None:
    g = np.random.default_rng(2)
    d, base = 12, 500.0
    x = g.standard_normal((9, d))
    pos = np.arange(9)
    theta = base ** (-np.arange(d // 2) * 2 / d)
    rot = np.exp(1j * pos[:, None] * theta)
    z = (x[:, 0::2] + 1j * x[:, 1::2]) * rot
    y = rope(x, pos, base=base)
    np.testing.assert_allclose(y[:, 0::2] + 1j * y[:, 1::2], z, atol=1e-14)
    z = (x[:, : d // 2] + 1j * x[:, d // 2:]) * rot
    y = rope(x, pos, base=base, layout="half")
    np.testing.assert_allclose(y[:, : d // 2] + 1j * y[:, d // 2:], z, atol=1e-14)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_exponential_of_the_generator_is_rope(layout: str) -> None:
    B = rope_generator(8, base=50.0, layout=layout)
    np.testing.assert_allclose(B, -B.T)
    pos = np.array([[0, 1], [-3, 250]])
    R = rope_exp(B, pos)
    assert R.shape == (2, 2, 8, 8)
    np.testing.assert_allclose(R, rope_matrix(pos, 8, base=50.0, layout=layout), atol=1e-12)
    np.testing.assert_allclose(R[1, 1], scipy.linalg.expm(250 * B), atol=1e-11)


def test_general_skew_generator_has_the_relative_property_and_reduces_to_blocks() -> None:
    g = np.random.default_rng(3)
    G = g.standard_normal((6, 6))
    B = G - G.T
    Rm, Rn, Rd = rope_exp(B, np.array([2.0, 5.5, 3.5]))
    np.testing.assert_allclose(Rm.T @ Rn, Rd, atol=1e-11)
    np.testing.assert_allclose(Rm.T @ Rm, np.eye(6), atol=1e-12)
    # real Schur form: QᵀBQ = ⊕ θ_i [[0, ·], [·, 0]], so Qᵀ exp(mB) Q is block-diagonal rotations
    T, Q = scipy.linalg.schur(B, output="real")
    blocks = Q.T @ rope_exp(B, 2.0) @ Q
    for i in range(3):
        th = T[2 * i + 1, 2 * i]
        c, s = np.cos(2.0 * th), np.sin(2.0 * th)
        np.testing.assert_allclose(blocks[2 * i:2 * i + 2, 2 * i:2 * i + 2], [[c, -s], [s, c]], atol=1e-11)
    off = blocks.copy()
    for i in range(3):
        off[2 * i:2 * i + 2, 2 * i:2 * i + 2] = 0
    assert np.abs(off).max() < 1e-11


def test_torch_and_float32() -> None:
    torch = pytest.importorskip("torch")
    g = np.random.default_rng(4)
    x = g.standard_normal((2, 3, 16, 8))
    pos = np.arange(100_000, 100_016)
    ref = rope(x, pos)
    for layout in LAYOUTS:
        out = rope(torch.from_numpy(x), torch.from_numpy(pos), layout=layout)
        assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
        np.testing.assert_allclose(out.numpy(), rope(x, pos, layout=layout), atol=1e-13)
    y32 = rope(x.astype(np.float32), pos)  # angles in float64: large positions stay accurate
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, ref, atol=1e-5)
    yt = rope(torch.from_numpy(x.astype(np.float32)), pos)  # NumPy positions follow x to torch
    np.testing.assert_allclose(yt.numpy(), ref, atol=1e-5)
    Bt = torch.from_numpy(rope_generator(8))
    np.testing.assert_allclose(rope_exp(Bt, 7).numpy(), rope_matrix(7, 8), atol=1e-12)


def test_errors_name_the_argument() -> None:
    x = np.ones((4, 6))
    with pytest.raises(ValueError, match=r"^rope: 'd' must be even \(coordinates are rotated in pairs\); got 5"):
        rope(np.ones((4, 5)), np.arange(4))
    with pytest.raises(ValueError, match=r"^rope: 'positions' must broadcast to x.shape\[:-1\] = \(4,\); got shape"):
        rope(x, np.arange(3))
    with pytest.raises(ValueError, match=r"^rope: unknown layout 'neox'; valid: half, interleaved"):
        rope(x, np.arange(4), layout="neox")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^rope: 'base' must be a number in \(1, inf\]; got 1.0"):
        rope(x, np.arange(4), base=1.0)
    with pytest.raises(ValueError, match=r"^rope: 'positions' must contain only finite values; got 1 NaN"):
        rope(x, np.array([0, 1, np.nan, 3]))
    with pytest.raises(ValueError, match=r"^rope_exp: 'B' must be skew-symmetric \(B = −Bᵀ\); got"):
        rope_exp(np.eye(4), 1)
    with pytest.raises(ValueError, match=r"^rope_exp: 'B' must be a real square matrix"):
        rope_exp(np.ones((4, 3)), 1)
    with pytest.raises(ValueError, match=r"^rope_matrix: 'd' must be an int in \[2, inf\); got 0"):
        rope_matrix(1, 0)
