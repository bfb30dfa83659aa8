"""The AVM's precise errors.

Two kinds: errors found before anything runs (assembly, code-object decoding, deploy checks) and
traps that stop a running call. A trap rolls back every state change of the call; `gas_left` says
how much of the call's gas was not consumed (zero for out of gas).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from core.errors import AitherError, DecodeError


class AvmError(AitherError):
    """Base of every error the AVM raises on purpose."""


class UnknownAvmVersion(AvmError):
    """An AVM version this node's software does not implement: a node that meets one enacted on
    its chain must stop (and be upgraded) rather than run code it cannot run alike."""

    def __init__(self, version: int, latest: int) -> None:
        self.version = version
        super().__init__(f"AVM version {version} is unknown to this node (it runs versions "
                         f"up to {latest}): upgrade aither")  # fmt: skip


class TaskRefused(AvmError):
    """A SCHEDULE_TASK the host will not register (say, an agent that cannot prepay its runs):
    the opcode fails with the reason, as a failed plugin call does."""


class CallRefused(AvmError):
    """A call of another agent that cannot start (no agent, too deep, re-entry, unpayable value):
    the calling opcode fails with the reason, as a failed plugin call does."""


@dataclass(frozen=True, slots=True)
class SourcePos:
    """A place in IR source text, for messages a person can act on."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class AssemblyError(AvmError):
    """IR text that does not assemble; the message starts with file:line:col."""

    def __init__(self, pos: SourcePos, message: str) -> None:
        super().__init__(f"{pos}: {message}")
        self.pos = pos
        self.reason = message


class CodeFormatError(AvmError, DecodeError):
    """Bytes or structures that are not a well-formed AVM code object."""


class NotDeployable(AvmError):
    """A code object the chain host refuses, e.g. because it uses non-deterministic opcodes."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class TrapKind(Enum):
    """Why a call stopped early. The value is the stable name used in receipts and traces."""

    OUT_OF_GAS = "out_of_gas"
    REVERT = "revert"
    VALUE_TOO_LARGE = "value_too_large"
    CALL_DEPTH = "call_depth_exceeded"
    PERMISSION_DENIED = "permission_denied"
    BAD_OPERAND = "bad_operand"
    UNKNOWN_LABEL = "unknown_label"
    HOST_UNAVAILABLE = "host_unavailable"


class TraceTooLong(AvmError):
    """A traced run reached its entry limit. Not a trap: the call itself did nothing wrong, the
    tracer refused to hold more (a run on chain is never traced with a limit)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the trace would exceed {limit:,} instructions")
        self.limit = limit


class Trap(AvmError):
    """A precise stop of a running call. Subclasses fix the kind."""

    kind: TrapKind = TrapKind.BAD_OPERAND

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.pc: int | None = None
        self.opcode: str | None = None
        self.gas_left: int | None = None

    def at(self, pc: int, opcode: str, gas_left: int) -> Trap:
        """Record where the trap happened (first writer wins: the innermost instruction)."""
        if self.pc is None:
            self.pc, self.opcode, self.gas_left = pc, opcode, gas_left
        return self

    def __str__(self) -> str:
        where = f" at pc {self.pc} ({self.opcode})" if self.pc is not None else ""
        return f"{self.kind.value}{where}: {self.reason}"


class OutOfGas(Trap):
    kind = TrapKind.OUT_OF_GAS


class Revert(Trap):
    kind = TrapKind.REVERT


class ValueTooLarge(Trap):
    kind = TrapKind.VALUE_TOO_LARGE


class CallDepthExceeded(Trap):
    kind = TrapKind.CALL_DEPTH


class PermissionDenied(Trap):
    kind = TrapKind.PERMISSION_DENIED


class BadOperand(Trap):
    kind = TrapKind.BAD_OPERAND


class UnknownLabel(Trap):
    kind = TrapKind.UNKNOWN_LABEL


class HostUnavailable(Trap):
    """The host does not serve this opcode (e.g. a model call on the deterministic chain host)."""

    kind = TrapKind.HOST_UNAVAILABLE
