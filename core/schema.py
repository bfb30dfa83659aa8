"""Checks shared by every payload decoder: field counts, integer bounds, and the rejection."""

from __future__ import annotations

from core.encoding import Value
from core.errors import DecodeError, InvalidTransaction


def fields(value: Value, count: int, what: str) -> list[Value]:
    """`value` as a list of exactly `count` fields; DecodeError naming `what` otherwise."""
    if not isinstance(value, list) or len(value) != count:
        raise DecodeError(f"{what} must be a list of {count} fields")
    return value


def is_uint(value: Value, bound: int) -> bool:
    """An integer (not a bool) in 0..bound."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= bound


def require(condition: bool, reason: str) -> None:
    """Refuse a transaction whose payload breaks a rule, with the rule as the reason."""
    if not condition:
        raise InvalidTransaction(reason)
