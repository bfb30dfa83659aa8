"""Governance values: parameters, council members, proposal specs and records, votes, errors.

Everything here is plain data with a canonical wire form (`to_value` / `from_value`: fixed-order
lists of ints, bools, bytes and str, never maps or floats). Fractions are parts per million
(`PPM` = 1.0). The state transition functions live in `ledger/governance.py`.

Decoders come in two strengths: `*_from_value` for transaction payloads check every field and
raise InvalidTransaction naming it; `from_value` on records read back from state trusts what
`to_value` wrote (a state entry is only ever written by this module).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from core.amounts import MAX_AMOUNT, UNIT
from core.crypto import ADDRESS_SIZE, HASH_SIZE, parse_address, to_checksum_address
from core.encoding import Value
from core.errors import AitherError, InvalidTransaction
from core.schema import require as _require
from ledger import gas

PPM = 1_000_000
# Hard caps on payload fields, whatever the parameters say: a transaction is at most 64 KiB.
MAX_TEXT_FIELD = 64 * 1024
MAX_COUNCIL_CHANGE = 64


# ---- errors ------------------------------------------------------------------------------------


class GovernanceError(AitherError):
    """A governance action refused with a reason; nothing was changed."""


class UnknownProposal(GovernanceError):
    """No proposal has this id."""


class UnknownAgent(GovernanceError):
    """The target address holds no agent."""


class UnknownRegion(GovernanceError):
    """The agent's code has no region of that name."""


class RegionPolicyError(GovernanceError):
    """The region's policy does not let governance rewrite it."""


class LockedRegion(RegionPolicyError):
    """A `locked` region: nobody may rewrite it, not even the council."""


class NotCouncilRegion(RegionPolicyError):
    """A `self` region: the agent rewrites it itself, the council does not."""


class BadIR(GovernanceError):
    """IR text (or tests) that does not assemble, or patched code that is not valid.

    `line` and `col` locate the error in the submitted text when known.
    """

    def __init__(self, message: str, line: int | None = None, col: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.col = col


class DepositTooSmall(GovernanceError):
    """The deposit is below `min_deposit`."""


class InsufficientFunds(GovernanceError):
    """The proposer's balance does not cover the deposit."""


class FieldTooLarge(GovernanceError):
    """A text field (rationale, explanation, IR, tests) is over its size bound."""


class NotAMember(GovernanceError):
    """The voter is not in the council that the proposal's tally counts."""


class VotingClosed(GovernanceError):
    """The proposal is not in its voting period (not started, or over)."""


class NotCancellable(GovernanceError):
    """Only the proposer may cancel, and only before voting ends."""


class InvalidSpec(GovernanceError):
    """A proposal whose content cannot apply (bad parameters, bad council change, no snapshot)."""


class NotRegistered(InvalidSpec):
    """A council member without a registered identity (ledger/identity.py): only registered
    identities sit on the council."""


class TooManyProposals(GovernanceError):
    """The number of open proposals is at `max_active_proposals`."""


# ---- enums -------------------------------------------------------------------------------------


class Role(Enum):
    """A council member's review speciality; its weight comes from the parameters."""

    SECURITY_AUDITOR = "SecurityAuditor"
    LATENCY_PROFILER = "LatencyProfiler"
    MEMORY_OPTIMIZER = "MemoryOptimizer"
    REGRESSION_HUNTER = "RegressionHunter"
    STANDARDS_ENFORCER = "StandardsEnforcer"
    CUSTOM = "Custom"  # any other speciality, named by the member's `role_name`


class Choice(Enum):
    YES = "yes"
    NO = "no"
    ABSTAIN = "abstain"
    VETO = "veto"  # a no that, above the veto bar, burns the deposit


class ProposalKind(Enum):
    CODE = "code"  # rewrite a `council` region of an agent
    PARAMS = "params"  # replace the governance parameters
    COUNCIL = "council"  # add or remove council members
    REVERT = "revert"  # restore a region from a snapshot (an earlier code id)


class Status(Enum):
    SUBMITTED = "submitted"  # deposit paid; sandboxed at the end of its block
    VOTING = "voting"
    PASSED = "passed"  # waiting `enactment_delay` blocks
    ENACTED = "enacted"
    REJECTED = "rejected"  # a sandbox test failed, or the yes share was not above threshold
    VETOED = "vetoed"
    EXPIRED = "expired"  # no quorum
    CANCELLED = "cancelled"
    FAILED = "failed"  # passed, but could not be applied at enactment (see `reason`)

    @property
    def is_open(self) -> bool:
        return self in _OPEN


_OPEN = frozenset({Status.SUBMITTED, Status.VOTING, Status.PASSED})


# ---- parameters --------------------------------------------------------------------------------

DEFAULT_ROLE_WEIGHTS: tuple[tuple[Role, int], ...] = (
    (Role.SECURITY_AUDITOR, 1_500_000),
    (Role.LATENCY_PROFILER, 1_000_000),
    (Role.MEMORY_OPTIMIZER, 1_000_000),
    (Role.REGRESSION_HUNTER, 1_200_000),
    (Role.STANDARDS_ENFORCER, 800_000),
    (Role.CUSTOM, 1_000_000),
)

# (field name, lower bound, upper bound) of every integer parameter, in wire order.
_INT_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("voting_period", 1, 2**32),
    ("emergency_voting_period", 1, 2**32),
    ("enactment_delay", 0, 2**32),
    ("quorum_ppm", 0, PPM),
    ("threshold_ppm", 0, PPM),
    ("veto_ppm", 0, PPM),
    ("emergency_threshold_ppm", 0, PPM),
    ("min_deposit", 0, MAX_AMOUNT),
    ("cancel_burn_ppm", 0, PPM),
    ("max_rationale_bytes", 1, MAX_TEXT_FIELD),
    ("max_explanation_bytes", 1, MAX_TEXT_FIELD),
    ("max_ir_bytes", 1, MAX_TEXT_FIELD),
    ("max_tests_bytes", 1, MAX_TEXT_FIELD),
    ("sandbox_gas", 1, 2**62),
    ("initial_accuracy_ppm", 0, PPM),
    ("accuracy_step_ppm", 0, PPM),
    ("min_accuracy_ppm", 0, PPM),
    ("max_accuracy_ppm", 0, PPM),
    ("max_council_size", 1, 1024),
    ("max_active_proposals", 1, 1024),
    ("block_gas_limit", gas.TX_BASE, 2**62),
)


