"""Symbolic gradients of scalar matrix expressions, through matrix differentials (SPEC §3).

For a scalar f, write its differential as df = ⟨G, dX⟩; then ∇f = G. The rules of SPEC §3
(d(AXB) = A dX B, d(X⁻¹) = −X⁻¹ dX X⁻¹, d det X = det X ⟨X^{−T}, dX⟩, …) are applied from the
top of the tree down: a node whose value is Y receives the matrix Ȳ with df = ⟨Ȳ, dY⟩ and
passes each argument Z the Z̄ with ⟨Ȳ, dY⟩ = Σ ⟨Z̄, dZ⟩. For Y = L Z R that is Z̄ = Lᵀ Ȳ Rᵀ.
The contributions reaching X are added and simplified.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from typing import Any

from .._checks import InputError, InputTypeError
from .expr import (
    KIND_NAMES,
    ONE,
    SCALAR,
    Const,
    Det,
    Exp,
    Expr,
    Hadamard,
    Identity,
    Inner,
    Inverse,
    Log,
    LogDet,
    MatMul,
    Norm,
    Power,
    Quotient,
    Scale,
    Sum,
    Symbol,
    Trace,
    Transpose,
    Zero,
    add,
    depends,
    hadamard,
    inner,
    inv,
    mul,
    neg,
    power,
    quotient,
    scale,
    symbols,
    transpose,
)

__all__ = ["Gradient", "gradient"]

Adjoints = list[tuple[Expr, Expr]]


def _matmul_rule(e: MatMul, g: Expr) -> Adjoints:
    out: Adjoints = []
    for i, f in enumerate(e.factors):
        left = [transpose(reduce(mul, e.factors[:i]))] if i else []
        right = [transpose(reduce(mul, e.factors[i + 1:]))] if i < len(e.factors) - 1 else []
        out.append((f, reduce(mul, [*left, g, *right])))
    return out


def _power_rule(e: Power, g: Expr) -> Adjoints:
    p = e.exponent
    if isinstance(e.base, Norm):  # d‖Z‖^p = p‖Z‖^{p−2} ⟨Z, dZ⟩, with no 1/‖Z‖ left over
        z = e.base.arg
        return [(z, scale(mul(g, scale(Const(p), power(e.base, p - 2))), z))]
    return [(e.base, mul(g, scale(Const(p), power(e.base, p - 1))))]


def _quotient_rule(e: Quotient, g: Expr) -> Adjoints:
    out: Adjoints = [(e.b, neg(hadamard(g, quotient(e.a, hadamard(e.b, e.b)))))]
    return out if e.a == ONE else [(e.a, quotient(g, e.b)), *out]


_RULES: dict[type, Callable[[Any, Expr], Adjoints]] = {
    Sum: lambda e, g: [(t, g) for t in e.terms],
    Scale: lambda e, g: [(e.coef, inner(g, e.body)), (e.body, scale(e.coef, g))],
    MatMul: _matmul_rule,
    Transpose: lambda e, g: [(e.arg, transpose(g))],
    Inverse: lambda e, g: [(e.arg, neg(mul(mul(inv(transpose(e.arg)), g), inv(transpose(e.arg)))))],
    Trace: lambda e, g: [(e.arg, scale(g, Identity(e.arg)))],
    Det: lambda e, g: [(e.arg, scale(mul(g, e), inv(transpose(e.arg))))],
    LogDet: lambda e, g: [(e.arg, scale(g, inv(transpose(e.arg))))],
    Norm: lambda e, g: [(e.arg, scale(mul(g, power(e, -1)), e.arg))],
    Power: _power_rule,
    Inner: lambda e, g: [(e.a, scale(g, e.b)), (e.b, scale(g, e.a))],
    Exp: lambda e, g: [(e.arg, hadamard(g, e))],
    Log: lambda e, g: [(e.arg, quotient(g, e.arg))],
    Hadamard: lambda e, g: [(e.a, hadamard(g, e.b)), (e.b, hadamard(g, e.a))],
    Quotient: _quotient_rule,
}


def _backprop(f: Expr, wrt: Symbol) -> Expr:
    found: list[Expr] = []
    stack: list[tuple[Expr, Expr]] = [(f, ONE)]
    while stack:
        e, g = stack.pop()
        if e == wrt:
            found.append(g)
            continue
        rule = _RULES.get(type(e))
        if rule is not None:
            stack.extend(reversed([(c, gc) for c, gc in rule(e, g) if depends(c, wrt)]))  # first child first
    return add(*found)


@dataclass(frozen=True, slots=True)
class Gradient:
    """The gradient ∇f of a scalar expression with respect to one symbol.

    Attributes
    ----------
    of : Expr
        The function f.
    wrt : Symbol
        The variable X.
    expr : Expr
        ∇f, simplified, of X's kind; print it (``str``), or read ``text`` / ``latex``.

    Calling the gradient with the symbols' values (keyword arguments, NumPy arrays)
    evaluates it: ``grad(X=X, A=A, B=B)`` is an array of X's shape.
    """

    of: Expr
    wrt: Symbol
    expr: Expr

    def __post_init__(self) -> None:
        if self.expr.kind != self.wrt.kind:
            raise InputError(f"Gradient: 'expr' must be a {KIND_NAMES[self.wrt.kind]} like "
                             f"{self.wrt.name}; got a {KIND_NAMES[self.expr.kind]}")

    @property
    def text(self) -> str:
        return self.expr.text

    @property
    def latex(self) -> str:
        return self.expr.latex

    def __str__(self) -> str:
        return self.expr.text

    def __call__(self, **values: Any) -> Any:
        """∇f at the given values (a NumPy array of the variable's shape, a float for a scalar)."""
        from .evaluate import evaluate

        return evaluate(self.expr, values)

    def value(self, **values: Any) -> float:
        """f at the given values."""
        from .evaluate import evaluate

        return float(evaluate(self.of, values))


def gradient(expr: Expr | str, wrt: str | Symbol, *, scalars: tuple[str, ...] = ()) -> Gradient:
    """The gradient of a scalar matrix expression, derived symbolically.

    Parameters
    ----------
    expr : Expr or str
        A scalar expression, built in Python or as text (see :func:`rankwise.calculus.parse`;
        uppercase names are matrices, lowercase names vectors).
    wrt : str or Symbol
        The variable: a matrix, vector or scalar symbol of ``expr``.
    scalars : tuple of str, default=()
        Names that are scalars when ``expr`` is text.

    Returns
    -------
    Gradient
        ∇f as a simplified expression (``str(g)``, ``g.latex``) and as a NumPy function
        (``g(X=..., A=...)``).

    Notes
    -----
    If df = ⟨G, dX⟩ = tr(Gᵀ dX) for every dX, then ∇f = G. The differentials follow SPEC §3:

    .. math:: d(AXB) = A\\,dX\\,B,\\quad d(X^{-1}) = -X^{-1}dX\\,X^{-1},\\quad
              d\\det X = \\det X\\,\\langle X^{-\\top}, dX\\rangle,\\quad
              d\\langle Ax, x\\rangle = \\langle (A + A^\\top)x, dx\\rangle.

    Examples
    --------
    >>> print(gradient("tr(A*X*B)", "X"))
    A'*B'
    >>> print(gradient("x'*A*x", "x"))
    A*x + A'*x
    >>> print(gradient("logdet(X)", "X").latex)
    X^{-\\top}
    >>> print(gradient("norm(X*w - y)^2", "w"))
    2*X'*(X*w - y)
    """
    from .parse import parse

    func = "gradient"
    if isinstance(expr, str):
        expr = parse(expr, scalars=scalars)
    if not isinstance(expr, Expr):
        raise InputTypeError(f"{func}: 'expr' must be an expression or a string; got {type(expr).__name__}")
    if expr.kind != SCALAR:
        raise InputError(f"{func}: 'expr' must be a scalar expression; got a {KIND_NAMES[expr.kind]} ({expr.text})")
    names = symbols(expr)
    name = wrt.name if isinstance(wrt, Symbol) else wrt
    if not isinstance(name, str) or name not in names or not depends(expr, names[name]):
        raise InputError(f"{func}: 'wrt' must name a symbol of the expression; got {wrt!r} "
                         f"(the expression {expr.text} uses {', '.join(names) or 'no symbols'})")
    var = names[name]
    return Gradient(expr, var, _simplify_zero(_backprop(expr, var), var))


def _simplify_zero(g: Expr, var: Symbol) -> Expr:
    """A gradient that cancels to zero has the variable's shape."""
    if isinstance(g, Zero) or g == Const(0.0):
        return Zero(var) if var.kind != SCALAR else Const(0.0)
    return g
