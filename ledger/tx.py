"""Transactions: `[chain_id, kind, sender_pubkey, nonce, gas_limit, gas_price, payload, signature]`.

The signature covers the encoding of everything before it, so a transaction cannot be replayed on
another chain or with another nonce. The payload is a fixed-order list whose schema depends on the
kind; every kind the chain will have is numbered here so that the format never changes, and kinds
that this version does not execute are refused at admission with a clear reason.
"""

from __future__ import annotations

import enum
import itertools
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from avm.code import CodeObject, is_name
from avm.errors import AvmError
from avm.instructions.storage import KV_PREFIX, STATE_KEY
from avm.validation import decode_code
from avm.values import MAX_ITEMS, from_wire, to_wire
from avm.values import Value as AvmValue
from core.amounts import MAX_AMOUNT, NATIVE_SYMBOL
from core.crypto import (
    ADDRESS_SIZE,
    PUBKEY_SIZE,
    SIGNATURE_SIZE,
    SigningKey,
    address_of,
    hash32,
    verify,
)
from core.encoding import Value, decode, encode
from core.errors import DecodeError, InvalidTransaction
from core.schema import MAX_U64
from core.schema import fields as _fields
from core.schema import is_uint as _is_uint
from ledger.chain_params import MAX_TX_SIZE
from ledger.channels.payloads import AnyChannelPayload, ChannelPayload
from ledger.evidence import EvidencePayload
from ledger.governance.payloads import CancelPayload, ProposePayload, VotePayload
from ledger.identity import NameAgent, RegisterPayload, SetIdentity, TransferName
from ledger.roles import DefineRole, GrantRole, RolePayload, SetPolicy

SYMBOL_PATTERN = re.compile(r"^[A-Z][A-Z0-9]{1,10}$")
MAX_TOKEN_NAME = 64
MAX_DECIMALS = 30
MAX_STORAGE_ENTRIES = 1024  # initial storage pairs of a deploy
MAX_STORAGE_KEY = 1024  # bytes of one initial storage key
MAX_LABEL = 128  # characters of a call's entry label


class TxKind(enum.IntEnum):
    TRANSFER = 0
    TOKEN_CREATE = 1
    REGISTER = 2
    DEPLOY = 3
    CALL = 4
    PROPOSE = 5
    VOTE = 6
    CHANNEL = 7
    # 8 was set aside for council transactions; council changes are proposals (PROPOSE).
    CANCEL = 9  # withdraw a governance proposal (its proposer, before voting ends)
    ROLE = 10  # define a role, grant or revoke it (ledger/roles.py)
    EVIDENCE = 11  # a validator's equivocation, which jails it (ledger/evidence.py); no fee


_KINDS = frozenset(TxKind)  # decoding checks every kind against it: computed once


@dataclass(frozen=True, slots=True)
class Transfer:
    """Move `amount` base units of `token` (empty = the native coin) to `to`."""

    to: bytes
    amount: int
    token: str = ""

    def to_value(self) -> list[Value]:
        return [self.to, self.amount, self.token]

    @classmethod
    def from_value(cls, value: Value) -> Transfer:
        to, amount, token = _fields(value, 3, "transfer")
        if not (isinstance(to, bytes) and len(to) == ADDRESS_SIZE):
            raise InvalidTransaction("recipient must be 20 bytes")
        if not _is_uint(amount, MAX_AMOUNT):
            raise InvalidTransaction("amount must be a non-negative integer below 2**128")
        if not isinstance(token, str):
            raise InvalidTransaction("token must be a symbol")
        if not (token == "" or SYMBOL_PATTERN.match(token) is not None):
            raise InvalidTransaction(f"{token!r} is not a token symbol")
        return cls(to, amount, token)


@dataclass(frozen=True, slots=True)
class TokenCreate:
    """Create token `symbol` with `supply` base units, all credited to the creator."""

    symbol: str
    name: str
    supply: int
    decimals: int

    def to_value(self) -> list[Value]:
        return [self.symbol, self.name, self.supply, self.decimals]

    @classmethod
    def from_value(cls, value: Value) -> TokenCreate:
        symbol, name, supply, decimals = _fields(value, 4, "token_create")
        if not (isinstance(symbol, str) and SYMBOL_PATTERN.match(symbol) is not None):
            raise InvalidTransaction(
                "symbol must be 2-11 characters, A-Z and 0-9, starting with a letter"
            )
        if symbol == NATIVE_SYMBOL:
            raise InvalidTransaction(f"{NATIVE_SYMBOL} is the native coin's symbol")
        if not (isinstance(name, str) and len(name) <= MAX_TOKEN_NAME):
            raise InvalidTransaction(f"name must be text of at most {MAX_TOKEN_NAME} characters")
        if not _is_uint(supply, MAX_AMOUNT):
            raise InvalidTransaction("supply must be a non-negative integer below 2**128")
        if not _is_uint(decimals, MAX_DECIMALS):
            raise InvalidTransaction(f"decimals must be 0..{MAX_DECIMALS}")
        return cls(symbol, name, supply, decimals)


