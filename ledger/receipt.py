"""Receipts: what a transaction did, with the events (logs) it emitted."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from core.crypto import HASH_SIZE
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
