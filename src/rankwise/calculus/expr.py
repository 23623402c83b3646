"""Matrix expressions: frozen nodes and simplifying constructors.

An expression is a tree of frozen dataclasses over named symbols. Each node has a *kind*,
its shape class: scalar (1×1), column vector (n×1), row vector (1×n) or matrix (n×n),
where "n" is any size (sizes are only known when values are given). Products check
that kinds conform, so ``A @ x.T`` is refused while ``x.T @ A @ x`` is a scalar.

Build expressions with :func:`matrix`, :func:`vector`, :func:`scalar` and the operators
``+ - @ * / **`` (``@`` is the matrix product, ``*`` a multiple by a scalar), ``.T`` and the
functions :func:`tr`, :func:`det`, :func:`logdet`, :func:`inv`, :func:`inner`, :func:`norm`,
:func:`exp`, :func:`log`, :func:`hadamard`; or parse text with :func:`rankwise.calculus.parse`.

The constructors simplify as they build (constants folded, like terms collected, identities
and zeros dropped, transposes pushed to the leaves), so two equal expressions usually
compare equal as trees.

An expression prints as text that :func:`rankwise.calculus.parse` reads back (``str(e)``,
``e.text``, :func:`to_text`) or as LaTeX (``e.latex``, :func:`to_latex`), in the syntaxes of
:mod:`rankwise.calculus.render`.
"""

from __future__ import annotations

import abc
import math
import numbers
from dataclasses import dataclass
from typing import Any

from .._checks import InputError, InputTypeError
from .render import LATEX_SYNTAX, TEXT_SYNTAX, Syntax

__all__ = [
    "Expr", "ExpressionError", "Kind", "det", "exp", "hadamard", "inner", "inv", "log", "logdet", "matrix",
    "norm", "scalar", "to_latex", "to_text", "tr", "vector",
]

Kind = tuple[str, str]
"""Shape class (rows, cols), each "1" or "n"."""

SCALAR: Kind = ("1", "1")
COLUMN: Kind = ("n", "1")
ROW: Kind = ("1", "n")
MATRIX: Kind = ("n", "n")
KIND_NAMES = {SCALAR: "scalar", COLUMN: "vector", ROW: "row vector", MATRIX: "matrix"}


class ExpressionError(InputError):
    """An expression that is not well formed (kinds that do not conform, a bad name or exponent)."""


class Expr(abc.ABC):
    """Base class of expression nodes (frozen dataclasses); see the module for the operators."""

    __slots__ = ()

    @property
    @abc.abstractmethod
    def kind(self) -> Kind:
        """The shape class of the node: scalar, vector, row vector or matrix."""

    def children(self) -> tuple[Expr, ...]:
        return ()

    @property
    def text(self) -> str:
        """Plain text that :func:`rankwise.calculus.parse` reads back, e.g. ``A'*B'``."""
        return to_text(self)

    @property
    def latex(self) -> str:
        """LaTeX, e.g. ``A^{\\top} B^{\\top}``."""
        return to_latex(self)

    def __str__(self) -> str:
        return self.text

    @property
    def T(self) -> Expr:
        return transpose(self)

    def __add__(self, other: Any) -> Expr:
        return add(self, _lift(other))

    def __radd__(self, other: Any) -> Expr:
        return add(_lift(other), self)

    def __sub__(self, other: Any) -> Expr:
        return add(self, neg(_lift(other)))

    def __rsub__(self, other: Any) -> Expr:
        return add(_lift(other), neg(self))

    def __neg__(self) -> Expr:
        return neg(self)

    def __matmul__(self, other: Any) -> Expr:
        return mul(self, _lift(other))

    def __rmatmul__(self, other: Any) -> Expr:
        return mul(_lift(other), self)

    def __mul__(self, other: Any) -> Expr:
        return _scalar_multiple(self, _lift(other))

    def __rmul__(self, other: Any) -> Expr:
        return _scalar_multiple(_lift(other), self)

    def __truediv__(self, other: Any) -> Expr:
        return divide(self, _lift(other))

    def __pow__(self, p: Any) -> Expr:
        return power(self, p)


def _lift(x: Any) -> Expr:
    if isinstance(x, Expr):
        return x
    if isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x):
        return Const(float(x))
    raise InputTypeError(f"expression: operands must be expressions or finite real numbers; got {x!r} "
                         f"({type(x).__name__})")


