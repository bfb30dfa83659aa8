"""Channels in state: each channel's record, its key epochs, and rewards held in escrow.

The state tables are these one-byte prefixes (taken elsewhere: a t b v c g k l q in
ledger/state.py, P M N Q I S V X E in ledger/governance/, i d in ledger/identity.py):
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.amounts import MAX_AMOUNT
from core.crypto import (
    ADDRESS_SIZE,
    HASH_SIZE,
    to_checksum_address,
)
from core.encoding import Value, decode
from core.errors import ExecutionFailed
from core.schema import MAX_U64, byte_strings, sized_bytes, text, uint
from core.schema import fields as _fields
from core.swarm_keys import MAX_MEMBERS, MemberKeys, Rotation
from ledger.channels.payloads import ChannelMode
from ledger.identity import load_identity
from ledger.state import Store

CHANNEL = b"w"  # + channel id -> [name, mode, admin, epoch, pending joins, pending leaves, height]
EPOCH = b"e"  # + channel id + epoch (8 bytes) -> [rotation, started at, superseded at | None]
ESCROW = b"o"  # + message hash -> [channel id, requester, amount, timeout height]
TIMEOUTS = b"u"  # + height (8 bytes) -> [message hashes whose rewards time out then]

# Epochs kept on chain: members offline for fewer rotations can still fetch their copies, and
# answers from those epochs can still be accepted. Older ones are deleted as rotations happen.
KEEP_EPOCHS = 64

# ---- errors ------------------------------------------------------------------------------------


class ChannelError(ExecutionFailed):
    """A channel transaction whose effect cannot apply (the fee is still paid)."""


class ChannelExists(ChannelError):
    pass


class UnknownChannel(ChannelError):
    pass


class NotAdmin(ChannelError):
    pass


class NotAMember(ChannelError):
    pass


class NoCertificate(ChannelError):
    """A member without a certified X25519 key could not be sealed to."""


class BadRotation(ChannelError):
    """Wrong channel, wrong epoch, or copies that do not cover exactly the new membership."""


class RewardError(ChannelError):
    """An escrow that cannot be made or paid."""


# ---- records -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Channel:
    """A channel as the chain keeps it. `members` is the current epoch's (its rotation's)."""

    channel_id: bytes
    name: str
    mode: ChannelMode
    admin: bytes
    epoch: int
    pending: tuple[bytes, ...] = ()  # joins waiting for the next rotation, ascending
    leaving: tuple[bytes, ...] = ()  # leaves waiting for the next rotation, ascending
    created: int = 0  # height

    def to_value(self) -> list[Value]:
        return [
            self.name,
            int(self.mode),
            self.admin,
            self.epoch,
            list(self.pending),
            list(self.leaving),
            self.created,
        ]

    @classmethod
    def from_value(cls, channel_id: bytes, value: Value) -> Channel:
        name, mode, admin, epoch, pending, leaving, created = _fields(value, 7, "channel record")
        damaged = "damaged channel record"
        return cls(
            channel_id,
            text(name, 64, damaged),
            ChannelMode(uint(mode, max(ChannelMode), damaged)),
            sized_bytes(admin, ADDRESS_SIZE, damaged),
            uint(epoch, MAX_U64, damaged),
            tuple(byte_strings(pending, MAX_MEMBERS, damaged)),
            tuple(byte_strings(leaving, MAX_MEMBERS, damaged)),
            uint(created, MAX_U64, damaged),
        )

    def to_json(self, members: Iterable[bytes] = ()) -> dict[str, object]:
        return {
            "id": "0x" + self.channel_id.hex(),
            "name": self.name,
            "mode": self.mode.name.lower(),
            "admin": to_checksum_address(self.admin),
            "epoch": self.epoch,
            "members": [to_checksum_address(m) for m in members],
            "pendingJoins": [to_checksum_address(m) for m in self.pending],
            "pendingLeaves": [to_checksum_address(m) for m in self.leaving],
            "created": self.created,
        }


@dataclass(frozen=True, slots=True)
class EpochRecord:
    """One key epoch: its rotation (whose copies name its members) and when it was replaced."""

    rotation: Rotation
    started_at: int  # block time (seconds) of the rotation that opened it
    superseded_at: int | None = None  # block time of the next rotation; None while current

    @property
    def number(self) -> int:
        return self.rotation.epoch

    @property
    def members(self) -> tuple[bytes, ...]:
        return self.rotation.members

    def to_value(self) -> list[Value]:
        return [self.rotation.to_value(), self.started_at, self.superseded_at]

    @classmethod
    def from_value(cls, value: Value) -> EpochRecord:
        rotation, started_at, superseded_at = _fields(value, 3, "epoch record")
        damaged = "damaged epoch record"
        return cls(
            Rotation.from_value(rotation),
            uint(started_at, MAX_U64, damaged),
            None if superseded_at is None else uint(superseded_at, MAX_U64, damaged),
        )

    def to_json(self) -> dict[str, object]:
        rotation = self.rotation
        return {
            "epoch": rotation.epoch,
            "commitment": "0x" + rotation.commitment.hex(),
            "members": [to_checksum_address(m) for m in rotation.members],
            "sealedKeys": {
                to_checksum_address(c.member): "0x" + c.sealed.hex() for c in rotation.copies
            },
            "startedAt": self.started_at,
            "supersededAt": self.superseded_at,
        }


@dataclass(frozen=True, slots=True)
class Escrow:
    """A reward held for answers to one message."""

    message_hash: bytes
    channel_id: bytes
    requester: bytes
    amount: int
    timeout: int

    def to_value(self) -> list[Value]:
        return [self.channel_id, self.requester, self.amount, self.timeout]

    @classmethod
    def from_value(cls, message_hash: bytes, value: Value) -> Escrow:
        channel_id, requester, amount, timeout = _fields(value, 4, "escrow record")
        damaged = "damaged escrow record"
        return cls(
            message_hash,
            sized_bytes(channel_id, HASH_SIZE, damaged),
            sized_bytes(requester, ADDRESS_SIZE, damaged),
            uint(amount, MAX_AMOUNT, damaged),
            uint(timeout, MAX_U64, damaged),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "messageHash": "0x" + self.message_hash.hex(),
            "channel": "0x" + self.channel_id.hex(),
            "requester": to_checksum_address(self.requester),
            "amount": hex(self.amount),
            "timeout": self.timeout,
        }


@dataclass(frozen=True, slots=True)
class ChannelContext:
    """What a channel transaction needs of its block."""

    chain_id: int
    height: int
    timestamp: int  # block time, seconds: epochs' started_at and superseded_at


# ---- reads -------------------------------------------------------------------------------------


def epoch_key(channel_id: bytes, epoch: int) -> bytes:
    return EPOCH + channel_id + epoch.to_bytes(8, "big")


def load_channel(store: Store, channel_id: bytes) -> Channel | None:
    raw = store.get(CHANNEL + channel_id)
    return None if raw is None else Channel.from_value(channel_id, decode(raw))


def load_epoch(store: Store, channel_id: bytes, epoch: int) -> EpochRecord | None:
    raw = store.get(epoch_key(channel_id, epoch))
    return None if raw is None else EpochRecord.from_value(decode(raw, 128 * 1024))


def load_escrow(store: Store, message_hash: bytes) -> Escrow | None:
    raw = store.get(ESCROW + message_hash)
    return None if raw is None else Escrow.from_value(message_hash, decode(raw))


def current_members(store: Store, channel: Channel) -> tuple[bytes, ...]:
    record = load_epoch(store, channel.channel_id, channel.epoch)
    assert record is not None, "a channel's current epoch is always kept"
    return record.members


def member_keys(store: Store, members: Iterable[bytes]) -> tuple[MemberKeys, ...]:
    """Members' ed25519 and certified X25519 keys, as a node's `ChannelView` needs them.

    Raises NoCertificate for a member that has no identity or no certificate (the chain
    refuses such members, so this only happens on corrupted state).
    """
    keys = []
    for address in members:
        identity = load_identity(store, address)
        if identity is None or identity.certificate is None:
            raise NoCertificate(f"{to_checksum_address(address)} has no certified X25519 key")
        keys.append(MemberKeys(address, identity.pubkey, identity.certificate.x25519_pubkey))
    return tuple(keys)


def expected_members(channel: Channel, members: Iterable[bytes]) -> tuple[bytes, ...]:
    """The next epoch's members: current + pending joins - pending leaves, ascending."""
    return tuple(sorted((set(members) | set(channel.pending)) - set(channel.leaving)))


def open_epochs(
    channel: Channel, previous: EpochRecord | None, now: int, grace: int
) -> frozenset[int]:
    """Epochs a relay still forwards at `now`: the current one, and the previous one (its
    record is `previous`) while its supersession is at most `grace` seconds old, for messages
    in flight at a rotation."""
    epochs = {channel.epoch}
    superseded = None if previous is None else previous.superseded_at
    if channel.epoch > 0 and superseded is not None and now <= superseded + grace:
        epochs.add(channel.epoch - 1)
    return frozenset(epochs)


def channel_json(store: Store, channel_id: bytes) -> dict[str, object] | None:
    """The RPC view of a channel: record, current members and the current epoch's rotation."""
    channel = load_channel(store, channel_id)
    if channel is None:
        return None
    record = load_epoch(store, channel_id, channel.epoch)
    assert record is not None
    view = channel.to_json(record.members)
    view["currentEpoch"] = record.to_json()
    return view
