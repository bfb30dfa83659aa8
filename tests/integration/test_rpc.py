"""JSON-RPC on a live dev node: every method, the standard errors, and refused transactions.

The module shares one node. Each test that sends transactions signs with its own dev account,
so tests do not depend on each other's nonces:
0 the prepared transfer, 1 the prepared token, 2 reused nonce, 3 insufficient funds,
4 unknown token, 5 refused bytes, 7 a notification; 6, 8 and 9 are never touched.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pytest

from core.crypto import hash32, to_checksum_address
from genesis.dev import DEV_BALANCE, DEV_CHAIN_ID, dev_key
from ledger.gas import DEFAULT_GAS_PRICE
from ledger.merkle import Proof, verify_proof
from ledger.state import Account, decode_account, encode_account
from ledger.tx import decode_transaction
from node import __version__
from node.rpc.limits import RpcLimits
from node.rpc.methods import METHODS

if TYPE_CHECKING:
    from conftest import DevNode

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
NOT_FOUND = -32001
TX_REJECTED = -32003
LIMIT_EXCEEDED = -32005
STATE_UNAVAILABLE = -32000

RECIPIENT = hash32(b"rpc test recipient")[:20]
UNTOUCHED = dev_key(6)
AMOUNT = 3 * 10**18 // 2
GOLD_SUPPLY = 1_000 * 10**6
UNKNOWN_HASH = "0x" + "ab" * 32


def address(raw: bytes) -> str:
    return to_checksum_address(raw)


@dataclass(frozen=True)
class Prepared:
    """What the module's chain holds: one transfer (dev 0) and one token (dev 1)."""

    transfer: dict[str, object]
    token: dict[str, object]


@pytest.fixture(scope="module")
def node(shared_node: DevNode) -> DevNode:
    # Every call carries the admin token, so the swarm_* (admin) methods reach their params
    # checks too; tests/integration/test_swarm_admin.py covers calls without it.
    token = (shared_node.data_dir / "admin-token").read_text().strip()
    shared_node.http.headers["Authorization"] = f"Bearer {token}"
    return shared_node


@pytest.fixture(scope="module")
def prepared(node: DevNode) -> Prepared:
    transfer = node.transfer(dev_key(0), RECIPIENT, AMOUNT)
    token = node.create_token(dev_key(1), "GOLD", GOLD_SUPPLY, decimals=6)
    assert transfer["status"] == "0x1" and token["status"] == "0x1"
    return Prepared(transfer, token)


@pytest.fixture
def unharmed(node: DevNode) -> Iterator[None]:
    """After the test the node still answers, at the same height and dev balances as before."""
    before = [node.balance(dev_key(i).address) for i in range(10)]
    height = node.health()["height"]
    yield
    assert node.health() == {
        "status": "ok",
        "chainId": DEV_CHAIN_ID,
        "height": height,
        "peers": 0,
        "pending": 0,
    }
    assert [node.balance(dev_key(i).address) for i in range(10)] == before


# Every method answers correctly


def test_every_registered_method_is_covered() -> None:
    assert set(METHODS) == set(VALID_CALLS)


def test_chain_id(node: DevNode) -> None:
    assert node.rpc("aither_chainId") == node.rpc("eth_chainId") == hex(DEV_CHAIN_ID)
    assert node.rpc("net_version") == str(DEV_CHAIN_ID)


def test_client_version_names_aither_and_its_version(node: DevNode) -> None:
    assert node.rpc("web3_clientVersion") == f"aither/v{__version__}/python"


def test_block_number_is_the_height_health_reports(node: DevNode, prepared: Prepared) -> None:
    height = node.health()["height"]
    assert height >= 2
    assert node.rpc("aither_blockNumber") == node.rpc("eth_blockNumber") == hex(height)


def test_syncing_is_false_and_gas_price_is_one_gwei(node: DevNode) -> None:
    assert node.rpc("eth_syncing") is False
    assert node.rpc("eth_gasPrice") == hex(DEFAULT_GAS_PRICE)


