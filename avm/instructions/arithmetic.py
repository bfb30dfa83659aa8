"""Integer and fixed-point arithmetic, comparison and logic. All pure.

Integers are bounded (see avm.values); the interpreter checks every result. Division floors, as
Python's does, and a zero divisor is a bad operand. MULF/DIVF work on fixed-point numbers with
`FIXED_SCALE` (decimals in source are fixed-point).
"""

from __future__ import annotations

from avm.opcodes import INT, NONZERO, Family, P
from avm.values import FIXED_SCALE, Value, values_equal

family = Family("arithmetic")


@family.op("ADD", P("a", type=INT), P("b", type=INT), gas="simple", pure=True)
def add(a: int, b: int) -> int:
    return a + b


@family.op("SUB", P("a", type=INT), P("b", type=INT), gas="simple", pure=True)
def sub(a: int, b: int) -> int:
    return a - b


@family.op("MUL", P("a", type=INT), P("b", type=INT), gas="simple", pure=True)
def mul(a: int, b: int) -> int:
    return a * b


@family.op("DIV", P("a", type=INT), P("b", type=NONZERO), gas="simple", pure=True)
def div(a: int, b: int) -> int:
    return a // b


@family.op("MOD", P("a", type=INT), P("b", type=NONZERO), gas="simple", pure=True)
def mod(a: int, b: int) -> int:
    return a % b


@family.op("NEG", P("a", type=INT), gas="simple", pure=True)
def neg(a: int) -> int:
    return -a


@family.op("ABS", P("a", type=INT), gas="simple", pure=True)
def abs_(a: int) -> int:
    return -a if a < 0 else a


@family.op("MIN", P("a", type=INT), P("b", type=INT), gas="simple", pure=True)
def min_(a: int, b: int) -> int:
    return a if a <= b else b


@family.op("MAX", P("a", type=INT), P("b", type=INT), gas="simple", pure=True)
def max_(a: int, b: int) -> int:
    return a if a >= b else b


@family.op("MULF", P("a", type=INT), P("b", type=INT), gas="simple", pure=True)
def mulf(a: int, b: int) -> int:
    return a * b // FIXED_SCALE


@family.op("DIVF", P("a", type=INT), P("b", type=NONZERO), gas="simple", pure=True)
def divf(a: int, b: int) -> int:
    return a * FIXED_SCALE // b


@family.op("EQ", P("a"), P("b"), gas="simple", pure=True)
def eq(a: Value, b: Value) -> bool:
    return values_equal(a, b)


@family.op("NE", P("a"), P("b"), gas="simple", pure=True)
def ne(a: Value, b: Value) -> bool:
    return not values_equal(a, b)


@family.op("LT", P("a", type=INT), P("b", type=INT), gas="simple", pure=True)
def lt(a: int, b: int) -> bool:
    return a < b


@family.op("LE", P("a", type=INT), P("b", type=INT), gas="simple", pure=True)
def le(a: int, b: int) -> bool:
    return a <= b


@family.op("GT", P("a", type=INT), P("b", type=INT), gas="simple", pure=True)
def gt(a: int, b: int) -> bool:
    return a > b


@family.op("GE", P("a", type=INT), P("b", type=INT), gas="simple", pure=True)
def ge(a: int, b: int) -> bool:
    return a >= b


@family.op("AND", P("a"), P("b"), gas="simple", pure=True)
def and_(a: Value, b: Value) -> bool:
    return bool(a) and bool(b)


@family.op("OR", P("a"), P("b"), gas="simple", pure=True)
def or_(a: Value, b: Value) -> bool:
    return bool(a) or bool(b)


@family.op("NOT", P("a"), gas="simple", pure=True)
def not_(a: Value) -> bool:
    return not a
