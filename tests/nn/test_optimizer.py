"""rankwise transforms as torch optimizers, against torch.optim on a real training loop."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rankwise import optim  # noqa: E402
from rankwise.nn import TransformOptimizer, torch_optimizer  # noqa: E402


def _model() -> Any:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)).double()


def _data() -> tuple[Any, Any]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 8, generator=g, dtype=torch.float64)
    return x, torch.sin(x.sum(1, keepdim=True))


def _train(model: Any, opt: Any, steps: int) -> list[float]:
    x, y = _data()
    losses = []
    for _ in range(steps):
        def closure() -> Any:
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            return loss
        losses.append(opt.step(closure).item())
    return losses


PAIRS = [
    (lambda: optim.adam(0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    (lambda: optim.adamw(0.01, weight_decay=0.1), lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1)),
    (lambda: optim.nesterov(0.05, 0.9), lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
    (lambda: optim.rmsprop(0.001, 0.99), lambda p: torch.optim.RMSprop(p, lr=0.001, alpha=0.99)),
]


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=["adam", "adamw", "nesterov", "rmsprop"])
def test_training_matches_torch_optim(ours: Any, theirs: Any) -> None:
    a, b = _model(), _model()
    la = _train(a, torch_optimizer(ours(), a.parameters()), 30)
    lb = _train(b, theirs(b.parameters()), 30)
    np.testing.assert_allclose(la, lb, rtol=1e-10)
    assert la[-1] < 0.8 * la[0]
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_state_dict_round_trip_resumes_exactly() -> None:
    straight = _model()
    ref = _train(straight, TransformOptimizer(straight.parameters(), optim.adam(0.01)), 10)
    first = _model()
    opt = TransformOptimizer(first.parameters(), optim.adam(0.01))
    head = _train(first, opt, 5)
    saved = opt.state_dict()
    assert all(isinstance(s["leaves"], list) for s in saved["state"].values())
    resumed = TransformOptimizer(first.parameters(), optim.adam(0.01))
    resumed.load_state_dict(saved)
    tail = _train(first, resumed, 5)
    np.testing.assert_allclose(head + tail, ref, rtol=1e-12)


def test_parameters_without_gradients_are_left_alone() -> None:
    used, unused = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))
    opt = TransformOptimizer([used, unused], optim.sgd(0.5))
    (used**2).sum().backward()
    opt.step()
    assert used.detach().tolist() == [0.0, 0.0, 0.0] and unused.detach().tolist() == [1.0, 1.0]
    assert unused not in opt.state


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match=r"'transform' must be a rankwise.optim.Transform; got 0.1 \(float\)"):
        TransformOptimizer([torch.nn.Parameter(torch.ones(1))], 0.1)  # type: ignore[arg-type]
    emb = torch.nn.Embedding(4, 2, sparse=True)
    opt = TransformOptimizer(emb.parameters(), optim.sgd(0.1))
    emb(torch.tensor([1])).sum().backward()
    with pytest.raises(ValueError, match="sparse gradients are not supported"):
        opt.step()
