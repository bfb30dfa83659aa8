"""Consensus messages: proposals, prevotes, precommits and equivocation evidence.

Every message has a canonical wire encoding (a tagged fixed-order list) and its own sign-bytes
with a domain tag, so a signature for one kind can never be replayed as another. A precommit
signs exactly `commit_vote_bytes`, so the precommits that decided a block are, signature for
signature, its `CommitCertificate`.
"""

from __future__ import annotations

import enum
from collections.abc import Container
from dataclasses import dataclass
from functools import lru_cache

from core.crypto import HASH_SIZE, PUBKEY_SIZE, SIGNATURE_SIZE, SigningKey, verify
from core.encoding import Value, decode, encode
from core.errors import AitherError, DecodeError
from core.schema import MAX_U64, fields, integer, is_uint, sized_bytes, uint
from ledger.block import CommitCertificate, CommitSignature, commit_vote_bytes

MAX_MESSAGE_SIZE = 1024
# Rounds grow by one per failed round; 2**32 is far beyond any live network and keeps the
# timeout arithmetic (500 ms per round) small.
MAX_ROUND = 2**32 - 1
NIL_ROUND = -1

_TAG_PROPOSAL = 1
_TAG_VOTE = 2
_TAG_EVIDENCE = 3


class InvalidEvidence(AitherError):
    """Evidence that does not prove an equivocation."""


class VoteKind(enum.IntEnum):
    PREVOTE = 1
    PRECOMMIT = 2


@lru_cache(maxsize=1 << 16)
def _verify_cached(pubkey: bytes, message: bytes, signature: bytes) -> bool:
    # The network layer checks a message before relaying it and the core checks it again; the
    # cache makes the second check (and every simulated node's check) free. `verify` is pure.
    return verify(pubkey, message, signature)


@dataclass(frozen=True, slots=True)
class Proposal:
    """The proposer's signed choice of `block_hash` for (height, round).

    `pol_round` is the round of the proof-of-lock (more than 2/3 prevotes) the proposer holds
    for this block, or -1 when it proposes a fresh block.
    """

    height: int
    round: int
    block_hash: bytes
    pol_round: int
    proposer: bytes
    signature: bytes

    @staticmethod
    def sign_bytes_for(
        chain_id: int, height: int, round_: int, block_hash: bytes, pol_round: int
    ) -> bytes:
        return encode(["proposal", chain_id, height, round_, block_hash, pol_round])

    def sign_bytes(self, chain_id: int) -> bytes:
        return self.sign_bytes_for(
            chain_id, self.height, self.round, self.block_hash, self.pol_round
        )

    @classmethod
    def create(
        cls,
        key: SigningKey,
        chain_id: int,
        height: int,
        round_: int,
        block_hash: bytes,
        pol_round: int = NIL_ROUND,
    ) -> Proposal:
        """Sign a proposal with `key` (no double-sign protection: see SignerGuard)."""
        message = cls.sign_bytes_for(chain_id, height, round_, block_hash, pol_round)
        return cls(height, round_, block_hash, pol_round, key.pubkey, key.sign(message))

    def verify_signature(self, chain_id: int) -> bool:
        return _verify_cached(self.proposer, self.sign_bytes(chain_id), self.signature)

    def to_value(self) -> list[Value]:
        return [
            _TAG_PROPOSAL,
            self.height,
            self.round,
            self.block_hash,
            self.pol_round,
            self.proposer,
            self.signature,
        ]

    @classmethod
    def from_value(cls, value: Value) -> Proposal:
        tag, height, round_, block_hash, pol_round, proposer, signature = fields(
            value, 7, "proposal"
        )
        _check(tag == _TAG_PROPOSAL, "not a proposal")
        height = uint(height, MAX_U64, "bad proposal height/round")
        round_ = uint(round_, MAX_ROUND, "bad proposal height/round")
        block_hash = sized_bytes(block_hash, HASH_SIZE, "proposal block hash must be 32 bytes")
        pol_round = integer(pol_round, "proposal POL round must be -1 or an earlier round")
        _check(NIL_ROUND <= pol_round < round_, "proposal POL round must be -1 or an earlier round")
        proposer = sized_bytes(proposer, PUBKEY_SIZE, "proposer must be a 32-byte key")
        signature = sized_bytes(signature, SIGNATURE_SIZE, "proposal signature must be 64 bytes")
        return cls(height, round_, block_hash, pol_round, proposer, signature)

    def encode(self) -> bytes:
        return encode(self.to_value())