@dataclass(frozen=True, slots=True)
class GovernanceParams:
    """Every governance rule, fixed in genesis and changed only by a passed `params` proposal.

    Ratios are parts per million; the tally defaults are Cosmos x/gov's (quorum 0.334,
    threshold 0.5, veto 0.334). Gas is AVM milligas. `min_deposit` is in base units.
    """

    voting_period: int = 100  # blocks
    emergency_voting_period: int = 10  # blocks, for an emergency revert
    enactment_delay: int = 10  # blocks between passing and enactment (none for emergencies)
    quorum_ppm: int = 334_000  # share of the council's weight that must vote
    threshold_ppm: int = 500_000  # yes / (yes + no + veto) must be above this
    veto_ppm: int = 334_000  # veto / all votes above this: vetoed, deposit burnt
    emergency_threshold_ppm: int = 667_000
    min_deposit: int = 10 * UNIT
    burn_deposit_on_expiry: bool = False  # no quorum: the deposit is returned by default
    cancel_burn_ppm: int = 500_000  # share of the deposit burnt when the proposer cancels
    max_rationale_bytes: int = 4096
    max_explanation_bytes: int = 2048
    max_ir_bytes: int = 32 * 1024
    max_tests_bytes: int = 16 * 1024
    sandbox_gas: int = 500_000_000  # milligas for all of a proposal's tests, per code version
    initial_accuracy_ppm: int = 800_000
    accuracy_step_ppm: int = 50_000
    min_accuracy_ppm: int = 100_000
    max_accuracy_ppm: int = PPM
    max_council_size: int = 64
    max_active_proposals: int = 32
    # Gas all of a block's transactions may use together (ledger gas = AVM milligas): about a
    # second of the tightest AVM loop on the machines the project measures on (README).
    block_gas_limit: int = gas.DEFAULT_BLOCK_GAS_LIMIT
    role_weights: tuple[tuple[Role, int], ...] = DEFAULT_ROLE_WEIGHTS  # every Role, in order

    def role_weight(self, role: Role) -> int:
        return next(weight for r, weight in self.role_weights if r is role)

    def validate(self) -> None:
        """Raises InvalidSpec naming the first rule that does not hold."""
        for name, low, high in _INT_FIELDS:
            value = getattr(self, name)
            if type(value) is not int or not low <= value <= high:
                raise InvalidSpec(f"{name} must be an integer in {low}..{high}")
        if type(self.burn_deposit_on_expiry) is not bool:
            raise InvalidSpec("burn_deposit_on_expiry must be true or false")
        if self.emergency_threshold_ppm < self.threshold_ppm:
            raise InvalidSpec("emergency_threshold_ppm must not be below threshold_ppm")
        if not self.min_accuracy_ppm <= self.initial_accuracy_ppm <= self.max_accuracy_ppm:
            raise InvalidSpec("accuracy must satisfy min <= initial <= max")
        if tuple(r for r, _ in self.role_weights) != tuple(Role):
            raise InvalidSpec("role_weights must give every role once, in order")
        if any(type(w) is not int or not 0 <= w <= 100 * PPM for _, w in self.role_weights):
            raise InvalidSpec("a role weight must be an integer in 0..100000000 (ppm)")

    def to_value(self) -> list[Value]:
        ints: list[Value] = [getattr(self, name) for name, _, _ in _INT_FIELDS]
        return [*ints, self.burn_deposit_on_expiry, [w for _, w in self.role_weights]]

    @classmethod
    def from_value(cls, value: Value) -> GovernanceParams:
        """Decode and validate. Raises InvalidTransaction naming the problem."""
        count = len(_INT_FIELDS)
        fields = _fields(value, count + 2, "governance parameters")
        weights = fields[count + 1]
        _require(
            isinstance(weights, list) and len(weights) == len(Role),
            f"role_weights must list {len(Role)} weights",
        )
        assert isinstance(weights, list)
        kwargs: dict[str, object] = {name: fields[i] for i, (name, _, _) in enumerate(_INT_FIELDS)}
        params = cls(
            **kwargs,
            burn_deposit_on_expiry=fields[count],
            role_weights=tuple(zip(Role, weights, strict=True)),
        )
        try:
            params.validate()
        except InvalidSpec as exc:
            raise InvalidTransaction(str(exc)) from None
        return params

    def to_json(self) -> dict[str, object]:
        """The genesis form: snake_case names, `min_deposit` as a decimal string of base units,
        role weights by role name, every ratio in ppm (integers: JSON never carries a float)."""
        doc: dict[str, object] = {name: getattr(self, name) for name, _, _ in _INT_FIELDS}
        doc["min_deposit"] = str(self.min_deposit)
        doc["burn_deposit_on_expiry"] = self.burn_deposit_on_expiry
        doc["role_weights"] = {role.value: weight for role, weight in self.role_weights}
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, object]) -> GovernanceParams:
        """Read the genesis form; missing names take their defaults, unknown names are refused.
        Raises InvalidSpec."""
        known = {name for name, _, _ in _INT_FIELDS} | {"burn_deposit_on_expiry", "role_weights"}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise InvalidSpec(f"unknown governance parameter {unknown[0]!r}")
        defaults = cls()
        kwargs: dict[str, object] = {}
        for name, _, _ in _INT_FIELDS:
            raw = doc.get(name, getattr(defaults, name))
            if isinstance(raw, bool) or not isinstance(raw, int | str):
                raise InvalidSpec(f"{name} must be an integer")
            try:
                kwargs[name] = int(raw)
            except ValueError:
                raise InvalidSpec(f"{name} must be an integer, not {raw!r}") from None
        weights_doc = doc.get("role_weights", {})
        if not isinstance(weights_doc, dict):
            raise InvalidSpec("role_weights must map role names to ppm weights")
        bad = sorted(set(weights_doc) - {role.value for role in Role})
        if bad:
            raise InvalidSpec(f"unknown role {bad[0]!r} in role_weights")
        weights = tuple(
            (role, weights_doc.get(role.value, defaults.role_weight(role))) for role in Role
        )
        params = cls(
            **kwargs,
            burn_deposit_on_expiry=doc.get("burn_deposit_on_expiry", False),
            role_weights=weights,
        )
        params.validate()
        return params


