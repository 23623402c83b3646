"""How the CLI tests call the command line: typer's runner in-process, and the one-line error rule."""

from __future__ import annotations

from typer.testing import CliRunner

from rankwise.cli import app

runner = CliRunner()


def run(*args: object, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``rankwise ARGS`` in this process: (exit status, stdout, stderr)."""
    res = runner.invoke(app, [str(a) for a in args], env=env)
    return res.exit_code, res.stdout, res.stderr


def one_line_error(code: int, err: str) -> str:
    """The error line of a failed command, after checking it failed as the CLI promises: status 2, one
    line on stderr starting ``rankwise: error:``, no traceback."""
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rankwise: error: "), err
    assert "Traceback" not in err
    return lines[0]
