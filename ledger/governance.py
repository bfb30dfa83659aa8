"""Governance: code changes and rule changes by weighted council quorum, as state transitions.

Plain functions over a store of state entries (a `State`, or anything with its `get`/`put`),
in the manner of ethereum/execution-specs: no I/O, no clock, no floats, no iteration over
unordered containers. Every governance datum is a state entry, so the state root commits to it.

Lifecycle (statuses in `Status`), every step taken by `end_block` after a block's transactions:

    submitted --sandbox ok--> voting --tally at voting_end--> passed --enact_height--> enacted
        |                       |                                |
        +--a test fails--> rejected (deposit burnt)              +--cannot apply--> failed
                                +--> rejected (yes share not above threshold; deposit returned)
                                +--> vetoed (deposit burnt)
                                +--> expired (no quorum; returned unless burn_deposit_on_expiry)
    submitted / voting --proposer cancels--> cancelled (cancel_burn_ppm of the deposit burnt)

A proposal submitted in block h is sandboxed at the end of block h, takes votes in blocks
h+1 .. h+voting_period, is tallied at the end of block h+voting_period and enacted at the end of
block h+voting_period+enactment_delay (emergency reverts: their own period, no delay). The
electorate (members and weights) and the tally rules are fixed at submission.

Every council member is a registered identity (ledger/identity.py): genesis registers the
initial council's, and a council proposal may add only addresses that have registered. An
identity is never removed (a name can be released or handed on, the record stays), so a member
that was registered when a proposal was filed still is when it is enacted; enactment checks
again all the same, as it checks every part of a council change.

Agents' code is reached only through `AgentCode` (in the context), which the ledger implements
over its agent tables, so this module does not depend on how agents are stored.

The state tables are the one-byte key prefixes below (ledger/state.py holds a t b v c g k l).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from avm.assembler import assemble, assemble_fragment
from avm.code import CodeObject, Policy, TestCase
from avm.disassembler import disassemble, disassemble_region
from avm.errors import AssemblyError, CodeFormatError, NotDeployable
from avm.host import CodeChange, CodeProposal, LineageKind
from avm.interpreter import run_tests
from avm.selfmod import region_body, replace_region
from avm.validation import check_deployable, validate
from core.crypto import ADDRESS_SIZE, hash32, to_checksum_address
from core.encoding import Value, decode, encode
from core.errors import AitherError
from ledger.governance_types import (
    PPM,
    BadIR,
    Choice,
    CodeChangeSpec,
    CouncilChangeSpec,
    CouncilMember,
    DepositTooSmall,
    FieldTooLarge,
    GovernanceError,
    GovernanceParams,
    InsufficientFunds,
    InvalidSpec,
    LockedRegion,
    NotAMember,
    NotCancellable,
    NotCouncilRegion,
    NotRegistered,
    ParamsChangeSpec,
    Proposal,
    ProposalKind,
    ProposalSpec,
    RevertSpec,
    SandboxResult,
    Status,
    Tally,
    TallyRules,
    TooManyProposals,
    UnknownAgent,
    UnknownProposal,
    UnknownRegion,
    Vote,
    VotingClosed,
)
from ledger.identity import load_identity
from ledger.state import ACCOUNT, Account, decode_account, encode_account

PARAMS = b"P"  # (the key itself) -> GovernanceParams
MEMBER = b"M"  # + address -> [role, role name, accuracy ppm, since height]
ROSTER = b"N"  # (the key itself) -> [member addresses, ascending]
PROPOSAL_RECORD = b"Q"  # + proposal id -> Proposal
PROPOSAL_INDEX = b"I"  # (the key itself) -> [proposal count, [numbers of open proposals]]
PROPOSAL_NUMBER = b"S"  # + number (8 bytes) -> proposal id, in submission order
VOTE = b"V"  # + proposal id + member -> [choice, explanation, height]; the member's last vote
AGENT_PROPOSALS = b"X"  # + agent -> count; + agent + index (4 bytes) -> proposal id
EDGE = b"E"  # + agent -> count; + agent + index (4 bytes) -> [proposal, parent, code, height]

# Deposits wait in this account (nobody holds its key), so balances still add up to the supply
# minus what was burnt, and its balance is the total held in escrow.
ESCROW = hash32(b"aither/governance/escrow")[-ADDRESS_SIZE:]


class Store(Protocol):
    """What governance needs of state: a `State`, or an AVM chain host (which records reads)."""

    def get(self, key: bytes) -> bytes | None: ...
    def put(self, key: bytes, value: bytes | None) -> None: ...


class AgentCode(Protocol):
    """The ledger's agents, as governance sees them."""

    def code_of(self, agent: bytes) -> CodeObject | None:
        """The code `agent` runs now, or None when there is no agent at that address."""
        ...

    def code_by_id(self, code_id: bytes) -> CodeObject | None:
        """Any code version the chain has held (snapshots are code ids)."""
        ...

    def set_code(self, agent: bytes, code: CodeObject, change: CodeChange) -> None:
        """Make `agent` run `code` from its next call; store the code; append `change` to its
        lineage (kind PROPOSAL, parent = the code it ran)."""
        ...