# ---- council -----------------------------------------------------------------------------------


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
        role, role_name, accuracy, since = value
        return cls(address, Role(role), accuracy, role_name, since)

    def to_json(self, params: GovernanceParams) -> dict[str, object]:
        return {
            "address": to_checksum_address(self.address),
            "role": self.role.value,
            "roleName": self.role_name or self.role.value,
            "accuracyPpm": self.accuracy_ppm,
            "weight": self.weight(params),
            "since": self.since,
        }


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
        _require(role in {r.value for r in Role}, f"unknown role {role!r}")
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


ProposalSpec = CodeChangeSpec | ParamsChangeSpec | CouncilChangeSpec | RevertSpec


def spec_from_value(value: Value) -> ProposalSpec:
    """Decode a `propose` payload. Raises InvalidTransaction naming the bad field.

    Shapes (the first field names the kind):
      ["code", agent(20 B), region, new_ir, tests_ir, rationale, deposit]
      ["params", params(list), rationale, deposit]
      ["council", [[address, role, role_name], ...], [address, ...], rationale, deposit]
      ["revert", agent(20 B), region, snapshot code id(32 B), emergency(bool), rationale, deposit]
    """
    _require(isinstance(value, list) and len(value) >= 1, "a proposal is a list [kind, ...]")
    assert isinstance(value, list)
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
        _require(
            len(added) + len(removed) <= MAX_COUNCIL_CHANGE,
            f"at most {MAX_COUNCIL_CHANGE} members change at once",
        )
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
        _require(type(emergency) is bool, "emergency must be true or false")
        return RevertSpec(
            _address(agent, "agent"),
            _text(region, 128, "region"),
            _hash(snapshot, "the snapshot code id"),
            _text(rationale, MAX_TEXT_FIELD, "rationale"),
            _amount(deposit),
            emergency is True,
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
        _require(
            type(choice) is int and 0 <= choice < len(CHOICE_CODES),
            "choice must be 0 yes, 1 no, 2 abstain or 3 veto",
        )
        assert isinstance(choice, int)
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


# ---- records kept in state --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TallyRules:
    """The rules a proposal is tallied by, fixed when it is submitted."""

    quorum_ppm: int
    threshold_ppm: int
    veto_ppm: int
    voting_period: int
    enactment_delay: int

    def to_value(self) -> list[Value]:
        return [
            self.quorum_ppm,
            self.threshold_ppm,
            self.veto_ppm,
            self.voting_period,
            self.enactment_delay,
        ]


@dataclass(frozen=True, slots=True)
class Tally:
    """Weights per choice and the total weight of the proposal's electorate."""

    yes: int = 0
    no: int = 0
    abstain: int = 0
    veto: int = 0
    total: int = 0

    @property
    def voted(self) -> int:
        return self.yes + self.no + self.abstain + self.veto

    def quorum_weight(self, rules: TallyRules) -> int:
        """The smallest voted weight that reaches quorum."""
        return -(-rules.quorum_ppm * self.total // PPM)

    def outcome(self, rules: TallyRules) -> Status:
        """EXPIRED without quorum; VETOED when veto / voted > veto bar; PASSED when
        yes / (yes + no + veto) > threshold; else REJECTED. All in integers, as Cosmos x/gov
        compares (a veto counts as a no for the threshold, so vetoing never helps a proposal)."""
        if self.total == 0 or self.voted * PPM < rules.quorum_ppm * self.total:
            return Status.EXPIRED
        if self.veto * PPM > rules.veto_ppm * self.voted:
            return Status.VETOED
        deciding = self.yes + self.no + self.veto
        if deciding and self.yes * PPM > rules.threshold_ppm * deciding:
            return Status.PASSED
        return Status.REJECTED

    def to_value(self) -> list[Value]:
        return [self.yes, self.no, self.abstain, self.veto, self.total]


@dataclass(frozen=True, slots=True)
class SandboxResult:
    """One test run against the code before and after the change (gas in milligas).
    `gas_before` is None when the test cannot run on the old code (its entry is new)."""

    test: str
    passed: bool
    gas_before: int | None
    gas_after: int
    reason: str = ""

    def to_value(self) -> list[Value]:
        return [self.test, self.passed, self.gas_before, self.gas_after, self.reason]

    def to_json(self) -> dict[str, object]:
        return {
            "test": self.test,
            "passed": self.passed,
            "gasBefore": self.gas_before,
            "gasAfter": self.gas_after,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Vote:
    member: bytes
    choice: Choice
    explanation: str
    height: int

    def to_value(self) -> list[Value]:
        return [self.choice.value, self.explanation, self.height]

    @classmethod
    def from_value(cls, member: bytes, value: Value) -> Vote:
        choice, explanation, height = value
        return cls(member, Choice(choice), explanation, height)


@dataclass(frozen=True, slots=True)
class Proposal:
    """A proposal's record: its spec, the electorate and rules fixed at submission, and what
    happened to it since. Votes are separate entries (one per member)."""

    id: bytes
    number: int  # 0, 1, 2, ... in submission order
    spec: ProposalSpec
    proposer: bytes
    status: Status
    submitted_height: int
    electorate: tuple[tuple[bytes, int], ...]  # (member, weight), by address
    rules: TallyRules
    base_code_id: bytes | None = None  # the agent's code when submitted (code, revert)
    new_code_id: bytes | None = None  # the patched code as submitted
    voting_end_height: int | None = None
    enact_height: int | None = None
    closed_height: int | None = None  # when it reached its final status
    sandbox: tuple[SandboxResult, ...] = ()
    tally: Tally | None = None  # the final tally
    enacted_code_id: bytes | None = None  # differs from new_code_id when rebased
    reverted_by: bytes | None = None
    reason: str = ""  # why it was rejected or failed, for people
    undoes: tuple[bytes, ...] = ()  # for an enacted revert: the proposals it undid

    @property
    def kind(self) -> ProposalKind:
        return self.spec.kind

    @property
    def emergency(self) -> bool:
        return isinstance(self.spec, RevertSpec) and self.spec.emergency

    @property
    def agent(self) -> bytes | None:
        return self.spec.agent if isinstance(self.spec, CodeChangeSpec | RevertSpec) else None

    @property
    def region(self) -> str | None:
        return self.spec.region if isinstance(self.spec, CodeChangeSpec | RevertSpec) else None

    def to_value(self) -> list[Value]:
        return [
            self.id,
            self.number,
            self.spec.to_value(),
            self.proposer,
            self.status.value,
            self.submitted_height,
            [[m, w] for m, w in self.electorate],
            self.rules.to_value(),
            self.base_code_id,
            self.new_code_id,
            self.voting_end_height,
            self.enact_height,
            self.closed_height,
            [s.to_value() for s in self.sandbox],
            None if self.tally is None else self.tally.to_value(),
            self.enacted_code_id,
            self.reverted_by,
            self.reason,
            list(self.undoes),
        ]

    @classmethod
    def from_value(cls, value: Value) -> Proposal:
        (
            pid,
            number,
            spec,
            proposer,
            status,
            submitted,
            electorate,
            rules,
            base,
            new,
            voting_end,
            enact,
            closed,
            sandbox,
            tally,
            enacted,
            reverted_by,
            reason,
            undoes,
        ) = value
        return cls(
            pid,
            number,
            spec_from_value(spec),
            proposer,
            Status(status),
            submitted,
            tuple((m, w) for m, w in electorate),
            TallyRules(*rules),
            base,
            new,
            voting_end,
            enact,
            closed,
            tuple(SandboxResult(*s) for s in sandbox),
            None if tally is None else Tally(*tally),
            enacted,
            reverted_by,
            reason,
            tuple(undoes),
        )


# ---- helpers -----------------------------------------------------------------------------------


def _fields(value: Value, count: int, what: str) -> list[Value]:
    if not isinstance(value, list) or len(value) != count:
        raise InvalidTransaction(f"{what} must be a list of {count} fields")
    return value


def _address(value: Value, what: str) -> bytes:
    _require(isinstance(value, bytes) and len(value) == ADDRESS_SIZE, f"{what} must be 20 bytes")
    assert isinstance(value, bytes)
    return value


def _hash(value: Value, what: str) -> bytes:
    _require(isinstance(value, bytes) and len(value) == HASH_SIZE, f"{what} must be 32 bytes")
    assert isinstance(value, bytes)
    return value


def _text(value: Value, limit: int, what: str) -> str:
    _require(
        isinstance(value, str) and len(value.encode()) <= limit,
        f"{what} must be text of at most {limit} bytes",
    )
    assert isinstance(value, str)
    return value


def _amount(value: Value) -> int:
    _require(
        type(value) is int and 0 <= value <= MAX_AMOUNT,
        "deposit must be a non-negative integer below 2**128",
    )
    assert isinstance(value, int)
    return value


def _list(value: Value, what: str) -> list[Value]:
    _require(isinstance(value, list), f"{what} must be a list")
    assert isinstance(value, list)
    return value


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
