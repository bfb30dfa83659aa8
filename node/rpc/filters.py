"""Ethereum's log criteria and polled filters (eth_newFilter, eth_newBlockFilter,
eth_getFilterChanges), in memory, per node, fed by the node's block listener.

A filter collects what each committed block brings (the block's hash, or the logs that match)
until a client polls it. As geth does, a filter not polled for FILTER_TIMEOUT seconds is dropped.
At most MAX_FILTERS exist at once (more are refused), and a filter that collects more than
MAX_FILTER_CHANGES between two polls is dropped, its next poll answering why.
"""

from __future__ import annotations

import secrets
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from core.crypto import hash32
from core.rpc import LIMIT_EXCEEDED, NOT_FOUND
from ledger.receipt import MAX_TOPICS, LocatedLog, LogCriteria, emitter, topics
from node.node import BlockCommitted, Node
from node.rpc import params, views
from node.rpc.errors import RpcError, invalid_params
from node.rpc.limits import (
    FILTER_TIMEOUT,
    MAX_FILTER_ADDRESSES,
    MAX_FILTER_CHANGES,
    MAX_FILTERS,
    MAX_TOPIC_CHOICES,
)

# Log criteria


def log_criteria(spec: dict[str, object]) -> LogCriteria:
    """The `address` (one or a list) and `topics` (per position: null for any, a topic, or a
    list of alternatives) of a filter object. Lists past the limits are refused before their
    entries are read."""
    found = spec.get("address")
    listed = found if isinstance(found, list) else [] if found is None else [found]
    if len(listed) > MAX_FILTER_ADDRESSES:
        raise RpcError(
            LIMIT_EXCEEDED,
            f"a filter names at most {MAX_FILTER_ADDRESSES:,} addresses, not {len(listed):,}: "
            "split the query",
        )
    addresses = frozenset(params.address(a, "address") for a in listed)
    positions = spec.get("topics")
    if positions is None:
        positions = []
    if not isinstance(positions, list):
        raise invalid_params("topics must be a list")
    if len(positions) > MAX_TOPICS:
        raise invalid_params(
            f"a log has at most {MAX_TOPICS} topics, the filter names {len(positions)}"
        )
    wanted: list[frozenset[bytes]] = []
    for position in positions:
        choices = position if isinstance(position, list) else [] if position is None else [position]
        if len(choices) > MAX_TOPIC_CHOICES:
            raise RpcError(
                LIMIT_EXCEEDED,
                f"a topic position takes at most {MAX_TOPIC_CHOICES:,} alternatives, "
                f"not {len(choices):,}: split the query",
            )
        wanted.append(frozenset(params.hash32(t, "topic") for t in choices if t is not None))
    while wanted and not wanted[-1]:
        wanted.pop()  # trailing "any" positions select nothing
    return LogCriteria(addresses, tuple(wanted))


# A committed block's logs


@dataclass(frozen=True, slots=True)
class BlockLog:
    located: LocatedLog
    address: bytes
    topics: tuple[bytes, ...]


class BlockLogs:
    """A committed block's logs, indexed by emitter and by first topic so that many filters
    and subscriptions find theirs without each reading all of them; views made once."""

    def __init__(self, logs: Iterable[BlockLog]) -> None:
        self.logs = list(logs)
        self._by_address: dict[bytes, list[BlockLog]] = {}
        self._by_topic: dict[bytes, list[BlockLog]] = {}
        for entry in self.logs:
            self._by_address.setdefault(entry.address, []).append(entry)
            if entry.topics:
                self._by_topic.setdefault(entry.topics[0], []).append(entry)
        self._views: dict[int, dict[str, object]] = {}

    @classmethod
    def of(cls, event: BlockCommitted) -> BlockLogs:
        block = event.block
        located: list[BlockLog] = []
        for tx_index, (raw, receipt) in enumerate(
            zip(block.transactions, event.receipts, strict=True)
        ):
            for entry in receipt.logs:
                where = LocatedLog(
                    entry, block.height, block.hash, hash32(raw), tx_index, len(located)
                )
                located.append(BlockLog(where, emitter(entry), topics(entry)))
        return cls(located)

    def matching(self, criteria: LogCriteria) -> list[BlockLog]:
        """The logs `criteria` selects, in block order."""
        if criteria.addresses:
            candidates = [e for a in criteria.addresses for e in self._by_address.get(a, ())]
        elif criteria.topics and criteria.topics[0]:
            candidates = [e for t in criteria.topics[0] for e in self._by_topic.get(t, ())]
        else:
            candidates = self.logs
        found = [e for e in candidates if criteria.matches(e.address, e.topics)]
        if candidates is not self.logs:
            found.sort(key=lambda e: e.located.log_index)
        return found

    def view(self, entry: BlockLog) -> dict[str, object]:
        index = entry.located.log_index
        if index not in self._views:
            self._views[index] = views.eth_log(entry.located)
        return self._views[index]


