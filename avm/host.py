"""The host interface: the interpreter's only way out, and an in-memory host.

`Host` is what a ledger implements to run agents on chain (deterministic: the same call gives the
same result on every node) and what the local agent runtime implements with plugins. Every state
change a host makes between `checkpoint()` and `rollback()` is undone by the rollback; the
interpreter takes a checkpoint at the start of a call and rolls back on any trap.

Storage is a flat bytes-to-bytes map per agent; the AVM namespaces it (user KV, documents,
execution state, checkpoints) itself, so a host needs no knowledge of those features.

`MemoryHost` is a complete deterministic host over dictionaries, for local runs and tests; give
it `plugins` to make it a local host that serves the non-deterministic opcodes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from avm.code import CodeObject
from avm.errors import HostUnavailable, NotDeployable
from avm.values import Value, values_equal
from core.crypto import ADDRESS_SIZE, hash32
from core.encoding import encode


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

    def to_wire(self) -> list:
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
    def external(self, opcode: str, args: tuple[Value, ...]) -> Value | Metered:
        """Serve a model/tool/plugin opcode (a model's answer comes Metered with its tokens).
        Raises PluginFailure (the AVM sets its failure flag and continues) or HostUnavailable (a
        trap; what the chain host always does)."""
        ...


class Plugins(Protocol):
    """The local host's plugin interface (LLM, embeddings, tools, HPC): one call per opcode."""

    def call(self, opcode: str, args: tuple[Value, ...]) -> Value | Metered: ...


@dataclass(frozen=True, slots=True)
class PluginCall:
    opcode: str
    args: tuple[Value, ...]
    result: Value | Metered
    failed: bool = False


class PluginRecorder:
    """Wraps real plugins and records every call, so a run can be replayed exactly."""

    def __init__(self, inner: Plugins) -> None:
        self.inner = inner
        self.calls: list[PluginCall] = []

    def call(self, opcode: str, args: tuple[Value, ...]) -> Value | Metered:
        try:
            result = self.inner.call(opcode, args)
        except PluginFailure:
            self.calls.append(PluginCall(opcode, args, None, failed=True))
            raise
        self.calls.append(PluginCall(opcode, args, result))
        return result


class ReplayPlugins:
    """Serves recorded calls in order; a call that does not match the recording fails."""

    def __init__(self, calls: list[PluginCall]) -> None:
        self.calls = list(calls)
        self.position = 0

    def call(self, opcode: str, args: tuple[Value, ...]) -> Value | Metered:
        if self.position >= len(self.calls):
            raise PluginFailure(f"{opcode}: no recorded result left")
        rec = self.calls[self.position]
        if rec.opcode != opcode or not values_equal(rec.args, args):
            raise PluginFailure(f"{opcode}: call does not match the recording")
        self.position += 1
        if rec.failed:
            raise PluginFailure(f"{opcode}: recorded failure")
        return rec.result


@dataclass
class World:
    """The state a MemoryHost serves: all agents' storage, balances, code and events."""

    storage: dict[bytes, dict[bytes, bytes]] = field(default_factory=dict)
    balances: dict[tuple[bytes, str], int] = field(default_factory=dict)
    code: dict[bytes, bytes] = field(default_factory=dict)  # agent -> code id
    codes: dict[bytes, CodeObject] = field(default_factory=dict)  # code id -> code
    lineages: dict[bytes, list[CodeChange]] = field(default_factory=dict)
    events: list[tuple[bytes, str, bytes]] = field(default_factory=list)
    proposals: dict[bytes, CodeProposal] = field(default_factory=dict)
    permissions: set[tuple[str, str]] = field(default_factory=set)
    channels: dict[bytes, str | None] = field(default_factory=dict)
    nonce: int = 0
    time: int = 1_735_084_800  # 2024-12-25, the paper's date: fixed so runs are reproducible
    height: int = 1
    journal: list[Callable[[], None]] = field(default_factory=list)


class MemoryHost:
    """A deterministic host over a `World` in memory, seen from one agent.

    With `plugins` it also serves the non-deterministic opcodes (a local host); without, it
    behaves like the chain host and refuses them.
    """

    def __init__(
        self,
        world: World | None = None,
        address: bytes = b"\x01" * ADDRESS_SIZE,
        caller: bytes = b"\x02" * ADDRESS_SIZE,
        plugins: Plugins | None = None,
        security_policy: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.world = world if world is not None else World()
        self.address = address
        self.caller_address = caller
        self.plugins = plugins
        self.deterministic = plugins is None
        self.security_policy = security_policy

    def view(self, address: bytes, caller: bytes | None = None) -> MemoryHost:
        """The same world seen from another agent."""
        return MemoryHost(
            self.world, address, caller or self.address, self.plugins, self.security_policy
        )

    # context
    def self_address(self) -> bytes:
        return self.address

    def caller(self) -> bytes:
        return self.caller_address

    def block_time(self) -> int:
        return self.world.time

    def block_height(self) -> int:
        return self.world.height

    # journal
    def checkpoint(self) -> int:
        return len(self.world.journal)

    def commit(self, checkpoint: int) -> None:
        if checkpoint == 0:
            self.world.journal.clear()  # outermost call done: nothing left to undo

    def rollback(self, checkpoint: int) -> None:
        journal = self.world.journal
        while len(journal) > checkpoint:
            journal.pop()()

    def _set_item(self, d: dict, key: object, value: object) -> None:
        missing = key not in d
        old = d.get(key)

        def undo() -> None:
            if missing:
                d.pop(key, None)
            else:
                d[key] = old

        d[key] = value
        self.world.journal.append(undo)

    def _del_item(self, d: dict, key: object) -> bool:
        if key not in d:
            return False
        old = d.pop(key)
        self.world.journal.append(lambda: d.__setitem__(key, old))
        return True

    # storage
    def storage_get(self, key: bytes) -> bytes | None:
        return self.world.storage.get(self.address, {}).get(key)

    def storage_put(self, key: bytes, value: bytes) -> None:
        if self.address not in self.world.storage:
            self._set_item(self.world.storage, self.address, {})
        self._set_item(self.world.storage[self.address], key, value)

    def storage_delete(self, key: bytes) -> bool:
        return self._del_item(self.world.storage.get(self.address, {}), key)

    def storage_items(self, address: bytes | None = None) -> dict[bytes, bytes]:
        return dict(self.world.storage.get(address or self.address, {}))

    # balances
    def balance(self, address: bytes, token: str) -> int:
        return self.world.balances.get((address, token), 0)

    def set_balance(self, address: bytes, token: str, amount: int) -> None:
        self._set_item(self.world.balances, (address, token), amount)

    def transfer(self, to: bytes, amount: int, token: str) -> bool:
        have = self.balance(self.address, token)
        if amount > have:
            return False
        self.set_balance(self.address, token, have - amount)
        self.set_balance(to, token, self.balance(to, token) + amount)
        return True

    # events
    def emit(self, topic: str, data: bytes) -> None:
        self.world.events.append((self.address, topic, data))
        self.world.journal.append(self.world.events.pop)

    # permissions
    def has_permission(self, role: str, action: str) -> bool:
        return (role, action) in self.world.permissions

    def security_check(self, obj: bytes) -> bool:
        return self.security_policy(obj) if self.security_policy else True

    # code
    def code_of(self, address: bytes) -> CodeObject | None:
        code_id = self.world.code.get(address)
        return None if code_id is None else self.world.codes[code_id]

    def code_by_id(self, code_id: bytes) -> CodeObject | None:
        return self.world.codes.get(code_id)

    def _store_code(self, address: bytes, code: CodeObject, change: CodeChange) -> None:
        code_id = code.code_id
        if code_id not in self.world.codes:
            self._set_item(self.world.codes, code_id, code)
        self._set_item(self.world.code, address, code_id)
        history = self.world.lineages.setdefault(address, [])
        history.append(change)
        self.world.journal.append(history.pop)

    def set_code(self, code: CodeObject, change: CodeChange) -> None:
        self._store_code(self.address, code, change)

    def lineage(self, address: bytes) -> tuple[CodeChange, ...]:
        return tuple(self.world.lineages.get(address, ()))

    def propose_code_change(self, proposal: CodeProposal) -> bytes:
        pid = proposal.proposal_id
        self._set_item(self.world.proposals, pid, proposal)
        return pid

    def deploy_agent(self, code: CodeObject, change: CodeChange, channel: str | None) -> bytes:
        if self.deterministic:
            check_deployable(code)
        self._set_item_nonce()
        address = hash32(encode([b"agent", self.address, self.world.nonce]))[-ADDRESS_SIZE:]
        self._store_code(
            address,
            code,
            CodeChange(
                change.kind,
                address,
                code.code_id,
                change.parents,
                change.region,
                change.parent_agents,
            ),
        )
        self._set_item(self.world.channels, address, channel)
        return address

    def _set_item_nonce(self) -> None:
        old = self.world.nonce
        self.world.nonce = old + 1
        self.world.journal.append(lambda: setattr(self.world, "nonce", old))

    def install(self, address: bytes, code: CodeObject) -> None:
        """Give an address code outside any call (genesis, tests); recorded as a deploy."""
        self.view(address)._store_code(
            address, code, CodeChange(LineageKind.DEPLOY, address, code.code_id, ())
        )

    # non-deterministic opcodes
    def external(self, opcode: str, args: tuple[Value, ...]) -> Value | Metered:
        if self.plugins is None:
            raise HostUnavailable(f"{opcode} needs a local host with plugins")
        return self.plugins.call(opcode, args)


def nondeterministic_uses(code: CodeObject) -> list[tuple[int, str]]:
    """(pc, opcode) of every instruction whose result a chain could not reproduce."""
    from avm.instructions import OPCODES

    return [
        (pc, ins.opcode)
        for pc, ins in enumerate(code.instructions)
        if not OPCODES[ins.opcode].deterministic
    ]


def check_deployable(code: CodeObject, lines: dict[int, int] | None = None) -> None:
    """The chain host's deploy-time rule. Raises NotDeployable naming each offending opcode.

    `lines` maps pc to source line (from the assembler) so the message can name lines.
    """
    uses = nondeterministic_uses(code)
    if uses:
        problems = []
        for pc, opcode in uses:
            where = f"line {lines[pc]}" if lines and pc in lines else f"pc {pc}"
            problems.append(f"{opcode} at {where} is not deterministic")
        raise NotDeployable(problems)
