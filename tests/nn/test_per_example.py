"""Per-example gradients, mini-batch gradients and Hessian-vector products of torch models."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rankwise import optim  # noqa: E402
from rankwise.nn import batch_grads, loss_hvp, per_example_grads  # noqa: E402

mse = torch.nn.functional.mse_loss


def _linear() -> tuple[Any, Any, Any]:
    g = torch.Generator().manual_seed(0)
    lin = torch.nn.Linear(3, 1, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64))
        lin.bias.fill_(0.1)
    X = torch.randn(40, 3, generator=g, dtype=torch.float64)
    y = torch.randn(40, 1, generator=g, dtype=torch.float64)
    return lin, X, y


def test_per_example_gradients_of_least_squares() -> None:
    lin, X, y = _linear()
    P = per_example_grads(lin, mse, X, y)
    r = (lin(X) - y).detach()  # (N, 1)
    expected = torch.cat([2 * r * X, 2 * r], dim=1)  # d/dw and d/db of (xᵀw + b − y)²
    torch.testing.assert_close(P, expected)
    full = torch.autograd.grad(mse(lin(X), y), list(lin.parameters()))
    torch.testing.assert_close(P.mean(0), torch.cat([t.reshape(-1) for t in full]))
    torch.testing.assert_close(per_example_grads(lin, mse, X, y, chunk_size=7), P)


def test_hessian_vector_products_of_least_squares() -> None:
    lin, X, y = _linear()
    hvp = loss_hvp(lin, mse, X, y)
    Xb = torch.cat([X, torch.ones(40, 1, dtype=torch.float64)], dim=1).numpy()
    H = np.stack([hvp(e) for e in np.eye(4)], axis=1)
    np.testing.assert_allclose(H, 2 / 40 * Xb.T @ Xb, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match=r"^loss_hvp: 'v' must have 4 entries \(one per parameter\); got 3$"):
        hvp(np.ones(3))


def test_batch_gradients() -> None:
    lin, X, y = _linear()
    G = batch_grads(lin, mse, X, y, 5, n_batches=6, rng=1)
    assert tuple(G.shape) == (6, 4)
    torch.testing.assert_close(G, batch_grads(lin, mse, X, y, 5, n_batches=6, rng=1))
    G2 = batch_grads(lin, mse, X, y, 5, n_batches=3, rng=torch.Generator().manual_seed(0))
    assert tuple(G2.shape) == (3, 4)
    # each row is the mean per-example gradient of some 5 rows
    P = per_example_grads(lin, mse, X, y)
    one = batch_grads(lin, mse, X, y, 40, n_batches=200, rng=2).mean(0)
    torch.testing.assert_close(one, P.mean(0), rtol=0, atol=0.2)


def test_bad_input() -> None:
    lin, X, y = _linear()
    with pytest.raises(TypeError, match=r"^per_example_grads: 'model' must be a torch.nn.Module; got str$"):
        per_example_grads("net", mse, X, y)
    with pytest.raises(ValueError, match=r"'inputs' and 'targets' must have the same non-zero number of rows; got 40 "
                                         r"and 39"):
        per_example_grads(lin, mse, X, y[:39])
    with pytest.raises(TypeError, match=r"^batch_grads: 'inputs' must be a torch tensor"):
        batch_grads(lin, mse, X.numpy(), y, 4, n_batches=2)
    with pytest.raises(ValueError, match=r"^batch_grads: 'batch_size' must be an int in \[1, inf\); got 0"):
        batch_grads(lin, mse, X, y, 0, n_batches=2)


def test_tiny_mlp_smoke() -> None:
    """Per-example statistics of a small MLP feed the calculator (the full workflow, tiny)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()
    g = torch.Generator().manual_seed(1)
    X = torch.randn(256, 3, generator=g, dtype=torch.float64)
    y = torch.sin(X.sum(1, keepdim=True))
    P = per_example_grads(net, mse, X, y).numpy()
    hvp = loss_hvp(net, mse, X, y)
    H = np.stack([hvp(e) for e in np.eye(P.shape[1])])
    stats = optim.noise_stats(P, hess=0.5 * (H + H.T), n_boot=20, rng=0)
    assert P.shape == (256, 21) and np.isfinite(stats.b_simple)
    res = optim.optimal_lr([1, 8, 64], grad=stats.grad, cov=stats.cov, hess=0.5 * (H + H.T), peak=False)
    assert np.all(np.diff(res.eta) > 0)
