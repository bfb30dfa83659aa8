"""Consensus with a validator set of one: the dev node's validator certifies its own blocks.

It produces the same `CommitCertificate` that BFT consensus produces (precommit signatures over
more than 2/3 of the power), verified by the same check, so the dev node is not a separate
code path: it is the degenerate case where one vote is a quorum.
"""

from __future__ import annotations

from ledger.block import CommitCertificate, CommitSignature, commit_vote_bytes
from ledger.chain import PendingBlock
from ledger.crypto import SigningKey
from ledger.errors import AitherError


class SoloValidator:
    def __init__(self, key: SigningKey, chain_id: int, validators: dict[bytes, int]) -> None:
        if set(validators) != {key.pubkey}:
            raise AitherError(
                "solo consensus needs a validator set of exactly this node's validator key"
            )
        self.key = key
        self.chain_id = chain_id
        self.validators = validators

    @property
    def proposer(self) -> bytes:
        return self.key.address

    def certify(self, pending: PendingBlock) -> CommitCertificate:
        block = pending.block
        vote = commit_vote_bytes(self.chain_id, block.height, 0, block.hash)
        signature = CommitSignature(self.key.pubkey, self.key.sign(vote))
        certificate = CommitCertificate(block.height, 0, block.hash, (signature,))
        certificate.verify(self.chain_id, self.validators)
        return certificate
