"""The ledger on a real LevelDB: transfers, tokens, fees, failures, replay and proofs."""

import dataclasses

import pytest

from core.crypto import SigningKey
from core.errors import InvalidBlock
from genesis.dev import DEV_BALANCE, dev_genesis, dev_key, dev_validator_key
from ledger.block import Block
from ledger.chain import DataDirError, Ledger
from ledger.merkle import verify_proof
from ledger.solo import SoloValidator
from ledger.state import ACCOUNT
from ledger.transition import intrinsic_gas
from ledger.tx import SignedTx, TokenCreate, Transaction, Transfer, TxKind, decode_transaction

GENESIS = dev_genesis(3)
ALICE, BOB, CAROL = (dev_key(i) for i in range(3))
STRANGER = SigningKey(b"\x09" * 32)
PRICE = GENESIS.min_gas_price
PROPOSER = dev_validator_key().address


def tx(key, nonce, payload, gas_limit=100_000, chain_id=GENESIS.chain_id) -> SignedTx:
    kind = TxKind.TRANSFER if isinstance(payload, Transfer) else TxKind.TOKEN_CREATE
    signed = Transaction(chain_id, kind, key.pubkey, nonce, gas_limit, PRICE, payload).signed(key)
    return decode_transaction(signed.encode())


@pytest.fixture
def ledger(tmp_path):
    chain = Ledger(tmp_path / "node", GENESIS)
    yield chain
    chain.close()


def produce(ledger: Ledger, txs, timestamp=GENESIS.timestamp + 1):
    validator = SoloValidator(dev_validator_key(), GENESIS.chain_id, ledger.validators())
    last = ledger.commit_certificate(ledger.height)
    pending = ledger.build_block(txs, timestamp, validator.proposer, last)
    ledger.commit(pending, validator.certify(pending))
    return pending


def total_supply(ledger: Ledger, *extra: bytes) -> int:
    addresses = [k.address for k in (ALICE, BOB, CAROL)] + [PROPOSER, *extra]
    return sum(ledger.account(a).balance for a in addresses)


def test_genesis_funds_the_dev_accounts(ledger):
    assert ledger.height == 0
    assert ledger.account(ALICE.address).balance == DEV_BALANCE
    assert ledger.validators() == {dev_validator_key().pubkey: 1}


def test_transfer_moves_funds_pays_the_proposer_and_uses_the_nonce(ledger):
    transfer = tx(ALICE, 0, Transfer(STRANGER.address, 5))
    pending = produce(ledger, [transfer])
    receipt = ledger.receipt(transfer.hash)
    assert receipt.ok and receipt.gas_used == intrinsic_gas(transfer)
    assert ledger.account(STRANGER.address).balance == 5
    assert ledger.account(ALICE.address).nonce == 1
    assert ledger.account(ALICE.address).balance == DEV_BALANCE - 5 - receipt.fee
    assert ledger.account(PROPOSER).balance == receipt.fee
    assert total_supply(ledger, STRANGER.address) == 3 * DEV_BALANCE
    found, where = ledger.transaction(transfer.hash)
    assert found.hash == transfer.hash and where.height == 1
    assert ledger.history(STRANGER.address) == [transfer.hash]
    assert ledger.block(1).hash == pending.block.hash == ledger.head.hash


def test_a_failed_transfer_pays_its_fee_advances_the_nonce_and_changes_nothing_else(ledger):
    too_much = tx(ALICE, 0, Transfer(BOB.address, DEV_BALANCE))
    produce(ledger, [too_much])
    receipt = ledger.receipt(too_much.hash)
    assert not receipt.ok and "insufficient funds" in receipt.error
    assert ledger.account(ALICE.address).nonce == 1
    assert ledger.account(ALICE.address).balance == DEV_BALANCE - receipt.fee
    assert ledger.account(BOB.address).balance == DEV_BALANCE


def test_an_unknown_token_fails_the_transfer(ledger):
    unknown = tx(ALICE, 0, Transfer(BOB.address, 1, "NOPE"))
    produce(ledger, [unknown])
    assert ledger.receipt(unknown.hash).error == "unknown token NOPE"


def test_out_of_gas_charges_the_whole_limit_and_rolls_back(ledger):
    create = tx(ALICE, 0, TokenCreate("GOLD", "Gold", 100, 2), gas_limit=30_000)
    produce(ledger, [create])
    receipt = ledger.receipt(create.hash)
    assert not receipt.ok and receipt.error.startswith("out of gas")
    assert receipt.gas_used == 30_000
    assert ledger.token("GOLD") is None


