"""Reading matrices from files and writing factors atomically.

Formats: ``.npy``, ``.npz``, ``.csv`` / ``.txt`` (numbers, optional header row),
``.mtx`` (Matrix Market, dense or sparse) and ``.safetensors``. Pickled objects are
never loaded. :func:`read_columns` reads named columns of numbers (sequences, data
sets). Writers go through a temporary file in the destination folder and an atomic
rename, and refuse to replace any of the inputs.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ._checks import InputError
from ._files import atomic_folder, atomic_write, check_input, check_output

__all__ = [
    "FORMATS",
    "SAVE_FORMATS",
    "NamedMatrix",
    "Table",
    "atomic_folder",
    "atomic_write",
    "check_input",
    "check_output",
    "factor_arrays",
    "load_matrices",
    "open_dask",
    "read_columns",
    "read_table",
    "save_arrays",
]

FORMATS = (".npy", ".npz", ".csv", ".txt", ".mtx", ".safetensors")
SAVE_FORMATS = (".npz", ".safetensors")


class NamedMatrix(NamedTuple):
    """A matrix read from a file: its name (file stem or key) and the array (dense or scipy.sparse).

    ``header`` holds the column names of a text file whose first row was read as a header.
    """

    name: str
    array: Any
    header: tuple[str, ...] | None = None


class Table(NamedTuple):
    """A numeric table read from a text file: the data, and the header row when there was one."""

    data: np.ndarray
    header: tuple[str, ...] | None


def _fail(path: Path, msg: str) -> InputError:
    return InputError(f"{path}: {msg}")


def _check_2d(path: Path, name: str, arr: Any) -> Any:
    shape = getattr(arr, "shape", ())
    if len(shape) != 2:
        raise _fail(path, f"array {name!r} must be 2-D; got a {len(shape)}-D array of shape {tuple(shape)}")
    return arr


def _check_npy(path: Path) -> None:
    """Raise unless ``path`` holds a ``.npy`` header whose shape and dtype fit in the file.

    Catches a text or pickle file renamed ``.npy``, object arrays, and a header that promises
    more data than the file holds (before anything is allocated).
    """
    fmt = np.lib.format
    with open(path, "rb") as fh:
        try:
            version = fmt.read_magic(fh)
        except ValueError:
            raise _fail(path, "is not a .npy file (it does not start with NumPy's magic string "
                              "\\x93NUMPY)") from None
        try:
            read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, _fortran, dtype = read(fh)
        except (ValueError, OSError, EOFError) as exc:
            raise _fail(path, f"has a malformed .npy header ({' '.join(str(exc).split())})") from None
        offset = fh.tell()
    if dtype.hasobject:
        raise _fail(path, f"holds Python objects (dtype {dtype}); rankwise reads arrays of numbers only")
    need = int(np.prod(shape, dtype=object)) * dtype.itemsize
    have = os.stat(path).st_size - offset
    if need > have:
        raise _fail(path, f"its header declares shape {tuple(shape)} of {dtype} ({need:,} bytes) but the file "
                          f"holds {have:,} bytes of data; the file is truncated or corrupt")


def _load_npy(path: Path) -> list[NamedMatrix]:
    _check_npy(path)
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


_REAL = re.compile(r"[+-]?(\d+\.?\d*(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?|inf|infinity|nan)", re.IGNORECASE)
_NUMBER_LIKE = re.compile(r"[+\-\u2212]?(0x[0-9a-f_]+|[\d_.]*\d[\d_.]*(e[+\-\u2212]?\d+)?"
                          r"([+\-\u2212][\d_.]*(e[+\-\u2212]?\d+)?)?[ij]?|inf|infinity|nan)", re.IGNORECASE)
MINUS = "\u2212"


def _why_not_real(cell: str) -> str:
    """Why ``cell`` is not a real number rankwise reads (for the error message)."""
    low = cell.lower()
    if not cell:
        return "an empty cell"
    if low.startswith(("0x", "-0x", "+0x")):
        return f"{cell!r} is hexadecimal; write it in decimal"
    if low.endswith(("j", "i")) and _NUMBER_LIKE.fullmatch(cell):
        return f"{cell!r} is a complex number; rankwise reads real tables (save complex data as .npy)"
    if "_" in cell:
        return f"{cell!r} holds an underscore; write the number without digit separators"
    return f"{cell!r} is not a number"


def _split(line: str, sep: str | None) -> list[str]:
    return [c.strip() for c in (line.split(sep) if sep else line.split())]


def read_table(path: str | os.PathLike[str], *, header: bool | None = None) -> Table:
    """A table of real numbers from a ``.csv`` or ``.txt`` file.

    Parameters
    ----------
    path : path-like
        A regular file in UTF-8 (a byte-order mark is ignored). Cells are separated by
        commas when the first data line holds one, else by whitespace. Blank lines and lines
        starting with ``#`` are skipped. A cell is a decimal number, ``inf`` or ``nan``
        (any case); the Unicode minus sign U+2212 reads as ``-``.
    header : bool, optional
        Whether the first line is a header of column names. By default it is one exactly
        when none of its cells looks like a number (so a data row is never taken for a
        header, whatever it holds).

    Returns
    -------
    Table
        ``data`` of shape (rows, columns), float64, and ``header`` (names, or None).

    Raises
    ------
    InputError
        No data, rows of different lengths, or a cell that is not a real number; the
        message gives the line and column (1-based, in the file) and what was found.

    Examples
    --------
    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = Path(f).write_text("a,b\\n1,\u22122.5\\n3,4e1\\n", encoding="utf-8")
    >>> t = read_table(f)
    >>> t.header, t.data.tolist()
    (('a', 'b'), [[1.0, -2.5], [3.0, 40.0]])
    """
    p = check_input(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fail(p, f"is not UTF-8 text (byte {exc.start}); expected a table of numbers") from None
    lines = [(i + 1, ln.strip()) for i, ln in enumerate(text.splitlines())]
    lines = [(i, ln) for i, ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise _fail(p, "holds no data (an empty table)")
    sep = "," if p.suffix.lower() == ".csv" or "," in lines[0][1] else None
    first = _split(lines[0][1], sep)
    is_header = header if header is not None else not any(_NUMBER_LIKE.fullmatch(c) for c in first)
    names = tuple(first) if is_header else None
    body = lines[1:] if is_header else lines
    if not body:
        raise _fail(p, f"has a header (line {lines[0][0]}) but no data rows")
    width = len(first)
    rows = []
    for lineno, ln in body:
        cells = _split(ln.replace(MINUS, "-"), sep)
        if len(cells) != width:
            raise _fail(p, f"line {lineno} has {len(cells)} cell{'s' * (len(cells) != 1)}; expected {width} "
                           f"(as on line {lines[0][0]})")
        rows.append(cells)
    try:  # NumPy's parser, plus the one spelling it takes that rankwise refuses: digit separators
        if any("_" in ln for _, ln in body):
            raise ValueError("underscore")
        return Table(np.array(rows, dtype=np.float64).reshape(len(rows), width), names)
    except ValueError:
        pass
    for (lineno, _), row in zip(body, rows, strict=True):  # the first cell that is not a real number
        for j, cell in enumerate(row):
            if not _REAL.fullmatch(cell):
                first_row = lineno == body[0][0] and names is None and not _NUMBER_LIKE.fullmatch(cell)
                hint = "; if this row is a header, pass --header" if first_row else ""
                raise _fail(p, f"line {lineno}, column {j + 1}: {_why_not_real(cell)}{hint}")
    raise _fail(p, "holds a cell NumPy cannot read as a number")


def _load_text(path: Path, header: bool | None = None) -> list[NamedMatrix]:
    t = read_table(path, header=header)
    return [NamedMatrix(path.stem, t.data, t.header)]


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
    except (TypeError, AttributeError):  # bfloat16 / float8 have no NumPy dtype: read through torch, as float32
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
                  all_2d: bool = False, header: bool | None = None) -> list[NamedMatrix]:
    """Read the matrix (or matrices) a file holds.

    Parameters
    ----------
    path : path-like
        A file with one of the suffixes in :data:`FORMATS`.
    key : str, optional
        Which array of a ``.npz`` or ``.safetensors`` file to read (needed when it holds several).
    all_2d : bool, default=False
        Read every 2-D array of a ``.npz`` / ``.safetensors`` file (others are skipped).
    header : bool, optional
        For ``.csv`` / ``.txt``: whether the first line is a header (see :func:`read_table`;
        by default, exactly when none of its cells looks like a number).

    Raises
    ------
    InputError
        Missing file, not a regular file (a FIFO, a device, a folder), unreadable or
        corrupt file, unknown key, an array that is not 2-D.
    """
    p = check_input(path)
    loader = _LOADERS.get(p.suffix.lower())
    if loader is None:
        raise InputError(f"{p}: unknown format {p.suffix!r}; expected one of {', '.join(FORMATS)}")
    items = _load_text(p, header) if loader is _load_text else loader(p)
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
    return [it._replace(array=_check_2d(p, it.name, it.array)) for it in items]


def read_columns(path: str | os.PathLike[str], *, header: bool | None = None) -> dict[str, np.ndarray]:
    """Named numeric columns of a text, CSV or ``.npy`` file.

    Parameters
    ----------
    path : path-like
        A ``.npy`` file holding a 1-D array (one column) or a 2-D array (its columns), or a
        text file read by :func:`read_table` (one number per line, or several per line).
    header : bool, optional
        Whether a text file's first line names the columns (default: exactly when none of
        its cells looks like a number).

    Returns
    -------
    dict of str to ndarray of shape (N,), float64
        In file order; the header's names, or ``"column 0"``, ``"column 1"``, … without one
        (always for ``.npy``).

    Raises
    ------
    InputError
        A missing file or one that is not a regular file, no data, a header without rows,
        a repeated column name, a ``.npy`` array that is not 1-D or 2-D, a row of the wrong
        length or a cell that is not a number (the message gives its line and column).

    Examples
    --------
    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "r.csv")
    >>> _ = Path(f).write_text("# errors\\nx,y\\n1,0.5\\n2,0.25\\n")
    >>> {k: v.tolist() for k, v in read_columns(f).items()}
    {'x': [1.0, 2.0], 'y': [0.5, 0.25]}
    """
    p = check_input(path)
    if p.suffix.lower() == ".npy":
        _check_npy(p)
        arr = np.load(p, allow_pickle=False, mmap_mode="r")
        arr = arr[:, None] if arr.ndim == 1 else arr
        if arr.ndim != 2:
            raise InputError(f"{p}: expected a 1-D or 2-D array; got shape {arr.shape}")
        if arr.dtype.kind not in "biuf":
            raise InputError(f"{p}: expected real numbers; got dtype {arr.dtype}")
        return {f"column {j}": np.asarray(arr[:, j], dtype=np.float64) for j in range(arr.shape[1])}
    t = read_table(p, header=header)
    names = t.header if t.header is not None else tuple(f"column {j}" for j in range(t.data.shape[1]))
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"{p}: the header names {', '.join(map(repr, repeated))} more than once; "
                         "column names must be unique")
    return {name: t.data[:, j] for j, name in enumerate(names)}


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
    check_input(p, folders=True)
    if p.suffix.lower() == ".npy" and p.is_file():
        _check_npy(p)
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


def save_arrays(path: str | os.PathLike[str], arrays: Mapping[str, Any], *,
                protect: Iterable[str | os.PathLike[str]] = (), force: bool = False) -> Path:
    """Save named arrays to ``.npz`` or ``.safetensors``, atomically (see :func:`atomic_write`).

    An existing ``path`` is replaced only with ``force``; a path in ``protect`` never.
    """
    protect = list(protect)
    dest = check_output(path, suffixes=SAVE_FORMATS, protect=protect, force=force)
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
    return atomic_write(dest, write, protect=protect, force=force)