def test_balances_of_native_coin_and_tokens(node: DevNode, prepared: Prepared) -> None:
    assert node.rpc("aither_getBalance", address(UNTOUCHED.address)) == hex(DEV_BALANCE)
    assert node.rpc("aither_getBalance", address(RECIPIENT), "AVM") == hex(AMOUNT)
    assert node.rpc("eth_getBalance", address(RECIPIENT), "latest") == hex(AMOUNT)
    assert node.rpc("eth_getBalance", address(RECIPIENT)) == hex(AMOUNT)
    creator = address(dev_key(1).address)
    assert node.rpc("aither_getBalance", creator, "GOLD") == hex(GOLD_SUPPLY)
    assert node.rpc("aither_getBalance", address(RECIPIENT), "GOLD") == "0x0"
    assert node.rpc_error("aither_getBalance", creator, "NOPE")["code"] == NOT_FOUND


def test_aither_reads_take_a_block_too(node: DevNode, prepared: Prepared) -> None:
    paid_in = int(str(prepared.transfer["blockNumber"]), 16)
    before, after = hex(paid_in - 1), hex(paid_in)
    assert node.rpc("aither_getBalance", address(RECIPIENT), "", before) == "0x0"
    assert node.rpc("aither_getBalance", address(RECIPIENT), "AVM", after) == hex(AMOUNT)
    then = node.rpc("aither_getAccount", address(dev_key(0).address), before)
    now = node.rpc("aither_getAccount", address(dev_key(0).address))
    assert then["nonce"] == "0x0" and now["nonce"] == "0x1"  # type: ignore[index]
    assert then["blockNumber"] == before  # type: ignore[index]


def test_eth_get_balance_reads_past_blocks(node: DevNode, prepared: Prepared) -> None:
    paid_in = int(str(prepared.transfer["blockNumber"]), 16)
    assert node.rpc("eth_getBalance", address(RECIPIENT), hex(paid_in - 1)) == "0x0"
    assert node.rpc("eth_getBalance", address(RECIPIENT), hex(paid_in)) == hex(AMOUNT)
    error = node.rpc_error("eth_getBalance", address(RECIPIENT), hex(10**9))
    assert error["code"] == STATE_UNAVAILABLE and "past the head" in str(error["message"])


def test_transaction_count_counts_committed_transfers(node: DevNode, prepared: Prepared) -> None:
    sender = address(dev_key(0).address)
    assert node.rpc("eth_getTransactionCount", sender) == "0x1"
    assert node.rpc("eth_getTransactionCount", sender, "latest") == "0x1"
    assert node.rpc("eth_getTransactionCount", sender, "pending") == "0x1"
    assert node.rpc("eth_getTransactionCount", address(UNTOUCHED.address)) == "0x0"


def test_get_account(node: DevNode, prepared: Prepared) -> None:
    fee = int(str(prepared.transfer["fee"]), 16)
    account = node.rpc("aither_getAccount", address(dev_key(0).address))
    assert account == {
        "address": address(dev_key(0).address),
        "nonce": "0x1",
        "pendingNonce": "0x1",
        "balance": hex(DEV_BALANCE - AMOUNT - fee),
        "tokens": {},
        "blockNumber": hex(node.health()["height"]),
    }
    creator = node.rpc("aither_getAccount", address(dev_key(1).address))
    assert creator["tokens"] == {"GOLD": hex(GOLD_SUPPLY)}


def test_get_tokens_lists_the_created_token(node: DevNode, prepared: Prepared) -> None:
    assert node.rpc("aither_getTokens") == [
        {
            "symbol": "GOLD",
            "name": "Gold",
            "decimals": 6,
            "supply": hex(GOLD_SUPPLY),
            "creator": address(dev_key(1).address),
        }
    ]


def test_send_raw_transaction_returns_the_hash_of_the_bytes(node: DevNode) -> None:
    key = dev_key(7)
    raw = node.signed_transfer(key, RECIPIENT, 1)
    tx_hash = node.send_raw(raw)
    assert tx_hash == "0x" + hash32(raw).hex()
    assert node.wait_for_receipt(tx_hash)["status"] == "0x1"


