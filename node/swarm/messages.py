"""What the swarm service hands out: accepted messages, receipts of sends, and its counters."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from core.crypto import hash32, to_checksum_address


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


Listener = Callable[[SwarmMessage], None]