def _scalar_multiple(a: Expr, b: Expr) -> Expr:
    if a.kind != SCALAR and b.kind != SCALAR:
        raise ExpressionError(f"expression: '*' multiplies by a scalar; got a {KIND_NAMES[a.kind]} and a "
                              f"{KIND_NAMES[b.kind]} (use @ for the matrix product, hadamard(a, b) elementwise)")
    return mul(a, b)


# ----------------------------------------------------------------------------------------- nodes


@dataclass(frozen=True, slots=True)
class Symbol(Expr):
    """A named scalar, column vector or matrix."""

    name: str
    sym_kind: Kind

    @property
    def kind(self) -> Kind:
        return self.sym_kind


@dataclass(frozen=True, slots=True)
class Const(Expr):
    """A real, finite number (a constant that overflows while folding is refused)."""

    value: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):
            raise ExpressionError(f"expression: a constant must be a finite number; got {self.value!r} "
                                  "(the numbers overflow when combined)")

    @property
    def kind(self) -> Kind:
        return SCALAR


@dataclass(frozen=True, slots=True)
class Identity(Expr):
    """The identity matrix whose size is the row count of ``like``."""

    like: Expr

    @property
    def kind(self) -> Kind:
        return MATRIX


@dataclass(frozen=True, slots=True)
class Zero(Expr):
    """The zero array with the shape of ``like``."""

    like: Expr

    @property
    def kind(self) -> Kind:
        return self.like.kind


@dataclass(frozen=True, slots=True)
class Sum(Expr):
    terms: tuple[Expr, ...]

    @property
    def kind(self) -> Kind:
        return self.terms[0].kind

    def children(self) -> tuple[Expr, ...]:
        return self.terms


@dataclass(frozen=True, slots=True)
class Scale(Expr):
    """``coef · body`` with a scalar ``coef``."""

    coef: Expr
    body: Expr

    @property
    def kind(self) -> Kind:
        return self.body.kind

    def children(self) -> tuple[Expr, ...]:
        return (self.coef, self.body)


@dataclass(frozen=True, slots=True)
class MatMul(Expr):
    """The product of two or more conforming non-scalar factors."""

    factors: tuple[Expr, ...]

    @property
    def kind(self) -> Kind:
        return (self.factors[0].kind[0], self.factors[-1].kind[1])

    def children(self) -> tuple[Expr, ...]:
        return self.factors


@dataclass(frozen=True, slots=True)
class Unary(Expr):
    """A function of one argument; subclasses fix the result kind."""

    arg: Expr

    @property
    def kind(self) -> Kind:
        return SCALAR

    def children(self) -> tuple[Expr, ...]:
        return (self.arg,)


@dataclass(frozen=True, slots=True)
class Transpose(Unary):
    @property
    def kind(self) -> Kind:
        return (self.arg.kind[1], self.arg.kind[0])


@dataclass(frozen=True, slots=True)
class Inverse(Unary):
    @property
    def kind(self) -> Kind:
        return MATRIX


@dataclass(frozen=True, slots=True)
class Trace(Unary):
    pass


@dataclass(frozen=True, slots=True)
class Det(Unary):
    pass


@dataclass(frozen=True, slots=True)
class LogDet(Unary):
    pass


@dataclass(frozen=True, slots=True)
class Norm(Unary):
    """The Frobenius (for vectors: Euclidean) norm."""


@dataclass(frozen=True, slots=True)
class Exp(Unary):
    """Elementwise exponential."""

    @property
    def kind(self) -> Kind:
        return self.arg.kind


@dataclass(frozen=True, slots=True)
class Log(Unary):
    """Elementwise natural logarithm."""

    @property
    def kind(self) -> Kind:
        return self.arg.kind


@dataclass(frozen=True, slots=True)
class Power(Expr):
    """``base ** exponent`` for a scalar base and a real exponent."""

    base: Expr
    exponent: float

    @property
    def kind(self) -> Kind:
        return SCALAR

    def children(self) -> tuple[Expr, ...]:
        return (self.base,)


@dataclass(frozen=True, slots=True)
class Inner(Expr):
    """⟨a, b⟩ = tr(aᵀb)."""

    a: Expr
    b: Expr

    @property
    def kind(self) -> Kind:
        return SCALAR

    def children(self) -> tuple[Expr, ...]:
        return (self.a, self.b)


