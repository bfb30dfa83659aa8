"""JSON-RPC 2.0 over HTTP: `POST /` with single calls and batches, on FastAPI.

Bodies and batches are size-bounded before anything is parsed; every failure is a JSON-RPC
error object with a standard code, never a stack trace.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import Response

from core.errors import AitherError
from core.rpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    LIMIT_EXCEEDED,
    METHOD_NOT_FOUND,
)
from node.explorer import HEADERS as EXPLORER_HEADERS
from node.explorer import load_assets
from node.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from node.node import Node
from node.rpc import admin, bounded_json
from node.rpc.chain_methods import SEND_RAW_TRANSACTION, raw_transaction_param, rejected
from node.rpc.errors import RpcError
from node.rpc.limits import RpcLimits
from node.rpc.methods import ADMIN_METHODS, METHODS
from node.rpc.ws import Subscriptions, serve_websocket

log = logging.getLogger("aither.rpc")


def _error(request_id: object, error: RpcError) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}


def _json(payload: object, status: int = 200) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type="application/json")


async def dispatch(node: Node, call: object, access: admin.Access) -> dict[str, object] | None:
    """Run one JSON-RPC call with the caller's `access` (admin methods need the admin token).
    Returns the response object, or None for a notification."""
    if not isinstance(call, dict):
        return _error(None, RpcError(INVALID_REQUEST, "invalid request: expected an object"))
    request_id = call.get("id")
    if not isinstance(request_id, str | int | None) or isinstance(request_id, bool):
        return _error(None, RpcError(INVALID_REQUEST, "invalid request: bad id"))
    name = call.get("method")
    if call.get("jsonrpc") != "2.0" or not isinstance(name, str):
        return _error(
            request_id,
            RpcError(INVALID_REQUEST, 'invalid request: needs "jsonrpc": "2.0" and a method'),
        )
    args = call.get("params", [])
    try:
        if not isinstance(args, list):
            raise RpcError(INVALID_PARAMS, "invalid params: pass params as a list")
        handler = METHODS.get(name)
        if handler is None:
            raise RpcError(METHOD_NOT_FOUND, f"method not found: {name[:64]}")
        if name in ADMIN_METHODS:
            access.require(name)
        result = handler(node, args)
        if inspect.isawaitable(result):
            result = await result
    except RpcError as exc:
        response = _error(request_id, exc)
    except AitherError as exc:
        response = _error(request_id, RpcError(INTERNAL_ERROR, f"internal error: {exc}"))
    except RecursionError:
        response = _error(request_id, RpcError(INVALID_PARAMS, "invalid params: nested too deeply"))
    except Exception as exc:
        # One line, not a traceback: a stranger must not be able to fill the log.
        log.error("%s failed: %s: %s", name, type(exc).__name__, str(exc)[:200])
        response = _error(request_id, RpcError(INTERNAL_ERROR, "internal error"))
    else:
        response = {"jsonrpc": "2.0", "id": request_id, "result": result}
    node.metrics.rpc(name, METHODS.__contains__, _code(response))
    return None if "id" not in call else response


def _code(response: dict[str, object]) -> int:
    """A response's JSON-RPC error code, 0 for a result (the label of rpc_requests_total)."""
    error = response.get("error")
    return int(error.get("code", 0)) if isinstance(error, dict) else 0


async def dispatch_batch(
    node: Node, calls: list[object], access: admin.Access
) -> list[dict[str, object] | None]:
    """Run a batch. Transactions in it are admitted together so their signatures are checked
    in one pass on the verifier's threads; the other calls run concurrently. Order is kept."""
    responses: list[dict[str, object] | None] = [None] * len(calls)
    submissions: list[tuple[int, object, bytes]] = []
    others: list[int] = []
    for index, call in enumerate(calls):
        raw = _raw_transaction(call)
        if raw is None:
            others.append(index)
        else:
            assert isinstance(call, dict)
            submissions.append((index, call["id"], raw))
    if submissions:
        outcomes = await node.submit_many([raw for _, _, raw in submissions])
        for (index, request_id, _), outcome in zip(submissions, outcomes, strict=True):
            if isinstance(outcome, bytes):
                result: object = "0x" + outcome.hex()
                responses[index] = {"jsonrpc": "2.0", "id": request_id, "result": result}
            else:
                responses[index] = _error(request_id, rejected(outcome))
            answer = responses[index]
            assert answer is not None
            node.metrics.rpc(SEND_RAW_TRANSACTION, METHODS.__contains__, _code(answer))
    answers = await asyncio.gather(*(dispatch(node, calls[i], access) for i in others))
    for index, answer in zip(others, answers, strict=True):
        responses[index] = answer
    return responses


