"""The node in-process: admission, block production, and the mempool journal across restarts."""

import asyncio

import pytest

from genesis.dev import dev_genesis, dev_key, dev_validator_key
from ledger.chain import Ledger
from ledger.errors import InvalidTransaction, TransactionRejected
from ledger.tx import Transaction, Transfer, TxKind
from node.node import Node
from node.solo import SoloValidator

GENESIS = dev_genesis(2)
ALICE, BOB = dev_key(0), dev_key(1)


def raw_transfer(nonce: int, amount: int = 1, key=ALICE, chain_id=GENESIS.chain_id) -> bytes:
    tx = Transaction(
        chain_id, TxKind.TRANSFER, key.pubkey, nonce, 30_000, 10**9, Transfer(BOB.address, amount)
    )
    return tx.signed(key).encode()


def make_node(path, block_time: float = 0.0) -> Node:
    ledger = Ledger(path, GENESIS)
    validator = SoloValidator(dev_validator_key(), GENESIS.chain_id, ledger.validators())
    return Node(ledger, validator, block_time=block_time)


async def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached before the deadline")
        await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_admitted_transactions_are_committed_in_a_block(tmp_path):
    node = make_node(tmp_path)
    node.start()
    try:
        tx_hash = await node.submit(raw_transfer(0))
        await wait_for(lambda: node.ledger.receipt(tx_hash) is not None)
        assert node.ledger.height == 1 and len(node.mempool) == 0
        assert await node.submit(raw_transfer(0)) == tx_hash  # resubmitting is harmless
    finally:
        await node.stop()
        node.ledger.close()


@pytest.mark.asyncio
async def test_bad_transactions_are_refused_with_a_reason(tmp_path):
    node = make_node(tmp_path)
    try:
        with pytest.raises(InvalidTransaction, match="wrong chain id"):
            await node.submit(raw_transfer(0, chain_id=1))
        forged = bytearray(raw_transfer(0))
        forged[-1] ^= 1
        with pytest.raises(InvalidTransaction, match="bad signature"):
            await node.submit(bytes(forged))
        outcomes = await node.submit_many([raw_transfer(0), bytes(forged), raw_transfer(0, 2)])
        assert isinstance(outcomes[0], bytes)
        assert isinstance(outcomes[1], InvalidTransaction)
        assert isinstance(outcomes[2], TransactionRejected)  # same nonce, same gas price
        assert len(node.mempool) == 1
    finally:
        node.verifier.close()
        node.ledger.close()


@pytest.mark.asyncio
async def test_admitted_transactions_survive_a_restart(tmp_path):
    node = make_node(tmp_path, block_time=3600)  # no block will be made during the test
    hashes = [await node.submit(raw_transfer(n)) for n in range(3)]
    node.verifier.close()
    node.ledger.close()

    restarted = make_node(tmp_path)
    restarted.start()
    try:
        await wait_for(lambda: all(restarted.ledger.receipt(h) is not None for h in hashes))
        assert restarted.ledger.account(ALICE.address).nonce == 3
        assert restarted.ledger.pending_journal() == []
    finally:
        await restarted.stop()
        restarted.ledger.close()


@pytest.mark.asyncio
async def test_blocks_come_at_the_block_time_even_when_empty(tmp_path):
    node = make_node(tmp_path, block_time=0.05)
    node.start()
    try:
        await wait_for(lambda: node.ledger.height >= 3)
        assert node.ledger.block(3).transactions == ()
    finally:
        await node.stop()
        node.ledger.close()
