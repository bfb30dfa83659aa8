"""Scheduled execution on chain (SCHEDULE_TASK by a deployed agent) over a real ledger: runs at
the first block past each due time, by whole periods, paid at the registering price; a fixed
order; the per-block budget; unpaid tasks dropped; cancelling; the same roots on a second
ledger."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_agents import ALICE, BOB, PRICE, PROPOSER, Chain, output, tx

from avm.assembler import assemble
from avm.instructions.storage import kv_key
from avm.values import encode_value
from ledger import scheduler
from ledger.schedule import TASK_GAS, load_task
from ledger.tx import Call, Deploy

TICKER = assemble(
    """
:setup
  SCHEDULE_TASK "tick", ARGS[0] -> ok
  RETURN ok
:tick
  KV_FETCH "ticks" -> n
  IF n == NULL THEN
    SET n = 0
  ENDIF
  ADD n, 1 -> n
  KV_STORE "ticks", n
  BLOCK_HEIGHT -> h
  KV_STORE "last", h
  CALLER -> who
  KV_STORE "caller", who
  RETURN n
:cancel
  SCHEDULE_TASK "tick", 0 -> ok
  RETURN ok
:nowhere
  SCHEDULE_TASK "missing", 60 -> ok
  JUMP_IF_PLUGIN_FAILED refused
  RETURN ok
:refused
  RETURN "refused"
