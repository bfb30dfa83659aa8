"""Canonical encoding: msgpack of fixed-order arrays, integers only.

The same value always gives the same bytes, and `decode` accepts only bytes that `encode` would
produce: it re-packs what it decoded and rejects any difference (non-minimal integers, maps,
floats, trailing bytes). Consensus data is built only from the types in `Value`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias, cast

import msgpack

from core.errors import DecodeError

# What `decode` returns, and what `encode` takes: lists and tuples of values at any depth.
Value: TypeAlias = "int | bool | bytes | str | list[Value] | None"
Encodable: TypeAlias = "int | bool | bytes | str | Sequence[Encodable] | None"

MAX_ENCODED_SIZE = 4 * 1024 * 1024


def encode(value: Encodable) -> bytes:
    """Encode a value canonically. Raises TypeError for anything outside `Value`."""
    _require_value(value)
    return _pack(value)


def _pack(value: Encodable) -> bytes:
    packed = msgpack.packb(value, use_bin_type=True, strict_types=True, default=_refuse)
    return cast(bytes, packed)


_SCALARS = frozenset({int, bool, bytes, str, type(None)})
_SEQUENCES = frozenset({list, tuple})


def _require_value(value: object) -> None:
    # msgpack would happily pack floats and maps; consensus data must never contain them.
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind in _SEQUENCES:
            pending.extend(cast(Sequence[object], item))
        elif kind not in _SCALARS:
            raise TypeError(f"{kind.__name__} has no canonical encoding")


def _refuse(obj: object) -> object:
    if isinstance(obj, tuple):
        return list(obj)
    if isinstance(obj, int) and not isinstance(obj, bool):
        return _big_int(obj)
    raise TypeError(f"{type(obj).__name__} has no canonical encoding")


# msgpack's integers stop at 64 bits; amounts go to 2**128. Larger integers are an extension
# type holding the magnitude's minimal big-endian bytes; the re-pack check in `decode` refuses
# an extension for an integer that fits in 64 bits, or one with leading zero bytes.
_EXT_POSITIVE = 1
_EXT_NEGATIVE = 2
MAX_BIG_INT_BYTES = 32


def _big_int(value: int) -> msgpack.ExtType:
    magnitude = abs(value)
    size = (magnitude.bit_length() + 7) // 8
    if size > MAX_BIG_INT_BYTES:
        raise TypeError(f"integers are limited to {MAX_BIG_INT_BYTES * 8} bits")
    code = _EXT_NEGATIVE if value < 0 else _EXT_POSITIVE
    return msgpack.ExtType(code, magnitude.to_bytes(size, "big"))


def _from_ext(code: int, data: bytes) -> int:
    if code not in (_EXT_POSITIVE, _EXT_NEGATIVE) or len(data) > MAX_BIG_INT_BYTES:
        raise DecodeError(f"unknown extension type {code}")
    magnitude = int.from_bytes(data, "big")
    return -magnitude if code == _EXT_NEGATIVE else magnitude


def decode(data: bytes, max_size: int = MAX_ENCODED_SIZE) -> Value:
    """Decode canonical bytes. Raises DecodeError on anything `encode` would not have produced."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_size:
        raise DecodeError(f"{len(data)} bytes exceeds the limit of {max_size}")
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            object_hook=_reject_map,
            ext_hook=_from_ext,
        )
    except msgpack.ExtraData as exc:
        raise DecodeError("trailing bytes after the encoded value") from exc
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise DecodeError(f"malformed encoding: {exc}") from exc
    _check_types(value)
    if _pack(value) != data:
        raise DecodeError("non-canonical encoding")
    return cast(Value, value)  # msgpack gave only the types `_check_types` allows


def _reject_map(_: dict[object, object]) -> object:
    raise DecodeError("maps are not allowed in canonical data")


def _check_types(value: object) -> None:
    try:
        _require_value(value)
    except TypeError as exc:
        raise DecodeError(f"{exc.args[0].split()[0]} is not allowed in canonical data") from None
