"""What a single machine can do itself: waiting, aggregating, and clear refusals.

REDUCE_MODEL_CALL with a numeric aggregation ("average", "sum", "min", "max", "count",
"majority") is computed here in integers, with no model; any other aggregation (the paper's
"improve") goes to the LLM when one is configured. There is no GPU pool or SQL database behind a
local run: those opcodes fail with a message saying so, which the agent sees as its
plugin-failed flag. (HPC goes to a tool, see `agent.tools`; SCHEDULE_TASK is the local
host's own, see `agent.schedule`.)
"""

from __future__ import annotations

import time
from collections import Counter

from agent.plugin import Plugin
from avm.host import PluginFailure
from avm.values import Value

NUMERIC = ("average", "mean", "sum", "min", "max", "count")
REFUSED = {
    "ALLOCATE_GPU": "no GPU pool is configured for local runs",
    "CHECK_GPU_LOAD": "no GPU pool is configured for local runs",
    "SQL_EXECUTE": "no SQL database is configured for local runs",
    "SQL_FETCH": "no SQL database is configured for local runs",
}


def reduce_numbers(how: str, results: Value) -> object:
    """Aggregate a list in integers (fixed-point stays fixed-point); None if `how` is not one
    of these. Raises PluginFailure for items that cannot be aggregated this way."""
    if how not in (*NUMERIC, "majority"):
        return None
    items = results if type(results) is tuple else (results,)
    if how == "count":
        return len(items)
    if how == "majority":
        if not items:
            raise PluginFailure("majority of no results")
        counts = Counter(repr(v) for v in items)
        top = max(counts.values())
        return next(v for v in items if counts[repr(v)] == top)  # ties: the first one seen
    numbers = [v for v in items if type(v) is int]
    if len(numbers) != len(items) or not numbers:
        raise PluginFailure(f"{how} needs a non-empty list of numbers")
    if how in ("average", "mean"):
        return sum(numbers) // len(numbers)
    if how == "sum":
        return sum(numbers)
    return min(numbers) if how == "min" else max(numbers)


class LocalPlugin:
    opcodes = frozenset({"WAIT", "REDUCE_MODEL_CALL", "RELEASE_GPU", *REFUSED})

    def __init__(self, max_wait_sec: float, llm: Plugin | None = None) -> None:
        self.max_wait_sec = max_wait_sec
        self.llm = llm

    def call(self, opcode: str, args: tuple[Value, ...]) -> object:
        if opcode == "WAIT":
            delay = args[0]
            if type(delay) is not int or delay < 0:
                raise PluginFailure(f"WAIT takes a non-negative number of seconds, not {delay!r}")
            time.sleep(min(delay, self.max_wait_sec))  # capped: [runtime] max_wait_sec
            return None
        if opcode == "REDUCE_MODEL_CALL":
            how = args[0].lower() if type(args[0]) is str else args[0]
            result = reduce_numbers(how, args[1]) if type(how) is str else None
            if result is not None:
                return result
            if self.llm is None:
                raise PluginFailure(f"aggregation {args[0]!r} needs [plugins.llm]")
            return self.llm.call(opcode, args)
        if opcode == "RELEASE_GPU":
            return None  # nothing was allocated, so there is nothing to release
        raise PluginFailure(f"{opcode}: {REFUSED.get(opcode, 'not served locally')}")
