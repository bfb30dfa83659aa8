"""Reading decoded values: field counts, typed fields, integer bounds, and the rejection.

Each reader returns the field as its type or raises DecodeError with `reason`, so a decoder checks
and narrows a field in one step."""

from __future__ import annotations

from typing import TypeGuard

from core.encoding import Value
from core.errors import DecodeError, InvalidTransaction

MAX_U64 = 2**64 - 1


def fields(value: Value, count: int, what: str) -> list[Value]:
    """`value` as a list of exactly `count` fields; DecodeError naming `what` otherwise."""
    if not isinstance(value, list) or len(value) != count:
        raise DecodeError(f"{what} must be a list of {count} fields")
    return value


def is_uint(value: object, bound: int = MAX_U64) -> TypeGuard[int]:
    """An integer (not a bool) in 0..bound."""
    return type(value) is int and 0 <= value <= bound


def uint(value: Value, bound: int, reason: str) -> int:
    """An integer (not a bool) in 0..bound."""
    if not is_uint(value, bound):
        raise DecodeError(reason)
    return value


def integer(value: Value, reason: str) -> int:
    """An integer of any sign (not a bool)."""
    if type(value) is int:
        return value
    raise DecodeError(reason)


def flag(value: Value, reason: str) -> bool:
    """A boolean."""
    if type(value) is bool:
        return value
    raise DecodeError(reason)


def sized_bytes(value: Value, size: int, reason: str) -> bytes:
    """Exactly `size` bytes."""
    if isinstance(value, bytes) and len(value) == size:
        return value
    raise DecodeError(reason)


def byte_string(value: Value, max_size: int, reason: str) -> bytes:
    """At most `max_size` bytes."""
    if isinstance(value, bytes) and len(value) <= max_size:
        return value
    raise DecodeError(reason)


def text(value: Value, max_bytes: int, reason: str) -> str:
    """A string of at most `max_bytes` UTF-8 bytes."""
    if isinstance(value, str) and len(value.encode()) <= max_bytes:
        return value
    raise DecodeError(reason)


def items(value: Value, max_count: int, reason: str) -> list[Value]:
    """A list of at most `max_count` values."""
    if isinstance(value, list) and len(value) <= max_count:
        return value
    raise DecodeError(reason)


def byte_strings(value: Value, max_count: int, reason: str) -> list[bytes]:
    """A list of at most `max_count` byte strings."""
    found: list[bytes] = []
    for item in items(value, max_count, reason):
        if not isinstance(item, bytes):
            raise DecodeError(reason)
        found.append(item)
    return found


def require(condition: bool, reason: str) -> None:
    """Refuse a transaction whose payload breaks a rule, with the rule as the reason."""
    if not condition:
        raise InvalidTransaction(reason)
