"""Agents on the ledger: deploy and call transactions through the chain host, on real LevelDB."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from avm.assembler import assemble
from avm.host import LineageKind
from avm.instructions.storage import KV_PREFIX, kv_key
from avm.trace import trace_hash
from avm.values import encode_value, from_wire, to_wire
from core.crypto import SigningKey
from core.encoding import decode, encode
from core.errors import DecodeError, InvalidTransaction
from genesis.dev import DEV_BALANCE, dev_genesis, dev_key, dev_validator_key
from ledger import agents, gas
from ledger.chain import DEFAULT_HISTORY_BLOCKS, Ledger, PendingBlock
from ledger.governance.proposals import load_proposal
from ledger.solo import SoloValidator
from ledger.state import Account, State, StateReader
from ledger.transition import intrinsic_gas
from ledger.tx import (
    Call,
    Deploy,
    SignedTx,
    TokenCreate,
    Transaction,
    Transfer,
    TxKind,
    decode_transaction,
)

GENESIS = dev_genesis(3)
ALICE, BOB, CAROL = (dev_key(i) for i in range(3))
STRANGER = SigningKey(b"\x09" * 32)
PROPOSER = dev_validator_key().address
PRICE = GENESIS.min_gas_price
GAS = 2_000_000
KINDS = {
    Transfer: TxKind.TRANSFER,
    TokenCreate: TxKind.TOKEN_CREATE,
    Deploy: TxKind.DEPLOY,
    Call: TxKind.CALL,
}

COUNTER = """
:bump
  KV_FETCH "count" -> count
  IF count == NULL THEN
    SET count = 0
  ENDIF
  ADD count, ARGS[0] -> count
  KV_STORE "count", count
  LOG "bumped", count
  RETURN count
:pay
  PAY_AGENT ARGS[0], ARGS[1], ARGS[2] -> ok
  RETURN ok
:pay_then_fail
  KV_STORE "count", 999
  PAY_AGENT ARGS[0], ARGS[1], "AVM" -> ok
  REVERT "changed my mind"
:spin
  SET n = 0
:loop
  ADD n, 1 -> n
  JUMP loop
:whoami
  CALLER -> who
  BLOCK_HEIGHT -> h
  GET_CURRENT_TIME -> t
  RETURN [who, h, t]
:fork
  FORK_AGENT "self"
  RETURN ACC
.region STRATEGY self
:strategy
  SET ACC = 1
  RET
.endregion
.region CORE locked
:core
  HALT
.endregion
:run_strategy
  CALL strategy
  RETURN ACC
:evolve
  SELF_OBSERVER_MODE true
  SELF_MODIFY "STRATEGY", ARGS[0] -> snap
  RETURN snap
:evolve_locked
  SELF_OBSERVER_MODE true
  SELF_MODIFY "CORE", "HALT"
  RETURN ACC
