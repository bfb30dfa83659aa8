"""Parsing of JSON-RPC parameters. Each parser raises an INVALID_PARAMS error naming the input."""

from __future__ import annotations

from typing import TypeAlias

from core.amounts import MAX_AMOUNT
from core.crypto import HASH_SIZE, parse_address
from core.schema import MAX_U64
from node.rpc.errors import invalid_params

Params: TypeAlias = list[object]  # a call's positional params, as JSON decoded them

BLOCK_TAGS = ("latest", "pending", "safe", "finalized", "earliest")
_MAX_QUANTITY_DIGITS = 80  # enough for any 256-bit number in hex or decimal; int() of more is work


def arg(args: Params, index: int, name: str, default: object = ...) -> object:
    """Param `index`, or `default` when it is absent or null; without a default it is required."""
    if index < len(args) and args[index] is not None:
        return args[index]
    if default is ...:
        raise invalid_params(f"missing {name} (parameter {index + 1})")
    return default


def max_args(args: Params, count: int) -> None:
    """Refuse a call that passes more than `count` params."""
    if len(args) > count:
        raise invalid_params(f"takes at most {count} parameters, got {len(args)}")


def quantity(value: object, name: str, maximum: int = MAX_AMOUNT) -> int:
    """An integer in 0..`maximum` given as 0x-hex (Ethereum style) or decimal, as a string or a
    JSON number. Amounts are bounded by the ledger's largest amount by default."""
    if isinstance(value, bool):
        raise invalid_params(f"{name} must be a number")
    if isinstance(value, str):
        text = value
        if len(text) > _MAX_QUANTITY_DIGITS:
            raise invalid_params(f"{name} is too large (at most {maximum})")
        try:
            value = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
        except ValueError:
            raise invalid_params(f"{name} {text[:80]!r} is not a number") from None
    if not isinstance(value, int):
        raise invalid_params(f"{name} must be a hex or decimal number")
    if value < 0:
        raise invalid_params(f"{name} must not be negative")
    if value > maximum:
        raise invalid_params(f"{name} is too large (at most {maximum})")
    return value


def address(value: object, name: str = "address") -> bytes:
    if not isinstance(value, str):
        raise invalid_params(f"{name} must be a 0x-hex address")
    try:
        return parse_address(value)
    except ValueError as exc:
        raise invalid_params(str(exc)) from None


def data(value: object, name: str, max_size: int) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise invalid_params(f"{name} must be 0x-prefixed hex")
    if len(value) > 2 + 2 * max_size:
        raise invalid_params(f"{name} is larger than {max_size} bytes")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise invalid_params(f"{name} is not valid hex") from None


def hash32(value: object, name: str = "hash") -> bytes:
    raw = data(value, name, HASH_SIZE)
    if len(raw) != HASH_SIZE:
        raise invalid_params(f"{name} must be 32 bytes")
    return raw


def block_number(value: object, head: int) -> int:
    """A block number or tag; `latest`, `pending`, `safe` and `finalized` are the head."""
    if isinstance(value, str) and value in BLOCK_TAGS:
        return 0 if value == "earliest" else head
    return quantity(value, "block number", MAX_U64)


def state_block(value: object, head: int) -> None:
    """State is served at the head only: refuse an older block with a clear reason."""
    if value is None:
        return
    number = block_number(value, head)
    if number != head:
        raise invalid_params(
            f"state is kept for the latest block ({head}) only, not block {number}"
        )


def flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise invalid_params(f"{name} must be true or false")
    return value
