"""Reading matrix expressions from text.

Grammar (loosest first)::

    expr    := term (("+" | "-") term)*
    term    := unary (("*" | "/" | ".*" | "./") unary)*
    unary   := ("-" | "+") unary | power
    power   := postfix ("^" ["-"] NUMBER)?
    postfix := atom "'"*
    atom    := NUMBER | NAME | NAME "(" expr ("," expr)* ")" | "(" expr ")" | "<" expr "," expr ">"

``*`` is the matrix product (a multiple when one side is a scalar), ``'`` the transpose,
``.*`` and ``./`` are elementwise, ``X^-1`` is the inverse. Names starting with an
uppercase letter are matrices, other names column vectors, and names listed in
``scalars`` scalars. Functions: tr (trace), det, logdet, inv, norm, exp, log,
inner (also written ⟨a, b⟩ as ``<a, b>``).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from .expr import (
    Const,
    Expr,
    ExpressionError,
    add,
    det,
    divide,
    exp,
    hadamard,
    inner,
    inv,
    log,
    logdet,
    matrix,
    mul,
    neg,
    norm,
    power,
    quotient,
    scalar,
    tr,
    transpose,
    vector,
)

__all__ = ["FUNCTIONS", "ParseError", "parse"]


class ParseError(ExpressionError):
    """Text that is not an expression; the message gives the position."""


FUNCTIONS: dict[str, tuple[int, Callable[..., Expr]]] = {
    "tr": (1, tr), "trace": (1, tr), "det": (1, det), "logdet": (1, logdet), "inv": (1, inv),
    "norm": (1, norm), "exp": (1, exp), "log": (1, log), "inner": (2, inner),
}
"""Function names the parser knows: name -> (number of arguments, constructor)."""

_TOKEN = re.compile(r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<op>\.\*|\./|[-+*/^'(),<>]))")


class Token(NamedTuple):
    kind: str  # "num", "name", "op" or "end"
    text: str
    pos: int


def _tokens(text: str) -> list[Token]:
    out: list[Token] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            return [*out, Token("end", "", pos)]
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup is None:
            raise ParseError(f"parse: unexpected character {text[pos]!r} at position {pos} in {text!r}")
        out.append(Token(m.lastgroup, m.group(m.lastgroup), m.start(m.lastgroup)))
        pos = m.end()


_BINARY: dict[str, Callable[[Expr, Expr], Expr]] = {
    "+": lambda a, b: add(a, b), "-": lambda a, b: add(a, neg(b)), "*": mul, "/": divide, ".*": hadamard,
    "./": quotient,
}


class _Parser:
    def __init__(self, text: str, scalars: Iterable[str]) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0
        self.scalars = set(scalars)

    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def fail(self, msg: str, tok: Token | None = None) -> ParseError:
        t = tok or self.tok
        got = "end of input" if t.kind == "end" else repr(t.text)
        return ParseError(f"parse: {msg} at position {t.pos}; got {got} in {self.text!r}")

    def number(self, tok: Token) -> float:
        """The literal's value; one that overflows to inf or underflows to 0 is refused, never rounded."""
        v = float(tok.text)
        if math.isinf(v):
            raise ParseError(f"parse: the number {tok.text!r} at position {tok.pos} overflows to inf; "
                             f"numbers must be at most {sys.float_info.max:.6g} in {self.text!r}")
        if v == 0.0 and any(c in "123456789" for c in tok.text.lower().split("e")[0]):
            raise ParseError(f"parse: the number {tok.text!r} at position {tok.pos} underflows to 0; numbers "
                             f"must be 0 or at least {5e-324:.6g} in magnitude in {self.text!r}")
        return v

    def take(self, text: str) -> bool:
        if self.tok.kind == "op" and self.tok.text == text:
            self.i += 1
            return True
        return False

    def expect(self, text: str, what: str) -> None:
        if not self.take(text):
            raise self.fail(f"expected {text!r} {what}")

    def apply(self, fn: Callable[..., Expr], tok: Token, *args: Any) -> Expr:
        """Build a node; a kind error is reported at the operator or function that caused it."""
        try:
            return fn(*args)
        except ExpressionError as exc:
            reason = str(exc).removeprefix("expression: ")
            raise ParseError(f"parse: {reason} (at position {tok.pos} in {self.text!r})") from None
        except OverflowError:
            raise ParseError(f"parse: the constants overflow when combined at position {tok.pos} in "
                             f"{self.text!r}") from None
        except ZeroDivisionError:
            raise ParseError(f"parse: division by zero at position {tok.pos} in {self.text!r}") from None

    def binary(self, ops: tuple[str, ...], operand: Callable[[], Expr]) -> Expr:
        left = operand()
        while self.tok.kind == "op" and self.tok.text in ops:
            tok = self.tok
            self.i += 1
            left = self.apply(_BINARY[tok.text], tok, left, operand())
        return left

    def expr(self) -> Expr:
        return self.binary(("+", "-"), self.term)

    def term(self) -> Expr:
        return self.binary(("*", "/", ".*", "./"), self.unary)

    def unary(self) -> Expr:
        tok = self.tok
        if self.take("-"):
            return self.apply(neg, tok, self.unary())
        if self.take("+"):
            return self.unary()
        return self.power()

    def power(self) -> Expr:
        base = self.postfix()
        tok = self.tok
        if not self.take("^"):
            return base
        sign = -1.0 if self.take("-") else 1.0
        if self.tok.kind != "num":
            raise self.fail("expected a number after '^'")
        p = sign * self.number(self.tok)
        self.i += 1
        if p == -1.0 and base.kind != ("1", "1"):
            return self.apply(inv, tok, base)
        return self.apply(power, tok, base, p)

    def postfix(self) -> Expr:
        e = self.atom()
        while self.tok.kind == "op" and self.tok.text == "'":
            self.i += 1
            e = transpose(e)
        return e

    def atom(self) -> Expr:
        tok = self.tok
        if tok.kind == "num":
            self.i += 1
            return Const(self.number(tok))
        if tok.kind == "name":
            self.i += 1
            return self.call(tok) if self.tok.text == "(" and self.tok.kind == "op" else self.symbol(tok)
        if self.take("("):
            e = self.expr()
            self.expect(")", f"to close the '(' from position {tok.pos}")
            return e
        if self.take("<"):
            a = self.expr()
            self.expect(",", "between the arguments of <a, b>")
            b = self.expr()
            self.expect(">", f"to close the '<' from position {tok.pos}")
            return self.apply(inner, tok, a, b)
        raise self.fail("expected a number, a name or '('")

    def symbol(self, tok: Token) -> Expr:
        if tok.text in FUNCTIONS:
            raise self.fail(f"expected '(' after the function {tok.text!r}")
        if tok.text in self.scalars:
            return scalar(tok.text)
        return matrix(tok.text) if tok.text[0].isupper() else vector(tok.text)

    def call(self, tok: Token) -> Expr:
        if tok.text not in FUNCTIONS:
            raise ParseError(f"parse: unknown function {tok.text!r} at position {tok.pos} in {self.text!r}; "
                             f"known: {', '.join(sorted(FUNCTIONS))}")
        arity, fn = FUNCTIONS[tok.text]
        self.expect("(", "")
        args = [self.expr()]
        while self.take(","):
            args.append(self.expr())
        self.expect(")", f"to close '{tok.text}(' from position {tok.pos}")
        if len(args) != arity:
            raise ParseError(f"parse: {tok.text} takes {arity} argument(s); got {len(args)} at position "
                             f"{tok.pos} in {self.text!r}")
        return self.apply(fn, tok, *args)


def parse(text: str, *, scalars: Iterable[str] = ()) -> Expr:
    """Read an expression from text (grammar in the module docstring).

    Parameters
    ----------
    text : str
        E.g. ``"tr(A*X*B)"``, ``"x'*A*x"``, ``"logdet(X)"``, ``"norm(X*w - y)^2"``.
    scalars : iterable of str, default=()
        Names that stand for scalars.

    Raises
    ------
    ParseError
        With the position of the offending token, e.g.
        ``parse: expected ')' to close 'tr(' from position 0 at position 8; got end of input in 'tr(A*X*B'``.

    Examples
    --------
    >>> print(parse("tr((A*X)')"))
    tr(X'*A')
    >>> print(parse("a*X + X*a", scalars=["a"]))
    2*a*X
    """
    if not isinstance(text, str):
        raise ParseError(f"parse: 'text' must be a string; got {type(text).__name__}")
    p = _Parser(text, scalars)
    e = p.expr()
    if p.tok.kind != "end":
        raise p.fail("expected an operator or the end of the expression")
    return e
