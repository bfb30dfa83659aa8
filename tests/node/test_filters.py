"""Ethereum's polled filters and log criteria (node/rpc/filters.py), on a clock the test moves."""

from __future__ import annotations

import pytest

from core.crypto import hash32
from core.rpc import INVALID_PARAMS, LIMIT_EXCEEDED, NOT_FOUND
from ledger.receipt import LocatedLog, Log, emitter, topic_word, topics
from node.rpc.errors import RpcError
from node.rpc.filters import BlockLog, BlockLogs, Filters, LogCriteria, log_criteria
from node.rpc.limits import FILTER_TIMEOUT, MAX_FILTER_ADDRESSES, MAX_TOPIC_CHOICES

ALICE, BOB, CAROL = (hash32(name)[:20] for name in (b"alice", b"bob", b"carol"))


def hexed(raw: bytes) -> str:
    return "0x" + raw.hex()


def block_logs(height: int, *entries: Log) -> BlockLogs:
    """A block's logs, one transaction each."""
    block_hash = hash32(b"block %d" % height)
    return BlockLogs(
        BlockLog(
            LocatedLog(entry, height, block_hash, hash32(b"tx %d" % i), i, i),
            emitter(entry),
            topics(entry),
        )
        for i, entry in enumerate(entries)
    )


def transfer(sender: bytes, to: bytes, amount: int) -> Log:
    return Log("Transfer", (sender, to, amount, ""))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# Criteria


def test_criteria_take_one_address_or_a_list_and_topics_by_position() -> None:
    one = log_criteria({"address": hexed(ALICE)})
    assert one == LogCriteria(frozenset({ALICE}))
    both = log_criteria({"address": [hexed(ALICE), hexed(BOB)], "topics": None})
    assert both.addresses == {ALICE, BOB} and both.topics == ()
    word = topic_word("Transfer")
    positions = log_criteria({"topics": [hexed(word), None, [hexed(topic_word(5))], None, []][:4]})
    assert positions.topics == (frozenset({word}), frozenset(), frozenset({topic_word(5)}))


def test_criteria_match_any_address_and_every_named_position() -> None:
    entry = transfer(ALICE, BOB, 5)
    found = topics(entry)
    assert LogCriteria().matches(ALICE, found)
    assert LogCriteria(frozenset({ALICE, CAROL})).matches(ALICE, found)
    assert not LogCriteria(frozenset({BOB})).matches(ALICE, found)
    any_first = LogCriteria(topics=(frozenset(), frozenset({topic_word(BOB)})))
    assert any_first.matches(ALICE, found)
    assert not LogCriteria(topics=(frozenset(), frozenset({topic_word(CAROL)}))).matches(
        ALICE, found
    )
    beyond = (frozenset(),) * 4 + (frozenset({topic_word(1)}),)
    assert not LogCriteria(topics=beyond).matches(ALICE, found)


@pytest.mark.parametrize(
    ("spec", "code", "says"),
    [
        ({"topics": [None] * 5}, INVALID_PARAMS, "at most 4 topics"),
        ({"topics": "0x00"}, INVALID_PARAMS, "topics must be a list"),
        ({"topics": ["0x1234"]}, INVALID_PARAMS, "32 bytes"),
        ({"address": "0x1234"}, INVALID_PARAMS, "not an address"),
        ({"address": ["0x00"] * (MAX_FILTER_ADDRESSES + 1)}, LIMIT_EXCEEDED, "at most"),
        ({"topics": [["0x00"] * (MAX_TOPIC_CHOICES + 1)]}, LIMIT_EXCEEDED, "alternatives"),
    ],
)
def test_bad_criteria_are_refused_naming_the_problem(
    spec: dict[str, object], code: int, says: str
) -> None:
    with pytest.raises(RpcError) as refused:
        log_criteria(spec)
    assert refused.value.code == code and says in refused.value.message


