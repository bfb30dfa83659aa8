"""The node's swarm service: channel messages for local identities, relaying for everyone else.

Around the sans-I/O core of p2p/swarm.py, this holds what a running node needs:

- Local identities, unlocked from the keystore at start (ed25519 and X25519 secrets): their keys
  never leave this object; RPC callers name an identity, they never send a key.
- One gossip topic per followed channel, `aither/<chain id>/swarm/<channel id hex>`. Envelopes
  leave in batches (`Outbox`: at most one gossip message per channel every `batch_interval`
  from a node), since each gossip message costs far more than the crypto of an envelope.
  Every arrival is screened by `check_batch` before it is relayed (malformed, misaddressed and
  stale envelopes are dropped); per-peer rates and sizes are the gossip layer's `TopicLimits`.
- Decryption for local members: one `ChannelReader` per channel per node (every member of an
  epoch holds the same key, so a node hosting several members opens each message once). The
  view comes from the chain (`ChannelSource`) and is rebuilt on `refresh`, after each block.
- A bounded store per channel: accepted plaintext in memory only (served over RPC and
  WebSocket to local members); on disk, ciphertext only, for members and relays alike.
- A send rate per local identity, and persistence of writers' sequences (reserved ahead in
  blocks, so a crash never reuses one) and readers' high-water marks (so a restart does not
  reopen the replay window).

Chain and network come in through two protocols, `ChannelSource` and `Publisher`, so two
services joined by an in-memory publisher exercise everything but libp2p. `StateChannels`
reads channel state from the ledger; `GossipPublisher` adapts `p2p.gossip.Gossip`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import itertools
import json
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from core.crypto import HASH_SIZE, SigningKey, hash32, to_checksum_address
from core.errors import AitherError, DecodeError
from core.swarm_keys import EncryptionKey, MemberKeys, UnsealError, rotate, unseal
from core.swarm_wire import (
    MAX_BATCH,
    MAX_BATCH_ENVELOPES,
    MAX_PAYLOAD,
    batch_size,
    decode_batch,
    encode_batch,
)
from ledger import channels as chain_channels
from ledger.channels import (
    AnyChannelPayload,
    Channel,
    CreateChannel,
    EpochRecord,
    RotateKey,
    channel_id_of,
)
from ledger.identity import Identity, derive_encryption_key, load_identity
from p2p.errors import P2PError
from p2p.ratelimit import TokenBucket
from p2p.swarm import (
    ChannelReader,
    ChannelView,
    ChannelWriter,
    Epoch,
    ReaderPolicy,
    Received,
    Rejected,
    Rejection,
    SwarmSendError,
    check_batch,
)

if TYPE_CHECKING:
    from p2p.gossip import Gossip

log = logging.getLogger("aither.swarm")

STATE_FILE = "swarm-state.json"
LOG_SUFFIX = ".env"  # a channel's ciphertext log: [4-byte length][envelope] records
_LENGTH = 4


class SwarmError(AitherError):
    """A swarm request the node refuses; the message says why."""


class NotLocal(SwarmError):
    """The node holds no key for that identity."""


class NotMember(SwarmError):
    """No local identity is a member of the channel (at the epoch asked for)."""


class RateLimited(SwarmError):
    """The identity sends faster than the node allows."""


class UnknownChannelError(SwarmError):
    """No such channel on chain."""


class RelayVerdict(enum.Enum):
    """What a relay does with an arrival (mapped to p2p.gossip.Verdict by GossipPublisher)."""

    ACCEPT = "accept"
    REJECT = "reject"  # malformed or misaddressed: a strike against the forwarding peer
    IGNORE = "ignore"  # an epoch this node does not (yet, or any longer) accept: no blame


Handler = Callable[[bytes, str], Awaitable[None] | None]
Validator = Callable[[bytes, str], RelayVerdict]


class Publisher(Protocol):
    """The gossip side: what the service needs of the network."""

    async def subscribe(self, topic: str, handler: Handler, validator: Validator) -> None: ...
    async def publish(self, topic: str, data: bytes) -> None: ...


class ChannelSource(Protocol):
    """The chain side: channel, epoch and identity records at the head."""

    @property
    def chain_id(self) -> int: ...
    def channel(self, channel_id: bytes) -> Channel | None: ...
    def epoch(self, channel_id: bytes, number: int) -> EpochRecord | None: ...
    def identity(self, address: bytes) -> Identity | None: ...


@dataclass(frozen=True, slots=True)
class StateChannels:
    """A `ChannelSource` over any state reader: `StateChannels(ledger.chain_id,
    ledger.get_state)` on a node, a `State`'s `get` in tests."""

    chain_id: int
    read: Callable[[bytes], bytes | None]

    def get(self, key: bytes) -> bytes | None:
        return self.read(key)

    def put(self, key: bytes, value: bytes | None) -> None:
        raise TypeError("the swarm service only reads state")

    def channel(self, channel_id: bytes) -> Channel | None:
        return chain_channels.load_channel(self, channel_id)

    def epoch(self, channel_id: bytes, number: int) -> EpochRecord | None:
        return chain_channels.load_epoch(self, channel_id, number)

    def identity(self, address: bytes) -> Identity | None:
        return load_identity(self, address)