@dataclass(frozen=True, slots=True)
class Hadamard(Expr):
    """Elementwise product a ⊙ b."""

    a: Expr
    b: Expr

    @property
    def kind(self) -> Kind:
        return self.a.kind

    def children(self) -> tuple[Expr, ...]:
        return (self.a, self.b)


@dataclass(frozen=True, slots=True)
class Quotient(Expr):
    """Elementwise quotient a ⊘ b (``a`` is ``b``'s kind, or the constant 1)."""

    a: Expr
    b: Expr

    @property
    def kind(self) -> Kind:
        return self.b.kind

    def children(self) -> tuple[Expr, ...]:
        return (self.a, self.b)


ONE = Const(1.0)


def symbols(e: Expr) -> dict[str, Symbol]:
    """The symbols of ``e`` by name, in order of first appearance (``Identity``/``Zero`` refs included)."""
    out: dict[str, Symbol] = {}
    stack = [e]
    while stack:
        node = stack.pop()
        if isinstance(node, Symbol):
            out.setdefault(node.name, node)
        elif isinstance(node, (Identity, Zero)):
            stack.append(node.like)
        stack.extend(reversed(node.children()))
    return out


def depends(e: Expr, wrt: Symbol) -> bool:
    """Whether ``wrt`` occurs in ``e`` (outside shape references)."""
    if e == wrt:
        return True
    return any(depends(c, wrt) for c in e.children())


# ------------------------------------------------------------------------------ constructors


def _name(name: Any, func: str) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise ExpressionError(f"{func}: 'name' must be an identifier; got {name!r}")
    return name


def matrix(name: str) -> Symbol:
    """A matrix symbol (any size, square where an operation needs it).

    Examples
    --------
    >>> X = matrix("X"); A = matrix("A")
    >>> print(tr(A @ X))
    tr(A*X)
    """
    return Symbol(_name(name, "matrix"), MATRIX)


def vector(name: str) -> Symbol:
    """A column-vector symbol; ``x.T`` is its row.

    Examples
    --------
    >>> x = vector("x"); A = matrix("A")
    >>> print(x.T @ A @ x)
    x'*A*x
    """
    return Symbol(_name(name, "vector"), COLUMN)


def scalar(name: str) -> Symbol:
    """A scalar symbol."""
    return Symbol(_name(name, "scalar"), SCALAR)


def _split_coef(e: Expr) -> tuple[float, Expr]:
    """(c, rest) with e = c · rest and rest free of a constant factor (ONE for a constant)."""
    if isinstance(e, Const):
        return e.value, ONE
    if isinstance(e, Scale) and isinstance(e.coef, Const):
        return e.coef.value, e.body
    return 1.0, e


def _split_scale(e: Expr) -> tuple[Expr, Expr]:
    """(c, rest) with e = c · rest, c the product of every scalar factor in front (ONE when there is none)."""
    c: Expr = ONE
    while isinstance(e, Scale) and e.kind != SCALAR:
        c = scale(c, e.coef) if c != ONE else e.coef
        e = e.body
    return c, e


def add(*terms: Expr) -> Expr:
    """The sum, with like terms collected (2·X + X = 3·X) and zeros dropped."""
    kinds = {t.kind for t in terms}
    if len(kinds) > 1:
        names = " and ".join(sorted(KIND_NAMES[k] for k in kinds))
        raise ExpressionError(f"expression: '+' needs operands of one kind; got a {names}")
    flat: list[Expr] = []
    for t in terms:
        flat.extend(t.terms if isinstance(t, Sum) else (t,))
    coefs: dict[Expr, float] = {}
    for t in flat:
        if isinstance(t, Zero):
            continue
        c, rest = _split_coef(t)
        coefs[rest] = coefs.get(rest, 0.0) + c
    kept = [scale(Const(c), rest) for rest, c in coefs.items() if c != 0.0]
    if not kept:
        return Const(0.0) if terms[0].kind == SCALAR else Zero(terms[0])
    if len(kept) == 1:
        return kept[0]
    common = {t.coef if isinstance(t, Scale) else None for t in kept}
    factor = next(iter(common)) if len(common) == 1 else None
    if factor is not None and not isinstance(factor, Const):  # c·a + c·b = c·(a + b)
        return scale(factor, add(*(t.body for t in kept if isinstance(t, Scale))))
    return Sum(tuple(kept))


def neg(e: Expr) -> Expr:
    return scale(Const(-1.0), e)


