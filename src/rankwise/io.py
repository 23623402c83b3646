"""Reading matrices from files and writing factors atomically.

Formats: ``.npy``, ``.npz``, ``.csv`` / ``.txt`` (numbers, optional header row),
``.mtx`` (Matrix Market, dense or sparse) and ``.safetensors``. Pickled objects are
never loaded. :func:`read_columns` reads named columns of numbers (sequences, data
sets). Writers go through a temporary file in the destination folder and an atomic
rename, and refuse to replace any of the inputs.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ._checks import InputError, InputTypeError

__all__ = [
    "FORMATS",
    "SAVE_FORMATS",
    "NamedMatrix",
    "atomic_write",
    "check_output",
    "factor_arrays",
    "load_matrices",
    "open_dask",
    "read_columns",
    "save_arrays",
]

FORMATS = (".npy", ".npz", ".csv", ".txt", ".mtx", ".safetensors")
SAVE_FORMATS = (".npz", ".safetensors")


class NamedMatrix(NamedTuple):
    """A matrix read from a file: its name (file stem or key) and the array (dense or scipy.sparse)."""

    name: str
    array: Any


def _fail(path: Path, msg: str) -> InputError:
    return InputError(f"{path}: {msg}")


def _check_2d(path: Path, name: str, arr: Any) -> Any:
    shape = getattr(arr, "shape", ())
    if len(shape) != 2:
        raise _fail(path, f"array {name!r} must be 2-D; got a {len(shape)}-D array of shape {tuple(shape)}")
    return arr


def _load_npy(path: Path) -> list[NamedMatrix]:
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError, EOFError) as exc:
        raise _fail(path, f"not a readable .npy file ({exc})") from None
    return [NamedMatrix(path.stem, arr)]


def _load_npz(path: Path) -> list[NamedMatrix]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return [NamedMatrix(k, z[k]) for k in z.files]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise _fail(path, f"not a readable .npz file ({exc})") from None


def _load_text(path: Path) -> list[NamedMatrix]:
    delim = "," if path.suffix.lower() == ".csv" else None
    last: Exception | None = None
    for skip in (0, 1):  # a header row is allowed
        try:
            arr = np.loadtxt(path, delimiter=delim, skiprows=skip, ndmin=2, dtype=np.float64)
            return [NamedMatrix(path.stem, arr)]
        except (ValueError, UnicodeDecodeError) as exc:
            last = exc
    raise _fail(path, f"not a numeric table ({last})")


def _load_mtx(path: Path) -> list[NamedMatrix]:
    import scipy.io

    try:
        arr = scipy.io.mmread(path)
    except (ValueError, OSError, EOFError, IndexError, TypeError) as exc:
        raise _fail(path, f"not a readable Matrix Market file ({exc})") from None
    if hasattr(arr, "tocsr"):
        arr = arr.tocsr()
    return [NamedMatrix(path.stem, arr)]


def _load_safetensors(path: Path) -> list[NamedMatrix]:
    from safetensors import SafetensorError, safe_open

    out = []
    try:
        with safe_open(str(path), framework="numpy") as f:
            for k in f.keys():
                out.append(NamedMatrix(k, _get_tensor(f, k, path)))
    except (SafetensorError, OSError, ValueError) as exc:
        raise _fail(path, f"not a readable safetensors file ({exc})") from None
    return out


def _get_tensor(f: Any, key: str, path: Path) -> np.ndarray:
    try:
        return f.get_tensor(key)
    except TypeError:  # bfloat16 / float8 have no NumPy dtype: read through torch when present
        try:
            import torch  # noqa: F401
        except ImportError:
            raise _fail(path, f"tensor {key!r} has a dtype NumPy cannot hold; install rankwise[torch] "
                              "to read it") from None
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as g:
            return g.get_tensor(key).float().numpy()


_LOADERS: dict[str, Callable[[Path], list[NamedMatrix]]] = {
    ".npy": _load_npy, ".npz": _load_npz, ".csv": _load_text, ".txt": _load_text,
    ".mtx": _load_mtx, ".safetensors": _load_safetensors,
}


def load_matrices(path: str | os.PathLike[str], *, key: str | None = None,
                  all_2d: bool = False) -> list[NamedMatrix]:
    """Read the matrix (or matrices) a file holds.

    Parameters
    ----------
    path : path-like
        A file with one of the suffixes in :data:`FORMATS`.
    key : str, optional
        Which array of a ``.npz`` or ``.safetensors`` file to read (needed when it holds several).
    all_2d : bool, default=False
        Read every 2-D array of a ``.npz`` / ``.safetensors`` file (others are skipped).

    Raises
    ------
    InputError
        Missing, unreadable or corrupt file, unknown key, an array that is not 2-D.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory; expected a file ({', '.join(FORMATS)})")
    loader = _LOADERS.get(p.suffix.lower())
    if loader is None:
        raise InputError(f"{p}: unknown format {p.suffix!r}; expected one of {', '.join(FORMATS)}")
    items = loader(p)
    if not items:
        raise _fail(p, "holds no arrays")
    if key is not None:
        found = [it for it in items if it.name == key]
        if not found:
            names = ", ".join(it.name for it in items)
            raise _fail(p, f"no array named {key!r}; it holds: {names}")
        items = found
    elif all_2d:
        items = [it for it in items if getattr(it.array, "ndim", 2) == 2]
        if not items:
            raise _fail(p, "holds no 2-D arrays")
    elif len(items) > 1:
        names = ", ".join(it.name for it in items)
        raise _fail(p, f"holds {len(items)} arrays ({names}); choose one with --key or use --all")
    return [NamedMatrix(it.name, _check_2d(p, it.name, it.array)) for it in items]


