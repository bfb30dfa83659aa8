"""What AVM version 2 changes: the instructions a `.avm 2` program may use beyond version 1's.

A version is enacted on a chain by a passed `avm` proposal; a code object records the version it
was assembled for and runs under it for good (ledger/governance), so an agent deployed before an
enactment keeps its behaviour. Version 2:
- adds ISQRT (the integer square root, floor; a negative operand is a bad operand);
- changes DIV to truncate toward zero, as C, Rust and the EVM's SDIV do (version 1 floors, as
  Python does: -7 / 2 is -4 there and -3 here). MOD stays Python's.
"""

from __future__ import annotations

import math

from avm.opcodes import INT, NONZERO, Family, P

family = Family("version 2")


@family.op("ISQRT", P("a", type=INT), gas="simple", pure=True)
def isqrt(a: int) -> int:
    return math.isqrt(a)


@family.op("DIV", P("a", type=INT), P("b", type=NONZERO), gas="simple", pure=True)
def div(a: int, b: int) -> int:
    quotient = abs(a) // abs(b)
    return quotient if (a < 0) == (b < 0) else -quotient