def scale(c: Expr, e: Expr) -> Expr:
    """``c · e`` for a scalar ``c``; constant factors are multiplied out and kept outermost."""
    if c.kind != SCALAR:
        raise ExpressionError(f"expression: a multiple needs a scalar factor; got a {KIND_NAMES[c.kind]}")
    k1, c1 = _split_coef(c)
    k2, e1 = _split_coef(e)
    k = k1 * k2
    if k == 0.0 or isinstance(e1, Zero) or isinstance(c1, Zero):
        return Const(0.0) if e.kind == SCALAR else (e1 if isinstance(e1, Zero) else Zero(e1))
    body = e1 if c1 == ONE else c1 if e1 == ONE else Scale(c1, e1)
    if body == ONE:
        return Const(k)
    return body if k == 1.0 else Scale(Const(k), body)


def _conform(a: Expr, b: Expr) -> None:
    if a.kind[1] != b.kind[0]:
        raise ExpressionError(f"expression: a {KIND_NAMES[a.kind]} times a {KIND_NAMES[b.kind]} does not conform "
                              f"({a.text} has {'one column' if a.kind[1] == '1' else 'n columns'}, "
                              f"{b.text} has {'one row' if b.kind[0] == '1' else 'n rows'})")


def mul(a: Expr, b: Expr) -> Expr:
    """The product: a multiple when either side is a scalar, the matrix product otherwise."""
    if a.kind == SCALAR:
        return scale(a, b)
    if b.kind == SCALAR:
        return scale(b, a)
    _conform(a, b)
    if isinstance(a, Zero) or isinstance(b, Zero):
        return Zero(MatMul((a, b)))
    ka, a = _split_scale(a)
    kb, b = _split_scale(b)
    factors: list[Expr] = []
    for f in (*(a.factors if isinstance(a, MatMul) else (a,)), *(b.factors if isinstance(b, MatMul) else (b,))):
        if isinstance(f, Identity):
            continue
        if factors and _cancels(factors[-1], f):
            factors.pop()
            continue
        factors.append(f)
    prod: Expr = (factors[0] if len(factors) == 1 else MatMul(tuple(factors))) if factors else Identity(a)
    return scale(ka, scale(kb, prod))


def _cancels(f: Expr, g: Expr) -> bool:
    """X⁻¹X = XX⁻¹ = I."""
    return (isinstance(f, Inverse) and f.arg == g) or (isinstance(g, Inverse) and g.arg == f)


def transpose(e: Expr) -> Expr:
    """eᵀ, pushed down to the symbols: (AB)ᵀ = BᵀAᵀ, (A⁻¹)ᵀ = (Aᵀ)⁻¹."""
    if e.kind == SCALAR or isinstance(e, Identity):
        return e
    if isinstance(e, Transpose):
        return e.arg
    if isinstance(e, Zero):
        return Zero(Transpose(e.like))
    if isinstance(e, Sum):
        return add(*(transpose(t) for t in e.terms))
    if isinstance(e, Scale):
        return scale(e.coef, transpose(e.body))
    if isinstance(e, MatMul):
        out = transpose(e.factors[-1])
        for f in reversed(e.factors[:-1]):
            out = mul(out, transpose(f))
        return out
    if isinstance(e, Inverse):
        return Inverse(transpose(e.arg))
    if isinstance(e, (Exp, Log)):
        return type(e)(transpose(e.arg))
    if isinstance(e, (Hadamard, Quotient)):
        return type(e)(transpose(e.a), transpose(e.b))
    return Transpose(e)


def _square(e: Expr, what: str) -> None:
    if e.kind not in (MATRIX, SCALAR):
        raise ExpressionError(f"{what}: the argument must be a square matrix; got a {KIND_NAMES[e.kind]} ({e.text})")


def inv(e: Expr) -> Expr:
    """The inverse e⁻¹ of a square matrix (1/e for a scalar)."""
    _square(e, "inv")
    if e.kind == SCALAR:
        return power(e, -1)
    if isinstance(e, Inverse):
        return e.arg
    if isinstance(e, Identity):
        return e
    k, rest = _split_coef(e)
    return Inverse(rest) if k == 1.0 else scale(Const(1.0 / k), Inverse(rest))


