"""Roles on chain: defined by an admin, granted to accounts and agents, read by CHECK_PERMISSIONS.

A ROLE transaction defines a role (its first definer becomes its admin; the admin may change its
actions), grants it to an address or revokes it. An agent's `CHECK_PERMISSIONS role, action` is
true when the agent holds the role and the role permits the action (an action named in its
definition, or `*`). The council's roles (SecurityAuditor, ...) are not defined this way: they
are held by the council's members, whom only a passed proposal changes, and permit every action.

Identities may still advertise roles when they register (`aither swarm register --role`, for
discovery); only granted roles count for CHECK_PERMISSIONS.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

from core.crypto import ADDRESS_SIZE, to_checksum_address
from core.encoding import Value, decode, encode
from core.errors import DecodeError, ExecutionFailed, InvalidTransaction
from core.schema import MAX_U64, fields, items, sized_bytes, text, uint
from ledger.governance import council
from ledger.governance.params import Role as CouncilRole
from ledger.identity import role_name
from ledger.policy import MAX_SPEND_LIMIT, AgentPolicy, load_policy, spent_key, store_policy
from ledger.receipt import Log
from ledger.state import Store

ROLE = b"j"  # + role name -> [admin address, [actions]]
GRANT = b"q"  # + address + role name -> height of the grant
MAX_ACTIONS = 16
ANY_ACTION = "*"
COUNCIL_ROLES = frozenset(role.value for role in CouncilRole)


class RoleError(ExecutionFailed):
    """A role transaction whose effect cannot apply (the fee is still paid)."""


class RoleOp(enum.IntEnum):
    DEFINE = 0
    GRANT = 1
    REVOKE = 2
    POLICY = 3  # an agent's SECURITY_CHECK policy, set by its deployer


class RolePayload:
    """The payload of a ROLE transaction; `from_value` returns the op's own class."""

    __slots__ = ()
    role: str

    def to_value(self) -> list[Value]:
        raise NotImplementedError

    @classmethod
    def from_value(cls, value: Value) -> DefineRole | GrantRole | SetPolicy:
        """Raises InvalidTransaction (or DecodeError) naming what is wrong."""
        if not isinstance(value, list) or not value:
            raise DecodeError("a role payload is [op, ...]")
        op = value[0]
        if type(op) is not int or op not in set(RoleOp):
            raise InvalidTransaction(
                f"unknown role op {op!r} (0 define, 1 grant, 2 revoke, 3 policy)"
            )
        if op == RoleOp.DEFINE:
            return DefineRole.from_value(value)
        if op == RoleOp.POLICY:
            return SetPolicy.from_value(value)
        return GrantRole.from_value(value)


@dataclass(frozen=True, slots=True)
class DefineRole(RolePayload):
    """Define `role` with the actions it permits (the sender becomes its admin), or, as its
    admin, change them."""

    op: ClassVar[RoleOp] = RoleOp.DEFINE
    role: str
    actions: tuple[str, ...]

    def to_value(self) -> list[Value]:
        return [int(self.op), self.role, list(self.actions)]

    @classmethod
    def from_value(cls, value: Value) -> DefineRole:
        _, role, actions = fields(value, 3, "role define")
        names = items(actions, MAX_ACTIONS, f"actions are a list of at most {MAX_ACTIONS}")
        checked = tuple(a if a == ANY_ACTION else role_name(a) for a in names)
        if list(checked) != sorted(set(checked)):
            raise InvalidTransaction("actions must be unique and ascending")
        return cls(role_name(role), checked)


@dataclass(frozen=True, slots=True)
class GrantRole(RolePayload):
    """Grant `role` to `holder` (or, with `revoke`, take it back): its admin only."""

    role: str
    holder: bytes
    revoke: bool = False

    def to_value(self) -> list[Value]:
        return [int(RoleOp.REVOKE if self.revoke else RoleOp.GRANT), self.role, self.holder]

    @classmethod
    def from_value(cls, value: Value) -> GrantRole:
        op, role, holder = fields(value, 3, "role grant")
        if not (isinstance(holder, bytes) and len(holder) == ADDRESS_SIZE):
            raise InvalidTransaction("the holder must be a 20-byte address")
        return cls(role_name(role), holder, op == RoleOp.REVOKE)


@dataclass(frozen=True, slots=True)
class SetPolicy(RolePayload):
    """Set an agent's SECURITY_CHECK policy: its deployer only (a council-governed agent's is
    set by a `policy` proposal instead)."""

    policy: AgentPolicy
    role: str = ""  # a policy names no role of its own

    @property
    def agent(self) -> bytes:
        return self.policy.agent

    def to_value(self) -> list[Value]:
        return [int(RoleOp.POLICY), self.policy.agent, *self.policy.rules()]

    @classmethod
    def from_value(cls, value: Value) -> SetPolicy:
        _, agent, *rules = fields(value, 6, "role policy")
        return cls(AgentPolicy.from_rules(agent, rules))


