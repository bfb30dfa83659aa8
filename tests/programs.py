"""Agent programs the tests share (tests/ is on pytest's path: `from programs import doubler`).

`doubler(body)` doubles its input through STRATEGY, a `council` region holding `body`, with the
`.test doubles` the chain's sandbox runs; `scorer(noops)` triples its input through TUNING, a
`council` region that starts with `noops` instructions that do nothing (so `aither evolve` has
something to improve)."""

from __future__ import annotations

STRATEGY = ":strategy\n  MUL x, 2 -> ACC\n  RET\n"  # the doubler's first STRATEGY
DOUBLES = ".test doubles\n  entry main\n  args 21\n  expect 42\n.endtest\n"
NOOPS = ("  ADD n, 0 -> n\n", "  MUL n, 1 -> n\n")


def doubler(body: str = STRATEGY) -> str:
    return (
        ":main\n  SET x = ARGS[0]\n  CALL strategy\n  RETURN ACC\n"
        f".region STRATEGY council\n{body}{DOUBLES}.endregion\n"
    )


def scorer(noops: int = 3) -> str:
    padding = "".join(NOOPS[i % 2] for i in range(noops))
    return (
        ";; triples its input; the council governs TUNING, where some instructions do nothing\n"
        ":main\n  SET n = ARGS[0]\n  CALL tuning\n  RETURN ACC\n"
        f".region TUNING council\n:tuning\n{padding}  MUL n, 3 -> ACC\n  RET\n"
        ".test triples\n  entry main\n  args 7\n  expect 21\n.endtest\n.endregion\n"
    )
