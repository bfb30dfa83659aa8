"""The dev node in-process: admission, consensus with one validator, and the mempool journal."""

import asyncio
import dataclasses

import pytest

from avm.assembler import assemble
from core.errors import InvalidTransaction, TransactionRejected
from genesis.dev import dev_genesis, dev_key, dev_validator_key
from ledger.chain import Ledger
from ledger.chain_params import MAX_TX_SIZE
from ledger.genesis import Genesis
from ledger.tx import Deploy, Transaction, Transfer, TxKind
from node.consensus_store import ConsensusStore
from node.driver import ConsensusDriver, Schedule
from node.node import Node

GENESIS = dev_genesis(2)
ALICE, BOB = dev_key(0), dev_key(1)


def raw_transfer(nonce: int, amount: int = 1, key=ALICE, chain_id=GENESIS.chain_id) -> bytes:
    tx = Transaction(
        chain_id, TxKind.TRANSFER, key.pubkey, nonce, 30_000, 10**9, Transfer(BOB.address, amount)
    )
    return tx.signed(key).encode()


class DevChain:
    """A node and its one-validator consensus driver, as `aither node start --dev` runs them."""

    def __init__(self, path, block_time: float = 0.0, genesis: Genesis = GENESIS) -> None:
        self.ledger = Ledger(path, genesis)
        self.store = ConsensusStore(path)
        self.node = Node(self.ledger)
        schedule = Schedule(empty_blocks=False, block_time=block_time)
        self.driver = ConsensusDriver(self.node, genesis, self.store, dev_validator_key(), schedule)

    def start(self) -> None:
        self.node.restore_pending()
        self.driver.start()

    async def close(self, started: bool = True) -> None:
        if started:
            await self.driver.stop()
        self.node.close()
        self.store.close()
        self.ledger.close()


async def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached before the deadline")
        await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_admitted_transactions_are_committed_in_a_block(tmp_path):
    chain = DevChain(tmp_path)
    chain.start()
    node = chain.node
    try:
        tx_hash = await node.submit(raw_transfer(0))
        await wait_for(lambda: node.ledger.receipt(tx_hash) is not None)
        assert node.ledger.height == 1 and len(node.mempool) == 0
        certificate = node.ledger.commit_certificate(1)
        certificate.verify(GENESIS.chain_id, node.ledger.validators())
        assert await node.submit(raw_transfer(0)) == tx_hash  # resubmitting is harmless
    finally:
        await chain.close()


@pytest.mark.asyncio
async def test_bad_transactions_are_refused_with_a_reason(tmp_path):
    chain = DevChain(tmp_path)
    node = chain.node
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
        await chain.close(started=False)


@pytest.mark.asyncio
async def test_admitted_transactions_survive_a_restart(tmp_path):
    chain = DevChain(tmp_path)  # not started: no block will be made
    hashes = [await chain.node.submit(raw_transfer(n)) for n in range(3)]
    await chain.close(started=False)

    restarted = DevChain(tmp_path)
    restarted.start()
    try:
        await wait_for(lambda: all(restarted.ledger.receipt(h) is not None for h in hashes))
        assert restarted.ledger.account(ALICE.address).nonce == 3
        assert restarted.ledger.pending_journal() == []
    finally:
        await restarted.close()


@pytest.mark.asyncio
async def test_blocks_come_at_the_block_time_even_when_empty(tmp_path):
    chain = DevChain(tmp_path, block_time=0.05)
    chain.start()
    try:
        await wait_for(lambda: chain.ledger.height >= 3)
        assert chain.ledger.block(3).transactions == ()
    finally:
        await chain.close()


@pytest.mark.asyncio
async def test_blocks_stay_under_the_chain_s_max_block_bytes(tmp_path):
    smallest = dataclasses.replace(GENESIS.chain, max_block_bytes=MAX_TX_SIZE)  # the least
    chain = DevChain(tmp_path, genesis=dataclasses.replace(GENESIS, chain=smallest))
    big = assemble(f':main\n  SET x = "{"a" * 25_000}"\n  HALT\n').code.to_bytes()
    deploys = [
        Transaction(GENESIS.chain_id, TxKind.DEPLOY, ALICE.pubkey, n, 2_000_000, 10**9, Deploy(big))
        for n in range(5)
    ]
    raws = [tx.signed(ALICE).encode() for tx in deploys]
    per_block = MAX_TX_SIZE // len(raws[0])
    assert per_block == 2
    hashes = [await chain.node.submit(raw) for raw in raws]
    chain.start()
    try:
        await wait_for(lambda: all(chain.ledger.receipt(h) is not None for h in hashes))
        sizes = [len(chain.ledger.block(h).transactions) for h in range(1, chain.ledger.height + 1)]
        assert sizes == [2, 2, 1]
    finally:
        await chain.close()
