"""Governance on a real `State`: proposals through sandbox, votes, tally and enactment."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from avm.assembler import assemble, assemble_fragment
from avm.code import CodeObject
from avm.disassembler import disassemble_region
from avm.host import CodeChange, LineageKind
from avm.interpreter import execute
from avm.memory_host import MemoryHost
from avm.selfmod import replace_region
from core.crypto import SigningKey, to_checksum_address
from core.encoding import decode, encode
from core.errors import InvalidTransaction
from ledger import identity as ident
from ledger.governance.council import (
    MEMBER,
    ROSTER,
    CouncilMember,
    init_council,
    load_council,
    parse_member_json,
)
from ledger.governance.errors import (
    BadIR,
    DepositTooSmall,
    FieldTooLarge,
    InsufficientFunds,
    InvalidSpec,
    LockedRegion,
    NotAMember,
    NotCancellable,
    NotCouncilRegion,
    NotRegistered,
    TooManyProposals,
    UnknownAgent,
    UnknownProposal,
    UnknownRegion,
    VotingClosed,
)
from ledger.governance.params import PARAMS as PARAMS_KEY
from ledger.governance.params import PPM, GovernanceParams, Role, load_params
from ledger.governance.payloads import (
    CancelPayload,
    Choice,
    CodeChangeSpec,
    CouncilChangeSpec,
    NewMember,
    ParamsChangeSpec,
    PolicySpec,
    ProposePayload,
    RevertSpec,
    VotePayload,
    spec_from_value,
)
from ledger.governance.proposals import (
    AGENT_PROPOSALS,
    EDGE,
    PROPOSAL_INDEX,
    PROPOSAL_NUMBER,
    PROPOSAL_RECORD,
    VOTE,
    Status,
    Tally,
    TallyRules,
    current_tally,
    lineage_edges,
    load_index,
    load_proposal,
    load_votes,
)
from ledger.governance.transition import (
    ESCROW,
    GovernanceContext,
    GovernanceEvent,
    cancel,
    end_block,
    submit,
    submit_agent_proposal,
    vote,
)
from ledger.governance.views import (
    get_council,
    get_lineage,
    get_proposal,
    get_votes,
    list_proposals,
)
from ledger.policy import AgentPolicy
from ledger.state import Account, State

AGENT_IR = """
:main
  CALL strategy
  RETURN ACC
.region STRATEGY council
:strategy
  SET ACC = 1
  RET
.test gives_one
  entry main
  expect 1
.endtest
.endregion
.region CORE locked
:core
  HALT
.endregion
.region NOTES self
:notes
  RET
.endregion
"""
# Still returns 1, one instruction longer: passes the tests and costs a little more gas.
SLOWER = ":strategy\n  SET ACC = 1\n  NOP\n  RET\n"
RETURNS_TWO = ":strategy\n  SET ACC = 2\n  RET\n"  # fails gives_one
NEW_TESTS = ".test strategy_via_main\n  entry main\n  expect 1\n.endtest\n"

AGENT = b"\xa1" * 20
PROPOSER = b"\xb2" * 20
STRANGER = b"\xc3" * 20  # never registered an identity
# Council members are registered identities: keys 1..5 sit on the council, key 6 may join it.
KEYS = tuple(SigningKey(bytes([n]) * 32) for n in range(1, 7))
NAMES = ("auditor.avm", "profiler.avm", "optimizer.avm", "hunter.avm", "golfer.avm", "new.avm")
MEMBERS = (
    CouncilMember(KEYS[0].address, Role.SECURITY_AUDITOR, 800_000),
    CouncilMember(KEYS[1].address, Role.LATENCY_PROFILER, 800_000),
    CouncilMember(KEYS[2].address, Role.MEMORY_OPTIMIZER, 800_000),
    CouncilMember(KEYS[3].address, Role.REGRESSION_HUNTER, 800_000),
    CouncilMember(KEYS[4].address, Role.CUSTOM, 800_000, "GasGolfer"),
)
A, B, C, D, E = (m.address for m in MEMBERS)
NEWCOMER = KEYS[5].address
PARAMS = GovernanceParams(
    voting_period=3, emergency_voting_period=1, enactment_delay=2, min_deposit=100
)
DEPOSIT = 150
FUNDS = 1_000


class Reader:
    """Committed state: a dict behind `get_state`."""

    def __init__(self, entries: dict[bytes, bytes] | None = None) -> None:
        self.entries = entries or {}

    def get_state(self, key: bytes) -> bytes | None:
        return self.entries.get(key)


class Agents:
    """The ledger's agents as governance sees them, in memory."""

    def __init__(self) -> None:
        self.current: dict[bytes, bytes] = {}
        self.codes: dict[bytes, CodeObject] = {}
        self.lineage: list[CodeChange] = []

    def install(self, agent: bytes, code: CodeObject) -> None:
        self.codes[code.code_id] = code
        self.current[agent] = code.code_id

    def code_of(self, agent: bytes) -> CodeObject | None:
        code_id = self.current.get(agent)
        return None if code_id is None else self.codes[code_id]

    def code_by_id(self, code_id: bytes) -> CodeObject | None:
        return self.codes.get(code_id)

    def set_code(self, agent: bytes, code: CodeObject, change: CodeChange) -> None:
        self.install(agent, code)
        self.lineage.append(change)