PAYLOAD_TYPES = (DefineRole, GrantRole, SetPolicy)


@dataclass(frozen=True, slots=True)
class RoleRecord:
    name: str
    admin: bytes
    actions: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "role": self.name,
            "admin": to_checksum_address(self.admin),
            "actions": list(self.actions),
        }


def load_role(store: Store, name: str) -> RoleRecord | None:
    raw = store.get(ROLE + name.encode())
    if raw is None:
        return None
    admin, actions = fields(decode(raw), 2, "damaged role record")
    names = items(actions, MAX_ACTIONS, "damaged role record")
    admin_address = sized_bytes(admin, ADDRESS_SIZE, "damaged role record")
    return RoleRecord(name, admin_address, tuple(text(a, 64, "damaged role") for a in names))


def granted_at(store: Store, holder: bytes, role: str) -> int | None:
    """The height `role` was granted to `holder`, None if it does not hold it."""
    raw = store.get(GRANT + holder + role.encode())
    return None if raw is None else uint(decode(raw), MAX_U64, "damaged role grant")


def permits(store: Store, holder: bytes, role: str, action: str) -> bool:
    """CHECK_PERMISSIONS on chain: does `holder` hold `role`, and does it permit `action`?"""
    if role in COUNCIL_ROLES:
        member = council.load_member(store, holder)
        return member is not None and member.role.value == role
    record = load_role(store, role)
    if record is None or granted_at(store, holder, role) is None:
        return False
    return ANY_ACTION in record.actions or action in record.actions


def apply_role(
    store: Store, sender: bytes, payload: DefineRole | GrantRole, height: int
) -> tuple[Log, ...]:
    """Apply a role transaction. Raises RoleError before any write if it cannot apply."""
    if payload.role in COUNCIL_ROLES:
        raise RoleError(
            f"{payload.role} is a council role: the council's members hold it, and only a "
            "passed proposal changes them"
        )
    record = load_role(store, payload.role)
    if record is not None and record.admin != sender:
        raise RoleError(f"only the admin of {payload.role}, {to_checksum_address(record.admin)}")
    if isinstance(payload, DefineRole):
        store.put(ROLE + payload.role.encode(), encode([sender, list(payload.actions)]))
        return (Log("RoleDefined", (sender, payload.role, list(payload.actions))),)
    if record is None:
        raise RoleError(f"there is no role {payload.role}: define it first")
    key = GRANT + payload.holder + payload.role.encode()
    if payload.revoke:
        if store.get(key) is None:
            raise RoleError(f"{to_checksum_address(payload.holder)} does not hold {payload.role}")
        store.put(key, None)
        return (Log("RoleRevoked", (payload.holder, payload.role, sender)),)
    store.put(key, encode(height))
    return (Log("RoleGranted", (payload.holder, payload.role, sender)),)


# ---- agents' policies (SECURITY_CHECK) ---------------------------------------------------------


def apply_policy(store: Store, sender: bytes, payload: SetPolicy, deployer: bytes | None,
                 council_governed: bool) -> tuple[Log, ...]:  # fmt: skip
    """Set an agent's policy: its deployer only; a council-governed agent's is set only by a
    passed `policy` proposal. Raises RoleError before any write if it cannot apply."""
    who = to_checksum_address(payload.agent)
    if deployer is None:
        raise RoleError(f"there is no agent at {who}")
    if deployer != sender:
        raise RoleError(f"only the deployer of {who}, {to_checksum_address(deployer)}, sets it")
    if council_governed:
        raise RoleError(f"{who} has a council region: only a `policy` proposal changes its policy")
    store_policy(store, payload.policy)
    return (Log("PolicySet", (payload.agent, sender)),)


def check(store: Store, agent: bytes, caller: bytes, amount: int | None, now: int) -> bool:
    """SECURITY_CHECK on chain: the agent's policy allows `caller`, and `amount` (when the
    checked object is one) fits what is left of this period's spend limit, which it then
    uses. No policy: everything passes."""
    policy = load_policy(store, agent)
    if policy is None:
        return True
    if policy.callers and caller not in policy.callers:
        return False
    if policy.roles and not any(granted_at(store, caller, r) is not None for r in policy.roles):
        return False
    if amount is None or not policy.spend_limit:
        return True
    key = spent_key(agent, now // policy.period)
    raw = store.get(key)
    spent = 0 if raw is None else uint(decode(raw), MAX_SPEND_LIMIT, "damaged spend record")
    if amount < 0 or spent + amount > policy.spend_limit:
        return False
    store.put(key, encode(spent + amount))
    return True
