"""Amounts are integers in base units; 1 AVM = 10**18 units, as wei is to ether."""

from __future__ import annotations

import re

NATIVE_SYMBOL = "AVM"
NATIVE_DECIMALS = 18
UNIT = 10**NATIVE_DECIMALS
MAX_AMOUNT = 2**128 - 1

_HUMAN = re.compile(r"^(\d+)(?:\.(\d+))?$")


def parse_amount(text: str, decimals: int = NATIVE_DECIMALS) -> int:
    """Turn a human amount such as `1.5` into base units. Raises ValueError with a reason."""
    match = _HUMAN.match(text.strip().replace("_", ""))
    if not match:
        raise ValueError(f"{text!r} is not an amount (digits, optionally with a decimal point)")
    whole, frac = match.group(1), match.group(2) or ""
    if len(frac) > decimals:
        raise ValueError(f"{text} has more than {decimals} decimal places")
    units: int = int(whole) * 10**decimals + int(frac.ljust(decimals, "0") or "0")
    if units > MAX_AMOUNT:
        raise ValueError(f"{text} is larger than the largest amount")
    return units


def format_amount(units: int, decimals: int = NATIVE_DECIMALS) -> str:
    """Base units as a human amount without trailing zeros: 1500000000000000000 -> `1.5`."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10**decimals)
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{str(frac).rjust(decimals, '0').rstrip('0')}"
