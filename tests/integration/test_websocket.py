"""Subscriptions over WebSocket on a live node: new heads and an address's receipts."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from websockets.sync.client import connect

from core.crypto import to_checksum_address
from genesis.dev import dev_key

if TYPE_CHECKING:
    from conftest import DevNode

RECIPIENT = bytes.fromhex("00" * 19 + "ab")


def _call(ws, method: str, *params: object) -> object:
    ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}))
    answer = json.loads(ws.recv(timeout=10))
    assert answer["id"] == 1, answer
    return answer.get("result", answer.get("error"))


def test_new_heads_and_receipts_are_pushed(dev_node: DevNode) -> None:
    with connect(dev_node.url.replace("http", "ws") + "/ws") as ws:
        assert _call(ws, "aither_blockNumber") == hex(dev_node.health()["height"])
        heads = _call(ws, "aither_subscribe", "newHeads")
        receipts = _call(ws, "aither_subscribe", "receipts", to_checksum_address(RECIPIENT))
        receipt = dev_node.transfer(dev_key(0), RECIPIENT, 7)
        pushed = {}
        while len(pushed) < 2:
            note = json.loads(ws.recv(timeout=10))
            pushed[note["params"]["subscription"]] = note["params"]["result"]
        assert pushed[heads]["number"] == receipt["blockNumber"]
        assert pushed[receipts]["transactionHash"] == receipt["transactionHash"]
        assert _call(ws, "aither_unsubscribe", heads) is True
        assert _call(ws, "aither_unsubscribe", heads) is False


def test_bad_subscriptions_get_precise_errors(dev_node: DevNode) -> None:
    with connect(dev_node.url.replace("http", "ws") + "/ws") as ws:
        error = _call(ws, "aither_subscribe", "everything")
        assert error["code"] == -32602 and "cannot subscribe" in error["message"]
        error = _call(ws, "aither_subscribe", "receipts", "0x1234")
        assert error["code"] == -32602
        ws.send("{not json")
        assert json.loads(ws.recv(timeout=10))["error"]["code"] == -32700
        assert _call(ws, "aither_chainId") == hex(7331)
