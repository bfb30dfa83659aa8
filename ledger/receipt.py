"""Receipts: what a transaction did, with the events (logs) it emitted."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from avm.values import Value as AvmValue
from avm.values import from_wire, to_wire
from core.crypto import ADDRESS_SIZE, HASH_SIZE, hash32
from core.encoding import Value, decode, encode
from core.errors import DecodeError
from core.schema import MAX_U64, byte_string, fields, sized_bytes, text, uint

MAX_LOG_TEXT = 1024
MAX_OUTPUT = 4 * 1024 * 1024  # a receipt is one canonical value: bounded by the encoding
STATUS_FAILED = 0
STATUS_OK = 1


@dataclass(frozen=True, slots=True)
class Log:
    """An event a transaction emitted: a name and canonical values."""

    name: str
    values: tuple[Value, ...]

    def to_value(self) -> list[Value]:
        return [self.name, list(self.values)]

    @classmethod
    def from_value(cls, value: Value) -> Log:
        name, values = fields(value, 2, "log")
        if not isinstance(values, list):
            raise DecodeError("log values must be a list")
        return cls(text(name, MAX_OUTPUT, "a log's name must be text"), tuple(values))


@dataclass(frozen=True)  # not slotted: the encoding is cached in __dict__
class Receipt:
    """What a transaction did. `output` is the canonical encoding of an agent call's return
    value (or of a deployed agent's address); empty for other kinds and for failures."""

    tx_hash: bytes
    status: int
    gas_used: int
    fee: int
    logs: tuple[Log, ...]
    error: str
    output: bytes = b""

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    def to_value(self) -> list[Value]:
        return [
            self.tx_hash,
            self.status,
            self.gas_used,
            self.fee,
            [log.to_value() for log in self.logs],
            self.error[:MAX_LOG_TEXT],
            self.output,
        ]

    def encode(self) -> bytes:
        return self.encoded

    @cached_property
    def encoded(self) -> bytes:
        return encode(self.to_value())

    @classmethod
    def decode(cls, data: bytes) -> Receipt:
        tx_hash, status, gas_used, fee, logs, error, output = fields(decode(data), 7, "receipt")
        if not isinstance(logs, list):
            raise DecodeError("receipt logs must be a list")
        return cls(
            sized_bytes(tx_hash, HASH_SIZE, "a receipt's transaction hash must be 32 bytes"),
            uint(status, STATUS_OK, "a receipt's status must be 0 or 1"),
            uint(gas_used, MAX_U64, "a receipt's gas used must be a 64-bit unsigned integer"),
            uint(fee, 2**256 - 1, "a receipt's fee must be an unsigned integer"),
            tuple(Log.from_value(log) for log in logs),
            text(error, MAX_LOG_TEXT * 4, "a receipt's error must be text"),
            byte_string(output, MAX_OUTPUT, "a receipt's output must be bytes"),
        )


# Logs as Ethereum tools read them: an emitting address, up to four 32-byte topics and data.
# The first topic is the event's name (an AVM `LOG`'s message), the next ones its first three
# arguments (an AVM `LOG`'s data), each as one word: bytes up to 32 long left-padded, unsigned
# integers big-endian, text and anything else as the blake2b-256 of its bytes (text) or of its
# canonical encoding. `data` is the canonical encoding of all the values.
AVM_LOG = "log"  # the event name under which the AVM's LOG instruction emits (ledger/agents.py)
MAX_TOPICS = 4
NO_EMITTER = bytes(ADDRESS_SIZE)  # the ledger's own events (channels) name no emitter


def topic_word(value: Value) -> bytes:
    """One value as a 32-byte topic."""
    if isinstance(value, bytes) and len(value) <= HASH_SIZE:
        return value.rjust(HASH_SIZE, b"\0")
    if type(value) is int and 0 <= value < 2**256:
        return value.to_bytes(HASH_SIZE, "big")
    if isinstance(value, str):
        return hash32(value.encode())
    return hash32(encode(value))


def emitter(entry: Log) -> bytes:
    """The address an event is filed under: its first value when that is an address (the agent
    that emitted it, or the account an event is about), else NO_EMITTER."""
    first = entry.values[0] if entry.values else None
    return first if isinstance(first, bytes) and len(first) == ADDRESS_SIZE else NO_EMITTER


def topics(entry: Log) -> tuple[bytes, ...]:
    """The event's topics: its name, then its first three arguments."""
    if entry.name == AVM_LOG and len(entry.values) == 2 and isinstance(entry.values[1], bytes):
        message, data = _avm_log(entry.values[1])
        return (topic_word(message),) + (() if data is None else (topic_word(data),))
    arguments = entry.values[1:] if emitter(entry) != NO_EMITTER else entry.values
    return (topic_word(entry.name), *(topic_word(v) for v in arguments[: MAX_TOPICS - 1]))


def _avm_log(encoded: bytes) -> tuple[Value, Value]:
    """An AVM LOG's (message, data), as canonical values (data None when the LOG had none)."""
    try:
        value = from_wire(decode(encoded))
    except DecodeError:  # from_wire's CodeFormatError is one
        return encoded, None
    if isinstance(value, tuple) and len(value) == 2:
        message, data = value
        return _canonical(message), _canonical(data)
    return encoded, None


def _canonical(value: AvmValue) -> Value:
    if value is None or isinstance(value, (bool, int, bytes, str)):
        return value
    return encode(to_wire(value))  # a container: its encoding


@dataclass(frozen=True, slots=True)
class LogCriteria:
    """Which logs a query, a filter or a subscription selects: those of any of `addresses`
    (none: any) whose i-th topic is any of `topics[i]` (an empty set: any), as Ethereum's."""

    addresses: frozenset[bytes] = frozenset()
    topics: tuple[frozenset[bytes], ...] = ()

    def matches(self, address: bytes, found: tuple[bytes, ...]) -> bool:
        if self.addresses and address not in self.addresses:
            return False
        return all(
            not choices or (i < len(found) and found[i] in choices)
            for i, choices in enumerate(self.topics)
        )

    def selects(self, entry: Log) -> bool:
        return self.matches(emitter(entry), topics(entry))


@dataclass(frozen=True, slots=True)
class LocatedLog:
    """A committed event and where it is: block, transaction, and its index in the block."""

    log: Log
    height: int
    block_hash: bytes
    tx_hash: bytes
    tx_index: int
    log_index: int  # among all the block's logs, as Ethereum numbers them