def test_get_transaction_and_receipt(node: DevNode, prepared: Prepared) -> None:
    receipt = prepared.transfer
    tx_hash = receipt["transactionHash"]
    tx = node.rpc("aither_getTransaction", tx_hash)
    assert tx["hash"] == tx_hash
    assert tx["kind"] == "transfer"
    assert tx["from"] == address(dev_key(0).address)
    assert tx["to"] == address(RECIPIENT)
    assert tx["value"] == hex(AMOUNT)
    assert tx["token"] is None
    assert tx["nonce"] == "0x0"
    assert tx["chainId"] == hex(DEV_CHAIN_ID)
    assert tx["gasPrice"] == hex(DEFAULT_GAS_PRICE)
    assert (tx["blockNumber"], tx["blockHash"]) == (receipt["blockNumber"], receipt["blockHash"])
    assert node.rpc("aither_getTransactionReceipt", tx_hash) == receipt
    assert receipt["status"] == "0x1" and receipt["error"] is None
    assert receipt["from"] == address(dev_key(0).address) and receipt["to"] == address(RECIPIENT)
    assert int(str(receipt["fee"]), 16) == int(str(receipt["gasUsed"]), 16) * DEFAULT_GAS_PRICE
    assert receipt["logs"] == [
        {
            "event": "Transfer",
            "args": [address(dev_key(0).address), address(RECIPIENT), hex(AMOUNT), ""],
        }
    ]


def test_history_lists_transactions_newest_first(node: DevNode, prepared: Prepared) -> None:
    transfer_hash = prepared.transfer["transactionHash"]
    history = node.rpc("aither_getHistory", address(RECIPIENT))
    assert [entry["hash"] for entry in history][-1] == transfer_hash
    heights = [int(entry["blockNumber"], 16) for entry in history]
    assert heights == sorted(heights, reverse=True)
    assert history[-1]["status"] == "0x1" and history[-1]["error"] is None
    sender = node.rpc("aither_getHistory", address(dev_key(0).address), 1)
    assert [entry["hash"] for entry in sender] == [transfer_hash]
    assert node.rpc("aither_getHistory", address(UNTOUCHED.address)) == []


def test_estimate_gas_covers_what_the_transactions_used(node: DevNode, prepared: Prepared) -> None:
    transfer = {"to": address(RECIPIENT), "value": hex(AMOUNT)}
    estimate = int(str(node.rpc("aither_estimateGas", transfer)), 16)
    assert estimate >= int(str(prepared.transfer["gasUsed"]), 16)
    token_create = {"kind": "token_create", "symbol": "GOLD", "name": "Gold", "supply": "0x1"}
    estimate = int(str(node.rpc("aither_estimateGas", token_create)), 16)
    assert estimate >= int(str(prepared.token["gasUsed"]), 16)
    plain = int(str(node.rpc("aither_estimateGas", transfer)), 16)
    token_transfer = int(str(node.rpc("aither_estimateGas", {**transfer, "token": "GOLD"})), 16)
    assert token_transfer > plain


def test_a_transfer_with_the_estimated_gas_limit_succeeds(node: DevNode) -> None:
    key = dev_key(7)
    spec = {"to": address(RECIPIENT), "value": "0x1"}
    estimate = int(str(node.rpc("aither_estimateGas", spec)), 16)
    raw = node.signed_transfer(key, RECIPIENT, 1, gas_limit=estimate)
    receipt = node.wait_for_receipt(node.send_raw(raw))
    assert receipt["status"] == "0x1"


def test_blocks_by_number_and_by_hash_agree(node: DevNode, prepared: Prepared) -> None:
    number, block_hash = prepared.transfer["blockNumber"], prepared.transfer["blockHash"]
    tx_hash = prepared.transfer["transactionHash"]
    by_number = node.rpc("aither_getBlockByNumber", number)
    assert by_number["number"] == number and by_number["hash"] == block_hash
    assert by_number["transactions"] == [tx_hash]
    assert node.rpc("aither_getBlockByHash", block_hash) == by_number
    assert node.rpc("eth_getBlockByNumber", number, False) == by_number
    assert node.rpc("eth_getBlockByHash", block_hash, False) == by_number
    full = node.rpc("aither_getBlockByNumber", number, True)
    assert full["transactions"] == [node.rpc("aither_getTransaction", tx_hash)]
    assert node.rpc("eth_getBlockByHash", block_hash, True) == full
    parent = node.rpc("eth_getBlockByNumber", hex(int(str(number), 16) - 1), False)
    assert by_number["parentHash"] == parent["hash"]
    assert by_number["miner"] == parent["miner"]
    latest = node.rpc("eth_getBlockByNumber", "latest", False)
    assert latest["number"] == hex(node.health()["height"])
    assert node.rpc("aither_getBlockByNumber", "earliest")["number"] == "0x0"