class World:
    """A state with the council, a funded proposer and one agent; `at(h)` gives a context."""

    def __init__(self, members=MEMBERS, params: GovernanceParams = PARAMS) -> None:
        self.state = State(Reader())
        self.agents = Agents()
        self.code = assemble(AGENT_IR).code
        self.agents.install(AGENT, self.code)
        for key, name in zip(KEYS, NAMES, strict=True):
            ident.apply_register(self.state, key.pubkey, ident.SetIdentity(name), 0)
        init_council(self.state, members, params)
        for address in (PROPOSER, AGENT, STRANGER):
            self.state.set_account(address, Account(0, FUNDS))

    def at(self, height: int) -> GovernanceContext:
        return GovernanceContext(height, self.agents)

    def submit(self, spec, height: int = 1, proposer: bytes = PROPOSER) -> bytes:
        return submit(self.state, self.at(height), proposer, spec)

    def vote(self, pid: bytes, voter: bytes, choice: Choice, height: int, why: str = "") -> None:
        vote(self.state, self.at(height), voter, pid, choice, why)

    def blocks(self, first: int, last: int) -> list[GovernanceEvent]:
        events = []
        for height in range(first, last + 1):
            events += end_block(self.state, self.at(height))
        return events

    def proposal(self, pid: bytes):
        return load_proposal(self.state, pid)

    def balance(self, address: bytes) -> int:
        return self.state.account(address).balance

    def run_agent(self) -> object:
        code = self.agents.code_of(AGENT)
        host = MemoryHost()
        host.install(host.self_address(), code)
        return execute(code, host, "main", [], 10**8).value


def code_spec(new_ir: str = SLOWER, **fields) -> CodeChangeSpec:
    spec = CodeChangeSpec(AGENT, "STRATEGY", new_ir, "why", "", DEPOSIT)
    return replace(spec, **fields)


@pytest.fixture
def world() -> World:
    return World()


# ---- the lifecycle -----------------------------------------------------------------------------


def test_pass_is_enacted_at_the_expected_height(world: World) -> None:
    pid = world.submit(code_spec(tests_ir=NEW_TESTS))
    assert world.balance(PROPOSER) == FUNDS - DEPOSIT
    assert world.balance(ESCROW) == DEPOSIT
    assert world.proposal(pid).status is Status.SUBMITTED

    events = world.blocks(1, 1)
    p = world.proposal(pid)
    assert [e.topic for e in events] == ["ProposalSandboxed", "VotingStarted"]
    assert p.status is Status.VOTING and p.voting_end_height == 4
    assert [s.test for s in p.sandbox] == ["gives_one", "strategy_via_main"]
    assert all(s.passed for s in p.sandbox)
    assert all(s.gas_after > s.gas_before for s in p.sandbox)  # the NOP costs gas

    for voter in (A, B, C, D):
        world.vote(pid, voter, Choice.YES, 2, "looks fine")
    world.vote(pid, E, Choice.NO, 4, "wasteful")
    assert world.blocks(2, 3) == []
    events = world.blocks(4, 4)
    p = world.proposal(pid)
    assert [e.topic for e in events] == ["ProposalPassed"]
    assert p.status is Status.PASSED and p.enact_height == 6
    assert world.balance(PROPOSER) == FUNDS  # a passed proposal's deposit comes back
    assert world.agents.code_of(AGENT).code_id == world.code.code_id

    assert world.blocks(5, 5) == []
    assert [e.topic for e in world.blocks(6, 6)] == ["ProposalEnacted"]
    p = world.proposal(pid)
    new = world.agents.code_of(AGENT)
    assert p.status is Status.ENACTED and p.closed_height == 6
    assert new.code_id == p.enacted_code_id == p.new_code_id
    assert [t.name for t in new.tests] == ["gives_one", "strategy_via_main"]
    assert new.tests[1].region == "STRATEGY"  # the proposal's tests belong to its region
    assert "NOP" in [ins.opcode for ins in new.instructions]
    assert world.run_agent() == 1
    change = world.agents.lineage[-1]
    assert change.kind is LineageKind.PROPOSAL and change.parents == (world.code.code_id,)
    edges = lineage_edges(world.state, AGENT)
    assert [(e.proposal_id, e.parent_code_id, e.code_id, e.height) for e in edges] == [
        (pid, world.code.code_id, new.code_id, 6)
    ]
    assert world.balance(ESCROW) == 0
    assert load_index(world.state) == (1, [])  # nothing left open


def test_sandbox_failure_rejects_and_burns_the_deposit(world: World) -> None:
    pid = world.submit(code_spec(RETURNS_TWO))
    events = world.blocks(1, 1)
    p = world.proposal(pid)
    assert p.status is Status.REJECTED and p.closed_height == 1
    assert [e.topic for e in events] == ["ProposalRejected"]
    (result,) = p.sandbox
    assert result.test == "gives_one" and not result.passed and result.gas_before is not None
    assert "expected 1" in result.reason and "gives_one" in p.reason
    assert world.balance(PROPOSER) == FUNDS - DEPOSIT and world.balance(ESCROW) == 0
    with pytest.raises(VotingClosed):
        world.vote(pid, A, Choice.YES, 2)
    assert world.agents.code_of(AGENT) == world.code


