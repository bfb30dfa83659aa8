"""End-to-end encryption of swarm channels: the sans-I/O core a node wraps with gossip and chain.

One channel, seen by one identity:

- `ChannelView` is the chain's view of the channel, passed in as data: per epoch, its members
  (address, ed25519 and X25519 keys) and the epoch key this identity unsealed, if it is a member.
- `ChannelWriter` numbers this identity's messages and seals them (`swarm_wire.seal_message`).
- `ChannelReader` opens what arrives and accepts a message only once, from a member of its
  epoch, correctly signed, stamped within `max_skew` of the `now` it is given; every refusal is
  a `Rejected` with a `Rejection` reason, never an exception.
- `check_envelope` is all a relay (a node that is not a member) can check before relaying;
  `check_batch` checks a gossip message's batch of envelopes the same way.

Nothing here reads a clock, a file or a socket: times come in as arguments, so the simulator,
the tests and the node drive the same code. Key material: `core.swarm_keys`; bytes on the wire:
`core.swarm_wire`. See docs/swarm-encryption.md for the scheme and why it was chosen.
"""

from __future__ import annotations

import enum
from collections.abc import Container, Mapping
from dataclasses import dataclass, field

from core.crypto import HASH_SIZE, SigningKey, hash32, verify
from core.errors import DecodeError
from core.schema import MAX_U64
from core.swarm_keys import EPOCH_KEY_SIZE, MAX_MEMBERS, MemberKeys
from core.swarm_wire import (
    Envelope,
    MessageSigner,
    SignedMessage,
    decode_batch,
    open_envelope,
    seal_message,
    signed_statement,
)
from p2p.errors import P2PError


class SwarmSendError(P2PError):
    """This identity cannot send on the channel now (not a member, no key, sequence spent)."""


class Rejection(enum.Enum):
    """Why a member refused a message. A relay (`check_envelope`) can tell only the first three."""

    MALFORMED = "malformed"  # the envelope is not canonical or out of bounds
    WRONG_CHANNEL = "wrong channel"  # the envelope names another channel than its topic's
    UNKNOWN_EPOCH = "unknown epoch"  # not an epoch of this channel as the chain knows it
    EPOCH_CLOSED = "epoch closed"  # superseded by a rotation longer ago than the grace period
    NO_EPOCH_KEY = "no epoch key"  # this identity is not a member of that epoch
    NOT_DECRYPTABLE = "not decryptable"  # authentication failed under the epoch key
    MALFORMED_INNER = "malformed inner message"  # decrypted, but not a canonical message
    NOT_A_MEMBER = "sender not a member"  # the sender is not a member at that epoch
    TIMESTAMP_OUT_OF_WINDOW = "timestamp out of window"  # more than max_skew from now
    SEQUENCE_TOO_OLD = "sequence too old"  # below the sender's replay window: cannot tell
    REPLAYED = "replayed"  # this (sender, sequence) was already accepted
    BAD_SIGNATURE = "bad signature"  # not signed by the sender's key at that epoch


@dataclass(frozen=True, slots=True)
class Epoch:
    """One key epoch of a channel as the chain records it.

    `key` is the epoch key this identity unsealed (None if it is not a member). `superseded_at`
    is the time (seconds, the node's choice of clock: the block time of the next rotation) at
    which a later epoch replaced this one; None while it is current.
    """

    number: int
    members: tuple[MemberKeys, ...]
    key: bytes | None = None
    superseded_at: int | None = None
    _by_address: Mapping[bytes, MemberKeys] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if type(self.number) is not int or not 0 <= self.number <= MAX_U64:
            raise ValueError("an epoch number is an unsigned 64-bit integer")
        if len(self.members) > MAX_MEMBERS:
            raise ValueError(f"a channel has at most {MAX_MEMBERS} members")
        if self.key is not None and len(self.key) != EPOCH_KEY_SIZE:
            raise ValueError(f"an epoch key is {EPOCH_KEY_SIZE} bytes")
        by_address = {m.address: m for m in self.members}
        if len(by_address) != len(self.members):
            raise ValueError("a member appears twice in an epoch")
        object.__setattr__(self, "_by_address", by_address)

    def member(self, address: bytes) -> MemberKeys | None:
        return self._by_address.get(address)


@dataclass(frozen=True, slots=True)
class ChannelView:
    """The epochs of one channel that an identity still reads (the current and recent ones)."""

    channel_id: bytes
    epochs: tuple[Epoch, ...]

    def __post_init__(self) -> None:
        if type(self.channel_id) is not bytes or len(self.channel_id) != HASH_SIZE:
            raise ValueError("a channel id is 32 bytes")
        if len({e.number for e in self.epochs}) != len(self.epochs):
            raise ValueError("an epoch appears twice in a channel view")

    def epoch(self, number: int) -> Epoch | None:
        return next((e for e in self.epochs if e.number == number), None)

    @property
    def current(self) -> Epoch | None:
        """The highest epoch not yet superseded: the one to send in."""
        live = [e for e in self.epochs if e.superseded_at is None]
        return max(live, key=lambda e: e.number) if live else None


