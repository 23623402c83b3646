"""LoRALinear, add_lora, merge_lora (SPEC §1.8): start at W₀, exact merge/unmerge, the example."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from rankwise import InputError, InputTypeError  # noqa: E402
from rankwise.nn import LoRALinear, add_lora, lora_parameters, match_targets, merge_lora  # noqa: E402


def trained(layer: LoRALinear, seed: int = 1) -> LoRALinear:
    """Give B non-zero values, as training would."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=g, dtype=torch.float64).to(layer.lora_B.dtype))
    return layer


def test_starts_at_the_base_layer_and_freezes_it() -> None:
    base = torch.nn.Linear(20, 12)
    layer = LoRALinear(base, r=3, alpha=6, rng=0)
    x = torch.randn(4, 20, generator=torch.Generator().manual_seed(0))
    assert torch.equal(layer(x), base(x))
    assert not base.weight.requires_grad and not base.bias.requires_grad
    assert [p.shape for p in layer.parameters() if p.requires_grad] == [(3, 20), (12, 3)]
    assert layer.scaling == 2.0 and bool(layer.lora_A.abs().max() <= 1 / math.sqrt(20))


def test_forward_is_the_dense_formula_in_float64() -> None:
    base = torch.nn.Linear(10, 7, dtype=torch.float64)
    layer = trained(LoRALinear(base, r=2, alpha=5, rng=3))
    x = torch.randn(3, 5, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    W = base.weight + (5 / 2) * layer.lora_B @ layer.lora_A
    torch.testing.assert_close(layer(x), x @ W.T + base.bias, rtol=1e-12, atol=1e-12)


def test_rslora_scaling() -> None:
    layer = LoRALinear(torch.nn.Linear(32, 32), r=16, alpha=8, rslora=True, rng=0)
    assert layer.scaling == pytest.approx(8 / 4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_merge_and_unmerge_are_exact_to_rounding(dtype: torch.dtype) -> None:
    base = torch.nn.Linear(64, 48, dtype=dtype)
    W0 = base.weight.detach().clone()
    layer = trained(LoRALinear(base, r=8, alpha=16, rng=0))
    x = torch.randn(5, 64, dtype=dtype, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        y = layer(x)
        layer.merge()
        y_merged = layer(x)
    tol = 1e-6 if dtype == torch.float32 else 1e-13
    assert float((y_merged - y).norm() / y.norm()) <= tol
    torch.testing.assert_close(base.weight, W0 + layer.delta_weight(), rtol=tol, atol=0)
    layer.unmerge()
    assert float((base.weight - W0).norm() / W0.norm()) <= tol
    with pytest.raises(InputError, match="not merged"):
        layer.unmerge()


def test_seeded_initialisation_never_touches_global_state() -> None:
    lin = torch.nn.Linear(8, 8)  # nn.Linear's own initialisation uses the global generator
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    a = LoRALinear(lin, r=2, rng=5).lora_A
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a, LoRALinear(torch.nn.Linear(8, 8), r=2, rng=5).lora_A)
    assert not torch.equal(a, LoRALinear(torch.nn.Linear(8, 8), r=2, rng=6).lora_A)
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    assert torch.equal(LoRALinear(torch.nn.Linear(8, 8), r=2, rng=g1).lora_A,
                       LoRALinear(torch.nn.Linear(8, 8), r=2, rng=g2).lora_A)


@pytest.mark.parametrize(("kwargs", "exc", "msg"), [
    ({"r": 0}, InputError, r"'r' must be an int in \[1, min\(in, out\)\] = \[1, 4\]; got 0"),
    ({"r": 5}, InputError, "got 5"),
    ({"r": 2.0}, InputTypeError, "'r' must be an int"),
    ({"r": 2, "alpha": -1.0}, InputError, "'alpha' must be"),
    ({"r": 2, "dropout": 1.0}, InputError, "'dropout' must be"),
])
def test_bad_arguments(kwargs: dict, exc: type, msg: str) -> None:
    with pytest.raises(exc, match=msg):
        LoRALinear(torch.nn.Linear(6, 4), **kwargs)
    with pytest.raises(InputTypeError, match=r"'base' must be a torch\.nn\.Linear"):
        LoRALinear(torch.nn.Conv1d(2, 2, 1), r=1)  # type: ignore[arg-type]


def net() -> torch.nn.Module:
    torch.manual_seed(0)
    block = torch.nn.ModuleDict({"query": torch.nn.Linear(16, 16), "value": torch.nn.Linear(16, 16),
                                 "out": torch.nn.Linear(16, 4)})
    return torch.nn.ModuleDict({"layer0": block, "norm": torch.nn.LayerNorm(16)})


def test_add_lora_wraps_the_matching_linears_only() -> None:
    model = net()
    add_lora(model, ["query", "value"], r=2, alpha=4, rng=0)
    kinds = {n: type(m).__name__ for n, m in model.named_modules() if n.count(".") == 1}
    assert kinds == {"layer0.query": "LoRALinear", "layer0.value": "LoRALinear", "layer0.out": "Linear"}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {f"layer0.{m}.lora_{x}" for m in ("query", "value") for x in "AB"}
    assert sum(p.numel() for p in lora_parameters(model)) == 2 * (2 * 16 + 16 * 2)
    with pytest.raises(InputError, match=r"must select at least one nn\.Linear; got 'nothing'"):
        add_lora(net(), "nothing", r=2)


def test_merge_lora_restores_plain_linears_with_the_update() -> None:
    model = net()
    x = torch.randn(3, 16, generator=torch.Generator().manual_seed(1))
    add_lora(model, "layer0.*", r=2, rng=0)
    for m in model.modules():
        if isinstance(m, LoRALinear):
            trained(m)
    q = model["layer0"]["query"]
    with torch.no_grad():
        y = q(x)
        merge_lora(model)
        assert type(model["layer0"]["query"]) is torch.nn.Linear
        torch.testing.assert_close(model["layer0"]["query"](x), y, rtol=1e-5, atol=1e-5)


def test_patterns_match_whole_names_or_trailing_parts() -> None:
    assert match_targets("encoder.layer.0.attention.self.query", "query")
    assert match_targets("encoder.layer.0.attention.self.query", "self.query")
    assert not match_targets("encoder.layer.0.attention.self.query", "elf.query")
    assert match_targets("encoder.layer.1.output.dense", "encoder.layer.[01].*")
    assert not match_targets("encoder.layer.2.output.dense", ["encoder.layer.[01].*", "query"])
    with pytest.raises(InputTypeError, match="'targets' must be a non-empty"):
        match_targets("a", [])


def test_the_finetuning_example_trains_few_parameters_and_lowers_the_loss() -> None:
    path = Path(__file__).resolve().parents[2] / "examples" / "lora_finetune.py"
    spec = importlib.util.spec_from_file_location("lora_finetune", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    run = mod.main(steps=60, width=32, verbose=False)
    assert run.params_trainable == 2 * 4 * (32 + 32) and run.params_trainable < run.params_total / 4
    assert run.loss_end < run.loss_start / 10
    assert run.merge_gap < 1e-5


def test_merge_refuses_a_non_finite_update_and_leaves_the_weight() -> None:
    base = torch.nn.Linear(8, 6)
    W0 = base.weight.detach().clone()
    layer = trained(LoRALinear(base, r=2, alpha=4, rng=0))
    with torch.no_grad():
        layer.lora_B[0, 0] = float("nan")  # a diverged adapter
    with pytest.raises(InputError, match=r"^LoRALinear.merge: the update s·BA must be finite; got 8 NaN or infinite "
                                         r"value\(s\) of 48 \(lora_A or lora_B diverged\); W₀ is left unchanged$"):
        layer.merge()
    assert torch.equal(base.weight, W0) and not layer.merged
    layer2 = trained(LoRALinear(torch.nn.Linear(8, 6), r=2, alpha=4, rng=0))
    layer2.alpha = float("inf")  # attributes edited after construction are checked again at merge time
    with pytest.raises(InputError, match=r"^LoRALinear.merge: 'alpha' must be a finite number > 0; got inf"):
        layer2.merge()
    layer2.alpha, layer2.scaling = 4.0, float("nan")
    with pytest.raises(InputError, match=r"^LoRALinear.merge: the scale must be alpha/r = 2; got nan"):
        layer2.merge()


@pytest.mark.parametrize(("alpha", "msg"), [(float("nan"), "got nan"), (float("inf"), "got inf"), (0.0, "got 0.0"),
                                            (-2.0, "got -2.0")])
def test_merged_tensors_refuse_a_bad_alpha_before_writing_anything(alpha: float, msg: str) -> None:
    from rankwise.nn.checkpoint import as_source
    from rankwise.nn.peft_io import LoRAAdapter, LoRAFactors, merged_tensors

    base = {"q.weight": torch.ones(4, 3), "q.bias": torch.zeros(4), "k.weight": torch.ones(2, 3)}
    good = LoRAFactors("linear", torch.ones(1, 3), torch.ones(4, 1), 2.0)
    bad = LoRAFactors("linear", torch.ones(1, 2), torch.ones(2, 1), alpha)
    adapter = LoRAAdapter({"q": good, "k": bad})
    stream = merged_tensors(as_source(base, func="test", name="base"), adapter)
    with pytest.raises(InputError, match=rf"^lora merge: 'alpha' for module 'k' must be a finite number > 0; {msg}"):
        next(stream)
    ok = dict(merged_tensors(as_source(base, func="test", name="base"), LoRAAdapter({"q": good})))
    torch.testing.assert_close(ok["q.weight"], torch.full((4, 3), 3.0))


def test_merged_tensors_refuse_a_nan_lora_alpha_read_from_a_peft_config(tmp_path: Path) -> None:
    import json

    from rankwise.nn import load_adapter
    from rankwise.nn.checkpoint import as_source
    from rankwise.nn.peft_io import LoRAAdapter, LoRAFactors, merged_tensors

    LoRAAdapter({"q": LoRAFactors("linear", torch.ones(1, 3), torch.ones(4, 1), 2.0)}).save(tmp_path / "ad")
    cfg_path = tmp_path / "ad" / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["lora_alpha"] = float("nan")  # Python's json writes and reads NaN
    cfg_path.write_text(json.dumps(cfg))
    ad = load_adapter(tmp_path / "ad")
    with pytest.raises(InputError, match=r"^lora merge: 'alpha' for module 'q' must be a finite number > 0; got nan"):
        list(merged_tensors(as_source({"q.weight": torch.ones(4, 3)}, func="test", name="base"), ad))
