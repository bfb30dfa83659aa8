"""`MemoryHost`: a complete deterministic host over dictionaries, for local runs and tests.

Give it `plugins` to make it a local host that serves the non-deterministic opcodes; without, it
behaves like the chain host: it refuses them and checks every deploy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from avm.code import CodeObject
from avm.errors import CallRefused, HostUnavailable, PermissionDenied
from avm.host import (
    NATIVE_TOKEN,
    CodeChange,
    CodeProposal,
    LineageKind,
    Metered,
    Plugins,
    refuse_call,
)
from avm.validation import check_deployable
from avm.values import Value
from core.crypto import ADDRESS_SIZE, hash32
from core.encoding import encode

K = TypeVar("K")
V = TypeVar("V")


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
    schedules: dict[bytes, dict[str, int]] = field(default_factory=dict)  # SCHEDULE_TASK
    nonce: int = 0
    time: int = 1_735_084_800  # 2024-12-25, the paper's date: fixed so runs are reproducible
    height: int = 1
    journal: list[Callable[[], object]] = field(default_factory=list)  # undo steps, in order


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
        self.stack: tuple[bytes, ...] = (address,)  # the agents of this call, outermost first
        self.readonly = False  # in a STATIC_CALL_AGENT: every write traps

    def view(self, address: bytes, caller: bytes | None = None) -> MemoryHost:
        """The same world seen from another agent."""
        return MemoryHost(
            self.world, address, caller or self.address, self.plugins, self.security_policy
        )

    def schedule_task(self, task: str, interval: int) -> None:
        """Kept in the world (`world.schedules`, agent -> task -> interval); undone on rollback."""
        tasks = self.world.schedules.get(self.address, {})
        if self.address not in self.world.schedules:
            self._set_item(self.world.schedules, self.address, tasks)
        if interval:
            self._set_item(tasks, task, interval)
        else:
            self._del_item(tasks, task)

    def enter_agent(
        self, agent: bytes, value: int, readonly: bool
    ) -> tuple[MemoryHost, CodeObject]:
        refuse_call(self.stack, agent, value, readonly or self.readonly)
        code = self.code_of(agent)
        if code is None:
            raise CallRefused(f"no agent at 0x{agent.hex()}")
        if value and not self.transfer(agent, value, NATIVE_TOKEN):
            raise CallRefused(f"0x{self.address.hex()} cannot pay {value} to the callee")
        callee = self.view(agent)
        callee.stack = (*self.stack, agent)
        callee.readonly = readonly or self.readonly
        return callee, code

    def _writing(self) -> None:
        if self.readonly:
            raise PermissionDenied("a read-only call (STATIC_CALL_AGENT) may not write")

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

    def _set_item(self, d: dict[K, V], key: K, value: V) -> None:
        self._writing()
        if key in d:
            old = d[key]
            self.world.journal.append(lambda: d.__setitem__(key, old))
        else:
            self.world.journal.append(lambda: d.pop(key, None))
        d[key] = value

    def _del_item(self, d: dict[K, V], key: K) -> bool:
        self._writing()
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
        self._writing()
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
        self._writing()
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
