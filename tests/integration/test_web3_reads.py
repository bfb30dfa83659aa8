"""The reads Ethereum tools expect, through an unmodified web3.py against a live dev node:
transactions, receipts, logs, balances at past blocks, accounts, code, fee history, calls,
estimates, filters, and a WebSocket logs subscription (AsyncWeb3 with WebSocketProvider).

The module shares one node. Its chain: dev 2 deploys the counter agent, then bumps it by 2
(a LOG "bumped" the topic filters find), dev 3 sends RECIPIENT one coin. Tests that send more
transactions use dev 4 (filters) and dev 5 (subscriptions).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from web3 import AsyncWeb3, Web3, WebSocketProvider
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError

from avm.assembler import assemble
from avm.values import from_wire, to_wire
from core.crypto import hash32, to_checksum_address
from core.encoding import decode, encode
from genesis.dev import dev_key
from ledger.agents import agent_address
from ledger.gas import DEFAULT_GAS_PRICE
from ledger.receipt import topic_word
from wallet.client import RpcClient
from wallet.txbuilder import build_call, build_deploy

if TYPE_CHECKING:
    from conftest import DevNode, WaitUntil

COUNTER = """\
:bump
  KV_FETCH "count" -> count
  IF count == NULL THEN
    SET count = 0
  ENDIF
  ADD count, ARGS[0] -> count
  KV_STORE "count", count
  LOG "bumped", count
  RETURN count
:fail
  REVERT "not today"
"""
CODE = assemble(COUNTER).code.to_bytes()
DEPLOYER, SENDER = dev_key(2), dev_key(3)
FILTERING, SUBSCRIBING = dev_key(4), dev_key(5)
RECIPIENT = hash32(b"web3 reads recipient")[:20]
BUMPED = "0x" + topic_word("bumped").hex()
WAIT = 15.0


def call_data(entry: str, *args: object) -> str:
    """eth_call's data for an agent call: the canonical encoding of [entry, args]."""
    return "0x" + encode([entry, to_wire(tuple(args))]).hex()


def returned(output: bytes) -> object:
    return from_wire(decode(bytes(output)))


def height_of(receipt: dict[str, object]) -> int:
    return int(str(receipt["blockNumber"]), 16)


@dataclass(frozen=True)
class Chain:
    agent: str
    deploy: dict[str, object]  # aither receipts, as the node's own methods give them
    bump: dict[str, object]
    transfer: dict[str, object]


@pytest.fixture(scope="module")
def node(shared_node: DevNode) -> DevNode:
    return shared_node


@pytest.fixture(scope="module")
def client(node: DevNode) -> Iterator[RpcClient]:
    with RpcClient(node.url) as rpc:
        yield rpc


def bump(node: DevNode, client: RpcClient, key_index: int, by: int, agent: str) -> str:
    """Send a bump of the counter from dev `key_index`; its hash."""
    raw = build_call(client, dev_key(key_index), bytes.fromhex(agent[2:]), "bump", (by,))
    return node.send_raw(raw)


@pytest.fixture(scope="module")
def chain(node: DevNode, client: RpcClient) -> Chain:
    deploy = node.wait_for_receipt(node.send_raw(build_deploy(client, DEPLOYER, CODE)))
    assert deploy["status"] == "0x1", deploy
    agent = to_checksum_address(agent_address(DEPLOYER.address, 0))
    bumped = node.wait_for_receipt(bump(node, client, 2, 2, agent))
    assert bumped["status"] == "0x1", bumped
    transfer = node.transfer(SENDER, RECIPIENT, 10**18)
    assert transfer["status"] == "0x1", transfer
    return Chain(agent, deploy, bumped, transfer)


@pytest.fixture(scope="module")
def w3(node: DevNode) -> Web3:
    return Web3(Web3.HTTPProvider(node.url))


# Transactions and receipts


def test_get_transaction_of_a_transfer(w3: Web3, chain: Chain) -> None:
    tx = w3.eth.get_transaction(str(chain.transfer["transactionHash"]))
    assert tx["hash"].to_0x_hex() == chain.transfer["transactionHash"]
    assert tx["from"] == to_checksum_address(SENDER.address)
    assert tx["to"] == to_checksum_address(RECIPIENT)
    assert tx["value"] == 10**18 and tx["input"] == b"" and tx["type"] == 0
    assert tx["blockNumber"] == height_of(chain.transfer) and tx["gasPrice"] == DEFAULT_GAS_PRICE
    assert tx["nonce"] == 0 and tx["transactionIndex"] == 0


