"""JSON-RPC 2.0 error codes and the exception that carries one to the client."""

from __future__ import annotations

from core.errors import AitherError

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
NOT_FOUND = -32001
LIMIT_EXCEEDED = -32005
TX_REJECTED = -32003
UNAUTHORIZED = -32010  # an admin method called without the node's admin token (node/rpc/admin.py)


class RpcError(AitherError):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def to_json(self) -> dict[str, int | str]:
        return {"code": self.code, "message": self.message}


def invalid_params(message: str) -> RpcError:
    return RpcError(INVALID_PARAMS, f"invalid params: {message}")


def not_found(what: str) -> RpcError:
    return RpcError(NOT_FOUND, f"{what} not found")
