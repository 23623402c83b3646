"""rankwise.io.read_columns (header rules, errors) and factor_arrays, against numpy's readers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rankwise import InputError, svd
from rankwise.io import factor_arrays, load_matrices, read_columns, save_arrays


def test_csv_with_header_equals_numpy_loadtxt(tmp_path: Path, rng: np.random.Generator) -> None:
    data = rng.standard_normal((25, 3))
    f = tmp_path / "r.csv"
    np.savetxt(f, data, delimiter=",", header="a,b,c", comments="")
    cols = read_columns(f)
    assert list(cols) == ["a", "b", "c"]
    ref = np.loadtxt(f, delimiter=",", skiprows=1)
    for j, name in enumerate("abc"):
        np.testing.assert_array_equal(cols[name], ref[:, j])
        assert cols[name].dtype == np.float64 and cols[name].shape == (25,)


def test_whitespace_text_without_header_names_the_columns(tmp_path: Path, rng: np.random.Generator) -> None:
    data = rng.standard_normal((10, 2))
    np.savetxt(tmp_path / "r.txt", data)
    cols = read_columns(tmp_path / "r.txt")
    assert list(cols) == ["column 0", "column 1"]
    np.testing.assert_array_equal(np.column_stack(list(cols.values())), np.loadtxt(tmp_path / "r.txt"))


def test_comments_blank_lines_and_spaces_around_commas(tmp_path: Path) -> None:
    f = tmp_path / "r.csv"
    f.write_text("# a comment\n\n x , y \n1, 2\n  # another\n3 ,4e-1\n\n", encoding="utf-8")
    cols = read_columns(f)
    assert {k: v.tolist() for k, v in cols.items()} == {"x": [1.0, 3.0], "y": [2.0, 0.4]}


def test_a_comma_on_the_first_line_decides_the_separator(tmp_path: Path) -> None:
    f = tmp_path / "r.txt"
    f.write_text("1,2\n3,4\n", encoding="utf-8")
    assert [v.tolist() for v in read_columns(f).values()] == [[1.0, 3.0], [2.0, 4.0]]
    f.write_text("1 2\n3,4\n", encoding="utf-8")  # whitespace-separated: "3,4" is one field, not a number
    with pytest.raises(InputError, match=r"line 2 has 1 cell; expected 2 \(as on line 1\)$"):
        read_columns(f)


def test_a_single_column(tmp_path: Path) -> None:
    r = 0.5 ** np.arange(12.0)
    np.savetxt(tmp_path / "one.txt", r)
    (col,) = read_columns(tmp_path / "one.txt").values()
    np.testing.assert_array_equal(col, r)


@pytest.mark.parametrize(("arr", "names"), [(np.arange(5.0), ["column 0"]),
                                            (np.arange(12).reshape(4, 3), ["column 0", "column 1", "column 2"])])
def test_npy_one_and_two_dimensional(tmp_path: Path, arr: np.ndarray, names: list[str]) -> None:
    np.save(tmp_path / "a.npy", arr)
    cols = read_columns(tmp_path / "a.npy")
    assert list(cols) == names
    np.testing.assert_array_equal(np.column_stack(list(cols.values())), arr.reshape(arr.shape[0], -1))
    assert all(v.dtype == np.float64 for v in cols.values())


def test_a_repeated_header_name_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("a,a\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"r\.csv: the header names 'a' more than once; column names must be unique$"):
        read_columns(tmp_path / "r.csv")


@pytest.mark.parametrize(("content", "message"), [
    ("", "holds no data (an empty table)"),
    ("# only a comment\n\n", "holds no data (an empty table)"),
    ("a,b\n", "has a header (line 1) but no data rows"),
    ("a,b\n1,2\n3\n", "line 3 has 1 cell; expected 2 (as on line 1)"),
    ("1,2\n3,x\n", "line 2, column 2: 'x' is not a number"),
    ("a,b\n1,2,3\n", "line 2 has 3 cells; expected 2 (as on line 1)"),
    ("1,2\n0x1F,3\n", "line 2, column 1: '0x1F' is hexadecimal; write it in decimal"),
    ("1,2\n3,1+2j\n", "line 2, column 2: '1+2j' is a complex number; rankwise reads real tables (save complex "
                       "data as .npy)"),
    ("1,2\n3,1_000\n", "line 2, column 2: '1_000' holds an underscore; write the number without digit separators"),
    ("x,2020\n1,2\n", "line 1, column 1: 'x' is not a number; if this row is a header, pass --header"),
])
def test_errors_name_the_file_and_the_row(tmp_path: Path, content: str, message: str) -> None:
    f = tmp_path / "r.csv"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_columns(f)
    assert str(info.value) == f"{f}: {message}"


def test_missing_file_and_npy_of_three_dimensions(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_columns(tmp_path / "missing.csv")
    np.save(tmp_path / "c.npy", np.zeros((2, 2, 2)))
    with pytest.raises(InputError, match=r"expected a 1-D or 2-D array; got shape \(2, 2, 2\)$"):
        read_columns(tmp_path / "c.npy")


def test_factor_arrays_round_trip_through_save_arrays(tmp_path: Path, rng: np.random.Generator) -> None:
    A = rng.standard_normal((8, 6))
    f = svd(A, 3)
    arrays = factor_arrays(f, "w.")
    assert sorted(arrays) == ["w.S", "w.U", "w.Vh"]
    save_arrays(tmp_path / "f.npz", arrays)
    with np.load(tmp_path / "f.npz") as z:
        np.testing.assert_allclose((z["w.U"] * z["w.S"]) @ z["w.Vh"], (f.U * f.S) @ f.Vh, rtol=0, atol=0)
    assert sorted(factor_arrays(f)) == ["S", "U", "Vh"]


def test_factor_arrays_moves_torch_tensors_to_numpy() -> None:
    torch = pytest.importorskip("torch")
    f = svd(torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0)), 2)
    arrays = factor_arrays(f)
    assert all(isinstance(v, np.ndarray) for v in arrays.values())
    np.testing.assert_array_equal(arrays["S"], f.S.numpy())


def test_factor_arrays_refuses_a_plain_array() -> None:
    with pytest.raises(TypeError, match=r"^cannot save factors of type ndarray$"):
        factor_arrays(np.ones(3))


def test_safetensors_in_float8_and_bfloat16_read_as_float32(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    w = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    save_file({"f8": w.to(torch.float8_e4m3fn), "bf": w.to(torch.bfloat16)}, str(tmp_path / "m.safetensors"))
    got = {nm.name: nm.array for nm in load_matrices(tmp_path / "m.safetensors", all_2d=True)}
    for key, dtype in (("f8", torch.float8_e4m3fn), ("bf", torch.bfloat16)):
        assert got[key].dtype == np.float32
        np.testing.assert_array_equal(got[key], w.to(dtype).float().numpy())