@dataclass(frozen=True, slots=True)
class Deploy:
    """Create an agent running `code` (code object bytes) with `storage` and `value` native units.

    Initial storage is the agent's KV entries (`KV_PREFIX` + key) or saved execution state, as
    the AVM itself writes them: key and value bytes must decode as AVM values, so no stored
    entry can surprise the interpreter. Keys are strictly ascending: one encoding per storage.
    """

    code: bytes
    storage: tuple[tuple[bytes, bytes], ...] = ()
    value: int = 0
    # Read from the code when the payload is decoded (not part of its wire form).
    avm_version: int = field(default=1, compare=False)

    def to_value(self) -> list[Value]:
        return [self.code, [[k, v] for k, v in self.storage], self.value]

    @classmethod
    def from_value(cls, value: Value) -> Deploy:
        code, storage, amount = _fields(value, 3, "deploy")
        if not isinstance(code, bytes):
            raise InvalidTransaction("code must be code object bytes")
        version = _code_object(code).avm_version
        if not (isinstance(storage, list) and len(storage) <= MAX_STORAGE_ENTRIES):
            raise InvalidTransaction(
                f"storage must be a list of at most {MAX_STORAGE_ENTRIES} [key, value] pairs"
            )
        pairs = tuple(_storage_entry(entry) for entry in storage)
        if not all(a[0] < b[0] for a, b in itertools.pairwise(pairs)):
            raise InvalidTransaction("storage keys must be unique and in ascending order")
        if not _is_uint(amount, MAX_AMOUNT):
            raise InvalidTransaction("value must be a non-negative integer below 2**128")
        return cls(code, pairs, amount, version)


@dataclass(frozen=True, slots=True)
class Call:
    """Call `agent` at label `entry` with `args` (AVM values), sending it `value` native units."""

    agent: bytes
    entry: str
    args: tuple[AvmValue, ...] = ()
    value: int = 0

    def to_value(self) -> list[Value]:
        return [self.agent, self.entry, to_wire(self.args), self.value]

    @classmethod
    def from_value(cls, value: Value) -> Call:
        agent, entry, args, amount = _fields(value, 4, "call")
        if not (isinstance(agent, bytes) and len(agent) == ADDRESS_SIZE):
            raise InvalidTransaction("agent must be 20 bytes")
        if not (isinstance(entry, str) and len(entry) <= MAX_LABEL and is_name(entry)):
            raise InvalidTransaction(
                f"entry must be a label name of at most {MAX_LABEL} characters"
            )
        try:
            decoded = from_wire(args)
        except AvmError as exc:
            raise InvalidTransaction(f"args: {exc}") from None
        if not (type(decoded) is tuple and len(decoded) <= MAX_ITEMS):
            raise InvalidTransaction(f"args must be a list of at most {MAX_ITEMS} AVM values")
        # The signature covers to_value(): it must give back exactly the bytes that were sent.
        if encode(to_wire(decoded)) != encode(args):
            raise InvalidTransaction("args are not in canonical form")
        if not _is_uint(amount, MAX_AMOUNT):
            raise InvalidTransaction("value must be a non-negative integer below 2**128")
        return cls(agent, entry, decoded, amount)


# Governance payloads (ledger/governance/payloads.py): PROPOSE carries a proposal spec, VOTE
# [proposal id, choice 0 yes | 1 no | 2 abstain | 3 veto, explanation], CANCEL [proposal id].
Payload = (
    Transfer
    | TokenCreate
    | Deploy
    | Call
    | ProposePayload
    | VotePayload
    | CancelPayload
    | SetIdentity
    | TransferName
    | NameAgent
    | AnyChannelPayload
    | DefineRole
    | GrantRole
    | SetPolicy
    | EvidencePayload
)


class PayloadCodec(Protocol):
    """A payload class: decodes its wire form (raising InvalidTransaction or DecodeError)."""

    def from_value(self, value: Value, /) -> Payload: ...


PAYLOADS: dict[TxKind, PayloadCodec] = {
    TxKind.TRANSFER: Transfer,
    TxKind.TOKEN_CREATE: TokenCreate,
    TxKind.DEPLOY: Deploy,
    TxKind.CALL: Call,
    TxKind.PROPOSE: ProposePayload,
    TxKind.VOTE: VotePayload,
    TxKind.CANCEL: CancelPayload,
    TxKind.REGISTER: RegisterPayload,
    TxKind.CHANNEL: ChannelPayload,
    TxKind.ROLE: RolePayload,
    TxKind.EVIDENCE: EvidencePayload,
}