def test_tests_over_the_sandbox_gas_cap_reject_the_proposal() -> None:
    world = World(params=replace(PARAMS, sandbox_gas=500))  # the test needs 520 milligas
    pid = world.submit(code_spec())
    world.blocks(1, 1)
    p = world.proposal(pid)
    assert p.status is Status.REJECTED and "out_of_gas" in p.reason


def test_veto_burns_the_deposit(world: World) -> None:
    pid = world.submit(code_spec())
    world.blocks(1, 1)
    world.vote(pid, A, Choice.VETO, 2, "opens a payment path")  # the heaviest role
    world.vote(pid, B, Choice.YES, 2)
    world.vote(pid, C, Choice.YES, 2)
    world.blocks(2, 4)
    p = world.proposal(pid)
    assert p.status is Status.VETOED
    assert p.tally == Tally(1_600_000, 0, 0, 1_200_000, p.tally.total)
    assert world.balance(PROPOSER) == FUNDS - DEPOSIT and world.balance(ESCROW) == 0
    assert world.agents.code_of(AGENT) == world.code


def test_without_quorum_the_proposal_expires_and_the_deposit_returns(world: World) -> None:
    pid = world.submit(code_spec())
    world.blocks(1, 1)
    world.vote(pid, E, Choice.YES, 3)  # 0.8 of about 5.2: below a third
    world.blocks(2, 4)
    p = world.proposal(pid)
    assert p.status is Status.EXPIRED and p.reason == "the votes did not reach quorum"
    assert world.balance(PROPOSER) == FUNDS


def test_expiry_burns_when_the_parameters_say_so() -> None:
    world = World(params=replace(PARAMS, burn_deposit_on_expiry=True))
    pid = world.submit(code_spec())
    world.blocks(1, 4)
    assert world.proposal(pid).status is Status.EXPIRED
    assert world.balance(PROPOSER) == FUNDS - DEPOSIT


def test_rejected_by_vote_returns_the_deposit(world: World) -> None:
    pid = world.submit(code_spec())
    world.blocks(1, 1)
    for voter in (A, B, C):
        world.vote(pid, voter, Choice.NO, 2)
    world.vote(pid, D, Choice.YES, 2)
    world.blocks(2, 4)
    assert world.proposal(pid).status is Status.REJECTED
    assert world.balance(PROPOSER) == FUNDS


def test_emergency_revert_restores_the_snapshot_and_adjusts_accuracy(world: World) -> None:
    first = world.submit(code_spec())
    world.blocks(1, 1)
    for voter, choice in ((A, Choice.YES), (B, Choice.YES), (C, Choice.NO), (D, Choice.ABSTAIN)):
        world.vote(first, voter, choice, 2)
    world.blocks(2, 6)
    assert world.proposal(first).status is Status.ENACTED
    changed = world.agents.code_of(AGENT)

    revert = world.submit(RevertSpec(AGENT, "STRATEGY", world.code.code_id, "harmful", 100), 7)
    world.blocks(7, 7)
    p = world.proposal(revert)
    assert p.status is Status.VOTING and p.voting_end_height == 8  # the emergency period
    assert p.rules.threshold_ppm == PARAMS.emergency_threshold_ppm
    assert [s.test for s in p.sandbox] == ["gives_one"]
    for voter in (A, B, C, E):
        world.vote(revert, voter, Choice.YES, 8)
    events = world.blocks(8, 8)
    p = world.proposal(revert)
    assert p.status is Status.ENACTED and p.enact_height == 8  # no enactment delay
    assert world.agents.code_of(AGENT).code_id == world.code.code_id  # the snapshot, exactly
    assert p.undoes == (first,)
    assert world.proposal(first).reverted_by == revert
    edges = lineage_edges(world.state, AGENT)
    assert [e.parent_code_id for e in edges] == [world.code.code_id, changed.code_id]
    accuracy = {m.address: m.accuracy_ppm for m in load_council(world.state)}
    step = PARAMS.accuracy_step_ppm
    assert accuracy == {
        A: 800_000 - step,
        B: 800_000 - step,
        C: 800_000 + step,
        D: 800_000,
        E: 800_000,
    }
    assert sum(e.topic == "AccuracyChanged" for e in events) == 3
    # a later proposal weighs members by their new accuracy
    later = world.submit(code_spec(), 9)
    weights = dict(world.proposal(later).electorate)
    assert weights[A] == 1_500_000 * (800_000 - step) // PPM
    # ...while the first keeps the weights of its submission
    assert dict(world.proposal(first).electorate)[A] == 1_500_000 * 800_000 // PPM


