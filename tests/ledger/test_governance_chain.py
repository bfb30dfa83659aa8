"""Governance on a real ledger: propose, vote and cancel transactions, SELF_MODIFY on a `council`
region, the block boundary in both building and checking a block, and bad input refused."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from avm.assembler import assemble
from avm.errors import UnknownAvmVersion
from avm.gas import V1, schedule_with
from avm.instructions import LATEST_VERSION
from avm.values import from_wire
from core.crypto import SigningKey, to_checksum_address
from core.encoding import decode, encode
from core.errors import InvalidTransaction
from genesis.dev import DEV_COUNCIL_ROLES, dev_genesis, dev_key, dev_validator_key
from ledger import agents, gas
from ledger.chain import Ledger, PendingBlock
from ledger.chain_params import avm_version, gas_schedule
from ledger.consensus_messages import Evidence, Vote, VoteKind
from ledger.evidence import EvidencePayload, EvidenceRefused, check, load_jail
from ledger.genesis import Genesis, GenesisError
from ledger.governance.council import load_council
from ledger.governance.params import PROTOCOL_THRESHOLD_PPM, Role, load_params
from ledger.governance.payloads import (
    AvmVersionSpec,
    CancelPayload,
    ChainParamsSpec,
    Choice,
    CodeChangeSpec,
    CouncilChangeSpec,
    GasScheduleSpec,
    NewMember,
    PolicySpec,
    ProposalSpec,
    ProposePayload,
    RevertSpec,
    ValidatorsSpec,
    VotePayload,
)
from ledger.governance.proposals import Status, load_proposal, load_votes, proposal_count
from ledger.governance.shadow import MAX_DIFF_ERROR, ShadowDiff
from ledger.governance.views import get_council, get_lineage, get_proposal
from ledger.identity import SetIdentity
from ledger.policy import AgentPolicy, load_policy
from ledger.solo import SoloValidator
from ledger.state import State, validator_totals
from ledger.transition import intrinsic_gas
from ledger.tx import Call, Deploy, SignedTx, Transaction, Transfer, TxKind, decode_transaction

GENESIS = dev_genesis()
PARAMS = GENESIS.governance
ALICE, BOB = dev_key(0), dev_key(1)
SA, LP, MO, RH, SE = (dev_key(i) for i, _ in DEV_COUNCIL_ROLES)
STRANGER = SigningKey(b"\x07" * 32)
PRICE = GENESIS.min_gas_price
GAS = 5_000_000
DEPOSIT = PARAMS.min_deposit
KINDS = {
    Transfer: TxKind.TRANSFER,
    Deploy: TxKind.DEPLOY,
    Call: TxKind.CALL,
    ProposePayload: TxKind.PROPOSE,
    VotePayload: TxKind.VOTE,
    CancelPayload: TxKind.CANCEL,
    SetIdentity: TxKind.REGISTER,
}

AGENT_IR = """
:main
  CALL strategy
  RETURN ACC
:spend
  SECURITY_CHECK ARGS[0] -> ok
  RETURN ok