@dataclass(frozen=True, slots=True)
class Vote:
    """A validator's signed prevote or precommit for `block_hash` (None: nil) at (height, round)."""

    kind: VoteKind
    height: int
    round: int
    block_hash: bytes | None
    validator: bytes
    signature: bytes

    @staticmethod
    def sign_bytes_for(
        chain_id: int, kind: VoteKind, height: int, round_: int, block_hash: bytes | None
    ) -> bytes:
        if kind is VoteKind.PRECOMMIT:
            if block_hash is not None:
                return commit_vote_bytes(chain_id, height, round_, block_hash)
            # Same layout as `commit_vote_bytes` with nil: never equal to a block's bytes.
            return encode(["precommit", chain_id, height, round_, None])
        return encode(["prevote", chain_id, height, round_, block_hash])

    def sign_bytes(self, chain_id: int) -> bytes:
        return self.sign_bytes_for(chain_id, self.kind, self.height, self.round, self.block_hash)

    @classmethod
    def create(
        cls,
        key: SigningKey,
        chain_id: int,
        kind: VoteKind,
        height: int,
        round_: int,
        block_hash: bytes | None,
    ) -> Vote:
        """Sign a vote with `key` (no double-sign protection: see SignerGuard)."""
        message = cls.sign_bytes_for(chain_id, kind, height, round_, block_hash)
        return cls(kind, height, round_, block_hash, key.pubkey, key.sign(message))

    def verify_signature(self, chain_id: int) -> bool:
        return _verify_cached(self.validator, self.sign_bytes(chain_id), self.signature)

    def to_value(self) -> list[Value]:
        return [
            _TAG_VOTE,
            int(self.kind),
            self.height,
            self.round,
            self.block_hash,
            self.validator,
            self.signature,
        ]

    @classmethod
    def from_value(cls, value: Value) -> Vote:
        tag, kind, height, round_, block_hash, validator, signature = fields(value, 7, "vote")
        _check(tag == _TAG_VOTE, "not a vote")
        kind = integer(kind, "vote kind must be 1 (prevote) or 2 (precommit)")
        _check(kind in (1, 2), "vote kind must be 1 (prevote) or 2 (precommit)")
        height = uint(height, MAX_U64, "bad vote height/round")
        round_ = uint(round_, MAX_ROUND, "bad vote height/round")
        if block_hash is not None:
            block_hash = sized_bytes(
                block_hash, HASH_SIZE, "vote block hash must be 32 bytes or nil"
            )
        validator = sized_bytes(validator, PUBKEY_SIZE, "vote validator must be a 32-byte key")
        signature = sized_bytes(signature, SIGNATURE_SIZE, "vote signature must be 64 bytes")
        return cls(VoteKind(kind), height, round_, block_hash, validator, signature)

    def encode(self) -> bytes:
        return encode(self.to_value())


Signed = Proposal | Vote


@dataclass(frozen=True, slots=True)
class Evidence:
    """Two messages one validator signed for the same slot with different block hashes.

    The slot is (height, round) for proposals and (kind, height, round) for votes. The pair is
    kept in canonical order (by encoding) so that every node records the same evidence.
    """

    first: Signed
    second: Signed

    @classmethod
    def of(cls, a: Signed, b: Signed) -> Evidence:
        first, second = sorted((a, b), key=lambda m: m.encode())
        return cls(first, second)

    @property
    def offender(self) -> bytes:
        return _signer(self.first)

    @property
    def height(self) -> int:
        return self.first.height

    def verify(self, chain_id: int, validators: Container[bytes]) -> None:
        """Check this proves an equivocation by a member of `validators`.

        Raises InvalidEvidence naming what is wrong.
        """
        a, b = self.first, self.second
        if type(a) is not type(b):
            raise InvalidEvidence("evidence must pair two proposals or two votes")
        if _signer(a) != _signer(b):
            raise InvalidEvidence("the two messages have different signers")
        if _signer(a) not in validators:
            raise InvalidEvidence("the signer is not a validator")
        if isinstance(a, Vote) and isinstance(b, Vote) and a.kind != b.kind:
            raise InvalidEvidence("the two votes are of different kinds")
        if (a.height, a.round) != (b.height, b.round):
            raise InvalidEvidence("the two messages are for different heights or rounds")
        if a.block_hash == b.block_hash:
            raise InvalidEvidence("the two messages agree on the block")
        if self.of(a, b) != self:
            raise InvalidEvidence("the pair is not in canonical order")
        if not (a.verify_signature(chain_id) and b.verify_signature(chain_id)):
            raise InvalidEvidence("a signature does not verify")

    def to_value(self) -> list[Value]:
        return [_TAG_EVIDENCE, self.first.to_value(), self.second.to_value()]

    @classmethod
    def from_value(cls, value: Value) -> Evidence:
        tag, first, second = fields(value, 3, "evidence")
        _check(tag == _TAG_EVIDENCE, "not evidence")
        return cls(_signed_from_value(first), _signed_from_value(second))

    def encode(self) -> bytes:
        return encode(self.to_value())


Message = Proposal | Vote | Evidence


def decode_message(data: bytes) -> Message:
    """Decode a consensus message from the wire. Raises DecodeError on anything malformed."""
    value = decode(data, MAX_MESSAGE_SIZE)
    if not (isinstance(value, list) and value):
        raise DecodeError("a message is a non-empty list")
    if is_uint(value[0]) and value[0] == _TAG_EVIDENCE:
        return Evidence.from_value(value)
    return _signed_from_value(value)


def votes_from_certificate(certificate: CommitCertificate) -> tuple[Vote, ...]:
    """The precommits a certificate is made of (a certificate from sync feeds the core as votes)."""
    return tuple(
        Vote(
            VoteKind.PRECOMMIT,
            certificate.height,
            certificate.round,
            certificate.block_hash,
            sig.validator,
            sig.signature,
        )
        for sig in certificate.signatures
    )


def certificate_from_votes(precommits: list[Vote]) -> CommitCertificate:
    """Assemble the certificate of precommits for one (height, round, block), sorted by signer."""
    first = precommits[0]
    assert first.block_hash is not None, "a certificate certifies a block, not nil"
    signatures = tuple(
        CommitSignature(v.validator, v.signature)
        for v in sorted(precommits, key=lambda v: v.validator)
    )
    return CommitCertificate(first.height, first.round, first.block_hash, signatures)


def _signed_from_value(value: Value) -> Signed:
    if not (isinstance(value, list) and value):
        raise DecodeError("a message is a non-empty list")
    tag = integer(value[0], "message tag must be an integer")
    if tag == _TAG_PROPOSAL:
        return Proposal.from_value(value)
    if tag == _TAG_VOTE:
        return Vote.from_value(value)
    raise DecodeError(f"unknown consensus message tag {tag}")


def _signer(message: Signed) -> bytes:
    return message.proposer if isinstance(message, Proposal) else message.validator


def _check(condition: bool, reason: str) -> None:
    if not condition:
        raise DecodeError(reason)