@dataclass(frozen=True, slots=True)
class GovernanceContext:
    height: int  # the block being executed
    agents: AgentCode


@dataclass(frozen=True, slots=True)
class GovernanceEvent:
    """Something `end_block` did to a proposal, for the block's logs."""

    topic: str  # ProposalSandboxed, VotingStarted, ProposalPassed, ..., AccuracyChanged
    proposal_id: bytes
    status: Status
    detail: str = ""


@dataclass(frozen=True, slots=True)
class LineageEdge:
    """One code change that governance enacted on an agent."""

    proposal_id: bytes
    parent_code_id: bytes
    code_id: bytes
    height: int

    def to_value(self) -> list[Value]:
        return [self.proposal_id, self.parent_code_id, self.code_id, self.height]


# ---- parameters and council --------------------------------------------------------------------


def load_params(store: Store) -> GovernanceParams:
    """The parameters in force (the defaults on a chain whose genesis set none)."""
    raw = store.get(PARAMS)
    return GovernanceParams() if raw is None else GovernanceParams.from_value(decode(raw))


def load_member(store: Store, address: bytes) -> CouncilMember | None:
    raw = store.get(MEMBER + address)
    return None if raw is None else CouncilMember.from_value(address, decode(raw))


def load_council(store: Store) -> tuple[CouncilMember, ...]:
    """Every member, by address."""
    members = []
    for address in _roster(store):
        member = load_member(store, address)
        assert member is not None, "the roster names a member without a record"
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
    store.put(PARAMS, encode(params.to_value()))
    for member in chosen:
        _put_member(store, replace(member, since=height))
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
    return [] if raw is None else decode(raw)


def _put_member(store: Store, member: CouncilMember) -> None:
    store.put(MEMBER + member.address, encode(member.to_value()))


# ---- proposals: reading ------------------------------------------------------------------------


def load_proposal(store: Store, proposal_id: bytes) -> Proposal:
    """Raises UnknownProposal."""
    raw = store.get(PROPOSAL_RECORD + proposal_id)
    if raw is None:
        raise UnknownProposal(f"no proposal 0x{proposal_id.hex()}")
    return Proposal.from_value(decode(raw))


def proposal_count(store: Store) -> int:
    return _index(store)[0]


def proposal_id_at(store: Store, number: int) -> bytes:
    raw = store.get(PROPOSAL_NUMBER + number.to_bytes(8, "big"))
    if raw is None:
        raise UnknownProposal(f"no proposal number {number}")
    return decode(raw)


def agent_proposal_ids(store: Store, agent: bytes) -> list[bytes]:
    """The proposals that target `agent`, in submission order."""
    return [
        decode(_required(store.get(AGENT_PROPOSALS + agent + i.to_bytes(4, "big"))))
        for i in range(_count(store, AGENT_PROPOSALS + agent))
    ]


def lineage_edges(store: Store, agent: bytes) -> list[LineageEdge]:
    """The code changes governance enacted on `agent`, oldest first."""
    edges = []
    for i in range(_count(store, EDGE + agent)):
        pid, parent, code_id, height = decode(_required(store.get(_edge_key(agent, i))))
        edges.append(LineageEdge(pid, parent, code_id, height))
    return edges


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


def _index(store: Store) -> tuple[int, list[int]]:
    raw = store.get(PROPOSAL_INDEX)
    if raw is None:
        return 0, []
    count, open_numbers = decode(raw)
    return count, open_numbers