:improve
  SELF_MODIFY "STRATEGY", ARGS[0] -> proposal
  RETURN proposal
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
"""
SLOWER = ":strategy\n  SET ACC = 1\n  NOP\n  RET\n"
RETURNS_TWO = ":strategy\n  SET ACC = 2\n  RET\n"
CODE = assemble(AGENT_IR).code


def tx(
    key: SigningKey, nonce: int, payload: object, gas_limit: int = GAS, price: int = PRICE
) -> SignedTx:
    raw = Transaction(
        GENESIS.chain_id, KINDS[type(payload)], key.pubkey, nonce, gas_limit, price, payload
    )
    return decode_transaction(raw.signed(key).encode())


class Chain:
    def __init__(self, path: Path, genesis: Genesis = GENESIS) -> None:
        self.ledger = Ledger(path, genesis)
        key = dev_validator_key()  # the heaviest validator: its precommit alone commits
        self.validator = SoloValidator(
            key, genesis.chain_id, {key.pubkey: self.ledger.validators()[key.pubkey]}
        )
        self.nonces: dict[bytes, int] = {}
        self.blocks: list[PendingBlock] = []

    def produce(self, *txs: SignedTx) -> PendingBlock:
        last = self.ledger.commit_certificate(self.ledger.height)
        timestamp = GENESIS.timestamp + 10 * (self.ledger.height + 1)
        pending = self.ledger.build_block(txs, timestamp, self.validator.proposer, last)
        assert not pending.left_out, pending.left_out
        self.ledger.commit(pending, self.validator.certify(pending))
        self.blocks.append(pending)
        return pending

    def send(self, key: SigningKey, payload: object):
        nonce = self.nonces.get(key.address, 0)
        self.nonces[key.address] = nonce + 1
        stx = tx(key, nonce, payload)
        self.produce(stx)
        receipt = self.ledger.receipt(stx.hash)
        assert receipt is not None
        return stx, receipt

    def until(self, height: int) -> None:
        """Empty blocks up to `height` (the dev node makes them only when asked)."""
        while self.ledger.height < height:
            self.produce()

    @property
    def state(self) -> State:
        return State(self.ledger)

    def proposal(self, pid: bytes):
        return load_proposal(self.state, pid)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    c = Chain(tmp_path / "a")
    yield c
    c.ledger.close()


def deploy(chain: Chain) -> bytes:
    _, receipt = chain.send(ALICE, Deploy(CODE.to_bytes(), (), 3 * DEPOSIT))
    assert receipt.ok, receipt.error
    return from_wire(decode(receipt.output))


def run_main(chain: Chain, agent: bytes) -> object:
    _, receipt = chain.send(BOB, Call(agent, "main", ()))
    assert receipt.ok, receipt.error
    return from_wire(decode(receipt.output))


def vote_all(chain: Chain, pid: bytes, choice: Choice = Choice.YES) -> None:
    for member in (SA, LP, MO, RH, SE):
        _, receipt = chain.send(member, VotePayload(pid, choice, f"{choice.value} from the test"))
        assert receipt.ok, receipt.error
        assert receipt.gas_used <= intrinsic_gas(tx(member, 0, VotePayload(pid, choice))) + 50_000


def test_genesis_holds_the_dev_council_and_parameters(chain: Chain) -> None:
    council = load_council(chain.state)
    assert {m.address for m in council} == {k.address for k in (SA, LP, MO, RH, SE)}
    assert {m.role for m in council} == {role for _, role in DEV_COUNCIL_ROLES}
    assert load_params(chain.state) == PARAMS
    assert Genesis.from_json(GENESIS.to_json()) == GENESIS
    doc = json.loads(GENESIS.to_json())
    for change, reason in (
        (lambda d: d["council"].append(d["council"][0]), "listed twice"),
        (lambda d: d["council"][0].update(role="Pope"), "bad council member"),
        (lambda d: d["governance"].update(voting_period=0), "voting_period"),
        (lambda d: d["governance"].update(quorum=1), "unknown governance parameter"),
    ):
        bad = json.loads(json.dumps(doc))
        change(bad)
        with pytest.raises(GenesisError, match=reason):
            Genesis.from_json(json.dumps(bad))
    del doc["governance"], doc["council"]  # an older genesis file: defaults, no council
    older = Genesis.from_json(json.dumps(doc))
    assert older.council == () and older.governance == type(PARAMS)()


def test_self_modify_proposal_passes_is_enacted_and_the_agent_runs_the_new_code(
    chain: Chain, tmp_path: Path
) -> None:
    agent = deploy(chain)
    _, receipt = chain.send(ALICE, Call(agent, "improve", (SLOWER,)))
    assert receipt.ok, receipt.error
    pid = from_wire(decode(receipt.output))
    submitted = chain.ledger.height
    p = chain.proposal(pid)
    assert (
        p.status is Status.VOTING
        and p.proposer == agent
        and p.voting_end_height == (submitted + PARAMS.voting_period)
    )
    assert [(s.test, s.passed) for s in p.sandbox] == [("gives_one", True)]
    assert p.sandbox[0].gas_after > p.sandbox[0].gas_before
    assert chain.ledger.account(agent).balance == 2 * DEPOSIT  # the deposit is in escrow
    vote_all(chain, pid)
    chain.until(p.voting_end_height)
    p = chain.proposal(pid)
    assert p.status is Status.PASSED and p.enact_height == submitted + PARAMS.voting_period + 2
    assert chain.ledger.account(agent).balance == 3 * DEPOSIT  # returned when it passed
    assert chain.ledger.agent(agent).code_id == CODE.code_id  # not yet
    chain.until(p.enact_height)
    p = chain.proposal(pid)
    assert p.status is Status.ENACTED and chain.ledger.agent(agent).code_id == p.new_code_id
    assert any(e.topic == "ProposalEnacted" for e in chain.blocks[-1].governance_events)
    assert run_main(chain, agent) == 1
    lineage = chain.ledger.lineage(agent)
    assert [c.kind.value for c in lineage] == ["deploy", "proposal"]
    view = get_lineage(chain.state, agent, agents.LedgerAgents(chain.state)).to_json()
    assert view["edges"][0]["enactedHeight"] == p.enact_height
    # A validator re-executing every block (end_block included) gets the same blocks.
    replica = Ledger(tmp_path / "replica", GENESIS)
    try:
        for pending in chain.blocks:
            again = replica.execute_block(pending.block)
            assert again.governance_events == pending.governance_events
            replica.commit(again, chain.ledger.commit_certificate(pending.block.height))
        assert replica.head.state_root == chain.ledger.head.state_root
    finally:
        replica.close()
    # The SELF_MODIFY call's replay record replays (governance reads are in its witness).
    first_call = chain.blocks[1].transactions[0]
    replayed = agents.replay(chain.ledger.replay_record(first_call.hash), chain.ledger)
    assert replayed.result.value == pid


def test_votes_change_until_the_period_ends_and_a_revert_adjusts_accuracy(chain: Chain) -> None:
    agent = deploy(chain)
    spec = CodeChangeSpec(agent, "STRATEGY", SLOWER, "slower but clearer", "", DEPOSIT)
    stx, receipt = chain.send(BOB, ProposePayload(spec))
    assert receipt.ok, receipt.error
    assert chain.ledger.history(agent)[0] == stx.hash  # in the agent's history too
    assert [log.name for log in receipt.logs] == ["ProposalSubmitted"]
    pid = receipt.logs[0].values[0]
    assert receipt.gas_used == intrinsic_gas(tx(BOB, 0, ProposePayload(spec))) + gas.GOV_PROPOSE
    _, receipt = chain.send(SA, VotePayload(pid, Choice.NO, "first look"))
    vote_all(chain, pid)  # SA changes its vote to yes
    votes = load_votes(chain.state, chain.proposal(pid))
    assert {v.choice for v in votes} == {Choice.YES} and len(votes) == 5
    chain.until(chain.proposal(pid).voting_end_height)
    chain.until(chain.proposal(pid).enact_height)
    first = chain.proposal(pid)
    assert first.status is Status.ENACTED
    revert = RevertSpec(agent, "STRATEGY", CODE.code_id, "undo", DEPOSIT, emergency=True)
    _, receipt = chain.send(BOB, ProposePayload(revert))
    rid = receipt.logs[0].values[0]
    assert chain.proposal(rid).rules.voting_period == PARAMS.emergency_voting_period
    vote_all(chain, rid)
    chain.until(chain.proposal(rid).voting_end_height)
    done = chain.proposal(rid)
    assert done.status is Status.ENACTED and done.undoes == (pid,)
    assert chain.ledger.agent(agent).code_id == CODE.code_id
    step = PARAMS.accuracy_step_ppm
    for member in load_council(chain.state):
        assert member.accuracy_ppm == PARAMS.initial_accuracy_ppm - step  # all voted yes
    assert chain.proposal(pid).reverted_by == rid
    doc = get_proposal(chain.state, rid, agents.LedgerAgents(chain.state)).to_json()
    assert doc["kind"] == "revert" and "NOP" in str(doc["oldIr"]) and "NOP" not in str(doc["newIr"])


def test_cancel_by_the_proposer_only(chain: Chain) -> None:
    agent = deploy(chain)
    spec = CodeChangeSpec(agent, "STRATEGY", SLOWER, "", "", DEPOSIT)
    _, receipt = chain.send(BOB, ProposePayload(spec))
    pid = receipt.logs[0].values[0]
    _, receipt = chain.send(ALICE, CancelPayload(pid))
    assert not receipt.ok and "only the proposer" in receipt.error
    before = chain.ledger.account(BOB.address).balance
    _, receipt = chain.send(BOB, CancelPayload(pid))
    assert receipt.ok, receipt.error
    assert chain.proposal(pid).status is Status.CANCELLED
    burnt = DEPOSIT * PARAMS.cancel_burn_ppm // 1_000_000
    assert chain.ledger.account(BOB.address).balance == before - receipt.fee + DEPOSIT - burnt


def test_only_a_registered_identity_joins_the_council(chain: Chain) -> None:
    joins = ProposePayload(
        CouncilChangeSpec((NewMember(STRANGER.address, Role.CUSTOM, "Fuzzer"),), (), "", DEPOSIT)
    )
    before = chain.ledger.account(BOB.address).balance
    _, receipt = chain.send(BOB, joins)
    assert not receipt.ok and "has no registered identity" in receipt.error, receipt.error
    assert proposal_count(chain.state) == 0
    assert chain.ledger.account(BOB.address).balance == before - receipt.fee  # only the fee

    chain.send(ALICE, Transfer(STRANGER.address, 10**18))  # the stranger pays its fee
    _, receipt = chain.send(STRANGER, SetIdentity("fuzzer.avm"))
    assert receipt.ok, receipt.error
    _, receipt = chain.send(BOB, joins)
    assert receipt.ok, receipt.error
    pid = receipt.logs[0].values[0]
    vote_all(chain, pid)
    chain.until(chain.proposal(pid).voting_end_height)
    chain.until(chain.proposal(pid).enact_height)
    assert chain.proposal(pid).status is Status.ENACTED
    members = {m["address"]: m for m in get_council(chain.state).to_json()["members"]}
    assert members[to_checksum_address(STRANGER.address)]["name"] == "fuzzer.avm"
    assert members[to_checksum_address(SA.address)]["name"] == "security-auditor.avm"


def test_bad_input_is_refused_with_the_reason_and_changes_nothing(chain: Chain) -> None:
    agent = deploy(chain)
    _, receipt = chain.send(
        BOB, ProposePayload(CodeChangeSpec(agent, "STRATEGY", SLOWER, "", "", DEPOSIT))
    )
    pid = receipt.logs[0].values[0]
    missing = b"\x99" * 20
    cases = [
        (STRANGER, VotePayload(pid, Choice.YES, ""), "was not a council member"),
        (BOB, ProposePayload(CodeChangeSpec(agent, "CORE", "HALT", "", "", DEPOSIT)), "locked"),
        (
            BOB,
            ProposePayload(CodeChangeSpec(missing, "STRATEGY", SLOWER, "", "", DEPOSIT)),
            "no agent",
        ),
        (
            BOB,
            ProposePayload(CodeChangeSpec(agent, "STRATEGY", "SET ACC =", "", "", DEPOSIT)),
            "does not assemble",
        ),
        (
            BOB,
            ProposePayload(CodeChangeSpec(agent, "STRATEGY", SLOWER, "", "", DEPOSIT - 1)),
            "minimum",
        ),
        (
            BOB,
            ProposePayload(CodeChangeSpec(agent, "NOPE", SLOWER, "", "", DEPOSIT)),
            "no region NOPE",
        ),
    ]
    chain.send(ALICE, Transfer(STRANGER.address, 10**18))  # the stranger pays its fees
    for key, payload, reason in cases:
        count = proposal_count(chain.state)
        votes = load_votes(chain.state, chain.proposal(pid))
        before = chain.ledger.account(key.address).balance
        _, receipt = chain.send(key, payload)
        assert not receipt.ok and reason in receipt.error, (reason, receipt.error)
        assert proposal_count(chain.state) == count
        assert load_votes(chain.state, chain.proposal(pid)) == votes
        assert chain.ledger.account(key.address).balance == before - receipt.fee  # only the fee
    chain.until(chain.proposal(pid).voting_end_height)
    _, receipt = chain.send(SA, VotePayload(pid, Choice.YES, "late"))
    assert not receipt.ok and "not in its voting period" in receipt.error


def test_a_chain_proposal_changes_the_block_gas_limit_and_gas_price_from_enactment(
    chain: Chain,
) -> None:
    lower, dearer = 3_000_000, 2 * PRICE
    rules = dataclasses.replace(GENESIS.chain, block_gas_limit=lower, min_gas_price=dearer)
    _, receipt = chain.send(ALICE, ProposePayload(ChainParamsSpec(rules, "3 M gas", DEPOSIT)))
    assert receipt.ok, receipt.error
    pid = receipt.logs[0].values[0]
    assert isinstance(pid, bytes)
    track = chain.proposal(pid).rules  # a protocol change: the longer, two-thirds track
    assert track.voting_period == 2 * PARAMS.voting_period
    assert track.enactment_delay == 2 * PARAMS.enactment_delay
    assert track.threshold_ppm == PROTOCOL_THRESHOLD_PPM
    vote_all(chain, pid)
    chain.until(chain.proposal(pid).voting_end_height)
    assert chain.ledger.block_gas_limit() == GENESIS.block_gas_limit  # passed, not yet enacted
    enacted_at = chain.proposal(pid).enact_height
    assert enacted_at is not None
    chain.until(enacted_at)
    assert chain.proposal(pid).status is Status.ENACTED
    assert chain.ledger.chain_params() == rules
    assert chain.ledger.chain_params_at(enacted_at - 1) == GENESIS.chain  # as it was
    greedy = tx(BOB, 0, Transfer(ALICE.address, 1), lower + 1, dearer)
    last = chain.ledger.commit_certificate(chain.ledger.height)
    pending = chain.ledger.build_block([greedy], GENESIS.timestamp + 10**6, bytes(20), last)
    assert "above the block gas limit 3000000" in pending.left_out[0][1]
    cheap = tx(BOB, 0, Transfer(ALICE.address, 1), 100_000)  # at the old price
    pending = chain.ledger.build_block([cheap], GENESIS.timestamp + 10**6, bytes(20), last)
    assert f"below minimum {dearer}" in pending.left_out[0][1]


def test_chain_params_out_of_bounds_make_a_transaction_no_block_includes() -> None:
    bad = dataclasses.replace(GENESIS.chain, max_block_bytes=10**9)
    with pytest.raises(InvalidTransaction, match="max_block_bytes must be an integer in"):
        tx(ALICE, 0, ProposePayload(ChainParamsSpec(bad, "", DEPOSIT)))


# ---- policy proposals (the SECURITY_CHECK policy of a council-governed agent) ------------------


def spend(chain: Chain, agent: bytes, key: SigningKey) -> bool:
    _, receipt = chain.send(key, Call(agent, "spend", (1,)))
    return receipt.ok


def test_a_passed_policy_proposal_sets_a_council_governed_agent_s_policy(chain: Chain) -> None:
    agent = deploy(chain)
    alice_only = AgentPolicy(agent, (ALICE.address,))
    _, filed = chain.send(BOB, ProposePayload(PolicySpec(alice_only, "Alice's service", DEPOSIT)))
    assert filed.ok, filed.error
    pid = filed.logs[0].values[0]
    assert isinstance(pid, bytes)
    view = get_proposal(chain.state, pid).to_json()
    assert view["kind"] == "policy" and view["agent"] == to_checksum_address(agent)
    assert view["policy"] == alice_only.to_json()
    vote_all(chain, pid)
    assert spend(chain, agent, BOB)  # not enacted yet: no policy
    chain.until(chain.proposal(pid).voting_end_height)
    chain.until(chain.proposal(pid).enact_height)
    assert chain.proposal(pid).status is Status.ENACTED
    assert load_policy(chain.state, agent) == alice_only
    assert not spend(chain, agent, BOB)
    assert spend(chain, agent, ALICE)


def test_a_policy_proposal_for_an_agent_its_deployer_governs_is_refused(chain: Chain) -> None:
    _, deployed = chain.send(ALICE, Deploy(assemble(":main\n  HALT\n").code.to_bytes(), (), 0))
    plain = from_wire(decode(deployed.output))
    assert isinstance(plain, bytes)
    _, refused = chain.send(BOB, ProposePayload(PolicySpec(AgentPolicy(plain), "", DEPOSIT)))
    assert not refused.ok and "its deployer sets its policy" in refused.error
    assert proposal_count(chain.state) == 0


# ---- gas schedule proposals --------------------------------------------------------------------


def test_a_gas_proposal_changes_what_calls_cost_from_the_block_after_enactment(
    chain: Chain,
) -> None:
    agent = deploy(chain)
    before, first = chain.send(BOB, Call(agent, "main", ()))
    assert first.ok, first.error
    dearer = schedule_with(V1, 2, {"simple": 2 * V1.simple, "call": 3 * V1.call})
    _, filed = chain.send(ALICE, ProposePayload(GasScheduleSpec(dearer, "dearer", DEPOSIT)))
    assert filed.ok, filed.error
    pid = filed.logs[0].values[0]
    assert isinstance(pid, bytes)
    assert chain.proposal(pid).rules.threshold_ppm == PROTOCOL_THRESHOLD_PPM  # protocol track
    vote_all(chain, pid)
    chain.until(chain.proposal(pid).voting_end_height)
    enacted_at = chain.proposal(pid).enact_height
    assert enacted_at is not None
    chain.until(enacted_at - 1)
    _, same = chain.send(BOB, Call(agent, "main", ()))  # the last block before enactment
    assert same.gas_used == first.gas_used
    assert chain.proposal(pid).status is Status.ENACTED
    assert gas_schedule(chain.state) == dearer
    _, after = chain.send(BOB, Call(agent, "main", ()))
    assert after.ok and after.output == first.output
    # main runs CALL strategy (a call: 3x), SET (simple: 2x), then RET and RETURN (ret: as was)
    assert after.gas_used - first.gas_used == V1.simple + 2 * V1.call
    # The first call's trace replays under the schedule it ran under, the last under the new.
    assert agents.replay(chain.ledger.replay_record(before.hash), chain.ledger).result.gas_used \
        == first.gas_used - intrinsic_gas(before)  # fmt: skip


def test_a_gas_schedule_must_be_a_version_above_the_one_in_force(chain: Chain) -> None:
    same = schedule_with(V1, 1, {"simple": 1})
    _, refused = chain.send(ALICE, ProposePayload(GasScheduleSpec(same, "", DEPOSIT)))
    assert not refused.ok and "version 1 is not above the one in force, 1" in refused.error
    with pytest.raises(InvalidTransaction, match="gas schedule: simple must be an integer"):
        tx(ALICE, 0, ProposePayload(GasScheduleSpec(replace(V1, version=2, simple=-1), "", 1)))


def replicate(chain: Chain, path: Path) -> None:
    """A validator re-executing every block (end_block, shadow replays included) gets the same
    blocks and the same state."""
    replica = Ledger(path, GENESIS)
    try:
        for pending in chain.blocks:
            again = replica.execute_block(pending.block)
            assert again.governance_events == pending.governance_events
            replica.commit(again, chain.ledger.commit_certificate(pending.block.height))
        assert replica.head.state_root == chain.ledger.head.state_root
    finally:
        replica.close()


def test_a_gas_proposal_is_shadow_replayed_on_the_recent_blocks(
    chain: Chain, tmp_path: Path
) -> None:
    agent = deploy(chain)
    _, ok = chain.send(BOB, Call(agent, "main", ()))
    tight = tx(ALICE, chain.nonces[ALICE.address], Call(agent, "main", ()), ok.gas_used + 5)
    chain.nonces[ALICE.address] += 1
    chain.produce(tight)  # just enough gas today: out of gas under a dearer schedule
    assert chain.ledger.receipt(tight.hash).ok
    _, transfer = chain.send(BOB, Transfer(ALICE.address, 1))  # no AVM: the same either way
    dearer = schedule_with(V1, 2, {"simple": 2 * V1.simple})
    _, filed = chain.send(ALICE, ProposePayload(GasScheduleSpec(dearer, "dearer", DEPOSIT)))
    pid = filed.logs[0].values[0]
    assert isinstance(pid, bytes)
    submitted = chain.ledger.height
    shadow = chain.proposal(pid).shadow  # sandboxed (and replayed) at the end of its block
    assert shadow is not None
    assert (shadow.first, shadow.last) == (1, submitted - 1)  # every earlier block, in budget
    assert shadow.outcome_changes == 1 and shadow.gas_after > shadow.gas_before
    changed = shadow.diffs[0]
    assert changed.tx_hash == tight.hash and changed.ok_before and not changed.ok_after
    assert "out_of_gas" in changed.error_after
    assert shadow.gas_changes >= 1  # the call with room to spare costs more, succeeds still
    assert transfer.tx_hash not in {d.tx_hash for d in shadow.diffs}
    view = get_proposal(chain.state, pid).to_json()["shadow"]
    assert view["outcomeChanges"] == 1 and view["diffs"][0]["tx"] == "0x" + tight.hash.hex()
    events = [e for e in chain.blocks[-1].governance_events if e.topic == "ProposalShadowed"]
    assert events and f"blocks 1..{submitted - 1}" in events[0].detail
    replicate(chain, tmp_path / "replica")


def test_shadow_replay_stops_at_its_gas_budget(tmp_path: Path) -> None:
    small = dataclasses.replace(PARAMS, shadow_gas=60_000)  # about two transfers' worth
    genesis = dataclasses.replace(GENESIS, governance=small)
    chain = Chain(tmp_path / "a", genesis)
    try:
        for amount in (1, 2, 3):
            chain.send(BOB, Transfer(ALICE.address, amount))
        dearer = schedule_with(V1, 2, {"simple": 2 * V1.simple})
        _, filed = chain.send(ALICE, ProposePayload(GasScheduleSpec(dearer, "", DEPOSIT)))
        shadow = chain.proposal(filed.logs[0].values[0]).shadow
        assert shadow is not None and shadow.transactions * 21_000 <= 60_000 + 16 * 200
        assert shadow.last == chain.ledger.height - 1 and shadow.first > 1
    finally:
        chain.ledger.close()


# ---- validator set proposals -------------------------------------------------------------------

NEWCOMER = SigningKey(b"\x42" * 32)


def test_a_validators_proposal_changes_the_set_from_the_block_after_enactment(
    tmp_path: Path,
) -> None:
    heavy = dataclasses.replace(GENESIS.validators[0], power=10)
    chain = Chain(tmp_path / "a", dataclasses.replace(GENESIS, validators=(heavy,)))
    try:
        spec = ValidatorsSpec(((NEWCOMER.pubkey, 3),), "a second validator", DEPOSIT)
        _, filed = chain.send(ALICE, ProposePayload(spec))
        assert filed.ok, filed.error
        pid = filed.logs[0].values[0]
        assert isinstance(pid, bytes)
        view = get_proposal(chain.state, pid).to_json()
        assert view["validators"] == [
            {"pubkey": "0x" + NEWCOMER.pubkey.hex(),
             "address": to_checksum_address(NEWCOMER.address), "power": 3}
        ]  # fmt: skip
        vote_all(chain, pid)
        chain.until(chain.proposal(pid).voting_end_height)
        enacted_at = chain.proposal(pid).enact_height
        assert enacted_at is not None
        chain.until(enacted_at)
        assert chain.proposal(pid).status is Status.ENACTED
        assert chain.ledger.validators() == {heavy.pubkey: 10, NEWCOMER.pubkey: 3}
        assert chain.ledger.validators_at(enacted_at - 1) == {heavy.pubkey: 10}
        assert validator_totals(chain.state) == (2, 13)
    finally:
        chain.ledger.close()


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        (((NEWCOMER.pubkey, 1),), "moves 1 of the 1 voting power: at most a third"),
        (((dev_validator_key().pubkey, 0),), "would leave no validator"),
        (((dev_validator_key().pubkey, 1),), "has power 1 already"),
    ],
)
def test_validator_changes_that_break_a_rule_are_refused(
    chain: Chain, changes: tuple, says: str
) -> None:
    _, refused = chain.send(ALICE, ProposePayload(ValidatorsSpec(changes, "", DEPOSIT)))
    assert not refused.ok and says in refused.error, refused.error
    assert chain.ledger.validators() == {dev_validator_key().pubkey: 1}


def test_validator_changes_must_name_each_key_once_in_order() -> None:
    a, b = sorted([NEWCOMER.pubkey, STRANGER.pubkey])
    for changes in (((b, 1), (a, 1)), ((a, 1), (a, 2)), ()):
        with pytest.raises(InvalidTransaction):
            tx(ALICE, 0, ProposePayload(ValidatorsSpec(changes, "", DEPOSIT)))


# ---- AVM versions ------------------------------------------------------------------------------

DIVIDES = assemble(":main\n  DIV -7, 2 -> q\n  RETURN q\n").code  # version 1: floors
ROOTS = assemble(".avm 2\n:main\n  ISQRT 17 -> r\n  DIV -7, 2 -> q\n  RETURN [r, q]\n").code


def pass_proposal(chain: Chain, spec: ProposalSpec) -> int:
    """File `spec`, vote it through, make blocks up to its enactment; its enactment height."""
    _, filed = chain.send(ALICE, ProposePayload(spec))
    assert filed.ok, filed.error
    pid = filed.logs[0].values[0]
    assert isinstance(pid, bytes)
    vote_all(chain, pid)
    chain.until(chain.proposal(pid).voting_end_height)
    enacted_at = chain.proposal(pid).enact_height
    assert enacted_at is not None
    chain.until(enacted_at)
    assert chain.proposal(pid).status is Status.ENACTED
    return enacted_at


def test_an_avm_version_lets_new_code_use_its_opcodes_and_old_code_keeps_its_own(
    chain: Chain,
) -> None:
    early = tx(ALICE, chain.nonces.get(ALICE.address, 0), Deploy(ROOTS.to_bytes(), (), 0))
    last = chain.ledger.commit_certificate(chain.ledger.height)
    pending = chain.ledger.build_block([early], GENESIS.timestamp + 10**6, bytes(20), last)
    assert "for AVM version 2; this chain runs version 1" in pending.left_out[0][1]  # never in
    old = from_wire(decode(chain.send(ALICE, Deploy(DIVIDES.to_bytes(), (), 0))[1].output))
    assert isinstance(old, bytes)
    pass_proposal(chain, AvmVersionSpec(2, "isqrt, and DIV that truncates", DEPOSIT))
    assert avm_version(chain.state) == 2
    _, deployed = chain.send(ALICE, Deploy(ROOTS.to_bytes(), (), 0))
    assert deployed.ok, deployed.error
    agent = from_wire(decode(deployed.output))
    assert isinstance(agent, bytes)
    _, new_call = chain.send(BOB, Call(agent, "main", ()))
    assert from_wire(decode(new_call.output)) == (4, -3)
    _, old_call = chain.send(BOB, Call(old, "main", ()))
    assert from_wire(decode(old_call.output)) == -4  # deployed under version 1: floors still


def test_a_node_lacking_an_enacted_avm_version_stops_instead_of_forking(chain: Chain) -> None:
    _, filed = chain.send(ALICE, ProposePayload(AvmVersionSpec(LATEST_VERSION + 1, "", DEPOSIT)))
    assert filed.ok, filed.error  # the chain's rule: above the version in force
    pid = filed.logs[0].values[0]
    assert isinstance(pid, bytes)
    vote_all(chain, pid)
    chain.until(chain.proposal(pid).voting_end_height)
    enact = chain.proposal(pid).enact_height
    assert enact is not None
    chain.until(enact - 1)
    with pytest.raises(UnknownAvmVersion, match=f"AVM version {LATEST_VERSION + 1} is unknown"):
        chain.produce()
    assert chain.ledger.height == enact - 1  # nothing written


def test_one_shadow_replay_a_block_a_second_gas_proposal_waits_for_the_next(
    chain: Chain,
) -> None:
    chain.send(BOB, Transfer(ALICE.address, 1))
    specs = [
        GasScheduleSpec(schedule_with(V1, 2, {"simple": n * V1.simple}), "", DEPOSIT)
        for n in (2, 3)
    ]
    txs = [tx(ALICE, chain.nonces.get(ALICE.address, 0) + i, ProposePayload(s)) for i, s in
           enumerate(specs)]  # fmt: skip
    chain.nonces[ALICE.address] = chain.nonces.get(ALICE.address, 0) + 2
    chain.produce(*txs)
    first, second = (chain.ledger.receipt(t.hash).logs[0].values[0] for t in txs)
    assert chain.proposal(first).shadow is not None
    assert chain.proposal(second).status is Status.SUBMITTED  # waits: no replay yet
    chain.produce()
    assert chain.proposal(second).shadow is not None
    assert chain.proposal(second).status is Status.VOTING


def test_shadow_replay_stops_at_its_transaction_budget(tmp_path: Path) -> None:
    small = dataclasses.replace(PARAMS, shadow_txs=2)
    chain = Chain(tmp_path / "a", dataclasses.replace(GENESIS, governance=small))
    try:
        for amount in (1, 2, 3):
            chain.send(BOB, Transfer(ALICE.address, amount))
        dearer = schedule_with(V1, 2, {"simple": 2 * V1.simple})
        _, filed = chain.send(ALICE, ProposePayload(GasScheduleSpec(dearer, "", DEPOSIT)))
        shadow = chain.proposal(filed.logs[0].values[0]).shadow
        assert shadow is not None and shadow.transactions == 2
        assert (shadow.first, shadow.last) == (chain.ledger.height - 2, chain.ledger.height - 1)
    finally:
        chain.ledger.close()


# ---- equivocation evidence and jailing ---------------------------------------------------------

OFFENDER = SigningKey(b"\x43" * 32)


def prevote(key: SigningKey, block_hash: bytes | None, height: int = 5) -> Vote:
    message = Vote.sign_bytes_for(GENESIS.chain_id, VoteKind.PREVOTE, height, 0, block_hash)
    return Vote(VoteKind.PREVOTE, height, 0, block_hash, key.pubkey, key.sign(message))


def evidence_tx(chain: Chain, evidence: Evidence, key: SigningKey = BOB) -> SignedTx:
    """An EVIDENCE transaction at gas price 0 (what a validator's node sends)."""
    nonce = chain.ledger.account(key.address).nonce
    raw = Transaction(GENESIS.chain_id, TxKind.EVIDENCE, key.pubkey, nonce, 200_000, 0,
                      EvidencePayload(evidence)).signed(key)  # fmt: skip
    return decode_transaction(raw.encode())


def report(chain: Chain, evidence: Evidence):
    """Include an EVIDENCE transaction; its receipt."""
    stx = evidence_tx(chain, evidence)
    chain.produce(stx)
    receipt = chain.ledger.receipt(stx.hash)
    assert receipt is not None
    return receipt


def left_out(chain: Chain, evidence: Evidence) -> str:
    """Why a block leaves an EVIDENCE transaction out (it is never included to fail)."""
    last = chain.ledger.commit_certificate(chain.ledger.height)
    stx = evidence_tx(chain, evidence)
    pending = chain.ledger.build_block([stx], GENESIS.timestamp + 10**6, bytes(20), last)
    assert pending.block.transactions == ()
    return pending.left_out[0][1]


@pytest.fixture
def two_validators(tmp_path: Path) -> Iterator[Chain]:
    heavy = dataclasses.replace(GENESIS.validators[0], power=10)
    offender = dataclasses.replace(heavy, pubkey=OFFENDER.pubkey, power=1)
    c = Chain(tmp_path / "v", dataclasses.replace(GENESIS, validators=(heavy, offender)))
    yield c
    c.ledger.close()


def test_evidence_of_a_double_vote_jails_its_signer_for_free(two_validators: Chain) -> None:
    chain = two_validators
    before = chain.ledger.account(BOB.address).balance
    evidence = Evidence.of(prevote(OFFENDER, b"\x01" * 32), prevote(OFFENDER, None))
    receipt = report(chain, evidence)
    assert receipt.ok, receipt.error
    assert receipt.fee == 0 and chain.ledger.account(BOB.address).balance == before
    assert receipt.logs[0].name == "ValidatorJailed"
    assert chain.ledger.validators() == {dev_validator_key().pubkey: 10}
    jailed = load_jail(chain.state, OFFENDER.pubkey)
    assert jailed is not None and (jailed.height, jailed.slashed) == (chain.ledger.height, 1)
    again = Evidence.of(prevote(OFFENDER, b"\x02" * 32), prevote(OFFENDER, None))
    assert "was jailed at block" in left_out(chain, again)
    # Only a passed proposal brings it back, which clears the record.
    pass_proposal(chain, ValidatorsSpec(((OFFENDER.pubkey, 1),), "served its time", DEPOSIT))
    assert chain.ledger.validators()[OFFENDER.pubkey] == 1
    assert load_jail(chain.state, OFFENDER.pubkey) is None
    # What it signed before its return was judged: the same evidence cannot jail it again.
    assert "was restored at block" in left_out(chain, evidence)
    assert "was restored at block" in left_out(chain, again)


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: Evidence.of(prevote(STRANGER, b"\x01" * 32), prevote(STRANGER, None)),
         "is not a validator"),
        (lambda: Evidence.of(prevote(OFFENDER, b"\x01" * 32), prevote(OFFENDER, b"\x01" * 32)),
         "agree on the block"),
        (lambda: Evidence.of(prevote(OFFENDER, b"\x01" * 32), prevote(OFFENDER, None, 6)),
         "different heights or rounds"),
        (lambda: Evidence.of(prevote(OFFENDER, b"\x01" * 32),
                             dataclasses.replace(prevote(OFFENDER, None), signature=b"\0" * 64)),
         "a signature does not verify"),
    ],
)  # fmt: skip
def test_evidence_that_does_not_hold_jails_nobody(two_validators: Chain, make, says) -> None:
    evidence = make()
    with pytest.raises(EvidenceRefused, match=says):
        check(two_validators.state, GENESIS.chain_id, evidence)
    assert says in left_out(two_validators, evidence)  # never included to fail for free
    assert len(two_validators.ledger.validators()) == 2


