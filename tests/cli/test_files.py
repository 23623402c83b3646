"""The CLI with the user's files: nothing lost, nothing overwritten unasked, modes by the umask,
only regular files read, CSV rules a user can predict, errors in one line.

Each test drives the real command (typer's runner, or a subprocess where a signal or a
terminal matters) on real files: FIFOs, devices, symlinks, existing adapters, BOM CSVs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.cli._run import one_line_error, run


def leftovers(folder: Path) -> list[str]:
    """Temporaries rankwise left behind in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if ".rankwise-" in p.name)


@pytest.fixture
def matrix(tmp_path: Path) -> Path:
    A = np.random.default_rng(0).standard_normal((40, 30))
    np.save(tmp_path / "a.npy", A)
    return tmp_path / "a.npy"


# --------------------------------------------------------------------------- nothing overwritten unasked


def test_an_existing_output_file_is_kept_without_force(tmp_path: Path, matrix: Path) -> None:
    out = tmp_path / "f.npz"
    out.write_bytes(b"keep me")
    msg = one_line_error(*run("approx", matrix, "--rank", "3", "-o", out)[::2])
    assert msg == f"rankwise: error: {out}: already exists (a file); pass --force to replace it"
    assert out.read_bytes() == b"keep me"
    code, stdout, err = run("approx", matrix, "--rank", "3", "-o", out, "--force")
    assert code == 0, err
    with np.load(out) as z:
        assert sorted(z.files) == ["S", "U", "Vh"]
    assert leftovers(tmp_path) == []


def test_a_symlinked_output_is_refused_and_force_replaces_the_link_not_its_target(tmp_path: Path,
                                                                                  matrix: Path) -> None:
    target = tmp_path / "precious.npz"
    target.write_bytes(b"precious")
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    msg = one_line_error(*run("approx", matrix, "--rank", "2", "-o", link)[::2])
    assert "already exists (a symlink); pass --force" in msg
    code, _, err = run("approx", matrix, "--rank", "2", "-o", link, "--force")
    assert code == 0, err
    assert not link.is_symlink() and target.read_bytes() == b"precious"


def test_an_input_is_never_an_output_even_with_force(tmp_path: Path, matrix: Path) -> None:
    alias = tmp_path / "alias.npy"
    alias.symlink_to(matrix)
    before = matrix.read_bytes()
    for out in (matrix, alias):
        for option in ("-o", "--plot"):
            msg = one_line_error(*run("approx", matrix, "--rank", "2", option, out, "--force")[::2])
            assert f"{out}: is an input; refusing to write over it, even with --force" in msg
    assert matrix.read_bytes() == before and alias.is_symlink()


def test_plot_files_of_all_matrices_are_checked_first_and_reported(tmp_path: Path) -> None:
    np.savez(tmp_path / "m.npz", a=np.eye(5), b=np.ones((4, 3)))
    taken = tmp_path / "p.b.png"
    taken.write_bytes(b"old")
    msg = one_line_error(*run("approx", tmp_path / "m.npz", "--all", "--rank", "1", "--plot", tmp_path / "p.png")[::2])
    assert f"{taken}: already exists" in msg and not (tmp_path / "p.a.png").exists()
    code, out, err = run("approx", tmp_path / "m.npz", "--all", "--rank", "1", "--plot", tmp_path / "p.png", "--force",
                         env={"COLUMNS": "200"})
    assert code == 0, err
    written = [line.removeprefix("plot written to ") for line in out.splitlines() if line.startswith("plot written")]
    assert written == [str(tmp_path / "p.a.png"), str(tmp_path / "p.b.png")]
    assert all(Path(w).read_bytes()[:4] == b"\x89PNG" for w in written)


