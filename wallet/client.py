"""A small JSON-RPC client of the node, on the standard library's HTTP/1.1 (one kept-alive
connection): a wallet command starts in tens of milliseconds, not the ~0.1 s an HTTP library's
import takes."""

from __future__ import annotations

import http.client
import itertools
import json
import socket
import time
import urllib.parse

from core.errors import AitherError
from core.rpc import DEFAULT_RPC


class RpcClientError(AitherError):
    """The node answered with an error, or could not be reached."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


# What a kept-alive connection the server has since closed raises on its next request.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class RpcClient:
    def __init__(
        self, url: str = DEFAULT_RPC, timeout: float = 30.0, token: str | None = None
    ) -> None:
        """A client of the node at `url`; with `token` (the node's admin token), every call
        carries it, as admin methods require."""
        self.url = url
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RpcClientError(f"{url!r} is not a node URL (http://HOST:PORT)")
        try:
            port = parts.port
        except ValueError:
            raise RpcClientError(f"{url!r} has no valid port") from None
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        secure = parts.scheme == "https"
        connection = http.client.HTTPSConnection if secure else http.client.HTTPConnection
        self._connection = connection(parts.hostname, port, timeout=timeout)
        self._headers = {"Content-Type": "application/json"}
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"
        self._ids = itertools.count(1)

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def full_id(self, kind: str, text: str) -> bytes:
        """The 32-byte id `text` names: whole 0x-hex, or a unique prefix the node resolves
        (kind: transaction, block, code, proposal or message)."""
        digits = text.removeprefix("0x").removeprefix("0X")
        if len(digits) != 64:
            digits = str(self.call("aither_resolveId", kind, "0x" + digits))[2:]
        try:
            return bytes.fromhex(digits)
        except ValueError:
            raise RpcClientError(f"{text!r} is not a {kind} id (0x and hex digits)") from None

    def call(self, method: str, *params: object) -> object:
        request = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        status, data = self._post(json.dumps(request).encode())
        try:
            body = json.loads(data)
        except ValueError:
            raise RpcClientError(f"{self.url} answered HTTP {status} without JSON-RPC") from None
        if not isinstance(body, dict):
            raise RpcClientError(f"{self.url} sent an unexpected answer")
        if "error" in body:
            error = body["error"] or {}
            raise RpcClientError(str(error.get("message", "unknown error")), error.get("code"))
        return body.get("result")

    def _post(self, payload: bytes) -> tuple[int, bytes]:
        reused = self._connection.sock is not None
        try:
            try:
                return self._exchange(payload)
            except _STALE:
                if not reused:
                    raise
                self._connection.close()  # the server closed an idle connection: once more
                return self._exchange(payload)
        except OSError as exc:  # refused, unresolvable, unreachable, timed out
            self._connection.close()
            if isinstance(exc, (ConnectionRefusedError, socket.gaierror, *_STALE)):
                raise RpcClientError(
                    f"cannot reach a node at {self.url}: is `aither node start --dev` running?"
                ) from None
            raise RpcClientError(f"request to {self.url} failed: {exc}") from None
        except http.client.HTTPException as exc:
            self._connection.close()
            raise RpcClientError(f"request to {self.url} failed: {exc!r}") from None

    def _exchange(self, payload: bytes) -> tuple[int, bytes]:
        self._connection.request("POST", self._path, payload, self._headers)
        response = self._connection.getresponse()
        return response.status, response.read()

    def wait_for_receipt(self, tx_hash: str, timeout: float = 60.0) -> dict[str, object]:
        """Poll until the transaction's receipt exists; raise RpcClientError after `timeout` s."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            receipt = self.call("aither_getTransactionReceipt", tx_hash)
            if isinstance(receipt, dict):
                return receipt
            if time.monotonic() > deadline:
                raise RpcClientError(
                    f"no receipt for {tx_hash} after {timeout:.0f} s; still pending"
                )
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