def test_get_transaction_of_an_agent_call_has_its_call_data_as_input(
    w3: Web3, chain: Chain
) -> None:
    tx = w3.eth.get_transaction(str(chain.bump["transactionHash"]))
    assert tx["to"] == chain.agent and tx["value"] == 0
    assert tx["input"].to_0x_hex() == call_data("bump", 2)


def test_an_unknown_transaction_is_not_found(w3: Web3) -> None:
    with pytest.raises(TransactionNotFound):
        w3.eth.get_transaction("0x" + "ab" * 32)
    with pytest.raises(TransactionNotFound):
        w3.eth.get_transaction_receipt("0x" + "ab" * 32)


def test_receipt_of_a_transfer(w3: Web3, chain: Chain) -> None:
    receipt = w3.eth.get_transaction_receipt(str(chain.transfer["transactionHash"]))
    assert receipt["status"] == 1 and receipt["type"] == 0
    assert receipt["blockHash"].to_0x_hex() == chain.transfer["blockHash"]
    assert receipt["from"] == to_checksum_address(SENDER.address)
    assert receipt["to"] == to_checksum_address(RECIPIENT)
    assert receipt["gasUsed"] == int(str(chain.transfer["gasUsed"]), 16)
    assert receipt["cumulativeGasUsed"] >= receipt["gasUsed"]
    assert receipt["effectiveGasPrice"] == DEFAULT_GAS_PRICE
    assert receipt["contractAddress"] is None and receipt["logsBloom"] == bytes(256)
    (transfer_log,) = receipt["logs"]
    assert transfer_log["address"] == to_checksum_address(SENDER.address)
    assert transfer_log["topics"][0] == topic_word("Transfer")
    assert transfer_log["topics"][1] == topic_word(RECIPIENT)
    assert transfer_log["transactionHash"] == receipt["transactionHash"]
    assert transfer_log["removed"] is False


def test_receipt_of_a_deploy_names_the_agent(w3: Web3, chain: Chain) -> None:
    receipt = w3.eth.get_transaction_receipt(str(chain.deploy["transactionHash"]))
    assert receipt["status"] == 1 and receipt["contractAddress"] == chain.agent
    assert receipt["to"] is None


def test_receipt_of_an_agent_call_carries_its_log(w3: Web3, chain: Chain) -> None:
    receipt = w3.eth.get_transaction_receipt(str(chain.bump["transactionHash"]))
    assert receipt["to"] == chain.agent
    (bumped,) = receipt["logs"]
    assert bumped["address"] == chain.agent
    assert bumped["topics"] == [topic_word("bumped"), topic_word(2)]
    assert bumped["blockNumber"] == height_of(chain.bump) and bumped["logIndex"] == 0
    assert decode(bytes(bumped["data"]))[0] == bytes.fromhex(chain.agent[2:])


# Logs


def test_get_logs_with_a_topic_filter_finds_the_agents_log(w3: Web3, chain: Chain) -> None:
    last = height_of(chain.transfer)
    logs = w3.eth.get_logs({"fromBlock": 0, "toBlock": last, "topics": [BUMPED]})
    assert [log["transactionHash"].to_0x_hex() for log in logs] == [chain.bump["transactionHash"]]
    assert logs == w3.eth.get_transaction_receipt(str(chain.bump["transactionHash"]))["logs"]


def test_get_logs_by_address_position_and_alternatives(w3: Web3, chain: Chain) -> None:
    blocks = {"fromBlock": 0, "toBlock": height_of(chain.transfer)}
    by_address = w3.eth.get_logs({**blocks, "address": chain.agent})
    deployed, bumped = by_address  # the deploy's event is filed under the agent too
    assert deployed["topics"][0] == topic_word("AgentDeployed")
    assert bumped["topics"][0] == topic_word("bumped")
    second = "0x" + topic_word(2).hex()
    anywhere = w3.eth.get_logs({**blocks, "address": [chain.agent, to_checksum_address(RECIPIENT)]})
    assert anywhere == by_address
    assert w3.eth.get_logs({**blocks, "topics": [None, second]}) == [bumped]
    either = w3.eth.get_logs({**blocks, "topics": [[BUMPED, "0x" + "00" * 32]]})
    assert either == [bumped]
    assert w3.eth.get_logs({**blocks, "topics": [BUMPED, "0x" + "00" * 32]}) == []


def test_get_logs_of_one_block_by_hash(w3: Web3, chain: Chain) -> None:
    logs = w3.eth.get_logs({"blockHash": str(chain.transfer["blockHash"])})
    assert [log["transactionHash"].to_0x_hex() for log in logs] == [
        chain.transfer["transactionHash"]
    ]