"""
COUNTER_CODE = assemble(COUNTER).code


def tx(key: SigningKey, nonce: int, payload: object, gas_limit: int = GAS) -> SignedTx:
    kind = KINDS[type(payload)]
    raw = Transaction(GENESIS.chain_id, kind, key.pubkey, nonce, gas_limit, PRICE, payload)
    return decode_transaction(raw.signed(key).encode())


class Chain:
    """A ledger with one validator, and the blocks it committed (for replaying elsewhere)."""

    def __init__(self, path: Path, history_blocks: int | None = DEFAULT_HISTORY_BLOCKS) -> None:
        self.ledger = Ledger(path, GENESIS, history_blocks=history_blocks)
        self.validator = SoloValidator(
            dev_validator_key(), GENESIS.chain_id, self.ledger.validators()
        )
        self.nonces: dict[bytes, int] = {}
        self.blocks: list[PendingBlock] = []

    def ledger_state(self) -> State:
        """The head's state, as the transition reads it."""
        return State(self.ledger)

    @staticmethod
    def account_in(reader: StateReader, address: bytes) -> Account:
        return State(reader).account(address)

    def next_nonce(self, key: SigningKey) -> int:
        nonce = self.nonces.get(key.address, 0)
        self.nonces[key.address] = nonce + 1
        return nonce

    def produce(self, *txs: SignedTx, timestamp: int | None = None) -> PendingBlock:
        """The next block, with `txs`; 10 s after the last one unless `timestamp` says."""
        last = self.ledger.commit_certificate(self.ledger.height)
        if timestamp is None:
            timestamp = max(
                GENESIS.timestamp + 10 * (self.ledger.height + 1), self.ledger.head.timestamp + 10
            )
        pending = self.ledger.build_block(txs, timestamp, self.validator.proposer, last)
        assert not pending.left_out, pending.left_out
        self.ledger.commit(pending, self.validator.certify(pending))
        self.blocks.append(pending)
        return pending

    def send(self, key: SigningKey, payload: object, gas_limit: int = GAS):
        stx = tx(key, self.next_nonce(key), payload, gas_limit)
        self.produce(stx)
        receipt = self.ledger.receipt(stx.hash)
        assert receipt is not None
        return stx, receipt

    def deploy(self, key: SigningKey = ALICE, code=COUNTER_CODE, storage=(), value=0) -> bytes:
        _, receipt = self.send(key, Deploy(code.to_bytes(), tuple(storage), value))
        assert receipt.ok, receipt.error
        return from_wire(decode(receipt.output))

    def call(self, agent: bytes, entry: str, *args, key=ALICE, value=0, gas_limit=GAS):
        return self.send(key, Call(agent, entry, tuple(args), value), gas_limit)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    c = Chain(tmp_path / "a")
    yield c
    c.ledger.close()


def output(receipt):
    return from_wire(decode(receipt.output))


def test_deploy_creates_an_agent_with_code_storage_value_and_lineage(chain):
    storage = sorted([(kv_key("count"), encode_value(40)), (kv_key("name"), encode_value("x"))])
    stx, receipt = chain.send(ALICE, Deploy(COUNTER_CODE.to_bytes(), tuple(storage), 7))
    assert receipt.ok, receipt.error
    agent = output(receipt)
    assert agent == agents.agent_address(ALICE.address, 0)
    assert receipt.gas_used == intrinsic_gas(stx) + gas.DEPLOY_BASE + gas.DEPLOY_CODE_BYTE * len(
        COUNTER_CODE.to_bytes()
    ) + sum(gas.DEPLOY_STORAGE_ENTRY + gas.DEPLOY_STORAGE_BYTE * len(v) for _, v in storage)
    assert [log.name for log in receipt.logs] == ["AgentDeployed"]
    record = chain.ledger.agent(agent)
    assert record.code_id == COUNTER_CODE.code_id and record.deployer == ALICE.address
    assert chain.ledger.code(COUNTER_CODE.code_id) == COUNTER_CODE
    assert chain.ledger.agent_storage(agent, kv_key("count")) == encode_value(40)
    assert chain.ledger.account(agent).balance == 7
    assert chain.ledger.account(ALICE.address).balance == DEV_BALANCE - 7 - receipt.fee
    (change,) = chain.ledger.lineage(agent)
    assert change.kind is LineageKind.DEPLOY and change.code_id == COUNTER_CODE.code_id
    assert chain.ledger.history(agent) == [stx.hash]


