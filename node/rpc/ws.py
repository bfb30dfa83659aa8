"""JSON-RPC over WebSocket on `/ws`: every HTTP method, plus subscriptions.

`aither_subscribe("newHeads")` pushes each committed block's header; `aither_subscribe(
"receipts", address)` pushes the receipt of every transaction that touches `address`.
`aither_subscribe("swarm", channel[, reader])` pushes the messages local members decrypt (an admin
subscription: the handshake must carry the admin token, see node/rpc/admin.py).
`aither_unsubscribe(id)` ends one. Notifications have Ethereum's shape:
`{"jsonrpc": "2.0", "method": "aither_subscription", "params": {"subscription": id, "result": …}}`.

Ethereum's own, as geth answers them: `eth_subscribe("newHeads")` pushes each block's header
(views.eth_header), `eth_subscribe("logs", {"address": …, "topics": […]})` each matching log
(views.eth_log, one notification per log), with `"method": "eth_subscription"`;
`eth_unsubscribe(id)` ends one.

A client that cannot keep up (its queue of notifications fills) is disconnected rather than
allowed to hold memory: it can reconnect and read what it missed over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import WebSocket

from core.rpc import INVALID_PARAMS, LIMIT_EXCEEDED, PARSE_ERROR
from ledger.chain import TxLocation
from ledger.receipt import LogCriteria
from ledger.tx import Transfer
from node.node import BlockCommitted, Node
from node.rpc import bounded_json, filters, params, swarm_methods, views
from node.rpc.admin import Access
from node.rpc.errors import RpcError, invalid_params
from node.rpc.filters import BlockLogs
from node.rpc.limits import (
    WS_CLOSE_TIMEOUT,
    WS_MAX_CONNECTIONS,
    WS_MAX_MESSAGE,
    WS_MAX_SUBSCRIPTIONS,
    WS_MAX_TOTAL_SUBSCRIPTIONS,
    WS_QUEUE_SIZE,
    WS_SEND_TIMEOUT,
)

log = logging.getLogger("aither.rpc")

AITHER_NOTIFICATION = "aither_subscription"
ETH_NOTIFICATION = "eth_subscription"
SUBSCRIPTION_METHODS = (
    "aither_subscribe",
    "aither_unsubscribe",
    "eth_subscribe",
    "eth_unsubscribe",
)


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    kind: str  # "newHeads", "receipts", "swarm"; Ethereum's "eth_newHeads", "eth_logs"
    address: bytes | None = None
    stop: Callable[[], None] | None = None  # ends a "swarm" subscription's listener
    criteria: LogCriteria | None = None  # an "eth_logs" subscription's

    @property
    def notification(self) -> str:
        return ETH_NOTIFICATION if self.kind.startswith("eth_") else AITHER_NOTIFICATION


class Subscriptions:
    """The node's subscribers: one queue per connection, filled from the block listener."""

    def __init__(self, node: Node) -> None:
        self._connections: dict[int, tuple[asyncio.Queue[str | None], dict[str, Subscription]]] = {}
        self._access: dict[int, Access] = {}
        self._ids = itertools.count(1)
        self._node = node
        self.open_sockets = 0  # accepted and not yet gone, subscribed or not
        node.on_block(self._on_block)

    def open(self, access: Access) -> tuple[int, asyncio.Queue[str | None]]:
        handle = next(self._ids)
        queue: asyncio.Queue[str | None] = asyncio.Queue(WS_QUEUE_SIZE)
        self._connections[handle] = (queue, {})
        self._access[handle] = access
        return handle, queue

    def close(self, handle: int) -> None:
        _, subs = self._connections.pop(handle, (None, {}))
        self._access.pop(handle, None)
        for sub in subs.values():
            if sub.stop is not None:
                sub.stop()

    def _room(self, handle: int) -> dict[str, Subscription]:
        """The connection's subscriptions, when it may add one."""
        _, subs = self._connections[handle]
        if len(subs) >= WS_MAX_SUBSCRIPTIONS:
            raise RpcError(
                INVALID_PARAMS, f"at most {WS_MAX_SUBSCRIPTIONS} subscriptions per connection"
            )
        if self.total() >= WS_MAX_TOTAL_SUBSCRIPTIONS:
            raise RpcError(
                LIMIT_EXCEEDED,
                f"the node serves {WS_MAX_TOTAL_SUBSCRIPTIONS} subscriptions already: try later",
            )
        return subs

    def eth_subscribe(self, handle: int, args: list[object]) -> str:
        """`["newHeads"]` or `["logs", filter object]` (address and topics, see
        filters.log_criteria); the id to find in notifications."""
        subs = self._room(handle)
        kind = args[0] if args else None
        sub_id = "0x" + secrets.token_hex(16)  # as geth's
        if kind == "newHeads":
            if len(args) != 1:
                raise invalid_params('"newHeads" takes no options')
            sub = Subscription(sub_id, "eth_newHeads")
        elif kind == "logs":
            if len(args) > 2:
                raise invalid_params('"logs" takes one filter object')
            spec = args[1] if len(args) == 2 and args[1] is not None else {}
            if not isinstance(spec, dict):
                raise invalid_params('"logs" takes a filter object: {"address": …, "topics": […]}')
            if any(spec.get(key) is not None for key in ("fromBlock", "toBlock", "blockHash")):
                raise invalid_params(
                    "a logs subscription follows new blocks: it takes address and topics "
                    "(read past logs with eth_getLogs)"
                )
            sub = Subscription(sub_id, "eth_logs", criteria=filters.log_criteria(spec))
        else:
            raise invalid_params(f'cannot subscribe to {str(kind)[:40]!r} ("newHeads", "logs")')
        subs[sub.id] = sub
        return sub.id

    def subscribe(self, handle: int, args: list[object]) -> str:
        subs = self._room(handle)
        kind = args[0] if args else None
        if kind == "newHeads":
            sub = Subscription(hex(next(self._ids)), "newHeads")
        elif kind == "receipts":
            if len(args) != 2:
                raise RpcError(INVALID_PARAMS, 'invalid params: "receipts" takes an address')
            sub = Subscription(hex(next(self._ids)), "receipts", params.address(args[1]))
        elif kind == "swarm":
            self._access[handle].require('aither_subscribe("swarm")')
            queue, _ = self._connections[handle]
            sub_id = hex(next(self._ids))

            def push(result: object) -> None:
                self._push(handle, queue, sub_id, result)

            stop = swarm_methods.swarm_subscription(self._node, args, push)
            sub = Subscription(sub_id, "swarm", stop=stop)
        else:
            raise RpcError(
                INVALID_PARAMS,
                f'invalid params: cannot subscribe to {kind!r} ("newHeads", "receipts", "swarm")',
            )
        subs[sub.id] = sub
        return sub.id

    def total(self) -> int:
        return sum(len(subs) for _, subs in self._connections.values())

    def unsubscribe(self, handle: int, subscription: object) -> bool:
        _, subs = self._connections[handle]
        sub = subs.pop(str(subscription), None)
        if sub is not None and sub.stop is not None:
            sub.stop()
        return sub is not None

    def _on_block(self, event: BlockCommitted) -> None:
        if not self._connections:
            return
        block = event.block
        watched = {sub.address for _, subs in self._connections.values() for sub in subs.values()}
        kinds = {sub.kind for _, subs in self._connections.values() for sub in subs.values()}
        head = _dumps(views.block(block, [], len(block.encode()))) if "newHeads" in kinds else ""
        eth_head = _dumps(views.eth_header(block)) if "eth_newHeads" in kinds else ""
        logs = BlockLogs.of(event) if "eth_logs" in kinds else BlockLogs(())
        encoded_logs: dict[int, str] = {}  # each log's JSON, once however many want it
        touched: dict[bytes, list[str]] = {}
        for index, (stx, receipt) in enumerate(
            zip(event.transactions, event.receipts, strict=True)
        ):
            payload = stx.tx.payload
            parties = {stx.sender, payload.to if isinstance(payload, Transfer) else stx.sender}
            if parties.isdisjoint(watched):
                continue  # views are built only for addresses someone follows
            view = _dumps(views.receipt(receipt, stx, TxLocation(block.height, index, block.hash)))
            for party in parties:
                touched.setdefault(party, []).append(view)
        for handle, (queue, subs) in list(self._connections.items()):
            for sub in list(subs.values()):
                if sub.kind == "newHeads":
                    results = [head]
                elif sub.kind == "eth_newHeads":
                    results = [eth_head]
                elif sub.kind == "eth_logs" and sub.criteria is not None:
                    results = []
                    for entry in logs.matching(sub.criteria):
                        index = entry.located.log_index
                        if index not in encoded_logs:
                            encoded_logs[index] = _dumps(logs.view(entry))
                        results.append(encoded_logs[index])
                else:
                    results = touched.get(sub.address or b"", [])
                for result in results:
                    if not self._push_encoded(handle, queue, sub.id, result, sub.notification):
                        break  # the connection fell behind and was cut off

    def _push(
        self, handle: int, queue: asyncio.Queue[str | None], sub_id: str, result: object
    ) -> None:
        self._push_encoded(handle, queue, sub_id, _dumps(result), AITHER_NOTIFICATION)

    def _push_encoded(
        self,
        handle: int,
        queue: asyncio.Queue[str | None],
        sub_id: str,
        result: str,
        notification: str,
    ) -> bool:
        """Queue a notification whose result is already JSON text (one encoding per block,
        however many subscribers). False when the connection is cut off."""
        if handle not in self._connections:
            return False  # cut off earlier in this block
        message = (
            f'{{"jsonrpc":"2.0","method":"{notification}","params":'
            f'{{"subscription":"{sub_id}","result":{result}}}}}'
        )
        try:
            queue.put_nowait(message)
        except asyncio.QueueFull:
            log.info("websocket client %d fell behind; disconnecting it", handle)
            self.close(handle)
            with contextlib.suppress(asyncio.QueueFull):
                queue.get_nowait()
                queue.put_nowait(None)
            return False
        return True


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


