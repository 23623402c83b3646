"""VectorQuantizer: the estimators' gradients against their definitions, assignment, losses, errors, training."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rankwise import InputError, InputTypeError  # noqa: E402
from rankwise.nn import VectorQuantizer, VQResult  # noqa: E402
from rankwise.nn.vq import assign, rotation_trick, straight_through  # noqa: E402
from rankwise.quantize import assign as np_assign  # noqa: E402
from rankwise.quantize import utilisation  # noqa: E402

F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def loss_fn(y: torch.Tensor) -> torch.Tensor:
    """A smooth loss with a gradient that varies with y (so the Jacobian, not only its value, matters)."""
    w = torch.linspace(-1.0, 2.0, y.shape[-1], dtype=y.dtype)
    return (torch.sin(y) * w).sum() + 0.5 * (y**2).sum()


def rotation_matrix(e: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """λR for one pair, from the paper's definition: R = I − 2rrᵀ + 2q̂êᵀ, r = (ê + q̂)/‖ê + q̂‖, λ = ‖q‖/‖e‖."""
    e_hat, q_hat = e / e.norm(), q / q.norm()
    r = (e_hat + q_hat) / (e_hat + q_hat).norm()
    R = torch.eye(e.numel(), dtype=e.dtype) - 2 * torch.outer(r, r) + 2 * torch.outer(q_hat, e_hat)
    return (q.norm() / e.norm()) * R


def central_difference(f, x: torch.Tensor, h: float = 1e-6) -> torch.Tensor:  # type: ignore[no-untyped-def]
    g = torch.zeros_like(x)
    for i in range(x.numel()):
        dx = torch.zeros_like(x).view(-1)
        dx[i] = h
        dx = dx.view_as(x)
        g.view(-1)[i] = (f(x + dx) - f(x - dx)) / (2 * h)
    return g


# --------------------------------------------------------------------------- estimators


def test_straight_through_is_q_forward_and_identity_backward() -> None:
    e = torch.randn(5, 4, dtype=F64, generator=gen(1), requires_grad=True)
    q = torch.randn(5, 4, dtype=F64, generator=gen(2))
    out = straight_through(e, q)
    assert torch.equal(out, q)
    (grad,) = torch.autograd.grad(loss_fn(out), e)
    shift = (q - e).detach()
    fd = central_difference(lambda x: loss_fn(x + shift), e.detach())  # the surrogate e + sg[q − e]
    torch.testing.assert_close(grad, fd, rtol=1e-7, atol=1e-8)


def test_rotation_trick_backward_is_the_surrogates_gradient() -> None:
    e = torch.randn(6, 5, dtype=F64, generator=gen(3), requires_grad=True)
    q = 2.5 * torch.randn(6, 5, dtype=F64, generator=gen(4))
    out = rotation_trick(e, q)
    assert torch.equal(out, q)  # the value of q exactly
    (grad,) = torch.autograd.grad(loss_fn(out), e)
    M = torch.stack([rotation_matrix(e[i].detach(), q[i]) for i in range(6)])  # λR, frozen at e
    fd = central_difference(lambda x: loss_fn(torch.einsum("nij,nj->ni", M, x)), e.detach())
    torch.testing.assert_close(grad, fd, rtol=1e-7, atol=1e-8)


