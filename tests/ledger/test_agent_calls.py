"""One agent calling another on chain (CALL_AGENT, STATIC_CALL_AGENT) over a real ledger: value
and gas that sum exactly, a callee's trap rolled back with the caller going on, the depth bound,
read-only calls, no re-entry, and a replay on a second ledger giving the same roots."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_agents import ALICE, GAS, PROPOSER, Chain, output

from avm.assembler import assemble
from avm.errors import TraceTooLong
from avm.gas import CURRENT
from avm.host import MAX_AGENT_CALL_DEPTH
from avm.instructions.storage import kv_key
from avm.values import encode_value
from ledger import agents
from ledger.state import State
from ledger.tx import Call, Deploy

CALLEE = assemble(
    """
:double
  MUL ARGS[0], 2 -> r
  KV_STORE "last", r
  LOG "doubled", r
  RETURN r
:boom
  KV_STORE "last", 999
  CALLER -> c
  PAY_AGENT c, 1 -> paid
  REVERT "the callee says no"
:read
  KV_FETCH "last" -> v
  RETURN v
:write
  KV_STORE "x", 1
  RETURN 1
:whoami
  CALLER -> c
  RETURN c
:back
  CALLER -> c
  CALL_AGENT c, "ping" -> r
  JUMP_IF_PLUGIN_FAILED refused
  RETURN r
:refused
  RETURN "refused"
:spin
  SET n = 0
:loop
  ADD n, 1 -> n
  JUMP loop
"""
).code

CALLER = assemble(
    """
:call
  CALL_AGENT ARGS[0], ARGS[1], ARGS[2], ARGS[3] -> r
  JUMP_IF_PLUGIN_FAILED failed
  KV_STORE "got", r
  RETURN r
:failed
  KV_STORE "after", "went on"
  RETURN "failed"
:static
  STATIC_CALL_AGENT ARGS[0], ARGS[1] -> r
  JUMP_IF_PLUGIN_FAILED failed
  RETURN r
:ping
  RETURN "pong"
:chain
  ;; ARGS[0]: the agents still to call, in order
  IF ARGS[0] == [] THEN
    RETURN 0
  ENDIF
  GET ARGS[0], 0 -> next
  SLICE ARGS[0], 1 -> rest
  CALL_AGENT next, "chain", [rest] -> depth
  JUMP_IF_PLUGIN_FAILED refused
  ADD depth, 1 -> depth
  RETURN depth
:refused
  KV_STORE "refused", true
  RETURN 0
