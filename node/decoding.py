"""Typed reads of decoded wire values: each returns the field as its type or raises DecodeError
with `reason`, so a decoder checks and narrows a field in one step."""

from __future__ import annotations

from core.encoding import Value
from core.errors import DecodeError
from core.schema import is_uint


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


def sized_bytes(value: Value, size: int, reason: str) -> bytes:
    """Exactly `size` bytes."""
    if isinstance(value, bytes) and len(value) == size:
        return value
    raise DecodeError(reason)


def byte_strings(value: Value, max_count: int, reason: str) -> list[bytes]:
    """A list of at most `max_count` byte strings."""
    if not isinstance(value, list) or len(value) > max_count:
        raise DecodeError(reason)
    found: list[bytes] = []
    for item in value:
        if not isinstance(item, bytes):
            raise DecodeError(reason)
        found.append(item)
    return found
