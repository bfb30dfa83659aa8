"""Canonical encoding: one byte string per value, and nothing else decodes."""

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.encoding import decode, encode
from core.errors import DecodeError

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**255), max_value=2**256 - 1)
    | st.binary(max_size=64)
    | st.text(max_size=32),
    lambda inner: st.lists(inner, max_size=5),
    max_leaves=20,
)


@given(values)
def test_round_trip(value):
    assert decode(encode(value)) == value


@given(values)
def test_encoding_is_a_function_of_the_value(value):
    assert encode(value) == encode(decode(encode(value)))


@given(st.binary(max_size=256))
def test_random_bytes_decode_or_raise_decode_error(data):
    try:
        value = decode(data)
    except DecodeError:
        return
    assert encode(value) == data


@given(values, st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_mutated_bytes_decode_only_to_their_canonical_value(value, position, byte):
    data = bytearray(encode(value))
    data[position % len(data)] = byte
    try:
        decoded = decode(bytes(data))
    except DecodeError:
        return
    assert encode(decoded) == bytes(data)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xcc\x01", "non-canonical"),  # 1 as uint8 instead of a fixint
        (msgpack.packb({1: 2}), "map"),
        (msgpack.packb({"a": 2}), "map"),
        (msgpack.packb(1.5), "float"),
        (encode(1) + b"\x00", "trailing"),
        (msgpack.packb(msgpack.ExtType(1, b"\x05")), "non-canonical"),  # small int as extension
        (msgpack.packb(msgpack.ExtType(9, b"\x05")), "extension"),
        (b"\xc1", "malformed"),
    ],
)
def test_non_canonical_inputs_are_refused(data, reason):
    with pytest.raises(DecodeError, match=reason):
        decode(data)


def test_oversize_input_is_refused_before_parsing():
    with pytest.raises(DecodeError, match="exceeds the limit"):
        decode(encode(b"x" * 100), max_size=50)


def test_integers_beyond_256_bits_have_no_encoding():
    with pytest.raises(TypeError):
        encode(2**256)


def test_floats_and_maps_have_no_encoding():
    for value in (1.5, {"a": 1}, object()):
        with pytest.raises(TypeError):
            encode(value)