def tr(e: Expr) -> Expr:
    """The trace; linear, so sums and multiples are split."""
    _square(e, "tr")
    if e.kind == SCALAR:
        return e
    if isinstance(e, Sum):
        return add(*(tr(t) for t in e.terms))
    if isinstance(e, Scale):
        return scale(e.coef, tr(e.body))
    if isinstance(e, Zero):
        return Const(0.0)
    if isinstance(e, Transpose):
        return tr(e.arg)
    return Trace(e)


def det(e: Expr) -> Expr:
    """The determinant of a square matrix."""
    _square(e, "det")
    return e if e.kind == SCALAR else Det(e)


def logdet(e: Expr) -> Expr:
    """log det e (of a matrix with a positive determinant)."""
    _square(e, "logdet")
    return log(e) if e.kind == SCALAR else LogDet(e)


def inner(a: Expr, b: Expr) -> Expr:
    """⟨a, b⟩ = tr(aᵀb) = Σ a_ij b_ij, for a and b of one kind."""
    if a.kind != b.kind:
        raise ExpressionError(f"inner: the arguments must be of one kind; got a {KIND_NAMES[a.kind]} and a "
                              f"{KIND_NAMES[b.kind]}")
    if a.kind == SCALAR:
        return mul(a, b)
    if isinstance(a, Zero) or isinstance(b, Zero):
        return Const(0.0)
    ka, a = _split_scale(a)
    kb, b = _split_scale(b)
    return scale(ka, scale(kb, Inner(a, b)))


def norm(e: Expr) -> Expr:
    """The Frobenius norm ‖e‖_F (Euclidean for vectors)."""
    return Norm(e)


def power(e: Expr, p: Any) -> Expr:
    """``e ** p`` for a scalar ``e`` and a real ``p``."""
    if not isinstance(p, numbers.Real) or isinstance(p, bool) or not math.isfinite(p):
        raise ExpressionError(f"power: the exponent must be a finite real number; got {p!r}")
    if e.kind != SCALAR:
        raise ExpressionError(f"power: only scalars have powers; got a {KIND_NAMES[e.kind]} ({e.text}); "
                              "use inv(X) for the inverse")
    p = float(p)
    if p == 0.0:
        return ONE
    if p == 1.0:
        return e
    if isinstance(e, Const) and (e.value > 0 or p.is_integer()):
        return Const(e.value**p)
    if isinstance(e, Power):
        return power(e.base, e.exponent * p)
    k, rest = _split_coef(e)
    if k != 1.0 and (k > 0 or p.is_integer()):  # (k·b)^p = k^p · b^p
        return scale(Const(k**p), power(rest, p))
    return Power(e, p)


def divide(a: Expr, b: Expr) -> Expr:
    """``a / b`` for a scalar ``b``."""
    if b.kind != SCALAR:
        raise ExpressionError(f"expression: '/' divides by a scalar; got a {KIND_NAMES[b.kind]} ({b.text}); "
                              "use ./ for the elementwise quotient")
    return mul(power(b, -1), a)


def exp(e: Expr) -> Expr:
    """Elementwise exponential."""
    if isinstance(e, Log):
        return e.arg
    return Const(math.exp(e.value)) if isinstance(e, Const) else Exp(e)


def log(e: Expr) -> Expr:
    """Elementwise natural logarithm."""
    if isinstance(e, Exp):
        return e.arg
    if isinstance(e, Const) and e.value > 0:
        return Const(math.log(e.value))
    return Log(e)


def _elementwise_kinds(a: Expr, b: Expr, op: str) -> None:
    if a.kind != b.kind:
        raise ExpressionError(f"expression: '{op}' needs operands of one kind; got a {KIND_NAMES[a.kind]} and a "
                              f"{KIND_NAMES[b.kind]}")


def hadamard(a: Expr, b: Expr) -> Expr:
    """The elementwise product a ⊙ b (a multiple when either is a scalar)."""
    if a.kind == SCALAR or b.kind == SCALAR:
        return mul(a, b)
    _elementwise_kinds(a, b, ".*")
    if isinstance(a, Zero) or isinstance(b, Zero):
        return a if isinstance(a, Zero) else b
    ka, a = _split_scale(a)
    kb, b = _split_scale(b)
    return scale(ka, scale(kb, Hadamard(a, b)))


