"""The block gas limit holds for the whole block: building stops adding transactions whose gas
limit does not fit the gas left, and a block that used more is invalid."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from avm.assembler import assemble
from core.errors import InvalidBlock
from genesis.dev import dev_genesis, dev_key, dev_validator_key
from ledger.agents import agent_address
from ledger.chain import Ledger
from ledger.solo import SoloValidator
from ledger.tx import Call, Deploy, SignedTx, Transaction, Transfer, TxKind, decode_transaction

LIMIT = 2_000_000
DEV = dev_genesis(3)
GENESIS = dataclasses.replace(DEV, chain=dataclasses.replace(DEV.chain, block_gas_limit=LIMIT))
ALICE, BOB = dev_key(0), dev_key(1)
PRICE = GENESIS.min_gas_price
SPIN = assemble(":spin\n  SET n = 0\n:again\n  ADD n, 1 -> n\n  JUMP again\n").code


def tx(key, nonce: int, kind: TxKind, payload: object, gas_limit: int) -> SignedTx:
    raw = Transaction(GENESIS.chain_id, kind, key.pubkey, nonce, gas_limit, PRICE, payload)
    return decode_transaction(raw.signed(key).encode())


def commit(ledger: Ledger, txs: list[SignedTx]):
    validator = SoloValidator(dev_validator_key(), GENESIS.chain_id, ledger.validators())
    last = ledger.commit_certificate(ledger.height)
    timestamp = GENESIS.timestamp + ledger.height + 1
    pending = ledger.build_block(txs, timestamp, validator.proposer, last)
    ledger.commit(pending, validator.certify(pending))
    return pending


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    chain = Ledger(tmp_path / "chain", GENESIS)
    pending = commit(chain, [tx(ALICE, 0, TxKind.DEPLOY, Deploy(SPIN.to_bytes()), 1_000_000)])
    assert pending.receipts[0].ok, pending.receipts[0].error
    yield chain
    chain.close()


def spin(key, nonce: int, gas_limit: int) -> SignedTx:
    return tx(key, nonce, TxKind.CALL, Call(agent_address(ALICE.address, 0), "spin"), gas_limit)


def test_calls_past_the_gas_left_wait_for_a_later_block(ledger: Ledger) -> None:
    first, second, later = (
        spin(ALICE, 1, 1_200_000),
        spin(ALICE, 2, 1_200_000),
        spin(BOB, 0, 700_000),
    )
    transfer = tx(BOB, 1, TxKind.TRANSFER, Transfer(ALICE.address, 5), 30_000)
    pending = commit(ledger, [first, second, later, transfer])
    assert [stx.hash for stx in pending.transactions] == [first.hash, later.hash, transfer.hash]
    assert sum(r.gas_used for r in pending.receipts) <= LIMIT
    assert pending.left_out == ()  # `second` is not invalid: the node keeps it for a later block
    assert [stx.hash for stx in commit(ledger, [second]).transactions] == [second.hash]


def test_a_sender_waits_behind_its_deferred_transaction(ledger: Ledger) -> None:
    big, small = spin(ALICE, 1, 1_200_000), spin(ALICE, 2, 100_000)
    filler = spin(BOB, 0, 1_000_000)
    pending = commit(ledger, [filler, big, small])
    assert [stx.hash for stx in pending.transactions] == [filler.hash]
    assert pending.left_out == ()  # `small` is not dropped for a nonce gap


def test_a_block_over_the_limit_is_invalid(ledger: Ledger, tmp_path: Path) -> None:
    # Built by a byzantine proposer that allows itself twice the limit; checked by an honest one.
    generous = Ledger(tmp_path / "generous", GENESIS)
    try:
        twice = dataclasses.replace(GENESIS.chain, block_gas_limit=2 * LIMIT)
        generous.chain_params = lambda: twice  # type: ignore[method-assign]
        commit(generous, [tx(ALICE, 0, TxKind.DEPLOY, Deploy(SPIN.to_bytes()), 1_000_000)])
        txs = [spin(ALICE, 1, 1_500_000), spin(BOB, 0, 1_500_000)]
        validator = SoloValidator(dev_validator_key(), GENESIS.chain_id, generous.validators())
        last = generous.commit_certificate(generous.height)
        block = generous.build_block(txs, GENESIS.timestamp + 2, validator.proposer, last).block
        assert len(block.transactions) == 2
    finally:
        generous.close()
    with pytest.raises(InvalidBlock, match="exceeds the block gas limit"):
        ledger.execute_block(block)
