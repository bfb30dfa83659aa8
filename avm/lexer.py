"""Tokens of the IR text, one line at a time (the IR is line-oriented)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum

from avm.errors import AssemblyError, SourcePos


class Tok(Enum):
    IDENT = "name"
    INT = "integer"
    DECIMAL = "decimal"
    STRING = "string"
    BYTES = "bytes"
    PUNCT = "symbol"
    DIRECTIVE = "directive"  # .region, .test, #define ...
    END = "end of line"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Tok
    text: str
    pos: SourcePos
    value: int | str | bytes | None = None  # INT: int, DECIMAL: digits, STRING: str, BYTES

    def is_punct(self, *texts: str) -> bool:
        return self.kind is Tok.PUNCT and self.text in texts

    def describe(self) -> str:
        return self.kind.value if self.kind is Tok.END else f"{self.text!r}"


_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\f\v]+)
  | (?P<comment>;.*)
  | (?P<directive>\#define\b|\.(?:avm|region|endregion|test|endtest)\b)
  | (?P<bytes>x"[0-9A-Fa-f]*")
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<decimal>\d[\d_]*\.\d[\d_]*)
  | (?P<hex>0[xX][0-9A-Fa-f][0-9A-Fa-f_]*)
  | (?P<int>\d[\d_]*)
  | (?P<ident>%?[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>->|==|!=|<=|>=|[-+*/:,=<>()\[\]{}.])
    """,
    re.VERBOSE,
)


def tokenize_line(text: str, file: str, line: int) -> list[Token]:
    """The tokens of one source line, ending with an END token. Raises AssemblyError."""
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        pos = SourcePos(file, line, i + 1)
        if m is None:
            raise AssemblyError(pos, f"unexpected character {text[i]!r}")
        kind = m.lastgroup
        raw = m.group()
        i = m.end()
        if kind in ("ws", "comment"):
            continue
        if kind == "directive":
            tokens.append(Token(Tok.DIRECTIVE, raw, pos))
        elif kind == "bytes":
            digits = raw[2:-1]
            if len(digits) % 2:
                raise AssemblyError(pos, "a bytes literal needs an even number of hex digits")
            tokens.append(Token(Tok.BYTES, raw, pos, bytes.fromhex(digits)))
        elif kind == "string":
            tokens.append(Token(Tok.STRING, raw, pos, _unquote(raw, pos)))
        elif kind == "decimal":
            tokens.append(Token(Tok.DECIMAL, raw, pos, raw.replace("_", "")))
        elif kind == "hex":
            tokens.append(Token(Tok.INT, raw, pos, int(raw.replace("_", ""), 16)))
        elif kind == "int":
            if raw.endswith("_") or "__" in raw:
                raise AssemblyError(pos, f"malformed number {raw!r}")
            tokens.append(Token(Tok.INT, raw, pos, int(raw.replace("_", ""))))
        elif kind == "ident":
            tokens.append(Token(Tok.IDENT, raw, pos))
        else:
            tokens.append(Token(Tok.PUNCT, raw, pos))
    tokens.append(Token(Tok.END, "", SourcePos(file, line, len(text) + 1)))
    return tokens


def _unquote(raw: str, pos: SourcePos) -> str:
    # JSON string escapes; the disassembler prints strings with json.dumps, so they round-trip.
    try:
        value: str = json.loads(raw)  # a JSON string literal: the token is quoted
        value.encode("utf-8")
    except (ValueError, UnicodeEncodeError) as exc:
        raise AssemblyError(pos, f"bad string literal: {exc}") from None
    return value


def quote(text: str) -> str:
    """A string literal that `tokenize_line` reads back as `text`."""
    return json.dumps(text, ensure_ascii=False)
