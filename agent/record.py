"""Recording plugin results for a trace file, and serving them back for a replay.

A failure is recorded with its reason: the interpreter notes the reason in the trace, so a
replay must fail with the very same words to give the same hash.
A model's usage (its tokens) is recorded with its answer, so a replay charges the same gas.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.plugin import as_value
from avm.host import Metered, PluginFailure, Plugins
from avm.values import Value, values_equal


@dataclass(frozen=True, slots=True)
class RecordedCall:
    opcode: str
    args: tuple[Value, ...]
    result: Value
    failure: str | None = None  # the reason, as the interpreter notes it
    units: int = 0  # metered usage: a model's tokens

    def answer(self) -> Value | Metered:
        return Metered(self.result, self.units) if self.units else self.result


def failure_reason(exc: Exception) -> str:
    """The interpreter's wording for a failed plugin call (see `Machine.external`)."""
    return str(exc) if isinstance(exc, PluginFailure) else f"{type(exc).__name__}: {exc}"


class RecordingPlugins:
    """Wraps live plugins; every call, failed or not, is kept in order."""

    def __init__(self, inner: Plugins) -> None:
        self.inner = inner
        self.calls: list[RecordedCall] = []

    def call(self, opcode: str, args: tuple[Value, ...]) -> Value | Metered:
        try:
            answer = self.inner.call(opcode, args)
            units = 0
            if isinstance(answer, Metered):
                units = answer.units
                answer = answer.value
            result = as_value(answer)
        except Exception as exc:  # the plugin boundary, as in the interpreter
            self.calls.append(RecordedCall(opcode, args, None, failure_reason(exc)))
            raise PluginFailure(failure_reason(exc)) from None
        recorded = RecordedCall(opcode, args, result, units=units)
        self.calls.append(recorded)
        return recorded.answer()


class ReplayingPlugins:
    """Serves a recording in order and never calls a plugin; a mismatch is a failure."""

    def __init__(self, calls: list[RecordedCall]) -> None:
        self.calls = list(calls)
        self.position = 0

    def call(self, opcode: str, args: tuple[Value, ...]) -> Value | Metered:
        if self.position >= len(self.calls):
            raise PluginFailure(f"{opcode}: no recorded result left")
        recorded = self.calls[self.position]
        if recorded.opcode != opcode or not values_equal(recorded.args, args):
            raise PluginFailure(f"{opcode}: call does not match the recording")
        self.position += 1
        if recorded.failure is not None:
            raise PluginFailure(recorded.failure)
        return recorded.answer()
