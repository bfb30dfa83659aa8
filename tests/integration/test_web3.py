"""An unmodified web3.py client reads a live dev node through the eth_* methods."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from web3 import Web3

from core.crypto import hash32, to_checksum_address
from genesis.dev import DEV_BALANCE, DEV_CHAIN_ID, dev_key
from ledger.gas import DEFAULT_GAS_PRICE

if TYPE_CHECKING:
    from conftest import DevNode

SENDER = dev_key(0)
UNTOUCHED = dev_key(9)
RECIPIENT = hash32(b"web3 test recipient")[:20]


@pytest.fixture(scope="module")
def node(shared_node: DevNode) -> DevNode:
    return shared_node


@pytest.fixture(scope="module")
def transfer(node: DevNode) -> dict[str, object]:
    """One committed transfer from dev account 0, so that blocks hold a transaction."""
    receipt = node.transfer(SENDER, RECIPIENT, 10**18)
    assert receipt["status"] == "0x1"
    return receipt


@pytest.fixture(scope="module")
def w3(node: DevNode) -> Web3:
    return Web3(Web3.HTTPProvider(node.url))


def test_is_connected(w3: Web3) -> None:
    assert w3.is_connected()


def test_chain_id(w3: Web3) -> None:
    assert w3.eth.chain_id == DEV_CHAIN_ID


def test_net_version(w3: Web3) -> None:
    assert w3.net.version == str(DEV_CHAIN_ID)


def test_client_version(w3: Web3) -> None:
    assert w3.client_version.startswith("aither/v")


def test_block_number_is_the_node_height(w3: Web3, node: DevNode, transfer: object) -> None:
    assert w3.eth.block_number == node.health()["height"] >= 1


def test_balance_of_a_dev_account_is_its_genesis_balance_in_wei(w3: Web3) -> None:
    balance = w3.eth.get_balance(to_checksum_address(UNTOUCHED.address))
    assert balance == DEV_BALANCE == Web3.to_wei(10_000, "ether")


def test_balance_after_a_transfer(w3: Web3, transfer: dict[str, object]) -> None:
    fee = int(str(transfer["fee"]), 16)
    sender = to_checksum_address(SENDER.address)
    assert w3.eth.get_balance(sender) == DEV_BALANCE - 10**18 - fee
    assert w3.eth.get_balance(to_checksum_address(RECIPIENT), "latest") == 10**18


def test_transaction_count(w3: Web3, transfer: object) -> None:
    assert w3.eth.get_transaction_count(to_checksum_address(SENDER.address)) == 1
    assert w3.eth.get_transaction_count(to_checksum_address(SENDER.address), "pending") == 1
    assert w3.eth.get_transaction_count(to_checksum_address(UNTOUCHED.address)) == 0


def test_latest_block(w3: Web3, node: DevNode, transfer: object) -> None:
    block = w3.eth.get_block("latest")
    assert block["number"] == node.health()["height"]
    assert block["hash"].to_0x_hex() == node.rpc("aither_getBlockByNumber", "latest")["hash"]


def test_block_by_number_and_by_hash(w3: Web3, transfer: dict[str, object]) -> None:
    number = int(str(transfer["blockNumber"]), 16)
    by_number = w3.eth.get_block(number)
    assert by_number["number"] == number
    assert by_number["hash"].to_0x_hex() == transfer["blockHash"]
    assert [h.to_0x_hex() for h in by_number["transactions"]] == [transfer["transactionHash"]]
    assert by_number["parentHash"] == w3.eth.get_block(number - 1)["hash"]
    assert by_number["miner"] == w3.eth.get_block(0)["miner"]
    by_hash = w3.eth.get_block(by_number["hash"])
    assert by_hash == by_number
    assert w3.eth.get_block(transfer["blockHash"]) == by_number


def test_block_with_full_transactions(w3: Web3, transfer: dict[str, object]) -> None:
    block = w3.eth.get_block(int(str(transfer["blockNumber"]), 16), full_transactions=True)
    (tx,) = block["transactions"]
    assert tx["hash"].to_0x_hex() == transfer["transactionHash"]
    assert tx["from"] == to_checksum_address(SENDER.address)
    assert tx["to"] == to_checksum_address(RECIPIENT)
    assert tx["value"] == 10**18


def test_gas_price_is_one_gwei(w3: Web3) -> None:
    assert w3.eth.gas_price == DEFAULT_GAS_PRICE == Web3.to_wei(1, "gwei")


def test_not_syncing(w3: Web3) -> None:
    assert w3.eth.syncing is False
