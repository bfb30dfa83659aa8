"""The IR's expressions: literals, registers, register paths, arithmetic, comparisons and
AND/OR/NOT, parsed from one line's tokens into trees the assembler lowers to operands.

Literals: int, decimal (fixed point), "string", x"bytes", true, false, null, [lists], {maps}.
"""

from __future__ import annotations

from dataclasses import dataclass

from avm.code import KEYWORD_CONSTANTS, RESERVED_WORDS
from avm.errors import AssemblyError, AvmError, SourcePos
from avm.lexer import Tok, Token
from avm.values import (
    FIXED_DECIMALS,
    FIXED_SCALE,
    MAX_INT,
    MIN_INT,
    AvmMap,
    Value,
    bounded,
    check_key,
)


# Expression trees, built by the parser and lowered to operands.
@dataclass(frozen=True, slots=True)
class Const:
    value: Value
    pos: SourcePos


@dataclass(frozen=True, slots=True)
class Name:
    name: str
    pos: SourcePos


@dataclass(frozen=True, slots=True)
class Path:
    base: Expr
    keys: tuple[Expr, ...]
    pos: SourcePos


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Expr
    right: Expr
    pos: SourcePos


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr
    pos: SourcePos


@dataclass(frozen=True, slots=True)
class ListExpr:
    items: tuple[Expr, ...]
    pos: SourcePos


@dataclass(frozen=True, slots=True)
class MapExpr:
    pairs: tuple[tuple[Expr, Expr], ...]
    pos: SourcePos


Expr = Const | Name | Path | Binary | Not | ListExpr | MapExpr