def test_a_call_returns_its_value_stores_and_logs_and_pays_intrinsic_plus_avm_gas(chain):
    agent = chain.deploy(storage=[(kv_key("count"), encode_value(40))])
    stx, receipt = chain.call(agent, "bump", 2)
    assert receipt.ok, receipt.error
    assert output(receipt) == 42
    assert chain.ledger.agent_storage(agent, kv_key("count")) == encode_value(42)
    assert [log.name for log in receipt.logs] == ["log"]
    assert receipt.logs[0].values[0] == agent
    replayed = agents.replay(chain.ledger.replay_record(stx.hash), chain.ledger)
    assert replayed.result.value == 42
    assert receipt.gas_used == intrinsic_gas(stx) + replayed.result.gas_used
    assert sum(entry.gas for entry in replayed.trace) == replayed.result.gas_used
    assert [e.opcode for e in replayed.trace][:2] == ["KV_FETCH", "EQ"]
    assert chain.ledger.history(agent) == [stx.hash, chain.blocks[0].transactions[0].hash]


def test_the_agent_sees_the_caller_block_height_and_block_time(chain):
    agent = chain.deploy()
    _, receipt = chain.call(agent, "whoami", key=BOB)
    head = chain.ledger.head
    assert output(receipt) == (BOB.address, head.height, head.timestamp)


def test_an_agent_pays_accounts_in_the_native_coin_and_in_tokens(chain):
    agent = chain.deploy(value=1000)
    chain.send(BOB, TokenCreate("GOLD", "Gold", 500, 0))
    chain.send(BOB, Transfer(agent, 300, "GOLD"))
    _, receipt = chain.call(agent, "pay", STRANGER.address, 600, "AVM_CREDITS")
    assert output(receipt) is True
    assert [log.name for log in receipt.logs] == ["Transfer"]
    _, receipt = chain.call(agent, "pay", STRANGER.address, 100, "AVM")
    assert output(receipt) is True
    _, receipt = chain.call(agent, "pay", STRANGER.address, 120, "GOLD")
    assert output(receipt) is True
    assert chain.ledger.account(STRANGER.address).balance == 700
    assert chain.ledger.account(agent).balance == 300
    assert chain.ledger.token_balance(STRANGER.address, "GOLD") == 120
    assert chain.ledger.token_balance(agent, "GOLD") == 180
    # Short balances and unknown tokens move nothing and say so.
    for args in ((STRANGER.address, 301, "AVM"), (STRANGER.address, 181, "GOLD")):
        _, receipt = chain.call(agent, "pay", *args)
        assert receipt.ok and output(receipt) is False and not receipt.logs
    _, receipt = chain.call(agent, "pay", STRANGER.address, 1, "SILVER")
    assert output(receipt) is False
    assert chain.ledger.account(agent).balance == 300


def test_a_call_can_send_value_to_the_agent(chain):
    agent = chain.deploy()
    _, receipt = chain.call(agent, "bump", 1, value=55)
    assert receipt.ok
    assert chain.ledger.account(agent).balance == 55
    assert chain.ledger.account(ALICE.address).balance == DEV_BALANCE - 55 - sum(
        chain.ledger.receipt(b.transactions[0].hash).fee for b in chain.blocks
    )


def test_a_trap_rolls_back_the_call_but_the_fee_is_paid_and_the_nonce_advances(chain):
    agent = chain.deploy(value=1000)
    balance_before = chain.ledger.account(ALICE.address).balance
    stx, receipt = chain.call(agent, "pay_then_fail", STRANGER.address, 10, value=5)
    assert not receipt.ok
    assert receipt.error.startswith("revert") and "changed my mind" in receipt.error
    assert receipt.output == b"" and receipt.logs == ()
    assert chain.ledger.agent_storage(agent, kv_key("count")) is None
    assert chain.ledger.account(STRANGER.address).balance == 0
    assert chain.ledger.account(agent).balance == 1000  # the call's value went back too
    alice = chain.ledger.account(ALICE.address)
    assert alice.nonce == 2 and alice.balance == balance_before - receipt.fee
    assert intrinsic_gas(stx) < receipt.gas_used < GAS
    trace = agents.replay(chain.ledger.replay_record(stx.hash), chain.ledger).trace
    assert trace[-1].opcode == "REVERT" and trace[-1].trap == "revert"


