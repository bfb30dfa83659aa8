"""The swarm service: channel messages for local identities, relaying for everyone else.

The package docstring (node/swarm/__init__.py) describes what it does and why.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from core.crypto import HASH_SIZE, hash32, to_checksum_address
from core.errors import DecodeError
from core.swarm_keys import MemberKeys, rotate
from core.swarm_wire import MAX_BATCH, MAX_PAYLOAD, decode_batch
from ledger.channels.payloads import AnyChannelPayload, RotateKey, channel_id_of
from ledger.channels.records import expected_members, open_epochs
from node.swarm.chain import ChannelSource, member_keys, touched_channels
from node.swarm.disk import Disk
from node.swarm.errors import NotLocal, NotMember, RateLimited, SwarmError, UnknownChannelError
from node.swarm.gossip import Publisher, RelayVerdict, topic_for
from node.swarm.keys import LocalIdentity, LocalKeys
from node.swarm.messages import Listener, Sent, SwarmMessage, SwarmStats
from node.swarm.outbox import Outbox
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

log = logging.getLogger("aither.swarm")


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
        self._followed: dict[bytes, _Followed] = {}
        self._writers: dict[tuple[bytes, bytes], ChannelWriter] = {}
        self._buckets: dict[bytes, TokenBucket] = {}
        self._listeners: dict[int, tuple[bytes, Listener]] = {}
        self._listener_ids = itertools.count(1)
        self._names: dict[bytes, str] = {}  # senders' names, read again after each block
        self._since_persist = 0
        self._reserved, self._resume, valid_from = self._disk.load() if self._disk else ({}, {}, {})
        self._local = LocalKeys(source, valid_from)

    # ---- identities and channels ----

    def add_identity(self, identity: LocalIdentity) -> None:
        """Hold `identity`'s keys for sending and reading (from the keystore, at start)."""
        self._local.identities[identity.address] = identity
        self.refresh()

    @property
    def identities(self) -> tuple[bytes, ...]:
        return tuple(self._local.identities)

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
            if involved & self._local.identities.keys():
                await self.follow(channel_id)

    async def on_block(self, payloads: Iterable[object]) -> None:
        """After a committed block: follow the channels its channel transactions touched (all
        of them with `relay_all`, else those of local members), then re-read every view."""
        changed = [p for p in payloads if isinstance(p, AnyChannelPayload)]
        touched = touched_channels(self.source.chain_id, changed)
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
        if self._since_persist or self._local.unsaved:
            self.persist()

    def _refresh_channel(self, entry: _Followed) -> None:
        now = int(self._clock())
        channel = self.source.channel(entry.channel_id)
        if channel is None:
            entry.open_epochs = frozenset()
            return
        previous = self.source.epoch(entry.channel_id, channel.epoch - 1) if channel.epoch else None
        entry.open_epochs = open_epochs(channel, previous, now, self.config.policy.grace)
        entry.pending_change = bool(channel.pending or channel.leaving)
        epochs: list[Epoch] = []
        local: dict[int, frozenset[bytes]] = {}
        for number in sorted({channel.epoch, max(channel.epoch - 1, 0)}):
            record = self.source.epoch(entry.channel_id, number)
            if record is None:
                continue
            members = self.member_keys(record.members)
            mine = frozenset(record.members) & self._local.identities.keys()
            local[number] = mine
            key = self._local.epoch_key(entry.channel_id, record, mine)
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
        return member_keys(self.source, addresses)

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
        identity = self._local.identities.get(sender)
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
        if reader is not None and reader not in self._local.identities:
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

    def hashes_with_prefix(self, digits: str, limit: int = 8) -> list[bytes]:
        """Hashes of stored messages whose hex starts with `digits`; at most `limit`."""
        found = sorted(
            {
                message.message_hash
                for entry in self._followed.values()
                for message in entry.messages
                if message.message_hash.hex().startswith(digits)
            }
        )
        return found[:limit]

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
        if poster not in self._local.identities:
            raise NotLocal(f"this node holds no key for {to_checksum_address(poster)}")
        channel = self.source.channel(channel_id)
        if channel is None:
            raise UnknownChannelError(f"no channel 0x{channel_id.hex()}")
        record = self.source.epoch(channel_id, channel.epoch)
        assert record is not None
        expected = expected_members(channel, record.members)
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
        self._local.unsaved = False
        if self._disk is None:
            return
        high = dict(self._resume)
        for channel_id, entry in self._followed.items():
            if entry.reader is not None:
                high[channel_id] = entry.reader.high_water()
        self._resume = high
        self._disk.save(self._reserved, high, self._local.valid_from)
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