# --------------------------------------------------------------------------- modes follow the umask


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_output_modes_follow_the_umask(tmp_path: Path, matrix: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        code, _, err = run("approx", matrix, "--rank", "2", "-o", tmp_path / "f.safetensors", "--plot",
                           tmp_path / "f.png")
    finally:
        os.umask(old)
    assert code == 0, err
    for name in ("f.safetensors", "f.png"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


# --------------------------------------------------------------------------- only regular files are read


@pytest.mark.parametrize("args", [
    ("approx", "{fifo}.npy"), ("approx", "{fifo}.csv"), ("rates", "{fifo}.csv"), ("fit", "{fifo}.csv", "-t", "y"),
    ("matmul", "{fifo}.npy", "{fifo}.npy"), ("compress", "{fifo}.safetensors", "-o", "{dir}/c.safetensors"),
    ("lora", "extract", "{fifo}.safetensors", "{fifo}.safetensors", "-o", "{dir}/ad"),
    ("retrieval", "eval", "{fifo}.npy"),
])
def test_a_fifo_is_refused_before_it_is_opened(tmp_path: Path, args: tuple[str, ...]) -> None:
    for suffix in (".npy", ".csv", ".safetensors"):
        os.mkfifo(tmp_path / f"pipe{suffix}")
    filled = [a.format(fifo=tmp_path / "pipe", dir=tmp_path) for a in args]
    t0 = time.perf_counter()
    code, _, err = run(*filled)  # a blocked open would hang here
    assert time.perf_counter() - t0 < 30
    assert code == 2 and "is a FIFO (named pipe); expected a regular file" in err, err


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_a_device_is_refused(tmp_path: Path) -> None:
    msg = one_line_error(*run("rates", "/dev/zero")[::2])
    assert msg == "rankwise: error: /dev/zero: is a character device; expected a regular file"


def test_a_directory_is_refused_where_a_file_is_expected(tmp_path: Path) -> None:
    (tmp_path / "d.csv").mkdir()
    msg = one_line_error(*run("rates", tmp_path / "d.csv")[::2])
    assert msg.endswith("d.csv: is a directory; expected a regular file")


def test_a_text_file_named_npy_gets_no_pickle_hint(tmp_path: Path) -> None:
    (tmp_path / "t.npy").write_text("1 2\n3 4\n")
    msg = one_line_error(*run("approx", tmp_path / "t.npy")[::2])
    assert "is not a .npy file" in msg and "pickle" not in msg


def test_a_npy_header_promising_more_than_the_file_holds_is_refused(tmp_path: Path) -> None:
    with open(tmp_path / "big.npy", "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (1_000_000, 1_000_000)})
        fh.write(b"\0" * 64)
    for cmd in ("approx", "rates"):
        msg = one_line_error(*run(cmd, tmp_path / "big.npy")[::2])
        assert "declares shape (1000000, 1000000) of float64 (8,000,000,000,000 bytes) but the file holds 64" in msg


# --------------------------------------------------------------------------- CSV rules


def test_csv_with_a_byte_order_mark_keeps_its_first_row(tmp_path: Path) -> None:
    f = tmp_path / "bom.csv"
    f.write_bytes("\ufeff1,2,3\n4,5,6\n7,8,10\n".encode())
    code, out, err = run("approx", f, "--rank", "2", "--json")
    assert code == 0 and err == "", err
    assert json.loads(out)[0]["shape"] == [3, 3]


@pytest.mark.parametrize(("row", "what"), [
    ("1+2j,3", "'1+2j' is a complex number"), ("0x1F,3", "'0x1F' is hexadecimal"),
    ("1,abc", "'abc' is not a number"), ("1e999x,2", "'1e999x' is not a number"),
])
def test_a_first_row_of_unreadable_numbers_is_an_error_not_a_header(tmp_path: Path, row: str, what: str) -> None:
    f = tmp_path / "t.csv"
    f.write_text(f"{row}\n4,5\n6,7\n")
    msg = one_line_error(*run("approx", f, "--rank", "1")[::2])
    assert msg.startswith(f"rankwise: error: {f}: line 1, column ") and what in msg


def test_unicode_minus_reads_as_minus(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("\u22121.5,2\n3,\u22124\n", encoding="utf-8")
    code, out, err = run("rates", f, "--json", "--no-header")
    assert code == 2  # negative errors are not a convergence sequence, but the numbers were read
    g = tmp_path / "m.csv"
    g.write_text("\u22121.5,2\n3,\u22124\n1,1\n", encoding="utf-8")
    code, out, err = run("approx", g, "--rank", "2", "--json")
    assert code == 0, err
    assert json.loads(out)[0]["shape"] == [3, 2]


def test_a_header_is_announced_on_stderr_and_can_be_overridden(tmp_path: Path) -> None:
    f = tmp_path / "h.csv"
    f.write_text("a,b\n1,2\n3,4\n5,7\n")
    code, out, err = run("approx", f, "--rank", "1", "--json")
    assert code == 0 and json.loads(out)[0]["shape"] == [3, 2]
    assert err == (f"rankwise: note: {f}: the first line read as a header (a, b); pass --no-header to read it "
                   "as numbers\n")
    msg = one_line_error(*run("approx", f, "--rank", "1", "--no-header")[::2])
    assert "line 1, column 1: 'a' is not a number" in msg
    g = tmp_path / "n.csv"
    g.write_text("2020,2021\n1,2\n3,4\n")
    code, out, err = run("approx", g, "--rank", "1", "--json", "--header")
    assert code == 0 and json.loads(out)[0]["shape"] == [2, 2] and "read as a header (2020, 2021)" in err


def test_bad_cells_name_line_and_column_and_no_row_is_dropped(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("# comment\nx,y\n1,2\n3,oops\n")
    msg = one_line_error(*run("rates", f)[::2])
    assert msg == f"rankwise: error: {f}: line 4, column 2: 'oops' is not a number"


def test_an_empty_csv_is_one_line_and_leaks_no_warning(tmp_path: Path) -> None:
    f = tmp_path / "e.csv"
    f.write_text("")
    for cmd in (("approx", f), ("rates", f), ("fit", f, "-t", "y")):
        msg = one_line_error(*run(*cmd)[::2])
        assert msg == f"rankwise: error: {f}: holds no data (an empty table)"


# --------------------------------------------------------------------------- errors in one line


@pytest.mark.parametrize("args", [("approx", "--bogus"), ("approx", "--rank", "abc"), ("lora", "extract", "/nope",
                                  "/nope", "-o", "x"), ("retrieval", "eval", "--budgets"), ("frobnicate",)])
def test_usage_errors_are_one_line_with_status_2(args: tuple[str, ...]) -> None:
    code, out, err = run(*args)
    msg = one_line_error(code, err)
    assert "╭" not in msg and "Usage:" not in msg and out == ""
    assert msg.endswith("-h')")


def test_help_shows_flags_without_a_type() -> None:
    for cmd in (("approx",), ("lora", "extract"), ("lora", "merge"), ("compress",), ("fit",), ("retrieval", "eval"),
                ("lr-scaling",)):
        code, out, _ = run(*cmd, "-h", env={"COLUMNS": "80"})
        assert code == 0 and "<bool>" not in out and "--force" in out, cmd
        assert max(len(line) for line in out.splitlines()) <= 80


# --------------------------------------------------------------------------- signals


def _wait_for(pred: object, timeout: float = 60.0) -> bool:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def _slow_writer(folder: Path) -> subprocess.Popen[bytes]:
    """A subprocess writing ``folder/out.bin`` through :func:`rankwise.io.atomic_write`, slowly (400 MiB)."""
    code = ("import sys, numpy as np, rankwise.io as io\n"
            "def slow(tmp):\n"
            "    with open(tmp, 'wb') as fh:\n"
            "        for _ in range(400):\n"
            "            fh.write(b'x' * 2**20); fh.flush()\n"
            "io.atomic_write(sys.argv[1], slow)\n")
    return subprocess.Popen([sys.executable, "-c", code, str(folder / "out.bin")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_mid_write_leaves_no_temporary_and_no_output(tmp_path: Path, sig: int) -> None:
    proc = _slow_writer(tmp_path)
    assert _wait_for(lambda: any(p.stat().st_size > 2**20 for p in tmp_path.glob(".out.bin.rankwise-*.tmp")))
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert leftovers(tmp_path) == [] and not (tmp_path / "out.bin").exists()


def test_a_killed_run_s_temporary_is_removed_by_the_next_run(tmp_path: Path) -> None:
    proc = _slow_writer(tmp_path)
    assert _wait_for(lambda: bool(list(tmp_path.glob(".out.bin.rankwise-*.tmp"))))
    proc.kill()  # SIGKILL: nothing can clean up
    proc.wait(timeout=60)
    assert len(leftovers(tmp_path)) == 1
    from rankwise.io import atomic_write

    atomic_write(tmp_path / "out.bin", lambda tmp: tmp.write_bytes(b"done"))
    assert leftovers(tmp_path) == [] and (tmp_path / "out.bin").read_bytes() == b"done"


def test_the_cli_s_sigterm_mid_compress_leaves_nothing(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from rankwise.nn import write_safetensors

    g = torch.Generator().manual_seed(0)
    write_safetensors(tmp_path / "m.safetensors", [(f"l{i}.weight", torch.randn(600, 600, generator=g))
                                                   for i in range(12)])
    proc = subprocess.Popen([sys.executable, "-m", "rankwise", "compress", str(tmp_path / "m.safetensors"), "-o",
                             str(tmp_path / "c.safetensors"), "--ratio", "0.3"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    assert _wait_for(lambda: bool(leftovers(tmp_path)) or proc.poll() is not None)
    assert proc.poll() is None, "compress finished before it could be interrupted"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert leftovers(tmp_path) == [] and not (tmp_path / "c.safetensors").exists()
