"""The identities whose keys the node holds, and the channel epoch keys they open."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from core.crypto import SigningKey
from core.swarm_keys import EncryptionKey, UnsealError, unseal
from ledger.channels.records import EpochRecord
from ledger.identity import derive_encryption_key
from node.swarm.chain import ChannelSource

log = logging.getLogger("aither.swarm")


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


class LocalKeys:
    """The local identities' keys, and the epoch keys they unseal (each once, then cached)."""

    def __init__(self, source: ChannelSource, valid_from: dict[bytes, set[int]]) -> None:
        self.source = source
        self.identities: dict[bytes, LocalIdentity] = {}
        # valid_from of every certificate seen per derived identity: the keys of older ones
        # open the epochs sealed before a certificate rotation, across restarts too.
        self.valid_from = valid_from
        self.unsaved = False  # a certificate was seen since `valid_from` was last written
        self._epoch_keys: dict[tuple[bytes, int], bytes] = {}

    def epoch_key(
        self, channel_id: bytes, record: EpochRecord, mine: frozenset[bytes]
    ) -> bytes | None:
        """The key of epoch `record` of the channel, unsealed by one of `mine` (local members of
        it), or None when none of them can open it."""
        cached = self._epoch_keys.get((channel_id, record.number))
        if cached is not None or not mine:
            return cached
        for address in sorted(mine):
            for box in self._box_keys(address):
                try:
                    key = unseal(record.rotation, address, box)
                except UnsealError as exc:
                    log.debug("epoch %d: %s", record.number, exc)
                    continue
                self._epoch_keys[(channel_id, record.number)] = key
                return key
        log.warning(
            "no local member could open the key of epoch %d of channel %s (a rotator that "
            "cheated, or a lost X25519 key)",
            record.number,
            channel_id.hex()[:16],
        )
        return None

    def _box_keys(self, address: bytes) -> list[EncryptionKey]:
        identity = self.identities[address]
        keys = list(identity.box_keys)
        if identity.derive:
            seen = self.valid_from.setdefault(address, set())
            record = self.source.identity(address)
            current = None if record is None or record.certificate is None else record.certificate
            if current is not None and current.valid_from not in seen:
                seen.add(current.valid_from)
                self.unsaved = True  # written with the service's next persist
            # Newest first; older ones open epochs sealed before a certificate rotation.
            keys += [derive_encryption_key(identity.key, v) for v in sorted(seen, reverse=True)]
        return keys
