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
block h+voting_period+enactment_delay (emergency reverts: their own period, no delay), where the
period, delay, quorum, threshold and least deposit are the track of the proposal's kind
(`GovernanceParams.track`). The electorate (members and weights) and the tally rules are fixed at
submission.

Every council member is a registered identity (ledger/identity.py): genesis registers the
initial council's, and a council proposal may add only addresses that have registered. An
identity is never removed (a name can be released or handed on, the record stays), so a member
that was registered when a proposal was filed still is when it is enacted; enactment checks
again all the same, as it checks every part of a council change.

Agents' code is reached only through `AgentCode` (in the context; ledger/governance/code_change.py
builds and sandboxes a proposal's code), so this module does not depend on how agents are stored.
The records it writes, and their tables, are in ledger/governance/proposals.py and council.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from avm.code import CodeObject
from avm.disassembler import disassemble_region
from avm.gas import cheaper_than_half
from avm.host import CodeChange, CodeProposal, LineageKind
from avm.selfmod import region_body
from core.crypto import ADDRESS_SIZE, hash32, to_checksum_address
from core.encoding import decode, encode
from core.schema import MAX_U64, fields, uint
from ledger.block import MAX_VALIDATORS
from ledger.chain_params import (
    avm_version,
    enact_avm_version,
    enact_gas_schedule,
    gas_schedule,
    put_chain_params,
)
from ledger.evidence import release
from ledger.governance.code_change import (
    AgentCode,
    build,
    council_governed_agent,
    council_region_code,
    run_sandbox,
)
from ledger.governance.council import (
    apply_council_change,
    check_council_change,
    load_council,
    load_member,
    put_member,
)
from ledger.governance.errors import (
    BadIR,
    DepositTooSmall,
    FieldTooLarge,
    GovernanceError,
    InsufficientFunds,
    InvalidSpec,
    NotAMember,
    NotCancellable,
    TooManyProposals,
    VotingClosed,
)
from ledger.governance.params import PPM, ProposalKind, load_params, put_params
from ledger.governance.payloads import (
    AvmVersionSpec,
    ChainParamsSpec,
    Choice,
    CodeChangeSpec,
    GasScheduleSpec,
    ParamsChangeSpec,
    PolicySpec,
    ProposalSpec,
    RevertSpec,
    ValidatorsSpec,
)
from ledger.governance.proposals import (
    LineageEdge,
    Proposal,
    Status,
    TallyRules,
    Vote,
    add_lineage_edge,
    add_proposal,
    close_proposal,
    current_tally,
    lineage_edges,
    load_index,
    load_proposal,
    load_votes,
    proposal_id_at,
    put_proposal,
    put_vote,
)
from ledger.governance.shadow import ShadowRunner
from ledger.policy import store_policy
from ledger.state import (
    Store,
    burn,
    move,
    read_account,
    set_validator,
    validator_power,
    validator_totals,
)

# Deposits wait in this account (nobody holds its key), so balances still add up to the supply
# minus what was burnt, and its balance is the total held in escrow.
ESCROW = hash32(b"aither/governance/escrow")[-ADDRESS_SIZE:]
# (the key itself) -> [height, power moved by `validators` proposals enacted in that block, the
# total power the block started with]: a third of it at most moves in one block, however many
# proposals pass together.
POWER_MOVED = b"F"


@dataclass(frozen=True, slots=True)
class GovernanceContext:
    height: int  # the block being executed
    agents: AgentCode
    shadow: ShadowRunner | None = None  # None inside a shadow replay: it never nests


