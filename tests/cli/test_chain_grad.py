"""`rankwise chain` and `rankwise grad`."""

from __future__ import annotations

import pytest

from tests.cli._run import one_line_error, run


def test_chain_prints_the_plan_and_costs() -> None:
    code, out, err = run("chain", "1000x1000", "1000x1000", "1000x1000", "1000")
    assert code == 0, err
    out = " ".join(out.split())  # lines wrap at the terminal's width
    assert "A0 @ (A1 @ (A2 @ A3))" in out
    assert "cost: 3,000,000" in out and "left to right: 2,001,000,000" in out and "right to left: 3,000,000" in out
    assert "667×" in out


def test_chain_time_runs_each_order() -> None:
    code, out, err = run("chain", "60x5", "5×70", "70x8", "8", "--time", "--repeats", "1", "--seed", "3")
    assert code == 0, err
    for order in ("optimal", "left", "right"):
        assert f"│ {order}" in out
    assert "seed=3" in out and out.count(" s │") == 3


@pytest.mark.parametrize(("args", "msg"), [
    (("chain", "3x4", "5x6"), "chain_plan: operands 0 and 1 do not match: operand 0 ends in size 4 but operand 1 "
                              "starts with size 5"),
    (("chain", "3y4", "4x6"), "shape '3y4' must look like 1000x1000 (a matrix) or 1000 (a vector)"),
    (("chain", "3x0", "0x6"), "shape '3x0' must look like"),
    (("chain", "3x4"), "'shapes' must be a sequence of at least 2 shapes; got 1 shape(s)"),
    (("chain", "3x4", "4", "--time", "--repeats", "0"), "--repeats must be >= 1; got 0"),
])
def test_chain_errors(args: tuple[str, ...], msg: str) -> None:
    code, _, err = run(*args)
    assert msg in one_line_error(code, err)


def test_grad_text_and_latex() -> None:
    code, out, err = run("grad", "tr(A*X*B)", "--wrt", "X")
    assert code == 0, err
    assert out.strip() == "∇_X tr(A*X*B) = A'*B'"
    code, out, _ = run("grad", "logdet(X)", "--wrt", "X", "--latex")
    assert code == 0 and out.strip() == "\\nabla_{X} \\left(\\log\\det\\left(X\\right)\\right) = X^{-\\top}"
    code, out, _ = run("grad", "norm(X*w - y)^2 / n", "--wrt", "w", "--scalar", "n")
    assert code == 0 and out.strip().endswith("= 2*n^-1*X'*(X*w - y)")


@pytest.mark.parametrize(("args", "msg"), [
    (("grad", "tr(A*X*B", "--wrt", "X"), "parse: expected ')' to close 'tr(' from position 0 at position 8"),
    (("grad", "tr(A*X)", "--wrt", "Z"), "'wrt' must name a symbol of the expression; got 'Z'"),
    (("grad", "A*X", "--wrt", "X"), "'expr' must be a scalar expression; got a matrix"),
])
def test_grad_errors(args: tuple[str, ...], msg: str) -> None:
    code, _, err = run(*args)
    assert msg in one_line_error(code, err)


def test_help() -> None:
    for cmd in ("chain", "grad"):
        code, out, _ = run(cmd, "--help")
        assert code == 0 and "Usage" in out