def test_the_emergency_track_needs_its_higher_threshold(world: World) -> None:
    first = world.submit(code_spec())
    world.blocks(1, 1)
    for voter in (A, B, C):
        world.vote(first, voter, Choice.YES, 2)
    world.blocks(2, 6)
    assert world.proposal(first).status is Status.ENACTED
    snapshot = world.code.code_id
    emergency = world.submit(RevertSpec(AGENT, "STRATEGY", snapshot, "", 100), 7)
    normal = world.submit(RevertSpec(AGENT, "STRATEGY", snapshot, "", 100, emergency=False), 7)
    world.blocks(7, 7)
    # The same votes on both: yes is 57% of the deciding weight, above the normal threshold
    # (50%) and below the emergency one (66.7%).
    for pid in (emergency, normal):
        for voter, choice in ((A, Choice.YES), (D, Choice.YES), (B, Choice.NO), (C, Choice.NO)):
            world.vote(pid, voter, choice, 8)
    world.blocks(8, 8)
    assert world.proposal(emergency).status is Status.REJECTED
    assert world.agents.code_of(AGENT).code_id != snapshot
    world.blocks(9, 12)
    passed = world.proposal(normal)
    assert passed.status is Status.ENACTED and passed.enact_height == 12  # after the delay
    assert world.agents.code_of(AGENT).code_id == snapshot


def test_accuracy_stays_within_bounds() -> None:
    world = World(params=replace(PARAMS, accuracy_step_ppm=900_000))
    first = world.submit(code_spec())
    world.blocks(1, 1)
    world.vote(first, A, Choice.YES, 2)
    world.vote(first, B, Choice.YES, 2)
    world.vote(first, C, Choice.VETO, 2)
    world.blocks(2, 6)
    revert = world.submit(RevertSpec(AGENT, "STRATEGY", world.code.code_id, "", 100), 7)
    world.blocks(7, 7)
    for voter in (A, B, C, D, E):
        world.vote(revert, voter, Choice.YES, 8)
    world.blocks(8, 8)
    accuracy = {m.address: m.accuracy_ppm for m in load_council(world.state)}
    assert accuracy[A] == PARAMS.min_accuracy_ppm and accuracy[C] == PARAMS.max_accuracy_ppm


def test_votes_are_changeable_until_the_period_ends(world: World) -> None:
    pid = world.submit(code_spec())
    world.blocks(1, 1)
    world.vote(pid, A, Choice.NO, 2, "first look")
    world.vote(pid, A, Choice.YES, 4, "after the figures")
    (v,) = load_votes(world.state, world.proposal(pid))
    assert (v.choice, v.explanation, v.height) == (Choice.YES, "after the figures", 4)
    with pytest.raises(VotingClosed, match="voting ended at height 4"):
        world.vote(pid, A, Choice.NO, 5)


def test_cancel_before_voting_ends(world: World) -> None:
    pid = world.submit(code_spec())
    with pytest.raises(NotCancellable, match="only the proposer"):
        cancel(world.state, world.at(1), STRANGER, pid)
    cancel(world.state, world.at(2), PROPOSER, pid)
    p = world.proposal(pid)
    assert p.status is Status.CANCELLED and p.closed_height == 2
    burnt = DEPOSIT * PARAMS.cancel_burn_ppm // PPM
    assert world.balance(PROPOSER) == FUNDS - burnt and world.balance(ESCROW) == 0
    assert world.blocks(2, 10) == []
    with pytest.raises(NotCancellable, match="too late"):
        cancel(world.state, world.at(11), PROPOSER, pid)


def test_params_and_council_proposals(world: World) -> None:
    newcomer = NEWCOMER
    params = replace(PARAMS, voting_period=5)
    p1 = world.submit(ParamsChangeSpec(params, "longer votes", DEPOSIT))
    p2 = world.submit(
        CouncilChangeSpec((NewMember(newcomer, Role.STANDARDS_ENFORCER),), (E,), "", DEPOSIT)
    )
    world.blocks(1, 1)
    assert world.proposal(p1).sandbox == () and world.proposal(p1).status is Status.VOTING
    for pid in (p1, p2):
        for voter in (A, B, C):
            world.vote(pid, voter, Choice.YES, 2)
    world.blocks(2, 6)
    assert world.proposal(p1).status is Status.ENACTED
    assert world.proposal(p2).status is Status.ENACTED
    assert load_params(world.state) == params
    council = {m.address: m for m in load_council(world.state)}
    assert sorted(council) == sorted([A, B, C, D, newcomer])
    assert council[newcomer].accuracy_ppm == PARAMS.initial_accuracy_ppm
    assert council[newcomer].since == 6
    doc = get_proposal(world.state, p1).to_json()
    assert doc["kind"] == "params" and doc["params"]["voting_period"] == 5 and doc["agent"] is None
    doc = get_proposal(world.state, p2).to_json()
    assert doc["council"] == {
        "add": [
            {
                "address": to_checksum_address(newcomer),
                "name": "new.avm",
                "role": "StandardsEnforcer",
                "roleName": "StandardsEnforcer",
            }
        ],
        "remove": [{"address": to_checksum_address(E), "name": "golfer.avm"}],
    }


def test_self_modify_on_a_council_region_files_a_proposal(world: World) -> None:
    code = assemble(AGENT_IR + ':evolve\n  SELF_MODIFY "STRATEGY", ARGS[0]\n  RETURN ACC\n').code
    world.agents.install(AGENT, code)
    host = MemoryHost(address=AGENT)
    host.install(AGENT, code)
    result = execute(code, host, "evolve", [SLOWER], 10**8)
    assert result.ok, result.trap
    (proposal,) = host.world.proposals.values()
    pid = submit_agent_proposal(world.state, world.at(1), proposal)
    p = world.proposal(pid)
    assert p.proposer == AGENT and p.spec.rationale == "SELF_MODIFY by the agent"
    assert (p.base_code_id, p.new_code_id) == (code.code_id, proposal.new_code.code_id)
    assert world.balance(AGENT) == FUNDS - PARAMS.min_deposit


