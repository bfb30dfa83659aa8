"""A small JSON-RPC client for the wallet: one method per call it needs."""

from __future__ import annotations

import itertools
import time

import httpx

from core.errors import AitherError
from core.rpc import DEFAULT_RPC


class RpcClientError(AitherError):
    """The node answered with an error, or could not be reached."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class RpcClient:
    def __init__(
        self, url: str = DEFAULT_RPC, timeout: float = 30.0, token: str | None = None
    ) -> None:
        """A client of the node at `url`; with `token` (the node's admin token), every call
        carries it, as admin methods require."""
        self.url = url
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        self._http = httpx.Client(timeout=timeout, headers=headers)
        self._ids = itertools.count(1)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def call(self, method: str, *params: object) -> object:
        request = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        try:
            response = self._http.post(self.url, json=request)
        except httpx.ConnectError:
            raise RpcClientError(
                f"cannot reach a node at {self.url}: is `aither node start --dev` running?"
            ) from None
        except httpx.HTTPError as exc:
            raise RpcClientError(f"request to {self.url} failed: {exc}") from None
        try:
            body = response.json()
        except ValueError:
            raise RpcClientError(
                f"{self.url} answered HTTP {response.status_code} without JSON-RPC"
            ) from None
        if not isinstance(body, dict):
            raise RpcClientError(f"{self.url} sent an unexpected answer")
        if "error" in body:
            error = body["error"] or {}
            raise RpcClientError(str(error.get("message", "unknown error")), error.get("code"))
        return body.get("result")

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