def _numeric(row: list[str]) -> bool:
    try:
        [float(c) for c in row]
    except ValueError:
        return False
    return True


def read_columns(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Named numeric columns of a text, CSV or ``.npy`` file.

    Parameters
    ----------
    path : path-like
        A ``.npy`` file holding a 1-D array (one column) or a 2-D array (its columns), or a
        text file: one number per line, or several per line separated by commas (when the
        first data line holds a comma) or else by whitespace. Blank lines and lines that
        start with ``#`` are skipped. The first line is a header of column names when it is
        not all numbers.

    Returns
    -------
    dict of str to ndarray of shape (N,), float64
        In file order; the header's names, or ``"column 0"``, ``"column 1"``, … without one
        (always for ``.npy``). A repeated header name keeps its last column.

    Raises
    ------
    InputError
        A missing file, no data, a header without rows, a ``.npy`` array that is not 1-D or
        2-D, a row of the wrong length or holding something that is not a number (the
        message gives the row's line number among the data lines, the header counted).

    Examples
    --------
    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "r.csv")
    >>> _ = Path(f).write_text("# errors\\nx,y\\n1,0.5\\n2,0.25\\n")
    >>> {k: v.tolist() for k, v in read_columns(f).items()}
    {'x': [1.0, 2.0], 'y': [0.5, 0.25]}
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.suffix.lower() == ".npy":
        arr = np.load(p, allow_pickle=False)
        arr = arr[:, None] if arr.ndim == 1 else arr
        if arr.ndim != 2:
            raise InputError(f"{p}: expected a 1-D or 2-D array; got shape {arr.shape}")
        return {f"column {j}": np.asarray(arr[:, j], dtype=np.float64) for j in range(arr.shape[1])}
    lines = [ln.strip() for ln in p.read_text(encoding="utf-8", errors="replace").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise InputError(f"{p}: holds no data")
    sep = "," if "," in lines[0] else None
    rows = [[c.strip() for c in ln.split(sep)] for ln in lines]
    header = None if _numeric(rows[0]) else rows[0]
    body = rows[1:] if header is not None else rows
    if not body:
        raise InputError(f"{p}: has a header but no data rows")
    width = len(header) if header is not None else len(body[0])
    for i, row in enumerate(body):
        if len(row) != width or not _numeric(row):
            raise InputError(f"{p}: row {i + 1 + (header is not None)} must hold {width} numbers; got {row!r}")
    data = np.array([[float(c) for c in row] for row in body], dtype=np.float64)
    names = header if header is not None else [f"column {j}" for j in range(width)]
    return {name: data[:, j] for j, name in enumerate(names)}


def factor_arrays(factors: Any, prefix: str = "") -> dict[str, np.ndarray]:
    """The fields of a factor NamedTuple as NumPy arrays, keyed ``prefix + field``.

    Parameters
    ----------
    factors : NamedTuple of arrays
        :class:`~rankwise.SVDResult`, an ID or CUR result, …; arrays of any supported library
        (moved to the host).
    prefix : str, default=""
        Prepended to every key (``"layer."`` to save several factorisations in one file).

    Returns
    -------
    dict of str to ndarray
        Ready for :func:`save_arrays`.

    Raises
    ------
    TypeError
        ``factors`` is not a NamedTuple.

    Examples
    --------
    >>> from rankwise import svd
    >>> sorted((k, v.shape) for k, v in factor_arrays(svd(np.eye(3), 2), "A.").items())
    [('A.S', (2,)), ('A.U', (3, 2)), ('A.Vh', (2, 3))]
    """
    from ._array import to_numpy

    fields = getattr(factors, "_fields", None)
    if fields is None:
        raise TypeError(f"cannot save factors of type {type(factors).__name__}")
    return {f"{prefix}{f}": to_numpy(getattr(factors, f)) for f in fields}


class _NpyRows:
    """A ``.npy`` file as an indexable array for ``dask.array.from_array``: only the path travels
    to the workers, and each chunk is a read-only view of a memory map there (never pickled
    data, and no copy: the products read the page cache directly, where a copy of each chunk
    would add a full memory pass to every read of the file)."""

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.path, self.shape, self.dtype, self.ndim = path, shape, dtype, len(shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(np.load(self.path, mmap_mode="r", allow_pickle=False)[key])


def open_dask(path: str | os.PathLike[str], *, chunks: int = 4096, key: str | None = None) -> Any:
    """A ``.npy`` file or a Zarr array on disk as a row-chunked ``dask.array`` (nothing is read yet).

    Parameters
    ----------
    path : path-like
        A 2-D ``.npy`` file (read through memory maps, ``chunks`` rows at a time, in the
        process that computes each chunk; a chunk is a read-only view of the map) or a Zarr
        array / group directory (``.zarr``).
    chunks : int, default=4096
        Rows per chunk; a chunk holds ``chunks · n`` numbers (each process that computes holds
        one or two at a time). Zarr arrays are rechunked to whole rows of this many.
    key : str, optional
        The array inside a Zarr group.

    Raises
    ------
    InputError
        Missing or unreadable file, an array that is not 2-D or not numeric, ``chunks < 1``.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "a.npy"); np.save(f, np.arange(12.0).reshape(6, 2))
    >>> D = open_dask(f, chunks=4)
    >>> D.chunks, float(D.sum().compute())
    (((4, 2), (2,)), 66.0)
    """
    from .linalg._dask import row_chunked

    p = Path(path)
    if isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or chunks < 1:
        raise InputError(f"open_dask: 'chunks' must be an integer >= 1 (rows per chunk); got {chunks!r}")
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.suffix.lower() == ".npy" and p.is_file():
        try:
            mm = np.load(p, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise _fail(p, f"not a readable .npy file ({exc})") from None
        shape, dtype, fortran = tuple(mm.shape), mm.dtype, not mm.flags.c_contiguous
        del mm
        if fortran:
            raise _fail(p, "is Fortran-ordered; row chunks need a C-ordered file (save A.T instead)")
        src: Any = _NpyRows(p, shape, dtype)
    elif p.is_dir():
        try:
            import zarr

            src = zarr.open(str(p), mode="r")
            if key is not None:
                src = src[key]
        except (ValueError, OSError, KeyError) as exc:
            raise _fail(p, f"not a readable Zarr array ({type(exc).__name__}: {exc})") from None
        if not hasattr(src, "shape") or not hasattr(src, "dtype"):
            raise _fail(p, "is a Zarr group; choose its array with --key")
        shape, dtype = tuple(src.shape), np.dtype(src.dtype)
    else:
        raise InputError(f"{p}: unknown format {p.suffix!r}; expected a .npy file or a Zarr directory")
    _check_2d(p, p.stem, src)
    if dtype.kind not in "biufc":
        raise _fail(p, f"must hold numbers; got dtype {dtype}")
    name = f"rankwise-{p.name}-{os.stat(p).st_mtime_ns}-{int(chunks)}"
    return row_chunked(src, min(int(chunks), max(1, shape[0])), name=name)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_output(path: str | os.PathLike[str], *, suffixes: Iterable[str] = (),
                 protect: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """Raise unless ``path`` may be written: not one of ``protect``, a known suffix, an existing folder."""
    dest = Path(path)
    for q in protect:
        if _same_file(dest, Path(q)):
            raise InputError(f"{dest}: is an input file; refusing to overwrite it (choose another output path)")
    allowed = tuple(suffixes)
    if allowed and dest.suffix.lower() not in allowed:
        raise InputTypeError(f"{dest}: output must end in {' or '.join(allowed)}; got {dest.suffix!r}")
    if dest.is_dir():
        raise InputError(f"{dest}: is a directory; expected a file path")
    folder = dest.parent if str(dest.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{dest}: folder {folder} does not exist")
    return dest


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None], *,
                 protect: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """Write ``path`` through ``write(tmp_path)`` and an atomic rename.

    The temporary file lives in the destination folder (so the rename is atomic) and is
    removed if ``write`` fails. ``protect`` lists paths (the inputs) that must not be replaced.
    """
    dest = check_output(path, protect=protect)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def save_arrays(path: str | os.PathLike[str], arrays: Mapping[str, Any], *,
                protect: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """Save named arrays to ``.npz`` or ``.safetensors``, atomically (see :func:`atomic_write`)."""
    dest = check_output(path, suffixes=SAVE_FORMATS, protect=protect)
    data = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    suffix = dest.suffix.lower()
    if suffix == ".npz":  # check_output admits only SAVE_FORMATS
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, **data)  # type: ignore[arg-type]
    else:
        def write(tmp: Path) -> None:
            from safetensors.numpy import save_file

            save_file(data, str(tmp))
    return atomic_write(dest, write, protect=protect)