def test_tokens_are_created_and_transferred(ledger):
    produce(ledger, [tx(ALICE, 0, TokenCreate("GOLD", "Gold", 1000, 2))])
    produce(ledger, [tx(ALICE, 1, Transfer(BOB.address, 250, "GOLD"))])
    assert ledger.token_balance(ALICE.address, "GOLD") == 750
    assert ledger.token_balance(BOB.address, "GOLD") == 250
    assert [t.symbol for t in ledger.tokens()] == ["GOLD"]
    again = tx(BOB, 0, TokenCreate("GOLD", "Fake", 1, 0))
    produce(ledger, [again])
    assert ledger.receipt(again.hash).error == "token GOLD already exists"


def test_transactions_that_cannot_be_included_are_left_out(ledger):
    wrong_nonce = tx(ALICE, 5, Transfer(BOB.address, 1))
    no_funds = tx(STRANGER, 0, Transfer(BOB.address, 1))
    wrong_chain = tx(BOB, 0, Transfer(ALICE.address, 1), chain_id=1)
    low_gas = tx(CAROL, 0, Transfer(ALICE.address, 1), gas_limit=100)
    pending = produce(ledger, [wrong_nonce, no_funds, wrong_chain, low_gas])
    reasons = [reason for _, reason in pending.left_out]
    assert pending.block.transactions == ()
    assert "ahead of account nonce" in reasons[0]
    assert "insufficient funds for gas" in reasons[1]
    assert "wrong chain id" in reasons[2]
    assert "below intrinsic gas" in reasons[3]


def test_reopening_the_data_dir_continues_the_chain(tmp_path):
    chain = Ledger(tmp_path, GENESIS)
    produce(chain, [tx(ALICE, 0, Transfer(BOB.address, 7))])
    head = chain.head
    chain.close()
    reopened = Ledger(tmp_path, GENESIS)
    assert reopened.head == head
    assert reopened.account(ALICE.address).nonce == 1
    reopened.close()


def test_a_data_dir_of_another_chain_is_refused(tmp_path):
    Ledger(tmp_path, GENESIS).close()
    with pytest.raises(DataDirError, match="different chain"):
        Ledger(tmp_path, dev_genesis(4))


def test_another_node_replays_the_blocks_to_the_same_state(ledger, tmp_path):
    produce(ledger, [tx(ALICE, 0, TokenCreate("GOLD", "Gold", 10, 0))])
    produce(
        ledger,
        [tx(ALICE, 1, Transfer(BOB.address, 3, "GOLD")), tx(BOB, 0, Transfer(CAROL.address, 9))],
    )
    replica = Ledger(tmp_path / "replica", GENESIS)
    for height in range(1, ledger.height + 1):
        pending = replica.execute_block(ledger.block(height))
        replica.commit(pending, ledger.commit_certificate(height))
        assert replica.head == ledger.block(height).header
    replica.close()


def test_a_block_with_a_wrong_state_root_is_invalid(ledger, tmp_path):
    produce(ledger, [tx(ALICE, 0, Transfer(BOB.address, 1))])
    good = ledger.block(1)
    forged = Block(dataclasses.replace(good.header, state_root=bytes(32)), good.transactions)
    replica = Ledger(tmp_path / "replica", GENESIS)
    with pytest.raises(InvalidBlock, match="another header"):
        replica.execute_block(forged)
    replica.close()


def test_a_block_is_committed_only_with_its_own_certificate(ledger):
    validator = SoloValidator(dev_validator_key(), GENESIS.chain_id, ledger.validators())
    first = ledger.build_block([], GENESIS.timestamp, validator.proposer, None)
    other = ledger.build_block([], GENESIS.timestamp + 5, validator.proposer, None)
    with pytest.raises(InvalidBlock, match="another block"):
        ledger.commit(first, validator.certify(other))
    assert ledger.height == 0


def test_account_proofs_verify_against_the_state_root(ledger):
    produce(ledger, [tx(ALICE, 0, Transfer(BOB.address, 1))])
    header, value, proof = ledger.prove_account(ALICE.address)
    assert verify_proof(header.state_root, ACCOUNT + ALICE.address, value, proof)
    assert not verify_proof(header.state_root, ACCOUNT + ALICE.address, value + b"\x00", proof)
    header, value, proof = ledger.prove_account(STRANGER.address)
    assert value is None
    assert verify_proof(header.state_root, ACCOUNT + STRANGER.address, None, proof)
