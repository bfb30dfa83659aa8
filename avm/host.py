"""The host interface: the interpreter's only way out.

`Host` is what a ledger implements to run agents on chain (deterministic: the same call gives the
same result on every node) and what the local agent runtime implements with plugins. Every state
change a host makes between `checkpoint()` and `rollback()` is undone by the rollback; the
interpreter takes a checkpoint at the start of a call and rolls back on any trap.

Storage is a flat bytes-to-bytes map per agent; the AVM namespaces it (user KV, documents,
execution state, checkpoints) itself, so a host needs no knowledge of those features.

`avm.memory_host.MemoryHost` is a complete host over dictionaries, for local runs and tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from avm.code import CodeObject
from avm.errors import CallRefused
from avm.values import Value
from core.crypto import hash32
from core.encoding import Encodable, encode

NATIVE_TOKEN = "AVM_CREDITS"  # the chain's own coin, as agents name it
MAX_AGENT_CALL_DEPTH = 16  # agents on one call stack (CALL_AGENT), the outermost included


def refuse_call(stack: tuple[bytes, ...], agent: bytes, value: int, readonly: bool) -> None:
    """The rules of CALL_AGENT every host applies. Raises CallRefused naming the one broken."""
    if len(stack) >= MAX_AGENT_CALL_DEPTH:
        raise CallRefused(f"the call would be more than {MAX_AGENT_CALL_DEPTH} agents deep")
    if agent in stack:
        raise CallRefused(
            f"0x{agent.hex()} is already running in this call: an agent is never re-entered"
        )
    if readonly and value:
        raise CallRefused("a read-only call (STATIC_CALL_AGENT) carries no value")


class LineageKind(Enum):
    DEPLOY = "deploy"
    SELF_MODIFY = "self_modify"
    REVERT_CODE = "revert_code"
    FORK = "fork"
    CROSSOVER = "crossover"
    PROPOSAL = "proposal"  # enacted by governance


@dataclass(frozen=True, slots=True)
class CodeChange:
    """One step of an agent's code lineage: which code it now runs and where that came from."""

    kind: LineageKind
    agent: bytes
    code_id: bytes
    parents: tuple[bytes, ...]  # parent code ids (two for a crossover)
    region: str | None = None
    parent_agents: tuple[bytes, ...] = ()

    def to_wire(self) -> list[Encodable]:
        return [
            self.kind.value,
            self.agent,
            self.code_id,
            list(self.parents),
            self.region,
            list(self.parent_agents),
        ]


@dataclass(frozen=True, slots=True)
class CodeProposal:
    """A SELF_MODIFY on a council region: a request for governance to replace the region."""

    agent: bytes
    region: str
    base_code_id: bytes
    new_code: CodeObject

    @property
    def proposal_id(self) -> bytes:
        return hash32(
            encode([b"proposal", self.agent, self.region, self.base_code_id, self.new_code.code_id])
        )


class PluginFailure(Exception):
    """A plugin, tool or model call that failed; the AVM sets its failure flag and continues."""


@dataclass(frozen=True, slots=True)
class Metered:
    """A plugin result with the usage it is charged for: a model's tokens. The opcode that made
    the call prices the units (`Machine.external_units`) by its family's gas."""

    value: Value
    units: int


