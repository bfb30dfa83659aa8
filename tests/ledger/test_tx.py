"""Transactions: signatures cover every field, decoders refuse anything malformed."""

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.amounts import format_amount, parse_amount
from core.crypto import SigningKey, hash32, parse_address, to_checksum_address
from core.encoding import decode, encode
from core.errors import AitherError, DecodeError, InvalidTransaction
from ledger.block import Block, BlockHeader, CompactBlock
from ledger.tx import TokenCreate, Transaction, Transfer, TxKind, decode_transaction

KEY = SigningKey(b"\x07" * 32)
OTHER = SigningKey(b"\x08" * 32)


def transfer(nonce: int = 0, chain_id: int = 7331, amount: int = 10**18) -> Transaction:
    return Transaction(
        chain_id, TxKind.TRANSFER, KEY.pubkey, nonce, 30_000, 10**9, Transfer(OTHER.address, amount)
    )


def test_signed_transaction_round_trips_and_verifies():
    tx = transfer().signed(KEY)
    stx = decode_transaction(tx.encode())
    assert stx.tx == tx
    assert stx.tx.has_valid_signature()
    assert stx.sender == KEY.address


@pytest.mark.parametrize(
    "change",
    [
        lambda v: v.__setitem__(0, 1),  # chain id
        lambda v: v.__setitem__(3, 1),  # nonce
        lambda v: v.__setitem__(4, 1),  # gas limit
        lambda v: v.__setitem__(5, 1),  # gas price
        lambda v: v[6].__setitem__(1, 1),  # amount
    ],
)
def test_signature_covers_every_field(change):
    value = transfer().signed(KEY).to_value()
    change(value)
    assert not decode_transaction(encode(value)).tx.has_valid_signature()


def test_signing_with_another_key_is_refused():
    with pytest.raises(ValueError, match="not the sender"):
        transfer().signed(OTHER)


def test_token_create_round_trips():
    tx = Transaction(
        7331, TxKind.TOKEN_CREATE, KEY.pubkey, 0, 100_000, 10**9, TokenCreate("GOLD", "Gold", 10, 6)
    ).signed(KEY)
    assert decode_transaction(tx.encode()).tx == tx


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (["gold", "Gold", 10, 6], "symbol"),
        (["AVM", "Avm", 10, 6], "native"),
        (["GOLD", "Gold", -1, 6], "supply"),
        (["GOLD", "Gold", 10, 31], "decimals"),
        (["GOLD", "x" * 65, 10, 6], "name"),
    ],
)
def test_bad_token_payloads_are_refused(payload, reason):
    value = [7331, int(TxKind.TOKEN_CREATE), KEY.pubkey, 0, 1, 1, payload, bytes(64)]
    with pytest.raises(InvalidTransaction, match=reason):
        decode_transaction(encode(value))


@pytest.mark.parametrize("kind", [8, 12, 2**64 - 1])
def test_unknown_kinds_are_refused_with_a_reason(kind):
    value = [7331, kind, KEY.pubkey, 0, 1, 1, [], bytes(64)]
    with pytest.raises(InvalidTransaction, match=f"unknown transaction kind {kind}"):
        decode_transaction(encode(value))


def test_governance_payloads_decode_and_bad_ones_name_the_field():
    pid = bytes(range(32))
    for kind, payload in (
        (TxKind.VOTE, [pid, 3, "harmful"]),
        (TxKind.CANCEL, [pid]),
        (TxKind.PROPOSE, ["code", bytes(20), "STRATEGY", ":s\n  RET\n", "", "why", 10]),
    ):
        value = [7331, int(kind), KEY.pubkey, 0, 1, 1, payload, bytes(64)]
        stx = decode_transaction(encode(value))
        assert stx.tx.kind is kind and stx.tx.payload.to_value() == payload
    for kind, payload, reason in (
        (TxKind.VOTE, [pid, "yes", ""], "choice must be 0 yes"),
        (TxKind.VOTE, [pid[:31], 0, ""], "proposal id must be 32 bytes"),
        (TxKind.CANCEL, [], "cancel must be a list of 1"),
        (TxKind.PROPOSE, ["poll"], "unknown proposal kind"),
    ):
        value = [7331, int(kind), KEY.pubkey, 0, 1, 1, payload, bytes(64)]
        with pytest.raises(InvalidTransaction, match=reason):
            decode_transaction(encode(value))


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_random_bytes_never_crash_the_transaction_decoder(data):
    with contextlib.suppress(DecodeError, InvalidTransaction):
        decode_transaction(data)


