"""Mempool admission rules: nonce order, gaps, funds (fees, values and proposal deposits),
replacement and bounds."""

import pytest

from core.crypto import SigningKey
from core.errors import TransactionRejected
from genesis.dev import DEV_BALANCE, dev_genesis, dev_key
from ledger.chain import Ledger
from ledger.governance.params import GovernanceParams
from ledger.governance.payloads import ParamsChangeSpec, ProposePayload
from ledger.state import Account
from ledger.tx import Call, SignedTx, Transaction, Transfer, TxKind, decode_transaction
from node.mempool import Mempool, MempoolLimits
from node.node import Node

ALICE, BOB = dev_key(0), dev_key(1)
RICH = Account(0, 10**30)


def tx(key, nonce, price=10**9, amount=1) -> SignedTx:
    raw = Transaction(
        7331, TxKind.TRANSFER, key.pubkey, nonce, 30_000, price, Transfer(BOB.address, amount)
    ).signed(key)
    return decode_transaction(raw.encode())


def test_ready_transactions_come_in_nonce_order_per_sender():
    pool = Mempool()
    for nonce in (2, 0, 1):
        pool.add(tx(ALICE, nonce), RICH)
    pool.add(tx(BOB, 0), RICH)
    ready = pool.ready(10, lambda sender: 0)
    assert [(s.sender, s.tx.nonce) for s in ready] == [
        (ALICE.address, 0),
        (ALICE.address, 1),
        (ALICE.address, 2),
        (BOB.address, 0),
    ]


def test_a_gap_is_held_until_it_is_filled():
    pool = Mempool()
    pool.add(tx(ALICE, 1), RICH)
    assert pool.ready(10, lambda sender: 0) == []
    pool.add(tx(ALICE, 0), RICH)
    assert len(pool.ready(10, lambda sender: 0)) == 2
    assert pool.pending_nonce(ALICE.address, 0) == 2


def test_a_used_nonce_is_rejected():
    with pytest.raises(TransactionRejected, match="nonce too low"):
        Mempool().add(tx(ALICE, 0), Account(1, 10**30))


def test_a_nonce_too_far_ahead_is_rejected():
    pool = Mempool(MempoolLimits(max_nonce_gap=4))
    with pytest.raises(TransactionRejected, match="too far ahead"):
        pool.add(tx(ALICE, 4), RICH)


def test_funds_must_cover_everything_the_sender_has_pending():
    fee = 30_000 * 10**9
    pool = Mempool()
    pool.add(tx(ALICE, 0, amount=10), Account(0, 2 * (fee + 10)))
    pool.add(tx(ALICE, 1, amount=10), Account(0, 2 * (fee + 10)))
    with pytest.raises(TransactionRejected, match="insufficient funds"):
        pool.add(tx(ALICE, 2, amount=10), Account(0, 2 * (fee + 10)))


def test_a_replacement_needs_a_higher_gas_price():
    pool = Mempool()
    pool.add(tx(ALICE, 0), RICH)
    with pytest.raises(TransactionRejected, match="already pending"):
        pool.add(tx(ALICE, 0, amount=2), RICH)
    better = tx(ALICE, 0, price=2 * 10**9)
    pool.add(better, RICH)
    assert pool.ready(10, lambda sender: 0) == [better]
    assert len(pool) == 1


def test_a_full_pool_says_so():
    pool = Mempool(MempoolLimits(max_txs=1))
    pool.add(tx(ALICE, 0), RICH)
    with pytest.raises(TransactionRejected, match="mempool is full"):
        pool.add(tx(BOB, 0), RICH)


def test_committed_nonces_are_pruned():
    pool = Mempool()
    for nonce in range(3):
        pool.add(tx(ALICE, nonce), RICH)
    pool.prune([ALICE.address], lambda sender: 2)
    assert [s.tx.nonce for s in pool.ready(10, lambda sender: 2)] == [2]
    assert pool.size_bytes == len(tx(ALICE, 2).raw)


def test_the_value_of_a_call_counts_against_the_funds():
    call = Transaction(
        7331, TxKind.CALL, ALICE.pubkey, 0, 30_000, 10**9, Call(BOB.address, "main", (), 10**18)
    ).signed(ALICE)
    with pytest.raises(TransactionRejected, match="insufficient funds"):
        Mempool().add(decode_transaction(call.encode()), Account(0, 10**18))