@dataclass(frozen=True, slots=True)
class ReaderPolicy:
    """How tolerant a reader is. Times in seconds."""

    max_skew: int = 120  # a message's timestamp may differ from `now` by this much either way
    grace: int = 60  # a superseded epoch stays readable this long, for messages in flight
    replay_window: int = 1024  # sequences per sender remembered below the highest seen

    def __post_init__(self) -> None:
        if self.max_skew < 0 or self.grace < 0 or self.replay_window < 1:
            raise ValueError("max_skew and grace must be >= 0, replay_window >= 1")


@dataclass(frozen=True, slots=True)
class Received:
    """A message a member accepted. `message_hash` (of the envelope) names it, say for rewards."""

    channel_id: bytes
    epoch: int
    sender: bytes
    sequence: int
    timestamp: int
    payload: bytes
    signature: bytes
    message_hash: bytes


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: Rejection
    detail: str


@dataclass(slots=True)
class ReplayWindow:
    """A sender's accepted sequences: the highest, and a bitmap of the `size` below it.

    Bounded memory per sender whatever it sends; a sequence more than `size` below the highest
    cannot be told apart from a replay, so it is refused as too old.
    """

    size: int
    highest: int = -1
    seen: int = 0  # bit i set: sequence `highest - i` was accepted

    def check(self, sequence: int) -> Rejection | None:
        if sequence > self.highest:
            return None
        offset = self.highest - sequence
        if offset >= self.size:
            return Rejection.SEQUENCE_TOO_OLD
        if self.seen >> offset & 1:
            return Rejection.REPLAYED
        return None

    def accept(self, sequence: int) -> None:
        if sequence > self.highest:
            shift = sequence - self.highest
            # A jump past the window forgets it all (and never builds a huge shifted integer).
            self.seen = ((self.seen << shift) | 1) & self._mask if shift < self.size else 1
            self.highest = sequence
        else:
            self.seen |= 1 << (self.highest - sequence)

    @property
    def _mask(self) -> int:
        return (1 << self.size) - 1

    @classmethod
    def resumed(cls, size: int, highest: int) -> ReplayWindow:
        """A window that treats everything up to `highest` as seen (state kept across restart)."""
        return cls(size, highest, (1 << size) - 1)


def check_envelope(data: bytes, channel_id: bytes, open_epochs: Container[int]) -> Rejection | None:
    """What a relay can check before relaying: None to relay, or why to drop.

    `open_epochs` are the channel's epochs the chain still accepts messages in (the current one,
    and the previous one during its grace period). A relay sees no sender, so per-identity rate
    limits are the member nodes' job; per-peer rates and sizes are the gossip layer's.
    """
    try:
        envelope = Envelope.decode(data)
    except DecodeError:
        return Rejection.MALFORMED
    if envelope.channel_id != channel_id:
        return Rejection.WRONG_CHANNEL
    if envelope.epoch not in open_epochs:
        return Rejection.UNKNOWN_EPOCH
    return None


def check_batch(data: bytes, channel_id: bytes, open_epochs: Container[int]) -> Rejection | None:
    """`check_envelope` for a gossip message's batch: None to relay it whole, else the worst
    reason any envelope gives (MALFORMED or WRONG_CHANNEL before UNKNOWN_EPOCH).

    A batch is relayed whole or dropped whole: its origin built it, so one malformed or
    misaddressed envelope condemns the batch, and one of an epoch this node does not accept
    (its chain may lag the origin's at a rotation) makes it drop the batch without blame.
    """
    try:
        envelopes = decode_batch(data)
    except DecodeError:
        return Rejection.MALFORMED
    stale = None
    for envelope in envelopes:
        reason = check_envelope(envelope, channel_id, open_epochs)
        if reason is Rejection.UNKNOWN_EPOCH:
            stale = reason
        elif reason is not None:
            return reason
    return stale


class ChannelWriter:
    """Numbers and seals one identity's messages on one channel.

    Sequences must never repeat for a channel, or receivers refuse the later message as a
    replay: the node persists `next_sequence` (or a reserved block of sequences) and passes it
    back in after a restart.
    """

    def __init__(self, identity: SigningKey, channel_id: bytes, next_sequence: int = 0) -> None:
        if type(channel_id) is not bytes or len(channel_id) != HASH_SIZE:
            raise ValueError("a channel id is 32 bytes")
        if type(next_sequence) is not int or not 0 <= next_sequence <= MAX_U64:
            raise ValueError("a sequence is an unsigned 64-bit integer")
        self._signer = MessageSigner.of(identity)
        self._address = self._signer.address
        self.channel_id = channel_id
        self._next = next_sequence

    @property
    def next_sequence(self) -> int:
        return self._next

    def encrypt(self, payload: bytes, epoch: Epoch, now: int) -> bytes:
        """The envelope of `payload`, signed and sealed under `epoch`'s key, stamped `now`.

        Raises SwarmSendError if `epoch` was superseded, this identity is not a member of it or
        holds no key for it, or has used every sequence; ValueError on a payload over
        MAX_PAYLOAD or a bad `now`. The sequence advances only when an envelope is returned.
        """
        if epoch.superseded_at is not None:
            # Members who learnt of the rotation would soon drop it; a departed member reads it.
            raise SwarmSendError(f"epoch {epoch.number} was superseded: send in the current one")
        if epoch.member(self._address) is None:
            raise SwarmSendError(f"not a member of epoch {epoch.number}")
        if epoch.key is None:
            raise SwarmSendError(f"no key for epoch {epoch.number}")
        if self._next > MAX_U64:
            raise SwarmSendError("sequence numbers exhausted on this channel")
        sealed = seal_message(
            self._signer, self.channel_id, epoch.number, epoch.key, self._next, now, payload
        )
        self._next += 1
        return sealed