@dataclass(frozen=True, slots=True)
class GovernanceEvent:
    """Something `end_block` did to a proposal, for the block's logs."""

    topic: str  # ProposalSandboxed, VotingStarted, ProposalPassed, ..., AccuracyChanged
    proposal_id: bytes
    status: Status
    detail: str = ""


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
    track = params.track(spec.kind)
    if spec.deposit < track.min_deposit:
        raise DepositTooSmall(
            f"the deposit is {spec.deposit}, the minimum {track.min_deposit} for a "
            f"{spec.kind.value} proposal"
        )
    count, open_numbers = load_index(store)
    if len(open_numbers) >= params.max_active_proposals:
        raise TooManyProposals(f"{len(open_numbers)} proposals are open, the most allowed")
    base_id = new_id = None
    if isinstance(spec, CodeChangeSpec | RevertSpec):
        base = council_region_code(ctx.agents, spec.agent, spec.region)
        new_code = build(ctx.agents, base, spec, avm_version(store))
        if new_code.code_id == base.code_id:
            raise InvalidSpec("the change leaves the agent's code as it is")
        base_id, new_id = base.code_id, new_code.code_id
    elif isinstance(spec, ParamsChangeSpec):
        spec.params.validate()
    elif isinstance(spec, PolicySpec):
        council_governed_agent(ctx.agents, spec.agent)
    elif isinstance(spec, ChainParamsSpec):
        spec.params.validate()
    elif isinstance(spec, GasScheduleSpec):
        _check_schedule(store, spec)
    elif isinstance(spec, ValidatorsSpec):
        check_validator_changes(store, spec, ctx.height)
    elif isinstance(spec, AvmVersionSpec):
        _check_avm_version(store, spec)
    else:
        check_council_change(store, params, spec)
    balance = read_account(store, proposer).balance
    if balance < spec.deposit:
        raise InsufficientFunds(f"the deposit is {spec.deposit}, the balance {balance}")

    electorate = tuple((m.address, m.weight(params)) for m in load_council(store))
    emergency = isinstance(spec, RevertSpec) and spec.emergency
    rules = TallyRules(
        track.quorum_ppm,
        params.emergency_threshold_ppm if emergency else track.threshold_ppm,
        params.veto_ppm,
        params.emergency_voting_period if emergency else track.voting_period,
        0 if emergency else track.enactment_delay,
    )
    # Ids are unique by construction (the number never repeats) and carry no meaning beyond it.
    pid = hash32(encode([b"aither/governance/proposal", count, proposer]))
    proposal = Proposal(
        pid, count, spec, proposer, Status.SUBMITTED, ctx.height, electorate, rules, base_id, new_id
    )
    move(store, proposer, ESCROW, spec.deposit)
    add_proposal(store, proposal)
    return pid


def submit_agent_proposal(
    store: Store, ctx: GovernanceContext, proposal: CodeProposal, rationale: str = ""
) -> bytes:
    """File what SELF_MODIFY on a `council` region produced, on the agent's behalf: the agent
    is the proposer and pays the code track's least deposit. Raises as `submit` does."""
    new_ir = disassemble_region(proposal.new_code, proposal.region)
    base = ctx.agents.code_by_id(proposal.base_code_id)
    if base is not None and proposal.new_code.avm_version > base.avm_version:
        new_ir = f".avm {proposal.new_code.avm_version}\n{new_ir}"  # the patch opts it in
    spec = CodeChangeSpec(
        proposal.agent,
        proposal.region,
        new_ir,
        rationale or "SELF_MODIFY by the agent",
        "",
        load_params(store).track(ProposalKind.CODE).min_deposit,
    )
    return submit(store, ctx, proposal.agent, spec)


def _check_size(what: str, text: str, limit: int) -> None:
    size = len(text.encode())
    if size > limit:
        raise FieldTooLarge(f"the {what} is {size} bytes, at most {limit} allowed")


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
    put_vote(store, proposal_id, Vote(voter, choice, explanation, ctx.height))


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
    close_proposal(store, replace(proposal, status=Status.CANCELLED, closed_height=ctx.height))


# ---- the block boundary ------------------------------------------------------------------------


def end_block(store: Store, ctx: GovernanceContext) -> list[GovernanceEvent]:
    """Advance every open proposal as far as height `ctx.height` allows, in submission order.
    Never raises for a proposal's own failures: they become its status and `reason`."""
    events: list[GovernanceEvent] = []
    replayed = False  # one shadow replay a block: a second `gas` proposal waits for the next
    for number in load_index(store)[1]:
        proposal = before = load_proposal(store, proposal_id_at(store, number))
        if proposal.status is Status.SUBMITTED:
            shadowed = isinstance(proposal.spec, GasScheduleSpec) and ctx.shadow is not None
            if shadowed and replayed:
                continue
            replayed |= shadowed
            proposal = _sandbox(store, ctx, proposal, events)
        if proposal.tally_due(ctx.height):
            proposal = _tally(store, ctx, proposal, events)
        if proposal.enactment_due(ctx.height):
            proposal = _enact(store, ctx, proposal, events)
        if not proposal.status.is_open:
            close_proposal(store, proposal)
        elif proposal != before:  # an untouched record is not rewritten: the root stays put
            put_proposal(store, proposal)
    return events