# State at a block


def test_balance_at_a_past_block(w3: Web3, chain: Chain) -> None:
    recipient = to_checksum_address(RECIPIENT)
    height = height_of(chain.transfer)
    assert w3.eth.get_balance(recipient, block_identifier=height - 1) == 0
    assert w3.eth.get_balance(recipient, block_identifier=height) == 10**18
    assert w3.eth.get_balance(recipient, block_identifier="earliest") == 0
    assert w3.eth.get_balance(recipient, block_identifier="finalized") == 10**18
    before = w3.eth.get_block(height - 1)["hash"]
    assert w3.eth.get_balance(recipient, block_identifier=before) == 0


def test_nonce_at_a_past_block(w3: Web3, chain: Chain) -> None:
    sender = to_checksum_address(SENDER.address)
    height = height_of(chain.transfer)
    assert w3.eth.get_transaction_count(sender, block_identifier=height - 1) == 0
    assert w3.eth.get_transaction_count(sender, block_identifier=height) == 1


def test_eip_1898_block_objects(node: DevNode, chain: Chain) -> None:
    recipient = to_checksum_address(RECIPIENT)
    height = height_of(chain.transfer)
    by_number = node.rpc("eth_getBalance", recipient, {"blockNumber": hex(height - 1)})
    by_hash = node.rpc("eth_getBalance", recipient, {"blockHash": chain.transfer["blockHash"]})
    assert (by_number, by_hash) == ("0x0", hex(10**18))


def test_state_past_the_head_is_unavailable(node: DevNode) -> None:
    error = node.rpc_error("eth_getBalance", to_checksum_address(RECIPIENT), hex(10**9))
    assert error["code"] == -32000 and "past the head" in str(error["message"])


def test_accounts_are_the_dev_accounts(w3: Web3) -> None:
    accounts = w3.eth.accounts
    assert accounts == [to_checksum_address(dev_key(i).address) for i in range(len(accounts))]
    assert len(accounts) == 10


def test_code_of_an_agent_and_of_an_account(w3: Web3, chain: Chain) -> None:
    assert w3.eth.get_code(chain.agent) == CODE
    assert w3.eth.get_code(chain.agent, block_identifier=height_of(chain.deploy) - 1) == b""
    assert w3.eth.get_code(to_checksum_address(SENDER.address)) == b""


def test_fee_history(w3: Web3, chain: Chain) -> None:
    height = height_of(chain.transfer)
    history = w3.eth.fee_history(2, height, [10.0, 90.0])
    assert history["oldestBlock"] == height - 1
    assert history["baseFeePerGas"] == [DEFAULT_GAS_PRICE] * 3
    assert len(history["gasUsedRatio"]) == 2 and 0 < history["gasUsedRatio"][1] < 1
    assert history["reward"][1] == [DEFAULT_GAS_PRICE, DEFAULT_GAS_PRICE]
    everything = w3.eth.fee_history(5000, "latest")
    assert everything["oldestBlock"] == 0 and "reward" not in everything


# Calls and estimates


def test_call_runs_an_agent_entry_at_the_head_and_at_a_past_block(
    w3: Web3, node: DevNode, chain: Chain
) -> None:
    bump_8 = {"to": chain.agent, "data": call_data("bump", 8)}
    assert returned(w3.eth.call(bump_8, height_of(chain.bump))) == 10  # the committed 2, and 8
    assert returned(w3.eth.call(bump_8, height_of(chain.deploy))) == 8
    dry_run = node.rpc("aither_call", {"to": chain.agent, "entry": "bump", "args": [8]})
    assert returned(w3.eth.call(bump_8)) == dry_run["value"]
    assert w3.eth.call({"to": to_checksum_address(RECIPIENT)}) == b""


def test_a_call_that_traps_is_a_contract_logic_error(w3: Web3, chain: Chain) -> None:
    with pytest.raises(ContractLogicError, match="not today"):
        w3.eth.call({"to": chain.agent, "data": call_data("fail")})
    with pytest.raises(ContractLogicError, match="not today"):
        w3.eth.estimate_gas({"to": chain.agent, "data": call_data("fail")})