class Host(Protocol):
    """Everything the interpreter may ask of the world, always on behalf of the running agent.

    A chain host must give every node the same answers for the same state: no wall clock, no
    I/O, no iteration over unordered containers. Every state change (storage, balances,
    events, code, lineage, proposals, deployed agents) must be undone by `rollback`.
    """

    deterministic: bool  # True on chain: `external` is refused and deploys are checked

    # -- context --
    def self_address(self) -> bytes:
        """The running agent's 20-byte address."""
        ...

    def caller(self) -> bytes:
        """The 20-byte address of the account or agent that made this call."""
        ...

    def block_time(self) -> int:
        """The block timestamp in seconds (GET_CURRENT_TIME)."""
        ...

    def block_height(self) -> int: ...

    # -- journal --
    def checkpoint(self) -> int:
        """Mark the current state; the interpreter takes one at the start of every call."""
        ...

    def commit(self, checkpoint: int) -> None:
        """The call that took `checkpoint` succeeded (its changes stay)."""
        ...

    def rollback(self, checkpoint: int) -> None:
        """Undo every change made since `checkpoint` (the call trapped)."""
        ...

    # -- the running agent's storage: a flat bytes -> bytes map (the AVM namespaces keys) --
    def storage_get(self, key: bytes) -> bytes | None: ...
    def storage_put(self, key: bytes, value: bytes) -> None: ...
    def storage_delete(self, key: bytes) -> bool:
        """Remove a key; True if it existed."""
        ...

    # -- balances and payments; tokens are names such as "AVM_CREDITS", amounts base units --
    def balance(self, address: bytes, token: str) -> int: ...
    def transfer(self, to: bytes, amount: int, token: str) -> bool:
        """Move `amount` (>= 0) from the running agent to `to`; False, changing nothing, when
        the balance is short."""
        ...

    # -- events, in emission order: topics "log", "swarm.*", "checkpoint" --
    def emit(self, topic: str, data: bytes) -> None: ...

    # -- permissions --
    def has_permission(self, role: str, action: str) -> bool:
        """CHECK_PERMISSIONS: does the running agent hold `role` allowing `action`?"""
        ...

    def security_check(self, obj: bytes) -> bool:
        """SECURITY_CHECK: the host's policy on an object (canonical encoding of an AVM value)."""
        ...

    # -- code; every version ever run stays readable by id (snapshots are code ids) --
    def code_of(self, address: bytes) -> CodeObject | None:
        """The code an agent runs now, or None for an address without code."""
        ...

    def code_by_id(self, code_id: bytes) -> CodeObject | None: ...

    def set_code(self, code: CodeObject, change: CodeChange) -> None:
        """Make the running agent run `code` from its next call and append `change` to its
        lineage (SELF_MODIFY, REVERT_CODE on a `self` region)."""
        ...

    def lineage(self, address: bytes) -> tuple[CodeChange, ...]:
        """An agent's code changes, oldest first (its deploy first)."""
        ...

    def propose_code_change(self, proposal: CodeProposal) -> bytes:
        """Record a pending proposal to rewrite a `council` region; return its id."""
        ...

    def deploy_agent(self, code: CodeObject, change: CodeChange, channel: str | None) -> bytes:
        """Create an agent running `code` (FORK_AGENT, CROSSOVER) and return its address. The
        host fills in `change.agent`; `channel` is a swarm channel to join, or None. A chain host
        must refuse non-deterministic code (`check_deployable`)."""
        ...

    # -- the non-deterministic opcodes (local host only) --
    def schedule_task(self, task: str, interval: int) -> None:
        """SCHEDULE_TASK: run this agent's entry label `task` every `interval` seconds of block
        time from now (0 cancels it). The opcode has checked that `task` is a label of the
        agent's code and the interval a non-negative int. Raises TaskRefused with the reason
        the host will not."""
        ...

    def enter_agent(self, agent: bytes, value: int, readonly: bool) -> tuple[Host, CodeObject]:
        """Open a call of `agent` from this agent: pay it `value` (native units) and return the
        host its code runs on (seeing this agent as its caller; read-only when `readonly` or when
        this host is) and that code. Raises CallRefused when the call cannot start: no agent,
        the call depth bound, an agent already on the call stack (no re-entry), a value this
        agent cannot pay or one sent in a read-only call. The caller's checkpoint, taken
        before, undoes the payment when the callee fails."""
        ...

    def external(self, opcode: str, args: tuple[Value, ...]) -> Value | Metered:
        """Serve a model/tool/plugin opcode (a model's answer comes Metered with its tokens).
        Raises PluginFailure (the AVM sets its failure flag and continues) or HostUnavailable (a
        trap; what the chain host always does)."""
        ...


class Plugins(Protocol):
    """The local host's plugin interface (LLM, embeddings, tools, HPC): one call per opcode."""

    def call(self, opcode: str, args: tuple[Value, ...]) -> Value | Metered: ...