Answer = dict[str, object] | None
Dispatch = Callable[[Node, object], Awaitable[Answer]]


async def serve_websocket(
    websocket: WebSocket,
    node: Node,
    subscriptions: Subscriptions,
    dispatch: Dispatch,
    access: Access,
) -> None:
    """Answer JSON-RPC calls on one connection (with `dispatch`, as over HTTP) and push its
    subscriptions' notifications, until the client goes away. `access` is what the handshake's
    Authorization header allows."""
    if subscriptions.open_sockets >= WS_MAX_CONNECTIONS:
        log.info("websocket refused: %d connections open", subscriptions.open_sockets)
        await websocket.close(code=1013, reason="too many connections, try again later")
        return
    await websocket.accept()
    subscriptions.open_sockets += 1  # given back in the `finally` below
    handle, queue = subscriptions.open(access)

    async def pump() -> None:
        """Send notifications; returns when the client fell too far behind (None queued),
        raises TimeoutError when one send waits too long on a client that does not read."""
        while (message := await queue.get()) is not None:
            await asyncio.wait_for(websocket.send_text(message), WS_SEND_TIMEOUT)

    async def answer_calls() -> None:
        while True:
            frame = await websocket.receive()
            if frame["type"] == "websocket.disconnect":
                return
            text = frame.get("text")
            if text is None:  # web3.py's WebSocketProvider sends JSON in binary frames
                try:
                    text = (frame.get("bytes") or b"").decode()
                except UnicodeDecodeError:
                    message = "a binary frame must hold JSON-RPC as UTF-8 text"
                    await _send(websocket, _error(None, RpcError(PARSE_ERROR, message)))
                    continue
            if len(text) > WS_MAX_MESSAGE:
                await _send(websocket, _error(None, RpcError(LIMIT_EXCEEDED, "message too large")))
                continue
            try:
                call = bounded_json.loads(text)
            except RpcError as exc:
                await _send(websocket, _error(None, exc))
                continue
            await _send(websocket, await _answer(call, handle, node, subscriptions, dispatch))

    receiver = asyncio.create_task(answer_calls())
    sender = asyncio.create_task(pump())
    try:
        await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
        if sender.done() and not receiver.done():
            # A client that does not read loses its connection (and its slot), not only its
            # subscriptions; it can reconnect and read what it missed over HTTP.
            log.info("websocket client %d too slow to read: disconnected", handle)
            with contextlib.suppress(Exception):
                reason = "too slow: notifications dropped"
                await asyncio.wait_for(websocket.close(code=1008, reason=reason), WS_CLOSE_TIMEOUT)
    finally:
        subscriptions.open_sockets -= 1
        subscriptions.close(handle)
        for task in (receiver, sender):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _answer(
    call: object, handle: int, node: Node, subscriptions: Subscriptions, dispatch: Dispatch
) -> Answer:
    if isinstance(call, dict) and call.get("method") in SUBSCRIPTION_METHODS:
        request_id = call.get("id")
        args = call.get("params", [])
        try:
            if not isinstance(args, list):
                raise RpcError(INVALID_PARAMS, "invalid params: pass params as a list")
            if call["method"] == "aither_subscribe":
                result: object = subscriptions.subscribe(handle, args)
            elif call["method"] == "eth_subscribe":
                result = subscriptions.eth_subscribe(handle, args)
            else:
                result = subscriptions.unsubscribe(handle, args[0] if args else None)
        except RpcError as exc:
            return _error(request_id, exc)
        return {"jsonrpc": "2.0", "id": request_id, "result": result}
    return await dispatch(node, call)


def _error(request_id: object, error: RpcError) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}


async def _send(websocket: WebSocket, answer: dict[str, object] | None) -> None:
    if answer is not None:
        await websocket.send_text(json.dumps(answer, separators=(",", ":")))
