"""What consensus keeps on disk beside the ledger: the signer's state, block bodies in flight,
each height's validator set and the evidence seen.

A LevelDB of its own (`consensus.ldb` in the data directory): the signer state is written with
`sync=True` before any message it signed leaves the node, so a validator restarted mid-round
never signs a conflicting vote.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from core.crypto import hash32
from ledger.block import Block
from ledger.chain import open_database
from ledger.consensus_messages import Evidence
from node.consensus.validators import ValidatorSet

_SIGNER = b"signer"
_BODY = b"body:"  # + height + block hash -> block bytes
_VALIDATORS = b"vset:"  # + height -> validator set with its proposer priorities
_EVIDENCE = b"evidence:"  # + height + hash -> evidence


def _h(height: int) -> bytes:
    return height.to_bytes(8, "big")


class ConsensusStore:
    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path / "consensus.ldb"
        self._db = open_database(self.path)

    def close(self) -> None:
        self._db.close()

    def signer_state(self) -> bytes | None:
        return self._db.get(_SIGNER)

    def save_signer_state(self, state: bytes) -> None:
        self._db.put(_SIGNER, state, sync=True)

    def save_body(self, block: Block) -> None:
        self._db.put(_BODY + _h(block.height) + block.hash, block.encode(), sync=True)

    def bodies(self, height: int) -> Iterator[bytes]:
        for _, raw in self._db.iterator(prefix=_BODY + _h(height)):
            yield raw

    def forget_bodies_below(self, height: int) -> None:
        with self._db.write_batch() as batch:
            for key in self._db.iterator(start=_BODY, stop=_BODY + _h(height), include_value=False):
                batch.delete(key)

    def validators(self, height: int) -> ValidatorSet | None:
        raw = self._db.get(_VALIDATORS + _h(height))
        return None if raw is None else ValidatorSet.from_bytes(raw)

    def latest_validators(self, height: int) -> tuple[int, ValidatorSet] | None:
        """The stored set of the highest height at or below `height`."""
        with self._db.iterator(
            start=_VALIDATORS, stop=_VALIDATORS + _h(height + 1), reverse=True
        ) as it:
            for key, raw in it:
                return int.from_bytes(key[len(_VALIDATORS) :], "big"), ValidatorSet.from_bytes(raw)
        return None

    def save_validators(self, height: int, validators: ValidatorSet) -> None:
        self._db.put(_VALIDATORS + _h(height), validators.to_bytes())

    def save_evidence(self, evidence: Evidence) -> bool:
        """Keep `evidence`; False if it was already known."""
        encoded = evidence.encode()
        key = _EVIDENCE + _h(evidence.height) + hash32(encoded)
        if self._db.get(key) is not None:
            return False
        self._db.put(key, encoded)
        return True
