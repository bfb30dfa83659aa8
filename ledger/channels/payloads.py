"""Channel transactions' payloads (kind CHANNEL = 7): `[op, ...]`, op a `ChannelOp`:

CREATE  [0, name, mode, rotation(epoch 0)]          admin = sender; rotation covers the admin
JOIN    [1, channel_id, member | None]              None: the sender joins an open channel;
                                                    a member: the admin adds it (any mode)
LEAVE   [2, channel_id]                             a member leaves (pending until rotation)
REMOVE  [3, channel_id, member, rotation(current+1)] admin; removal and rotation in one tx
ROTATE  [4, channel_id, rotation(current+1)]        a member of the new epoch
REWARD  [5, channel_id, message hash, amount, timeout height]   escrow `amount` for answers
ACCEPT  [6, reward, channel_id, epoch, sender, sequence, timestamp, payload hash, signature]
        the requester names the answer by its signed statement: pays its sender
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, TypeGuard

from core.amounts import MAX_AMOUNT
from core.crypto import (
    ADDRESS_SIZE,
    HASH_SIZE,
    SIGNATURE_SIZE,
    hash32,
)
from core.encoding import Value, encode
from core.errors import DecodeError, InvalidTransaction
from core.schema import MAX_U64
from core.schema import fields as _fields
from core.schema import is_uint as _is_uint
from core.swarm_keys import Rotation
from core.swarm_wire import signed_statement

CHANNEL_DOMAIN = b"aither/swarm-channel/v1"

CHANNEL_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MAX_REWARD_TIMEOUT = 100_000  # blocks


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
        if not (isinstance(name, str) and is_channel_name(name)):
            raise InvalidTransaction(
                "a channel name is 1..64 of a-z 0-9 . _ -, starting with a letter or digit"
            )
        if not (type(mode) is int and mode in (0, 1)):
            raise InvalidTransaction("mode must be 0 (open) or 1 (invite-only)")
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
        if not (member is None or _is_address(member)):
            raise InvalidTransaction("member must be 20 bytes or null")
        return cls(_channel_id(channel_id), member)


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
        if not _is_address(member):
            raise InvalidTransaction("member must be 20 bytes")
        return cls(_channel_id(channel_id), member, _rotation(rotation))


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
        if not _is_hash(message_hash):
            raise InvalidTransaction("message hash must be 32 bytes")
        if not (_is_uint(amount, MAX_AMOUNT) and amount > 0):
            raise InvalidTransaction("amount must be 1..2**128-1")
        if not _is_uint(timeout, MAX_U64):
            raise InvalidTransaction("timeout must be a block height")
        return cls(_channel_id(channel_id), message_hash, amount, timeout)


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
        if not _is_hash(reward):
            raise InvalidTransaction("reward must be the 32-byte hash of the rewarded message")
        if not _is_uint(epoch, MAX_U64):
            raise InvalidTransaction("epoch must be an unsigned 64-bit integer")
        if not _is_address(sender):
            raise InvalidTransaction("sender must be 20 bytes")
        if not _is_uint(sequence, MAX_U64):
            raise InvalidTransaction("sequence must be an unsigned 64-bit integer")
        if not _is_uint(timestamp, MAX_U64):
            raise InvalidTransaction("timestamp must be an unsigned 64-bit integer")
        if not _is_hash(payload_hash):
            raise InvalidTransaction("payload hash must be 32 bytes")
        if not (isinstance(signature, bytes) and len(signature) == SIGNATURE_SIZE):
            raise InvalidTransaction("signature must be 64 bytes")
        return cls(
            reward,
            _channel_id(channel_id),
            epoch,
            sender,
            sequence,
            timestamp,
            payload_hash,
            signature,
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
    if not _is_hash(value):
        raise InvalidTransaction("channel id must be 32 bytes")
    return value


def _is_hash(value: Value) -> TypeGuard[bytes]:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_address(value: Value) -> TypeGuard[bytes]:
    return isinstance(value, bytes) and len(value) == ADDRESS_SIZE