@settings(max_examples=300)
@given(st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_mutated_transactions_decode_or_fail_cleanly(position, byte):
    raw = bytearray(transfer().signed(KEY).encode())
    raw[position % len(raw)] = byte
    try:
        stx = decode_transaction(bytes(raw))
    except (DecodeError, InvalidTransaction):
        return
    # A mutation that still decodes must not still carry a valid signature.
    assert bytes(raw) == transfer().signed(KEY).encode() or not stx.tx.has_valid_signature()


@settings(max_examples=300)
@given(st.binary(max_size=600))
def test_random_bytes_never_crash_the_block_decoder(data):
    with contextlib.suppress(DecodeError):
        Block.decode(data)


@settings(max_examples=200)
@given(st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_mutated_blocks_decode_or_fail_cleanly(position, byte):
    header = BlockHeader(7331, 1, bytes(32), 5, bytes(20), bytes(32), bytes(32), bytes(32), 0, None)
    raw = bytearray(Block(header, (transfer().signed(KEY).encode(),)).encode())
    raw[position % len(raw)] = byte
    try:
        block = Block.decode(bytes(raw))
    except DecodeError:
        return
    assert isinstance(block.header.hash, bytes)


def test_a_compact_block_rebuilds_the_same_block_from_transactions_by_hash():
    header = BlockHeader(7331, 1, bytes(32), 5, bytes(20), bytes(32), bytes(32), bytes(32), 0, None)
    raws = tuple(transfer(amount=n + 1).signed(KEY).encode() for n in range(3))
    block = Block(header, raws)
    compact = CompactBlock.decode(CompactBlock.of(block).encode())
    assert compact.tx_hashes == tuple(hash32(raw) for raw in raws)
    assert compact.assemble({hash32(raw): raw for raw in raws}) == block
    with pytest.raises(KeyError):
        compact.assemble({hash32(raw): raw for raw in raws[1:]})


@settings(max_examples=300)
@given(st.binary(max_size=600))
def test_random_bytes_never_crash_the_compact_block_decoder(data):
    with contextlib.suppress(DecodeError):
        CompactBlock.decode(data)


@settings(max_examples=200)
@given(st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_mutated_compact_blocks_decode_or_fail_cleanly(position, byte):
    header = BlockHeader(7331, 1, bytes(32), 5, bytes(20), bytes(32), bytes(32), bytes(32), 0, None)
    raw = bytearray(CompactBlock.of(Block(header, (transfer().signed(KEY).encode(),))).encode())
    raw[position % len(raw)] = byte
    try:
        compact = CompactBlock.decode(bytes(raw))
    except DecodeError:
        return
    assert all(len(h) == 32 for h in compact.tx_hashes)


def test_addresses_use_eip55_checksums():
    text = to_checksum_address(KEY.address)
    assert parse_address(text) == KEY.address
    assert parse_address(text.lower()) == KEY.address
    broken = text[:2] + text[2:].swapcase()
    if broken != text and broken[2:] != broken[2:].lower() and broken[2:] != broken[2:].upper():
        with pytest.raises(ValueError, match="checksum"):
            parse_address(broken)
    with pytest.raises(ValueError, match="not an address"):
        parse_address("0x1234")


@pytest.mark.parametrize(
    ("text", "units"),
    [("1", 10**18), ("1.5", 15 * 10**17), ("0.000000000000000001", 1), ("10_000", 10**22)],
)
def test_human_amounts(text, units):
    assert parse_amount(text) == units
    assert parse_amount(format_amount(units)) == units


@pytest.mark.parametrize("text", ["", "-1", "1e5", "0.0000000000000000001", "abc", "1.2.3"])
def test_bad_amounts_are_refused(text):
    with pytest.raises(ValueError):
        parse_amount(text)


def test_errors_share_one_base():
    assert issubclass(DecodeError, AitherError) and issubclass(InvalidTransaction, AitherError)
    assert decode(encode([1])) == [1]
