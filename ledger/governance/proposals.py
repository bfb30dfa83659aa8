"""Proposals as state holds them: the record, its tally, its sandbox results, the votes cast on
it and the code changes governance enacted (lineage edges), with the reads and writes of each.

Records are written only by the governance transition and read back with checked readers, which
raise DecodeError when a state entry is damaged. The tables are the key prefixes below.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from core.crypto import ADDRESS_SIZE, HASH_SIZE
from core.encoding import Value, decode, encode
from core.errors import DecodeError
from core.schema import fields, flag, integer, sized_bytes, uint
from ledger.governance.errors import UnknownProposal
from ledger.governance.params import PPM, ProposalKind
from ledger.governance.payloads import (
    Choice,
    CodeChangeSpec,
    PolicySpec,
    ProposalSpec,
    RevertSpec,
    spec_from_value,
)
from ledger.governance.shadow import ShadowSummary
from ledger.state import Store

PROPOSAL_RECORD = b"Q"  # + proposal id -> Proposal
PROPOSAL_INDEX = b"I"  # (the key itself) -> [proposal count, [numbers of open proposals]]
PROPOSAL_NUMBER = b"S"  # + number (8 bytes) -> proposal id, in submission order
VOTE = b"V"  # + proposal id + member -> [choice, explanation, height]; the member's last vote
AGENT_PROPOSALS = b"X"  # + agent -> count; + agent + index (4 bytes) -> proposal id
EDGE = b"E"  # + agent -> count; + agent + index (4 bytes) -> [proposal, parent, code, height]

_DAMAGED = "a damaged governance entry"


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

    @classmethod
    def from_value(cls, value: Value) -> SandboxResult:
        test, passed, gas_before, gas_after, reason = fields(value, 5, _DAMAGED)
        return cls(
            _str(test),
            flag(passed, _DAMAGED),
            _maybe_int(gas_before),
            _int(gas_after),
            _str(reason),
        )

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
        choice, explanation, height = fields(value, 3, _DAMAGED)
        return cls(member, Choice(_str(choice)), _str(explanation), _int(height))


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
    shadow: ShadowSummary | None = None  # a `gas` proposal's replay of the recent blocks

    @property
    def kind(self) -> ProposalKind:
        return self.spec.kind

    @property
    def emergency(self) -> bool:
        return isinstance(self.spec, RevertSpec) and self.spec.emergency

    @property
    def agent(self) -> bytes | None:
        spec = self.spec
        return spec.agent if isinstance(spec, CodeChangeSpec | RevertSpec | PolicySpec) else None

    @property
    def region(self) -> str | None:
        return self.spec.region if isinstance(self.spec, CodeChangeSpec | RevertSpec) else None

    def tally_due(self, height: int) -> bool:
        """In voting, and its voting period ends at `height` or ended before."""
        end = self.voting_end_height
        return self.status is Status.VOTING and end is not None and end <= height

    def enactment_due(self, height: int) -> bool:
        """Passed, and its enactment height is `height` or before."""
        at = self.enact_height
        return self.status is Status.PASSED and at is not None and at <= height

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
            None if self.shadow is None else self.shadow.to_value(),
        ]

    @classmethod
    def from_value(cls, value: Value) -> Proposal:
        """Read back a record `to_value` wrote. Raises DecodeError when state is damaged."""
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
            shadow,
        ) = fields(value, 20, _DAMAGED)
        return cls(
            sized_bytes(pid, HASH_SIZE, _DAMAGED),
            _int(number),
            spec_from_value(spec),
            sized_bytes(proposer, ADDRESS_SIZE, _DAMAGED),
            Status(_str(status)),
            _int(submitted),
            tuple(_weighted(entry) for entry in _list(electorate)),
            TallyRules(*_ints(rules, 5)),
            _maybe_hash(base),
            _maybe_hash(new),
            _maybe_int(voting_end),
            _maybe_int(enact),
            _maybe_int(closed),
            tuple(SandboxResult.from_value(s) for s in _list(sandbox)),
            None if tally is None else Tally(*_ints(tally, 5)),
            _maybe_hash(enacted),
            _maybe_hash(reverted_by),
            _str(reason),
            tuple(sized_bytes(u, HASH_SIZE, _DAMAGED) for u in _list(undoes)),
            None if shadow is None else ShadowSummary.from_value(shadow),
        )


@dataclass(frozen=True, slots=True)
class LineageEdge:
    """One code change that governance enacted on an agent."""

    proposal_id: bytes
    parent_code_id: bytes
    code_id: bytes
    height: int

    def to_value(self) -> list[Value]:
        return [self.proposal_id, self.parent_code_id, self.code_id, self.height]

    @classmethod
    def from_value(cls, value: Value) -> LineageEdge:
        pid, parent, code_id, height = fields(value, 4, _DAMAGED)
        return cls(
            sized_bytes(pid, HASH_SIZE, _DAMAGED),
            sized_bytes(parent, HASH_SIZE, _DAMAGED),
            sized_bytes(code_id, HASH_SIZE, _DAMAGED),
            _int(height),
        )


# ---- reads ---------------------------------------------------------------------------------------


def load_proposal(store: Store, proposal_id: bytes) -> Proposal:
    """Raises UnknownProposal."""
    raw = store.get(PROPOSAL_RECORD + proposal_id)
    if raw is None:
        raise UnknownProposal(f"no proposal 0x{proposal_id.hex()}")
    return Proposal.from_value(decode(raw))


def load_index(store: Store) -> tuple[int, list[int]]:
    """The number of proposals ever filed, and the numbers of the open ones, ascending."""
    raw = store.get(PROPOSAL_INDEX)
    if raw is None:
        return 0, []
    count, open_numbers = fields(decode(raw), 2, _DAMAGED)
    return _int(count), [_int(n) for n in _list(open_numbers)]


def proposal_count(store: Store) -> int:
    return load_index(store)[0]


def proposal_id_at(store: Store, number: int) -> bytes:
    raw = store.get(PROPOSAL_NUMBER + number.to_bytes(8, "big"))
    if raw is None:
        raise UnknownProposal(f"no proposal number {number}")
    return sized_bytes(decode(raw), HASH_SIZE, _DAMAGED)


def agent_proposal_ids(store: Store, agent: bytes) -> list[bytes]:
    """The proposals that target `agent`, in submission order."""
    return [
        sized_bytes(
            decode(_required(store, _item_key(AGENT_PROPOSALS, agent, i))), HASH_SIZE, _DAMAGED
        )
        for i in range(_count(store, AGENT_PROPOSALS + agent))
    ]


def lineage_edges(store: Store, agent: bytes) -> list[LineageEdge]:
    """The code changes governance enacted on `agent`, oldest first."""
    return [
        LineageEdge.from_value(decode(_required(store, _item_key(EDGE, agent, i))))
        for i in range(_count(store, EDGE + agent))
    ]


def load_votes(store: Store, proposal: Proposal) -> list[Vote]:
    """The votes cast on `proposal`, in electorate (address) order."""
    votes = []
    for member, _ in proposal.electorate:
        raw = store.get(VOTE + proposal.id + member)
        if raw is not None:
            votes.append(Vote.from_value(member, decode(raw)))
    return votes


def current_tally(store: Store, proposal: Proposal) -> Tally:
    """The tally of the votes cast so far, by the weights fixed at submission."""
    if proposal.tally is not None:
        return proposal.tally
    weights = dict(proposal.electorate)
    sums = dict.fromkeys(Choice, 0)
    for v in load_votes(store, proposal):
        sums[v.choice] += weights[v.member]
    total = sum(weights.values())
    return Tally(sums[Choice.YES], sums[Choice.NO], sums[Choice.ABSTAIN], sums[Choice.VETO], total)


# ---- writes --------------------------------------------------------------------------------------


def put_proposal(store: Store, proposal: Proposal) -> None:
    store.put(PROPOSAL_RECORD + proposal.id, encode(proposal.to_value()))


def put_index(store: Store, count: int, open_numbers: list[int]) -> None:
    store.put(PROPOSAL_INDEX, encode([count, sorted(open_numbers)]))


def add_proposal(store: Store, proposal: Proposal) -> None:
    """Write a new proposal's record, number and index entries (it is open)."""
    count, open_numbers = load_index(store)
    assert proposal.number == count, "proposals are numbered in submission order"
    put_proposal(store, proposal)
    store.put(PROPOSAL_NUMBER + count.to_bytes(8, "big"), encode(proposal.id))
    put_index(store, count + 1, [*open_numbers, count])
    if proposal.agent is not None:
        _append(store, AGENT_PROPOSALS, proposal.agent, encode(proposal.id))