def quotient(a: Expr, b: Expr) -> Expr:
    """The elementwise quotient a ⊘ b (a ⊘ scalar is a multiple, scalar ⊘ b is scalar · (1 ⊘ b))."""
    if b.kind == SCALAR:
        return divide(a, b)
    if a.kind == SCALAR:
        return mul(a, Quotient(ONE, b)) if a != ONE else Quotient(ONE, b)
    _elementwise_kinds(a, b, "./")
    if isinstance(a, Zero):
        return a
    k, a = _split_scale(a)
    return scale(k, Quotient(a, b))


# -------------------------------------------------------------------------------------- printing
#
# Precedence, loosest first: sums (1), products and multiples (2), negation (3), powers (4),
# transposes (5), atoms and function calls (6). An operand is parenthesised when its own
# precedence is lower than its place needs.


def _num(v: float) -> str:
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


def _negative(e: Expr) -> tuple[bool, Expr]:
    """(True, -e) when e prints with a leading minus sign."""
    if isinstance(e, Const) and e.value < 0:
        return True, Const(-e.value)
    if isinstance(e, Scale) and isinstance(e.coef, Const) and e.coef.value < 0:
        k = -e.coef.value
        return True, e.body if k == 1.0 else Scale(Const(k), e.body)
    return False, e


class _Printer:
    """One printer per syntax (:mod:`rankwise.calculus.render`); ``fmt`` holds the syntax-specific pieces."""

    def __init__(self, fmt: Syntax) -> None:
        self.fmt = fmt

    def wrap(self, e: Expr, need: int) -> str:
        s, p = self.show(e)
        return s if p >= need else self.fmt["paren"](s)

    def show(self, e: Expr) -> tuple[str, int]:
        f = self.fmt
        neg, pos = _negative(e)
        if neg:
            return "-" + self.wrap(pos, 2 if not isinstance(pos, Const) else 6), 3
        if isinstance(e, Symbol):
            return f["symbol"](e.name), 6
        if isinstance(e, Const):
            return _num(e.value), 6
        if isinstance(e, Identity):
            return "I", 6
        if isinstance(e, Zero):
            return "0", 6
        if isinstance(e, Sum):
            return self.sum(e), 1
        if isinstance(e, Scale):
            body_need = 2 if isinstance(e.body, (MatMul, Scale)) else 4  # c*A*B reads back as (c*A)*B: the same
            return f["times"](self.wrap(e.coef, 2), self.wrap(e.body, body_need)), 2
        if isinstance(e, MatMul):
            return f["matmul"]([self.wrap(x, 4) for x in e.factors]), 2
        if isinstance(e, Hadamard):
            return f["hadamard"](self.wrap(e.a, 4), self.wrap(e.b, 4)), 2
        if isinstance(e, Quotient):
            return f["quotient"](self.wrap(e.a, 4), self.wrap(e.b, 4)), 2
        if isinstance(e, Power):
            return f["power"](self.wrap(e.base, 5), _num(e.exponent)), 4
        if isinstance(e, Transpose):
            return f["transpose"](self.wrap(e.arg, 6)), 5
        if isinstance(e, Inverse):
            return self.inverse(e)
        if isinstance(e, Inner):
            return f["inner"](self.show(e.a)[0], self.show(e.b)[0]), 6
        return f[type(e).__name__](self.show(e.children()[0])[0]), 6

    def sum(self, e: Sum) -> str:
        out = self.wrap(e.terms[0], 2)
        for t in e.terms[1:]:
            neg, pos = _negative(t)
            out += (" - " if neg else " + ") + self.wrap(pos, 2)
        return out

    def inverse(self, e: Inverse) -> tuple[str, int]:
        """Text: ``inv(X)`` (an atom); LaTeX: ``X^{-1}``, ``X^{-\\top}`` (a superscript, like a transpose)."""
        f = self.fmt
        if "inverse_transpose" not in f:
            return f["inverse"](self.show(e.arg)[0]), 6
        if isinstance(e.arg, Transpose):
            return f["inverse_transpose"](self.wrap(e.arg.arg, 6)), 5
        return f["inverse"](self.wrap(e.arg, 6)), 5


_TEXT = _Printer(TEXT_SYNTAX)
_LATEX = _Printer(LATEX_SYNTAX)


def to_text(e: Expr) -> str:
    """Plain text, e.g. ``2*X'*(X*w - y)``."""
    return _TEXT.show(e)[0]


def to_latex(e: Expr) -> str:
    """LaTeX, e.g. ``2 X^{\\top} \\left(X w - y\\right)``."""
    return _LATEX.show(e)[0]
