"""The exception that carries a JSON-RPC error (codes in `core.rpc`) to the client."""

from __future__ import annotations

from core.errors import AitherError
from core.rpc import INVALID_PARAMS, NOT_FOUND


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