def test_the_last_validator_is_never_jailed(chain: Chain) -> None:
    key = dev_validator_key()
    double = Evidence.of(prevote(key, b"\x01" * 32), prevote(key, None))
    assert "is the last one" in left_out(chain, double)


def test_a_council_patch_opts_an_agent_in_to_a_newer_avm_once_it_is_enacted(chain: Chain) -> None:
    agent = deploy(chain)  # AGENT_IR: version 1, region STRATEGY council
    # 1 under version 2 (ISQRT 1 is 1, DIV -1, 2 truncates to 0): its test `gives_one` holds
    patch = ".avm 2\n:strategy\n  ISQRT 1 -> u\n  DIV -1, 2 -> t\n  ADD t, u -> ACC\n  RET\n"
    early = CodeChangeSpec(agent, "STRATEGY", patch, "isqrt", "", DEPOSIT)
    _, refused = chain.send(ALICE, ProposePayload(early))
    assert not refused.ok and "moves the code to AVM version 2; this chain runs" in refused.error
    pass_proposal(chain, AvmVersionSpec(2, "", DEPOSIT))
    pass_proposal(chain, CodeChangeSpec(agent, "STRATEGY", patch, "isqrt", "", DEPOSIT))
    code = agents.LedgerAgents(chain.state).code_of(agent)
    assert code is not None and code.avm_version == 2
    assert run_main(chain, agent) == 1