def test_enactment_rebases_onto_the_agents_newer_code(world: World) -> None:
    pid = world.submit(code_spec())
    world.blocks(1, 1)
    for voter in (A, B, C):
        world.vote(pid, voter, Choice.YES, 2)
    # meanwhile the agent rewrites its own `self` region
    mine = replace_region(world.code, "NOTES", assemble_fragment(":notes\n  NOP\n  RET\n"))
    world.agents.set_code(AGENT, mine, CodeChange(LineageKind.SELF_MODIFY, AGENT, b"", ()))
    world.blocks(2, 6)
    p = world.proposal(pid)
    assert p.status is Status.ENACTED and p.enacted_code_id != p.new_code_id
    final = world.agents.code_of(AGENT)
    assert final.code_id == p.enacted_code_id
    assert sum(ins.opcode == "NOP" for ins in final.instructions) == 2  # both changes


def test_a_rebase_that_fails_a_test_fails_the_proposal(world: World) -> None:
    pid = world.submit(code_spec(tests_ir=NEW_TESTS))
    world.blocks(1, 1)
    for voter in (A, B, C):
        world.vote(pid, voter, Choice.YES, 2)
    # meanwhile the agent's entry point changes: `main` now adds one to the strategy's answer
    plus_one = AGENT_IR.replace("  CALL strategy\n", "  CALL strategy\n  ADD ACC, 1 -> ACC\n")
    world.agents.install(AGENT, assemble(plus_one.replace("expect 1", "expect 2")).code)
    world.blocks(2, 6)
    p = world.proposal(pid)
    assert p.status is Status.FAILED and "strategy_via_main fails" in p.reason


def test_a_council_change_that_no_longer_applies_fails(world: World) -> None:
    first = world.submit(CouncilChangeSpec((), (E,), "", DEPOSIT))
    second = world.submit(CouncilChangeSpec((), (E,), "", DEPOSIT))
    world.blocks(1, 1)
    for pid in (first, second):
        for voter in (A, B, C):
            world.vote(pid, voter, Choice.YES, 2)
    world.blocks(2, 6)
    assert world.proposal(first).status is Status.ENACTED
    failed = world.proposal(second)
    assert failed.status is Status.FAILED and "is not a council member" in failed.reason
    assert world.balance(PROPOSER) == FUNDS  # both passed: both deposits came back


def test_a_member_that_handed_its_name_on_still_joins_under_no_name(world: World) -> None:
    # Identities are never removed: a name can change hands, the record stays registered.
    pid = world.submit(
        CouncilChangeSpec((NewMember(NEWCOMER, Role.CUSTOM, "Fuzzer"),), (), "", DEPOSIT)
    )
    heir = SigningKey(b"\x07" * 32)
    ident.apply_register(world.state, heir.pubkey, ident.SetIdentity(""), 1)
    ident.apply_register(
        world.state, KEYS[5].pubkey, ident.TransferName("new.avm", heir.address), 1
    )
    world.blocks(1, 1)
    for voter in (A, B, C):
        world.vote(pid, voter, Choice.YES, 2)
    world.blocks(2, 6)
    assert world.proposal(pid).status is Status.ENACTED
    names = {m["address"]: m["name"] for m in get_council(world.state).to_json()["members"]}
    assert names[to_checksum_address(NEWCOMER)] is None
    assert to_checksum_address(heir.address) not in names


def test_enactment_fails_when_the_region_is_gone(world: World) -> None:
    pid = world.submit(code_spec())
    world.blocks(1, 1)
    for voter in (A, B, C):
        world.vote(pid, voter, Choice.YES, 2)
    world.agents.install(AGENT, assemble(":main\n  RETURN 1\n").code)
    events = world.blocks(2, 6)
    p = world.proposal(pid)
    assert p.status is Status.FAILED and "no region STRATEGY" in p.reason
    assert events[-1].topic == "ProposalFailed"


# ---- bad input: a precise error and nothing changed -------------------------------------------


@pytest.fixture
def voting(world: World) -> Iterator[tuple[World, bytes]]:
    pid = world.submit(code_spec())
    world.blocks(1, 1)
    yield world, pid


def unchanged(world: World, action, error: type[Exception], match: str) -> Exception:
    before = dict(world.state.changes())
    with pytest.raises(error, match=match) as info:
        action()
    assert dict(world.state.changes()) == before
    return info.value


