"""GossipSub topics of a chain: explicit router settings, our validators, limits and dedup.

p2p knows bytes, topics and peers: the node hands each topic a handler (what to do with a
message) and a validator (signature, chain id, membership). Before a message is relayed, the
host checks its size, the forwarding peer's rate and the node's validator; a peer that keeps
forwarding invalid messages is disconnected and banned.

Threads: validators run on the p2p (trio) thread, so they must be pure, thread-safe and quick;
handlers run on the node's asyncio loop.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import inspect
import itertools
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import trio
from libp2p.abc import IHost, ISubscriptionAPI
from libp2p.peer.id import ID
from libp2p.pubsub import floodsub as floodsub_module
from libp2p.pubsub import gossipsub as gossipsub_module
from libp2p.pubsub import pubsub as pubsub_module
from libp2p.pubsub import rpc_queue
from libp2p.pubsub import utils as pubsub_utils
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import PUBSUB_SIGNING_PREFIX, Pubsub
from libp2p.pubsub.validators import signature_validator
from libp2p.tools.anyio_service import background_trio_service

from p2p.bridge import snapshot
from p2p.errors import MessageTooLargeError, P2PError
from p2p.host import HostRuntime, P2PHost
from p2p.ratelimit import TokenBucket

log = logging.getLogger("aither.p2p.gossip")

K = TypeVar("K")
V = TypeVar("V")


class Verdict(enum.Enum):
    """What a validator may answer besides True (accept) and False (reject)."""

    ACCEPT = "accept"
    REJECT = "reject"  # invalid: dropped, and a strike against the forwarding peer
    IGNORE = "ignore"  # cannot judge (say, a vote for a future height): dropped, no strike


Validator = Callable[[bytes, str], bool | Verdict]
"""`(data, from_peer) -> True | False | Verdict`; runs on the p2p thread before relaying."""

Handler = Callable[[bytes, str], Awaitable[None] | None]
"""`(data, from_peer)`; runs on the node's asyncio loop, once per distinct message."""

KIB = 1024

# 0.8.1 queues at most 32 RPCs per peer and drops the rest silently; a relay has no way to push
# back on whoever feeds it, so bursts were lost at the middle hop. Give every queue more room.
OUTBOUND_QUEUE = 512
# ...and it drops, just as silently, any outbound RPC over 1 MiB: no topic may come close.
LIBRARY_MAX_RPC = rpc_queue.DefaultMaxMessageSize
MAX_MESSAGE = LIBRARY_MAX_RPC - 16 * KIB  # room for topic, ids, key, signature, sender record


def _widen_outbound_queues() -> None:
    init = rpc_queue.RpcQueue.__init__
    names = list(inspect.signature(init).parameters)[1:3]
    if names != ["max_size", "max_message_size"]:
        log.warning("libp2p RpcQueue changed (%s): outbound queues stay at 32", names)
        return
    init.__defaults__ = (OUTBOUND_QUEUE, LIBRARY_MAX_RPC)


_widen_outbound_queues()

# 0.8.1 verifies the ed25519 signature of the sender's signed peer record in every RPC it
# receives (about 3 % of the p2p thread under load), for a record that does not change between
# RPCs: verify each peer's distinct record once.
RECORDS_REMEMBERED = 4096


def _remember_peer_records() -> None:
    consume = pubsub_utils.maybe_consume_signed_record
    verified: OrderedDict[tuple[ID, ID], bytes] = OrderedDict()  # (local, remote) -> record

    def cached_consume(msg: rpc_pb2.RPC, host: IHost, peer_id: ID) -> bool:
        if not msg.HasField("senderRecord"):
            return consume(msg, host, peer_id)
        key = (host.get_id(), peer_id)
        if verified.get(key) == msg.senderRecord:
            return True
        accepted = consume(msg, host, peer_id)
        if accepted:
            remember(verified, key, msg.senderRecord, RECORDS_REMEMBERED)
        return accepted

    for module in (pubsub_module, gossipsub_module, floodsub_module):
        if getattr(module, "maybe_consume_signed_record", None) is not consume:
            log.warning("libp2p %s changed: peer records are checked per RPC", module)
            continue
        module.maybe_consume_signed_record = cached_consume


_remember_peer_records()

# Our own publications wait while any peer's queue is this deep: a burst from this node is
# paced at the source, and the queue keeps room for what we relay for others.
OUTBOUND_HIGH_WATER = 64
PUBLISH_POLL = 0.001
RPC_OVERHEAD = 64 * KIB  # protobuf framing, control messages and signatures around the data


