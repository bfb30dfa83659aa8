"""Envelopes waiting to share a gossip message: at most one batch per topic per interval."""

from __future__ import annotations

import asyncio
import logging

from core.swarm_wire import MAX_BATCH_ENVELOPES, batch_size, encode_batch
from node.swarm.gossip import Publisher
from node.swarm.messages import SwarmStats
from p2p.errors import P2PError

log = logging.getLogger("aither.swarm")


class Outbox:
    """Envelopes waiting to share a gossip message, per topic.

    At most one batch per topic leaves every `interval` seconds: an envelope leaves on the
    event loop's next turn if the topic's last batch left longer ago (a lone message waits for
    nothing, and sends made together share it), else with the next batch, when the interval
    is up. A batch that would grow past `max_bytes` or MAX_BATCH_ENVELOPES leaves at once. So
    a quiet channel costs no latency and a busy one at most `1 / interval` gossip messages
    per second from this node, however many envelopes it sends. With `interval` 0 each
    envelope goes out alone, at once.

    Gossip is best effort: a failed publication is logged, not raised to the sender.
    """

    def __init__(
        self, publisher: Publisher, interval: float, max_bytes: int, stats: SwarmStats
    ) -> None:
        self._publisher = publisher
        self.interval = interval
        self.max_bytes = max_bytes
        self._stats = stats
        self._pending: dict[str, list[bytes]] = {}
        self._bytes: dict[str, int] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._last: dict[str, float] = {}  # loop time the topic's last batch left
        self._in_flight: set[asyncio.Task[None]] = set()

    async def add(self, topic: str, envelope: bytes) -> None:
        """Queue `envelope` for `topic`. Returns once it is queued; a batch it filled, or with
        `interval` 0 the envelope itself, is published before that."""
        loop = asyncio.get_running_loop()
        # Every change to the queues happens before the first await: adds never interleave.
        full: list[bytes] = []
        pending = self._pending.get(topic, [])
        grown = batch_size(self._bytes.get(topic, 0) + len(envelope), len(pending) + 1)
        if pending and (grown > self.max_bytes or len(pending) >= MAX_BATCH_ENVELOPES):
            full = self._take(topic)
        self._pending.setdefault(topic, []).append(envelope)
        self._bytes[topic] = self._bytes.get(topic, 0) + len(envelope)
        alone: list[bytes] = []
        if self.interval <= 0:
            alone = self._take(topic)
        elif topic not in self._timers:
            # Even when the interval is already up, the batch leaves on the loop's next turn:
            # the other sends of the same JSON-RPC batch (run together) join it first.
            wait = self._last.get(topic, -self.interval) + self.interval - loop.time()
            self._timers[topic] = loop.call_later(max(wait, 0.0), self._due, topic)
        for batch in (full, alone):
            if batch:
                await self._publish(topic, batch)

    async def flush(self) -> None:
        """Publish every pending batch now, and wait for those already on their way."""
        for topic in list(self._pending):
            await self._publish(topic, self._take(topic))
        if self._in_flight:
            await asyncio.gather(*self._in_flight)

    def close(self) -> None:
        """Drop what is pending (at node stop: the network is gone)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._pending.clear()
        self._bytes.clear()
        self._last.clear()

    def _due(self, topic: str) -> None:
        batch = self._take(topic)
        if batch:
            task = asyncio.get_running_loop().create_task(self._publish(topic, batch))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    def _take(self, topic: str) -> list[bytes]:
        """The topic's pending batch, which leaves now."""
        timer = self._timers.pop(topic, None)
        if timer is not None:
            timer.cancel()
        self._bytes.pop(topic, None)
        self._last[topic] = asyncio.get_running_loop().time()
        return self._pending.pop(topic, [])

    async def _publish(self, topic: str, envelopes: list[bytes]) -> None:
        try:
            await self._publisher.publish(topic, encode_batch(envelopes))
        except P2PError as exc:
            log.warning("could not gossip %d swarm messages on %s: %s", len(envelopes), topic, exc)
            return
        self._stats.batches += 1
