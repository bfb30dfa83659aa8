"""Parsing of JSON-RPC parameters. Each parser raises an INVALID_PARAMS error naming the input;
a block parameter's reader also finds the block, and `state_at` the state it names."""

from __future__ import annotations

from typing import TypeAlias

from core.amounts import MAX_AMOUNT
from core.crypto import HASH_SIZE, parse_address
from core.rpc import STATE_UNAVAILABLE
from core.schema import MAX_U64
from ledger.block import BlockHeader
from ledger.chain import HistoryUnavailable, Ledger
from ledger.state import RangeReader
from node.rpc.errors import RpcError, invalid_params, not_found

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
    """A block number or tag; `latest`, `pending`, `safe` and `finalized` are the head (a block
    is final once committed), `earliest` is 0."""
    if isinstance(value, str) and value in BLOCK_TAGS:
        return 0 if value == "earliest" else head
    return quantity(value, "block number", MAX_U64)


def block_height(value: object, ledger: Ledger) -> int:
    """The block a state read names: a tag or number (see block_number), a block hash (32
    bytes of hex, as geth takes it), or an EIP-1898 object `{"blockNumber": n}` or
    `{"blockHash": h}` (with an optional `requireCanonical`: every block a node holds is
    canonical). Raises not-found for an unknown block hash."""
    if isinstance(value, str) and len(value) == 2 + 2 * HASH_SIZE:
        value = {"blockHash": value}
    if isinstance(value, dict):
        if set(value) - {"blockNumber", "blockHash", "requireCanonical"} or (
            ("blockNumber" in value) == ("blockHash" in value)
        ):
            raise invalid_params(
                'a block object names exactly one of "blockNumber" and "blockHash"'
            )
        if "blockHash" not in value:
            return block_number(value["blockNumber"], ledger.height)
        block_hash = hash32(value["blockHash"], "blockHash")
        found = ledger.block_by_hash(block_hash)
        if found is None:
            raise not_found(f"block 0x{block_hash.hex()}")
        return found.height
    return block_number(value, ledger.height)


def state_at(ledger: Ledger, height: int) -> tuple[BlockHeader, RangeReader]:
    """Block `height`'s header and its state. Raises STATE_UNAVAILABLE, with the ledger's reason,
    for a block past the head or older than the state this node keeps."""
    try:
        return ledger.state_at(height)
    except HistoryUnavailable as exc:
        raise RpcError(STATE_UNAVAILABLE, str(exc)) from None


def flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise invalid_params(f"{name} must be true or false")
    return value