class Line:
    """A cursor over one line's tokens."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, k: int = 1) -> Token:
        return self.tokens[min(self.i + k, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind is not Tok.END:
            self.i += 1
        return tok

    def at_end(self) -> bool:
        return self.tok.kind is Tok.END

    def accept(self, *punct: str) -> Token | None:
        if self.tok.is_punct(*punct):
            return self.next()
        return None

    def accept_word(self, word: str) -> Token | None:
        if self.tok.kind is Tok.IDENT and self.tok.text.upper() == word:
            return self.next()
        return None

    def expect(self, punct: str, what: str) -> Token:
        if not self.tok.is_punct(punct):
            raise AssemblyError(self.tok.pos, f"expected {what}, found {self.tok.describe()}")
        return self.next()

    def expect_ident(self, what: str) -> Token:
        if self.tok.kind is not Tok.IDENT:
            raise AssemblyError(self.tok.pos, f"expected {what}, found {self.tok.describe()}")
        return self.next()

    def expect_end(self) -> None:
        if not self.at_end():
            raise AssemblyError(self.tok.pos, f"unexpected {self.tok.describe()} at end of line")


class ExpressionParser:
    """Expressions, by precedence: OR < AND < NOT < comparison < + - < * / < unary - < path."""

    def __init__(self, line: Line, defines: dict[str, Value]) -> None:
        self.line = line
        self.defines = defines

    def expr(self) -> Expr:
        left = self.and_expr()
        while (tok := self.line.accept_word("OR")) is not None:
            left = Binary("OR", left, self.and_expr(), tok.pos)
        return left

    def and_expr(self) -> Expr:
        left = self.not_expr()
        while (tok := self.line.accept_word("AND")) is not None:
            left = Binary("AND", left, self.not_expr(), tok.pos)
        return left

    def not_expr(self) -> Expr:
        tok = self.line.accept_word("NOT")
        if tok is not None:
            return Not(self.not_expr(), tok.pos)
        return self.comparison()

    def comparison(self) -> Expr:
        left = self.additive()
        tok = self.line.accept("==", "!=", "<", "<=", ">", ">=")
        if tok is not None:
            left = Binary(tok.text, left, self.additive(), tok.pos)
        return left

    def additive(self) -> Expr:
        left = self.term()
        while (tok := self.line.accept("+", "-")) is not None:
            left = Binary(tok.text, left, self.term(), tok.pos)
        return left

    def term(self) -> Expr:
        left = self.unary()
        while (tok := self.line.accept("*", "/")) is not None:
            left = Binary(tok.text, left, self.unary(), tok.pos)
        return left

    def unary(self) -> Expr:
        tok = self.line.accept("-")
        if tok is None:
            return self.postfix()
        inner = self.unary()
        if isinstance(inner, Const) and type(inner.value) is int:
            return Const(_int(-inner.value, tok.pos), tok.pos)
        return Binary("-", Const(0, tok.pos), inner, tok.pos)

    def postfix(self) -> Expr:
        base = self.primary()
        keys: list[Expr] = []
        while True:
            if self.line.accept("."):
                key = self.line.expect_ident("a field name after '.'")
                keys.append(Const(key.text, key.pos))
            elif self.line.tok.is_punct("[") and not isinstance(base, ListExpr | MapExpr):
                self.line.next()
                keys.append(self.expr())
                self.line.expect("]", "']'")
            else:
                break
        if keys:
            return Path(base, tuple(keys), base.pos)
        return base

    def primary(self) -> Expr:
        line = self.line
        tok = line.tok
        if tok.kind is Tok.INT and type(tok.value) is int:
            line.next()
            return Const(_int(tok.value, tok.pos), tok.pos)
        if tok.kind is Tok.DECIMAL and type(tok.value) is str:
            line.next()
            return Const(fixed_point(tok.value, tok.pos), tok.pos)
        if tok.kind in (Tok.STRING, Tok.BYTES):
            line.next()
            return Const(_bounded(tok.value, tok.pos), tok.pos)
        if tok.kind is Tok.IDENT:
            line.next()
            if tok.text in KEYWORD_CONSTANTS:
                return Const(KEYWORD_CONSTANTS[tok.text], tok.pos)
            if tok.text in self.defines:
                return Const(self.defines[tok.text], tok.pos)
            if tok.text.upper() in RESERVED_WORDS:
                raise AssemblyError(tok.pos, f"{tok.text} is a keyword, not an operand")
            return Name(tok.text, tok.pos)
        if line.accept("("):
            inner = self.expr()
            line.expect(")", "')'")
            return inner
        if line.accept("["):
            items: list[Expr] = []
            while not line.tok.is_punct("]"):
                items.append(self.expr())
                if not line.accept(","):
                    break
            line.expect("]", "',' or ']'")
            return ListExpr(tuple(items), tok.pos)
        if line.accept("{"):
            pairs: list[tuple[Expr, Expr]] = []
            while not line.tok.is_punct("}"):
                key = self.expr()
                line.expect(":", "':' between a map key and its value")
                pairs.append((key, self.expr()))
                if not line.accept(","):
                    break
            line.expect("}", "',' or '}'")
            return MapExpr(tuple(pairs), tok.pos)
        raise AssemblyError(tok.pos, f"expected an operand, found {tok.describe()}")


def _int(value: int, pos: SourcePos) -> int:
    if not MIN_INT <= value <= MAX_INT:
        raise AssemblyError(pos, "integer literal does not fit in 256 bits")
    return value


def _bounded(value: Value, pos: SourcePos) -> Value:
    try:
        return bounded(value)
    except AvmError as exc:  # too long
        raise AssemblyError(pos, str(exc)) from None


def fixed_point(text: str, pos: SourcePos) -> int:
    """A decimal literal as a fixed-point integer (`0.4` -> 400000 with 6 decimals)."""
    whole, frac = text.split(".")
    if len(frac) > FIXED_DECIMALS:
        raise AssemblyError(pos, f"{text} has more than {FIXED_DECIMALS} decimal places")
    return _int(int(whole) * FIXED_SCALE + int(frac.ljust(FIXED_DECIMALS, "0")), pos)


def constant_value(expr: Expr) -> Value:
    """The value of an expression made only of literals (for #define and tests)."""
    if isinstance(expr, Const):
        return expr.value
    if isinstance(expr, ListExpr):
        return _bounded(tuple(constant_value(e) for e in expr.items), expr.pos)
    if isinstance(expr, MapExpr):
        try:
            return AvmMap.of(
                (check_key(constant_value(k)), constant_value(v)) for k, v in expr.pairs
            )
        except AvmError as exc:  # a bad key or too many entries
            raise AssemblyError(expr.pos, str(exc)) from None
    raise AssemblyError(expr.pos, "expected a constant (a literal or a #define name)")
