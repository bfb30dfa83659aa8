"""The double-sign guard: a validator's key that refuses to sign anything that could conflict.

It remembers the last (height, round, step) it signed and signs only strictly later steps, or the
very same bytes again (a restarted node may re-send what it already sent). It also remembers the
lock: in Tendermint a validator locks exactly when it precommits a block, so the latest non-nil
precommit of a height is the lock, and a restarted validator must not forget it (an honest node
that forgets its lock can complete a second quorum for another block).

The driver writes `to_bytes()` durably before it sends what was signed: the core returns a
`PersistSigner` effect ahead of the broadcasts of every batch that signed something.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

import nacl.signing

from core.crypto import HASH_SIZE, SIGNATURE_SIZE, SigningKey
from core.encoding import decode, encode
from core.errors import DecodeError
from core.schema import MAX_U64, byte_strings, fields, integer, sized_bytes
from ledger.block import MAX_VALIDATORS
from ledger.consensus_messages import (
    MAX_ROUND,
    NIL_ROUND,
    Evidence,
    Proposal,
    Signed,
    Vote,
    VoteKind,
    decode_message,
)

_M = TypeVar("_M", Proposal, Vote)


class SignStep(enum.IntEnum):
    NONE = 0
    PROPOSE = 1
    PREVOTE = 2
    PRECOMMIT = 3


_STEP_OF_VOTE = {VoteKind.PREVOTE: SignStep.PREVOTE, VoteKind.PRECOMMIT: SignStep.PRECOMMIT}


@dataclass(frozen=True, slots=True)
class SignerState:
    """The last thing signed, and the lock at its height (lock_round -1: not locked)."""

    height: int = 0
    round: int = 0
    step: SignStep = SignStep.NONE
    sign_bytes: bytes = b""
    signature: bytes = b""
    lock_round: int = NIL_ROUND
    lock_hash: bytes | None = None
    # Everything signed at (height, round), encoded: a restarted validator re-sends these,
    # since a signed message that never left cannot be signed again (nor a different one).
    messages: tuple[bytes, ...] = ()
    # The prevotes that justified the lock, encoded: without them a restarted validator could
    # not convince anyone to follow its lock, and a lock nobody follows can halt the chain.
    lock_proof: tuple[bytes, ...] = ()


class SignerGuard:
    """Signs proposals and votes for one key, refusing any that could conflict."""

    def __init__(self, key: SigningKey, state: SignerState | None = None) -> None:
        self._key = nacl.signing.SigningKey(key.seed)  # derived once: signing is per vote
        self.pubkey = bytes(self._key.verify_key)
        self.state = state or SignerState()

    def sign_proposal(
        self, chain_id: int, height: int, round_: int, block_hash: bytes, pol_round: int
    ) -> Proposal | None:
        """A signed proposal, or None if signing it could conflict with an earlier signature."""
        message = Proposal.sign_bytes_for(chain_id, height, round_, block_hash, pol_round)
        signature = self._sign(height, round_, SignStep.PROPOSE, message, None)
        if signature is None:
            return None
        return self._remember(
            Proposal(height, round_, block_hash, pol_round, self.pubkey, signature)
        )

    def sign_vote(
        self,
        chain_id: int,
        kind: VoteKind,
        height: int,
        round_: int,
        block_hash: bytes | None,
        proof: Sequence[Vote] = (),
    ) -> Vote | None:
        """A signed vote, or None if signing it could conflict with an earlier signature.

        A precommit for a block locks on it; `proof` are the prevotes that justify the lock.
        """
        message = Vote.sign_bytes_for(chain_id, kind, height, round_, block_hash)
        locks = block_hash if kind is VoteKind.PRECOMMIT else None
        signature = self._sign(height, round_, _STEP_OF_VOTE[kind], message, locks)
        if signature is None:
            return None
        if locks is not None:
            self.state = replace(self.state, lock_proof=tuple(v.encode() for v in proof))
        return self._remember(Vote(kind, height, round_, block_hash, self.pubkey, signature))

    def lock_at(self, height: int) -> tuple[int, bytes] | None:
        """(round, block hash) this key is locked on at `height`, if any."""
        s = self.state
        if s.height == height and s.lock_hash is not None:
            return s.lock_round, s.lock_hash
        return None

    def lock_proof(self, height: int) -> list[Vote]:
        """The prevotes behind the lock at `height` (empty if not locked there)."""
        if self.lock_at(height) is None:
            return []
        return [_decode_vote(v) for v in self.state.lock_proof]

    def signed_messages(self, height: int) -> list[Signed]:
        """What this key signed in its last round, if that round is at `height`."""
        if self.state.height != height:
            return []
        return [_decode_signed(m) for m in self.state.messages]

    def _remember(self, message: _M) -> _M:
        encoded = message.encode()
        if encoded not in self.state.messages:
            self.state = replace(self.state, messages=(*self.state.messages, encoded))
        return message

    def _sign(
        self, height: int, round_: int, step: SignStep, message: bytes, locks: bytes | None
    ) -> bytes | None:
        s = self.state
        here, last = (height, round_, step), (s.height, s.round, s.step)
        if here == last:
            # The same bytes again are harmless (and get the same signature); anything else
            # for this step would be an equivocation.
            return s.signature if message == s.sign_bytes else None
        if here < last:
            return None
        signature = self._key.sign(message).signature
        lock_round, lock_hash = (
            (s.lock_round, s.lock_hash) if height == s.height else (NIL_ROUND, None)
        )
        if locks is not None:
            lock_round, lock_hash = round_, locks
        messages = s.messages if (height, round_) == (s.height, s.round) else ()
        proof = s.lock_proof if height == s.height else ()
        self.state = replace(
            s,
            height=height,
            round=round_,
            step=step,
            sign_bytes=message,
            signature=signature,
            lock_round=lock_round,
            lock_hash=lock_hash,
            messages=messages,
            lock_proof=proof,
        )
        return signature

    def to_bytes(self) -> bytes:
        s = self.state
        return encode(
            [
                s.height,
                s.round,
                int(s.step),
                s.sign_bytes,
                s.signature,
                s.lock_round,
                s.lock_hash,
                list(s.messages),
                list(s.lock_proof),
            ]
        )

    @classmethod
    def from_bytes(cls, key: SigningKey, data: bytes) -> SignerGuard:
        """Restore a guard for `key`. Raises DecodeError on bytes `to_bytes` did not produce."""
        value = decode(data)
        height, round_, step, sign_bytes, signature, lock_round, lock_hash, messages, proof = (
            fields(value, 9, "signer state")
        )
        ints = "signer state height, round, step and lock round are integers"
        height, round_ = integer(height, ints), integer(round_, ints)
        step, lock_round = integer(step, ints), integer(lock_round, ints)
        if not (0 <= height <= MAX_U64 and 0 <= round_ <= MAX_ROUND and 0 <= step <= 3):
            raise DecodeError("signer state height, round or step out of range")
        if not (isinstance(sign_bytes, bytes) and isinstance(signature, bytes)):
            raise DecodeError("signer state sign bytes and signature are bytes")
        if signature and len(signature) != SIGNATURE_SIZE:
            raise DecodeError("signer state signature must be 64 bytes")
        lock = "signer state lock must be (-1, nil) or (round, 32-byte hash)"
        if lock_hash is None:
            if lock_round != NIL_ROUND:
                raise DecodeError(lock)
        else:
            lock_hash = sized_bytes(lock_hash, HASH_SIZE, lock)
            if lock_round < 0:
                raise DecodeError(lock)
        signed = byte_strings(
            messages, len(SignStep), "signer state messages must be a short list of messages"
        )
        for message in signed:
            _decode_signed(message)
        prevotes = byte_strings(
            proof, MAX_VALIDATORS, "signer state lock proof must be a list of encoded prevotes"
        )
        for vote in prevotes:
            _decode_vote(vote)
        state = SignerState(
            height,
            round_,
            SignStep(step),
            sign_bytes,
            signature,
            lock_round,
            lock_hash,
            tuple(signed),
            tuple(prevotes),
        )
        return cls(key, state)


def _decode_signed(data: bytes) -> Signed:
    message = decode_message(data)
    if isinstance(message, Evidence):
        raise DecodeError("signer state holds proposals and votes only")
    return message


def _decode_vote(data: bytes) -> Vote:
    message = decode_message(data)
    if not isinstance(message, Vote):
        raise DecodeError("a lock proof holds votes only")
    return message
