"""State at past blocks, rolling blocks back (a dev chain's revert) and the log index."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_agents import ALICE, BOB, COUNTER_CODE, GENESIS, Chain

from core.crypto import hash32
from ledger.chain import HistoryUnavailable, Ledger, TooManyLogs
from ledger.receipt import LogCriteria, emitter, topic_word, topics
from ledger.state import Account, State
from ledger.tx import Transfer


def by(emitters=(), topics=()) -> LogCriteria:
    return LogCriteria(frozenset(emitters), tuple(frozenset(t) for t in topics))


@pytest.fixture
def chain(tmp_path: Path):
    c = Chain(tmp_path / "a")
    yield c
    c.ledger.close()


def test_balances_read_at_past_blocks_are_those_blocks_balances(chain):
    seen = {0: chain.ledger.account(BOB.address).balance}
    for amount in (5, 7, 11):
        chain.send(ALICE, Transfer(BOB.address, amount))
        seen[chain.ledger.height] = chain.ledger.account(BOB.address).balance
    for height, balance in seen.items():
        header, reader = chain.ledger.state_at(height)
        assert header.height == height
        assert Chain.account_in(reader, BOB.address).balance == balance


def test_ranges_read_at_past_blocks_are_those_blocks_entries(chain):
    """A range at a past block: entries that existed then (changed or deleted since, or not
    created yet) as they were, in key order, within the limit."""
    seen = {}
    for amount in (5, 7, 11):
        chain.send(ALICE, Transfer(BOB.address, amount))
        seen[chain.ledger.height] = sorted(chain.ledger.state_range(b"a", b"b", 1000))
    chain.send(ALICE, Transfer(hash32(b"new")[:20], 1))  # an account created after them all
    for height, entries in seen.items():
        _, reader = chain.ledger.state_at(height)
        assert reader.state_range(b"a", b"b", 1000) == entries
        assert reader.state_range(b"a", b"b", 1) == entries[:1]
    assert len(chain.ledger.state_range(b"a", b"b", 1000)) == len(entries) + 1


def test_state_older_than_the_kept_window_is_refused_with_how_to_keep_it(tmp_path):
    chain = Chain(tmp_path / "p", history_blocks=2)
    ledger = chain.ledger
    for _ in range(4):
        chain.send(ALICE, Transfer(BOB.address, 1))
    assert ledger.oldest_state == 2
    ledger.state_at(2)
    with pytest.raises(HistoryUnavailable, match="--archive"):
        ledger.state_at(1)
    with pytest.raises(HistoryUnavailable, match="past the head"):
        ledger.state_at(5)
    ledger.close()


def test_reverting_restores_state_receipts_indexes_and_logs(chain):
    agent = chain.deploy()
    chain.call(agent, "bump", 1)
    mark = chain.ledger.height
    before = (chain.ledger.head, dict(chain.ledger.state_entries()))
    sent = [chain.send(ALICE, Transfer(BOB.address, n))[0] for n in range(1, 4)]
    bumped, _ = chain.call(agent, "bump", 2)
    later_agent = chain.deploy(BOB)
    assert chain.ledger.logs(mark + 1, chain.ledger.height)

    undone = chain.ledger.revert_to(mark)

    assert [stx.hash for stx in undone][:4] == [stx.hash for stx in [*sent, bumped]]
    assert (chain.ledger.head, dict(chain.ledger.state_entries())) == before
    assert chain.ledger.receipt(bumped.hash) is None
    assert chain.ledger.transaction(sent[0].hash) is None
    assert chain.ledger.agent(later_agent) is None
    assert chain.ledger.history(BOB.address) == []
    assert chain.ledger.logs(0, 10**6, by([agent])) == chain.ledger.logs(0, mark, by([agent]))
    names = [f.log.name for f in chain.ledger.logs(0, 10**6, by([agent]))]
    assert names == ["AgentDeployed", "log"]
    chain.ledger.close()
    reopened = Ledger(chain.ledger.path, GENESIS)  # the storage check passes after a revert
    assert reopened.head == before[0]
    reopened.close()


def test_a_reverted_chain_grows_again(chain):
    chain.send(ALICE, Transfer(BOB.address, 1))
    chain.ledger.revert_to(0)
    chain.nonces.clear()
    _, receipt = chain.send(ALICE, Transfer(BOB.address, 2))
    assert receipt.ok and chain.ledger.height == 1
    assert chain.ledger.account(ALICE.address).nonce == 1


def test_logs_are_found_by_emitter_and_by_topic_through_the_index(chain):
    agent = chain.deploy()
    other = chain.deploy(code=COUNTER_CODE, key=BOB)
    for n in (1, 2, 3):
        chain.call(agent, "bump", n)
    chain.call(other, "bump", 5)
    by_agent = chain.ledger.logs(0, chain.ledger.height, by([agent]))
    assert [topics(found.log)[1] for found in by_agent[1:]] == [topic_word(n) for n in (1, 3, 6)]
    assert {emitter(found.log) for found in by_agent} == {agent}
    bumped = chain.ledger.logs(0, chain.ledger.height, by(topics=[[topic_word("bumped")]]))
    assert [emitter(found.log) for found in bumped] == [agent] * 3 + [other]
    assert topic_word("bumped") == hash32(b"bumped")
    six = chain.ledger.logs(0, chain.ledger.height, by(topics=[[], [topic_word(6), topic_word(5)]]))
    assert [(emitter(f.log), f.height) for f in six] == [(agent, 5), (other, 6)]
    first = six[0]
    block = chain.ledger.block(first.height)
    assert block is not None and first.block_hash == block.hash
    assert first.tx_hash == hash32(block.transactions[first.tx_index])
    with pytest.raises(TooManyLogs):
        chain.ledger.logs(0, chain.ledger.height, by(topics=[[topic_word("bumped")]]), limit=3)


def test_a_block_prelude_writes_state_the_root_commits_to(chain):
    rich = Account(7, 123)
    pending = chain.ledger.build_block(
        [],
        GENESIS.timestamp + 1,
        chain.validator.proposer,
        chain.ledger.commit_certificate(0),
        prelude=lambda state: state.set_account(BOB.address, rich),
    )
    chain.ledger.commit(pending, chain.validator.certify(pending))
    assert chain.ledger.account(BOB.address) == rich
    chain.ledger.close()
    Ledger(chain.ledger.path, GENESIS).close()  # the state hashes to the head's root


def test_a_state_lists_keys_in_a_range_merging_its_writes_over_the_ledger(chain):
    chain.deploy()  # some committed state
    state = State(chain.ledger)
    committed = state.keys_in(b"a", b"b", 100)  # the accounts
    assert committed and committed == sorted(committed)
    state.put(committed[0], None)
    state.put(b"a" + b"\x00" * 20, b"x")  # a new key before every other
    state.put(b"c", b"outside the range")
    listed = state.keys_in(b"a", b"b", 100)
    assert listed == sorted({b"a" + b"\x00" * 20, *committed[1:]})
    assert state.keys_in(b"a", b"b", 2) == listed[:2]
