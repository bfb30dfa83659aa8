"""One request from a stranger: nesting, huge numbers, expensive reads, WebSocket frames.

Each test replays an attack on a real dev node and asserts that the node answers with the right
JSON-RPC code, writes no traceback, stays up and still commits an honest transfer.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from integration_conftest import wait_until
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from avm.assembler import assemble
from core.crypto import to_checksum_address
from genesis.dev import DEV_CHAIN_ID, dev_key
from ledger.agents import agent_address
from ledger.gas import DEFAULT_GAS_PRICE
from ledger.tx import Deploy, Transaction, TxKind
from node.rpc.limits import (
    MAX_TRACE_ENTRIES,
    RPC_GAS_CAP,
    WS_MAX_CONNECTIONS,
    WS_MAX_SUBSCRIPTIONS,
    WS_MAX_TOTAL_SUBSCRIPTIONS,
)

if TYPE_CHECKING:
    from conftest import DevNode

LIMIT_EXCEEDED = -32005
INVALID_PARAMS = -32602
PARSE_ERROR = -32700
RECIPIENT = bytes.fromhex("00" * 19 + "cd")
HONEST_SECONDS = 15.0  # an honest transfer's receipt, while or after the node is attacked
LOOP = ":spin\n  SET n = 0\n:again\n  ADD n, 1 -> n\n  JUMP again\n"


def still_serving(node: DevNode, key_index: int) -> None:
    """The process lives, has written no traceback, and commits an honest transfer."""
    assert node.process is not None and node.process.poll() is None, node.log_tail()
    receipt = node.wait_for_receipt(
        node.send_raw(node.signed_transfer(dev_key(key_index), RECIPIENT, 1)), HONEST_SECONDS
    )
    assert receipt["status"] == "0x1"
    assert "Traceback" not in node.output(), node.log_tail()


def rss_mib(node: DevNode) -> float:
    assert node.process is not None
    status = Path(f"/proc/{node.process.pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line[:6] == "VmRSS:") / 1024


def ws_url(node: DevNode) -> str:
    return node.url.replace("http", "ws") + "/ws"


@pytest.fixture(scope="module")
def looping_agent(shared_node: DevNode) -> str:
    """An agent whose entry `spin` loops until its gas runs out."""
    key = dev_key(9)
    nonce = shared_node.nonce(key.address, "pending")
    code = assemble(LOOP).code.to_bytes()
    tx = Transaction(
        DEV_CHAIN_ID, TxKind.DEPLOY, key.pubkey, nonce, 5_000_000, DEFAULT_GAS_PRICE, Deploy(code)
    )
    receipt = shared_node.wait_for_receipt(shared_node.send_raw(tx.signed(key).encode()))
    assert receipt["status"] == "0x1", receipt
    return to_checksum_address(agent_address(key.address, nonce))


# Nesting


def test_a_deeply_nested_body_is_refused_before_parsing(shared_node: DevNode) -> None:
    body = b"[" * 70_000 + b"]" * 70_000
    answer = shared_node.post(body).json()
    assert answer["error"]["code"] == LIMIT_EXCEEDED
    assert "nested deeper than" in answer["error"]["message"]
    still_serving(shared_node, 0)


def test_deeply_nested_call_arguments_are_refused(shared_node: DevNode, looping_agent) -> None:
    deep = "[" * 20_000 + "]" * 20_000
    body = (
        '{"jsonrpc":"2.0","id":1,"method":"aither_call","params":[{"to":"'
        + looping_agent
        + '","entry":"spin","args":'
        + deep
        + "}]}"
    )
    assert shared_node.post(body.encode()).json()["error"]["code"] == LIMIT_EXCEEDED
    # Within JSON's bound but deeper than an AVM value may nest: bad params, not a crash.
    within = json.loads("[" * 60 + "]" * 60)
    spec = {"to": looping_agent, "entry": "spin", "args": within, "gas": "0x100000"}
    error = shared_node.rpc_error("aither_call", spec)
    assert error["code"] == INVALID_PARAMS, error
    still_serving(shared_node, 0)


def test_a_deeply_nested_websocket_frame_is_refused(shared_node: DevNode) -> None:
    with connect(ws_url(shared_node), max_size=None) as ws:
        ws.send("[" * 70_000 + "]" * 70_000)
        assert json.loads(ws.recv(timeout=10))["error"]["code"] == LIMIT_EXCEEDED
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "aither_chainId"}))
        assert json.loads(ws.recv(timeout=10))["result"] == hex(DEV_CHAIN_ID)
    still_serving(shared_node, 0)


# Numbers and bad params: the right code, one log line at most, no traceback


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("eth_getBlockByNumber", [hex(2**64), False]),
        ("aither_getBlockByNumber", [str(2**64 + 5)]),
        ("aither_estimateGas", [{"to": "0x" + "00" * 20, "value": hex(2**300)}]),
        ("aither_estimateGas", [{"kind": "token_create", "symbol": "X", "supply": 2**300}]),
        ("aither_getHistory", [to_checksum_address(RECIPIENT), "9" * 5000]),
    ],
)
def test_huge_numbers_are_bad_params(shared_node: DevNode, method: str, params: list) -> None:
    error = shared_node.rpc_error(method, *params)
    assert error["code"] == INVALID_PARAMS, error
    assert "Traceback" not in shared_node.output()


def test_a_batch_of_bad_calls_writes_no_traceback(shared_node: DevNode) -> None:
    logged = len(shared_node.output())
    call = {"jsonrpc": "2.0", "method": "eth_getBlockByNumber", "params": [hex(2**70), False]}
    answers = shared_node.post([{**call, "id": i} for i in range(2_000)]).json()
    assert {a["error"]["code"] for a in answers} == {INVALID_PARAMS}
    assert len(shared_node.output()) - logged < 10_000  # not 2,000 tracebacks
    still_serving(shared_node, 1)


# Expensive reads: capped in gas, trace length and concurrency


def test_a_dry_run_is_capped_by_the_rpc_gas_cap(shared_node: DevNode, looping_agent) -> None:
    result = shared_node.rpc("aither_call", {"to": looping_agent, "entry": "spin", "gas": 10**12})
    assert result["ok"] is False and "out_of_gas" in result["trap"]
    assert int(result["gasUsed"], 16) <= RPC_GAS_CAP


def test_a_traced_dry_run_stops_at_the_trace_limit(shared_node: DevNode, looping_agent) -> None:
    before = rss_mib(shared_node)
    spec = {"to": looping_agent, "entry": "spin", "gas": 10**12, "trace": True}
    error = shared_node.rpc_error("aither_call", spec)
    assert error["code"] == LIMIT_EXCEEDED
    assert f"{MAX_TRACE_ENTRIES:,} instructions" in error["message"]
    assert rss_mib(shared_node) - before < 300  # was +1.8 GB
    still_serving(shared_node, 2)


def test_a_batch_of_expensive_reads_cannot_starve_transfers(
    shared_node: DevNode, looping_agent
) -> None:
    spec = {"to": looping_agent, "entry": "spin", "gas": 10**12}
    batch = [
        {"jsonrpc": "2.0", "id": i, "method": "aither_call", "params": [spec]} for i in range(200)
    ]
    answers = shared_node.http.post(shared_node.url, json=batch, timeout=120).json()
    codes = [a["error"]["code"] if "error" in a else "ok" for a in answers]
    assert codes.count(LIMIT_EXCEEDED) > 150, codes  # the pool's queue is full: refused at once
    assert "ok" in codes
    still_serving(shared_node, 3)


# WebSocket frames and connections


def test_a_binary_frame_is_read_as_utf8_json_or_gets_an_error_answer(shared_node: DevNode) -> None:
    with connect(ws_url(shared_node)) as ws:
        # web3.py's WebSocketProvider sends its calls in binary frames, as geth accepts them
        ws.send(b'{"jsonrpc":"2.0","id":1,"method":"aither_chainId"}')
        assert json.loads(ws.recv(timeout=10))["result"] == hex(DEV_CHAIN_ID)
        ws.send(b"\xff\xfe not text")
        assert json.loads(ws.recv(timeout=10))["error"]["code"] == PARSE_ERROR
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "aither_chainId"}))
        assert json.loads(ws.recv(timeout=10))["result"] == hex(DEV_CHAIN_ID)
    assert "Traceback" not in shared_node.output()


def test_a_frame_over_one_mib_closes_the_connection(shared_node: DevNode) -> None:
    before = rss_mib(shared_node)
    for _ in range(10):
        with connect(ws_url(shared_node), max_size=None) as ws:
            ws.send("x" * (4 * 1024 * 1024))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert rss_mib(shared_node) - before < 100  # 16 MiB frames took 1.3 GB
    still_serving(shared_node, 4)


def test_websocket_connections_are_capped(shared_node: DevNode) -> None:
    with contextlib.ExitStack() as sockets:
        for _ in range(WS_MAX_CONNECTIONS):
            sockets.enter_context(connect(ws_url(shared_node)))
        with pytest.raises(InvalidStatus), connect(ws_url(shared_node)):
            pass
    with connect(ws_url(shared_node)) as ws:  # a slot is free again
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "aither_chainId"}))
        assert json.loads(ws.recv(timeout=10))["result"] == hex(DEV_CHAIN_ID)
    still_serving(shared_node, 5)


def test_subscriptions_are_capped_node_wide(shared_node: DevNode) -> None:
    def subscribe(ws, count: int) -> list[dict]:
        for n in range(count):
            call = {"jsonrpc": "2.0", "id": n, "method": "aither_subscribe", "params": ["newHeads"]}
            ws.send(json.dumps(call))
        return [json.loads(ws.recv(timeout=10)) for _ in range(count)]

    with contextlib.ExitStack() as sockets:
        for _ in range(WS_MAX_TOTAL_SUBSCRIPTIONS // WS_MAX_SUBSCRIPTIONS):
            ws = sockets.enter_context(connect(ws_url(shared_node)))
            assert all("result" in a for a in subscribe(ws, WS_MAX_SUBSCRIPTIONS))
        one_more = sockets.enter_context(connect(ws_url(shared_node)))
        [answer] = subscribe(one_more, 1)
        assert answer["error"]["code"] == LIMIT_EXCEEDED, answer
        still_serving(shared_node, 6)  # a block notifies all 2,048 subscriptions

    def room_again() -> bool:  # the subscriptions go with their connections
        with connect(ws_url(shared_node)) as ws:
            return "result" in subscribe(ws, 1)[0]

    wait_until(room_again, 10, "subscriptions to be released with their connections")


def silent_websocket(node: DevNode, frames: list[str]) -> socket.socket:
    """A WebSocket client at the socket level: handshake, send `frames`, then never read."""
    sock = socket.create_connection(("127.0.0.1", node.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{node.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(1)  # byte by byte: nothing after the handshake is read
    assert answer.startswith(b"HTTP/1.1 101"), answer
    for text in frames:
        payload, mask = text.encode(), os.urandom(4)
        assert len(payload) < 126
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
    return sock


def test_a_client_that_never_reads_is_disconnected(shared_node: DevNode) -> None:
    subscribe = '{"jsonrpc":"2.0","id":%d,"method":"aither_subscribe","params":["newHeads"]}'
    sock = silent_websocket(shared_node, [subscribe % n for n in range(WS_MAX_SUBSCRIPTIONS)])
    try:

        def cut_off() -> bool:
            shared_node.transfer(dev_key(7), RECIPIENT, 1)  # a block: 32 notifications
            return "too slow to read: disconnected" in shared_node.output()

        wait_until(cut_off, 120, "the server to disconnect a client that does not read")
    finally:
        sock.close()
    still_serving(shared_node, 8)
