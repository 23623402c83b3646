"""``rankwise lora extract|merge`` and ``rankwise compress`` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from rankwise.nn import Checkpoint, calibrate, load_adapter, write_safetensors  # noqa: E402
from tests.cli._run import run  # noqa: E402


@pytest.fixture
def checkpoints(tmp_path: Path) -> tuple[Path, Path, dict, dict]:
    g = torch.Generator().manual_seed(0)
    base = {"enc.q.weight": torch.randn(72, 80, generator=g), "enc.q.bias": torch.randn(72, generator=g),
            "enc.o.weight": torch.randn(80, 72, generator=g), "norm.weight": torch.ones(80)}
    tuned = dict(base)
    tuned["enc.q.weight"] = base["enc.q.weight"] + torch.randn(72, 3, generator=g) @ torch.randn(3, 80, generator=g)
    tuned["enc.o.weight"] = base["enc.o.weight"] + torch.randn(80, 2, generator=g) @ torch.randn(2, 72, generator=g)
    b = write_safetensors(tmp_path / "base.safetensors", base.items())
    t = write_safetensors(tmp_path / "tuned.safetensors", tuned.items())
    return b, t, base, tuned


def test_extract_then_merge_reproduces_the_tuned_checkpoint(tmp_path: Path, checkpoints: tuple) -> None:
    b, t, base, tuned = checkpoints
    code, out, err = run("lora", "extract", b, t, "-o", tmp_path / "ad", "--energy", "0.999999")
    assert code == 0, err
    assert "rankwise lora extract" in out and "enc.q" in out and "2 layers" in out
    assert {n: f.rank for n, f in load_adapter(tmp_path / "ad").layers.items()} == {"enc.q": 3, "enc.o": 2}
    cfg = json.loads((tmp_path / "ad" / "adapter_config.json").read_text())
    assert cfg["r"] in (2, 3) and len(cfg["rank_pattern"]) == 1
    code, out, err = run("lora", "merge", b, tmp_path / "ad", "-o", tmp_path / "merged.safetensors")
    assert code == 0, err
    merged = Checkpoint.open(tmp_path / "merged.safetensors")
    assert sorted(merged.keys()) == sorted(tuned)
    for k, v in tuned.items():
        torch.testing.assert_close(merged.get(k), v, rtol=1e-4, atol=1e-4)


def test_extract_with_fixed_rank_and_targets(tmp_path: Path, checkpoints: tuple) -> None:
    b, t, _, _ = checkpoints
    code, out, err = run("lora", "extract", b, t, "-o", tmp_path / "ad", "--rank", "2", "--targets", "q")
    assert code == 0, err
    ad = load_adapter(tmp_path / "ad")
    assert list(ad.layers) == ["enc.q"] and ad.layers["enc.q"].rank == 2


def test_compress_a_checkpoint_with_calibration(tmp_path: Path, checkpoints: tuple) -> None:
    b, _, base, _ = checkpoints
    g = torch.Generator().manual_seed(1)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = torch.nn.ModuleDict({"q": torch.nn.Linear(80, 72), "o": torch.nn.Linear(72, 80)})

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.enc["o"](torch.tanh(self.enc["q"](x)))

    model = Net()
    model.load_state_dict({k: v for k, v in base.items() if k.startswith("enc.")}, strict=False)
    stats = calibrate(model, [torch.randn(200, 80, generator=g)]).save(tmp_path / "cal.safetensors")
    out_path = tmp_path / "small.safetensors"
    code, out, err = run("compress", b, "-o", out_path, "--ratio", "0.5", "--method", "whiten",
                         "--calibration", stats)
    assert code == 0, err
    assert "rankwise compress" in out and "cholesky" in out and "2 of 2 layers compressed" in out
    ck = Checkpoint.open(out_path)
    assert sorted(ck.keys()) == ["enc.o.A", "enc.o.B", "enc.q.A", "enc.q.B", "enc.q.bias", "norm.weight"]
    assert ck.shape("enc.q.A") == (18, 80) and ck.shape("enc.q.B") == (72, 18)  # ⌊0.5·72·80/152⌋ = 18


def test_outputs_never_replace_inputs_and_errors_exit_2(tmp_path: Path, checkpoints: tuple) -> None:
    b, t, base, _ = checkpoints
    code, _, err = run("compress", b, "-o", b, "--ratio", "0.5")
    assert code == 2 and "is an input; refusing to write over it, even with --force" in err
    code, out, err = run("lora", "extract", b, t, "-o", tmp_path / "ad", "--rank", "100")  # above some layers' size
    assert code == 0 and "are smaller than rank 100 and are kept whole" in out, err
    other = write_safetensors(tmp_path / "other.safetensors", {**base, "extra.weight": torch.ones(2, 2)}.items())
    code, _, err = run("lora", "extract", b, other, "-o", tmp_path / "ad2")
    assert code == 2 and "other.safetensors: tensor 'extra.weight' has no counterpart" in err
    code, _, err = run("compress", b, "-o", tmp_path / "x.safetensors", "--ratio", "0.5", "--method", "asvd")
    assert code == 2 and "needs 'calibration'" in err
    assert not (tmp_path / "x.safetensors").exists()