def propose(key, nonce, deposit, price=10**9) -> SignedTx:
    spec = ParamsChangeSpec(GovernanceParams(voting_period=20), "longer votes", deposit)
    raw = Transaction(
        7331, TxKind.PROPOSE, key.pubkey, nonce, PROPOSE_GAS, price, ProposePayload(spec)
    ).signed(key)
    return decode_transaction(raw.encode())


PROPOSE_GAS = 400_000


def test_a_proposal_deposit_counts_against_the_sender_funds():
    fee, deposit = PROPOSE_GAS * 10**9, 10**20
    account = Account(0, 2 * fee + deposit + deposit // 2)  # fees for two, one and a half deposits
    pool = Mempool()
    pool.add(propose(ALICE, 0, deposit), account)
    with pytest.raises(TransactionRejected, match="insufficient funds"):
        pool.add(propose(ALICE, 1, deposit), account)
    with pytest.raises(TransactionRejected, match="insufficient funds"):  # nor a transfer past it
        pool.add(tx(ALICE, 1, amount=deposit), account)
    pool.add(propose(ALICE, 1, deposit // 2), account)  # what is left still covers this one
    assert len(pool) == 2


def test_a_replaced_proposal_no_longer_holds_its_deposit():
    fee, deposit = PROPOSE_GAS * 2 * 10**9, 10**20
    account = Account(0, fee + deposit)
    pool = Mempool()
    pool.add(propose(ALICE, 0, deposit), account)
    pool.add(propose(ALICE, 0, deposit, price=2 * 10**9), account)  # replaces it, not added to it
    assert len(pool) == 1


@pytest.mark.asyncio
async def test_a_node_refuses_a_second_proposal_its_sender_cannot_fund(tmp_path):
    genesis = dev_genesis(2)
    ledger = Ledger(tmp_path, genesis)
    node = Node(ledger)  # no consensus driver: nothing leaves the pool for a block
    try:
        deposit = DEV_BALANCE * 6 // 10
        first, second = (
            Transaction(
                genesis.chain_id, TxKind.PROPOSE, ALICE.pubkey, nonce, PROPOSE_GAS, 10**9,
                ProposePayload(ParamsChangeSpec(GovernanceParams(voting_period=20), "", deposit)),
            ).signed(ALICE).encode()
            for nonce in (0, 1)
        )  # fmt: skip
        await node.submit(first)
        with pytest.raises(TransactionRejected, match="insufficient funds"):
            await node.submit(second)
        assert len(node.mempool) == 1
    finally:
        node.close()
        ledger.close()


# Queued transactions (behind a nonce gap) and a full pool


def keys(count: int, start: int = 100):
    return [SigningKey(n.to_bytes(32, "big")) for n in range(start, start + count)]


def test_queued_transactions_are_bounded_oldest_first():
    pool = Mempool(MempoolLimits(max_queued=3))
    senders = keys(4)
    for key in senders:
        assert pool.add(tx(key, 5), RICH) == [] or key is senders[-1]
    assert pool.queued_count == 3
    assert tx(senders[0], 5).hash not in pool  # the oldest went first
    pool.add(tx(ALICE, 0), RICH)  # executable: not counted as queued
    assert pool.queued_count == 3 and len(pool) == 4


def test_filling_the_gap_makes_queued_transactions_executable():
    pool = Mempool(MempoolLimits(max_queued=1))
    pool.add(tx(ALICE, 1), RICH)
    assert pool.queued_count == 1
    pool.add(tx(ALICE, 0), RICH)
    assert pool.queued_count == 0
    pool.add(tx(BOB, 3), RICH)  # room for another queued one
    assert len(pool) == 3


def test_queued_transactions_expire():
    now = [0.0]
    pool = Mempool(MempoolLimits(queued_lifetime=60.0), clock=lambda: now[0])
    pool.add(tx(ALICE, 2), RICH)
    pool.add(tx(ALICE, 3), RICH)
    pool.add(tx(BOB, 0), RICH)
    now[0] = 59.0
    assert pool.expire() == []
    now[0] = 61.0
    assert [s.tx.nonce for s in pool.expire()] == [2, 3]
    assert len(pool) == 1 and pool.queued_count == 0


def test_a_full_pool_evicts_the_cheapest_for_a_better_price():
    pool = Mempool(MempoolLimits(max_txs=2))
    cheap, fair = tx(ALICE, 0, price=10**9), tx(BOB, 0, price=2 * 10**9)
    pool.add(cheap, RICH)
    pool.add(fair, RICH)
    with pytest.raises(TransactionRejected, match="mempool is full"):
        pool.add(tx(dev_key(2), 0, price=10**9), RICH)  # no better than the cheapest
    better = tx(dev_key(2), 0, price=3 * 10**9)
    assert pool.add(better, RICH) == [cheap]
    assert cheap.hash not in pool and better.hash in pool and len(pool) == 2


def test_eviction_takes_the_senders_later_transactions_too():
    pool = Mempool(MempoolLimits(max_txs=3))
    run = [tx(ALICE, n, price=10**9) for n in range(2)]
    for stx in run:
        pool.add(stx, RICH)
    pool.add(tx(BOB, 0, price=5 * 10**9), RICH)
    dropped = pool.add(tx(dev_key(2), 0, price=5 * 10**9), RICH)
    assert {s.hash for s in dropped} <= {s.hash for s in run} and dropped
    assert all(s.tx.nonce > 0 for s in pool.ready(10, lambda sender: 0) if s.sender == ALICE)
    assert pool.pending_nonce(ALICE.address, 0) == (0 if run[0].hash not in pool else 1)


def test_a_full_pool_evicts_queued_before_executable():
    pool = Mempool(MempoolLimits(max_txs=2))
    queued = tx(ALICE, 7, price=9 * 10**9)
    pool.add(queued, RICH)
    pool.add(tx(BOB, 0, price=10**9), RICH)
    assert pool.add(tx(dev_key(2), 0, price=10**9), RICH) == [queued]


@pytest.mark.asyncio
async def test_the_node_refuses_what_no_block_could_include(tmp_path):
    genesis = dev_genesis(2)
    ledger = Ledger(tmp_path, genesis)
    node = Node(ledger)
    stranger = SigningKey(b"\x42" * 32)
    try:

        def transfer(key, gas_limit: int, nonce: int = 0) -> bytes:
            payload = Transfer(BOB.address, 0)
            return (
                Transaction(
                    genesis.chain_id, TxKind.TRANSFER, key.pubkey, nonce, gas_limit, 10**9, payload
                )
                .signed(key)
                .encode()
            )

        with pytest.raises(TransactionRejected, match="below intrinsic gas"):
            await node.submit(transfer(ALICE, 0))
        with pytest.raises(TransactionRejected, match="above the block gas limit"):
            await node.submit(transfer(ALICE, genesis.block_gas_limit + 1))
        with pytest.raises(TransactionRejected, match="insufficient funds"):
            await node.submit(transfer(stranger, 30_000, nonce=5))  # unfunded, gapped
        assert len(node.mempool) == 0 and ledger.pending_journal() == []
    finally:
        node.close()
        ledger.close()


@pytest.mark.asyncio
async def test_the_journal_keeps_only_what_the_pool_keeps(tmp_path):
    genesis = dev_genesis(3)
    ledger = Ledger(tmp_path, genesis)
    node = Node(ledger, mempool=Mempool(MempoolLimits(max_queued=2)))
    try:
        raws = [
            Transaction(
                genesis.chain_id, TxKind.TRANSFER, key.pubkey, 9, 30_000, 10**9,
                Transfer(BOB.address, 1),
            ).signed(key).encode()
            for key in (dev_key(0), dev_key(1), dev_key(2))
        ]  # fmt: skip
        for raw in raws:
            await node.submit(raw)
        assert len(node.mempool) == 2 and len(ledger.pending_journal()) == 2
        assert raws[0] not in ledger.pending_journal()
    finally:
        node.close()
        ledger.close()


def test_ready_puts_better_prices_and_smaller_limits_first():
    pool = Mempool()
    big = Transaction(
        7331, TxKind.CALL, ALICE.pubkey, 0, 10**9, 10**9, Call(BOB.address, "spin")
    ).signed(ALICE)
    pool.add(decode_transaction(big.encode()), RICH)
    small = tx(BOB, 0)
    pool.add(small, RICH)
    generous = tx(dev_key(2), 0, price=2 * 10**9)
    pool.add(generous, RICH)
    ready = pool.ready(10, lambda sender: 0)
    assert [s.hash for s in ready] == [
        generous.hash,
        small.hash,
        decode_transaction(big.encode()).hash,
    ]
