"""The dev node in-process: admission, consensus with one validator, and the mempool journal."""

import asyncio
import dataclasses

import pytest

from avm.assembler import assemble
from core.crypto import SigningKey
from core.errors import InvalidTransaction, TransactionRejected
from genesis.dev import dev_genesis, dev_key, dev_validator_key
from ledger.chain import Ledger
from ledger.chain_params import MAX_TX_SIZE
from ledger.genesis import Genesis
from ledger.governance.payloads import Choice, ProposePayload, ValidatorsSpec, VotePayload
from ledger.governance.proposals import Status, load_proposal
from ledger.state import State
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


@pytest.mark.asyncio
async def test_an_enacted_validators_proposal_changes_the_driver_s_set(tmp_path):
    """The consensus driver takes the set the ledger's state holds from the block after a
    `validators` proposal's enactment; the lone signer (10 of 13) still commits alone."""
    base = dev_genesis(10)
    heavy = dataclasses.replace(base.validators[0], power=10)
    genesis = dataclasses.replace(base, validators=(heavy,))
    newcomer = SigningKey(b"\x42" * 32)
    chain = DevChain(tmp_path, genesis=genesis)
    nonces: dict[bytes, int] = {}

    def send(key, kind, payload) -> bytes:
        nonce = nonces.get(key.address, 0)
        nonces[key.address] = nonce + 1
        tx = Transaction(genesis.chain_id, kind, key.pubkey, nonce, 5_000_000, 10**9, payload)
        return tx.signed(key).encode()

    chain.start()
    try:
        spec = ValidatorsSpec(((newcomer.pubkey, 3),), "", genesis.governance.min_deposit)
        filed = await chain.node.submit(send(ALICE, TxKind.PROPOSE, ProposePayload(spec)))
        await wait_for(lambda: chain.ledger.receipt(filed) is not None)
        pid = chain.ledger.receipt(filed).logs[0].values[0]
        for member in (5, 6, 7, 8):
            await chain.node.submit(
                send(dev_key(member), TxKind.VOTE, VotePayload(pid, Choice.YES))
            )
        state = State(chain.ledger)
        tick = 0
        while load_proposal(State(chain.ledger), pid).status is not Status.ENACTED:
            assert load_proposal(state, pid).status in (Status.VOTING, Status.PASSED)
            tick += 1
            await chain.node.submit(raw_transfer(tick - 1, key=BOB, chain_id=genesis.chain_id))
            await wait_for(lambda t=tick: chain.ledger.height >= 2 + t)
        assert newcomer.pubkey in chain.driver.validators
        assert chain.driver.validators.power_of(newcomer.pubkey) == 3
        assert chain.driver.validators.total_power == 13
        height = chain.ledger.height
        await chain.node.submit(raw_transfer(tick, key=BOB, chain_id=genesis.chain_id))
        await wait_for(lambda: chain.ledger.height > height)  # 10 of 13 is still a quorum
    finally:
        await chain.close()