def test_rotation_maps_e_onto_q_and_preserves_angles() -> None:
    e = torch.randn(8, 6, dtype=F64, generator=gen(5))
    q = torch.randn(8, 6, dtype=F64, generator=gen(6)) * torch.linspace(0.1, 3.0, 8, dtype=F64)[:, None]
    for i in range(8):
        J = torch.autograd.functional.jacobian(lambda x, i=i: rotation_trick(x[None], q[i][None])[0], e[i])
        lam = q[i].norm() / e[i].norm()
        torch.testing.assert_close(J, rotation_matrix(e[i], q[i]), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(J @ e[i], q[i], rtol=1e-12, atol=1e-12)  # λRe = q
        torch.testing.assert_close(J.T @ J / lam**2, torch.eye(6, dtype=F64), rtol=0, atol=1e-12)  # R orthogonal
        g_q = torch.randn(6, dtype=F64, generator=gen(100 + i))
        g_e = J.T @ g_q  # what backward sends to e
        cos_q = g_q @ q[i] / (g_q.norm() * q[i].norm())
        cos_e = g_e @ e[i] / (g_e.norm() * e[i].norm())
        torch.testing.assert_close(cos_e, cos_q, rtol=0, atol=1e-12)
        torch.testing.assert_close(g_e.norm(), lam * g_q.norm(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("d", [1, 3])
def test_rotation_of_opposite_vectors_is_orthogonal_and_maps_e_onto_q(d: int) -> None:
    e = torch.tensor([[1.0, -2.0, 0.5][:d]], dtype=F64)
    q = -3 * e
    J = torch.autograd.functional.jacobian(lambda x: rotation_trick(x, q), e)[0, :, 0, :]
    lam = 3.0
    torch.testing.assert_close(J @ e[0], q[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(J.T @ J / lam**2, torch.eye(d, dtype=F64), rtol=0, atol=1e-12)


def test_rotation_falls_back_to_straight_through_at_zero() -> None:
    e = torch.zeros(2, 3, dtype=F64, requires_grad=True)
    q = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], dtype=F64)
    out = rotation_trick(e, q)
    (grad,) = torch.autograd.grad(loss_fn(out), e)
    assert torch.equal(out, q) and torch.isfinite(grad).all()
    (ref,) = torch.autograd.grad(loss_fn(straight_through(e, q)), e)
    torch.testing.assert_close(grad, ref)


# --------------------------------------------------------------------------- assignment


@pytest.mark.parametrize("chunk", [None, 1, 4, 7])
def test_assignment_equals_brute_force_and_the_numpy_path(chunk: int | None) -> None:
    x = torch.randn(50, 6, generator=gen(7))
    C = torch.randn(40, 6, generator=gen(8))
    x64, C64 = x.double(), C.double()
    ref = ((x64[:, None] - C64[None]) ** 2).sum(-1).argmin(1)
    got = assign(x, C, chunk=chunk)
    assert got.dtype == torch.int64 and torch.equal(got, ref)
    np.testing.assert_array_equal(np_assign(x.numpy(), C.numpy(), chunk=chunk).indices, got.numpy())
    assert torch.equal(assign(x64, C64, chunk=chunk), ref)


@pytest.mark.parametrize("chunk", [None, 1, 2, 5])
def test_ties_go_to_the_lowest_index(chunk: int | None) -> None:
    C = torch.tensor([[0, 0], [2, 0], [0, 0], [1, 1], [2, 0]], dtype=F64)
    x = torch.tensor([[1, 0], [0, 0], [2, 0], [1, 0.5], [3, 0], [1, -1], [0.5, 0.5]], dtype=F64)
    assert assign(x, C, chunk=chunk).tolist() == [0, 0, 1, 3, 1, 0, 0]


# --------------------------------------------------------------------------- the layer


@pytest.mark.parametrize("codebook", ["plain", "linear"])
@pytest.mark.parametrize("estimator", ["ste", "rotation"])
def test_forward_values_loss_and_shapes(codebook: str, estimator: str) -> None:
    vq = VectorQuantizer(32, 4, codebook=codebook, estimator=estimator, beta=0.5, rng=0, dtype=F64)
    x = torch.randn(3, 7, 4, dtype=F64, generator=gen(9), requires_grad=True)
    out = vq(x)
    assert isinstance(out, VQResult) and out.quantized.shape == x.shape and out.indices.shape == (3, 7)
    C = vq.codebook().detach()
    assert torch.equal(out.quantized, C[out.indices])
    assert torch.equal(out.indices, vq.assign(x))
    np.testing.assert_array_equal(np_assign(x.detach().numpy(), C.numpy()).indices, out.indices.numpy())
    err = (x.detach() - C[out.indices]).square().mean()
    torch.testing.assert_close(out.loss, 1.5 * err, rtol=1e-12, atol=0)


def test_plain_codebook_gets_gradient_only_on_chosen_codes_and_linear_on_all() -> None:
    x = torch.randn(6, 4, generator=gen(10))
    plain = VectorQuantizer(64, 4, rng=1)
    out = plain(x)
    out.loss.backward()
    rows = plain.codes.grad.abs().sum(1) > 0
    assert set(torch.nonzero(rows).ravel().tolist()) == set(out.indices.tolist())
    linear = VectorQuantizer(64, 4, codebook="linear", rng=1)
    torch.testing.assert_close(linear.codebook(), plain.codes.detach())  # same starting codebook
    before = linear.codebook().detach().clone()
    opt = torch.optim.SGD(linear.parameters(), lr=0.1)
    linear(x).loss.backward()
    opt.step()
    moved = (linear.codebook().detach() - before).abs().sum(1) > 0
    assert bool(moved.all()) and list(dict(linear.named_parameters())) == ["W"]
    assert [n for n, _ in linear.named_buffers()] == ["base", "usage"] and "usage" not in linear.state_dict()


def test_low_rank_map() -> None:
    vq = VectorQuantizer(20, 6, codebook="linear", rank=2, rng=3, dtype=F64)
    assert vq.A.shape == (6, 2) and vq.B.shape == (2, 6)
    torch.testing.assert_close(vq.codebook(), vq.base @ vq.A @ vq.B)
    assert int(torch.linalg.matrix_rank(vq.codebook())) == 2
    torch.testing.assert_close(vq.A.T @ vq.A, torch.eye(2, dtype=F64))  # W = UUᵀ, a projection
    assert "rank=2" in repr(vq)


def test_rng_makes_it_reproducible_and_init_std_scales() -> None:
    a, b = VectorQuantizer(10, 3, rng=5), VectorQuantizer(10, 3, rng=5)
    assert torch.equal(a.codes, b.codes)
    c = VectorQuantizer(10, 3, rng=torch.Generator().manual_seed(5), init_std=2.0)
    assert c.codes.shape == (10, 3)
    big = VectorQuantizer(4000, 4, rng=0, init_std=2.0)
    assert abs(float(big.codes.detach().std()) - 2.0) < 0.05


def test_usage_counts_training_assignments() -> None:
    vq = VectorQuantizer(16, 2, rng=0)
    x = torch.randn(40, 2, generator=gen(11))
    out = vq(x)
    assert int(vq.usage.sum()) == 40 and vq.dead_codes() == 16 - out.indices.unique().numel()
    vq.eval()
    vq(x)
    assert int(vq.usage.sum()) == 40
    vq.reset_usage()
    assert vq.dead_codes() == 16


@pytest.mark.parametrize(("make", "exc", "message"), [
    (lambda: VectorQuantizer(0, 4), ValueError, r"^VectorQuantizer: 'num_codes' must be an int in \[1, inf\); got 0$"),
    (lambda: VectorQuantizer(8, 0), ValueError, r"^VectorQuantizer: 'dim' must be an int in \[1, inf\); got 0$"),
    (lambda: VectorQuantizer(8.0, 4), TypeError, r"^VectorQuantizer: 'num_codes' must be an int"),
    (lambda: VectorQuantizer(8, 4, codebook="Linear"), ValueError,
     r"^VectorQuantizer: unknown codebook 'Linear'; valid: linear, plain$"),
    (lambda: VectorQuantizer(8, 4, estimator="rot"), ValueError,
     r"^VectorQuantizer: unknown estimator 'rot'; valid: rotation, ste$"),
    (lambda: VectorQuantizer(8, 4, rank=2), ValueError,
     r"^VectorQuantizer: 'rank' is only used with codebook='linear'; got rank=2 with codebook='plain'$"),
    (lambda: VectorQuantizer(8, 4, codebook="linear", rank=5), ValueError,
     r"^VectorQuantizer: 'rank' must be an int in \[1, dim\] = \[1, 4\]; got 5$"),
    (lambda: VectorQuantizer(8, 4, beta=-1.0), ValueError, r"^VectorQuantizer: 'beta' must be a number in \[0, inf\]"),
    (lambda: VectorQuantizer(8, 4, init_std=0.0), ValueError, r"^VectorQuantizer: 'init_std' must be a number in \(0"),
    (lambda: VectorQuantizer(8, 4, rng=-1), ValueError, r"^VectorQuantizer: 'rng' must be None"),
])
def test_bad_construction(make, exc: type, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc, match=message):
        make()


@pytest.mark.parametrize(("x", "exc", "message"), [
    (torch.ones(5, 3), InputError,
     r"^VectorQuantizer: 'x' must have shape \(\.\.\., dim\) with dim = 4; got shape \(5, 3\)$"),
    (torch.ones(0, 4), InputError, r"^VectorQuantizer: 'x' must be non-empty; got shape \(0, 4\)$"),
    (torch.tensor([[1.0, float("nan"), 0, 0]]), InputError,
     r"^VectorQuantizer: 'x' must contain only finite values; got 1 NaN value\(s\)"),
    (torch.ones(5, 4, dtype=F64), InputTypeError,
     r"^VectorQuantizer: 'x' must have the codebook's dtype torch.float32"),
    (np.ones((5, 4), dtype=np.float32), InputTypeError, r"^VectorQuantizer: 'x' must be a torch.Tensor"),
    (torch.tensor(1.0), InputError, r"^VectorQuantizer: 'x' must have shape"),
])
def test_bad_input(x, exc: type, message: str) -> None:  # type: ignore[no-untyped-def]
    vq = VectorQuantizer(8, 4, rng=0)
    for call in (vq, vq.assign):
        with pytest.raises(exc, match=message) as info:
            call(x)
        assert "\n" not in str(info.value)


def test_linear_codebook_uses_many_more_codes_than_plain() -> None:
    """Direct quantisation of a Gaussian mixture, both modes from the same starting codebook (seeded)."""
    g = np.random.default_rng(0)
    centres = g.normal(0.0, 1.0, (32, 8))
    X = (centres[g.integers(0, 32, 8192)] + g.normal(0.0, 1.0, (8192, 8))).astype(np.float32)
    used = {}
    for mode in ("plain", "linear"):
        vq = VectorQuantizer(1024, 8, codebook=mode, rng=1)
        opt = torch.optim.Adam(vq.parameters(), lr=1e-2)
        batches = torch.randint(0, len(X), (150, 256), generator=gen(0))
        Xt = torch.from_numpy(X)
        for b in batches:
            opt.zero_grad()
            vq(Xt[b]).loss.backward()
            opt.step()
        used[mode] = utilisation(vq.assign(Xt).numpy(), 1024)
    assert used["linear"] >= 0.9 and used["linear"] >= 2 * used["plain"], used  # measured 0.96 against 0.40