"""
).code


@pytest.fixture
def chain(tmp_path: Path):
    c = Chain(tmp_path / "a")
    yield c
    c.ledger.close()


def deploy(chain: Chain, code, value: int = 0) -> bytes:
    _, receipt = chain.send(ALICE, Deploy(code.to_bytes(), (), value))
    assert receipt.ok, receipt.error
    return output(receipt)


def supply(chain: Chain, *addresses: bytes) -> int:
    return sum(chain.ledger.account(a).balance for a in addresses)


def test_a_call_with_value_returns_pays_and_sums_exactly(chain):
    callee, caller = deploy(chain, CALLEE), deploy(chain, CALLER, value=1000)
    before = supply(chain, ALICE.address, PROPOSER, callee, caller)
    _, receipt = chain.call(caller, "call", callee, "double", (21,), 300)
    assert receipt.ok, receipt.error
    assert output(receipt) == 42
    assert chain.ledger.agent_storage(caller, kv_key("got")) == encode_value(42)
    assert chain.ledger.agent_storage(callee, kv_key("last")) == encode_value(42)
    assert chain.ledger.account(callee).balance == 300
    assert chain.ledger.account(caller).balance == 700
    assert supply(chain, ALICE.address, PROPOSER, callee, caller) == before  # fees to the proposer
    names = [log.name for log in receipt.logs]
    assert names == ["Transfer", "log"]  # the value sent, then the callee's LOG
    assert receipt.logs[1].values[0] == callee  # filed under the agent that emitted it


def test_a_trapping_callee_is_rolled_back_and_the_caller_goes_on(chain):
    callee, caller = deploy(chain, CALLEE), deploy(chain, CALLER, value=1000)
    _, receipt = chain.call(caller, "call", callee, "boom", (), 300)
    assert receipt.ok, receipt.error
    assert output(receipt) == "failed"
    assert chain.ledger.agent_storage(callee, kv_key("last")) is None  # its write undone
    assert chain.ledger.account(callee).balance == 0  # the value came back
    assert chain.ledger.account(caller).balance == 1000
    assert chain.ledger.agent_storage(caller, kv_key("after")) == encode_value("went on")
    assert receipt.logs == ()  # the callee's payment event went with its frame


def test_the_callee_gets_63_64ths_of_the_gas_and_its_use_is_charged_to_the_caller(chain):
    callee, caller = deploy(chain, CALLEE), deploy(chain, CALLER)
    limit = 1_000_000
    _, spun = chain.call(caller, "call", callee, "spin", (), 0, gas_limit=limit)
    assert spun.ok and output(spun) == "failed"  # the callee ran out of its share; not the caller
    assert limit * 62 // 64 < spun.gas_used < limit  # its share burnt, the caller's 1/64 kept


def test_the_callee_sees_the_calling_agent_as_its_caller(chain):
    callee, caller = deploy(chain, CALLEE), deploy(chain, CALLER)
    _, receipt = chain.call(caller, "call", callee, "whoami", (), 0)
    assert output(receipt) == caller


def test_read_only_calls_read_but_never_write(chain):
    callee, caller = deploy(chain, CALLEE), deploy(chain, CALLER)
    chain.call(caller, "call", callee, "double", (5,), 0)
    _, read = chain.call(caller, "static", callee, "read")
    assert output(read) == 10
    _, write = chain.call(caller, "static", callee, "write")
    assert write.ok and output(write) == "failed"
    assert chain.ledger.agent_storage(callee, kv_key("x")) is None


def test_an_agent_is_never_re_entered(chain):
    callee, caller = deploy(chain, CALLEE), deploy(chain, CALLER)
    _, receipt = chain.call(caller, "call", callee, "back", (), 0)
    assert output(receipt) == "refused"  # the callee could not call its caller back


def test_calls_stop_at_the_depth_bound(chain):
    hops = [deploy(chain, CALLER) for _ in range(MAX_AGENT_CALL_DEPTH + 1)]
    _, within = chain.call(
        hops[0], "chain", tuple(hops[1:MAX_AGENT_CALL_DEPTH]), gas_limit=GAS * 10
    )
    assert within.ok and output(within) == MAX_AGENT_CALL_DEPTH - 1
    assert all(chain.ledger.agent_storage(h, kv_key("refused")) is None for h in hops)
    _, beyond = chain.call(hops[0], "chain", tuple(hops[1:]), gas_limit=GAS * 10)
    assert beyond.ok and output(beyond) == MAX_AGENT_CALL_DEPTH - 1
    deepest = hops[MAX_AGENT_CALL_DEPTH - 1]  # the agent that could not call one more
    assert chain.ledger.agent_storage(deepest, kv_key("refused")) == encode_value(True)


def test_a_second_ledger_replays_nested_calls_to_the_same_roots(chain, tmp_path):
    callee, caller = deploy(chain, CALLEE), deploy(chain, CALLER, value=1000)
    chain.call(caller, "call", callee, "double", (21,), 300)
    chain.call(caller, "call", callee, "boom", (), 300)
    chain.call(caller, "static", callee, "read")
    other = Chain(tmp_path / "b")
    try:
        for pending in chain.blocks:
            replayed = other.ledger.execute_block(pending.block)
            other.ledger.commit(replayed, other.validator.certify(replayed))
        assert other.ledger.head == chain.ledger.head
    finally:
        other.ledger.close()


def test_a_traced_replay_shows_the_callee_s_frame(chain):
    callee, caller = deploy(chain, CALLEE), deploy(chain, CALLER)
    stx, _ = chain.call(caller, "call", callee, "double", (21,), 0)
    replayed = agents.replay(chain.ledger.replay_record(stx.hash), chain.ledger)
    assert replayed.result.value == 42
    (entry,) = [e for e in replayed.trace if e.opcode == "CALL_AGENT"]
    frame = dict(entry.notes)["frame"]
    assert [opcode for _, opcode, _ in frame] == ["GET", "MUL", "KV_STORE", "LOG", "RETURN"]
    # The call's own price, and every milligas its callee used, charged to it.
    assert entry.gas == CURRENT.call_agent_base + sum(gas for _, _, gas in frame)


def test_a_traced_call_counts_the_callee_s_instructions_against_the_trace_limit(chain):
    callee, caller = deploy(chain, CALLEE), deploy(chain, CALLER)
    state = State(chain.ledger)
    state.begin()
    payload = Call(caller, "call", (callee, "spin", (), 0), 0)
    with pytest.raises(TraceTooLong):
        agents.call(state, ALICE.address, payload, 10_000_000, 1, 0, trace=True, trace_limit=500)
    state.rollback()