def test_bad_proposals(world: World) -> None:
    cases = [
        (code_spec(region="NOTES"), NotCouncilRegion, "`self` region"),
        (code_spec(region="CORE"), LockedRegion, "region CORE is locked"),
        (code_spec(region="NOPE"), UnknownRegion, "no region NOPE .*STRATEGY, CORE, NOTES"),
        (
            replace(code_spec(), agent=STRANGER),
            UnknownAgent,
            "no agent at " + to_checksum_address(STRANGER),
        ),
        (code_spec(deposit=99), DepositTooSmall, "the deposit is 99, the minimum 100"),
        (code_spec(deposit=FUNDS + 1), InsufficientFunds, "the balance 1000"),
        (code_spec(rationale="x" * 4097), FieldTooLarge, "rationale is 4097 bytes"),
        (code_spec(":strategy\n" + "  NOP\n" * 8000), FieldTooLarge, "new IR"),
        (
            code_spec(tests_ir=NEW_TESTS.replace("strategy_via_main", "gives_one")),
            BadIR,
            "test gives_one already exists",
        ),
        (code_spec(tests_ir="  NOP\n"), BadIR, "only .test blocks"),
        (
            code_spec(':strategy\n  CALL_PLUGIN plugin="p", func="f", args=[] -> R\n  RET\n'),
            BadIR,
            "not deterministic",
        ),
        (RevertSpec(AGENT, "STRATEGY", b"\x00" * 32, "", DEPOSIT), InvalidSpec, "no snapshot"),
        (
            code_spec(disassemble_region(world.code, "STRATEGY")),
            InvalidSpec,
            "leaves the agent's code as it is",
        ),
        (
            CouncilChangeSpec((NewMember(A, Role.CUSTOM),), (), "", DEPOSIT),
            InvalidSpec,
            "already a council member",
        ),
        (CouncilChangeSpec((), (STRANGER,), "", DEPOSIT), InvalidSpec, "not a council member"),
        (CouncilChangeSpec((), (A, B, C, D, E), "", DEPOSIT), InvalidSpec, "left empty"),
        (
            CouncilChangeSpec((NewMember(STRANGER, Role.CUSTOM, "x"),), (), "", DEPOSIT),
            NotRegistered,
            f"{to_checksum_address(STRANGER)} has no registered identity",
        ),
        (
            ParamsChangeSpec(replace(PARAMS, quorum_ppm=PPM + 1), "", DEPOSIT),
            InvalidSpec,
            "quorum_ppm",
        ),
    ]
    for spec, error, match in cases:
        unchanged(world, lambda spec=spec: world.submit(spec), error, match)


def test_ir_that_does_not_assemble_gives_line_and_column(world: World) -> None:
    bad = ":strategy\n  SET ACC = 1\n  FROBNICATE ACC\n  RET\n"
    err = unchanged(world, lambda: world.submit(code_spec(bad)), BadIR, "does not assemble")
    assert (err.line, err.col) == (3, 3)
    bad_tests = ".test t\n  entry main\n  expekt 1\n.endtest\n"
    err = unchanged(world, lambda: world.submit(code_spec(tests_ir=bad_tests)), BadIR, "expect")
    assert err.line == 3
    err = unchanged(
        world,
        lambda: world.submit(code_spec(tests_ir=".test t\n  entry nowhere\n.endtest\n")),
        BadIR,
        "unknown label nowhere",
    )
    assert err.line == 2


def test_too_many_open_proposals() -> None:
    world = World(params=replace(PARAMS, max_active_proposals=2))
    world.submit(code_spec())
    world.submit(code_spec())
    unchanged(world, lambda: world.submit(code_spec()), TooManyProposals, "2 proposals")


def test_bad_votes(voting: tuple[World, bytes]) -> None:
    world, pid = voting
    cases = [
        (lambda: world.vote(pid, STRANGER, Choice.YES, 2), NotAMember, "not a council member"),
        (lambda: world.vote(b"\x00" * 32, A, Choice.YES, 2), UnknownProposal, "no proposal"),
        (lambda: world.vote(pid, A, Choice.YES, 5), VotingClosed, "voting ended at height 4"),
        (lambda: world.vote(pid, A, Choice.YES, 2, "x" * 2049), FieldTooLarge, "explanation"),
        (lambda: cancel(world.state, world.at(2), A, pid), NotCancellable, "proposer"),
    ]
    for action, error, match in cases:
        unchanged(world, action, error, match)


def test_no_vote_before_the_sandbox(world: World) -> None:
    pid = world.submit(code_spec())
    unchanged(world, lambda: world.vote(pid, A, Choice.YES, 1), VotingClosed, "submitted")


def test_a_member_who_joined_later_does_not_vote() -> None:
    world = World(params=replace(PARAMS, enactment_delay=0))
    newcomer = NEWCOMER
    council = CouncilChangeSpec((NewMember(newcomer, Role.CUSTOM, "Auditor2"),), (), "", DEPOSIT)
    cid = world.submit(council, 1)
    world.blocks(1, 1)
    pid = world.submit(code_spec(), 2)
    for voter in (A, B, C):
        world.vote(cid, voter, Choice.YES, 2)
    world.blocks(2, 4)
    assert world.proposal(pid).status is Status.VOTING
    assert newcomer in {m.address for m in load_council(world.state)}
    unchanged(
        world,
        lambda: world.vote(pid, newcomer, Choice.YES, 5),
        NotAMember,
        "when the proposal was filed",
    )


# ---- payloads and parameters -------------------------------------------------------------------