@dataclass(frozen=True, slots=True)
class Transaction:
    chain_id: int
    kind: TxKind
    sender_pubkey: bytes
    nonce: int
    gas_limit: int
    gas_price: int
    payload: Payload
    signature: bytes = b""

    def signing_value(self) -> list[Value]:
        return [
            self.chain_id,
            int(self.kind),
            self.sender_pubkey,
            self.nonce,
            self.gas_limit,
            self.gas_price,
            self.payload.to_value(),
        ]

    def signing_bytes(self) -> bytes:
        return encode(self.signing_value())

    def to_value(self) -> list[Value]:
        return [*self.signing_value(), self.signature]

    def encode(self) -> bytes:
        return encode(self.to_value())

    def signed(self, key: SigningKey) -> Transaction:
        """A copy signed by `key`, which must be the sender's."""
        if key.pubkey != self.sender_pubkey:
            raise ValueError("the signing key is not the sender's")
        return _replace_signature(self, key.sign(self.signing_bytes()))

    @property
    def sender(self) -> bytes:
        return address_of(self.sender_pubkey)

    @property
    def max_fee(self) -> int:
        return self.gas_limit * self.gas_price

    def has_valid_signature(self) -> bool:
        return verify(self.sender_pubkey, self.signing_bytes(), self.signature)

    @classmethod
    def from_value(cls, value: Value) -> Transaction:
        fields = _fields(value, 8, "transaction")
        chain_id, kind, pubkey, nonce, gas_limit, gas_price, payload, signature = fields
        if not _is_uint(chain_id, MAX_U64):
            raise InvalidTransaction("chain id must be a 64-bit unsigned integer")
        if not (_is_uint(kind) and kind in _KINDS):
            raise InvalidTransaction(f"unknown transaction kind {kind!r}")
        if not (isinstance(pubkey, bytes) and len(pubkey) == PUBKEY_SIZE):
            raise InvalidTransaction("bad sender key")
        if not _is_uint(nonce, MAX_U64):
            raise InvalidTransaction("nonce must be a 64-bit unsigned integer")
        if not _is_uint(gas_limit, MAX_U64):
            raise InvalidTransaction("gas limit must be a 64-bit unsigned integer")
        if not _is_uint(gas_price, MAX_AMOUNT):
            raise InvalidTransaction("gas price must be below 2**128")
        if not (isinstance(signature, bytes) and len(signature) == SIGNATURE_SIZE):
            raise InvalidTransaction("signature must be 64 bytes")
        tx_kind = TxKind(kind)
        payload_type = PAYLOADS[tx_kind]
        return cls(
            chain_id,
            tx_kind,
            pubkey,
            nonce,
            gas_limit,
            gas_price,
            payload_type.from_value(payload),
            signature,
        )


@dataclass(frozen=True)  # not slotted: `hash` is cached in __dict__
class SignedTx:
    """A decoded transaction with its wire bytes and hash, computed once."""

    tx: Transaction
    raw: bytes

    @cached_property
    def hash(self) -> bytes:
        return hash32(self.raw)

    @cached_property
    def sender(self) -> bytes:
        return self.tx.sender


def decode_transaction(raw: bytes) -> SignedTx:
    """Decode wire bytes. Raises InvalidTransaction (or DecodeError) naming what is wrong.

    The signature is not checked here: admission checks it on a thread pool.
    """
    if len(raw) > MAX_TX_SIZE:
        raise InvalidTransaction(f"transaction of {len(raw)} bytes exceeds {MAX_TX_SIZE}")
    return SignedTx(Transaction.from_value(decode(raw, MAX_TX_SIZE)), bytes(raw))


def _replace_signature(tx: Transaction, signature: bytes) -> Transaction:
    return Transaction(
        tx.chain_id,
        tx.kind,
        tx.sender_pubkey,
        tx.nonce,
        tx.gas_limit,
        tx.gas_price,
        tx.payload,
        signature,
    )


def _code_object(code: bytes) -> CodeObject:
    try:
        return decode_code(code)
    except AvmError as exc:
        raise InvalidTransaction(f"code: {exc}") from None


def _storage_entry(entry: Value) -> tuple[bytes, bytes]:
    key, data = _fields(entry, 2, "storage entry")
    if not (isinstance(key, bytes) and 0 < len(key) <= MAX_STORAGE_KEY and isinstance(data, bytes)):
        raise InvalidTransaction(
            f"a storage entry is [key, value] bytes, the key 1..{MAX_STORAGE_KEY} bytes"
        )
    if not (key == STATE_KEY or (key[:1] == KV_PREFIX and _is_avm_encoding(key[1:]))):
        raise InvalidTransaction(
            "a storage key is a KV key (b'k' + an encoded AVM key) or the execution state (b's')"
        )
    if not _is_avm_encoding(data):
        raise InvalidTransaction("a storage value must be an encoded AVM value")
    if key != STATE_KEY and type(from_wire(decode(key[1:]))) not in (int, str, bytes):
        raise InvalidTransaction("a KV key is an int, str or bytes")
    return key, data


def _is_avm_encoding(data: bytes) -> bool:
    try:
        from_wire(decode(data))
    except (DecodeError, AvmError):
        return False
    return True
