"""The two syntaxes expressions print in: text (which :func:`rankwise.calculus.parse` reads back) and LaTeX.

A syntax maps each piece of notation (parentheses, a symbol, a product, a transpose, each
named function) to a function that writes it from its operands' strings. The printer that
walks an expression, with its precedence rules, is in :mod:`rankwise.calculus.expr`
(:func:`~rankwise.calculus.expr.to_text`, :func:`~rankwise.calculus.expr.to_latex`); this
module knows no expression nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

__all__ = ["LATEX_SYNTAX", "TEXT_SYNTAX", "Syntax"]

Syntax = Mapping[str, Callable[..., str]]
"""Piece of notation → function writing it from its operands' strings."""

_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "eta", "theta", "kappa", "lambda", "mu", "nu", "xi",
          "rho", "sigma", "tau", "phi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Sigma",
          "Phi", "Psi", "Omega"}

TEXT_SYNTAX: Syntax = MappingProxyType({
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


LATEX_SYNTAX: Syntax = MappingProxyType({
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