def topic_for(chain_id: int, channel_id: bytes) -> str:
    return f"aither/{chain_id}/swarm/{channel_id.hex()}"


@dataclass(frozen=True, slots=True)
class SwarmConfig:
    max_messages: int = 1_000  # decrypted messages kept in memory per channel
    send_rate: float = 200.0  # messages per second per local identity, on average
    send_burst: int = 400
    sequence_reserve: int = 1_000  # sequences reserved per write of the state file
    persist_every: int = 256  # accepted messages between writes of the readers' high water
    disk_bytes: int = 4 * 1024 * 1024  # ciphertext kept per channel file (two files at most)
    relay_all: bool = True  # follow (relay) every channel on chain, not only local members'
    # At most one gossip message per channel per this many seconds from this node: envelopes
    # sent meanwhile share the next one (`Outbox`); 0 sends each alone at once. Measured with
    # bench/swarm.py: at 25 ms, senders of one message per call swamped libp2p with gossip
    # messages; at 100 ms, batched senders' median latency doubled.
    batch_interval: float = 0.05
    batch_bytes: int = MAX_BATCH  # a batch is published at once when it would grow past this

    policy: ReaderPolicy = field(default_factory=ReaderPolicy)


@dataclass(frozen=True, slots=True)
class LocalIdentity:
    """An identity whose keys this node holds: its ed25519 key, and X25519 keys given
    explicitly (newest first) or, with `derive`, re-derived from the ed25519 seed for the
    `valid_from` of each certificate the chain shows (`identity.derive_encryption_key`)."""

    key: SigningKey = field(repr=False)
    box_keys: tuple[EncryptionKey, ...] = field(default=(), repr=False)
    derive: bool = False
    address: bytes = field(init=False)

    def __post_init__(self) -> None:
        if not self.box_keys and not self.derive:
            raise ValueError("a swarm identity needs an X25519 key, given or derived")
        object.__setattr__(self, "address", self.key.address)


@dataclass(frozen=True, slots=True)
class SwarmMessage:
    """A message a local member accepted. `index` orders a channel's messages on this node."""

    index: int
    channel_id: bytes
    epoch: int
    sender: bytes
    sender_name: str
    sequence: int
    timestamp: int
    payload: bytes
    signature: bytes
    message_hash: bytes
    readers: frozenset[bytes]  # local identities that are members of `epoch`

    def to_json(self) -> dict[str, object]:
        try:
            text: str | None = self.payload.decode()
        except UnicodeDecodeError:
            text = None
        return {
            "index": self.index,
            "channel": "0x" + self.channel_id.hex(),
            "epoch": self.epoch,
            "sender": _address_text(self.sender),
            "senderName": self.sender_name or None,
            "sequence": self.sequence,
            "timestamp": self.timestamp,
            "payload": "0x" + self.payload.hex(),
            "text": text,
            "payloadHash": "0x" + hash32(self.payload).hex(),
            "signature": "0x" + self.signature.hex(),
            "messageHash": "0x" + self.message_hash.hex(),
            "readers": sorted(_address_text(r) for r in self.readers),
        }