"""
).code
FUNDS = 10**18  # enough to prepay many runs at the dev gas price


@pytest.fixture
def chain(tmp_path: Path):
    c = Chain(tmp_path / "a")
    yield c
    c.ledger.close()


def ticker(chain: Chain, key=ALICE, funds: int = FUNDS) -> bytes:
    _, receipt = chain.send(key, Deploy(TICKER.to_bytes(), (), funds))
    assert receipt.ok, receipt.error
    return output(receipt)


def stored(chain: Chain, agent: bytes, name: str):
    return chain.ledger.agent_storage(agent, kv_key(name))


def test_a_task_runs_at_the_first_block_past_each_due_time_paid_at_its_price(chain):
    agent = ticker(chain)
    _, registered = chain.call(agent, "setup", 25)  # blocks are 10 s apart here
    assert output(registered) is True
    task = load_task(chain.ledger_state(), agent, "tick")
    assert task is not None and task.gas_price == PRICE and task.interval == 25
    start = chain.ledger.head.timestamp
    heights = []
    for _ in range(8):
        before = chain.ledger.account(agent).balance
        proposer_before = chain.ledger.account(PROPOSER).balance
        pending = chain.produce()
        if pending.task_runs:
            (run,) = pending.task_runs
            heights.append(pending.block.height)
            fee = run.gas_used * PRICE
            assert chain.ledger.account(agent).balance == before - fee
            assert chain.ledger.account(PROPOSER).balance == proposer_before + fee
    # Due at start+25, +50, +75: the blocks at start+30, +50, +80 (10 s apart).
    assert [chain.ledger.block(h).header.timestamp - start for h in heights] == [30, 50, 80]
    assert stored(chain, agent, "ticks") == encode_value(3)
    assert stored(chain, agent, "caller") == encode_value(agent)  # the agent calls itself


def test_tasks_run_in_order_of_due_time_then_agent_within_the_block_budget(chain, monkeypatch):
    agents_ = [ticker(chain) for _ in range(3)]
    # Registered in one block, so all three fall due together.
    chain.produce(*(tx(ALICE, chain.next_nonce(ALICE), Call(a, "setup", (10,))) for a in agents_))
    # A run starts only while a whole TASK_GAS fits what is left; each uses ~1,200: two fit.
    monkeypatch.setattr(scheduler, "BLOCK_TASK_GAS", TASK_GAS + 1_500)
    first = chain.produce()
    assert [run.task.agent for run in first.task_runs] == sorted(agents_)[:2]
    second = chain.produce()
    assert second.task_runs[0].task.agent == sorted(agents_)[2]  # it waited, and runs first


def test_a_task_whose_agent_cannot_prepay_is_dropped(chain):
    agent = ticker(chain, funds=0)
    chain.call(agent, "setup", 10)
    pending = chain.produce()
    (run,) = pending.task_runs
    assert run.dropped and "cannot prepay" in run.error
    assert load_task(chain.ledger_state(), agent, "tick") is None
    assert not chain.produce().task_runs


def test_interval_zero_cancels_and_an_unknown_label_is_a_failed_call(chain):
    agent = ticker(chain)
    chain.call(agent, "setup", 10)
    chain.call(agent, "cancel")
    assert load_task(chain.ledger_state(), agent, "tick") is None
    assert not chain.produce().task_runs
    _, refused = chain.call(agent, "nowhere")
    assert output(refused) == "refused"


def test_a_second_ledger_runs_the_same_tasks_to_the_same_roots(chain, tmp_path):
    one, two = ticker(chain), ticker(chain, key=BOB)
    chain.call(one, "setup", 15)
    chain.call(two, "setup", 20, key=BOB)
    for _ in range(6):
        chain.produce()
    other = Chain(tmp_path / "b")
    try:
        for pending in chain.blocks:
            replayed = other.ledger.execute_block(pending.block)
            assert replayed.task_runs == pending.task_runs
            other.ledger.commit(replayed, other.validator.certify(replayed))
        assert other.ledger.head == chain.ledger.head
    finally:
        other.ledger.close()


def test_a_block_takes_up_a_bounded_number_of_due_tasks_drops_included(chain, monkeypatch):
    broke = [ticker(chain, funds=0) for _ in range(3)]
    chain.produce(*(tx(ALICE, chain.next_nonce(ALICE), Call(a, "setup", (10,))) for a in broke))
    monkeypatch.setattr(scheduler, "MAX_TASK_RUNS", 2)
    assert [run.dropped for run in chain.produce().task_runs] == [True, True]
    assert [run.dropped for run in chain.produce().task_runs] == [True]  # the rest, next block


EXAMPLES = Path(__file__).resolve().parents[2] / "avm" / "examples"


def test_the_papers_trading_agent_as_two_agents_rebalances_hourly_on_chain(chain):
    strategy = deploy_file(chain, "trading_strategy.air")
    desk = BOB.address
    storage = sorted(
        [
            (kv_key("owner"), encode_value(ALICE.address)),
            (kv_key("strategy"), encode_value(strategy)),
            (kv_key("desk"), encode_value(desk)),
        ]
    )
    treasury = deploy_file(chain, "trading_treasury.air", tuple(storage), value=FUNDS)
    _, started = chain.call(treasury, "start")
    assert output(started) is True
    hour = chain.ledger.head.timestamp + 3600  # the first rebalance is due then
    _, refused = chain.call(treasury, "signal", 70, key=BOB)
    assert not refused.ok and "only the owner" in refused.error
    _, signalled = chain.call(treasury, "signal", 70)
    assert signalled.ok
    desk_before = chain.ledger.account(desk).balance
    chain.produce(timestamp=hour - 1)
    assert chain.ledger.account(desk).balance == desk_before  # not yet due
    pending = chain.produce(timestamp=hour)
    (run,) = pending.task_runs
    assert run.ok, run.error
    paid = chain.ledger.account(desk).balance - desk_before
    assert paid == FUNDS // 10  # a tenth of what the treasury held (the signal was bullish)
    fee = run.gas_used * PRICE
    assert chain.ledger.account(treasury).balance == FUNDS - paid - fee


def deploy_file(chain: Chain, name: str, storage=(), value: int = 0) -> bytes:
    code = assemble((EXAMPLES / name).read_text()).code
    _, receipt = chain.send(ALICE, Deploy(code.to_bytes(), storage, value))
    assert receipt.ok, receipt.error
    return output(receipt)
