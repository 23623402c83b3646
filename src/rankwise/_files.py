"""Files as users expect them to be treated: inputs read only when they are regular files,
outputs never written over unasked, never over an input, and never seen half-written.

Every output goes to a temporary sibling named ``.NAME.rankwise-PID-TAG.tmp`` (created with
mode ``0o666`` or ``0o777`` so the umask decides the final mode), which is renamed into place
only once complete. SIGTERM and SIGHUP are turned into ``SystemExit`` while an output is being
written, so the temporary is removed as it is for an exception or Ctrl-C; a temporary left by
a process that no longer exists (``kill -9``, a power cut) is removed by the next write to the
same path.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ._checks import InputError, InputTypeError

__all__ = ["atomic_folder", "atomic_write", "check_input", "check_output", "output_exists", "stale_temporaries"]

_MARK = ".rankwise-"
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def check_input(path: str | os.PathLike[str], *, folders: bool = False) -> Path:
    """``path`` if it is a regular file (or, with ``folders``, a directory), following symlinks.

    A FIFO, a device or a socket is refused before it is opened (reading one could block
    forever or never end), as is a directory where a file is expected.

    Raises
    ------
    InputError
        Missing path, or a path of the wrong kind (the message names the kind found).
    """
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot be read ({exc.strerror})") from None
    if stat.S_ISREG(mode) or (folders and stat.S_ISDIR(mode)):
        return p
    expected = "a regular file or a folder" if folders else "a regular file"
    raise InputError(f"{p}: is {_kind(mode)}; expected {expected}")


def _inside(child: Path, folder: Path) -> bool:
    try:
        child.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def output_exists(path: str | os.PathLike[str]) -> bool:
    """Whether anything (a file, a folder, a symlink, even a dangling one) is at ``path``."""
    return os.path.lexists(path)


def check_output(path: str | os.PathLike[str], *, suffixes: Iterable[str] = (),
                 protect: Iterable[str | os.PathLike[str]] = (), force: bool = False,
                 folder: bool = False) -> Path:
    """``path`` if it may be written; else a one-line error saying why.

    Refused, even with ``force``: one of ``protect`` (the inputs, through any symlink or hard
    link), a path inside a protected folder, a folder that holds a protected path, a suffix
    not in ``suffixes``, a missing parent folder, a directory where a file is expected.
    Refused without ``force``: anything already at ``path`` (file, folder or symlink), except
    an empty folder where a folder is to be written (there is nothing in it to lose).
    """
    dest = Path(path)
    for q in map(Path, protect):
        if _same(dest, q):
            raise InputError(f"{dest}: is an input; refusing to write over it, even with --force "
                             "(choose another output path)")
        if q.is_dir() and _inside(dest, q):
            raise InputError(f"{dest}: is inside the input folder {q}; refusing to write there, even with --force")
        if folder and _inside(q, dest):
            raise InputError(f"{dest}: holds the input {q}; refusing to replace it, even with --force")
    allowed = tuple(suffixes)
    if allowed and dest.suffix.lower() not in allowed:
        raise InputTypeError(f"{dest}: output must end in {' or '.join(allowed)}; got {dest.suffix!r}")
    parent = dest.parent if str(dest.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{dest}: folder {parent} does not exist")
    if not folder and dest.is_dir() and not dest.is_symlink():
        raise InputError(f"{dest}: is a directory; expected a file path")
    empty_folder = folder and dest.is_dir() and not dest.is_symlink() and not any(dest.iterdir())
    if output_exists(dest) and not force and not empty_folder:
        what = "a symlink" if dest.is_symlink() else ("a folder" if dest.is_dir() else "a file")
        raise InputError(f"{dest}: already exists ({what}); pass --force to replace it")
    return dest


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_temporaries(dest: str | os.PathLike[str]) -> list[Path]:
    """The temporaries of ``dest`` left by processes that no longer run."""
    d = Path(dest)
    parent = d.parent if str(d.parent) else Path(".")
    pattern = re.compile(rf"^\.{re.escape(d.name)}{re.escape(_MARK)}(\d+)-[0-9a-f]+\.(tmp|old)(\..*)?$")
    out = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(parent):
            m = pattern.match(entry.name)
            if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
                out.append(Path(entry.path))
    return out


def _remove(p: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def _temp_name(dest: Path, ext: str) -> Path:
    return dest.with_name(f".{dest.name}{_MARK}{os.getpid()}-{secrets.token_hex(4)}.{ext}")


def _raise_exit(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise ``SystemExit`` (so ``finally`` clauses run).

    Only the main thread can install handlers; elsewhere the block runs unchanged. Handlers
    a program installed itself (anything but the defaults) are left alone.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {}
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None and signal.getsignal(sig) in (signal.SIG_DFL, None):
            saved[sig] = signal.signal(sig, _raise_exit)
    try:
        yield
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None], *,
                 protect: Iterable[str | os.PathLike[str]] = (), force: bool = False,
                 suffixes: Iterable[str] = ()) -> Path:
    """Write ``path`` through ``write(tmp)`` into a temporary sibling, then rename it into place.

    The rename is atomic (same folder), so ``path`` holds either its old content or the
    whole new one. The temporary is created empty with mode ``0o666 & ~umask`` and removed
    if ``write`` fails or the process is interrupted (exception, Ctrl-C, SIGTERM, SIGHUP).
    See :func:`check_output` for what is refused.
    """
    protect = list(protect)
    dest = check_output(path, suffixes=suffixes, protect=protect, force=force)
    for old in stale_temporaries(dest):
        _remove(old)
    tmp = _temp_name(dest, "tmp")
    with signals_raise():
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            mode = stat.S_IMODE(os.stat(tmp).st_mode)  # 0o666 & ~umask
            write(tmp)
            os.chmod(tmp, mode)  # a writer that recreated the file (safetensors does) got 0o600
            check_output(dest, protect=protect, force=force)  # nothing appeared there meanwhile
            os.replace(tmp, dest)
        except BaseException:
            _remove(tmp)
            for extra in tmp.parent.glob(tmp.name + ".*"):  # a writer's own scratch files
                _remove(extra)
            raise
    return dest


def atomic_folder(path: str | os.PathLike[str], fill: Callable[[Path], None], *,
                  protect: Iterable[str | os.PathLike[str]] = (), force: bool = False) -> Path:
    """Create the folder ``path`` through ``fill(tmp)`` into a temporary sibling folder, then rename.

    With ``force``, an existing folder (or file, or symlink) at ``path`` is moved aside,
    the new one renamed into place, and the old one deleted; if the rename fails the old
    one is put back. A failed or interrupted ``fill`` leaves ``path`` as it was.
    """
    protect = list(protect)
    dest = check_output(path, protect=protect, force=force, folder=True)
    for old in stale_temporaries(dest):
        _remove(old)
    tmp, aside = _temp_name(dest, "tmp"), _temp_name(dest, "old")
    with signals_raise():
        try:
            os.mkdir(tmp, 0o777)
            fill(tmp)
            check_output(dest, protect=protect, force=force, folder=True)
            if output_exists(dest):
                os.rename(dest, aside)
            try:
                os.rename(tmp, dest)
            except BaseException:
                if output_exists(aside) and not output_exists(dest):
                    os.rename(aside, dest)
                raise
        except BaseException:
            _remove(tmp)
            raise
        finally:
            if output_exists(aside) and output_exists(dest):
                _remove(aside)
    return dest