def _put_index(store: Store, count: int, open_numbers: list[int]) -> None:
    store.put(PROPOSAL_INDEX, encode([count, sorted(open_numbers)]))


def _count(store: Store, key: bytes) -> int:
    raw = store.get(key)
    return 0 if raw is None else decode(raw)


def _required(raw: bytes | None) -> bytes:
    assert raw is not None, "a governance index names a missing entry"
    return raw


def _edge_key(agent: bytes, index: int) -> bytes:
    return EDGE + agent + index.to_bytes(4, "big")


def _put_proposal(store: Store, proposal: Proposal) -> None:
    store.put(PROPOSAL_RECORD + proposal.id, encode(proposal.to_value()))


# ---- submit ------------------------------------------------------------------------------------


def submit(store: Store, ctx: GovernanceContext, proposer: bytes, spec: ProposalSpec) -> bytes:
    """File a proposal and move its deposit into escrow; return the proposal id.

    Raises, before changing anything: FieldTooLarge, DepositTooSmall, TooManyProposals,
    UnknownAgent, UnknownRegion, LockedRegion, NotCouncilRegion, BadIR (with line and col when
    the submitted text is at fault), InvalidSpec (NotRegistered: a council change adds an
    address without a registered identity), InsufficientFunds.
    """
    params = load_params(store)
    _check_size("rationale", spec.rationale, params.max_rationale_bytes)
    if isinstance(spec, CodeChangeSpec):
        _check_size("new IR", spec.new_ir, params.max_ir_bytes)
        _check_size("tests", spec.tests_ir, params.max_tests_bytes)
    if spec.deposit < params.min_deposit:
        raise DepositTooSmall(f"the deposit is {spec.deposit}, the minimum {params.min_deposit}")
    count, open_numbers = _index(store)
    if len(open_numbers) >= params.max_active_proposals:
        raise TooManyProposals(f"{len(open_numbers)} proposals are open, the most allowed")
    base_id = new_id = None
    if isinstance(spec, CodeChangeSpec | RevertSpec):
        base = _council_region_code(ctx.agents, spec.agent, spec.region)
        new_code = _build(ctx.agents, base, spec)
        if new_code.code_id == base.code_id:
            raise InvalidSpec("the change leaves the agent's code as it is")
        base_id, new_id = base.code_id, new_code.code_id
    elif isinstance(spec, ParamsChangeSpec):
        spec.params.validate()
    else:
        _check_council_change(store, params, spec)
    balance = _account(store, proposer).balance
    if balance < spec.deposit:
        raise InsufficientFunds(f"the deposit is {spec.deposit}, the balance {balance}")

    electorate = tuple((m.address, m.weight(params)) for m in load_council(store))
    emergency = isinstance(spec, RevertSpec) and spec.emergency
    rules = TallyRules(
        params.quorum_ppm,
        params.emergency_threshold_ppm if emergency else params.threshold_ppm,
        params.veto_ppm,
        params.emergency_voting_period if emergency else params.voting_period,
        0 if emergency else params.enactment_delay,
    )
    # Ids are unique by construction (the number never repeats) and carry no meaning beyond it.
    pid = hash32(encode([b"aither/governance/proposal", count, proposer]))
    proposal = Proposal(
        pid, count, spec, proposer, Status.SUBMITTED, ctx.height, electorate, rules, base_id, new_id
    )
    _move(store, proposer, ESCROW, spec.deposit)
    _put_proposal(store, proposal)
    store.put(PROPOSAL_NUMBER + count.to_bytes(8, "big"), encode(pid))
    _put_index(store, count + 1, [*open_numbers, count])
    if proposal.agent is not None:
        key = AGENT_PROPOSALS + proposal.agent
        n = _count(store, key)
        store.put(key + n.to_bytes(4, "big"), encode(pid))
        store.put(key, encode(n + 1))
    return pid


def submit_agent_proposal(
    store: Store, ctx: GovernanceContext, proposal: CodeProposal, rationale: str = ""
) -> bytes:
    """File what SELF_MODIFY on a `council` region produced, on the agent's behalf: the agent
    is the proposer and pays `min_deposit`. Raises as `submit` does."""
    spec = CodeChangeSpec(
        proposal.agent,
        proposal.region,
        disassemble_region(proposal.new_code, proposal.region),
        rationale or "SELF_MODIFY by the agent",
        "",
        load_params(store).min_deposit,
    )
    return submit(store, ctx, proposal.agent, spec)


