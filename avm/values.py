"""AVM values: int, bool, str, bytes, list, map and null, each with a size bound.

Registers hold plain Python objects for speed: `int`, `bool`, `str`, `bytes`, `None`, `tuple`
(an AVM list; immutable, so values never alias) and `AvmMap`. Integers are bounded to 256-bit
signed; decimals in source become fixed-point integers scaled by `FIXED_SCALE`.

Wire form (for storage, constants and hashing) is the canonical encoding of `core.encoding`:
scalars as themselves (an integer beyond msgpack's 64-bit range as `[BIGINT_TAG, bytes]`), a
list as `[LIST_TAG, [items]]`, a map as `[MAP_TAG, [[k, v], ...]]` with keys in canonical order,
so equal values always give equal bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeAlias

from avm.errors import BadOperand, CodeFormatError, ValueTooLarge
from core.encoding import Value as WireValue
from core.encoding import encode

FIXED_DECIMALS = 6
FIXED_SCALE: int = 10**FIXED_DECIMALS
INT_BITS = 256
MIN_INT: int = -(2 ** (INT_BITS - 1))
MAX_INT: int = 2 ** (INT_BITS - 1) - 1
MAX_BYTES = 65536  # longest str (in code points) or bytes value
MAX_ITEMS = 4096  # most items in one list or map
MAX_DEPTH = 32  # deepest nesting accepted from the wire

LIST_TAG = 0
MAP_TAG = 1
BIGINT_TAG = 2  # integers outside msgpack's native range: [2, signed big-endian minimal bytes]
_NATIVE_MIN: int = -(2**63)
_NATIVE_MAX: int = 2**64 - 1

MapKey: TypeAlias = "int | str | bytes"
Value: TypeAlias = "int | bool | str | bytes | tuple[Value, ...] | AvmMap | None"


def _key_order(key: MapKey) -> tuple[int, int | str | bytes]:
    # Keys of different types never compare in Python; rank the type first.
    if type(key) is int:
        return (0, key)
    if type(key) is bytes:
        return (1, key)
    return (2, key)


@dataclass(frozen=True, slots=True)
class AvmMap:
    """An immutable map with int, str or bytes keys, kept in canonical key order."""

    entries: tuple[tuple[MapKey, Value], ...] = ()

    @staticmethod
    def of(pairs: Iterable[tuple[MapKey, Value]]) -> AvmMap:
        merged: dict[tuple[int, object], tuple[MapKey, Value]] = {}
        for key, value in pairs:
            check_key(key)
            merged[_key_order(key)] = (key, value)
        if len(merged) > MAX_ITEMS:
            raise ValueTooLarge(f"map of {len(merged)} entries exceeds {MAX_ITEMS}")
        return AvmMap(tuple(merged[k] for k in sorted(merged)))

    def get(self, key: MapKey, default: Value = None) -> Value:
        for k, v in self.entries:
            if type(k) is type(key) and k == key:
                return v
        return default

    def has(self, key: MapKey) -> bool:
        return any(type(k) is type(key) and k == key for k, _ in self.entries)

    def set(self, key: MapKey, value: Value) -> AvmMap:
        return AvmMap.of([*self.entries, (key, value)])

    def remove(self, key: MapKey) -> AvmMap:
        return AvmMap(
            tuple((k, v) for k, v in self.entries if not (type(k) is type(key) and k == key))
        )

    def keys(self) -> tuple[MapKey, ...]:
        return tuple(k for k, _ in self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __bool__(self) -> bool:
        return bool(self.entries)


def check_key(key: object) -> MapKey:
    """`key` if it can key a map (exactly int, str or bytes); BadOperand otherwise."""
    if type(key) is int or type(key) is str or type(key) is bytes:
        return key
    raise BadOperand(f"a map key must be int, str or bytes, not {type_name(key)}")


def length(value: Value) -> int:
    """The length of a str or bytes, or the item count of a list or map. Raises TypeError,
    worded as Python's own `len`, for a value without one (a trap reason depends on it)."""
    if isinstance(value, str | bytes | tuple | AvmMap):
        return len(value)
    raise TypeError(f"object of type '{type(value).__name__}' has no len()")


def type_name(value: object) -> str:
    """The AVM name of a value's type, for messages."""
    if value is None:
        return "null"
    if type(value) is tuple:
        return "list"
    if type(value) is AvmMap:
        return "map"
    if type(value) in (int, bool, str, bytes):
        return type(value).__name__
    return f"non-AVM {type(value).__name__}"


def bounded(value: object) -> Value:
    """Return `value` if it is an AVM value within its size bound. Raises ValueTooLarge, or
    BadOperand for something that is no AVM value.

    Only the top level is checked: nested values were checked when they were made.
    """
    if type(value) is int:
        if not MIN_INT <= value <= MAX_INT:
            raise ValueTooLarge(f"integer does not fit in {INT_BITS} bits")
        return value
    if type(value) is str or type(value) is bytes:
        if len(value) > MAX_BYTES:
            raise ValueTooLarge(
                f"{type(value).__name__} of length {len(value)} exceeds {MAX_BYTES}"
            )
        return value
    if type(value) is tuple or type(value) is AvmMap:
        if len(value) > MAX_ITEMS:
            raise ValueTooLarge(f"{type_name(value)} of {len(value)} items exceeds {MAX_ITEMS}")
        return value
    if value is None or type(value) is bool:
        return value
    raise BadOperand(f"{type_name(value)} is not an AVM value")


