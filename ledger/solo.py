"""A validator set of one that certifies its own blocks: commits blocks in ledger tests and
benchmarks without running consensus (a node runs `node.consensus`, which yields the same
certificate)."""

from __future__ import annotations

from core.crypto import SigningKey
from ledger.block import CommitCertificate, CommitSignature, commit_vote_bytes
from ledger.chain import PendingBlock


class SoloValidator:
    def __init__(self, key: SigningKey, chain_id: int, validators: dict[bytes, int]) -> None:
        assert set(validators) == {key.pubkey}, "the validator set must be this key alone"
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