def test_out_of_gas_uses_the_whole_limit_and_changes_nothing(chain):
    agent = chain.deploy()
    root = chain.ledger.head.state_root
    _, receipt = chain.call(agent, "spin", gas_limit=100_000)
    assert not receipt.ok and receipt.error.startswith("out_of_gas")
    assert receipt.gas_used == 100_000 and receipt.fee == 100_000 * PRICE
    assert chain.ledger.head.state_root != root  # only the fee and the nonce moved
    assert chain.ledger.account(agent).balance == 0


def test_a_call_with_too_little_gas_for_the_intrinsic_cost_is_not_included(chain):
    agent = chain.deploy()
    short = tx(ALICE, chain.next_nonce(ALICE), Call(agent, "bump", (1,)), gas_limit=21_000)
    last = chain.ledger.commit_certificate(chain.ledger.height)
    pending = chain.ledger.build_block([short], GENESIS.timestamp + 99, PROPOSER, last)
    assert "below intrinsic gas" in pending.left_out[0][1]


def test_calls_to_no_agent_or_unknown_labels_fail_cleanly(chain):
    agent = chain.deploy()
    _, receipt = chain.call(STRANGER.address, "bump", 1)
    assert not receipt.ok and "no agent at" in receipt.error
    _, receipt = chain.call(agent, "nowhere")
    assert not receipt.ok and "unknown_label" in receipt.error
    _, receipt = chain.call(agent, "bump", "not a number")
    assert not receipt.ok and "bad_operand" in receipt.error


def test_nondeterministic_code_is_refused_naming_opcodes_and_pcs(chain):
    code = assemble('GPU_INFER "m", "hi" -> out\nKV_STORE "x", 1\nCALC_EMBED "hi", "m"\nHALT\n')
    _, receipt = chain.send(ALICE, Deploy(code.code.to_bytes()))
    assert not receipt.ok
    assert "GPU_INFER at pc 0 is not deterministic" in receipt.error
    assert "CALC_EMBED at pc 2" in receipt.error
    assert chain.ledger.agent(agents.agent_address(ALICE.address, 0)) is None
    assert chain.ledger.account(ALICE.address).nonce == 1


def test_self_modify_of_a_self_region_changes_the_code_and_records_the_lineage(chain):
    agent = chain.deploy()
    _, receipt = chain.call(agent, "run_strategy")
    assert output(receipt) == 1
    _, receipt = chain.call(agent, "evolve", ":strategy\n  SET ACC = 2\n  RET\n")
    assert receipt.ok, receipt.error
    assert output(receipt) == COUNTER_CODE.code_id  # the snapshot: the code before
    _, receipt = chain.call(agent, "run_strategy")
    assert output(receipt) == 2
    first, modify = chain.ledger.lineage(agent)
    assert first.kind is LineageKind.DEPLOY
    assert modify.kind is LineageKind.SELF_MODIFY and modify.region == "STRATEGY"
    assert modify.parents == (COUNTER_CODE.code_id,)
    assert chain.ledger.agent(agent).code_id == modify.code_id
    assert chain.ledger.code(COUNTER_CODE.code_id) == COUNTER_CODE  # every version stays


def test_self_modify_of_a_locked_region_is_refused_and_changes_nothing(chain):
    agent = chain.deploy()
    _, receipt = chain.call(agent, "evolve_locked")
    assert not receipt.ok and receipt.error.startswith("permission_denied")
    assert "CORE is locked" in receipt.error
    assert len(chain.ledger.lineage(agent)) == 1
    assert chain.ledger.agent(agent).code_id == COUNTER_CODE.code_id


def test_fork_agent_deploys_a_child_from_the_agent_s_own_nonce(chain):
    agent = chain.deploy()
    _, receipt = chain.call(agent, "fork")
    assert receipt.ok, receipt.error
    child = output(receipt)
    assert child == agents.agent_address(agent, 0)
    assert chain.ledger.account(agent).nonce == 1
    (change,) = chain.ledger.lineage(child)
    assert change.kind is LineageKind.FORK and change.parent_agents == (agent,)
    assert [log.name for log in receipt.logs] == ["AgentDeployed"]
    _, receipt = chain.call(child, "bump", 3)
    assert output(receipt) == 3