def test_estimate_gas_of_a_transfer_and_of_a_call(w3: Web3, node: DevNode, chain: Chain) -> None:
    transfer = {"to": to_checksum_address(RECIPIENT), "value": 1}
    assert w3.eth.estimate_gas(transfer) == int(
        str(node.rpc("aither_estimateGas", {"to": transfer["to"], "value": "0x1"})), 16
    )
    estimate = w3.eth.estimate_gas({"to": chain.agent, "data": call_data("bump", 1)})
    spec = {"kind": "call", "to": chain.agent, "entry": "bump", "args": [1]}
    assert estimate == int(str(node.rpc("aither_estimateGas", spec)), 16)
    code = "0x" + CODE.hex()
    deploy = w3.eth.estimate_gas({"data": code})
    assert deploy == int(str(node.rpc("aither_estimateGas", {"kind": "deploy", "code": code})), 16)


# Filters


def test_a_block_filter_collects_new_block_hashes(
    w3: Web3, node: DevNode, chain: Chain, wait_until: WaitUntil
) -> None:
    blocks = w3.eth.filter("latest")
    receipt = node.transfer(FILTERING, RECIPIENT, 1)
    seen: list[str] = []

    def polled_the_block() -> bool:
        seen.extend(block_hash.to_0x_hex() for block_hash in blocks.get_new_entries())
        return receipt["blockHash"] in seen

    wait_until(polled_the_block, WAIT, "the transfer's block in the block filter")
    assert w3.eth.uninstall_filter(blocks.filter_id) is True
    assert w3.eth.uninstall_filter(blocks.filter_id) is False


def test_a_log_filter_collects_the_logs_of_new_blocks(
    w3: Web3, node: DevNode, client: RpcClient, chain: Chain, wait_until: WaitUntil
) -> None:
    logs = w3.eth.filter({"address": chain.agent, "topics": [BUMPED]})
    assert logs.get_new_entries() == []
    tx_hash = bump(node, client, 4, 5, chain.agent)
    found: list[Any] = []

    def polled_a_log() -> bool:
        found.extend(logs.get_new_entries())
        return bool(found)

    wait_until(polled_a_log, WAIT, "the bump's log in the filter")
    (entry,) = found
    assert entry["transactionHash"].to_0x_hex() == tx_hash
    assert entry["topics"] == [topic_word("bumped"), topic_word(2 + 5)]
    everything = w3.eth.filter({"fromBlock": 0, "address": chain.agent})
    bumps = [e for e in everything.get_all_entries() if e["topics"][0] == topic_word("bumped")]
    assert [log["topics"][1] for log in bumps][:2] == [topic_word(2), topic_word(7)]
    assert w3.eth.uninstall_filter(logs.filter_id) and w3.eth.uninstall_filter(everything.filter_id)
    with pytest.raises(Web3RPCError, match="not found"):
        w3.eth.get_filter_changes(logs.filter_id)


# WebSocket subscriptions


async def _subscribed_log(
    url: str, agent: str, send: Callable[[], str]
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Subscribe to the agent's "bumped" logs and to new heads, then `send()` a bump: its hash,
    and its log and the head of its block as AsyncWeb3 hands them over."""
    async with AsyncWeb3(WebSocketProvider(url)) as w3:
        logs_id = await w3.eth.subscribe("logs", {"address": agent, "topics": [BUMPED]})
        heads_id = await w3.eth.subscribe("newHeads")
        tx_hash = await asyncio.to_thread(send)
        heads: dict[int, dict[str, Any]] = {}
        log: dict[str, Any] | None = None
        async for message in w3.socket.process_subscriptions():
            if message["subscription"] == heads_id:
                heads[message["result"]["number"]] = dict(message["result"])
            elif message["subscription"] == logs_id:
                log = dict(message["result"])
            if log is not None and log["blockNumber"] in heads:
                break
        assert log is not None
        assert await w3.eth.unsubscribe(logs_id) is True
        return tx_hash, log, heads[log["blockNumber"]]


def test_a_websocket_logs_subscription_receives_a_later_transactions_log(
    node: DevNode, client: RpcClient, chain: Chain
) -> None:
    url = node.url.replace("http://", "ws://") + "/ws"
    tx_hash, log, head = asyncio.run(
        asyncio.wait_for(
            _subscribed_log(url, chain.agent, lambda: bump(node, client, 5, 1, chain.agent)),
            WAIT,
        )
    )
    assert log["transactionHash"].to_0x_hex() == tx_hash
    assert log["address"] == chain.agent and log["removed"] is False
    assert log["topics"][0] == topic_word("bumped")
    receipt = node.rpc("eth_getTransactionReceipt", log["transactionHash"].to_0x_hex())
    assert receipt["logs"][0]["logIndex"] == hex(log["logIndex"])
    assert head["hash"] == log["blockHash"] and "transactions" not in head
