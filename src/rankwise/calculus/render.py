"""Printing expressions as text (which :func:`rankwise.calculus.parse` reads back) and as LaTeX.

Precedence, loosest first: sums (1), products and multiples (2), negation (3), powers (4),
transposes (5), atoms and function calls (6). An operand is parenthesised when its own
precedence is lower than its place needs.
"""

from __future__ import annotations

from collections.abc import Callable

from .expr import (
    Const,
    Expr,
    Hadamard,
    Identity,
    Inner,
    Inverse,
    MatMul,
    Power,
    Quotient,
    Scale,
    Sum,
    Symbol,
    Transpose,
    Zero,
)

__all__ = ["to_latex", "to_text"]

_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "eta", "theta", "kappa", "lambda", "mu", "nu", "xi",
          "rho", "sigma", "tau", "phi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Sigma",
          "Phi", "Psi", "Omega"}


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
    """One printer per syntax; ``fmt`` holds the syntax-specific pieces."""

    def __init__(self, fmt: dict[str, Callable[..., str]]) -> None:
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


_TEXT = _Printer({
    "paren": lambda s: f"({s})",
    "symbol": lambda name: name,
    "times": lambda c, b: f"{c}*{b}",
    "matmul": lambda fs: "*".join(fs),
    "hadamard": lambda a, b: f"{a} .* {b}",
    "quotient": lambda a, b: f"{a} ./ {b}",
    "power": lambda b, p: f"{b}^{p}",
    "transpose": lambda a: f"{a}'",
    "inverse": lambda a: f"inv({a})",
    "inner": lambda a, b: f"<{a}, {b}>",
    "Trace": lambda a: f"tr({a})",
    "Det": lambda a: f"det({a})",
    "LogDet": lambda a: f"logdet({a})",
    "Norm": lambda a: f"norm({a})",
    "Exp": lambda a: f"exp({a})",
    "Log": lambda a: f"log({a})",
})


def _latex_symbol(name: str) -> str:
    if name in _GREEK:
        return "\\" + name
    return name if len(name) == 1 else f"\\mathrm{{{name}}}"


_LATEX = _Printer({
    "paren": lambda s: f"\\left({s}\\right)",
    "symbol": _latex_symbol,
    "times": lambda c, b: f"{c} {b}",
    "matmul": lambda fs: " ".join(fs),
    "hadamard": lambda a, b: f"{a} \\odot {b}",
    "quotient": lambda a, b: f"{a} \\oslash {b}",
    "power": lambda b, p: f"{b}^{{{p}}}",
    "transpose": lambda a: f"{a}^{{\\top}}",
    "inverse": lambda a: f"{a}^{{-1}}",
    "inverse_transpose": lambda a: f"{a}^{{-\\top}}",
    "inner": lambda a, b: f"\\left\\langle {a}, {b} \\right\\rangle",
    "Trace": lambda a: f"\\operatorname{{tr}}\\left({a}\\right)",
    "Det": lambda a: f"\\det\\left({a}\\right)",
    "LogDet": lambda a: f"\\log\\det\\left({a}\\right)",
    "Norm": lambda a: f"\\left\\| {a} \\right\\|_F",
    "Exp": lambda a: f"\\exp\\left({a}\\right)",
    "Log": lambda a: f"\\log\\left({a}\\right)",
})


def to_text(e: Expr) -> str:
    """Plain text, e.g. ``2*X'*(X*w - y)``."""
    return _TEXT.show(e)[0]


def to_latex(e: Expr) -> str:
    """LaTeX, e.g. ``2 X^{\\top} \\left(X w - y\\right)``."""
    return _LATEX.show(e)[0]