def test_a_gas_schedule_may_at_most_halve_a_cost_at_once(chain: Chain) -> None:
    for costs, name in (({"simple": 49}, "simple"), ({"doc_fetch_per_dim": [0, 1000]},
                        "doc_fetch_per_dim"), ({"kv_delete": 0}, "kv_delete")):  # fmt: skip
        spec = GasScheduleSpec(schedule_with(V1, 2, costs), "", DEPOSIT)
        _, refused = chain.send(ALICE, ProposePayload(spec))
        assert not refused.ok and f"{name} falls below half of its price" in refused.error
    halved = GasScheduleSpec(schedule_with(V1, 2, {"simple": 50}), "", DEPOSIT)
    assert chain.send(ALICE, ProposePayload(halved))[1].ok


def test_a_shadow_difference_keeps_a_long_error_clipped() -> None:
    diff = ShadowDiff(1, b"\x01" * 32, True, False, 5, 6, "x" * 5000)
    assert len(diff.error_after) == MAX_DIFF_ERROR
    assert ShadowDiff.from_value(decode(encode(diff.to_value()))) == diff


def test_a_third_of_the_power_moves_in_a_block_however_many_proposals_pass(
    tmp_path: Path,
) -> None:
    heavy = dataclasses.replace(GENESIS.validators[0], power=6)
    chain = Chain(tmp_path / "a", dataclasses.replace(GENESIS, validators=(heavy,)))
    try:
        specs = [
            ValidatorsSpec(((key.pubkey, 2),), "", DEPOSIT) for key in (NEWCOMER, OFFENDER)
        ]  # each alone moves 2 of 6: a third
        nonce = chain.nonces.get(ALICE.address, 0)
        txs = [tx(ALICE, nonce + i, ProposePayload(s)) for i, s in enumerate(specs)]
        chain.nonces[ALICE.address] = nonce + 2
        chain.produce(*txs)
        pids = [chain.ledger.receipt(t.hash).logs[0].values[0] for t in txs]
        for pid in pids:
            vote_all(chain, pid)
        chain.until(chain.proposal(pids[0]).voting_end_height)
        chain.until(chain.proposal(pids[0]).enact_height)
        first, second = (chain.proposal(pid) for pid in pids)
        assert first.status is Status.ENACTED
        assert second.status is Status.FAILED and "after the 2 moved in this block" in second.reason
        assert chain.ledger.validators() == {heavy.pubkey: 6, NEWCOMER.pubkey: 2}
    finally:
        chain.ledger.close()