def test_block_logs_find_by_address_and_first_topic_in_block_order() -> None:
    logs = block_logs(7, transfer(BOB, ALICE, 1), Log("Named", ("masha",)), transfer(ALICE, BOB, 2))
    by_address = logs.matching(LogCriteria(frozenset({ALICE, BOB})))
    assert [e.located.log_index for e in by_address] == [0, 2]
    by_topic = logs.matching(LogCriteria(topics=(frozenset({topic_word("Named")}),)))
    assert [e.located.log_index for e in by_topic] == [1]
    second = LogCriteria(topics=(frozenset(), frozenset({topic_word(BOB)})))
    assert [e.located.log_index for e in logs.matching(second)] == [2]
    assert logs.view(by_address[1])["logIndex"] == "0x2"


# Filters


def test_a_block_filter_collects_hashes_until_polled() -> None:
    filters = Filters(Clock())
    blocks = filters.new_block_filter()
    assert filters.changes(blocks) == []
    first, second = block_logs(1), block_logs(2)
    filters.record(1, hash32(b"block 1"), first)
    filters.record(2, hash32(b"block 2"), second)
    assert filters.changes(blocks) == [hexed(hash32(b"block 1")), hexed(hash32(b"block 2"))]
    assert filters.changes(blocks) == []
    assert len(blocks) == 34  # as geth's ids: 16 random bytes


def test_a_log_filter_collects_matching_logs_within_its_block_range() -> None:
    filters = Filters(Clock())
    to_bob = LogCriteria(topics=(frozenset(), frozenset({topic_word(BOB)})))
    open_ended = filters.new_log_filter(to_bob, None, None)
    bounded = filters.new_log_filter(LogCriteria(frozenset({ALICE})), 2, 3)
    elsewhere = filters.new_log_filter(LogCriteria(frozenset({CAROL})), None, None)
    for height in (1, 2, 3, 4):
        logs = block_logs(height, transfer(ALICE, BOB, height))
        filters.record(height, hash32(b"%d" % height), logs)

    def heights(filter_id: str) -> list[object]:
        return [view["blockNumber"] for view in filters.changes(filter_id)]  # type: ignore[index]

    assert heights(open_ended) == ["0x1", "0x2", "0x3", "0x4"]
    assert heights(bounded) == ["0x2", "0x3"]
    assert heights(elsewhere) == []


def test_filters_expire_five_minutes_after_their_last_poll() -> None:
    clock = Clock()
    filters = Filters(clock)
    polled, forgotten = filters.new_block_filter(), filters.new_block_filter()
    clock.now += FILTER_TIMEOUT - 1
    filters.changes(polled)
    clock.now += 2  # `forgotten` was last touched FILTER_TIMEOUT + 1 s ago
    with pytest.raises(RpcError) as gone:
        filters.changes(forgotten)
    assert gone.value.code == NOT_FOUND and "expire" in gone.value.message
    assert filters.changes(polled) == [] and len(filters) == 1
    clock.now += FILTER_TIMEOUT + 1
    filters.record(9, hash32(b"9"), block_logs(9))  # a block sweeps the expired too
    assert len(filters) == 0


def test_past_the_cap_new_filters_are_refused_until_one_is_uninstalled() -> None:
    filters = Filters(Clock(), limit=3)
    ids = [filters.new_block_filter() for _ in range(3)]
    with pytest.raises(RpcError) as refused:
        filters.new_log_filter(LogCriteria(), None, None)
    assert refused.value.code == LIMIT_EXCEEDED and "3 filters" in refused.value.message
    assert filters.uninstall(ids[0]) is True and filters.uninstall(ids[0]) is False
    assert filters.uninstall(12) is False
    filters.new_block_filter()


def test_a_filter_that_collects_too_much_is_dropped_with_the_reason() -> None:
    filters = Filters(Clock(), max_changes=2)
    blocks = filters.new_block_filter()
    for height in range(3):
        filters.record(height, hash32(b"%d" % height), block_logs(height))
    with pytest.raises(RpcError) as dropped:
        filters.changes(blocks)
    assert dropped.value.code == LIMIT_EXCEEDED and "eth_getLogs" in dropped.value.message
    with pytest.raises(RpcError) as gone:
        filters.changes(blocks)
    assert gone.value.code == NOT_FOUND


def test_an_unknown_filter_is_not_found() -> None:
    with pytest.raises(RpcError) as unknown:
        Filters(Clock()).changes("0x" + "00" * 16)
    assert unknown.value.code == NOT_FOUND