# Polled filters


@dataclass(slots=True)
class Filter:
    """A block filter (criteria None) or a log filter over blocks `first..last` (None: open)."""

    criteria: LogCriteria | None
    first: int | None
    last: int | None
    polled: float
    changes: list[object] = field(default_factory=list)
    overflowed: bool = False

    def follows(self, height: int) -> bool:
        return (self.first is None or height >= self.first) and (
            self.last is None or height <= self.last
        )


class Filters:
    """One node's installed filters, by id (16 random bytes in hex, as geth's: an id is all a
    poller needs, so it must not be guessable)."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        limit: int = MAX_FILTERS,
        timeout: float = FILTER_TIMEOUT,
        max_changes: int = MAX_FILTER_CHANGES,
    ) -> None:
        self._clock = clock
        self._limit = limit
        self._timeout = timeout
        self._max_changes = max_changes
        self._filters: dict[str, Filter] = {}

    def __len__(self) -> int:
        return len(self._filters)

    def new_block_filter(self) -> str:
        return self._install(Filter(None, None, None, self._clock()))

    def new_log_filter(self, criteria: LogCriteria, first: int | None, last: int | None) -> str:
        return self._install(Filter(criteria, first, last, self._clock()))

    def _install(self, new: Filter) -> str:
        self.expire()
        if len(self._filters) >= self._limit:
            raise RpcError(
                LIMIT_EXCEEDED,
                f"the node holds {self._limit:,} filters already: uninstall filters you no "
                f"longer poll (unpolled ones expire after {self._timeout:g} s)",
            )
        filter_id = "0x" + secrets.token_hex(16)
        self._filters[filter_id] = new
        return filter_id

    def get(self, filter_id: object) -> Filter:
        """The filter, as a poll finds it (its expiry restarts). Raises not-found."""
        self.expire()
        found = self._filters.get(filter_id) if isinstance(filter_id, str) else None
        if found is None:
            raise RpcError(
                NOT_FOUND,
                f"filter {str(filter_id)[:80]} not found: filters expire {self._timeout:g} s "
                "after their last poll",
            )
        found.polled = self._clock()
        return found

    def changes(self, filter_id: object) -> list[object]:
        """What the filter collected since its last poll: block hashes, or log views."""
        found = self.get(filter_id)
        if found.overflowed:
            del self._filters[str(filter_id)]
            raise RpcError(
                LIMIT_EXCEEDED,
                f"filter {filter_id} collected more than {self._max_changes:,} changes since its "
                "last poll and was removed: read what it missed with eth_getLogs and poll a new "
                "filter more often",
            )
        collected, found.changes = found.changes, []
        return collected

    def uninstall(self, filter_id: object) -> bool:
        return isinstance(filter_id, str) and self._filters.pop(filter_id, None) is not None

    def expire(self) -> None:
        """Drop the filters nobody polled for the timeout."""
        oldest = self._clock() - self._timeout
        for filter_id in [i for i, f in self._filters.items() if f.polled < oldest]:
            del self._filters[filter_id]

    def on_block(self, event: BlockCommitted) -> None:
        """The node's block listener."""
        if not self._filters:
            return
        needs_logs = any(f.criteria is not None for f in self._filters.values())
        logs = BlockLogs.of(event) if needs_logs else BlockLogs(())
        self.record(event.block.height, event.block.hash, logs)

    def record(self, height: int, block_hash: bytes, logs: BlockLogs) -> None:
        """Give every filter what a committed block brings."""
        self.expire()
        block_view = views.hexbytes(block_hash)
        for found in self._filters.values():
            if found.overflowed:
                continue
            if found.criteria is None:
                new: list[object] = [block_view]
            elif found.follows(height):
                new = [logs.view(entry) for entry in logs.matching(found.criteria)]
            else:
                continue
            if len(found.changes) + len(new) > self._max_changes:
                found.overflowed, found.changes = True, []
            else:
                found.changes += new


_installed: weakref.WeakKeyDictionary[Node, Filters] = weakref.WeakKeyDictionary()


def of(node: Node) -> Filters:
    """The node's filters: made on first use, and fed from then on by its block listener
    (a filter sees only blocks committed after it is installed)."""
    found = _installed.get(node)
    if found is None:
        found = _installed[node] = Filters()
        node.on_block(found.on_block)
    return found