# Every message shows its sender and readers: a few addresses, each hashed (EIP-55) once.
_address_text = functools.lru_cache(maxsize=4096)(to_checksum_address)


@dataclass(frozen=True, slots=True)
class Sent:
    message_hash: bytes
    channel_id: bytes
    epoch: int
    sequence: int
    size: int

    def to_json(self) -> dict[str, object]:
        return {
            "messageHash": "0x" + self.message_hash.hex(),
            "channel": "0x" + self.channel_id.hex(),
            "epoch": self.epoch,
            "sequence": self.sequence,
            "size": self.size,
        }


@dataclass(slots=True)
class SwarmStats:
    relayed: int = 0  # gossip messages (batches of envelopes) the validator passed
    dropped: int = 0  # gossip messages the validator refused
    arrived: int = 0  # envelopes in the batches passed
    accepted: int = 0  # messages a local member decrypted and accepted
    rejected: dict[str, int] = field(default_factory=dict)  # by Rejection reason
    sent: int = 0  # messages this node's identities sent
    batches: int = 0  # gossip messages this node published

    def to_json(self) -> dict[str, object]:
        return {
            "relayed": self.relayed,
            "dropped": self.dropped,
            "arrived": self.arrived,
            "accepted": self.accepted,
            "rejected": dict(sorted(self.rejected.items())),
            "sent": self.sent,
            "batches": self.batches,
        }


@dataclass(slots=True)
class _Followed:
    """A channel this node relays, and reads if a local identity is a member."""

    channel_id: bytes
    topic: str
    # Read by the validator on the p2p thread: replaced whole, never mutated.
    open_epochs: frozenset[int] = frozenset()
    reader: ChannelReader | None = None
    local_members: dict[int, frozenset[bytes]] = field(default_factory=dict)  # epoch -> local
    messages: deque[SwarmMessage] = field(default_factory=deque)
    next_index: int = 1
    pending_change: bool = False  # joins or leaves wait for a rotation


class Disk:
    """What the service keeps on disk: sequences, high water, and ciphertext. Never plaintext."""

    def __init__(self, directory: Path, channel_bytes: int) -> None:
        self.directory = directory
        self.channel_bytes = channel_bytes
        self._logs: dict[bytes, list] = {}  # channel id -> [open file, its size]
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def load(
        self,
    ) -> tuple[
        dict[tuple[bytes, bytes], int], dict[bytes, dict[bytes, int]], dict[bytes, set[int]]
    ]:
        """(reserved sequence per (identity, channel), high water per channel and sender,
        valid_from of the certificates seen per derived identity)."""
        path = self.directory / STATE_FILE
        if not path.exists():
            return {}, {}, {}
        data = json.loads(path.read_text())
        sequences = {
            (bytes.fromhex(a), bytes.fromhex(c)): int(n) for a, c, n in data.get("sequences", [])
        }
        high = {
            bytes.fromhex(c): {bytes.fromhex(s): int(n) for s, n in senders}
            for c, senders in data.get("highWater", [])
        }
        valid_from = {bytes.fromhex(a): set(map(int, v)) for a, v in data.get("validFrom", [])}
        return sequences, high, valid_from

    def save(
        self,
        sequences: dict[tuple[bytes, bytes], int],
        high_water: dict[bytes, dict[bytes, int]],
        valid_from: dict[bytes, set[int]],
    ) -> None:
        data = {
            "validFrom": [[a.hex(), sorted(v)] for a, v in sorted(valid_from.items())],
            "sequences": [[a.hex(), c.hex(), n] for (a, c), n in sorted(sequences.items())],
            "highWater": [
                [c.hex(), [[s.hex(), n] for s, n in sorted(senders.items())]]
                for c, senders in sorted(high_water.items())
            ],
        }
        path = self.directory / STATE_FILE
        temporary = path.with_suffix(".tmp")
        with open(temporary, "w") as out:
            json.dump(data, out)
            out.flush()
            os.fsync(out.fileno())
        # A crash leaves the old file or the new one, never half of one: sequences must hold.
        os.replace(temporary, path)

    def append(self, channel_id: bytes, envelope: bytes) -> None:
        """Add a ciphertext to the channel's log (buffered: `flush` writes it out)."""
        entry = self._logs.get(channel_id)
        path = self.directory / (channel_id.hex() + LOG_SUFFIX)
        if entry is None:
            handle = open(path, "ab")  # noqa: SIM115  (kept open: one open per message cost 0.2 ms)
            entry = self._logs[channel_id] = [handle, handle.tell()]
        record = len(envelope).to_bytes(_LENGTH, "big") + envelope
        if entry[1] + len(record) > self.channel_bytes:
            # Two generations bound the disk: the older one is dropped.
            entry[0].close()
            os.replace(path, path.with_suffix(LOG_SUFFIX + ".old"))
            entry[0], entry[1] = open(path, "ab"), 0  # noqa: SIM115
        entry[0].write(record)
        entry[1] += len(record)

    def flush(self) -> None:
        for handle, _ in self._logs.values():
            handle.flush()

    def close(self) -> None:
        for handle, _ in self._logs.values():
            handle.close()
        self._logs.clear()

    def envelopes(self, channel_id: bytes) -> list[bytes]:
        """The stored ciphertexts of a channel, oldest first."""
        self.flush()
        found: list[bytes] = []
        base = self.directory / (channel_id.hex() + LOG_SUFFIX)
        for path in (base.with_suffix(LOG_SUFFIX + ".old"), base):
            with contextlib.suppress(FileNotFoundError):
                data = path.read_bytes()
                at = 0
                while at + _LENGTH <= len(data):
                    size = int.from_bytes(data[at : at + _LENGTH], "big")
                    found.append(data[at + _LENGTH : at + _LENGTH + size])
                    at += _LENGTH + size
        return found


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