def _check_size(what: str, text: str, limit: int) -> None:
    size = len(text.encode())
    if size > limit:
        raise FieldTooLarge(f"the {what} is {size} bytes, at most {limit} allowed")


def _council_region_code(agents: AgentCode, agent: bytes, region: str) -> CodeObject:
    code = agents.code_of(agent)
    if code is None:
        raise UnknownAgent(f"no agent at {to_checksum_address(agent)}")
    target = code.region(region)
    if target is None:
        names = ", ".join(r.name for r in code.regions) or "none"
        raise UnknownRegion(f"the agent has no region {region} (its regions: {names})")
    if target.policy is Policy.LOCKED:
        raise LockedRegion(f"region {region} is locked: no proposal may rewrite it")
    if target.policy is Policy.SELF:
        raise NotCouncilRegion(f"region {region} is a `self` region: the agent rewrites it")
    return code


def _build(agents: AgentCode, base: CodeObject, spec: CodeChangeSpec | RevertSpec) -> CodeObject:
    """The code that `spec` makes of `base`. Raises BadIR or InvalidSpec."""
    if isinstance(spec, RevertSpec):
        snapshot = agents.code_by_id(spec.snapshot)
        if snapshot is None or snapshot.region(spec.region) is None:
            raise InvalidSpec(f"no snapshot 0x{spec.snapshot.hex()} with region {spec.region}")
        # The region's tests come back with its body; a reverted change's tests go with it.
        tests = [t for t in base.tests if t.region != spec.region]
        tests += [t for t in snapshot.tests if t.region == spec.region]
        return _patched(base, spec.region, region_body(snapshot, spec.region), tests)
    try:
        body = assemble_fragment(spec.new_ir, f"<new IR of {spec.region}>")
    except AssemblyError as exc:
        raise BadIR(f"the new IR does not assemble: {exc}", exc.pos.line, exc.pos.col) from None
    bare = _patched(base, spec.region, body, [])
    added = _assemble_tests(spec.tests_ir, bare, spec.region)
    have = {t.name for t in base.tests}
    clash = next((t.name for t in added if t.name in have), None)
    if clash is not None:
        raise BadIR(f"test {clash} already exists in the agent's code")
    return _patched(base, spec.region, body, [*base.tests, *added])


def _patched(
    code: CodeObject, region: str, body: CodeObject, tests: Sequence[TestCase]
) -> CodeObject:
    try:
        new = replace_region(code, region, body)
        new = CodeObject(
            new.registers, new.constants, new.instructions, new.labels, new.regions, tuple(tests)
        )
        validate(new)
    except CodeFormatError as exc:
        raise BadIR(f"the patched code is not valid: {exc}") from None
    try:
        check_deployable(new)
    except NotDeployable as exc:
        raise BadIR(f"the patched code is not deterministic: {exc}") from None
    return new


def _assemble_tests(text: str, code: CodeObject, region: str) -> list[TestCase]:
    """`.test` blocks against `code`'s labels. A test that names no region belongs to the one
    the proposal changes (so a revert of the change removes it). Raises BadIR."""
    if not text.strip():
        return []
    # The tests come first so that an error's line is the line in the submitted text; the
    # code's own IR follows to resolve entry labels and region names.
    own_lines = text.count("\n") + 1
    try:
        assembly = assemble(text + "\n" + disassemble(code), "<tests>")
    except AssemblyError as exc:
        if exc.pos.line <= own_lines:
            raise BadIR(f"the tests do not assemble: {exc}", exc.pos.line, exc.pos.col) from None
        raise BadIR(f"the tests do not fit the patched code: {exc.reason}") from None
    if len(assembly.code.instructions) != len(code.instructions):
        raise BadIR("the tests may hold only .test blocks (and #define), not instructions")
    return [t if t.region is not None else replace(t, region=region) for t in assembly.code.tests]


def _check_council_change(store: Store, params: GovernanceParams, spec: CouncilChangeSpec) -> None:
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


# ---- votes and cancel --------------------------------------------------------------------------