PARENT = """
:main
  CALL strategy
  RETURN ACC
.region STRATEGY self
:strategy
  SET ACC = {n}
  RET
.test gives_{n}
  entry main
  expect {n}
.endtest
.endregion
.region GOV council
  NOP
.endregion
:cross
  CROSSOVER "self", ARGS[0], ["STRATEGY"]
  RETURN ACC
:propose
  SELF_MODIFY "GOV", "HALT"
  RETURN ACC
"""


def test_crossover_deploys_a_child_with_both_parents_in_its_lineage(chain):
    code_a, code_b = (assemble(PARENT.format(n=n)).code for n in (1, 5))
    a = chain.deploy(code=code_a)
    b = chain.deploy(key=BOB, code=code_b)
    _, receipt = chain.call(a, "cross", b)
    assert receipt.ok, receipt.error
    result = output(receipt)
    assert result.get("reason") is None
    child = result.get("child")
    (change,) = chain.ledger.lineage(child)
    assert change.kind is LineageKind.CROSSOVER
    assert change.parents == (code_a.code_id, code_b.code_id)
    assert change.parent_agents == (a, b)
    _, receipt = chain.call(child, "main")
    assert output(receipt) == 5


def test_self_modify_of_a_council_region_files_a_governance_proposal(chain):
    code = assemble(PARENT.format(n=1)).code
    deposit = GENESIS.governance.min_deposit
    poor = chain.deploy(code=code)
    _, receipt = chain.call(poor, "propose")
    assert not receipt.ok and "the deposit is" in receipt.error  # it cannot pay the deposit
    agent = chain.deploy(code=code, value=deposit)
    _, receipt = chain.call(agent, "propose")
    assert receipt.ok, receipt.error
    proposal_id = output(receipt)
    proposal = load_proposal(State(chain.ledger), proposal_id)
    assert (proposal.proposer, proposal.region, proposal.base_code_id) == (
        agent,
        "GOV",
        code.code_id,
    )
    assert proposal.spec.deposit == deposit and chain.ledger.account(agent).balance == 0
    assert proposal.status.value == "voting"  # sandboxed at the end of its block
    assert [log.name for log in receipt.logs] == ["ProposalSubmitted"]
    assert chain.ledger.agent(agent).code_id == code.code_id  # nothing changes until enacted


def test_a_gas_limit_above_the_block_gas_limit_is_not_included(chain):
    agent = chain.deploy()
    limit = GENESIS.block_gas_limit + 1
    greedy = tx(ALICE, chain.next_nonce(ALICE), Call(agent, "spin", ()), limit)
    last = chain.ledger.commit_certificate(chain.ledger.height)
    pending = chain.ledger.build_block([greedy], GENESIS.timestamp + 99, PROPOSER, last)
    assert "above the block gas limit" in pending.left_out[0][1]


def test_replaying_the_blocks_on_a_second_ledger_gives_the_same_state_roots(chain, tmp_path):
    agent = chain.deploy(value=500)
    chain.send(BOB, TokenCreate("GOLD", "Gold", 500, 0))
    chain.send(BOB, Transfer(agent, 50, "GOLD"))
    chain.call(agent, "bump", 5)
    chain.call(agent, "pay", STRANGER.address, 20, "GOLD")
    chain.call(agent, "pay_then_fail", STRANGER.address, 10)
    chain.call(agent, "spin", gas_limit=60_000)
    chain.call(agent, "evolve", ":strategy\n  SET ACC = 3\n  RET\n")
    chain.call(agent, "fork")
    several = [tx(CAROL, chain.next_nonce(CAROL), Call(agent, "bump", (i,))) for i in range(1, 4)]
    chain.produce(*several)
    second = Ledger(tmp_path / "b", GENESIS)
    try:
        for pending in chain.blocks:
            replayed = second.execute_block(pending.block)
            assert replayed.block.header.state_root == pending.block.header.state_root
            assert replayed.receipts == pending.receipts
            assert replayed.replays == pending.replays
            second.commit(replayed, chain.validator.certify(replayed))
        assert second.agent_storage(agent, kv_key("count")) == encode_value(11)
    finally:
        second.close()