class ChannelReader:
    """Opens and checks the messages of one channel for one identity.

    State: the view (replaced with `update` when the chain changes) and one replay window per
    sender that ever got a message accepted, so at most one per member of the epochs read.
    """

    def __init__(
        self,
        view: ChannelView,
        policy: ReaderPolicy | None = None,
        resume: Mapping[bytes, int] | None = None,
    ) -> None:
        """`resume` maps senders to the highest sequence accepted before a restart."""
        self.policy = policy or ReaderPolicy()
        self._view = view
        size = self.policy.replay_window
        self._windows: dict[bytes, ReplayWindow] = {
            sender: ReplayWindow.resumed(size, highest)
            for sender, highest in (resume or {}).items()
        }

    @property
    def view(self) -> ChannelView:
        return self._view

    def update(self, view: ChannelView) -> None:
        """Replace the chain's view (a rotation, a join, a removal). Raises ValueError if it is
        another channel's."""
        if view.channel_id != self._view.channel_id:
            raise ValueError("a reader follows one channel")
        self._view = view
        # Only members of the epochs still read can pass, so other senders' windows can go: a
        # replay of their messages names an epoch no longer in the view.
        current = {m.address for e in view.epochs for m in e.members}
        for sender in self._windows.keys() - current:
            del self._windows[sender]

    def high_water(self) -> dict[bytes, int]:
        """The highest sequence accepted per sender: what to persist for `resume`."""
        return {sender: w.highest for sender, w in self._windows.items()}

    def receive(self, data: bytes, now: int) -> Received | Rejected:
        """Open, check and accept `data` at time `now` (seconds). Never raises on bad input.

        Cheap checks run before the signature (about 43 us, the cost of a message) so that
        garbage costs little; the replay window changes only once everything passed.
        """
        try:
            envelope = Envelope.decode(data)
        except DecodeError as exc:
            return Rejected(Rejection.MALFORMED, str(exc))
        view = self._view
        if envelope.channel_id != view.channel_id:
            return Rejected(Rejection.WRONG_CHANNEL, "envelope names another channel")
        epoch = view.epoch(envelope.epoch)
        if epoch is None:
            return Rejected(Rejection.UNKNOWN_EPOCH, f"epoch {envelope.epoch} is not in the view")
        if epoch.superseded_at is not None and now > epoch.superseded_at + self.policy.grace:
            # Otherwise a removed member, who keeps the old key, could keep writing in it.
            return Rejected(Rejection.EPOCH_CLOSED, f"epoch {epoch.number} was superseded")
        if epoch.key is None:
            return Rejected(Rejection.NO_EPOCH_KEY, f"no key for epoch {epoch.number}")
        inner = open_envelope(envelope, epoch.key)
        if inner is None:
            return Rejected(Rejection.NOT_DECRYPTABLE, "does not authenticate under the epoch key")
        try:
            message = SignedMessage.decode(inner)
        except DecodeError as exc:
            return Rejected(Rejection.MALFORMED_INNER, str(exc))
        return self._check(envelope, epoch, message, now, data)

    def _check(
        self, envelope: Envelope, epoch: Epoch, message: SignedMessage, now: int, data: bytes
    ) -> Received | Rejected:
        sender = epoch.member(message.sender)
        if sender is None:
            return Rejected(Rejection.NOT_A_MEMBER, f"sender not a member of epoch {epoch.number}")
        if abs(message.timestamp - now) > self.policy.max_skew:
            return Rejected(
                Rejection.TIMESTAMP_OUT_OF_WINDOW,
                f"timestamp {message.timestamp} is {message.timestamp - now:+d} s from now",
            )
        window = self._windows.get(message.sender)
        seen = window.check(message.sequence) if window is not None else None
        if seen is not None:
            return Rejected(seen, f"sequence {message.sequence}")
        statement = signed_statement(
            envelope.channel_id,
            envelope.epoch,
            message.sender,
            message.sequence,
            message.timestamp,
            hash32(message.payload),
        )
        if not verify(sender.sign_pubkey, statement, message.signature):
            return Rejected(Rejection.BAD_SIGNATURE, "not signed by the sender's key")
        if window is None:
            # Created only for a verified member, so windows stay bounded by the membership.
            window = self._windows[message.sender] = ReplayWindow(self.policy.replay_window)
        window.accept(message.sequence)
        return Received(
            envelope.channel_id,
            envelope.epoch,
            message.sender,
            message.sequence,
            message.timestamp,
            message.payload,
            message.signature,
            hash32(data),
        )