def _raw_transaction(call: object) -> bytes | None:
    """The transaction bytes of a well-formed sendRawTransaction call with an id, else None."""
    if not (
        isinstance(call, dict)
        and call.get("method") == SEND_RAW_TRANSACTION
        and call.get("jsonrpc") == "2.0"
        and isinstance(call.get("id"), str | int)
        and not isinstance(call.get("id"), bool)
        and isinstance(call.get("params"), list)
    ):
        return None
    try:
        return raw_transaction_param(call["params"])
    except RpcError:
        return None  # the general path reports the bad params


def create_app(
    node: Node, limits: RpcLimits | None = None, admin_token: admin.AdminToken | None = None
) -> FastAPI:
    """The node's JSON-RPC app. Admin methods answer only requests carrying `admin_token`
    (none without it)."""
    limits = limits or RpcLimits()
    app = FastAPI(title="Aither JSON-RPC", docs_url=None, redoc_url=None, openapi_url=None)

    subscriptions = Subscriptions(node)

    @app.websocket("/ws")
    async def websocket(socket: WebSocket) -> None:
        access = admin.access_for(admin_token, socket.headers.get("authorization"))

        async def answer(node: Node, call: object) -> dict[str, object] | None:
            return await dispatch(node, call, access)

        await serve_websocket(socket, node, subscriptions, answer, access)

    @app.get("/health")
    async def health() -> Response:
        return _json(
            {
                "status": "ok",
                "chainId": node.chain_id,
                "height": node.ledger.height,
                "peers": node.peer_count(),
                "pending": len(node.mempool),
            }
        )

    assets = load_assets()

    def asset(path: str) -> Callable[[], Awaitable[Response]]:
        found = assets[path]

        async def serve() -> Response:
            return Response(found.body, media_type=found.media_type, headers=EXPLORER_HEADERS)

        return serve

    for path in assets:  # the explorer (node/explorer): GET / and its two files, nothing else
        app.add_api_route(path, asset(path), methods=["GET"], include_in_schema=False)

    @app.get("/metrics")
    async def metrics() -> Response:
        """Prometheus' text format (node/metrics.py); read-only, as /health."""
        return Response(node.metrics.expose(), media_type=METRICS_CONTENT_TYPE)

    @app.post("/")
    async def rpc(request: Request) -> Response:
        access = admin.access_for(admin_token, request.headers.get("authorization"))
        body = await _read_body(request, limits.max_body_bytes)
        if body is None:
            message = f"request body exceeds {limits.max_body_bytes} bytes"
            return _json(_error(None, RpcError(LIMIT_EXCEEDED, message)), status=413)
        try:
            payload = bounded_json.loads(body)
        except RpcError as exc:
            return _json(_error(None, exc))
        if isinstance(payload, list):
            if not payload:
                return _json(
                    _error(None, RpcError(INVALID_REQUEST, "invalid request: empty batch"))
                )
            if len(payload) > limits.max_batch:
                message = f"batch of {len(payload)} exceeds the limit of {limits.max_batch}"
                return _json(_error(None, RpcError(LIMIT_EXCEEDED, message)))
            responses = await dispatch_batch(node, payload, access)
            answered = [r for r in responses if r is not None]
            return _json(answered) if answered else Response(status_code=204)
        response = await dispatch(node, payload, access)
        return _json(response) if response is not None else Response(status_code=204)

    return app


async def _read_body(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