def scenario(path: Path) -> str:
    """State roots and trace hashes of a chain of agent transactions, as one line."""
    chain = Chain(path)
    try:
        agent = chain.deploy(value=500, storage=[(kv_key("count"), encode_value(1))])
        chain.send(BOB, TokenCreate("GOLD", "Gold", 500, 0))
        chain.send(BOB, Transfer(agent, 50, "GOLD"))
        calls = [
            chain.call(agent, "bump", 5)[0],
            chain.call(agent, "pay", STRANGER.address, 20, "GOLD")[0],
            chain.call(agent, "pay_then_fail", STRANGER.address, 10)[0],
            chain.call(agent, "evolve", ':strategy\n  SET ACC = {1: [2, x"03"]}\n  RET\n')[0],
            chain.call(agent, "fork")[0],
        ]
        roots = [p.block.header.state_root.hex() for p in chain.blocks]
        traces = [
            trace_hash(agents.replay(chain.ledger.replay_record(c.hash), chain.ledger).trace)
            for c in calls
        ]
        return " ".join(roots + [t.hex() for t in traces])
    finally:
        chain.ledger.close()


def test_agent_blocks_give_the_same_roots_and_traces_under_any_hash_seed(tmp_path):
    """Nothing depends on the order of a set or a dict of the process: run it twice."""
    here = Path(__file__).resolve().parent
    program = (
        f"import sys; sys.path[:0] = [{str(here)!r}, {str(here.parents[1])!r}]\n"
        "from pathlib import Path\nfrom test_agents import scenario\n"
        "print(scenario(Path(sys.argv[1])))"
    )
    outputs = []
    for seed in ("1", "4242"):
        done = subprocess.run(
            [sys.executable, "-c", program, str(tmp_path / seed)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=False,
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1] and len(outputs[0].split()) == 13


def test_a_dry_run_on_an_overlay_commits_nothing(chain):
    agent = chain.deploy()
    root = chain.ledger.head.state_root
    state = State(chain.ledger)
    state.begin()
    outcome = agents.call(state, BOB.address, Call(agent, "bump", (4,)), 10**6, 5, 6, trace=True)
    assert outcome.result.value == 4 and outcome.result.trace
    assert chain.ledger.agent_storage(agent, kv_key("count")) is None
    assert chain.ledger.head.state_root == root


# ---- the State's nested journals ---------------------------------------------------------------


class Base:
    def __init__(self, entries: dict[bytes, bytes]) -> None:
        self.entries = entries

    def get_state(self, key: bytes) -> bytes | None:
        return self.entries.get(key)


def test_nested_checkpoints_commit_and_roll_back_exactly_their_writes():
    state = State(Base({b"a": b"0"}))
    state.begin()
    state.put(b"a", b"1")
    outer = state.checkpoint()
    state.put(b"b", b"2")
    inner = state.checkpoint()
    state.put(b"a", b"3")
    assert state.get(b"a") == b"3"
    state.rollback(inner)
    assert state.get(b"a") == b"1" and state.get(b"b") == b"2"
    inner = state.checkpoint()
    state.put(b"c", b"4")
    state.commit(inner)
    assert state.get(b"c") == b"4"
    state.rollback(outer)
    assert (state.get(b"b"), state.get(b"c"), state.get(b"a")) == (None, None, b"1")
    state.commit()
    assert state.changes() == {b"a": b"1"}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["put", "checkpoint", "commit", "rollback"]),
            st.sampled_from([b"x", b"y", b"z"]),
            st.integers(0, 9),
        ),
        max_size=40,
    )
)
def test_nested_journals_behave_like_copies_of_a_dict(ops):
    state = State(Base({}))
    state.begin()
    model: dict[bytes, bytes | None] = {}
    saved: list[tuple[int, dict[bytes, bytes | None]]] = []
    for op, key, value in ops:
        if op == "put":
            state.put(key, bytes([value]))
            model[key] = bytes([value])
        elif op == "checkpoint":
            saved.append((state.checkpoint(), dict(model)))
        elif saved and op == "commit":
            state.commit(saved.pop()[0])
        elif saved:
            checkpoint, model = saved.pop()
            state.rollback(checkpoint)
        for k in (b"x", b"y", b"z"):
            assert state.get(k) == model.get(k)