def vote(
    store: Store,
    ctx: GovernanceContext,
    voter: bytes,
    proposal_id: bytes,
    choice: Choice,
    explanation: str = "",
) -> None:
    """Record (or replace) `voter`'s vote. Raises UnknownProposal, NotAMember (not in the
    council as it was at submission), VotingClosed (before or after the voting period),
    FieldTooLarge (explanation)."""
    proposal = load_proposal(store, proposal_id)
    if voter not in dict(proposal.electorate):
        raise NotAMember(
            f"{to_checksum_address(voter)} was not a council member when the proposal was filed"
        )
    if proposal.status is not Status.VOTING:
        raise VotingClosed(f"the proposal is {proposal.status.value}, not in its voting period")
    assert proposal.voting_end_height is not None
    if ctx.height > proposal.voting_end_height:
        raise VotingClosed(f"voting ended at height {proposal.voting_end_height}")
    _check_size("explanation", explanation, load_params(store).max_explanation_bytes)
    store.put(
        VOTE + proposal_id + voter, encode(Vote(voter, choice, explanation, ctx.height).to_value())
    )


def cancel(store: Store, ctx: GovernanceContext, sender: bytes, proposal_id: bytes) -> None:
    """Withdraw a proposal before its voting ends; `cancel_burn_ppm` of the deposit is burnt,
    the rest returned. Raises UnknownProposal, NotCancellable."""
    proposal = load_proposal(store, proposal_id)
    if sender != proposal.proposer:
        raise NotCancellable("only the proposer may cancel a proposal")
    if proposal.status not in (Status.SUBMITTED, Status.VOTING):
        raise NotCancellable(f"the proposal is {proposal.status.value}: too late to cancel")
    params = load_params(store)
    burnt = proposal.spec.deposit * params.cancel_burn_ppm // PPM
    _release(store, proposal, burnt)
    _close(store, replace(proposal, status=Status.CANCELLED, closed_height=ctx.height))


# ---- the block boundary ------------------------------------------------------------------------


def end_block(store: Store, ctx: GovernanceContext) -> list[GovernanceEvent]:
    """Advance every open proposal as far as height `ctx.height` allows, in submission order.
    Never raises for a proposal's own failures: they become its status and `reason`."""
    events: list[GovernanceEvent] = []
    for number in list(_index(store)[1]):
        proposal = before = load_proposal(store, proposal_id_at(store, number))
        if proposal.status is Status.SUBMITTED:
            proposal = _sandbox(store, ctx, proposal, events)
        if proposal.status is Status.VOTING and proposal.voting_end_height <= ctx.height:
            proposal = _tally(store, ctx, proposal, events)
        if proposal.status is Status.PASSED and proposal.enact_height <= ctx.height:
            proposal = _enact(store, ctx, proposal, events)
        if not proposal.status.is_open:
            _close(store, proposal)
        elif proposal != before:  # an untouched record is not rewritten: the root stays put
            _put_proposal(store, proposal)
    return events


def _sandbox(
    store: Store, ctx: GovernanceContext, p: Proposal, events: list[GovernanceEvent]
) -> Proposal:
    if p.base_code_id is not None:
        assert isinstance(p.spec, CodeChangeSpec | RevertSpec)
        base = ctx.agents.code_by_id(p.base_code_id)
        assert base is not None, "an agent's earlier code is kept forever"
        new = _build(ctx.agents, base, p.spec)
        assert new.code_id == p.new_code_id, "building a proposal's code is deterministic"
        results = _run_sandbox(base, new, load_params(store).sandbox_gas)
        failed = next((r for r in results if not r.passed), None)
        p = replace(p, sandbox=results)
        if failed is not None:
            _release(store, p, p.spec.deposit)  # every node ran broken code: the deposit burns
            reason = f"test {failed.test} failed in the sandbox: {failed.reason}"
            events.append(GovernanceEvent("ProposalRejected", p.id, Status.REJECTED, reason))
            return replace(p, status=Status.REJECTED, closed_height=ctx.height, reason=reason)
        events.append(GovernanceEvent("ProposalSandboxed", p.id, Status.VOTING))
    end = ctx.height + p.rules.voting_period
    events.append(GovernanceEvent("VotingStarted", p.id, Status.VOTING, f"ends at {end}"))
    return replace(p, status=Status.VOTING, voting_end_height=end)