def values_equal(a: Value, b: Value) -> bool:
    """Structural equality that never confuses bool with int (Python says True == 1)."""
    if type(a) is not type(b):
        return False
    if type(a) is tuple and type(b) is tuple:
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is AvmMap and type(b) is AvmMap:
        return len(a) == len(b) and all(
            type(k1) is type(k2) and k1 == k2 and values_equal(v1, v2)
            for (k1, v1), (k2, v2) in zip(a.entries, b.entries, strict=True)
        )
    return a == b


def to_wire(value: Value, depth: int = 0) -> WireValue:
    """The canonical-encoding form of a value (see module docstring).

    Raises ValueTooLarge for a value nested deeper than MAX_DEPTH (it could not be stored).
    """
    if depth > MAX_DEPTH:
        raise ValueTooLarge(f"value nested deeper than {MAX_DEPTH}")
    if type(value) is int and not _NATIVE_MIN <= value <= _NATIVE_MAX:
        length = (value.bit_length() + 8) // 8
        return [BIGINT_TAG, value.to_bytes(length, "big", signed=True)]
    if isinstance(value, tuple):
        items: list[WireValue] = [to_wire(v, depth + 1) for v in value]
        return [LIST_TAG, items]
    if isinstance(value, AvmMap):
        entries: list[WireValue] = [[k, to_wire(v, depth + 1)] for k, v in value.entries]
        return [MAP_TAG, entries]
    return value


def from_wire(obj: object, depth: int = 0) -> Value:
    """Inverse of `to_wire`. Raises CodeFormatError for anything `to_wire` cannot produce."""
    if depth > MAX_DEPTH:
        raise CodeFormatError(f"value nested deeper than {MAX_DEPTH}")
    if obj is None or type(obj) in (bool, int, str, bytes):
        try:
            return bounded(obj)
        except (ValueTooLarge, BadOperand) as exc:
            raise CodeFormatError(str(exc)) from None
    if type(obj) is list and len(obj) == 2 and type(obj[1]) is list:
        tag, body = obj
        if len(body) > MAX_ITEMS:
            raise CodeFormatError(f"container of {len(body)} items exceeds {MAX_ITEMS}")
        if type(tag) is not int:
            raise CodeFormatError("a container tag is an integer")
        if tag == LIST_TAG:
            return tuple(from_wire(v, depth + 1) for v in body)
        if tag == MAP_TAG:
            pairs = []
            for entry in body:
                if (
                    type(entry) is not list
                    or len(entry) != 2
                    or type(entry[0]) not in (int, str, bytes)
                ):
                    raise CodeFormatError(
                        "a map entry is [key, value] with an int, str or bytes key"
                    )
                pairs.append((entry[0], from_wire(entry[1], depth + 1)))
            result = AvmMap.of(pairs)
            if len(result) != len(pairs) or [k for k, _ in pairs] != list(result.keys()):
                raise CodeFormatError("map keys are not unique and in canonical order")
            return result
    if type(obj) is list and len(obj) == 2 and obj[0] == BIGINT_TAG and type(obj[1]) is bytes:
        value = int.from_bytes(obj[1], "big", signed=True)
        if to_wire(value) != obj:
            raise CodeFormatError("non-canonical big integer")
        try:
            return bounded(value)
        except ValueTooLarge as exc:
            raise CodeFormatError(str(exc)) from None
    raise CodeFormatError(f"not a wire-form AVM value: {str(obj)[:60]}")


def encode_value(value: Value) -> bytes:
    """Canonical bytes of a value."""
    return encode(to_wire(value))


def size_of(value: Value) -> int:
    """A value's size in bytes, as gas formulas use it: the length of its canonical encoding."""
    # Fast paths for the common scalars; they equal len(encode_value(v)) up to the msgpack header.
    if type(value) is str:
        return len(value.encode())
    if type(value) is bytes:
        return len(value)
    if value is None or type(value) is bool:
        return 1
    if type(value) is int:
        return 1 + (value.bit_length() + 7) // 8
    return len(encode_value(value))


def from_python(obj: object) -> Value:
    """Build an AVM value from plain Python data (lists, dicts, scalars): for hosts, tests, CLI."""
    if isinstance(obj, list | tuple):
        return bounded(tuple(from_python(v) for v in obj))
    if isinstance(obj, dict):
        return AvmMap.of((check_key(k), from_python(v)) for k, v in obj.items())
    if isinstance(obj, AvmMap):
        return obj
    return bounded(obj)


def to_python(value: Value, depth: int = 0) -> object:
    """Plain Python data for a value: lists and dicts (for JSON output)."""
    if depth > MAX_DEPTH:
        return "..."
    if type(value) is tuple:
        return [to_python(v, depth + 1) for v in value]
    if type(value) is AvmMap:
        return {
            k if not isinstance(k, bytes) else "0x" + k.hex(): to_python(v)
            for k, v in value.entries
        }
    if type(value) is bytes:
        return "0x" + value.hex()
    return value
