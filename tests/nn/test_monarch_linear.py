"""MonarchLinear: a drop-in for nn.Linear with a Monarch weight (SPEC §1.6)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rankwise.nn import MonarchLinear  # noqa: E402
from rankwise.structured import Monarch, monarch_project  # noqa: E402


def dense_forward(layer: MonarchLinear, x: torch.Tensor) -> torch.Tensor:
    """The same map through the dense weight, built from the parameters with autograd."""
    W = Monarch(layer.L, layer.R).to_dense()
    return torch.nn.functional.linear(x, W, layer.bias)


@pytest.mark.parametrize(("n", "m", "blocks", "rank"), [(64, 64, None, 1), (48, 30, (4, 5), 2), (20, 12, (5, 3), 1)])
def test_forward_equals_the_dense_layer(n: int, m: int, blocks: tuple[int, int] | None, rank: int) -> None:
    layer = MonarchLinear(n, m, blocks=blocks, rank=rank, dtype=torch.float64, rng=0)
    x = torch.randn(2, 3, n, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = layer(x)
    assert y.shape == (2, 3, m)
    torch.testing.assert_close(y, dense_forward(layer, x), rtol=1e-12, atol=1e-12)
    assert layer.L.shape == (layer.blocks[1], m // layer.blocks[1], layer.blocks[0] * rank)


def test_gradient_flows_and_matches_the_dense_path() -> None:
    layer = MonarchLinear(36, 24, blocks=(6, 4), rank=2, dtype=torch.float64, rng=1)
    x = torch.randn(5, 36, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    target = torch.randn(5, 24, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    grads = []
    for fwd in (layer, lambda t: dense_forward(layer, t)):
        layer.zero_grad()
        ((fwd(x) - target) ** 2).sum().backward()
        grads.append([p.grad.clone() for p in (layer.L, layer.R, layer.bias)])
    for g_fast, g_dense in zip(*grads, strict=True):
        assert g_fast.abs().max() > 0
        torch.testing.assert_close(g_fast, g_dense, rtol=1e-10, atol=1e-12)
    xg = x.clone().requires_grad_(True)
    layer(xg).sum().backward()
    assert xg.grad is not None and xg.grad.shape == x.shape


def test_from_linear_is_the_projection() -> None:
    g = torch.Generator().manual_seed(0)
    lin = torch.nn.Linear(32, 16, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(16, 32, generator=g, dtype=torch.float64))
        lin.bias.copy_(torch.randn(16, generator=g, dtype=torch.float64))
    layer = MonarchLinear.from_linear(lin, blocks=(4, 4), rank=2)
    M = monarch_project(lin.weight.detach(), (4, 4), rank=2)
    torch.testing.assert_close(layer.monarch().to_dense(), M.to_dense())
    torch.testing.assert_close(layer.bias, lin.bias)
    assert layer.L.dtype == torch.float64 and layer.blocks == (4, 4) and layer.rank == 2
    # a dense layer whose weight is Monarch is reproduced exactly
    exact = torch.nn.Linear(32, 16, bias=False, dtype=torch.float64)
    with torch.no_grad():
        exact.weight.copy_(layer.monarch().to_dense())
    again = MonarchLinear.from_linear(exact, blocks=(4, 4), rank=2)
    x = torch.randn(3, 32, dtype=torch.float64, generator=g)
    torch.testing.assert_close(again(x), exact(x), rtol=1e-10, atol=1e-12)
    assert again.bias is None


def test_drop_in_training_fits_a_monarch_target() -> None:
    g = torch.Generator().manual_seed(4)
    teacher = MonarchLinear(16, 16, rng=5)
    student = torch.nn.Sequential(MonarchLinear(16, 16, rng=6), torch.nn.Identity())
    opt = torch.optim.Adam(student.parameters(), lr=5e-2)
    x = torch.randn(64, 16, generator=g)
    with torch.no_grad():
        y = teacher(x)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = ((student(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.01 * losses[0]


def test_initialisation_matches_linear_variance_and_is_seeded() -> None:
    layer = MonarchLinear(1024, 1024, dtype=torch.float64, rng=7)
    W = layer.monarch().to_dense()
    assert float(W.var()) == pytest.approx(1 / (3 * 1024), rel=0.05)
    same = MonarchLinear(1024, 1024, dtype=torch.float64, rng=7)
    assert torch.equal(same.L, layer.L) and torch.equal(same.R, layer.R)
    a = MonarchLinear(16, 16, rng=torch.Generator().manual_seed(0))
    b = MonarchLinear(16, 16, rng=torch.Generator().manual_seed(0))
    assert torch.equal(a.L, b.L) and not torch.equal(a.L, MonarchLinear(16, 16, rng=np.random.default_rng(0)).L)
    assert a.L.dtype == torch.get_default_dtype()


def test_errors() -> None:
    with pytest.raises(ValueError, match=r"^MonarchLinear: 'blocks' must divide the shape"):
        MonarchLinear(10, 10, blocks=3)
    with pytest.raises(ValueError, match=r"^MonarchLinear: 'in_features' must be an int in \[1, inf\); got 0"):
        MonarchLinear(0, 10)
    with pytest.raises(ValueError, match=r"^MonarchLinear: 'rank' must be an int in \[1, min\(s, p\)\]"):
        MonarchLinear(16, 16, rank=5)
    with pytest.raises(ValueError, match="input must have last dimension in_features = 16; got shape"):
        MonarchLinear(16, 16, rng=0)(torch.ones(2, 15))
    with pytest.raises(TypeError, match=r"'linear' must be a torch\.nn\.Linear; got Conv1d"):
        MonarchLinear.from_linear(torch.nn.Conv1d(2, 2, 1))  # type: ignore[arg-type]
    assert "blocks=(4, 4), rank=1" in repr(MonarchLinear(16, 16, rng=0))


@pytest.mark.gpu
def test_cuda() -> None:
    layer = MonarchLinear(64, 32, device="cuda", rng=0)
    x = torch.randn(4, 64, device="cuda")
    y = layer(x)
    assert y.device == x.device
    torch.testing.assert_close(y, dense_forward(layer, x), rtol=1e-4, atol=1e-4)
    y.sum().backward()
    assert layer.L.grad is not None and layer.L.grad.device == x.device