def _run_sandbox(base: CodeObject, new: CodeObject, gas: int) -> tuple[SandboxResult, ...]:
    """Every test of the patched code, on it and (where its entry exists) on the old code,
    each side within `gas` milligas in all (the AVM's own test runner, in fresh sandboxes)."""
    try:
        after = run_tests(new, new.tests, budget=gas)
    except AitherError as exc:
        # An AVM defect, raised alike on every node: the change is not shown to work.
        return (SandboxResult("<sandbox>", False, None, 0, f"the AVM failed: {exc}"),)
    runnable = [t for t in new.tests if base.label_pc(t.entry) is not None]
    try:
        before = {o.name: o.gas_used for o in run_tests(base, runnable, budget=gas)}
    except AitherError:
        before = {}  # the old code's figures are for comparison only
    return tuple(
        SandboxResult(o.name, o.passed, before.get(o.name), o.gas_used, o.reason or "")
        for o in after
    )


def _tally(
    store: Store, ctx: GovernanceContext, p: Proposal, events: list[GovernanceEvent]
) -> Proposal:
    tally = current_tally(store, p)
    status = tally.outcome(p.rules)
    p = replace(p, tally=tally, status=status)
    if status is Status.PASSED:
        _release(store, p, 0)
        enact = ctx.height + p.rules.enactment_delay
        events.append(GovernanceEvent("ProposalPassed", p.id, status, f"enacted at {enact}"))
        return replace(p, enact_height=enact)
    params = load_params(store)
    burn = status is Status.VETOED or (status is Status.EXPIRED and params.burn_deposit_on_expiry)
    _release(store, p, p.spec.deposit if burn else 0)
    topic = {Status.VETOED: "ProposalVetoed", Status.EXPIRED: "ProposalExpired"}
    events.append(GovernanceEvent(topic.get(status, "ProposalRejected"), p.id, status))
    reason = {
        Status.VETOED: "the veto share was above the veto bar",
        Status.EXPIRED: "the votes did not reach quorum",
        Status.REJECTED: "the yes share was not above the threshold",
    }[status]
    return replace(p, closed_height=ctx.height, reason=reason)


def _enact(
    store: Store, ctx: GovernanceContext, p: Proposal, events: list[GovernanceEvent]
) -> Proposal:
    try:
        if isinstance(p.spec, CodeChangeSpec | RevertSpec):
            p = _enact_code(store, ctx, p, events)
        elif isinstance(p.spec, ParamsChangeSpec):
            p.spec.params.validate()
            store.put(PARAMS, encode(p.spec.params.to_value()))
        else:
            _enact_council(store, ctx, p.spec)
    except GovernanceError as exc:
        events.append(GovernanceEvent("ProposalFailed", p.id, Status.FAILED, str(exc)))
        return replace(p, status=Status.FAILED, closed_height=ctx.height, reason=str(exc))
    events.append(GovernanceEvent("ProposalEnacted", p.id, Status.ENACTED))
    return replace(p, status=Status.ENACTED, closed_height=ctx.height)


def _enact_code(
    store: Store, ctx: GovernanceContext, p: Proposal, events: list[GovernanceEvent]
) -> Proposal:
    """Rewrite the region. When the agent's code changed since submission (its own `self`
    regions, another proposal), the change is rebased onto the current code and its tests are
    run again; a rebase that does not apply or fails a test raises (the proposal fails)."""
    spec = p.spec
    assert isinstance(spec, CodeChangeSpec | RevertSpec)
    current = _council_region_code(ctx.agents, spec.agent, spec.region)
    new = _build(ctx.agents, current, spec)
    if current.code_id != p.base_code_id:
        for result in _run_sandbox(current, new, load_params(store).sandbox_gas):
            if not result.passed:
                raise BadIR(f"rebased onto the agent's current code, {result.test} fails")
    change = CodeChange(
        LineageKind.PROPOSAL, spec.agent, new.code_id, (current.code_id,), spec.region
    )
    ctx.agents.set_code(spec.agent, new, change)
    n = _count(store, EDGE + spec.agent)
    edge = LineageEdge(p.id, current.code_id, new.code_id, ctx.height)
    store.put(_edge_key(spec.agent, n), encode(edge.to_value()))
    store.put(EDGE + spec.agent, encode(n + 1))
    p = replace(p, enacted_code_id=new.code_id)
    if isinstance(spec, RevertSpec):
        undone = _undone_by(store, ctx.agents, spec)
        for original in undone:
            _put_proposal(store, replace(original, reverted_by=p.id))
            _adjust_accuracy(store, original, events)
        p = replace(p, undoes=tuple(o.id for o in undone))
    return p