class TopicKind(enum.Enum):
    TXS = "txs"
    BLOCKS = "blocks"
    CONSENSUS = "consensus"


def topic_name(chain_id: str | int, kind: TopicKind) -> str:
    """The gossip topic of `kind` on chain `chain_id`: `aither/<chain_id>/<kind>`."""
    return f"aither/{chain_id}/{kind.value}"


@dataclass(frozen=True, slots=True)
class TopicLimits:
    """Per-topic bounds: message size, and messages per second (and burst) per forwarding peer.

    Rates bound what one neighbour forwards, which includes what it relays for everyone else,
    so they are set well above the whole network's expected rate.
    """

    max_size: int
    rate: float
    burst: int


DEFAULT_LIMITS: Mapping[TopicKind, TopicLimits] = {
    TopicKind.TXS: TopicLimits(max_size=512 * KIB, rate=200.0, burst=400),
    # A larger block is not gossiped: peers fetch it by sync.
    TopicKind.BLOCKS: TopicLimits(max_size=MAX_MESSAGE, rate=20.0, burst=50),
    TopicKind.CONSENSUS: TopicLimits(max_size=64 * KIB, rate=500.0, burst=1000),
}
FALLBACK_LIMITS = TopicLimits(max_size=256 * KIB, rate=100.0, burst=200)


@dataclass(frozen=True, slots=True)
class GossipConfig:
    """GossipSub settings, chosen explicitly: 0.8.1's defaults do not suit a small chain."""

    degree: int = 6
    degree_low: int = 4
    degree_high: int = 12
    heartbeat_interval: int = 1  # seconds; the library default is 120
    max_size: int = MAX_MESSAGE  # the largest message on any topic; at most MAX_MESSAGE
    invalid_threshold: int = 10  # invalid messages within `invalid_window` s before a ban
    invalid_window: float = 60.0
    dedup_capacity: int = 65_536  # message ids remembered to deliver each message once
    seen_ttl: int = 120
    delivery_queue: int = 4096  # per topic, towards the asyncio handler
    publish_wait: float = 2.0  # longest a publication waits for room in peers' queues

    def __post_init__(self) -> None:
        if not 0 < self.max_size <= MAX_MESSAGE:
            raise ValueError(f"max_size must be in 1..{MAX_MESSAGE} (0.8.1 drops larger RPCs)")
        if not 0 < self.degree_low <= self.degree <= self.degree_high:
            raise ValueError("need 0 < degree_low <= degree <= degree_high")


@dataclass(slots=True)
class GossipStats:
    """Counters since start (read from asyncio; updated on the p2p thread)."""

    delivered: int = 0
    duplicates: int = 0
    invalid: int = 0
    ignored: int = 0
    oversize: int = 0
    rate_limited: int = 0
    queue_drops: int = 0
    banned: int = 0


def message_id(msg: rpc_pb2.Message) -> bytes:
    """Content id: the same bytes on the same topic are one message, whoever relays them."""
    topics = "\x00".join(msg.topicIDs).encode()
    return hashlib.sha256(topics + b"\x00" + msg.data).digest()


@dataclass(slots=True)
class _Topic:
    name: str
    handler: Handler
    validator: Validator | None
    limits: TopicLimits
    # Signed topics: every message carries its origin's peer id, a counter, its key and its
    # signature, checked at each hop. Anonymous topics (swarm channels, whose payloads the
    # node signs and encrypts itself): none of these, only the forwarding neighbour is known.
    anonymous: bool = False
    queue: asyncio.Queue[tuple[bytes, str]] | None = None
    consumer: asyncio.Task[None] | None = None
    buckets: dict[ID, TokenBucket] = field(default_factory=dict)