def close_proposal(store: Store, proposal: Proposal) -> None:
    """Write a proposal that reached its final status and take it off the open list."""
    put_proposal(store, proposal)
    count, open_numbers = load_index(store)
    put_index(store, count, [n for n in open_numbers if n != proposal.number])


def put_vote(store: Store, proposal_id: bytes, vote: Vote) -> None:
    """Record `vote.member`'s vote, replacing an earlier one."""
    store.put(VOTE + proposal_id + vote.member, encode(vote.to_value()))


def add_lineage_edge(store: Store, agent: bytes, edge: LineageEdge) -> None:
    _append(store, EDGE, agent, encode(edge.to_value()))


def _append(store: Store, table: bytes, agent: bytes, entry: bytes) -> None:
    n = _count(store, table + agent)
    store.put(_item_key(table, agent, n), entry)
    store.put(table + agent, encode(n + 1))


def _item_key(table: bytes, agent: bytes, index: int) -> bytes:
    return table + agent + index.to_bytes(4, "big")


def _count(store: Store, key: bytes) -> int:
    raw = store.get(key)
    return 0 if raw is None else _int(decode(raw))


def _required(store: Store, key: bytes) -> bytes:
    raw = store.get(key)
    if raw is None:
        raise DecodeError("a governance index names a missing entry")
    return raw


# ---- field readers for records -------------------------------------------------------------------


def _int(value: Value) -> int:
    return integer(value, _DAMAGED)


def _ints(value: Value, count: int) -> list[int]:
    return [_int(v) for v in fields(value, count, _DAMAGED)]


def _str(value: Value) -> str:
    if isinstance(value, str):
        return value
    raise DecodeError(_DAMAGED)


def _list(value: Value) -> list[Value]:
    if isinstance(value, list):
        return value
    raise DecodeError(_DAMAGED)


def _maybe_int(value: Value) -> int | None:
    return None if value is None else _int(value)


def _maybe_hash(value: Value) -> bytes | None:
    return None if value is None else sized_bytes(value, HASH_SIZE, _DAMAGED)


def _weighted(entry: Value) -> tuple[bytes, int]:
    member, weight = fields(entry, 2, _DAMAGED)
    return sized_bytes(member, ADDRESS_SIZE, _DAMAGED), uint(weight, 2**128, _DAMAGED)