def test_proof_verifies_against_the_blocks_state_root(node: DevNode, prepared: Prepared) -> None:
    balance = node.balance(RECIPIENT)  # the prepared transfer and a few wei from dev 7
    result = node.rpc("aither_getProof", address(RECIPIENT))
    block = node.rpc("aither_getBlockByNumber", result["blockNumber"])
    assert result["blockHash"] == block["hash"]
    assert result["stateRoot"] == block["stateRoot"]
    root = bytes.fromhex(str(block["stateRoot"])[2:])
    key = bytes.fromhex(str(result["key"])[2:])
    value = bytes.fromhex(str(result["value"])[2:])
    proof = Proof.from_json(result["proof"])
    assert key == b"a" + RECIPIENT
    assert decode_account(value) == Account(0, balance)
    assert (result["nonce"], result["balance"]) == ("0x0", hex(balance))
    assert verify_proof(root, key, value, proof)

    tampered = encode_account(Account(0, balance + 1))
    assert not verify_proof(root, key, tampered, proof)
    assert not verify_proof(root, key, None, proof)


def test_proof_of_an_absent_account_verifies_as_absent(node: DevNode, prepared: Prepared) -> None:
    nobody = hash32(b"nobody")[:20]
    result = node.rpc("aither_getProof", address(nobody))
    assert result["value"] is None and result["balance"] == "0x0"
    root = bytes.fromhex(str(result["stateRoot"])[2:])
    proof = Proof.from_json(result["proof"])
    assert verify_proof(root, b"a" + nobody, None, proof)
    assert not verify_proof(root, b"a" + nobody, encode_account(Account(0, 1)), proof)


# Standard errors


@pytest.mark.usefixtures("unharmed")
@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe", b'{"jsonrpc": "2.0",'])
def test_malformed_json_is_a_parse_error(node: DevNode, body: bytes) -> None:
    response = node.post(body)
    assert response.status_code == 200
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": PARSE_ERROR, "message": "parse error: body is not JSON"},
    }


@pytest.mark.usefixtures("unharmed")
@pytest.mark.parametrize("body", [b"42", b'"eth_chainId"', b"null", b"true"])
def test_a_request_that_is_not_an_object_is_invalid(node: DevNode, body: bytes) -> None:
    answer = node.post(body).json()
    assert answer["id"] is None and answer["error"]["code"] == INVALID_REQUEST