class Gossip:
    """The gossip side of a host. Create it before `host.start()`; it runs with the host."""

    def __init__(self, host: P2PHost, config: GossipConfig | None = None) -> None:
        self._host = host
        self.config = config or GossipConfig()
        self.stats = GossipStats()
        self._topics: dict[str, _Topic] = {}
        self._pubsub: Pubsub | None = None
        self._router: GossipSub | None = None
        self._runtime: HostRuntime | None = None
        self._my_id = ID.from_base58(host.peer_id)
        self._delivered: OrderedDict[bytes, None] = OrderedDict()
        self._forwarders: OrderedDict[bytes, ID] = OrderedDict()
        self._strikes: dict[ID, deque[float]] = {}
        self._publishing = trio.Lock()
        self._slow: set[ID] = set()
        # Our signed messages' seqno: from the clock, so a restarted node's are new to peers.
        self._seqno = itertools.count(time.time_ns())
        host.attach(self)

    # -- asyncio side --

    async def subscribe(
        self,
        topic: str,
        handler: Handler,
        validator: Validator | None = None,
        limits: TopicLimits | None = None,
        anonymous: bool = False,
    ) -> None:
        """Deliver every distinct valid message on `topic` to `handler(data, from_peer)`.

        With `anonymous`, messages on `topic` carry no author (`from`, `seqno`, `key`,
        `signature`): ours are published without, and others' that carry any are refused.

        `validator(data, from_peer)` runs on the p2p thread before the message is relayed or
        delivered: True accepts, False (or Verdict.REJECT) drops it and counts against the
        forwarding peer, Verdict.IGNORE drops it without blame. `from_peer` is the neighbour
        that forwarded the message. The node's own publications are not delivered.
        """
        if topic in self._topics:
            raise P2PError(f"already subscribed to {topic}")
        entry = _Topic(topic, handler, validator, limits or _limits_for(topic), anonymous)
        if entry.limits.max_size > self.config.max_size:
            raise ValueError(f"{topic}: max_size over GossipConfig.max_size")
        entry.queue = asyncio.Queue(self.config.delivery_queue)
        self._topics[topic] = entry
        self._ensure_consumer(entry)
        if self._host.is_running:
            await self._host.bridge.to_trio(lambda: self._join(entry))

    async def publish(self, topic: str, data: bytes) -> None:
        """Publish `data` on `topic` (subscribed or not).

        Raises MessageTooLargeError over the topic's bound, P2PNotRunningError when stopped.
        Our own messages skip the validator: the node builds them.
        """
        limits = self._topics[topic].limits if topic in self._topics else _limits_for(topic)
        if len(data) > limits.max_size:
            raise MessageTooLargeError(f"{len(data)} bytes over {limits.max_size} on {topic}")
        await self._host.bridge.to_trio(lambda: self._publish(topic, data))

    def mesh_peers(self, topic: str) -> list[str]:
        """Peers in our GossipSub mesh for `topic` now (for status and tests)."""
        router = self._router
        if router is None or not self._host.is_running:
            return []
        return snapshot(lambda: [peer.to_base58() for peer in router.mesh.get(topic, ())])

    def topic_peers(self, topic: str) -> list[str]:
        """Connected peers that announced a subscription to `topic`."""
        pubsub = self._pubsub
        if pubsub is None or not self._host.is_running:
            return []
        return snapshot(lambda: [p.to_base58() for p in pubsub.peer_topics.get(topic, ())])

    async def _consume(self, entry: _Topic) -> None:
        queue = entry.queue
        assert queue is not None
        while True:
            data, peer = await queue.get()
            try:
                result = entry.handler(data, peer)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("gossip handler for %s failed on a message from %s", entry.name, peer)

    def _ensure_consumer(self, entry: _Topic) -> None:
        # Started lazily so that a host restarted after close() delivers again.
        if entry.consumer is None:
            entry.consumer = asyncio.get_running_loop().create_task(
                self._consume(entry), name=f"gossip {entry.name}"
            )

    def _enqueue(self, entry: _Topic, data: bytes, peer: str) -> None:
        queue = entry.queue
        if queue is None:
            return
        self._ensure_consumer(entry)
        try:
            queue.put_nowait((data, peer))
        except asyncio.QueueFull:
            # The handler is behind: drop and count; sync recovers whatever gossip loses.
            self.stats.queue_drops += 1

    def close(self) -> None:
        """Stop delivering to handlers (asyncio side); called by the host on stop."""
        for entry in self._topics.values():
            if entry.consumer is not None:
                entry.consumer.cancel()
                entry.consumer = None

    # -- trio side --

    async def serve(
        self, runtime: HostRuntime, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        cfg = self.config
        router = GossipSub(
            protocols=[PROTOCOL_ID_V11, PROTOCOL_ID],
            degree=cfg.degree,
            degree_low=cfg.degree_low,
            degree_high=cfg.degree_high,
            heartbeat_interval=cfg.heartbeat_interval,
            # Its own limiter caps every peer (us included) at 10 msgs/s per topic.
            spam_protection_enabled=False,
            # It wants 3 distinct IPs in a mesh; on loopback every peer shares one.
            eclipse_protection_enabled=False,
            # When "health" looks low it stretches the heartbeat to 30-60 s.
            adaptive_gossip_enabled=False,
        )
        pubsub = Pubsub(
            runtime.libp2p,
            router,
            # 0.8.1 applies `strict_signing` to every topic of the pubsub: signatures are
            # checked per topic instead, by our validator (`_validator_for`).
            strict_signing=False,
            msg_id_constructor=message_id,
            seen_ttl=cfg.seen_ttl,
            # Its cache remembers rejections per message id for 300 s, so one rate-limited
            # copy would poison that message from every peer: validate each arrival instead.
            validation_cache_ttl=0,
            # Above anything a 0.8.1 sender emits (it splits at 1 MiB); per-topic bounds are
            # ours, in the validators, so that an oversize message costs its sender a strike.
            max_inbound_rpc_size=LIBRARY_MAX_RPC + RPC_OVERHEAD,
        )
        self._runtime = runtime
        self._publishing = trio.Lock()
        async with background_trio_service(pubsub), background_trio_service(router):
            await pubsub.wait_until_ready()
            self._pubsub, self._router = pubsub, router
            try:
                for entry in list(self._topics.values()):
                    await self._join(entry)
                task_status.started()
                await trio.sleep_forever()
            finally:
                self._pubsub, self._router, self._runtime = None, None, None
                # Its seen-message cache sweeps in a thread of its own that nothing else stops.
                pubsub.seen_messages.stop()

    def _require_pubsub(self) -> Pubsub:
        if self._pubsub is None:
            raise P2PError("gossip is not running")
        return self._pubsub

    async def _publish(self, topic: str, data: bytes) -> None:
        pubsub = self._require_pubsub()
        # The lock (FIFO in trio) keeps our publications in order and lets one waiter poll.
        async with self._publishing:
            await self._wait_for_room(pubsub)
            entry = self._topics.get(topic)
            if entry is not None and entry.anonymous:
                msg = _anonymous_message(topic, data)
            else:
                msg = self._signed_message(topic, data)
            await pubsub.push_msg(self._my_id, msg)

    def _signed_message(self, topic: str, data: bytes) -> rpc_pb2.Message:
        """What 0.8.1's `Pubsub.publish` builds with strict signing: our peer id, a counter,
        our public key, and our signature over the rest."""
        runtime = self._runtime
        assert runtime is not None
        msg = rpc_pb2.Message(
            data=data,
            topicIDs=[topic],
            from_id=self._my_id.to_bytes(),
            seqno=next(self._seqno).to_bytes(8, "big"),
        )
        host = runtime.libp2p
        signed = PUBSUB_SIGNING_PREFIX.encode() + msg.SerializeToString()
        msg.signature = host.get_private_key().sign(signed)
        msg.key = host.get_public_key().serialize()
        return msg

    async def _wait_for_room(self, pubsub: Pubsub) -> None:
        """Hold our publication while a peer's outbound queue is deep.

        0.8.1 drops an RPC silently when a peer's queue is full, so a burst from this node is
        paced instead of lost. A peer that stays deep for `publish_wait` s is slow: it stops
        holding us up until its queue drains, so that one stalled peer cannot delay our votes.
        """

        def deep() -> set[ID]:
            queues = list(pubsub.peer_queues.items())
            return {peer for peer, q in queues if len(q) >= OUTBOUND_HIGH_WATER}

        now_deep = deep()
        self._slow &= now_deep
        if not now_deep - self._slow:
            return
        with trio.move_on_after(self.config.publish_wait):
            while deep() - self._slow:
                await trio.sleep(PUBLISH_POLL)
            return
        self._slow |= deep()
        log.info("p2p peers slow to read, no longer waited for: %s", sorted(map(str, self._slow)))

    async def _join(self, entry: _Topic) -> None:
        pubsub = self._require_pubsub()
        runtime = self._runtime
        assert runtime is not None
        pubsub.set_topic_validator(entry.name, self._validator_for(entry), False)
        subscription = await pubsub.subscribe(entry.name)
        runtime.nursery.start_soon(self._pump, entry, subscription)

    async def _pump(self, entry: _Topic, subscription: ISubscriptionAPI) -> None:
        """Drain the library's 32-slot subscription queue at once, deduplicating."""
        get = subscription.get
        bridge = self._host.bridge
        while True:
            msg: rpc_pb2.Message = await get()
            mid = message_id(msg)
            forwarder = self._forwarders.pop(mid, None)
            if forwarder is None or forwarder == self._my_id:
                continue  # our own publication echoed back (or an id evicted from the map)
            if mid in self._delivered:
                # New peers get recent messages replayed after the seen-cache forgot them.
                self.stats.duplicates += 1
                continue
            remember(self._delivered, mid, None, self.config.dedup_capacity)
            self.stats.delivered += 1
            bridge.post(self._enqueue, entry, msg.data, forwarder.to_base58())

    def _validator_for(self, entry: _Topic) -> Callable[[ID, rpc_pb2.Message], bool]:
        limits = entry.limits

        def validate(forwarder: ID, msg: rpc_pb2.Message) -> bool:
            if forwarder == self._my_id:
                remember(self._forwarders, message_id(msg), forwarder, self.config.dedup_capacity)
                return True
            if len(msg.data) > limits.max_size:
                self.stats.oversize += 1
                self._strike(forwarder, f"oversize message on {entry.name}")
                return False
            if entry.anonymous and (msg.from_id or msg.key or msg.signature):
                self.stats.invalid += 1
                self._strike(forwarder, f"author fields on anonymous topic {entry.name}")
                return False
            if not entry.anonymous and not (msg.from_id and signature_validator(msg)):
                self.stats.invalid += 1
                self._strike(forwarder, f"unsigned or badly signed message on {entry.name}")
                return False
            bucket = entry.buckets.get(forwarder)
            if bucket is None:
                bucket = entry.buckets[forwarder] = TokenBucket(limits.rate, limits.burst)
            if not bucket.take(time.monotonic()):
                self.stats.rate_limited += 1
                return False
            verdict = _judge(entry.validator, msg.data, forwarder.to_base58())
            if verdict is Verdict.IGNORE:
                self.stats.ignored += 1
                return False
            if verdict is Verdict.REJECT:
                self.stats.invalid += 1
                self._strike(forwarder, f"invalid messages on {entry.name}")
                return False
            remember(self._forwarders, message_id(msg), forwarder, self.config.dedup_capacity)
            return True

        return validate

    def _strike(self, peer: ID, reason: str) -> None:
        now = time.monotonic()
        strikes = self._strikes.setdefault(peer, deque())
        strikes.append(now)
        while strikes and strikes[0] < now - self.config.invalid_window:
            strikes.popleft()
        if len(strikes) < self.config.invalid_threshold:
            return
        del self._strikes[peer]
        self.stats.banned += 1
        runtime, pubsub = self._runtime, self._pubsub
        if runtime is None or pubsub is None:
            return
        pubsub.add_to_blacklist(peer)
        runtime.ban(peer, f"{len(strikes)} {reason} within {self.config.invalid_window:.0f} s")
        runtime.nursery.start_soon(self._lift_blacklist, peer)

    async def _lift_blacklist(self, peer: ID) -> None:
        await trio.sleep(self._host.config.ban_seconds)
        if self._pubsub is not None:
            self._pubsub.remove_from_blacklist(peer)


def _anonymous_message(topic: str, data: bytes) -> rpc_pb2.Message:
    msg = rpc_pb2.Message(data=data, topicIDs=[topic])
    # Content-derived, so the library's (from, seqno) keys stay distinct per message.
    msg.seqno = message_id(msg)[:8]
    return msg


def _limits_for(topic: str) -> TopicLimits:
    kind = topic.rsplit("/", 1)[-1]
    for member in TopicKind:
        if member.value == kind:
            return DEFAULT_LIMITS[member]
    return FALLBACK_LIMITS


def _judge(validator: Validator | None, data: bytes, peer: str) -> Verdict:
    if validator is None:
        return Verdict.ACCEPT
    try:
        answer = validator(data, peer)
    except Exception as error:
        # A validator that raises is a rejection, not a crash of the p2p thread.
        log.debug("validator raised on a message from %s: %s", peer, error)
        return Verdict.REJECT
    if isinstance(answer, Verdict):
        return answer
    return Verdict.ACCEPT if answer is True else Verdict.REJECT


def remember(cache: OrderedDict[K, V], key: K, value: V, cap: int) -> None:
    """Put `key` in a bounded cache as its newest entry, dropping the oldest past `cap`."""
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > cap:
        cache.popitem(last=False)
