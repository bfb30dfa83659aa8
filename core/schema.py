"""Checks shared by every payload decoder: field counts, integer bounds, and the rejection."""

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


def require(condition: bool, reason: str) -> None:
    """Refuse a transaction whose payload breaks a rule, with the rule as the reason."""
    if not condition:
        raise InvalidTransaction(reason)
