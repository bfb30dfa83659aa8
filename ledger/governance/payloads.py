"""What the governance transactions carry: proposal specs (`propose`), votes and cancels.

Every payload has a canonical wire form (`to_value` / `from_value`: fixed-order lists of ints,
bools, bytes and str, never maps or floats). The decoders check every field and raise
InvalidTransaction naming it; a proposal's spec is read back from state with the same decoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from avm.gas import GasSchedule, ScheduleError, schedule_from_value, schedule_to_value
from avm.instructions import MAX_AVM_VERSION
from core.amounts import MAX_AMOUNT
from core.crypto import ADDRESS_SIZE, HASH_SIZE, PUBKEY_SIZE
from core.encoding import Value
from core.errors import InvalidTransaction
from ledger.chain_params import ChainParams
from ledger.governance.params import MAX_TEXT_FIELD, GovernanceParams, ProposalKind, Role
from ledger.policy import AgentPolicy

MAX_COUNCIL_CHANGE = 64  # members added and removed by one proposal
_ROLE_NAMES = frozenset(role.value for role in Role)


class Choice(Enum):
    YES = "yes"
    NO = "no"
    ABSTAIN = "abstain"
    VETO = "veto"  # a no that, above the veto bar, burns the deposit


@dataclass(frozen=True, slots=True)
class NewMember:
    """A member that a council proposal adds; it starts at `initial_accuracy_ppm`."""

    address: bytes
    role: Role
    role_name: str = ""

    def to_value(self) -> list[Value]:
        return [self.address, self.role.value, self.role_name]

    @classmethod
    def from_value(cls, value: Value) -> NewMember:
        address, role, role_name = _fields(value, 3, "a new member")
        if not isinstance(role, str) or role not in _ROLE_NAMES:
            raise InvalidTransaction(f"unknown role {role!r}")
        return cls(_address(address, "a member address"), Role(role), _text(role_name, 64, "role"))


# ---- proposal specs (what a `propose` transaction carries) ------------------------------------


@dataclass(frozen=True, slots=True)
class CodeChangeSpec:
    """Rewrite `region` of `agent` with `new_ir` (the region's body, as SELF_READ prints it).

    `tests_ir` holds `.test` blocks to add to the agent's tests; they may name any label of the
    patched code. The deposit is moved from the proposer's balance into escrow.
    """

    agent: bytes
    region: str
    new_ir: str
    rationale: str = ""
    tests_ir: str = ""
    deposit: int = 0

    kind = ProposalKind.CODE

    def to_value(self) -> list[Value]:
        return [
            self.kind.value,
            self.agent,
            self.region,
            self.new_ir,
            self.tests_ir,
            self.rationale,
            self.deposit,
        ]


@dataclass(frozen=True, slots=True)
class ParamsChangeSpec:
    """Replace the governance parameters (all of them) with `params`."""

    params: GovernanceParams
    rationale: str = ""
    deposit: int = 0

    kind = ProposalKind.PARAMS

    def to_value(self) -> list[Value]:
        return [self.kind.value, self.params.to_value(), self.rationale, self.deposit]


@dataclass(frozen=True, slots=True)
class CouncilChangeSpec:
    """Add members (at the initial accuracy) and remove members. To change a member's role,
    remove it with one proposal and add it back with another."""

    add: tuple[NewMember, ...] = ()
    remove: tuple[bytes, ...] = ()
    rationale: str = ""
    deposit: int = 0

    kind = ProposalKind.COUNCIL

    def to_value(self) -> list[Value]:
        return [
            self.kind.value,
            [m.to_value() for m in self.add],
            list(self.remove),
            self.rationale,
            self.deposit,
        ]


@dataclass(frozen=True, slots=True)
class RevertSpec:
    """Restore `region` of `agent` from `snapshot` (an earlier code id of that agent). With
    `emergency`, the higher threshold and shorter period apply and there is no enactment delay.
    When it passes, members who voted on the changes it undoes have their accuracy adjusted."""

    agent: bytes
    region: str
    snapshot: bytes
    rationale: str = ""
    deposit: int = 0
    emergency: bool = True

    kind = ProposalKind.REVERT

    def to_value(self) -> list[Value]:
        return [
            self.kind.value,
            self.agent,
            self.region,
            self.snapshot,
            self.emergency,
            self.rationale,
            self.deposit,
        ]


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """Set the SECURITY_CHECK policy of an agent with a `council` region (whose deployer may not:
    the council governs it). An empty policy (no callers, roles or limit) lets everything pass."""

    policy: AgentPolicy
    rationale: str = ""
    deposit: int = 0

    kind = ProposalKind.POLICY

    @property
    def agent(self) -> bytes:
        return self.policy.agent

    def to_value(self) -> list[Value]:
        return [self.kind.value, self.agent, self.policy.rules(), self.rationale, self.deposit]


@dataclass(frozen=True, slots=True)
class ChainParamsSpec:
    """Replace the chain parameters (all of them) with `params`, from the block after
    enactment. A protocol change: decided on the `chain` track."""

    params: ChainParams
    rationale: str = ""
    deposit: int = 0

    kind = ProposalKind.CHAIN

    def to_value(self) -> list[Value]:
        return [self.kind.value, self.params.to_value(), self.rationale, self.deposit]


@dataclass(frozen=True, slots=True)
class GasScheduleSpec:
    """Put a new gas schedule (every cost named, a version above the one in force) in force
    from the block after enactment. A protocol change: decided on the `gas` track."""

    schedule: GasSchedule
    rationale: str = ""
    deposit: int = 0

    kind = ProposalKind.GAS

    def to_value(self) -> list[Value]:
        return [self.kind.value, schedule_to_value(self.schedule), self.rationale, self.deposit]


MAX_VALIDATOR_CHANGES = 64  # validators one proposal adds, removes or re-weighs
MAX_POWER = 2**40  # one validator's voting power (the set's total stays far below 2**60)


@dataclass(frozen=True, slots=True)
class ValidatorsSpec:
    """Set validators' voting power from the block after enactment: a new key joins, power 0
    removes one. At most a third of the set's power may change by one proposal (a light client
    trusting the old set still overlaps the new one by more than a third). A protocol change:
    decided on the `validators` track."""

    changes: tuple[tuple[bytes, int], ...]  # (ed25519 public key, power), by key
    rationale: str = ""
    deposit: int = 0

    kind = ProposalKind.VALIDATORS

    def to_value(self) -> list[Value]:
        changes: list[Value] = [[key, power] for key, power in self.changes]
        return [self.kind.value, changes, self.rationale, self.deposit]


@dataclass(frozen=True, slots=True)
class AvmVersionSpec:
    """Let code assembled for AVM `version` (`.avm N`) be deployed from the block after
    enactment; code deployed before keeps running under its own version. A node whose AVM lacks
    the version stops at the enactment height, saying so. A protocol change: the `avm` track."""

    version: int
    rationale: str = ""
    deposit: int = 0

    kind = ProposalKind.AVM

    def to_value(self) -> list[Value]:
        return [self.kind.value, self.version, self.rationale, self.deposit]


ProposalSpec = (
    CodeChangeSpec
    | ParamsChangeSpec
    | CouncilChangeSpec
    | RevertSpec
    | PolicySpec
    | ChainParamsSpec
    | GasScheduleSpec
    | ValidatorsSpec
    | AvmVersionSpec
)


def spec_from_value(value: Value) -> ProposalSpec:
    """Decode a `propose` payload. Raises InvalidTransaction naming the bad field.

    Shapes (the first field names the kind):
      ["code", agent(20 B), region, new_ir, tests_ir, rationale, deposit]
      ["params", params(list), rationale, deposit]
      ["council", [[address, role, role_name], ...], [address, ...], rationale, deposit]
      ["revert", agent(20 B), region, snapshot code id(32 B), emergency(bool), rationale, deposit]
      ["policy", agent(20 B), [callers, roles, spend limit, period], rationale, deposit]
      ["chain", chain params(list), rationale, deposit]
      ["gas", [version, [cost, ...]] (avm/gas.py's wire form), rationale, deposit]
      ["validators", [[pubkey(32 B), power], ...] (by key), rationale, deposit]
      ["avm", version, rationale, deposit]
    """
    if not (isinstance(value, list) and len(value) >= 1):
        raise InvalidTransaction("a proposal is a list [kind, ...]")
    kind = value[0]
    if kind == ProposalKind.CODE.value:
        _, agent, region, new_ir, tests_ir, rationale, deposit = _fields(value, 7, "a code spec")
        return CodeChangeSpec(
            _address(agent, "agent"),
            _text(region, 128, "region"),
            _text(new_ir, MAX_TEXT_FIELD, "new IR"),
            _text(rationale, MAX_TEXT_FIELD, "rationale"),
            _text(tests_ir, MAX_TEXT_FIELD, "tests"),
            _amount(deposit),
        )
    if kind == ProposalKind.PARAMS.value:
        _, params, rationale, deposit = _fields(value, 4, "a params spec")
        return ParamsChangeSpec(
            GovernanceParams.from_value(params),
            _text(rationale, MAX_TEXT_FIELD, "rationale"),
            _amount(deposit),
        )
    if kind == ProposalKind.COUNCIL.value:
        _, add, remove, rationale, deposit = _fields(value, 5, "a council spec")
        added = _list(add, "the members to add")
        removed = _list(remove, "the members to remove")
        if len(added) + len(removed) > MAX_COUNCIL_CHANGE:
            raise InvalidTransaction(f"at most {MAX_COUNCIL_CHANGE} members change at once")
        return CouncilChangeSpec(
            tuple(NewMember.from_value(m) for m in added),
            tuple(_address(a, "a removed member") for a in removed),
            _text(rationale, MAX_TEXT_FIELD, "rationale"),
            _amount(deposit),
        )
    if kind == ProposalKind.REVERT.value:
        _, agent, region, snapshot, emergency, rationale, deposit = _fields(
            value, 7, "a revert spec"
        )
        if type(emergency) is not bool:
            raise InvalidTransaction("emergency must be true or false")
        return RevertSpec(
            _address(agent, "agent"),
            _text(region, 128, "region"),
            _hash(snapshot, "the snapshot code id"),
            _text(rationale, MAX_TEXT_FIELD, "rationale"),
            _amount(deposit),
            emergency,
        )
    if kind == ProposalKind.POLICY.value:
        _, agent, rules, rationale, deposit = _fields(value, 5, "a policy spec")
        return PolicySpec(
            AgentPolicy.from_rules(agent, rules),
            _text(rationale, MAX_TEXT_FIELD, "rationale"),
            _amount(deposit),
        )
    if kind == ProposalKind.CHAIN.value:
        _, chain_params, rationale, deposit = _fields(value, 4, "a chain spec")
        return ChainParamsSpec(
            ChainParams.from_value(chain_params),
            _text(rationale, MAX_TEXT_FIELD, "rationale"),
            _amount(deposit),
        )
    if kind == ProposalKind.GAS.value:
        _, schedule, rationale, deposit = _fields(value, 4, "a gas spec")
        try:
            checked = schedule_from_value(schedule)
        except ScheduleError as exc:
            raise InvalidTransaction(f"gas schedule: {exc}") from None
        return GasScheduleSpec(
            checked, _text(rationale, MAX_TEXT_FIELD, "rationale"), _amount(deposit)
        )
    if kind == ProposalKind.VALIDATORS.value:
        _, changes, rationale, deposit = _fields(value, 4, "a validators spec")
        listed = _list(changes, "the validator changes")
        if not 0 < len(listed) <= MAX_VALIDATOR_CHANGES:
            raise InvalidTransaction(f"a validators spec changes 1..{MAX_VALIDATOR_CHANGES}")
        powers = tuple(_validator_change(c) for c in listed)
        if [k for k, _ in powers] != sorted({k for k, _ in powers}):
            raise InvalidTransaction("validator changes must name each key once, in order")
        return ValidatorsSpec(
            powers, _text(rationale, MAX_TEXT_FIELD, "rationale"), _amount(deposit)
        )
    if kind == ProposalKind.AVM.value:
        _, version, rationale, deposit = _fields(value, 4, "an avm spec")
        if not (type(version) is int and 2 <= version <= MAX_AVM_VERSION):
            raise InvalidTransaction(f"an AVM version is an integer in 2..{MAX_AVM_VERSION}")
        return AvmVersionSpec(
            version, _text(rationale, MAX_TEXT_FIELD, "rationale"), _amount(deposit)
        )
    raise InvalidTransaction(f"unknown proposal kind {kind!r}")


@dataclass(frozen=True, slots=True)
class ProposePayload:
    """A `propose` transaction: the spec's wire form (see `spec_from_value`)."""

    spec: ProposalSpec

    def to_value(self) -> list[Value]:
        return self.spec.to_value()

    @classmethod
    def from_value(cls, value: Value) -> ProposePayload:
        return cls(spec_from_value(value))


# A vote's choice on the wire: 0 yes, 1 no, 2 abstain, 3 veto (what the reviewer service sends).
CHOICE_CODES: tuple[Choice, ...] = (Choice.YES, Choice.NO, Choice.ABSTAIN, Choice.VETO)


@dataclass(frozen=True, slots=True)
class VotePayload:
    """A `vote` transaction: [proposal id (32 B), choice (int: 0 yes, 1 no, 2 abstain, 3 veto),
    explanation text]."""

    proposal_id: bytes
    choice: Choice
    explanation: str = ""

    def to_value(self) -> list[Value]:
        return [self.proposal_id, CHOICE_CODES.index(self.choice), self.explanation]

    @classmethod
    def from_value(cls, value: Value) -> VotePayload:
        pid, choice, explanation = _fields(value, 3, "vote")
        if not (type(choice) is int and 0 <= choice < len(CHOICE_CODES)):
            raise InvalidTransaction("choice must be 0 yes, 1 no, 2 abstain or 3 veto")
        return cls(
            _hash(pid, "proposal id"),
            CHOICE_CODES[choice],
            _text(explanation, MAX_TEXT_FIELD, "explanation"),
        )


@dataclass(frozen=True, slots=True)
class CancelPayload:
    """A `cancel` transaction: [proposal id (32 B)]."""

    proposal_id: bytes

    def to_value(self) -> list[Value]:
        return [self.proposal_id]

    @classmethod
    def from_value(cls, value: Value) -> CancelPayload:
        (pid,) = _fields(value, 1, "cancel")
        return cls(_hash(pid, "proposal id"))


# ---- field readers -----------------------------------------------------------------------------


def _fields(value: Value, count: int, what: str) -> list[Value]:
    if not isinstance(value, list) or len(value) != count:
        raise InvalidTransaction(f"{what} must be a list of {count} fields")
    return value


def _address(value: Value, what: str) -> bytes:
    if not (isinstance(value, bytes) and len(value) == ADDRESS_SIZE):
        raise InvalidTransaction(f"{what} must be 20 bytes")
    return value


def _hash(value: Value, what: str) -> bytes:
    if not (isinstance(value, bytes) and len(value) == HASH_SIZE):
        raise InvalidTransaction(f"{what} must be 32 bytes")
    return value


def _text(value: Value, limit: int, what: str) -> str:
    if not (isinstance(value, str) and len(value.encode()) <= limit):
        raise InvalidTransaction(f"{what} must be text of at most {limit} bytes")
    return value


def _amount(value: Value) -> int:
    if not (type(value) is int and 0 <= value <= MAX_AMOUNT):
        raise InvalidTransaction("deposit must be a non-negative integer below 2**128")
    return value


def _validator_change(value: Value) -> tuple[bytes, int]:
    key, power = _fields(value, 2, "a validator change")
    if not (isinstance(key, bytes) and len(key) == PUBKEY_SIZE):
        raise InvalidTransaction("a validator is its 32-byte ed25519 public key")
    if not (type(power) is int and 0 <= power <= MAX_POWER):
        raise InvalidTransaction(f"a validator's power is an integer in 0..{MAX_POWER}")
    return key, power


def _list(value: Value, what: str) -> list[Value]:
    if not isinstance(value, list):
        raise InvalidTransaction(f"{what} must be a list")
    return value