@pytest.mark.usefixtures("unharmed")
@pytest.mark.parametrize(
    "request_",
    [
        {"id": 7, "method": "eth_chainId"},
        {"jsonrpc": "1.0", "id": 7, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": 7},
        {"jsonrpc": "2.0", "id": 7, "method": 5},
    ],
    ids=["missing jsonrpc", "jsonrpc 1.0", "missing method", "method not a string"],
)
def test_a_request_without_jsonrpc_2_or_method_is_invalid(
    node: DevNode, request_: dict[str, object]
) -> None:
    answer = node.post(request_).json()
    assert answer["id"] == 7 and answer["error"]["code"] == INVALID_REQUEST


@pytest.mark.usefixtures("unharmed")
def test_unknown_method(node: DevNode) -> None:
    error = node.rpc_error("eth_signTransaction", {})
    assert error == {"code": METHOD_NOT_FOUND, "message": "method not found: eth_signTransaction"}


@pytest.mark.usefixtures("unharmed")
def test_params_that_are_not_a_list_are_invalid(node: DevNode) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": {"a": 1}}
    assert node.post(body).json()["error"]["code"] == INVALID_PARAMS


BAD_CHECKSUM = address(RECIPIENT).swapcase().replace("0X", "0x")


@pytest.mark.usefixtures("unharmed")
@pytest.mark.parametrize(
    ("method", "params", "says"),
    [
        ("aither_getBalance", ["0x1234"], "is not an address"),
        ("aither_getBalance", [12345], "must be a 0x-hex address"),
        ("eth_getBalance", ["0x" + "zz" * 20, "latest"], "is not an address"),
        ("aither_getAccount", [BAD_CHECKSUM], "bad EIP-55 checksum"),
        ("aither_getProof", [BAD_CHECKSUM], "bad EIP-55 checksum"),
        ("aither_getTransaction", ["0x123"], "or a unique prefix of at least 4 hex digits"),
        ("aither_getTransactionReceipt", ["ab" * 32], "0x-prefixed hex"),
        ("aither_getBlockByHash", ["0x" + "gg" * 32], "not valid hex"),
        ("eth_getBlockByNumber", ["0x1", "yes"], "true or false"),
        ("eth_getBlockByNumber", ["-1"], "must not be negative"),
        ("aither_getHistory", [address(RECIPIENT), 0], "limit must be"),
        ("aither_getTransaction", [], "missing transaction hash"),
        ("aither_estimateGas", ["transfer"], "expected a transaction object"),
        ("aither_sendRawTransaction", ["0xabc"], "not valid hex"),
    ],
)
def test_wrong_params(node: DevNode, method: str, params: list[object], says: str) -> None:
    error = node.rpc_error(method, *params)
    assert error["code"] == INVALID_PARAMS
    assert str(error["message"]).startswith("invalid params: ")
    assert says in str(error["message"])


def _alike(names: list[str], params: list[object]) -> dict[str, list[object]]:
    """One valid call for several names of one method."""
    return {name: list(params) for name in names}


# A valid call of each method with as many params as it takes.
VALID_CALLS: dict[str, list[object]] = {
    "aither_chainId": [],
    "eth_chainId": [],
    "net_version": [],
    "web3_clientVersion": [],
    "aither_blockNumber": [],
    "eth_blockNumber": [],
    "eth_syncing": [],
    "eth_gasPrice": [],
    "aither_getBalance": [address(UNTOUCHED.address), "AVM", "latest"],
    "eth_getBalance": [address(UNTOUCHED.address), "latest"],
    "eth_getTransactionCount": [address(UNTOUCHED.address), "latest"],
    "aither_getAccount": [address(UNTOUCHED.address), "latest"],
    "aither_getProof": [address(UNTOUCHED.address)],
    "aither_getTokens": [],
    "aither_sendRawTransaction": ["0x00"],
    "aither_getTransaction": [UNKNOWN_HASH],
    "aither_getTransactionReceipt": [UNKNOWN_HASH],
    "aither_getHistory": [address(UNTOUCHED.address), 10],
    "aither_estimateGas": [{"to": address(RECIPIENT), "value": "0x1"}],
    "aither_getBlockByNumber": ["0x0", False],
    "aither_getBlockByHash": [UNKNOWN_HASH, False],
    "eth_getBlockByNumber": ["0x0", False],
    "eth_getBlockByHash": [UNKNOWN_HASH, False],
    "aither_call": [{"to": address(UNTOUCHED.address), "entry": "main"}],
    "aither_getAgent": [address(UNTOUCHED.address)],
    "aither_getCode": [address(UNTOUCHED.address)],
    "aither_getStorage": [address(UNTOUCHED.address), "key", False],
    "aither_getLineage": [address(UNTOUCHED.address)],
    "aither_traceTransaction": [UNKNOWN_HASH],
    "aither_getProposal": [UNKNOWN_HASH],
    "aither_listProposals": ["voting", address(UNTOUCHED.address)],
    "aither_getVotes": [UNKNOWN_HASH],
    "aither_getCouncil": [],
    "aither_getArchive": [0, 10],
    "aither_resolveName": ["masha-trader.avm"],
    "aither_getIdentity": ["masha-trader.avm"],
    "aither_getChannel": ["general", 0],
    "aither_getReward": [UNKNOWN_HASH],
    "swarm_send": ["general", "hello", address(UNTOUCHED.address)],
    "swarm_messages": ["general", 0, address(UNTOUCHED.address)],
    "swarm_message": [UNKNOWN_HASH],
    "swarm_identities": [],
    "swarm_stats": [],
    "swarm_follow": ["general"],
    # A dev chain's controls (each refuses the extra parameter before doing anything)
    **_alike(["aither_mine", "anvil_mine", "hardhat_mine"], [1, 0]),
    "evm_mine": [None],
    **_alike(["aither_increaseTime", "evm_increaseTime"], [0]),
    **_alike(["aither_setNextBlockTimestamp", "evm_setNextBlockTimestamp"], [0]),
    **_alike(["aither_setAutomine", "evm_setAutomine"], [True]),
    **_alike(["aither_setIntervalMining", "evm_setIntervalMining"], [0]),
    **_alike(["aither_snapshot", "evm_snapshot"], []),
    **_alike(["aither_revert", "evm_revert"], [1]),
    **_alike(
        ["aither_setBalance", "anvil_setBalance", "hardhat_setBalance"],
        [address(UNTOUCHED.address), "0x1"],
    ),
    **_alike(
        ["aither_setNonce", "anvil_setNonce", "hardhat_setNonce"], [address(UNTOUCHED.address), 1]
    ),
    **_alike(["aither_dumpState", "anvil_dumpState"], []),
    **_alike(["aither_loadState", "anvil_loadState"], [{"entries": []}]),
    **_alike(
        [
            "aither_impersonateAccount",
            "anvil_impersonateAccount",
            "hardhat_impersonateAccount",
            "aither_stopImpersonatingAccount",
            "anvil_stopImpersonatingAccount",
            "hardhat_stopImpersonatingAccount",
        ],
        [address(UNTOUCHED.address)],
    ),
    "eth_sendTransaction": [{"from": address(UNTOUCHED.address)}],
    "aither_resolveId": ["transaction", UNKNOWN_HASH],
    "aither_findIdentities": [{}, None, 20],
    "aither_getSchedule": [address(UNTOUCHED.address)],
    "aither_getRole": ["Oracle"],
    "aither_getRoles": [address(UNTOUCHED.address)],
    "aither_getPolicy": [address(UNTOUCHED.address)],
    "aither_getChainParams": ["latest"],
    "aither_getGasSchedule": ["latest"],
    "aither_getValidators": ["latest"],
    "aither_getScheduledRuns": ["latest"],
    "aither_listChannels": [None, 20],
    # Ethereum reads
    "eth_accounts": [],
    "eth_getCode": [address(UNTOUCHED.address), "latest"],
    "eth_getTransactionByHash": [UNKNOWN_HASH],
    "eth_getTransactionReceipt": [UNKNOWN_HASH],
    "eth_getLogs": [{"fromBlock": "0x0", "toBlock": "0x0"}],
    "eth_newFilter": [{"fromBlock": "latest"}],
    "eth_newBlockFilter": [],
    "eth_getFilterChanges": ["0x0"],
    "eth_getFilterLogs": ["0x0"],
    "eth_uninstallFilter": ["0x0"],
    "eth_feeHistory": ["0x1", "latest", [50]],
    "eth_call": [{"to": address(UNTOUCHED.address)}, "latest"],
    "eth_estimateGas": [{"to": address(RECIPIENT), "value": "0x1"}, "latest"],
}


@pytest.mark.usefixtures("unharmed")
@pytest.mark.parametrize("method", sorted(VALID_CALLS))
def test_one_param_too_many_is_invalid(node: DevNode, method: str) -> None:
    error = node.rpc_error(method, *VALID_CALLS[method], "extra")
    assert error["code"] == INVALID_PARAMS
    assert "at most" in str(error["message"])


@pytest.mark.usefixtures("unharmed")
@pytest.mark.parametrize(
    "method", ["aither_getTransaction", "aither_getTransactionReceipt", "aither_getBlockByHash"]
)
def test_unknown_hash_is_not_found(node: DevNode, method: str) -> None:
    error = node.rpc_error(method, UNKNOWN_HASH)
    assert error["code"] == NOT_FOUND
    assert error["message"].endswith(f"{UNKNOWN_HASH} not found")


@pytest.mark.usefixtures("unharmed")
def test_unknown_block_number_is_not_found_for_aither_and_null_for_eth(node: DevNode) -> None:
    beyond = hex(node.health()["height"] + 1)
    error = node.rpc_error("aither_getBlockByNumber", beyond)
    assert error["code"] == NOT_FOUND
    assert node.rpc("eth_getBlockByNumber", beyond, False) is None
    assert node.rpc("eth_getBlockByHash", UNKNOWN_HASH, False) is None


# Limits and batches


def _chunks(size: int) -> Iterator[bytes]:
    chunk = b" " * (1 << 20)
    for _ in range(size // len(chunk)):
        yield chunk
    yield b" " * (size % len(chunk))


@pytest.mark.usefixtures("unharmed")
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_an_oversize_body_is_refused_with_413(node: DevNode, declared: bool) -> None:
    size = RpcLimits().max_body_bytes + 1
    body = b" " * size if declared else _chunks(size)
    response = node.http.post(node.url, content=body)
    assert response.status_code == 413
    answer = response.json()
    assert answer["id"] is None and answer["error"]["code"] == LIMIT_EXCEEDED
    assert "exceeds" in answer["error"]["message"]


def _call(request_id: object, method: str = "eth_chainId", *params: object) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}


@pytest.mark.usefixtures("unharmed")
def test_a_batch_at_the_limit_is_answered_and_one_more_is_refused(node: DevNode) -> None:
    limit = RpcLimits().max_batch
    answers = node.post([_call(i) for i in range(limit)]).json()
    assert [a["id"] for a in answers] == list(range(limit))
    assert all(a["result"] == hex(DEV_CHAIN_ID) for a in answers)
    refused = node.post([_call(i) for i in range(limit + 1)]).json()
    assert refused["id"] is None and refused["error"]["code"] == LIMIT_EXCEEDED


@pytest.mark.usefixtures("unharmed")
def test_an_empty_batch_is_one_invalid_request_error(node: DevNode) -> None:
    answer = node.post([]).json()
    assert answer == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": INVALID_REQUEST, "message": "invalid request: empty batch"},
    }