def _sandbox(
    store: Store, ctx: GovernanceContext, p: Proposal, events: list[GovernanceEvent]
) -> Proposal:
    if isinstance(p.spec, GasScheduleSpec) and ctx.shadow is not None:
        params = load_params(store)
        summary = ctx.shadow(
            p.spec.schedule, params.shadow_blocks, params.shadow_gas, params.shadow_txs
        )
        p = replace(p, shadow=summary)
        detail = (
            f"blocks {summary.first}..{summary.last}: {summary.transactions} transactions, "
            f"{summary.outcome_changes} outcome changes, gas {summary.gas_before} -> "
            f"{summary.gas_after}"
        )
        events.append(GovernanceEvent("ProposalShadowed", p.id, Status.VOTING, detail))
    if p.base_code_id is not None:
        assert isinstance(p.spec, CodeChangeSpec | RevertSpec)
        base = ctx.agents.code_by_id(p.base_code_id)
        assert base is not None, "an agent's earlier code is kept forever"
        new = build(ctx.agents, base, p.spec, avm_version(store))
        assert new.code_id == p.new_code_id, "building a proposal's code is deterministic"
        results = run_sandbox(base, new, load_params(store).sandbox_gas, gas_schedule(store))
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
            put_params(store, p.spec.params)
        elif isinstance(p.spec, PolicySpec):
            council_governed_agent(ctx.agents, p.spec.agent)
            store_policy(store, p.spec.policy)
        elif isinstance(p.spec, ChainParamsSpec):
            put_chain_params(store, p.spec.params)
        elif isinstance(p.spec, GasScheduleSpec):
            _check_schedule(store, p.spec)
            enact_gas_schedule(store, p.spec.schedule)
        elif isinstance(p.spec, AvmVersionSpec):
            _check_avm_version(store, p.spec)
            enact_avm_version(store, p.spec.version)  # UnknownAvmVersion: this node must stop
        elif isinstance(p.spec, ValidatorsSpec):
            check_validator_changes(store, p.spec, ctx.height)  # the set may have changed
            _record_moved(store, ctx.height, _power_moved(store, p.spec))
            for pubkey, power in p.spec.changes:
                set_validator(store, pubkey, power)
                if power:
                    release(store, pubkey, ctx.height)  # a jailed one returns only this way
        else:
            apply_council_change(store, p.spec, ctx.height)
    except GovernanceError as exc:
        events.append(GovernanceEvent("ProposalFailed", p.id, Status.FAILED, str(exc)))
        return replace(p, status=Status.FAILED, closed_height=ctx.height, reason=str(exc))
    events.append(GovernanceEvent("ProposalEnacted", p.id, Status.ENACTED))
    return replace(p, status=Status.ENACTED, closed_height=ctx.height)


def check_validator_changes(store: Store, spec: ValidatorsSpec, height: int) -> None:
    """The changes leave a set of 1..MAX_VALIDATORS validators and, with what other proposals
    enacted in block `height` moved, move at most a third of the power the block started with
    (raises InvalidSpec naming the rule)."""
    count = validator_totals(store)[0]
    moved = _power_moved(store, spec)
    for pubkey, power in spec.changes:
        before = validator_power(store, pubkey)
        if power == before:
            raise InvalidSpec(f"validator 0x{pubkey.hex()} has power {power} already")
        count += (power > 0) - (before > 0)
    if count == 0:
        raise InvalidSpec("the change would leave no validator")
    if count > MAX_VALIDATORS:
        raise InvalidSpec(f"the change would leave {count} validators, more than {MAX_VALIDATORS}")
    already, in_force = _moved_in_block(store, height)
    if 3 * (already + moved) > in_force:
        more = f" after the {already} moved in this block" if already else ""
        raise InvalidSpec(
            f"the change moves {moved} of the {in_force} voting power{more}: at most a third "
            f"({in_force // 3}) may change in a block"
        )


