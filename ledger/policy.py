"""An agent's SECURITY_CHECK policy: what it is, its wire form and its record in state.

The deployer of an agent sets it with a ROLE transaction (`ledger.roles`); for an agent with a
`council` region, only a passed `policy` proposal sets it (`ledger.governance`). Both carry the
same rules, `[callers, roles, spend limit, period]`, and this module is their one home.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.crypto import ADDRESS_SIZE, to_checksum_address
from core.encoding import Value, decode, encode
from core.errors import InvalidTransaction
from core.schema import MAX_U64, byte_strings, fields, items, uint
from ledger.identity import role_name
from ledger.state import Store

POLICY = b"z"  # + agent -> [callers, roles, spend limit, period]
SPENT = b"y"  # + agent + period number (8 bytes) -> base units checked in that period
MAX_POLICY_CALLERS = 16
MAX_POLICY_ROLES = 8
MAX_SPEND_LIMIT = 2**128 - 1


@dataclass(frozen=True, slots=True)
class AgentPolicy:
    """The callers `agent` serves (none: any), the roles one of which a caller must hold (none:
    no role needed), and at most `spend_limit` base units of the amounts it checks per `period`
    seconds of block time (0: no limit)."""

    agent: bytes
    callers: tuple[bytes, ...] = ()
    roles: tuple[str, ...] = ()
    spend_limit: int = 0
    period: int = 0

    def rules(self) -> list[Value]:
        """The wire form of everything but the agent: [callers, roles, spend limit, period]."""
        callers: list[Value] = list(self.callers)
        roles: list[Value] = list(self.roles)
        return [callers, roles, self.spend_limit, self.period]

    @classmethod
    def from_rules(cls, agent: Value, value: Value) -> AgentPolicy:
        """Raises InvalidTransaction (or DecodeError) naming the bad field."""
        if not (isinstance(agent, bytes) and len(agent) == ADDRESS_SIZE):
            raise InvalidTransaction("the agent must be a 20-byte address")
        callers, roles, limit, period = fields(value, 4, "a policy")
        listed = byte_strings(callers, MAX_POLICY_CALLERS, "callers are 20-byte addresses")
        if any(len(c) != ADDRESS_SIZE for c in listed):
            raise InvalidTransaction("callers are 20-byte addresses")
        names = [role_name(r) for r in items(roles, MAX_POLICY_ROLES, "too many roles")]
        if listed != sorted(set(listed)) or names != sorted(set(names)):
            raise InvalidTransaction("callers and roles must be unique and ascending")
        spend_limit = uint(limit, MAX_SPEND_LIMIT, "the spend limit is base units")
        seconds = uint(period, MAX_U64, "the period is seconds")
        if spend_limit and not seconds:
            raise InvalidTransaction("a spend limit needs a period")
        return cls(agent, tuple(listed), tuple(names), spend_limit, seconds)

    def to_json(self) -> dict[str, object]:
        return {
            "callers": [to_checksum_address(c) for c in self.callers],
            "roles": list(self.roles),
            "spendLimit": hex(self.spend_limit),
            "periodSec": self.period,
        }


def load_policy(store: Store, agent: bytes) -> AgentPolicy | None:
    raw = store.get(POLICY + agent)
    return None if raw is None else AgentPolicy.from_rules(agent, decode(raw))


def store_policy(store: Store, policy: AgentPolicy) -> None:
    store.put(POLICY + policy.agent, encode(policy.rules()))


def spent_key(agent: bytes, period_number: int) -> bytes:
    return SPENT + agent + period_number.to_bytes(8, "big")
