"""Symbolic gradients: every derived gradient is checked numerically by check_grad on random instances."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import numpy as np
import pytest

from rankwise.calculus import (
    Expr,
    ExpressionError,
    Gradient,
    ParseError,
    check_grad,
    det,
    evaluate,
    exp,
    gradient,
    hadamard,
    inner,
    inv,
    log,
    logdet,
    matrix,
    norm,
    parse,
    scalar,
    tr,
    vector,
)


class Case(NamedTuple):
    text: str
    wrt: str
    shapes: dict[str, tuple[int, ...]]
    expected: str  # the simplified gradient, as printed
    scalars: tuple[str, ...] = ()
    spd: tuple[str, ...] = ()  # symmetric positive definite values
    positive: tuple[str, ...] = ()  # entrywise positive values


CASES = [
    Case("tr(A*X*B)", "X", {"A": (3, 4), "X": (4, 5), "B": (5, 3)}, "A'*B'"),
    Case("<C, A*X*B>", "X", {"A": (3, 4), "X": (4, 5), "B": (5, 2), "C": (3, 2)}, "A'*C*B'"),
    Case("x'*A*x", "x", {"A": (4, 4), "x": (4,)}, "A*x + A'*x"),
    Case("x'*A*x", "A", {"A": (4, 4), "x": (4,)}, "x*x'"),
    Case("<A*x, x>", "x", {"A": (4, 4), "x": (4,)}, "A'*x + A*x"),
    Case("logdet(X)", "X", {"X": (4, 4)}, "inv(X')", spd=("X",)),
    Case("det(X)", "X", {"X": (4, 4)}, "det(X)*inv(X')", spd=("X",)),
    Case("tr(C*inv(X))", "X", {"X": (4, 4), "C": (4, 4)}, "-inv(X')*C'*inv(X')", spd=("X",)),
    Case("norm(X*w - y)^2", "w", {"X": (6, 3), "w": (3,), "y": (6,)}, "2*X'*(X*w - y)"),
    Case("norm(X*w - y)^2", "X", {"X": (6, 3), "w": (3,), "y": (6,)}, "2*(X*w - y)*w'"),
    Case("norm(X*w - y)^2 / N", "w", {"X": (6, 3), "w": (3,), "y": (6,), "N": ()}, "2*N^-1*X'*(X*w - y)",
         scalars=("N",), positive=("N",)),
    Case("<A, X>", "X", {"A": (3, 5), "X": (3, 5)}, "A"),
    Case("tr(X)", "X", {"X": (4, 4)}, "I"),
    Case("tr(X'*A*X)", "X", {"X": (4, 3), "A": (4, 4)}, "A*X + A'*X"),
    Case("norm(X)", "X", {"X": (3, 5)}, "norm(X)^-1*X"),
    Case("norm(X)^2", "X", {"X": (3, 5)}, "2*X"),
    Case("tr(A*X)/norm(X)", "X", {"A": (5, 3), "X": (3, 5)}, "-tr(A*X)*norm(X)^-3*X + norm(X)^-1*A'"),
    Case("tr(exp(X))", "X", {"X": (3, 3)}, "I .* exp(X)"),
    Case("tr(A*log(X))", "X", {"A": (3, 3), "X": (3, 3)}, "A' ./ X", positive=("X",)),
    Case("exp(x'*y)", "x", {"x": (4,), "y": (4,)}, "exp(x'*y)*y"),
    Case("log(x'*A*x)", "x", {"x": (4,), "A": (4, 4)}, "(x'*A*x)^-1*(A*x + A'*x)", spd=("A",)),
    Case("<x, exp(A*x)>", "x", {"x": (4,), "A": (4, 4)}, "exp(A*x) + A'*(x .* exp(A*x))"),
    Case("x'*inv(A)*x", "A", {"x": (4,), "A": (4, 4)}, "-inv(A')*x*x'*inv(A')", spd=("A",)),
    Case("logdet(X'*X)", "X", {"X": (6, 3)}, "2*X*inv(X'*X)"),
    Case("det(A*X*B)", "X", {"A": (3, 3), "X": (3, 3), "B": (3, 3)}, "det(A*X*B)*A'*inv(B'*X'*A')*B'",
         spd=("A", "X", "B")),
    Case("a*tr(X'*X) + b*norm(X*w)^2", "X", {"X": (4, 3), "w": (3,), "a": (), "b": ()},
         "2*a*X + 2*b*X*w*w'", scalars=("a", "b")),
    Case("a*tr(X'*X) + b*norm(X*w)^2", "a", {"X": (4, 3), "w": (3,), "a": (), "b": ()}, "tr(X'*X)",
         scalars=("a", "b")),
    Case("<1 ./ y, x .* x>", "x", {"x": (5,), "y": (5,)}, "2*((1 ./ y) .* x)", positive=("y",)),
    Case("tr(X ./ A)", "X", {"X": (3, 3), "A": (3, 3)}, "I ./ A", positive=("A",)),
    Case("<B, 1 ./ X>", "X", {"X": (3, 3), "B": (3, 3)}, "-B .* (1 ./ (X .* X))", positive=("X",)),
]


def _values(case: Case, seed: int) -> dict[str, Any]:
    g = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    for name, shape in case.shapes.items():
        v = g.standard_normal(shape)
        if name in case.spd:
            v = v @ v.T / shape[0] + np.eye(shape[0])
        if name in case.positive:
            v = np.exp(0.3 * v)
        out[name] = float(v) if shape == () else v
    return out


@pytest.mark.parametrize("case", CASES, ids=[f"{c.text} wrt {c.wrt}" for c in CASES])
def test_gradient_is_simplified_and_numerically_right(case: Case) -> None:
    g = gradient(case.text, case.wrt, scalars=case.scalars)
    assert g.text == case.expected
    for seed in (0, 1):
        values = _values(case, seed)
        X0 = np.atleast_1d(np.asarray(values[case.wrt], dtype=float))  # a scalar variable is checked as (1,)

        def at(X: np.ndarray, values: dict[str, Any] = values) -> dict[str, Any]:
            return {**values, case.wrt: X if case.shapes[case.wrt] else float(X[0])}

        report = check_grad(lambda X: g.value(**at(X)), lambda X: np.atleast_1d(g(**at(X))), X0, rng=seed)
        assert report.passed, f"{case.text} wrt {case.wrt}, seed {seed}:\n{report}"


def test_wrong_symbolic_rule_would_be_caught() -> None:
    """The check is sharp enough to see a missing transpose: ∇ logdet X ≠ X⁻¹ for a non-symmetric X."""
    X = 2 * np.eye(4) + 0.4 * np.random.default_rng(3).standard_normal((4, 4))
    g = gradient("logdet(X)", "X")
    assert check_grad(lambda X: g.value(X=X), lambda X: g(X=X), X, rng=0).passed
    assert not check_grad(lambda X: g.value(X=X), lambda X: np.linalg.inv(X), X, rng=0).passed


def test_sympy_1_14_fails_where_rankwise_does_not() -> None:
    """SymPy 1.14 returns 0 for ∂ logdet X, leaves ∂ det X unevaluated and returns 0 for ∂ (xᵀAx)[0, 0]."""
    sympy = pytest.importorskip("sympy")
    if not sympy.__version__.startswith("1.14"):
        pytest.skip(f"pinned to SymPy 1.14; found {sympy.__version__}")
    X, A, x = sympy.MatrixSymbol("X", 3, 3), sympy.MatrixSymbol("A", 3, 3), sympy.MatrixSymbol("x", 3, 1)
    assert sympy.diff(sympy.log(sympy.Determinant(X)), X) == sympy.ZeroMatrix(3, 3)  # wrong: it is X^{-T}
    unevaluated = sympy.diff(sympy.Determinant(X), X)
    assert isinstance(unevaluated, sympy.Derivative)  # left as Derivative(Determinant(X), X)
    assert sympy.diff((x.T * A * x)[0, 0], x) == sympy.ZeroMatrix(3, 1)  # wrong: it is (A + Aᵀ)x
    assert gradient("logdet(X)", "X").text == "inv(X')"
    assert gradient("det(X)", "X").text == "det(X)*inv(X')"
    assert gradient("x'*A*x", "x").text == "A*x + A'*x"
    # and the numbers agree with finite differences (the table above checks these on random instances too)
    Xv = np.eye(3) + 0.2 * np.arange(9.0).reshape(3, 3) / 9
    g = gradient("det(X)", "X")
    assert check_grad(lambda X: g.value(X=X), lambda X: g(X=X), Xv, rng=0).passed


def test_python_building_matches_parsing() -> None:
    A, B, X, C = matrix("A"), matrix("B"), matrix("X"), matrix("C")
    x, y, w = vector("x"), vector("y"), vector("w")
    a = scalar("a")
    pairs: list[tuple[Expr, str]] = [
        (tr(A @ X @ B), "tr(A*X*B)"), (x.T @ A @ x, "x'*A*x"), (logdet(X), "logdet(X)"),
        (norm(X @ w - y) ** 2, "norm(X*w - y)^2"), (det(inv(X)), "det(X^-1)"), (inner(A, X), "<A, X>"),
        (2 * X / 4 + a * X, "X/2 + a*X"), (hadamard(exp(X), log(C)), "exp(X) .* log(C)"), (-(X.T), "-X'"),
        (3 - x.T @ y, "3 - x'*y"),
    ]
    for built, text in pairs:
        assert built == parse(text, scalars=["a"]), text
    assert gradient(tr(A @ X @ B), X).text == gradient("tr(A*X*B)", "X").text == "A'*B'"


@pytest.mark.parametrize(("text", "printed"), [
    ("(A*B)'", "B'*A'"), ("inv(inv(X))", "X"), ("X*inv(X)*Y", "Y"), ("2*X + X", "3*X"), ("X - X", "0"),
    ("(X')'", "X"), ("tr(X')", "tr(X)"), ("tr(2*X + Y)", "2*tr(X) + tr(Y)"), ("inv(X')'", "inv(X)"),
    ("log(exp(x))", "x"), ("x'*y*2", "2*x'*y"), ("X^-1", "inv(X)"), ("-(-X)", "X"), ("(2*3)^2", "36"),
    ("2.5e-1*X", "0.25*X"), ("(a^2)^3", "a^6"), ("(2*a)^2", "4*a^2"), ("<2*X, 3*Y>", "6*<X, Y>"),
])
def test_simplification(text: str, printed: str) -> None:
    e = parse(text, scalars=["a"])
    assert e.text == printed
    if printed != "0":  # a zero matrix prints as 0, which reads back as the number
        assert parse(e.text, scalars=["a"]) == e  # the text reads back to the same tree


def test_latex() -> None:
    assert gradient("tr(A*X*B)", "X").latex == "A^{\\top} B^{\\top}"
    assert gradient("logdet(X)", "X").latex == "X^{-\\top}"
    assert gradient("det(X)", "X").latex == "\\det\\left(X\\right) X^{-\\top}"
    assert gradient("norm(X*w - y)^2", "w").latex == "2 X^{\\top} \\left(X w - y\\right)"
    assert parse("tr(inv(A*X))").latex == "\\operatorname{tr}\\left(\\left(A X\\right)^{-1}\\right)"
    assert parse("<x, exp(y)> + norm(alpha*x)", scalars=["alpha"]).latex == (
        "\\left\\langle x, \\exp\\left(y\\right) \\right\\rangle + \\left\\| \\alpha x \\right\\|_F")
    assert parse("Sigma .* log(W) ./ V").latex == "\\left(\\Sigma \\odot \\log\\left(W\\right)\\right) \\oslash V"


@pytest.mark.parametrize(("text", "msg"), [
    ("tr(A*X*B", r"expected '\)' to close 'tr\(' from position 0 at position 8; got end of input in 'tr\(A\*X\*B'"),
    ("A*x'", r"a matrix times a row vector does not conform .* \(at position 1 in \"A\*x'\"\)"),
    ("foo(X)", r"unknown function 'foo' at position 0 in 'foo\(X\)'; known: det, exp, inner, inv, log"),
    ("X +", r"expected a number, a name or '\(' at position 3; got end of input"),
    ("X $ Y", r"unexpected character '\$' at position 2 in 'X \$ Y'"),
    ("tr(A, B)", r"tr takes 1 argument\(s\); got 2 at position 0"),
    ("X^2", r"power: only scalars have powers; got a matrix \(X\); use inv\(X\) for the inverse \(at position 1"),
    ("x + X", r"'\+' needs operands of one kind; got a matrix and vector \(at position 2"),
    ("<x, X>", r"inner: the arguments must be of one kind; got a vector and a matrix \(at position 0"),
    ("X Y", r"expected an operator or the end of the expression at position 2; got 'Y'"),
    ("tr", r"expected '\(' after the function 'tr' at position 2"),
    ("x^", r"expected a number after '\^' at position 2"),
    ("tr(x)", r"tr: the argument must be a square matrix; got a vector \(x\) \(at position 0"),
    ("X/Y", r"'/' divides by a scalar; got a matrix \(Y\); use \./ for the elementwise quotient \(at position 1"),
    ("(X", r"expected '\)' to close the '\(' from position 0 at position 2"),
])
def test_parse_errors_give_the_position(text: str, msg: str) -> None:
    with pytest.raises(ParseError, match=rf"^parse: {msg}"):
        parse(text)


def test_python_building_errors() -> None:
    X, x = matrix("X"), vector("x")
    with pytest.raises(ExpressionError, match=r"'\*' multiplies by a scalar; got a matrix and a matrix"):
        _ = X * X
    with pytest.raises(ExpressionError, match=r"a matrix times a row vector does not conform"):
        _ = X @ x.T
    with pytest.raises(TypeError, match=r"operands must be expressions or finite real numbers; got 'a'"):
        _ = X + "a"  # type: ignore[operator]
    with pytest.raises(ValueError, match=r"^matrix: 'name' must be an identifier; got '2X'"):
        matrix("2X")
    with pytest.raises(ExpressionError, match=r"power: the exponent must be a finite real number; got inf"):
        _ = scalar("a") ** float("inf")


def test_gradient_errors() -> None:
    with pytest.raises(ValueError, match=r"^gradient: 'expr' must be a scalar expression; got a matrix \(A\*X\)"):
        gradient("A*X", "X")
    with pytest.raises(ValueError, match=r"^gradient: 'wrt' must name a symbol of the expression; got 'Z' "
                                         r"\(the expression tr\(A\*X\) uses A, X\)"):
        gradient("tr(A*X)", "Z")
    with pytest.raises(TypeError, match=r"^gradient: 'expr' must be an expression or a string; got int"):
        gradient(3, "X")  # type: ignore[arg-type]


def test_cancelling_gradient_is_zero_of_the_right_shape() -> None:
    g = gradient("tr(A*X) - tr(X'*A')", "X")
    assert g.text == "0"
    assert g(A=np.ones((2, 3)), X=np.ones((3, 2))).shape == (3, 2)


def test_gradient_object() -> None:
    g = gradient("x'*A*x", "x")
    assert isinstance(g, Gradient) and str(g) == g.text and g.wrt == vector("x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.expr = g.of  # type: ignore[misc]
    A, x = np.array([[1.0, 2.0], [0.0, 1.0]]), np.array([1.0, 1.0])
    np.testing.assert_allclose(g(A=A, x=x, unused=np.ones(7)), (A + A.T) @ x)
    assert g.value(A=A, x=x) == 4.0


def test_evaluate_errors() -> None:
    e = parse("tr(A*X)")
    with pytest.raises(ValueError, match=r"^evaluate: no value for 'X' \(the expression tr\(A\*X\) uses A, X\)"):
        evaluate(e, {"A": np.eye(2)})
    with pytest.raises(ValueError, match=r"^evaluate: A\*X: inner sizes do not match \(2×3 times 4×2\)"):
        evaluate(e, {"A": np.ones((2, 3)), "X": np.ones((4, 2))})
    with pytest.raises(ValueError, match=r"^evaluate: tr\(A\*X\): needs a square matrix; got 2×3"):
        evaluate(e, {"A": np.ones((2, 3)), "X": np.ones((3, 3))})
    with pytest.raises(ValueError, match=r"^evaluate: 'X' must be a non-empty 2-D array \(a matrix\); got shape"):
        evaluate(e, {"A": np.ones((2, 3)), "X": np.ones(3)})
    with pytest.raises(ValueError, match=r"^evaluate: inv\(X\): the matrix is singular"):
        evaluate(parse("tr(inv(X))"), {"X": np.zeros((2, 2))})
    with pytest.raises(ValueError, match=r"^evaluate: X \+ Y: operands must have one shape; got 2×2, 3×3"):
        evaluate(parse("X + Y"), {"X": np.ones((2, 2)), "Y": np.ones((3, 3))})
    assert np.isnan(evaluate(parse("logdet(X)"), {"X": -np.eye(3)}))  # outside the domain: NaN, no warning
