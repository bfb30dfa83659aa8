"""What an opcode function sees of the running call: the `Machine` protocol.

The opcode families (`avm/instructions/`) are written against this protocol, not against the
interpreter that implements it, so the instruction set sits below the interpreter, the assembler
and the code checks that read the whole opcode table. The self-modifying opcodes reach those
upper layers through `Machine.tools`, which the interpreter hands them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from avm.code import CodeObject, TestCase, TestOutcome
from avm.gas import GasSchedule
from avm.host import Host
from avm.trace import TraceEntry
from avm.values import AvmMap, Value


@dataclass(frozen=True, slots=True)
class FrameResult:
    """How a call of another agent ended: its value, the milligas it used, why it failed (None
    when it did not), and its trace when the caller is traced."""

    value: Value
    gas_used: int
    failure: str | None
    trace: tuple[TraceEntry, ...] | None


class Toolchain(Protocol):
    """The code tools above the instruction set that SELF_MODIFY, REVERT_CODE, FORK_AGENT and
    CROSSOVER use: the assembler, region surgery, the deploy rule and the sandboxed test runner."""

    def assemble_fragment(self, text: str, file: str) -> CodeObject:
        """IR text of a region body as a code fragment. Raises AssemblyError."""
        ...

    def region_body(self, code: CodeObject, name: str) -> CodeObject:
        """A region's body as a fragment. Raises CodeFormatError for an unknown region."""
        ...

    def replace_region(self, code: CodeObject, name: str, body: CodeObject) -> CodeObject:
        """`code` with region `name` holding `body`. Raises CodeFormatError if it does not fit."""
        ...

    def check_deployable(self, code: CodeObject) -> None:
        """The chain host's deploy rule. Raises NotDeployable."""
        ...

    def breed(
        self,
        parent_a: CodeObject,
        parent_b: CodeObject,
        from_b: Sequence[str],
        mutation: Sequence[tuple[str, str]],
        deterministic: bool,
    ) -> CodeObject | str:
        """A crossover child carrying the tests it must pass, or why there is none."""
        ...

    def run_tests(
        self,
        code: CodeObject,
        tests: Sequence[TestCase],
        schedule: GasSchedule,
        depth: int,
        budget: int | None,
    ) -> list[TestOutcome]:
        """Run `tests` against `code` in fresh sandboxes, all within `budget` milligas."""
        ...

    def run_call(
        self,
        code: CodeObject,
        host: Host,
        entry: str,
        args: Sequence[Value],
        gas: int,
        trace: bool,
        schedule: GasSchedule,
        trace_limit: int | None,
    ) -> FrameResult:
        """Run another agent's `code` from `entry` on `host` (CALL_AGENT's frame): a trap rolls
        back the frame's own writes and is the result's failure. Raises TraceTooLong when a
        traced frame passes `trace_limit` entries."""
        ...


class Machine(Protocol):
    """The state of one running call, as opcode functions see it."""

    code: CodeObject  # the code this call started with
    host: Host
    sched: GasSchedule
    gas: int  # milligas left
    depth: int  # nesting of sandboxed runs (tests of a patch or a crossover child)
    tracing: bool
    observer: bool  # SELF_OBSERVER_MODE
    logs: list[Value]
    external_failed: bool  # the last external call failed (JUMP_IF_PLUGIN_FAILED)
    external_units: int  # usage metered by the last external call (a model's tokens)
    tools: Toolchain

    def charge(self, amount: int) -> None:
        """Take `amount` milligas. Raises OutOfGas, consuming everything left."""
        ...

    def note(self, key: str, value: Value) -> None:
        """Attach a note to the current trace entry (free when tracing is off)."""
        ...

    def external(self, opcode: str, *args: Value) -> Value:
        """Ask the host for a non-deterministic result; a failure gives null and sets
        `external_failed`. Raises HostUnavailable on a host that serves none."""
        ...

    def trace_room(self) -> int | None:
        """Trace entries this call may still record (None: no limit), a callee's included."""
        ...

    def count_traced(self, entries: int) -> None:
        """Count a callee's trace entries against this call's trace limit."""
        ...

    def fail_external(self, opcode: str, reason: str) -> None:
        """Record a failed external call: the failure flag set, the reason noted."""
        ...

    def named_registers(self) -> list[tuple[str, Value]]:
        """The program's named registers and their values (temporaries and ACC excluded)."""
        ...

    def restore_registers(self, state: AvmMap) -> None:
        """Set every named register that `state` holds."""
        ...
