"""Blocks, headers and commit certificates, with their canonical encodings.

A header carries the commit certificate of its parent (as in Tendermint's `LastCommit`), so a
chain can be verified block by block; the certificate of the newest block is stored beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from core.crypto import ADDRESS_SIZE, HASH_SIZE, PUBKEY_SIZE, SIGNATURE_SIZE, hash32, verify
from core.encoding import Value, decode, encode
from core.errors import DecodeError, InvalidBlock
from core.schema import MAX_U64
from core.schema import fields as _fields
from ledger.tx import MAX_TX_SIZE

MAX_BLOCK_SIZE = 16 * 1024 * 1024
MAX_BLOCK_TXS = 50_000
MAX_VALIDATORS = 1_000


def merkle_root(leaves: list[bytes]) -> bytes:
    """Binary Merkle root over already-hashed leaves (odd nodes are promoted), empty -> zeros."""
    if not leaves:
        return bytes(HASH_SIZE)
    level = leaves
    while len(level) > 1:
        paired = [hash32(b"\x01" + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def commit_vote_bytes(chain_id: int, height: int, round_: int, block_hash: bytes) -> bytes:
    """What a validator signs to precommit `block_hash` at (height, round)."""
    return encode(["precommit", chain_id, height, round_, block_hash])


@dataclass(frozen=True, slots=True)
class CommitSignature:
    validator: bytes  # the validator's ed25519 public key
    signature: bytes

    def to_value(self) -> list[Value]:
        return [self.validator, self.signature]


@dataclass(frozen=True, slots=True)
class CommitCertificate:
    """Precommit signatures of more than 2/3 of the voting power for one block."""

    height: int
    round: int
    block_hash: bytes
    signatures: tuple[CommitSignature, ...]

    def to_value(self) -> list[Value]:
        return [self.height, self.round, self.block_hash, [s.to_value() for s in self.signatures]]

    @classmethod
    def from_value(cls, value: Value) -> CommitCertificate:
        height, round_, block_hash, sigs = _fields(value, 4, "commit certificate")
        _check(_uint(height) and _uint(round_), "certificate height and round must be integers")
        _check(_bytes(block_hash, HASH_SIZE), "certificate block hash must be 32 bytes")
        _check(isinstance(sigs, list) and len(sigs) <= MAX_VALIDATORS, "bad signature list")
        signatures = []
        for item in sigs:
            validator, signature = _fields(item, 2, "commit signature")
            _check(_bytes(validator, PUBKEY_SIZE), "commit signer must be a 32-byte key")
            _check(_bytes(signature, SIGNATURE_SIZE), "commit signature must be 64 bytes")
            signatures.append(CommitSignature(validator, signature))
        return cls(height, round_, block_hash, tuple(signatures))

    def verify(self, chain_id: int, validators: dict[bytes, int]) -> None:
        """Check the signatures carry more than 2/3 of `validators`' power (pubkey -> power).

        Raises InvalidBlock naming what is wrong.
        """
        message = commit_vote_bytes(chain_id, self.height, self.round, self.block_hash)
        total = sum(validators.values())
        signed = 0
        seen: set[bytes] = set()
        for sig in self.signatures:
            if sig.validator in seen:
                raise InvalidBlock("a validator signed the certificate twice")
            seen.add(sig.validator)
            power = validators.get(sig.validator)
            if power is None:
                raise InvalidBlock("the certificate is signed by a non-validator")
            if not verify(sig.validator, message, sig.signature):
                raise InvalidBlock("a certificate signature does not verify")
            signed += power
        if signed * 3 <= total * 2:
            raise InvalidBlock(f"the certificate carries {signed} of {total} voting power")


@dataclass(frozen=True)  # not slotted: `hash` is cached in __dict__
class BlockHeader:
    chain_id: int
    height: int
    parent_hash: bytes
    timestamp: int  # seconds since the epoch, from the proposer; the only clock state sees
    proposer: bytes  # address that receives the fees
    tx_root: bytes
    state_root: bytes
    receipts_root: bytes
    gas_used: int
    last_commit: CommitCertificate | None

    def to_value(self) -> list[Value]:
        return [
            self.chain_id,
            self.height,
            self.parent_hash,
            self.timestamp,
            self.proposer,
            self.tx_root,
            self.state_root,
            self.receipts_root,
            self.gas_used,
            None if self.last_commit is None else self.last_commit.to_value(),
        ]

    @cached_property
    def hash(self) -> bytes:
        return hash32(encode(self.to_value()))

    @classmethod
    def from_value(cls, value: Value) -> BlockHeader:
        chain_id, height, parent, timestamp, proposer, tx_root, state_root, rc_root, gas, lc = (
            _fields(value, 10, "block header")
        )
        _check(all(_uint(x) for x in (chain_id, height, timestamp, gas)), "bad header integer")
        _check(_bytes(proposer, ADDRESS_SIZE), "proposer must be a 20-byte address")
        for name, item in (("parent", parent), ("tx", tx_root), ("state", state_root)):
            _check(_bytes(item, HASH_SIZE), f"{name} hash must be 32 bytes")
        _check(_bytes(rc_root, HASH_SIZE), "receipts root must be 32 bytes")
        commit = None if lc is None else CommitCertificate.from_value(lc)
        return cls(
            chain_id, height, parent, timestamp, proposer, tx_root, state_root, rc_root, gas, commit
        )


@dataclass(frozen=True, slots=True)
class Block:
    header: BlockHeader
    transactions: tuple[bytes, ...]  # wire bytes of each transaction

    @property
    def hash(self) -> bytes:
        return self.header.hash

    @property
    def height(self) -> int:
        return self.header.height

    def to_value(self) -> list[Value]:
        return [self.header.to_value(), list(self.transactions)]

    def encode(self) -> bytes:
        return encode(self.to_value())

    @classmethod
    def decode(cls, data: bytes) -> Block:
        header, txs = _fields(decode(data, MAX_BLOCK_SIZE), 2, "block")
        _check(isinstance(txs, list) and len(txs) <= MAX_BLOCK_TXS, "bad transaction list")
        _check(
            all(isinstance(t, bytes) and len(t) <= MAX_TX_SIZE for t in txs),
            "transactions must be bytes of bounded size",
        )
        return cls(BlockHeader.from_value(header), tuple(txs))


@dataclass(frozen=True, slots=True)
class CompactBlock:
    """A block told by its header and its transactions' hashes (a proposal on the wire).

    Peers hold nearly all of a proposal's transactions already, from transaction gossip: they
    rebuild the body from those and fetch only the few they miss, so a block's transactions
    cross the network once instead of twice. Rebuilding cannot change the block: its header
    commits to the transaction hashes (tx_root).
    """

    header: BlockHeader
    tx_hashes: tuple[bytes, ...]

    @classmethod
    def of(cls, block: Block) -> CompactBlock:
        return cls(block.header, tuple(hash32(raw) for raw in block.transactions))

    @property
    def height(self) -> int:
        return self.header.height

    def encode(self) -> bytes:
        return encode([self.header.to_value(), list(self.tx_hashes)])

    @classmethod
    def decode(cls, data: bytes) -> CompactBlock:
        header, hashes = _fields(decode(data, MAX_BLOCK_SIZE), 2, "compact block")
        _check(isinstance(hashes, list) and len(hashes) <= MAX_BLOCK_TXS, "bad hash list")
        _check(
            all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes),
            "transaction hashes must be 32 bytes",
        )
        return cls(BlockHeader.from_value(header), tuple(hashes))

    def assemble(self, raws: dict[bytes, bytes]) -> Block:
        """The full block from transactions by hash; KeyError names the first one missing."""
        return Block(self.header, tuple(raws[tx_hash] for tx_hash in self.tx_hashes))


def _uint(value: Value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_U64


def _bytes(value: Value, size: int) -> bool:
    return isinstance(value, bytes) and len(value) == size


def _check(condition: bool, reason: str) -> None:
    if not condition:
        raise DecodeError(reason)
