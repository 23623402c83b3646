"""Transforms against torch.optim, the fused Adam against its chain, trees, purity, schedules."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest

from rankwise import optim


def _run(tx: optim.Transform, x0: Any, grads: list[Any]) -> Any:
    x, state = x0, tx.init(x0)
    for g in grads:
        u, state = tx.update(g, state, x)
        x = optim.apply_updates(x, u)
    return x


CASES = [
    ("sgd", lambda: optim.sgd(0.1), lambda t, p: t.optim.SGD([p], lr=0.1)),
    ("momentum", lambda: optim.momentum(0.1, 0.9), lambda t, p: t.optim.SGD([p], lr=0.1, momentum=0.9)),
    ("nesterov", lambda: optim.nesterov(0.1, 0.8),
     lambda t, p: t.optim.SGD([p], lr=0.1, momentum=0.8, nesterov=True)),
    ("rmsprop", lambda: optim.rmsprop(0.01, 0.99), lambda t, p: t.optim.RMSprop([p], lr=0.01, alpha=0.99)),
    ("adam", lambda: optim.adam(0.05), lambda t, p: t.optim.Adam([p], lr=0.05)),
    ("adamw", lambda: optim.adamw(0.05, weight_decay=0.1), lambda t, p: t.optim.AdamW([p], lr=0.05, weight_decay=0.1)),
]


@pytest.mark.parametrize(("name", "ours", "theirs"), CASES, ids=[c[0] for c in CASES])
def test_matches_torch_optim(name: str, ours: Any, theirs: Any, rng: np.random.Generator) -> None:
    torch = pytest.importorskip("torch")
    x0 = rng.standard_normal(7)
    grads = [rng.standard_normal(7) for _ in range(25)]
    p = torch.tensor(x0, requires_grad=True)
    opt = theirs(torch, p)
    for g in grads:
        p.grad = torch.tensor(g)
        opt.step()
    np.testing.assert_allclose(_run(ours(), x0, grads), p.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_fused_adam_equals_its_chain(rng: np.random.Generator) -> None:
    x0 = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(30)]
    sched = optim.warmup_cosine(0.1, total=30, warmup=5)
    for lr in (0.1, sched):
        fused = _run(optim.adam(lr, b1=0.8, b2=0.99, eps=1e-6), x0, grads)
        chained = _run(optim.chain(optim.scale_by_adam(0.8, 0.99, 1e-6), optim.scale_by_learning_rate(lr)), x0, grads)
        np.testing.assert_allclose(fused, chained, rtol=1e-13)


def test_trees_equal_leafwise_runs(rng: np.random.Generator) -> None:
    a, b = rng.standard_normal(3), rng.standard_normal((2, 2))
    ga = [rng.standard_normal(3) for _ in range(5)]
    gb = [rng.standard_normal((2, 2)) for _ in range(5)]
    for make in (lambda: optim.adam(0.1), lambda: optim.momentum(0.1), lambda: optim.adamw(0.1)):
        as_dict = _run(make(), {"a": a, "b": b}, [{"a": x, "b": y} for x, y in zip(ga, gb, strict=True)])
        as_list = _run(make(), [a, b], [[x, y] for x, y in zip(ga, gb, strict=True)])
        np.testing.assert_allclose(as_dict["a"], _run(make(), a, ga))
        np.testing.assert_allclose(as_dict["b"], _run(make(), b, gb))
        assert isinstance(as_list, list)
        np.testing.assert_allclose(as_list[1], as_dict["b"])


def test_updates_are_pure_and_keep_dtype() -> None:
    x = np.ones(4, dtype=np.float32)
    g = np.full(4, 0.5, dtype=np.float32)
    for tx in (optim.adam(0.1), optim.momentum(0.1), optim.rmsprop(0.1), optim.nesterov(0.1), optim.sgd(0.1)):
        state = tx.init(x)
        u, new_state = tx.update(g, state, x)
        u2, _ = tx.update(g, state, x)  # the same state gives the same update: nothing was changed in place
        np.testing.assert_array_equal(u, u2)
        np.testing.assert_array_equal(g, 0.5)
        assert u.dtype == np.float32 and optim.apply_updates(x, u).dtype == np.float32
    state = optim.adam(0.1).init(x)
    _, after = optim.adam(0.1).update(g, state, x)
    assert state.step == 0 and after.step == 1 and not np.any(state.mu)


def test_torch_and_array_api_strict_leaves() -> None:
    torch = pytest.importorskip("torch")
    x = torch.ones(3, dtype=torch.float32)
    u, _ = optim.adam(0.1).update(torch.full((3,), 2.0), optim.adam(0.1).init(x), x)
    assert isinstance(u, torch.Tensor) and u.dtype == torch.float32
    np.testing.assert_allclose(u.numpy(), -0.1, rtol=1e-5)
    xp = pytest.importorskip("array_api_strict")
    y = xp.asarray([1.0, 2.0])
    tx = optim.momentum(0.1)
    u, _ = tx.update(xp.asarray([1.0, 1.0]), tx.init(y), y)
    assert type(u) is type(y)


def test_chain_checks_its_state() -> None:
    tx = optim.chain(optim.trace(0.9), optim.scale(-0.1))
    with pytest.raises(ValueError, match=r"^chain: 'state' must hold one state per transform \(2\); got 1 states\. "
                                         r"Make sure you have called init first"):
        tx.update(np.ones(2), (optim.EmptyState(),))
    with pytest.raises(TypeError, match=r"^chain: 'transforms\[1\]' must be a Transform"):
        optim.chain(optim.scale(1.0), "adam")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"add_decayed_weights: 'params' must be given"):
        t = optim.add_decayed_weights(0.1)
        t.update(np.ones(2), t.init(None))


@pytest.mark.parametrize("factory", [optim.sgd, optim.momentum, optim.nesterov, optim.rmsprop, optim.adam, optim.adamw])
@pytest.mark.parametrize("lr", [0.0, -0.1, math.nan, math.inf])
def test_nonpositive_learning_rates_are_refused(factory: Any, lr: float) -> None:
    with pytest.raises(ValueError, match=rf"^{factory.__name__}: 'lr' must be a number in \(0, inf\]; got"):
        factory(lr)


def test_bad_hyperparameters() -> None:
    with pytest.raises(ValueError, match=r"^momentum: 'beta' must be a number in \[0, 1\); got 1.0"):
        optim.momentum(0.1, beta=1.0)
    with pytest.raises(ValueError, match=r"^adam: 'b2' must be a number in \[0, 1\); got 1.5"):
        optim.adam(0.1, b2=1.5)
    with pytest.raises(TypeError, match=r"^sgd: 'lr' must be a number in \(0, inf\) or a Schedule; got 'fast'"):
        optim.sgd("fast")  # type: ignore[arg-type]


def test_schedules() -> None:
    assert [optim.constant(0.3)(k) for k in (0, 100)] == [0.3, 0.3]
    s = optim.step_decay(1.0, every=3, factor=0.1)
    assert [s(k) for k in (0, 2, 3, 6)] == pytest.approx([1.0, 1.0, 0.1, 0.01])
    assert optim.exponential_decay(2.0, rate=0.5)(4) == pytest.approx(0.125)
    inv = optim.inverse_time(1.0, decay=1.0)
    assert [inv(k) for k in range(4)] == pytest.approx([1.0, 1 / 2, 1 / 3, 1 / 4])
    c = optim.warmup_cosine(1.0, total=20, warmup=4, final=0.1)
    vals = [c(k) for k in range(25)]
    assert vals[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0]) and vals[4] == pytest.approx(1.0)
    assert vals[12] == pytest.approx(0.55) and vals[20:] == pytest.approx([0.1] * 5)
    assert all(a >= b for a, b in itertools.pairwise(vals[4:]))
    assert repr(inv) == "inverse_time(value=1.0, decay=1.0)"
    with pytest.raises(ValueError, match=r"^warmup_cosine: 'warmup' must be an int in \[0, total - 1\] = \[0, 19\]"):
        optim.warmup_cosine(1.0, total=20, warmup=20)
    with pytest.raises(ValueError, match=r"^step_decay: 'factor' must be a number in \(0, 1\]; got 2.0"):
        optim.step_decay(1.0, every=2, factor=2.0)
    sched = optim.scale_by_schedule(inv)
    state = sched.init(None)
    u1, state = sched.update(np.ones(1), state)
    u2, state = sched.update(np.ones(1), state)
    assert (u1[0], u2[0], state.step) == (1.0, 0.5, 2)


def test_every_public_name_is_documented() -> None:
    import rankwise
    from rankwise import rates

    assert "optim" in rankwise.__all__ and "rates" in rankwise.__all__
    for module in (optim, rates):
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, dict):
                continue
            assert obj.__doc__ and len(obj.__doc__.strip()) > 20, name
    for name in optim.METHODS:
        assert optim.METHODS[name].summary
