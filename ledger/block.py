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
from core.schema import MAX_U64, byte_strings, fields, items, sized_bytes, uint
from ledger.chain_params import MAX_TX_SIZE

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
        height, round_, block_hash, sigs = fields(value, 4, "commit certificate")
        integers = "certificate height and round must be integers"
        signatures = []
        for item in items(sigs, MAX_VALIDATORS, "bad signature list"):
            validator, signature = fields(item, 2, "commit signature")
            signatures.append(
                CommitSignature(
                    sized_bytes(validator, PUBKEY_SIZE, "commit signer must be a 32-byte key"),
                    sized_bytes(signature, SIGNATURE_SIZE, "commit signature must be 64 bytes"),
                )
            )
        return cls(
            uint(height, MAX_U64, integers),
            uint(round_, MAX_U64, integers),
            sized_bytes(block_hash, HASH_SIZE, "certificate block hash must be 32 bytes"),
            tuple(signatures),
        )

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
            fields(value, 10, "block header")
        )
        bad = "bad header integer"
        return cls(
            uint(chain_id, MAX_U64, bad),
            uint(height, MAX_U64, bad),
            sized_bytes(parent, HASH_SIZE, "parent hash must be 32 bytes"),
            uint(timestamp, MAX_U64, bad),
            sized_bytes(proposer, ADDRESS_SIZE, "proposer must be a 20-byte address"),
            sized_bytes(tx_root, HASH_SIZE, "tx hash must be 32 bytes"),
            sized_bytes(state_root, HASH_SIZE, "state hash must be 32 bytes"),
            sized_bytes(rc_root, HASH_SIZE, "receipts root must be 32 bytes"),
            uint(gas, MAX_U64, bad),
            None if lc is None else CommitCertificate.from_value(lc),
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
        header, txs = fields(decode(data, MAX_BLOCK_SIZE), 2, "block")
        raws = byte_strings(txs, MAX_BLOCK_TXS, "bad transaction list")
        if any(len(raw) > MAX_TX_SIZE for raw in raws):
            raise DecodeError("transactions must be bytes of bounded size")
        return cls(BlockHeader.from_value(header), tuple(raws))


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
        header, hashes = fields(decode(data, MAX_BLOCK_SIZE), 2, "compact block")
        found = byte_strings(hashes, MAX_BLOCK_TXS, "bad hash list")
        if any(len(tx_hash) != HASH_SIZE for tx_hash in found):
            raise DecodeError("transaction hashes must be 32 bytes")
        return cls(BlockHeader.from_value(header), tuple(found))

    def assemble(self, raws: dict[bytes, bytes]) -> Block:
        """The full block from transactions by hash; KeyError names the first one missing."""
        return Block(self.header, tuple(raws[tx_hash] for tx_hash in self.tx_hashes))