@pytest.mark.usefixtures("unharmed")
def test_a_mixed_batch_answers_in_order_with_each_id(node: DevNode) -> None:
    batch = [
        _call(1),
        _call("two", "no_such_method"),
        {"jsonrpc": "2.0", "method": "eth_chainId"},  # a notification: no answer
        17,
        _call(3, "aither_getBalance", "0x12"),
        _call(None, "eth_gasPrice"),
        _call(4, "aither_getBalance", address(UNTOUCHED.address)),
    ]
    answers = node.post(batch).json()
    assert [a["id"] for a in answers] == [1, "two", None, 3, None, 4]
    assert answers[0]["result"] == hex(DEV_CHAIN_ID)
    assert answers[1]["error"]["code"] == METHOD_NOT_FOUND
    assert answers[2]["error"]["code"] == INVALID_REQUEST
    assert answers[3]["error"]["code"] == INVALID_PARAMS
    assert answers[4]["result"] == hex(DEFAULT_GAS_PRICE)
    assert answers[5]["result"] == hex(DEV_BALANCE)


@pytest.mark.usefixtures("unharmed")
def test_notifications_get_no_response(node: DevNode) -> None:
    single = node.post({"jsonrpc": "2.0", "method": "eth_chainId"})
    assert (single.status_code, single.content) == (204, b"")
    failing = node.post({"jsonrpc": "2.0", "method": "no_such_method"})
    assert (failing.status_code, failing.content) == (204, b"")
    batch = node.post([{"jsonrpc": "2.0", "method": "eth_chainId"}] * 3)
    assert (batch.status_code, batch.content) == (204, b"")


