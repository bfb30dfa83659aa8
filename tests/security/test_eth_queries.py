"""Log queries, filters and fee history from a stranger: huge block ranges, lists and counts,
and more filters than the node keeps. Each is refused (or cut) before it costs the node work,
and the node still commits an honest transfer afterwards.

The block-range cap itself (10,000 blocks) needs a longer chain than a test should mine; it is
checked in-process in tests/node/test_eth_methods.py, and filter expiry on a test clock in
tests/node/test_filters.py.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from websockets.sync.client import connect

from core.crypto import to_checksum_address
from genesis.dev import dev_key
from node.rpc.limits import (
    MAX_FEE_HISTORY_BLOCKS,
    MAX_FILTER_ADDRESSES,
    MAX_FILTERS,
    MAX_TOPIC_CHOICES,
)

if TYPE_CHECKING:
    from conftest import DevNode

LIMIT_EXCEEDED = -32005
INVALID_PARAMS = -32602
NOT_FOUND = -32001
RECIPIENT = bytes.fromhex("00" * 19 + "ef")
TOPIC = "0x" + "11" * 32
CHEAP_SECONDS = 5.0  # a refusal, including parsing the request (a loose bound on a busy box)


def still_serving(node: DevNode, key_index: int) -> None:
    """The process lives, has written no traceback, and commits an honest transfer."""
    assert node.process is not None and node.process.poll() is None, node.log_tail()
    receipt = node.wait_for_receipt(
        node.send_raw(node.signed_transfer(dev_key(key_index), RECIPIENT, 1)), 15.0
    )
    assert receipt["status"] == "0x1"
    assert "Traceback" not in node.output(), node.log_tail()


def test_more_filters_than_the_cap_are_refused_until_some_are_uninstalled(
    shared_node: DevNode,
) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": i, "method": "eth_newBlockFilter", "params": []}
        for i in range(MAX_FILTERS)
    ]
    ids = [answer["result"] for answer in shared_node.post(batch).json()]
    assert len(set(ids)) == MAX_FILTERS
    error = shared_node.rpc_error("eth_newFilter", {"topics": [TOPIC]})
    assert error["code"] == LIMIT_EXCEEDED and "uninstall" in str(error["message"])
    uninstall = [
        {"jsonrpc": "2.0", "id": i, "method": "eth_uninstallFilter", "params": [filter_id]}
        for i, filter_id in enumerate(ids)
    ]
    assert all(answer["result"] is True for answer in shared_node.post(uninstall).json())
    assert shared_node.rpc("eth_getFilterChanges", shared_node.rpc("eth_newBlockFilter")) == []
    still_serving(shared_node, 0)


def test_a_guessed_filter_id_is_not_found(shared_node: DevNode) -> None:
    error = shared_node.rpc_error("eth_getFilterChanges", "0x1")
    assert error["code"] == NOT_FOUND
    assert shared_node.rpc("eth_uninstallFilter", "0x1") is False


def test_huge_address_and_topic_lists_are_refused_cheaply(shared_node: DevNode) -> None:
    addresses = [to_checksum_address(RECIPIENT)] * (MAX_FILTER_ADDRESSES + 1)
    for method in ("eth_getLogs", "eth_newFilter"):
        error = shared_node.rpc_error(method, {"address": addresses})
        assert error["code"] == LIMIT_EXCEEDED and "addresses" in str(error["message"])
        error = shared_node.rpc_error(method, {"topics": [[TOPIC] * (MAX_TOPIC_CHOICES + 1)]})
        assert error["code"] == LIMIT_EXCEEDED and "alternatives" in str(error["message"])
        error = shared_node.rpc_error(method, {"topics": [TOPIC] * 5})
        assert error["code"] == INVALID_PARAMS and "at most 4 topics" in str(error["message"])
    started = time.monotonic()
    error = shared_node.rpc_error("eth_getLogs", {"topics": [[TOPIC] * 100_000]})  # 6.7 MB
    assert error["code"] == LIMIT_EXCEEDED
    assert time.monotonic() - started < CHEAP_SECONDS
    still_serving(shared_node, 1)


def test_a_huge_topic_list_in_a_logs_subscription_is_refused(shared_node: DevNode) -> None:
    url = shared_node.url.replace("http://", "ws://") + "/ws"
    with connect(url) as ws:
        topics = [[TOPIC] * (MAX_TOPIC_CHOICES + 1)]
        call = {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe"}
        ws.send(json.dumps({**call, "params": ["logs", {"topics": topics}]}))
        assert json.loads(ws.recv(timeout=10))["error"]["code"] == LIMIT_EXCEEDED
        ws.send(json.dumps({**call, "params": ["logs", {"fromBlock": "0x0"}]}))
        assert json.loads(ws.recv(timeout=10))["error"]["code"] == INVALID_PARAMS
        ws.send(json.dumps({**call, "params": ["everything"]}))
        assert json.loads(ws.recv(timeout=10))["error"]["code"] == INVALID_PARAMS
    still_serving(shared_node, 2)


def test_ranges_past_the_head_and_huge_counts_are_cut_to_what_exists(
    shared_node: DevNode,
) -> None:
    shared_node.rpc("aither_mine", MAX_FEE_HISTORY_BLOCKS + 10)  # answers once they are made
    head = shared_node.height()
    assert head > MAX_FEE_HISTORY_BLOCKS
    started = time.monotonic()
    everything = {"fromBlock": hex(head - 5), "toBlock": hex(2**63)}
    assert shared_node.rpc("eth_getLogs", everything) == []
    history = shared_node.rpc("eth_feeHistory", hex(2**63), "latest", [50])
    assert len(history["gasUsedRatio"]) == MAX_FEE_HISTORY_BLOCKS
    assert history["oldestBlock"] == hex(head - MAX_FEE_HISTORY_BLOCKS + 1)
    assert time.monotonic() - started < CHEAP_SECONDS
    error = shared_node.rpc_error("eth_feeHistory", "0x1", hex(head + 1000))
    assert error["code"] == INVALID_PARAMS and "past the head" in str(error["message"])
    error = shared_node.rpc_error("eth_feeHistory", "0x1", "latest", [50, 10])
    assert error["code"] == INVALID_PARAMS and "increasing" in str(error["message"])
    error = shared_node.rpc_error("eth_feeHistory", "0x1", "latest", list(range(101)))
    assert error["code"] == INVALID_PARAMS
    still_serving(shared_node, 3)