def test_payloads_round_trip() -> None:
    specs = [
        code_spec(tests_ir=NEW_TESTS),
        ParamsChangeSpec(PARAMS, "r", 5),
        CouncilChangeSpec((NewMember(A, Role.CUSTOM, "x"),), (B,), "r", 5),
        RevertSpec(AGENT, "STRATEGY", b"\x01" * 32, "r", 5, False),
        PolicySpec(AgentPolicy(AGENT, (min(A, B), max(A, B)), ("Trader",), 100, 3600), "r", 5),
    ]
    for spec in specs:
        assert spec_from_value(decode(encode(spec.to_value()))) == spec
        wire = ProposePayload(spec).to_value()
        assert encode(ProposePayload.from_value(wire).to_value()) == encode(wire)
    vote = VotePayload(b"\x01" * 32, Choice.VETO, "why")
    assert vote.to_value() == [b"\x01" * 32, 3, "why"]  # the reviewer service's numbering
    assert VotePayload.from_value(vote.to_value()) == vote
    for number, choice in enumerate((Choice.YES, Choice.NO, Choice.ABSTAIN, Choice.VETO)):
        assert VotePayload.from_value([b"\x01" * 32, number, ""]).choice is choice
    assert CancelPayload.from_value([b"\x01" * 32]) == CancelPayload(b"\x01" * 32)
    bad = [
        ["code", AGENT, "R", "", "", "", -1],
        ["code", b"short", "R", "", "", "", 1],
        ["poll", 1],
        ["revert", AGENT, "R", b"\x00" * 31, True, "", 1],
        ["council", [[A, "Pope", ""]], [], "", 1],
        ["policy", AGENT, [[max(A, B), min(A, B)], [], 0, 0], "", 1],  # callers out of order
        ["policy", AGENT, [[], [], 5, 0], "", 1],  # a spend limit without a period
    ]
    for value in bad:
        with pytest.raises(InvalidTransaction):
            spec_from_value(value)
    with pytest.raises(InvalidTransaction, match="choice"):
        VotePayload.from_value([b"\x01" * 32, "yes", ""])
    for bad_choice in (4, -1, True):
        with pytest.raises(InvalidTransaction, match="choice"):
            VotePayload.from_value([b"\x01" * 32, bad_choice, ""])


def test_params_json_round_trip_and_defaults() -> None:
    doc = json.loads(json.dumps(PARAMS.to_json()))
    assert GovernanceParams.from_json(doc) == PARAMS
    assert GovernanceParams.from_json({}) == GovernanceParams()
    defaults = GovernanceParams()
    assert (defaults.quorum_ppm, defaults.threshold_ppm, defaults.veto_ppm) == (
        334_000,
        500_000,
        334_000,
    )
    with pytest.raises(InvalidSpec, match="unknown governance parameter 'quorum'"):
        GovernanceParams.from_json({"quorum": 0.4})
    with pytest.raises(InvalidSpec, match="must be an integer"):
        GovernanceParams.from_json({"quorum_ppm": 0.4})
    with pytest.raises(InvalidSpec, match="unknown role"):
        GovernanceParams.from_json({"role_weights": {"Oracle": 1}})
    member = parse_member_json({"address": "0x" + "01" * 20, "role": "Custom"}, defaults)
    assert member.accuracy_ppm == defaults.initial_accuracy_ppm


def test_init_council_refuses_a_member_without_an_identity() -> None:
    state = State(Reader())
    for key, name in zip(KEYS[:4], NAMES, strict=False):
        ident.apply_register(state, key.pubkey, ident.SetIdentity(name), 0)
    registered = dict(state.changes())
    with pytest.raises(NotRegistered, match=f"{to_checksum_address(E)} has no registered"):
        init_council(state, MEMBERS, PARAMS)
    assert state.changes() == registered


def test_init_council_refuses_duplicates() -> None:
    state = State(Reader())
    with pytest.raises(InvalidSpec, match="twice"):
        init_council(state, [MEMBERS[0], MEMBERS[0]], PARAMS)
    assert state.changes() == {}


# ---- views -------------------------------------------------------------------------------------


def test_views_json(world: World) -> None:
    pid = world.submit(code_spec(tests_ir=NEW_TESTS))
    world.blocks(1, 1)
    world.vote(pid, A, Choice.YES, 2, "no new opcodes")
    world.vote(pid, E, Choice.ABSTAIN, 2, "")
    doc = get_proposal(world.state, pid, world.agents).to_json()
    json.dumps(doc)
    assert doc["id"] == "0x" + pid.hex() and doc["status"] == "voting"
    assert doc["agent"] != doc["agent"].lower()  # EIP-55 mixed case
    assert doc["oldIr"].splitlines()[0] == ":strategy" and doc["newIr"] == SLOWER
    assert doc["tests"] == NEW_TESTS and doc["deposit"] == hex(DEPOSIT)
    assert {"test", "passed", "gasBefore", "gasAfter"} <= set(doc["sandbox"][0])
    assert doc["tally"]["yes"] == 1_200_000 and doc["tally"]["abstain"] == 800_000
    assert doc["tally"]["final"] is False
    assert [v["choice"] for v in doc["votes"]] == ["yes", "abstain"]
    assert doc["votes"][1]["roleName"] == "GasGolfer"
    assert [(v["member"], v["name"]) for v in doc["votes"]] == [
        (to_checksum_address(A), "auditor.avm"),
        (to_checksum_address(E), "golfer.avm"),
    ]
    assert (doc["submittedHeight"], doc["votingEndHeight"], doc["enactHeight"]) == (1, 4, None)
    assert [v.vote.member for v in get_votes(world.state, pid)] == sorted([A, E])
    for voter in (B, C):
        world.vote(pid, voter, Choice.YES, 3)
    world.blocks(2, 6)
    lineage = get_lineage(world.state, AGENT, world.agents).to_json()
    (edge,) = lineage["edges"]
    assert edge["from"] == "0x" + world.code.code_id.hex() and edge["enactedHeight"] == 6
    assert edge["gasAfter"] > edge["gasBefore"]
    council = get_council(world.state).to_json()
    assert len(council["members"]) == 5 and council["totalWeight"] > 0
    assert {m["address"]: m["name"] for m in council["members"]} == {
        to_checksum_address(m.address): name for m, name in zip(MEMBERS, NAMES, strict=False)
    }
    assert [v.proposal.id for v in list_proposals(world.state, Status.ENACTED)] == [pid]
    assert list_proposals(world.state, agent=STRANGER) == []
    second = world.submit(code_spec(SLOWER.replace("NOP", "NOP\n  NOP")), 7)
    page = list_proposals(world.state, offset=1, limit=5)
    assert [v.proposal.id for v in page] == [second]
    assert [v.proposal.id for v in list_proposals(world.state, agent=AGENT, limit=1)] == [pid]