def _power_moved(store: Store, spec: ValidatorsSpec) -> int:
    return sum(abs(power - validator_power(store, key)) for key, power in spec.changes)


def _moved_in_block(store: Store, height: int) -> tuple[int, int]:
    """(power moved by proposals enacted in block `height`, the total power it started with)."""
    raw = store.get(POWER_MOVED)
    if raw is not None:
        at, moved, total = (uint(v, MAX_U64, "damaged") for v in fields(decode(raw), 3, "damaged"))
        if at == height:
            return moved, total
    return 0, validator_totals(store)[1]


def _record_moved(store: Store, height: int, moved: int) -> None:
    already, total = _moved_in_block(store, height)
    store.put(POWER_MOVED, encode([height, already + moved, total]))


def _check_avm_version(store: Store, spec: AvmVersionSpec) -> None:
    """The version is above the one in force (raises InvalidSpec). Whether this node's AVM knows
    it is not asked: that is the node's software, not the chain's rule."""
    in_force = avm_version(store)
    if spec.version <= in_force:
        raise InvalidSpec(f"AVM version {spec.version} is not above the one in force, {in_force}")


def _check_schedule(store: Store, spec: GasScheduleSpec) -> None:
    """A new schedule's version is above the one in force, and no cost falls below half of
    its price in force (raises InvalidSpec naming it). The floor bounds what a schedule can do
    to the work a fixed amount of gas buys: the shadow replay that tries it on recent blocks, and
    every node, never do more than twice the work a block's gas paid for."""
    in_force = gas_schedule(store)
    if spec.schedule.version <= in_force.version:
        raise InvalidSpec(
            f"gas schedule version {spec.schedule.version} is not above the one in force, "
            f"{in_force.version}"
        )
    cheaper = cheaper_than_half(in_force, spec.schedule)
    if cheaper is not None:
        raise InvalidSpec(
            f"{cheaper} falls below half of its price in force: a schedule may at most halve a "
            "cost at once"
        )


def _enact_code(
    store: Store, ctx: GovernanceContext, p: Proposal, events: list[GovernanceEvent]
) -> Proposal:
    """Rewrite the region. When the agent's code changed since submission (its own `self`
    regions, another proposal), the change is rebased onto the current code and its tests are
    run again; a rebase that does not apply or fails a test raises (the proposal fails)."""
    spec = p.spec
    assert isinstance(spec, CodeChangeSpec | RevertSpec)
    current = council_region_code(ctx.agents, spec.agent, spec.region)
    new = build(ctx.agents, current, spec, avm_version(store))
    if current.code_id != p.base_code_id:
        sandbox_gas = load_params(store).sandbox_gas
        for result in run_sandbox(current, new, sandbox_gas, gas_schedule(store)):
            if not result.passed:
                raise BadIR(f"rebased onto the agent's current code, {result.test} fails")
    change = CodeChange(
        LineageKind.PROPOSAL, spec.agent, new.code_id, (current.code_id,), spec.region
    )
    ctx.agents.set_code(spec.agent, new, change)
    add_lineage_edge(store, spec.agent, LineageEdge(p.id, current.code_id, new.code_id, ctx.height))
    p = replace(p, enacted_code_id=new.code_id)
    if isinstance(spec, RevertSpec):
        undone = _undone_by(store, ctx.agents, spec)
        for original in undone:
            put_proposal(store, replace(original, reverted_by=p.id))
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
            put_member(store, replace(member, accuracy_ppm=accuracy))
            detail = f"{to_checksum_address(v.member)} {member.accuracy_ppm} -> {accuracy}"
            events.append(GovernanceEvent("AccuracyChanged", original.id, original.status, detail))


# ---- deposits ----------------------------------------------------------------------------------


def _release(store: Store, proposal: Proposal, burnt: int) -> None:
    """Take the deposit out of escrow: `burnt` of it is destroyed, the rest returned."""
    move(store, ESCROW, proposal.proposer, proposal.spec.deposit - burnt)
    burn(store, ESCROW, burnt)