Listener = Callable[[SwarmMessage], None]


class SwarmService:
    """Swarm channels on one node. Asyncio side only, except `validator`, which is pure and
    may run on the p2p thread."""

    def __init__(
        self,
        source: ChannelSource,
        publisher: Publisher,
        directory: Path | None = None,
        config: SwarmConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.publisher = publisher
        self.config = config or SwarmConfig()
        self.stats = SwarmStats()
        self._clock = clock
        self._disk = None if directory is None else Disk(directory, self.config.disk_bytes)
        self._outbox = Outbox(
            publisher, self.config.batch_interval, self.config.batch_bytes, self.stats
        )
        self._identities: dict[bytes, LocalIdentity] = {}
        self._followed: dict[bytes, _Followed] = {}
        self._writers: dict[tuple[bytes, bytes], ChannelWriter] = {}
        self._buckets: dict[bytes, TokenBucket] = {}
        self._keys: dict[tuple[bytes, int], bytes] = {}  # unsealed epoch keys
        self._listeners: dict[int, tuple[bytes, Listener]] = {}
        self._listener_ids = itertools.count(1)
        self._names: dict[bytes, str] = {}  # senders' names, read again after each block
        self._since_persist = 0
        # valid_from of every certificate seen per derived identity: the keys of older ones
        # open the epochs sealed before a certificate rotation, across restarts too.
        self._valid_from: dict[bytes, set[int]]
        self._reserved, self._resume, self._valid_from = (
            self._disk.load() if self._disk else ({}, {}, {})
        )

    # ---- identities and channels ----

    def add_identity(self, identity: LocalIdentity) -> None:
        """Hold `identity`'s keys for sending and reading (from the keystore, at start)."""
        self._identities[identity.address] = identity
        self.refresh()

    @property
    def identities(self) -> tuple[bytes, ...]:
        return tuple(self._identities)

    def channel_id(self, id_or_name: str | bytes) -> bytes:
        """A channel id from its 32 bytes or its name."""
        if isinstance(id_or_name, bytes):
            return id_or_name
        return channel_id_of(self.source.chain_id, id_or_name)

    async def follow(self, channel_id: bytes) -> None:
        """Relay the channel's topic (and read it, for local members). Idempotent."""
        if channel_id in self._followed:
            return
        if len(channel_id) != HASH_SIZE:
            raise SwarmError("a channel id is 32 bytes")
        entry = _Followed(channel_id, topic_for(self.source.chain_id, channel_id))
        self._followed[channel_id] = entry
        self._refresh_channel(entry)

        async def handle(data: bytes, peer: str) -> None:
            try:
                envelopes = decode_batch(data)
            except DecodeError:
                return  # the validator refuses these; a publisher without one may not
            self.stats.arrived += len(envelopes)
            for envelope in envelopes:
                self._arrived(entry, envelope)

        await self.publisher.subscribe(entry.topic, handle, lambda d, p: self.validator(entry, d))

    @property
    def followed(self) -> tuple[bytes, ...]:
        return tuple(self._followed)

    async def follow_local(self, channel_ids: Iterable[bytes]) -> None:
        """Follow those of `channel_ids` where a local identity is a member or pending (call
        with the channels a committed block touched)."""
        for channel_id in channel_ids:
            if channel_id in self._followed:
                continue
            channel = self.source.channel(channel_id)
            if channel is None:
                continue
            record = self.source.epoch(channel_id, channel.epoch)
            involved = set(channel.pending) | set(record.members if record else ())
            if involved & self._identities.keys():
                await self.follow(channel_id)

    async def on_block(self, payloads: Iterable[object]) -> None:
        """After a committed block: follow the channels its channel transactions touched (all
        of them with `relay_all`, else those of local members), then re-read every view."""
        changed = [p for p in payloads if isinstance(p, chain_channels.ChannelPayload)]
        touched = touched_channels(self.source.chain_id, changed)  # type: ignore[arg-type]
        if self.config.relay_all:
            for channel_id in sorted(touched):
                await self.follow(channel_id)
        else:
            await self.follow_local(touched)
        self.refresh()

    def refresh(self) -> None:
        """Re-read every followed channel from the chain (after each committed block), and
        write the readers' high water if messages arrived: a crash then reopens the replay
        window for at most one block's messages (the timestamp window still bounds those)."""
        self._names.clear()
        for entry in self._followed.values():
            self._refresh_channel(entry)
        if self._since_persist:
            self.persist()

    def _refresh_channel(self, entry: _Followed) -> None:
        now = int(self._clock())
        channel = self.source.channel(entry.channel_id)
        if channel is None:
            entry.open_epochs = frozenset()
            return
        previous = self.source.epoch(entry.channel_id, channel.epoch - 1) if channel.epoch else None
        entry.open_epochs = chain_channels.open_epochs(
            channel, previous, now, self.config.policy.grace
        )
        entry.pending_change = bool(channel.pending or channel.leaving)
        epochs: list[Epoch] = []
        local: dict[int, frozenset[bytes]] = {}
        for number in sorted({channel.epoch, max(channel.epoch - 1, 0)}):
            record = self.source.epoch(entry.channel_id, number)
            if record is None:
                continue
            members = self.member_keys(record.members)
            mine = frozenset(record.members) & self._identities.keys()
            local[number] = mine
            key = self._epoch_key(entry.channel_id, record, mine)
            epochs.append(Epoch(number, members, key, record.superseded_at))
        entry.local_members = local
        view = ChannelView(entry.channel_id, tuple(epochs))
        if not any(e.key for e in epochs):
            entry.reader = None  # a relay: no local member holds a key
        elif entry.reader is None:
            resume = self._resume.get(entry.channel_id)
            entry.reader = ChannelReader(view, self.config.policy, resume)
        else:
            entry.reader.update(view)

    def member_keys(self, addresses: Iterable[bytes]) -> tuple[MemberKeys, ...]:
        """The chain's keys of `addresses` (those with a certificate), for views and rotations."""
        keys = []
        for address in addresses:
            identity = self.source.identity(address)
            if identity is None or identity.box_pubkey is None:
                continue  # the chain refuses such members; never fail a whole view on one
            keys.append(MemberKeys(address, identity.pubkey, identity.box_pubkey))
        return tuple(keys)

    def _epoch_key(
        self, channel_id: bytes, record: EpochRecord, mine: frozenset[bytes]
    ) -> bytes | None:
        cached = self._keys.get((channel_id, record.number))
        if cached is not None or not mine:
            return cached
        for address in sorted(mine):
            for box in self._box_keys(address):
                try:
                    key = unseal(record.rotation, address, box)
                except UnsealError as exc:
                    log.debug("epoch %d: %s", record.number, exc)
                    continue
                self._keys[(channel_id, record.number)] = key
                return key
        log.warning(
            "no local member could open the key of epoch %d of channel %s (a rotator that "
            "cheated, or a lost X25519 key)",
            record.number,
            channel_id.hex()[:16],
        )
        return None

    def _box_keys(self, address: bytes) -> list[EncryptionKey]:
        identity = self._identities[address]
        keys = list(identity.box_keys)
        if identity.derive:
            seen = self._valid_from.setdefault(address, set())
            record = self.source.identity(address)
            current = None if record is None or record.certificate is None else record.certificate
            if current is not None and current.valid_from not in seen:
                seen.add(current.valid_from)
                self._since_persist += 1  # written with the next persist
            # Newest first; older ones open epochs sealed before a certificate rotation.
            keys += [derive_encryption_key(identity.key, v) for v in sorted(seen, reverse=True)]
        return keys

    # ---- relaying and receiving ----

    def validator(self, entry: _Followed, data: bytes) -> RelayVerdict:
        """Before relaying a gossip message: a batch of envelopes, each well formed, for this
        channel, in an open epoch."""
        reason = check_batch(data, entry.channel_id, entry.open_epochs)
        if reason is None:
            self.stats.relayed += 1
            return RelayVerdict.ACCEPT
        self.stats.dropped += 1
        if reason is Rejection.UNKNOWN_EPOCH:
            return RelayVerdict.IGNORE  # our chain may be behind the sender's, or it is stale
        return RelayVerdict.REJECT

    def _arrived(self, entry: _Followed, data: bytes) -> SwarmMessage | None:
        if self._disk is not None:
            self._disk.append(entry.channel_id, data)
        if entry.reader is None:
            return None
        outcome = entry.reader.receive(data, int(self._clock()))
        if isinstance(outcome, Rejected):
            reason = outcome.reason.value
            self.stats.rejected[reason] = self.stats.rejected.get(reason, 0) + 1
            log.debug("channel %s: rejected (%s)", entry.channel_id.hex()[:16], reason)
            return None
        return self._store(entry, outcome)

    def _store(self, entry: _Followed, received: Received) -> SwarmMessage:
        message = SwarmMessage(
            entry.next_index,
            received.channel_id,
            received.epoch,
            received.sender,
            self._name_of(received.sender),
            received.sequence,
            received.timestamp,
            received.payload,
            received.signature,
            received.message_hash,
            entry.local_members.get(received.epoch, frozenset()),
        )
        entry.next_index += 1
        entry.messages.append(message)
        while len(entry.messages) > self.config.max_messages:
            entry.messages.popleft()
        self.stats.accepted += 1
        self._since_persist += 1
        if self._since_persist >= self.config.persist_every:
            self.persist()
        for channel_id, listener in list(self._listeners.values()):
            if channel_id == entry.channel_id:
                try:
                    listener(message)
                except Exception:
                    log.exception("swarm listener failed")
        return message

    def _name_of(self, address: bytes) -> str:
        name = self._names.get(address)
        if name is None:
            record = self.source.identity(address)
            name = self._names[address] = "" if record is None else record.name
        return name

    # ---- sending ----

    async def send(self, sender: bytes, channel_id: bytes, payload: bytes) -> Sent:
        """Sign, encrypt and publish `payload` for local identity `sender` in the current
        epoch. Raises NotLocal, NotMember, RateLimited or SwarmError with the reason."""
        identity = self._identities.get(sender)
        if identity is None:
            raise NotLocal(f"this node holds no key for {to_checksum_address(sender)}")
        if len(payload) > MAX_PAYLOAD:
            raise SwarmError(f"a payload is at most {MAX_PAYLOAD} bytes, got {len(payload)}")
        entry = self._followed.get(channel_id)
        if entry is None:
            if self.source.channel(channel_id) is None:
                raise UnknownChannelError(f"no channel 0x{channel_id.hex()}")
            await self.follow(channel_id)
            entry = self._followed[channel_id]
        reader = entry.reader
        current = None if reader is None else reader.view.current
        if current is None or current.member(sender) is None or current.key is None:
            raise NotMember(
                f"{to_checksum_address(sender)} is not a member of the channel's current epoch"
            )
        if entry.pending_change:
            # A leaver still holds this epoch's key: wait for the rotation that drops it.
            channel = self.source.channel(channel_id)
            if channel is not None and channel.leaving:
                raise SwarmError(
                    "members are leaving this channel: send after the next rotation "
                    "(aither swarm rotate)"
                )
        bucket = self._buckets.get(sender)
        if bucket is None:
            bucket = self._buckets[sender] = TokenBucket(
                self.config.send_rate, self.config.send_burst
            )
        if not bucket.take(time.monotonic()):
            raise RateLimited(
                f"{to_checksum_address(sender)} sends more than "
                f"{self.config.send_rate:g} messages/s: slow down"
            )
        writer = self._writer(identity, channel_id)
        self._reserve(sender, channel_id, writer.next_sequence)
        sequence = writer.next_sequence
        try:
            envelope = writer.encrypt(payload, current, int(self._clock()))
        except SwarmSendError as exc:
            raise SwarmError(str(exc)) from None
        self.stats.sent += 1
        # Gossip does not hand our own publications back: the other local members (and the
        # sender's own `listen`) get it here, through the same checks as any arrival.
        self._arrived(entry, envelope)
        await self._outbox.add(entry.topic, envelope)
        return Sent(hash32(envelope), channel_id, current.number, sequence, len(envelope))

    def _writer(self, identity: LocalIdentity, channel_id: bytes) -> ChannelWriter:
        slot = (identity.address, channel_id)
        writer = self._writers.get(slot)
        if writer is None:
            writer = ChannelWriter(identity.key, channel_id, self._reserved.get(slot, 0))
            self._writers[slot] = writer
        return writer

    def _reserve(self, sender: bytes, channel_id: bytes, sequence: int) -> None:
        slot = (sender, channel_id)
        if sequence < self._reserved.get(slot, 0):
            return
        # Persist before use: after a crash the writer restarts above anything it sent.
        self._reserved[slot] = sequence + self.config.sequence_reserve
        self.persist()

    # ---- reading ----

    def messages(
        self, channel_id: bytes, since: int = 0, reader: bytes | None = None, limit: int = 1000
    ) -> list[SwarmMessage]:
        """Messages after index `since` that local identity `reader` (any local member when
        None) may read: those of epochs it is a member of."""
        entry = self._followed.get(channel_id)
        if entry is None or entry.reader is None:
            raise NotMember("no local identity is a member of this channel")
        if reader is not None and reader not in self._identities:
            raise NotLocal(f"this node holds no key for {to_checksum_address(reader)}")
        found = []
        for message in entry.messages:
            if message.index <= since:
                continue
            if reader is not None and reader not in message.readers:
                continue
            found.append(message)
            if len(found) >= limit:
                break
        return found

    def find(self, message_hash: bytes) -> SwarmMessage | None:
        """A stored message by its hash, in any followed channel (for `accept`)."""
        for entry in self._followed.values():
            for message in entry.messages:
                if message.message_hash == message_hash:
                    return message
        return None

    def listen(self, channel_id: bytes, listener: Listener) -> int:
        """Call `listener` with each message accepted on the channel; returns a handle."""
        entry = self._followed.get(channel_id)
        if entry is None or entry.reader is None:
            raise NotMember("no local identity is a member of this channel")
        handle = next(self._listener_ids)
        self._listeners[handle] = (channel_id, listener)
        return handle

    def unlisten(self, handle: int) -> None:
        self._listeners.pop(handle, None)

    def stored_envelopes(self, channel_id: bytes) -> list[bytes]:
        """The ciphertexts kept on disk for a channel (relays keep nothing else)."""
        return [] if self._disk is None else self._disk.envelopes(channel_id)

    # ---- rotations a local member can post ----

    def rotation_for(self, channel_id: bytes, poster: bytes) -> RotateKey:
        """A rotation to the next epoch covering the members the chain expects, for local
        member `poster` to sign and submit. Raises SwarmError when it cannot be built."""
        if poster not in self._identities:
            raise NotLocal(f"this node holds no key for {to_checksum_address(poster)}")
        channel = self.source.channel(channel_id)
        if channel is None:
            raise UnknownChannelError(f"no channel 0x{channel_id.hex()}")
        record = self.source.epoch(channel_id, channel.epoch)
        assert record is not None
        expected = chain_channels.expected_members(channel, record.members)
        if poster not in expected:
            raise NotMember("the poster of a rotation must be a member of the new epoch")
        members = self.member_keys(expected)
        if len(members) != len(expected):
            raise SwarmError("a member of the new epoch has no certified encryption key")
        _, rotation = rotate(channel_id, channel.epoch + 1, members)
        return RotateKey(channel_id, rotation)

    # ---- persistence ----

    def persist(self) -> None:
        """Write reserved sequences and readers' high water (never any message)."""
        self._since_persist = 0
        if self._disk is None:
            return
        high = dict(self._resume)
        for channel_id, entry in self._followed.items():
            if entry.reader is not None:
                high[channel_id] = entry.reader.high_water()
        self._resume = high
        self._disk.save(self._reserved, high, self._valid_from)
        self._disk.flush()

    async def flush(self) -> None:
        """Publish the envelopes waiting for their batch's turn now."""
        await self._outbox.flush()

    def close(self) -> None:
        """Persist and close the files (at node stop; envelopes still waiting are dropped)."""
        self._outbox.close()
        self.persist()
        if self._disk is not None:
            self._disk.close()


def touched_channels(chain_id: int, payloads: Iterable[AnyChannelPayload]) -> set[bytes]:
    """The channels that committed channel transactions changed (to follow and refresh)."""
    found = set()
    for payload in payloads:
        if isinstance(payload, CreateChannel):
            found.add(channel_id_of(chain_id, payload.name))
        else:
            found.add(payload.channel_id)
    return found


def channel_payloads(raw_transactions: Iterable[bytes]) -> list[object]:
    """The payloads of a committed block's transactions, for `SwarmService.on_block`."""
    from ledger.tx import decode_transaction

    found: list[object] = []
    for raw in raw_transactions:
        try:
            found.append(decode_transaction(raw).tx.payload)
        except AitherError:
            continue  # committed blocks hold valid transactions; never fail a listener
    return found


class NullPublisher:
    """No network (a dev node): local members still read each other, through `send`."""

    async def subscribe(self, topic: str, handler: Handler, validator: Validator) -> None:
        return None

    async def publish(self, topic: str, data: bytes) -> None:
        return None


# ---- libp2p adapter ------------------------------------------------------------------------------

# Swarm topics get explicit limits: no gossip message is larger than a batch, and the rate (of
# batches, each of up to MAX_BATCH_ENVELOPES) leaves room for every node's senders at once.
SWARM_RATE = 2_000.0
SWARM_BURST = 4_000


class GossipPublisher:
    """`Publisher` over `p2p.gossip.Gossip`, with the swarm topics' limits and verdicts."""

    def __init__(self, gossip: Gossip) -> None:
        self._gossip = gossip

    async def subscribe(self, topic: str, handler: Handler, validator: Validator) -> None:
        from p2p.gossip import TopicLimits, Verdict  # libp2p: only networked nodes import it

        verdicts = {
            RelayVerdict.ACCEPT: Verdict.ACCEPT,
            RelayVerdict.REJECT: Verdict.REJECT,
            RelayVerdict.IGNORE: Verdict.IGNORE,
        }
        limits = TopicLimits(max_size=MAX_BATCH, rate=SWARM_RATE, burst=SWARM_BURST)
        await self._gossip.subscribe(
            topic,
            handler,
            lambda data, peer: verdicts[validator(data, peer)],
            limits,
            anonymous=True,  # the wire names no author: envelopes are signed inside
        )

    async def publish(self, topic: str, data: bytes) -> None:
        await self._gossip.publish(topic, data)


__all__ = [
    "ChannelSource",
    "GossipPublisher",
    "LocalIdentity",
    "NotLocal",
    "NotMember",
    "NullPublisher",
    "Publisher",
    "RateLimited",
    "RelayVerdict",
    "Sent",
    "StateChannels",
    "SwarmConfig",
    "SwarmError",
    "SwarmMessage",
    "SwarmService",
    "channel_payloads",
    "touched_channels",
]
