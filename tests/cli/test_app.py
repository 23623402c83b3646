"""The `rankwise` application: version, help, entry points, and the shared error boundary."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import rankwise
from rankwise.cli import app
from rankwise.cli._common import _checks_choice, _cli_command, _fmt, _storage
from tests.cli._run import run

runner = CliRunner()


def test_version_and_help() -> None:
    code, out, _ = run("--version")
    assert code == 0 and out.startswith("rankwise ")
    for args in (["--help"], ["approx", "--help"]):
        code, out, _ = run(*args)
        assert code == 0 and "Usage" in out
    assert "σ_i = 0.9^i" in run("approx", "--help")[1].replace("\n", " ").replace("│", "")


def test_console_script_runs() -> None:
    res = subprocess.run([sys.executable, "-m", "rankwise", "--version"], capture_output=True, text=True,
                         check=False)
    assert res.returncode == 0 and res.stdout.startswith("rankwise ")


COMMANDS = ["approx", "chain", "grad", "rates", "fit", "compress", "matmul", "lora", "retrieval"]


def test_every_command_group_is_listed_in_order() -> None:
    code, out, _ = run("--help")
    assert code == 0
    listed = [line.split()[0] for line in out.splitlines()
              if line.startswith("  ") and line.split() and line.split()[0] in COMMANDS]
    assert listed == COMMANDS


@pytest.mark.parametrize("args", [[c] for c in COMMANDS if c not in ("lora", "retrieval")]
                         + [["lora", "extract"], ["lora", "merge"], ["retrieval", "eval"]])
def test_every_command_has_help(args: list[str]) -> None:
    code, out, err = run(*args, "--help")
    assert code == 0 and "Usage" in out and "Traceback" not in out + err


def test_groups_without_a_subcommand_show_their_help() -> None:
    for group, sub in (("lora", "extract"), ("retrieval", "eval")):
        res = runner.invoke(app, [group])
        assert sub in res.output and "Usage" in res.output


def test_console_script_entry_point_is_main() -> None:
    from importlib.metadata import entry_points

    from rankwise.cli import main

    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "rankwise"]
    assert ep.value == "rankwise.cli:main" and ep.load() is main


def _boundary_app(exc: BaseException) -> typer.Typer:
    t = typer.Typer()

    @t.command()
    @_cli_command
    def boom() -> None:
        raise exc

    return t


@pytest.mark.parametrize(("exc", "line"), [
    (ValueError("a message\n  over   two lines"), "rankwise: error: a message over two lines"),
    (KeyError(), "rankwise: error: KeyError"),
    (MemoryError(), "rankwise: error: out of memory: try a smaller rank, a randomized method or a smaller input"),
    (KeyboardInterrupt(), "rankwise: error: interrupted"),
])
def test_the_error_boundary_prints_one_line_and_exits_2(exc: BaseException, line: str) -> None:
    res = runner.invoke(_boundary_app(exc), [])
    assert res.exit_code == 2 and res.stderr == line + "\n" and res.stdout == ""


def test_exit_passes_through_the_boundary() -> None:
    res = runner.invoke(_boundary_app(typer.Exit(code=3)), [])
    assert res.exit_code == 3 and res.stderr == ""


def test_formatting_helpers() -> None:
    assert _fmt(None) == "n/a" and _fmt(0.012344) == "1.234e-02" and _fmt(2.0, ".1f") == "2.0"
    assert _storage(800_000, 79_244) == "800,000 → 79,244 (9.9%)" and _storage(0, 5) == "0 → 5 (0.0%)"
    assert _checks_choice("a", ("a", "b"), "kind") == "a"
    with pytest.raises(ValueError, match=r"^unknown --kind 'c'; valid: a, b$"):
        _checks_choice("c", ("a", "b"), "kind")


def test_nothing_inside_an_input_folder_can_be_an_output(tmp_path: Path) -> None:
    from rankwise.io import check_output

    (tmp_path / "ad").mkdir()
    (tmp_path / "ad" / "w.safetensors").write_bytes(b"x")
    for dest in (tmp_path / "ad" / "w.safetensors", tmp_path / "ad" / "new.safetensors", tmp_path / "ad"):
        with pytest.raises(ValueError, match="even with --force"):
            check_output(dest, protect=[tmp_path / "base.safetensors", tmp_path / "ad"], force=True,
                         folder=dest.is_dir())
    assert (tmp_path / "ad" / "w.safetensors").read_bytes() == b"x"


SRC = Path(rankwise.__file__).parent


def test_the_library_never_imports_the_command_line() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.parent.name == "cli" or path.name == "__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [f"{'.' * node.level}{node.module or ''}"] if isinstance(node, ast.ImportFrom) else [])
            if any(n.startswith(("rankwise.cli", ".cli", "..cli")) for n in names) or (
                    isinstance(node, ast.ImportFrom) and node.level and any(a.name == "cli" for a in node.names)):
                offenders.append(str(path.relative_to(SRC)))
    assert offenders == []


def test_command_modules_stay_thin() -> None:
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in (SRC / "cli").glob("*.py")}
    assert max(sizes.values()) <= 250, sizes