def test_a_notification_still_runs(node: DevNode) -> None:
    key = dev_key(7)
    raw = node.signed_transfer(key, RECIPIENT, 1)
    notification = {"jsonrpc": "2.0", "method": "aither_sendRawTransaction"}
    response = node.post({**notification, "params": ["0x" + raw.hex()]})
    assert response.status_code == 204
    assert node.wait_for_receipt("0x" + hash32(raw).hex())["status"] == "0x1"


# Refused transactions


def _rejection(node: DevNode, raw: bytes) -> str:
    error = node.rpc_error("aither_sendRawTransaction", "0x" + raw.hex())
    assert error["code"] == TX_REJECTED
    message = str(error["message"])
    assert message.startswith("transaction rejected: ")
    return message


MALFORMED: dict[str, Callable[[DevNode], bytes]] = {
    "no bytes": lambda node: b"",
    "a number": lambda node: b"\x00",
    "a list of 3": lambda node: b"\x93\x01\x02\x03",
    "not msgpack": lambda node: b"\xc1",
    "truncated": lambda node: node.signed_transfer(dev_key(5), RECIPIENT, 1)[:-1],
    "trailing byte": lambda node: node.signed_transfer(dev_key(5), RECIPIENT, 1) + b"\x00",
}


@pytest.mark.usefixtures("unharmed")
@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_transaction_bytes_are_rejected(node: DevNode, case: str) -> None:
    _rejection(node, MALFORMED[case](node))


@pytest.mark.usefixtures("unharmed")
def test_a_transaction_for_another_chain_is_rejected(node: DevNode) -> None:
    raw = node.signed_transfer(dev_key(5), RECIPIENT, 1, chain_id=1)
    assert "wrong chain id 1" in _rejection(node, raw)