def _undone_by(store: Store, agents: AgentCode, spec: RevertSpec) -> list[Proposal]:
    """The enacted code proposals on the region that a revert to `spec.snapshot` undoes: walking
    the agent's governance edges back from the newest, those on the region until one started
    from the snapshot's region body. None when the snapshot's body is not found that way."""
    snapshot = agents.code_by_id(spec.snapshot)
    assert snapshot is not None, "checked when the revert was built"
    wanted = region_body(snapshot, spec.region).to_bytes()
    walked: list[Proposal] = []
    for edge in reversed(lineage_edges(store, spec.agent)[:-1]):  # the last edge is the revert
        proposal = load_proposal(store, edge.proposal_id)
        if proposal.region != spec.region:
            continue
        if proposal.kind is ProposalKind.CODE and proposal.reverted_by is None:
            walked.append(proposal)
        parent = agents.code_by_id(edge.parent_code_id)
        if parent is not None and _body_bytes(parent, spec.region) == wanted:
            return walked
    return []


def _body_bytes(code: CodeObject, region: str) -> bytes | None:
    return None if code.region(region) is None else region_body(code, region).to_bytes()


def _adjust_accuracy(store: Store, original: Proposal, events: list[GovernanceEvent]) -> None:
    """The change `original` made was reverted: its yes voters were wrong, its no (and veto)
    voters right. Members no longer on the council are skipped."""
    params = load_params(store)
    for v in load_votes(store, original):
        if v.choice is Choice.ABSTAIN:
            continue
        member = load_member(store, v.member)
        if member is None:
            continue
        step = -params.accuracy_step_ppm if v.choice is Choice.YES else params.accuracy_step_ppm
        accuracy = min(
            params.max_accuracy_ppm, max(params.min_accuracy_ppm, member.accuracy_ppm + step)
        )
        if accuracy != member.accuracy_ppm:
            _put_member(store, replace(member, accuracy_ppm=accuracy))
            detail = f"{to_checksum_address(v.member)} {member.accuracy_ppm} -> {accuracy}"
            events.append(GovernanceEvent("AccuracyChanged", original.id, original.status, detail))


def _enact_council(store: Store, ctx: GovernanceContext, spec: CouncilChangeSpec) -> None:
    params = load_params(store)
    _check_council_change(store, params, spec)  # the council may have changed since
    roster = set(_roster(store))
    for address in spec.remove:
        store.put(MEMBER + address, None)
        roster.discard(address)
    for new in spec.add:
        member = CouncilMember(
            new.address, new.role, params.initial_accuracy_ppm, new.role_name, ctx.height
        )
        _put_member(store, member)
        roster.add(new.address)
    store.put(ROSTER, encode(sorted(roster)))


def _close(store: Store, proposal: Proposal) -> None:
    _put_proposal(store, proposal)
    count, open_numbers = _index(store)
    _put_index(store, count, [n for n in open_numbers if n != proposal.number])


# ---- deposits ----------------------------------------------------------------------------------


def _account(store: Store, address: bytes) -> Account:
    raw = store.get(ACCOUNT + address)
    return Account() if raw is None else decode_account(raw)


def _move(store: Store, source: bytes, target: bytes, amount: int) -> None:
    if amount == 0 or source == target:
        return
    a = _account(store, source)
    assert a.balance >= amount, "checked before moving"
    store.put(ACCOUNT + source, encode_account(Account(a.nonce, a.balance - amount)))
    b = _account(store, target)
    store.put(ACCOUNT + target, encode_account(Account(b.nonce, b.balance + amount)))


def _release(store: Store, proposal: Proposal, burnt: int) -> None:
    """Take the deposit out of escrow: `burnt` of it is destroyed, the rest returned."""
    deposit = proposal.spec.deposit
    _move(store, ESCROW, proposal.proposer, deposit - burnt)
    if burnt:
        e = _account(store, ESCROW)
        store.put(ACCOUNT + ESCROW, encode_account(Account(e.nonce, e.balance - burnt)))
