"""The council: its members (registered identities, each with a role and an accuracy that
together give its vote's weight), their state entries, and the checks and effect of a change to
the council (genesis, or a passed `council` proposal).

The council's state entries are the two below.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from core.crypto import ADDRESS_SIZE, parse_address, to_checksum_address
from core.encoding import Value, decode, encode
from core.errors import DecodeError
from core.schema import fields, integer, sized_bytes, text
from ledger.governance.errors import InvalidSpec, NotRegistered
from ledger.governance.params import PPM, GovernanceParams, Role, load_params, put_params
from ledger.governance.payloads import CouncilChangeSpec
from ledger.identity import load_identity
from ledger.state import Store

MEMBER = b"M"  # + address -> [role, role name, accuracy ppm, since height]
ROSTER = b"N"  # (the key itself) -> [member addresses, ascending]

MAX_ROLE_TEXT = 64  # bytes of a role's name, as NewMember decodes it
_DAMAGED = "a damaged council entry"


@dataclass(frozen=True, slots=True)
class CouncilMember:
    """A registered identity on the council. Its weight is role weight x accuracy."""

    address: bytes
    role: Role
    accuracy_ppm: int
    role_name: str = ""  # the speciality of a CUSTOM role (free text, for people)
    since: int = 0  # the height it joined

    def weight(self, params: GovernanceParams) -> int:
        return params.role_weight(self.role) * self.accuracy_ppm // PPM

    def to_value(self) -> list[Value]:
        return [self.role.value, self.role_name, self.accuracy_ppm, self.since]

    @classmethod
    def from_value(cls, address: bytes, value: Value) -> CouncilMember:
        """Read back a record `to_value` wrote. Raises DecodeError when state is damaged."""
        role, role_name, accuracy, since = fields(value, 4, _DAMAGED)
        return cls(
            address,
            Role(text(role, MAX_ROLE_TEXT, _DAMAGED)),
            integer(accuracy, _DAMAGED),
            text(role_name, MAX_ROLE_TEXT, _DAMAGED),
            integer(since, _DAMAGED),
        )

    def to_json(self, params: GovernanceParams) -> dict[str, object]:
        return {
            "address": to_checksum_address(self.address),
            "role": self.role.value,
            "roleName": self.role_name or self.role.value,
            "accuracyPpm": self.accuracy_ppm,
            "weight": self.weight(params),
            "since": self.since,
        }


def parse_member_json(doc: dict[str, object], params: GovernanceParams) -> CouncilMember:
    """A genesis council entry {"address", "role", "roleName"?, "accuracyPpm"?}. Raises
    InvalidSpec."""
    try:
        address = parse_address(str(doc["address"]))
        role = Role(doc["role"])
    except (KeyError, ValueError) as exc:
        raise InvalidSpec(f"bad council member {doc!r}: {exc}") from None
    accuracy = doc.get("accuracyPpm", params.initial_accuracy_ppm)
    if type(accuracy) is not int:
        raise InvalidSpec("accuracyPpm must be an integer")
    role_name = doc.get("roleName", "")
    if not isinstance(role_name, str):
        raise InvalidSpec("roleName must be text")
    return CouncilMember(address, role, accuracy, "" if role_name == role.value else role_name)


def load_member(store: Store, address: bytes) -> CouncilMember | None:
    raw = store.get(MEMBER + address)
    return None if raw is None else CouncilMember.from_value(address, decode(raw))


def load_council(store: Store) -> tuple[CouncilMember, ...]:
    """Every member, by address."""
    members = []
    for address in _roster(store):
        member = load_member(store, address)
        if member is None:
            raise DecodeError("the roster names a member without a record")
        members.append(member)
    return tuple(members)


def init_council(
    store: Store, members: Iterable[CouncilMember], params: GovernanceParams, height: int = 0
) -> None:
    """Genesis: write the parameters and the initial council, whose identities the store must
    hold already. Raises InvalidSpec (bad parameters, a member twice, accuracy out of bounds,
    too many members) or NotRegistered (a member without an identity) before writing."""
    params.validate()
    chosen = sorted(members, key=lambda m: m.address)
    addresses = [m.address for m in chosen]
    if len(set(addresses)) != len(addresses):
        raise InvalidSpec("a council member is listed twice")
    if len(chosen) > params.max_council_size:
        raise InvalidSpec(f"the council has at most {params.max_council_size} members")
    for member in chosen:
        if len(member.address) != ADDRESS_SIZE:
            raise InvalidSpec("a member address is 20 bytes")
        if not params.min_accuracy_ppm <= member.accuracy_ppm <= params.max_accuracy_ppm:
            raise InvalidSpec(
                f"member {to_checksum_address(member.address)}: accuracy out of bounds"
            )
    _check_registered(store, addresses)
    put_params(store, params)
    for member in chosen:
        put_member(store, replace(member, since=height))
    store.put(ROSTER, encode(addresses))


def _check_registered(store: Store, addresses: Iterable[bytes]) -> None:
    """Raises NotRegistered naming the first address without a registered identity."""
    missing = next((a for a in addresses if load_identity(store, a) is None), None)
    if missing is not None:
        raise NotRegistered(
            f"{to_checksum_address(missing)} has no registered identity: only a registered "
            "identity can sit on the council (it registers with a register transaction)"
        )


def _roster(store: Store) -> list[bytes]:
    raw = store.get(ROSTER)
    if raw is None:
        return []
    return [sized_bytes(a, ADDRESS_SIZE, _DAMAGED) for a in _addresses(decode(raw))]


def put_member(store: Store, member: CouncilMember) -> None:
    store.put(MEMBER + member.address, encode(member.to_value()))


def check_council_change(store: Store, params: GovernanceParams, spec: CouncilChangeSpec) -> None:
    """Raises InvalidSpec unless the change applies to the council as it is now (NotRegistered
    when it adds an address without a registered identity)."""
    roster = set(_roster(store))
    added = [m.address for m in spec.add]
    if not added and not spec.remove:
        raise InvalidSpec("a council change adds or removes at least one member")
    if len(set(added)) != len(added) or len(set(spec.remove)) != len(spec.remove):
        raise InvalidSpec("a member is listed twice in the change")
    if set(added) & set(spec.remove):
        raise InvalidSpec("a member cannot be added and removed at once")
    present = next((a for a in added if a in roster), None)
    if present is not None:
        raise InvalidSpec(f"{to_checksum_address(present)} is already a council member")
    absent = next((a for a in spec.remove if a not in roster), None)
    if absent is not None:
        raise InvalidSpec(f"{to_checksum_address(absent)} is not a council member")
    size = len(roster) + len(added) - len(spec.remove)
    if size == 0:
        raise InvalidSpec("the council cannot be left empty")
    if size > params.max_council_size:
        raise InvalidSpec(f"the council has at most {params.max_council_size} members")
    _check_registered(store, added)


def apply_council_change(store: Store, spec: CouncilChangeSpec, height: int) -> None:
    """Enact a passed council change. Raises InvalidSpec when it no longer applies."""
    params = load_params(store)
    check_council_change(store, params, spec)  # the council may have changed since
    roster = set(_roster(store))
    for address in spec.remove:
        store.put(MEMBER + address, None)
        roster.discard(address)
    for new in spec.add:
        member = CouncilMember(
            new.address, new.role, params.initial_accuracy_ppm, new.role_name, height
        )
        put_member(store, member)
        roster.add(new.address)
    store.put(ROSTER, encode(sorted(roster)))


def _addresses(value: Value) -> list[Value]:
    if isinstance(value, list):
        return value
    raise DecodeError(_DAMAGED)