@pytest.mark.usefixtures("unharmed")
def test_a_transaction_with_a_bad_signature_is_rejected(node: DevNode) -> None:
    stx = decode_transaction(node.signed_transfer(dev_key(5), RECIPIENT, 1))
    signature = bytes([stx.tx.signature[0] ^ 1]) + stx.tx.signature[1:]
    assert "bad signature" in _rejection(node, replace(stx.tx, signature=signature).encode())
    someone_else = dev_key(6).sign(stx.tx.signing_bytes())
    assert "bad signature" in _rejection(node, replace(stx.tx, signature=someone_else).encode())


def test_a_nonce_used_by_a_committed_transaction_is_rejected(node: DevNode) -> None:
    key = dev_key(2)
    first = node.signed_transfer(key, RECIPIENT, 1, nonce=0)
    assert node.wait_for_receipt(node.send_raw(first))["status"] == "0x1"
    balance = node.balance(key.address)

    assert "nonce too low" in _rejection(node, node.signed_transfer(key, RECIPIENT, 2, nonce=0))
    # The same bytes again are not a new transaction: the node answers with the same hash.
    assert node.send_raw(first) == "0x" + hash32(first).hex()
    assert node.nonce(key.address, "pending") == 1
    assert node.balance(key.address) == balance


@pytest.mark.usefixtures("unharmed")
def test_a_transfer_beyond_the_balance_is_rejected(node: DevNode) -> None:
    raw = node.signed_transfer(dev_key(3), RECIPIENT, DEV_BALANCE + 1)
    assert "insufficient funds" in _rejection(node, raw)
    assert node.nonce(dev_key(3).address, "pending") == 0


def test_a_transfer_of_an_unknown_token_is_included_but_fails(node: DevNode) -> None:
    key = dev_key(4)
    before = node.balance(key.address)
    receipt = node.wait_for_receipt(node.send_raw(node.signed_transfer(key, RECIPIENT, 5, "NOPE")))
    assert receipt["status"] == "0x0"
    assert receipt["error"] == "unknown token NOPE"
    assert receipt["logs"] == []
    fee = int(str(receipt["fee"]), 16)
    assert fee == int(str(receipt["gasUsed"]), 16) * DEFAULT_GAS_PRICE > 0
    assert node.balance(key.address) == before - fee
    assert node.nonce(key.address) == 1
    tx = node.rpc("aither_getTransaction", receipt["transactionHash"])
    assert tx["blockNumber"] == receipt["blockNumber"]
    assert node.rpc_error("aither_getBalance", address(RECIPIENT), "NOPE")["code"] == NOT_FOUND


@pytest.mark.usefixtures("unharmed")
def test_the_node_still_answers_after_a_client_hangs_up_mid_body(node: DevNode) -> None:
    with socket.create_connection(("127.0.0.1", node.port)) as client:
        head = b"POST / HTTP/1.1\r\nHost: node\r\nContent-Length: 1000\r\n\r\n"
        client.sendall(head + b'{"jsonrpc": "2.0", ')
    assert node.rpc("eth_chainId") == hex(DEV_CHAIN_ID)


def test_aither_reads_take_ids_by_unique_prefix(node: DevNode, prepared: Prepared) -> None:
    tx_hash = str(prepared.transfer["transactionHash"])
    block_hash = str(prepared.transfer["blockHash"])
    assert node.rpc("aither_getTransaction", tx_hash[:10])["hash"] == tx_hash  # type: ignore[index]
    receipt = node.rpc("aither_getTransactionReceipt", tx_hash[:10].upper().replace("0X", "0x"))
    assert receipt["transactionHash"] == tx_hash  # type: ignore[index]
    block = node.rpc("aither_getBlockByHash", block_hash[:12], False)
    assert block["hash"] == block_hash  # type: ignore[index]
    assert node.rpc("aither_resolveId", "block", block_hash[:12]) == block_hash
    unknown = "0x" + ("0" if tx_hash[2] != "0" else "1") * 9
    error = node.rpc_error("aither_getTransaction", unknown)
    assert (
        error["code"] == NOT_FOUND
        and error["message"] == f"transaction with prefix {unknown} not found"
    )
    short = node.rpc_error("aither_getTransaction", tx_hash[:5])
    assert short["code"] == INVALID_PARAMS  # fewer than four digits is not a prefix
    assert node.rpc("eth_getTransactionByHash", tx_hash) is not None
    assert node.rpc_error("eth_getTransactionByHash", tx_hash[:10])["code"] == INVALID_PARAMS
