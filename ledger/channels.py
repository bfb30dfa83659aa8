"""Swarm channels on chain: membership per key epoch, rotations, and rewards held in escrow.

A channel transaction (kind CHANNEL = 7) carries `[op, ...]`, op a `ChannelOp`:

    CREATE  [0, name, mode, rotation(epoch 0)]          admin = sender; rotation covers the admin
    JOIN    [1, channel_id, member | None]              None: the sender joins an open channel;
                                                        a member: the admin adds it (any mode)
    LEAVE   [2, channel_id]                             a member leaves (pending until rotation)
    REMOVE  [3, channel_id, member, rotation(current+1)] admin; removal and rotation in one tx
    ROTATE  [4, channel_id, rotation(current+1)]        a member of the new epoch
    REWARD  [5, channel_id, message hash, amount, timeout height]   escrow `amount` for answers
    ACCEPT  [6, reward, channel_id, epoch, sender, sequence, timestamp, payload hash, signature]
            the requester names the answer by its signed statement: pays its sender

A rotation's copies must cover exactly the members of the new epoch: the current members plus
pending joins minus pending leaves (minus the removed member for REMOVE). The chain cannot open
the sealed copies; members check them against the rotation's commitment when they unseal.
Joins and leaves wait for the next rotation because a joiner cannot seal the key to itself.

Rewards: REWARD moves `amount` from the requester into the escrow account `REWARD_ESCROW`.
ACCEPT rebuilds `core.swarm_wire.signed_statement` from the answer's fields and checks the
signature with the answer sender's key and its membership at that epoch: the chain pays without
ever seeing the plaintext. `end_block` returns what is still held when the timeout height ends.

Plain functions over a store of state entries (`State`, or anything with `get`/`put`). The state
tables are these one-byte prefixes (taken elsewhere: a t b v c g k l q in ledger/state.py,
P M N Q I S V X E in ledger/governance.py, i d in ledger/identity.py):
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import ClassVar

from core.amounts import MAX_AMOUNT
from core.crypto import (
    ADDRESS_SIZE,
    HASH_SIZE,
    PUBKEY_SIZE,
    SIGNATURE_SIZE,
    address_of,
    hash32,
    to_checksum_address,
    verify,
)
from core.encoding import Value, decode, encode
from core.errors import DecodeError, ExecutionFailed, InvalidTransaction
from core.schema import MAX_U64
from core.schema import fields as _fields
from core.schema import is_uint as _is_uint
from core.schema import require as _require
from core.swarm_keys import MAX_MEMBERS, MemberKeys, Rotation
from core.swarm_wire import signed_statement
from ledger.identity import Store, load_identity
from ledger.receipt import Log
from ledger.state import ACCOUNT, Account, decode_account, encode_account

CHANNEL = b"w"  # + channel id -> [name, mode, admin, epoch, pending joins, pending leaves, height]
EPOCH = b"e"  # + channel id + epoch (8 bytes) -> [rotation, started at, superseded at | None]
ESCROW = b"o"  # + message hash -> [channel id, requester, amount, timeout height]
TIMEOUTS = b"u"  # + height (8 bytes) -> [message hashes whose rewards time out then]

# Rewards wait in this account (nobody holds its key), so balances still add up to the supply.
REWARD_ESCROW = hash32(b"aither/swarm/reward-escrow")[-ADDRESS_SIZE:]
CHANNEL_DOMAIN = b"aither/swarm-channel/v1"

CHANNEL_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
# Epochs kept on chain: members offline for fewer rotations can still fetch their copies, and
# answers from those epochs can still be accepted. Older ones are deleted as rotations happen.
KEEP_EPOCHS = 64
MAX_REWARD_TIMEOUT = 100_000  # blocks
MAX_TIMEOUTS_PER_HEIGHT = 1024  # bounds the work of one end_block

# Gas beyond the intrinsic per-byte cost (move to ledger/gas.py when wiring).
CHANNEL_GAS = 20_000
ROTATION_MEMBER_GAS = 1_000  # per copy: one identity read
ACCEPT_GAS = 40_000  # a signature check


class ChannelMode(enum.IntEnum):
    OPEN = 0  # anyone with a certificate may join
    INVITE = 1  # only the admin adds members


class ChannelOp(enum.IntEnum):
    CREATE = 0
    JOIN = 1
    LEAVE = 2
    REMOVE = 3
    ROTATE = 4
    REWARD = 5
    ACCEPT = 6


def channel_id_of(chain_id: int, name: str) -> bytes:
    """Known before the channel exists, and different on every chain."""
    return hash32(encode([CHANNEL_DOMAIN, chain_id, name]))


def is_channel_name(text: str) -> bool:
    return isinstance(text, str) and CHANNEL_NAME_PATTERN.match(text) is not None


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


# ---- payloads ----------------------------------------------------------------------------------


class ChannelPayload:
    """The payload of a CHANNEL transaction; `from_value` returns the op's own class.

    tx.py maps `TxKind.CHANNEL` to this class: `PAYLOADS[TxKind.CHANNEL] = ChannelPayload`.
    """

    __slots__ = ()
    op: ClassVar[ChannelOp]

    def to_value(self) -> list[Value]:
        raise NotImplementedError

    @classmethod
    def from_value(cls, value: Value) -> AnyChannelPayload:
        """Raises InvalidTransaction (or DecodeError) naming what is wrong."""
        if not isinstance(value, list) or not value:
            raise DecodeError("a channel payload is [op, ...]")
        op = value[0]
        if type(op) is not int or not 0 <= op <= max(ChannelOp):
            raise InvalidTransaction(f"unknown channel op {op!r}")
        return _PARSERS[ChannelOp(op)](value)


@dataclass(frozen=True, slots=True)
class CreateChannel(ChannelPayload):
    op: ClassVar[ChannelOp] = ChannelOp.CREATE
    name: str
    mode: ChannelMode
    rotation: Rotation

    def to_value(self) -> list[Value]:
        return [int(self.op), self.name, int(self.mode), self.rotation.to_value()]

    @classmethod
    def from_value(cls, value: Value) -> CreateChannel:
        _, name, mode, rotation = _fields(value, 4, "channel create")
        _require(
            isinstance(name, str) and is_channel_name(name),
            "a channel name is 1..64 of a-z 0-9 . _ -, starting with a letter or digit",
        )
        _require(type(mode) is int and mode in (0, 1), "mode must be 0 (open) or 1 (invite-only)")
        assert isinstance(name, str) and isinstance(mode, int)
        return cls(name, ChannelMode(mode), _rotation(rotation))


@dataclass(frozen=True, slots=True)
class JoinChannel(ChannelPayload):
    op: ClassVar[ChannelOp] = ChannelOp.JOIN
    channel_id: bytes
    member: bytes | None = None

    def to_value(self) -> list[Value]:
        return [int(self.op), self.channel_id, self.member]

    @classmethod
    def from_value(cls, value: Value) -> JoinChannel:
        _, channel_id, member = _fields(value, 3, "channel join")
        _require(member is None or _is_address(member), "member must be 20 bytes or null")
        return cls(_channel_id(channel_id), member)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class LeaveChannel(ChannelPayload):
    op: ClassVar[ChannelOp] = ChannelOp.LEAVE
    channel_id: bytes

    def to_value(self) -> list[Value]:
        return [int(self.op), self.channel_id]

    @classmethod
    def from_value(cls, value: Value) -> LeaveChannel:
        _, channel_id = _fields(value, 2, "channel leave")
        return cls(_channel_id(channel_id))


@dataclass(frozen=True, slots=True)
class RemoveMember(ChannelPayload):
    op: ClassVar[ChannelOp] = ChannelOp.REMOVE
    channel_id: bytes
    member: bytes
    rotation: Rotation

    def to_value(self) -> list[Value]:
        return [int(self.op), self.channel_id, self.member, self.rotation.to_value()]

    @classmethod
    def from_value(cls, value: Value) -> RemoveMember:
        _, channel_id, member, rotation = _fields(value, 4, "channel remove")
        _require(_is_address(member), "member must be 20 bytes")
        return cls(_channel_id(channel_id), member, _rotation(rotation))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class RotateKey(ChannelPayload):
    op: ClassVar[ChannelOp] = ChannelOp.ROTATE
    channel_id: bytes
    rotation: Rotation

    def to_value(self) -> list[Value]:
        return [int(self.op), self.channel_id, self.rotation.to_value()]

    @classmethod
    def from_value(cls, value: Value) -> RotateKey:
        _, channel_id, rotation = _fields(value, 3, "channel rotate")
        return cls(_channel_id(channel_id), _rotation(rotation))


@dataclass(frozen=True, slots=True)
class OfferReward(ChannelPayload):
    """Escrow `amount` for an answer to the message `message_hash` (hash32 of its envelope)."""

    op: ClassVar[ChannelOp] = ChannelOp.REWARD
    channel_id: bytes
    message_hash: bytes
    amount: int
    timeout: int  # the height at whose end an unpaid reward returns to the requester

    def to_value(self) -> list[Value]:
        return [int(self.op), self.channel_id, self.message_hash, self.amount, self.timeout]

    @classmethod
    def from_value(cls, value: Value) -> OfferReward:
        _, channel_id, message_hash, amount, timeout = _fields(value, 5, "channel reward")
        _require(_is_hash(message_hash), "message hash must be 32 bytes")
        _require(_is_uint(amount, MAX_AMOUNT) and amount > 0, "amount must be 1..2**128-1")
        _require(_is_uint(timeout, MAX_U64), "timeout must be a block height")
        return cls(_channel_id(channel_id), message_hash, amount, timeout)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class AcceptAnswer(ChannelPayload):
    """Pay the reward `reward` to the sender of the answer described by its signed statement."""

    op: ClassVar[ChannelOp] = ChannelOp.ACCEPT
    reward: bytes  # the message hash the reward was offered for
    channel_id: bytes
    epoch: int
    sender: bytes
    sequence: int
    timestamp: int
    payload_hash: bytes
    signature: bytes

    def to_value(self) -> list[Value]:
        return [
            int(self.op),
            self.reward,
            self.channel_id,
            self.epoch,
            self.sender,
            self.sequence,
            self.timestamp,
            self.payload_hash,
            self.signature,
        ]

    def statement(self) -> bytes:
        return signed_statement(
            self.channel_id,
            self.epoch,
            self.sender,
            self.sequence,
            self.timestamp,
            self.payload_hash,
        )

    @classmethod
    def from_value(cls, value: Value) -> AcceptAnswer:
        fields = _fields(value, 9, "channel accept")
        _, reward, channel_id, epoch, sender, sequence, timestamp, payload_hash, signature = fields
        _require(_is_hash(reward), "reward must be the 32-byte hash of the rewarded message")
        _require(_is_uint(epoch, MAX_U64), "epoch must be an unsigned 64-bit integer")
        _require(_is_address(sender), "sender must be 20 bytes")
        _require(_is_uint(sequence, MAX_U64), "sequence must be an unsigned 64-bit integer")
        _require(_is_uint(timestamp, MAX_U64), "timestamp must be an unsigned 64-bit integer")
        _require(_is_hash(payload_hash), "payload hash must be 32 bytes")
        _require(
            isinstance(signature, bytes) and len(signature) == SIGNATURE_SIZE,
            "signature must be 64 bytes",
        )
        return cls(
            reward,  # type: ignore[arg-type]
            _channel_id(channel_id),
            epoch,  # type: ignore[arg-type]
            sender,  # type: ignore[arg-type]
            sequence,  # type: ignore[arg-type]
            timestamp,  # type: ignore[arg-type]
            payload_hash,  # type: ignore[arg-type]
            signature,  # type: ignore[arg-type]
        )


AnyChannelPayload = (
    CreateChannel
    | JoinChannel
    | LeaveChannel
    | RemoveMember
    | RotateKey
    | OfferReward
    | AcceptAnswer
)
# What transition.py dispatches on (its `_LEDGER_EFFECTS`: no agent code runs).
PAYLOAD_TYPES = (
    CreateChannel,
    JoinChannel,
    LeaveChannel,
    RemoveMember,
    RotateKey,
    OfferReward,
    AcceptAnswer,
)
_PARSERS: dict[ChannelOp, Callable[[Value], AnyChannelPayload]] = {
    ChannelOp.CREATE: CreateChannel.from_value,
    ChannelOp.JOIN: JoinChannel.from_value,
    ChannelOp.LEAVE: LeaveChannel.from_value,
    ChannelOp.REMOVE: RemoveMember.from_value,
    ChannelOp.ROTATE: RotateKey.from_value,
    ChannelOp.REWARD: OfferReward.from_value,
    ChannelOp.ACCEPT: AcceptAnswer.from_value,
}


def _rotation(value: Value) -> Rotation:
    try:
        return Rotation.from_value(value)
    except DecodeError as exc:
        raise InvalidTransaction(f"rotation: {exc}") from None


def _channel_id(value: Value) -> bytes:
    _require(_is_hash(value), "channel id must be 32 bytes")
    assert isinstance(value, bytes)
    return value


def _is_hash(value: Value) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_address(value: Value) -> bool:
    return isinstance(value, bytes) and len(value) == ADDRESS_SIZE


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
        return cls(
            channel_id,
            name,  # type: ignore[arg-type]
            ChannelMode(mode),  # type: ignore[arg-type]
            admin,  # type: ignore[arg-type]
            epoch,  # type: ignore[arg-type]
            tuple(pending),  # type: ignore[arg-type]
            tuple(leaving),  # type: ignore[arg-type]
            created,  # type: ignore[arg-type]
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
        return cls(Rotation.from_value(rotation), started_at, superseded_at)  # type: ignore[arg-type]

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
        return cls(message_hash, channel_id, requester, amount, timeout)  # type: ignore[arg-type]

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


def _epoch_key(channel_id: bytes, epoch: int) -> bytes:
    return EPOCH + channel_id + epoch.to_bytes(8, "big")


def load_channel(store: Store, channel_id: bytes) -> Channel | None:
    raw = store.get(CHANNEL + channel_id)
    return None if raw is None else Channel.from_value(channel_id, decode(raw))


def load_epoch(store: Store, channel_id: bytes, epoch: int) -> EpochRecord | None:
    raw = store.get(_epoch_key(channel_id, epoch))
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


# ---- the transition ----------------------------------------------------------------------------


def execution_gas(payload: AnyChannelPayload) -> int:
    rotation = getattr(payload, "rotation", None)
    copies = 0 if rotation is None else len(rotation.copies)
    extra = ACCEPT_GAS if isinstance(payload, AcceptAnswer) else 0
    return CHANNEL_GAS + ROTATION_MEMBER_GAS * copies + extra


def apply_channel(
    store: Store, sender_pubkey: bytes, payload: AnyChannelPayload, ctx: ChannelContext
) -> tuple[Log, ...]:
    """Apply a channel transaction from `sender_pubkey`.

    Raises a ChannelError (an ExecutionFailed: the caller rolls the effect back, the fee is
    paid) if it cannot apply; checks come before writes.
    """
    if len(sender_pubkey) != PUBKEY_SIZE:
        raise ChannelError("the sender's key is not an ed25519 public key")
    sender = address_of(sender_pubkey)
    if isinstance(payload, CreateChannel):
        return _create(store, sender, payload, ctx)
    if isinstance(payload, OfferReward):
        return _offer(store, sender, payload, ctx)
    if isinstance(payload, AcceptAnswer):
        return _accept(store, sender, payload)
    channel = load_channel(store, payload.channel_id)
    if channel is None:
        raise UnknownChannel(f"no channel 0x{payload.channel_id.hex()}")
    if isinstance(payload, JoinChannel):
        return _join(store, sender, channel, payload)
    if isinstance(payload, LeaveChannel):
        return _leave(store, sender, channel)
    if isinstance(payload, RemoveMember):
        return _remove(store, sender, channel, payload, ctx)
    return _rotate(store, sender, channel, payload.rotation, ctx)


def _require_certificate(store: Store, address: bytes) -> None:
    identity = load_identity(store, address)
    if identity is None or identity.certificate is None:
        raise NoCertificate(
            f"{to_checksum_address(address)} has no certified encryption key: register one "
            "first (aither wallet register)"
        )


def _create(
    store: Store, sender: bytes, payload: CreateChannel, ctx: ChannelContext
) -> tuple[Log, ...]:
    channel_id = channel_id_of(ctx.chain_id, payload.name)
    if store.get(CHANNEL + channel_id) is not None:
        raise ChannelExists(f"channel {payload.name} exists")
    rotation = payload.rotation
    if rotation.channel_id != channel_id:
        raise BadRotation(f"the rotation is for another channel than {payload.name}")
    if rotation.epoch != 0:
        raise BadRotation(f"a new channel starts at epoch 0, not {rotation.epoch}")
    if rotation.members != (sender,):
        raise BadRotation("the first rotation covers exactly the admin")
    _require_certificate(store, sender)
    channel = Channel(channel_id, payload.name, payload.mode, sender, 0, created=ctx.height)
    _put_channel(store, channel)
    store.put(_epoch_key(channel_id, 0), encode(EpochRecord(rotation, ctx.timestamp).to_value()))
    return (Log("ChannelCreated", (channel_id, payload.name, sender, int(payload.mode))),)


def _join(store: Store, sender: bytes, channel: Channel, payload: JoinChannel) -> tuple[Log, ...]:
    member = sender if payload.member is None else payload.member
    if payload.member is not None and sender != channel.admin:
        raise NotAdmin(f"only the admin adds members to {channel.name}")
    if payload.member is None and channel.mode is ChannelMode.INVITE:
        raise NotAdmin(f"{channel.name} is invite-only: its admin adds members")
    _require_certificate(store, member)
    members = current_members(store, channel)
    if member in channel.leaving:
        # Changed its mind before the rotation: it simply stays.
        _put_channel(store, replace(channel, leaving=_without(channel.leaving, member)))
        return (Log("ChannelJoin", (channel.channel_id, member)),)
    if member in members:
        raise ChannelError(f"{to_checksum_address(member)} is already a member")
    if member in channel.pending:
        raise ChannelError(f"{to_checksum_address(member)} already waits for the next rotation")
    if len(set(members) | set(channel.pending)) >= MAX_MEMBERS:
        raise ChannelError(f"a channel has at most {MAX_MEMBERS} members")
    _put_channel(store, replace(channel, pending=tuple(sorted((*channel.pending, member)))))
    return (Log("ChannelJoin", (channel.channel_id, member)),)


def _leave(store: Store, sender: bytes, channel: Channel) -> tuple[Log, ...]:
    if sender in channel.pending:
        # Never got a key: it leaves at once.
        _put_channel(store, replace(channel, pending=_without(channel.pending, sender)))
        return (Log("ChannelLeave", (channel.channel_id, sender)),)
    if sender not in current_members(store, channel):
        raise NotAMember(f"the sender is not a member of {channel.name}")
    if sender == channel.admin:
        raise ChannelError(f"the admin cannot leave {channel.name}")
    if sender in channel.leaving:
        raise ChannelError("the sender already leaves at the next rotation")
    _put_channel(store, replace(channel, leaving=tuple(sorted((*channel.leaving, sender)))))
    return (Log("ChannelLeave", (channel.channel_id, sender)),)


def _remove(
    store: Store, sender: bytes, channel: Channel, payload: RemoveMember, ctx: ChannelContext
) -> tuple[Log, ...]:
    if sender != channel.admin:
        raise NotAdmin(f"only the admin removes members of {channel.name}")
    if payload.member == channel.admin:
        raise ChannelError("the admin cannot remove itself")
    members = current_members(store, channel)
    if payload.member not in members and payload.member not in channel.pending:
        raise NotAMember(f"{to_checksum_address(payload.member)} is not a member")
    expected = tuple(m for m in expected_members(channel, members) if m != payload.member)
    logs = _apply_rotation(store, sender, channel, payload.rotation, expected, ctx)
    return (Log("ChannelRemove", (channel.channel_id, payload.member)), *logs)


def _rotate(
    store: Store, sender: bytes, channel: Channel, rotation: Rotation, ctx: ChannelContext
) -> tuple[Log, ...]:
    expected = expected_members(channel, current_members(store, channel))
    return _apply_rotation(store, sender, channel, rotation, expected, ctx)


def _apply_rotation(
    store: Store,
    sender: bytes,
    channel: Channel,
    rotation: Rotation,
    expected: tuple[bytes, ...],
    ctx: ChannelContext,
) -> tuple[Log, ...]:
    if rotation.channel_id != channel.channel_id:
        raise BadRotation("the rotation is for another channel")
    if rotation.epoch != channel.epoch + 1:
        # Two member nodes may post a rotation for the same change: the first one wins.
        raise BadRotation(
            f"the rotation is for epoch {rotation.epoch}; the next epoch is {channel.epoch + 1}"
        )
    if sender not in expected:
        raise NotAMember("the rotation's poster must be a member of the new epoch")
    if rotation.members != expected:
        missing = sorted(set(expected) - set(rotation.members))
        extra = sorted(set(rotation.members) - set(expected))
        raise BadRotation(
            "the copies must cover exactly the new epoch's members; missing "
            f"{[to_checksum_address(m) for m in missing]}, "
            f"not members {[to_checksum_address(m) for m in extra]}"
        )
    for member in expected:
        _require_certificate(store, member)
    previous = load_epoch(store, channel.channel_id, channel.epoch)
    assert previous is not None
    closed = replace(previous, superseded_at=ctx.timestamp)
    store.put(_epoch_key(channel.channel_id, channel.epoch), encode(closed.to_value()))
    opened = EpochRecord(rotation, ctx.timestamp)
    store.put(_epoch_key(channel.channel_id, rotation.epoch), encode(opened.to_value()))
    if rotation.epoch >= KEEP_EPOCHS:
        store.put(_epoch_key(channel.channel_id, rotation.epoch - KEEP_EPOCHS), None)
    _put_channel(store, replace(channel, epoch=rotation.epoch, pending=(), leaving=()))
    return (Log("ChannelRotated", (channel.channel_id, rotation.epoch, rotation.commitment)),)


def _offer(
    store: Store, sender: bytes, payload: OfferReward, ctx: ChannelContext
) -> tuple[Log, ...]:
    channel = load_channel(store, payload.channel_id)
    if channel is None:
        raise UnknownChannel(f"no channel 0x{payload.channel_id.hex()}")
    if sender not in current_members(store, channel):
        raise NotAMember(f"only members of {channel.name} offer rewards in it")
    if not ctx.height < payload.timeout <= ctx.height + MAX_REWARD_TIMEOUT:
        raise RewardError(
            f"timeout must be a height in {ctx.height + 1}..{ctx.height + MAX_REWARD_TIMEOUT}"
        )
    if store.get(ESCROW + payload.message_hash) is not None:
        raise RewardError(f"a reward is already held for message 0x{payload.message_hash.hex()}")
    timeouts = _timeouts(store, payload.timeout)
    if len(timeouts) >= MAX_TIMEOUTS_PER_HEIGHT:
        raise RewardError(f"too many rewards time out at height {payload.timeout}: pick another")
    _move(store, sender, REWARD_ESCROW, payload.amount)
    escrow = Escrow(
        payload.message_hash, payload.channel_id, sender, payload.amount, payload.timeout
    )
    store.put(ESCROW + payload.message_hash, encode(escrow.to_value()))
    store.put(_timeouts_key(payload.timeout), encode([*timeouts, payload.message_hash]))
    return (
        Log(
            "RewardOffered",
            (payload.channel_id, payload.message_hash, sender, payload.amount, payload.timeout),
        ),
    )


def _accept(store: Store, sender: bytes, payload: AcceptAnswer) -> tuple[Log, ...]:
    escrow = load_escrow(store, payload.reward)
    if escrow is None:
        raise RewardError(f"no reward is held for message 0x{payload.reward.hex()}")
    if escrow.requester != sender:
        raise RewardError("only the requester accepts an answer to its message")
    if escrow.channel_id != payload.channel_id:
        raise RewardError("the answer was sent in another channel than the request")
    if payload.sender == sender:
        raise RewardError("a requester cannot reward its own message")
    record = load_epoch(store, payload.channel_id, payload.epoch)
    if record is None:
        raise RewardError(f"epoch {payload.epoch} of the channel is not kept on chain")
    if payload.sender not in record.members:
        raise NotAMember(
            f"{to_checksum_address(payload.sender)} was not a member at epoch {payload.epoch}"
        )
    responder = load_identity(store, payload.sender)
    assert responder is not None, "members have identities"
    if not verify(responder.pubkey, payload.statement(), payload.signature):
        raise RewardError("the answer's signature is not its sender's")
    _move(store, REWARD_ESCROW, payload.sender, escrow.amount)
    store.put(ESCROW + payload.reward, None)
    answer = hash32(payload.statement())
    return (Log("RewardPaid", (payload.reward, payload.sender, escrow.amount, answer)),)


def end_block(store: Store, height: int) -> tuple[Log, ...]:
    """Return to their requesters the rewards still held when `height` (their timeout) ends.

    Call after the block's transactions, so an ACCEPT in the timeout block itself still pays.
    """
    key = _timeouts_key(height)
    hashes = _timeouts(store, height)
    if not hashes:
        return ()
    logs = []
    for message_hash in hashes:
        escrow = load_escrow(store, message_hash)
        if escrow is None:
            continue  # paid already
        _move(store, REWARD_ESCROW, escrow.requester, escrow.amount)
        store.put(ESCROW + message_hash, None)
        logs.append(Log("RewardReturned", (message_hash, escrow.requester, escrow.amount)))
    store.put(key, None)
    return tuple(logs)


def _timeouts_key(height: int) -> bytes:
    return TIMEOUTS + height.to_bytes(8, "big")


def _timeouts(store: Store, height: int) -> list[bytes]:
    raw = store.get(_timeouts_key(height))
    return [] if raw is None else decode(raw)  # type: ignore[return-value]


def _put_channel(store: Store, channel: Channel) -> None:
    store.put(CHANNEL + channel.channel_id, encode(channel.to_value()))


def _without(addresses: tuple[bytes, ...], address: bytes) -> tuple[bytes, ...]:
    return tuple(a for a in addresses if a != address)


def _move(store: Store, source: bytes, target: bytes, amount: int) -> None:
    raw = store.get(ACCOUNT + source)
    have = decode_account(raw) if raw is not None else None
    if have is None or have.balance < amount:
        balance = 0 if have is None else have.balance
        raise RewardError(f"insufficient funds: balance {balance}, need {amount}")
    store.put(ACCOUNT + source, encode_account(replace(have, balance=have.balance - amount)))
    raw = store.get(ACCOUNT + target)
    got = decode_account(raw) if raw is not None else None
    nonce, balance = (0, 0) if got is None else (got.nonce, got.balance)
    if balance + amount > MAX_AMOUNT:
        raise RewardError("balance would overflow")
    store.put(ACCOUNT + target, encode_account(Account(nonce, balance + amount)))
