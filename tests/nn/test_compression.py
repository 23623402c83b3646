"""LowRankLinear refuses broken factors at construction; whitening never amplifies noise (an audit)."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from rankwise import InputError, InputTypeError  # noqa: E402
from rankwise.nn import LowRankLinear, compress  # noqa: E402

A2, B2 = torch.ones(2, 6), torch.ones(4, 2)


@pytest.mark.parametrize(("args", "exc", "msg"), [
    ((torch.full((2, 6), math.nan), B2, None), InputError,
     r"^LowRankLinear: 'A' must contain only finite values; got 12 NaN or infinite value\(s\) in a tensor of shape "
     r"\(2, 6\)$"),
    ((A2, torch.full((4, 2), math.inf), None), InputError, r"^LowRankLinear: 'B' must contain only finite values"),
    ((A2, B2, torch.tensor([0.0, math.nan, 0.0, 0.0])), InputError,
     r"^LowRankLinear: 'bias' must contain only finite values; got 1 NaN"),
    ((A2, B2, torch.zeros(1)), InputError, r"^LowRankLinear: 'bias' must have shape \(out,\) = \(4,\); got \(1,\)$"),
    ((A2, B2, torch.zeros(4, 1)), InputError,
     r"^LowRankLinear: 'bias' must have shape \(out,\) = \(4,\); got \(4, 1\)"),
    ((A2, B2.double(), None), InputTypeError,
     r"^LowRankLinear: 'B' must have A's dtype torch.float32 and device cpu; got torch.float64 on cpu$"),
    ((A2, torch.ones(4, 3), None), InputError, r"^LowRankLinear: 'A' \(r, in\) and 'B' \(out, r\) must share r"),
    ((A2.long(), B2, None), InputTypeError, r"^LowRankLinear: 'A' must be a floating-point torch.Tensor; got torch"),
    (([[1.0] * 6] * 2, B2, None), InputTypeError, r"^LowRankLinear: 'A' must be a floating-point torch.Tensor; got"),
])
def test_broken_factors_are_refused_at_construction(args: tuple, exc: type, msg: str) -> None:
    with pytest.raises(exc, match=msg):
        LowRankLinear(*args)


def test_valid_factors_still_build() -> None:
    layer = LowRankLinear(A2, B2, torch.zeros(4))
    assert layer(torch.ones(3, 6)).shape == (3, 4) and layer.rank == 2
    assert LowRankLinear(A2, B2).bias is None


@pytest.mark.parametrize("samples", [25, 40, 400])
def test_whitening_only_picks_the_subspace_it_never_amplifies_noise(samples: int) -> None:
    """Audit of the whitened solve A = Σ^{1/2}Vᵀ S⁻¹: BA = U_r U_rᵀ W exactly (a projection of W), so even
    a singular (25 samples) or square (40) noisy second moment cannot blow the factors up, unlike the
    pseudo-inverse of a square noisy CUR core."""
    n, m = 40, 30
    g = torch.Generator().manual_seed(samples)
    X = torch.randn(samples, n, generator=g, dtype=torch.float64) + 0.01 * torch.randn(samples, n, generator=g,
                                                                                        dtype=torch.float64)
    lin = nn.Linear(n, m, dtype=torch.float64)
    W = lin.weight.detach().clone()
    model, rep = compress(nn.Sequential(lin), ratio=0.5, method="whiten", calibration=[X])
    A, B = model[0].A.detach(), model[0].B.detach()
    P = B @ torch.linalg.pinv(B)  # the orthogonal projector onto B's columns
    torch.testing.assert_close(B @ A, P @ W, rtol=0, atol=1e-9 * float(torch.linalg.matrix_norm(W)))
    assert float(torch.linalg.matrix_norm(B @ A, ord=2)) <= float(torch.linalg.matrix_norm(W, ord=2)) * (1 + 1e-9)
    assert rep.layers[0].whitening == ("eigh" if samples < n else "cholesky")
