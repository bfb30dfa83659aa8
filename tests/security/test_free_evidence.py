"""EVIDENCE transactions cost their sender nothing, so a stranger could try to fill blocks and
mempools with them: each is checked whole at admission, as at inclusion (the pair of messages
must prove an equivocation by a validator now), and refused there with the reason; a refused
one never reaches a block, and the node goes on committing honest transfers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.crypto import SigningKey, hash32
from core.rpc import TX_REJECTED
from genesis.dev import DEV_CHAIN_ID, dev_key, dev_validator_key
from ledger.consensus_messages import Evidence, Vote, VoteKind
from ledger.evidence import EvidencePayload
from ledger.tx import Transaction, Transfer, TxKind

if TYPE_CHECKING:
    from conftest import DevNode

STRANGER = SigningKey(b"\x51" * 32)


def prevote(key: SigningKey, block_hash: bytes | None, height: int = 1) -> Vote:
    message = Vote.sign_bytes_for(DEV_CHAIN_ID, VoteKind.PREVOTE, height, 0, block_hash)
    return Vote(VoteKind.PREVOTE, height, 0, block_hash, key.pubkey, key.sign(message))


def evidence_tx(evidence: Evidence, nonce: int = 0) -> str:
    tx = Transaction(DEV_CHAIN_ID, TxKind.EVIDENCE, STRANGER.pubkey, nonce, 200_000, 0,
                     EvidencePayload(evidence))  # fmt: skip
    return "0x" + tx.signed(STRANGER).encode().hex()


def test_free_evidence_that_proves_nothing_is_refused_at_admission(dev_node: DevNode) -> None:
    node = dev_node
    validator = dev_validator_key()
    cases = [
        (Evidence.of(prevote(STRANGER, b"\x01" * 32), prevote(STRANGER, None)),
         "is not a validator"),
        (Evidence.of(prevote(validator, b"\x01" * 32), prevote(validator, b"\x01" * 32)),
         "agree on the block"),
        (Evidence.of(prevote(validator, b"\x01" * 32), prevote(validator, None)),
         "is the last one"),  # a true double vote, but the dev chain's only validator
    ]  # fmt: skip
    for evidence, says in cases:
        error = node.rpc_error("aither_sendRawTransaction", evidence_tx(evidence))
        assert error["code"] == TX_REJECTED and says in str(error["message"]), error
    assert node.rpc("eth_getTransactionCount", "0x" + STRANGER.address.hex(), "pending") \
        == "0x0"  # fmt: skip
    # Other kinds still pay: a free transfer is refused for its gas price.
    free_transfer = Transaction(DEV_CHAIN_ID, TxKind.TRANSFER, dev_key(0).pubkey, 0, 30_000, 0,
                                Transfer(hash32(b"free")[:20], 1))  # fmt: skip
    error = node.rpc_error("aither_sendRawTransaction", "0x" + free_transfer.signed(
        dev_key(0)).encode().hex())  # fmt: skip
    assert "below minimum" in str(error["message"]), error
    assert node.transfer(dev_key(1), hash32(b"after the evidence")[:20], 1)["status"] == "0x1"