# ---- payload validation ------------------------------------------------------------------------


def _decode_payload(kind: TxKind, payload: list) -> None:
    value = [GENESIS.chain_id, int(kind), ALICE.pubkey, 0, GAS, PRICE, payload, bytes(64)]
    decode_transaction(encode(value))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([b"not code", [], 0], "code"),
        ([COUNTER_CODE.to_bytes(), [[b"k\xc0", b"\x01"]], 0], "KV key"),
        ([COUNTER_CODE.to_bytes(), [[b"x", encode_value(1)]], 0], "storage key"),
        ([COUNTER_CODE.to_bytes(), [[kv_key("a"), b"\xc1"]], 0], "encoded AVM value"),
        (
            [
                COUNTER_CODE.to_bytes(),
                [[kv_key("b"), encode_value(1)], [kv_key("a"), encode_value(1)]],
                0,
            ],
            "ascending",
        ),
        ([COUNTER_CODE.to_bytes(), [], -1], "value"),
        ([COUNTER_CODE.to_bytes(), []], "3 fields"),
    ],
)
def test_bad_deploy_payloads_are_refused(payload, reason):
    with pytest.raises((InvalidTransaction, DecodeError), match=reason):
        _decode_payload(TxKind.DEPLOY, payload)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([b"\x01" * 19, "main", [0, []], 0], "agent"),
        ([b"\x01" * 20, "no label", [0, []], 0], "entry"),
        ([b"\x01" * 20, "x" * 200, [0, []], 0], "entry"),
        ([b"\x01" * 20, "main", [1, []], 0], "list"),
        ([b"\x01" * 20, "main", [0, [[9, []]]], 0], "args"),
        ([b"\x01" * 20, "main", 5, 0], "list"),
        ([b"\x01" * 20, "main", [0, []], 2**128], "value"),
    ],
)
def test_bad_call_payloads_are_refused(payload, reason):
    with pytest.raises((InvalidTransaction, DecodeError), match=reason):
        _decode_payload(TxKind.CALL, payload)


def test_agent_payloads_round_trip_through_the_wire():
    storage = ((KV_PREFIX + encode_value(1), encode_value((1, "a"))),)
    deploy = tx(ALICE, 0, Deploy(COUNTER_CODE.to_bytes(), storage, 3))
    call = tx(ALICE, 1, Call(b"\x01" * 20, "bump", (1, "two", b"3", (4,)), 9))
    for stx in (deploy, call):
        again = decode_transaction(stx.raw)
        assert again.tx == stx.tx and again.tx.has_valid_signature()
    assert call.tx.payload.to_value()[2] == to_wire((1, "two", b"3", (4,)))


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_mutated_agent_transactions_decode_or_fail_cleanly(position, byte):
    raw = bytearray(tx(ALICE, 0, Call(b"\x01" * 20, "bump", (1, "x"), 2)).raw)
    raw[position % len(raw)] = byte
    with contextlib.suppress(DecodeError, InvalidTransaction):
        decode_transaction(bytes(raw))