# ---- determinism -------------------------------------------------------------------------------


def scenario(members, params_doc: dict) -> dict[bytes, bytes | None]:
    world = World(members, GovernanceParams.from_json(params_doc))
    pid = world.submit(code_spec())
    world.blocks(1, 1)
    for voter, choice in ((C, Choice.YES), (A, Choice.NO), (B, Choice.YES), (D, Choice.YES)):
        world.vote(pid, voter, choice, 2)
    world.blocks(2, 6)
    return dict(world.state.changes())


def test_same_inputs_in_another_order_give_the_same_state() -> None:
    doc = PARAMS.to_json()
    shuffled = dict(reversed(list(doc.items())))
    shuffled["role_weights"] = dict(reversed(list(doc["role_weights"].items())))
    first = scenario(MEMBERS, doc)
    assert scenario(tuple(reversed(MEMBERS)), shuffled) == first


def test_no_floats_anywhere(world: World) -> None:
    scenario_changes = scenario(MEMBERS, PARAMS.to_json())
    prefixes = {
        PARAMS_KEY,
        MEMBER,
        ROSTER,
        PROPOSAL_RECORD,
        PROPOSAL_INDEX,
        PROPOSAL_NUMBER,
        VOTE,
        AGENT_PROPOSALS,
        EDGE,
    }
    seen = set()
    for key, raw in scenario_changes.items():
        if key[:1] in prefixes and raw is not None:
            seen.add(key[:1])
            assert not any(isinstance(x, float) for x in walk(decode(raw)))
    assert seen == prefixes
    pid = world.submit(code_spec())
    world.blocks(1, 1)
    doc = get_proposal(world.state, pid, world.agents).to_json()
    assert not any(isinstance(x, float) for x in walk(doc))
    assert not any(isinstance(x, float) for x in walk(get_council(world.state).to_json()))


def walk(value: object) -> Iterator[object]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from walk(item)


# ---- tally invariants --------------------------------------------------------------------------

RULES = TallyRules(PARAMS.quorum_ppm, PARAMS.threshold_ppm, PARAMS.veto_ppm, 3, 2)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.sampled_from(list(Choice)), st.integers(2, 5)),
        max_size=14,
    )
)
def test_tally_invariants_over_random_votes(actions) -> None:
    world = World()
    pid = world.submit(code_spec())
    world.blocks(1, 1)
    weights = dict(world.proposal(pid).electorate)
    voters = [*weights, STRANGER]
    final: dict[bytes, Choice] = {}
    for index, choice, height in sorted(actions, key=lambda a: a[2]):
        voter = voters[index]
        try:
            world.vote(pid, voter, choice, height)
        except (NotAMember, VotingClosed):
            assert voter == STRANGER or height > 4
            continue
        final[voter] = choice
    live = current_tally(world.state, world.proposal(pid))
    world.blocks(2, 6)
    p = world.proposal(pid)
    tally = p.tally
    assert tally == live
    sums = {c: sum(weights[v] for v, ch in final.items() if ch is c) for c in Choice}
    assert (tally.yes, tally.no, tally.abstain, tally.veto) == tuple(sums[c] for c in Choice)
    assert tally.voted <= tally.total == sum(weights.values())
    # the outcome, computed again with exact fractions
    voted = Fraction(tally.voted)
    if voted / tally.total < Fraction(RULES.quorum_ppm, PPM):
        expected = Status.EXPIRED
    elif tally.veto / voted > Fraction(RULES.veto_ppm, PPM):
        expected = Status.VETOED
    elif tally.yes and Fraction(tally.yes, tally.yes + tally.no + tally.veto) > Fraction(1, 2):
        expected = Status.PASSED
    else:
        expected = Status.REJECTED
    assert tally.outcome(RULES) is expected
    assert p.status is (Status.ENACTED if expected is Status.PASSED else expected)
    burnt = expected is Status.VETOED
    assert world.balance(PROPOSER) == FUNDS - (DEPOSIT if burnt else 0)
    assert world.balance(ESCROW) == 0
