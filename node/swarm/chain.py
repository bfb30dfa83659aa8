"""The chain side of the swarm service: channel, epoch and identity records at the head."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from core.errors import AitherError
from core.swarm_keys import MemberKeys
from ledger.channels.payloads import AnyChannelPayload, CreateChannel, channel_id_of
from ledger.channels.records import Channel, EpochRecord, load_channel, load_epoch
from ledger.identity import Identity, load_identity
from ledger.tx import decode_transaction


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
        return load_channel(self, channel_id)

    def epoch(self, channel_id: bytes, number: int) -> EpochRecord | None:
        return load_epoch(self, channel_id, number)

    def identity(self, address: bytes) -> Identity | None:
        return load_identity(self, address)


def member_keys(source: ChannelSource, addresses: Iterable[bytes]) -> tuple[MemberKeys, ...]:
    """The chain's keys of `addresses` (those with a certificate), for views and rotations."""
    keys = []
    for address in addresses:
        identity = source.identity(address)
        if identity is None or identity.box_pubkey is None:
            continue  # the chain refuses such members; never fail a whole view on one
        keys.append(MemberKeys(address, identity.pubkey, identity.box_pubkey))
    return tuple(keys)


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
    found: list[object] = []
    for raw in raw_transactions:
        try:
            found.append(decode_transaction(raw).tx.payload)
        except AitherError:
            continue  # committed blocks hold valid transactions; never fail a listener
    return found
