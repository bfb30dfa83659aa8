"""Identities: a unique name, an X25519 key certified by the ed25519 key, roles and metadata.

A `register` transaction (kind REGISTER = 2) sets or updates the sender's identity; a name is
first come, first served, and its owner may hand it to another registered identity. Plain
functions over a store of state entries (a `State`, or anything with its `get`/`put`), as in
ledger/governance/: no I/O, no clock, no iteration over unordered containers.

Payload: `[op, ...]`, op a `RegisterOp`:

    SET       [0, name, certificate | None, roles, metadata]
              name "" holds no name (and releases the one held); certificate None keeps the
              current one; roles and metadata replace the current ones.
    TRANSFER  [1, name, to address]   the owner gives `name` to `to`, a registered identity
              without a name.

The state tables are these one-byte key prefixes (already taken elsewhere: a t b v c g k l q in
ledger/state.py, P M N Q I S V X E in ledger/governance/; channels use w e o u in
ledger/channels/records.py):
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import ClassVar

from core.crypto import (
    ADDRESS_SIZE,
    PUBKEY_SIZE,
    SigningKey,
    address_of,
    hash32,
    to_checksum_address,
)
from core.encoding import Value, decode, encode
from core.errors import DecodeError, ExecutionFailed, InvalidTransaction
from core.schema import MAX_U64, sized_bytes, text, uint
from core.schema import fields as _fields
from core.swarm_keys import (
    EncryptionKey,
    InvalidCertificateError,
    X25519Certificate,
    certify,
    verify_certificate,
)
from ledger import gas
from ledger.names import MAX_NAME, NAME_RULE, is_name
from ledger.receipt import Log
from ledger.state import Store

IDENTITY = b"i"  # + address -> [ed25519 pubkey, name, certificate | None, roles, metadata, since]
NAME = b"d"  # + name (utf-8) -> owner address (20 bytes)
AGENT_NAME = b"n"  # + agent -> its name (named by its deployer: agents have no identity record)

# Names: a lowercase label (letters, digits, inner hyphens) and the `.avm` suffix.
ROLE_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")


def role_name(value: Value) -> str:
    """`value` when it is a role name; raises InvalidTransaction saying what one is."""
    if not (isinstance(value, str) and ROLE_PATTERN.match(value) is not None):
        raise InvalidTransaction(
            f"{value!r} is not a role (a letter, then up to 31 letters, digits, '_' or '-')"
        )
    return value


MAX_ROLES = 8
METADATA_KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]{0,31}$")
MAX_METADATA = 16
MAX_METADATA_VALUE = 256  # bytes of utf-8 per value


# ---- errors ------------------------------------------------------------------------------------


class IdentityError(ExecutionFailed):
    """A register transaction whose effect cannot apply (the fee is still paid)."""


class NameTaken(IdentityError):
    """The name belongs to another identity."""


class NotNameOwner(IdentityError):
    """Only a name's owner can transfer it."""


class UnknownIdentity(IdentityError):
    """The address never registered."""


class BadCertificate(IdentityError):
    """The X25519 certificate is not the sender's, is badly signed, weak, or not newer."""


class NameHeld(IdentityError):
    """The recipient of a name already holds one."""


# ---- payloads ----------------------------------------------------------------------------------


class RegisterOp(enum.IntEnum):
    SET = 0
    TRANSFER = 1
    AGENT_NAME = 2  # a deployer names (or unnames) an agent it deployed


class RegisterPayload:
    """The payload of a REGISTER transaction; `from_value` returns the op's own class.

    tx.py maps `TxKind.REGISTER` to this class: `PAYLOADS[TxKind.REGISTER] = RegisterPayload`.
    """

    __slots__ = ()
    op: ClassVar[RegisterOp]

    def to_value(self) -> list[Value]:
        raise NotImplementedError

    @classmethod
    def from_value(cls, value: Value) -> SetIdentity | TransferName | NameAgent:
        """Raises InvalidTransaction (or DecodeError) naming what is wrong."""
        if not isinstance(value, list) or not value:
            raise DecodeError("a register payload is [op, ...]")
        op = value[0]
        if type(op) is not int or op not in set(RegisterOp):
            raise InvalidTransaction(
                f"unknown register op {op!r} (0 set, 1 transfer, 2 agent name)"
            )
        if op == RegisterOp.SET:
            return SetIdentity.from_value(value)
        if op == RegisterOp.AGENT_NAME:
            return NameAgent.from_value(value)
        return TransferName.from_value(value)


@dataclass(frozen=True, slots=True)
class SetIdentity(RegisterPayload):
    """Set the sender's name (or none), certificate (None keeps it), roles and metadata."""

    op: ClassVar[RegisterOp] = RegisterOp.SET
    name: str
    certificate: X25519Certificate | None = None
    roles: tuple[str, ...] = ()
    metadata: tuple[tuple[str, str], ...] = ()

    def to_value(self) -> list[Value]:
        cert = None if self.certificate is None else self.certificate.to_value()
        meta: list[Value] = [[k, v] for k, v in self.metadata]
        return [int(self.op), self.name, cert, list(self.roles), meta]

    @classmethod
    def from_value(cls, value: Value) -> SetIdentity:
        _, name, cert, roles, metadata = _fields(value, 5, "register set")
        if not (isinstance(name, str) and (name == "" or is_name(name))):
            raise InvalidTransaction(NAME_RULE)
        certificate = None if cert is None else _certificate(cert)
        return cls(name, certificate, _roles(roles), _metadata(metadata))


@dataclass(frozen=True, slots=True)
class TransferName(RegisterPayload):
    """Give the sender's name to `to`."""

    op: ClassVar[RegisterOp] = RegisterOp.TRANSFER
    name: str
    to: bytes

    def to_value(self) -> list[Value]:
        return [int(self.op), self.name, self.to]

    @classmethod
    def from_value(cls, value: Value) -> TransferName:
        _, name, to = _fields(value, 3, "register transfer")
        if not (isinstance(name, str) and is_name(name)):
            raise InvalidTransaction(NAME_RULE)
        if not (isinstance(to, bytes) and len(to) == ADDRESS_SIZE):
            raise InvalidTransaction("recipient must be 20 bytes")
        return cls(name, to)


@dataclass(frozen=True, slots=True)
class NameAgent(RegisterPayload):
    """Name an agent the sender deployed (`""` releases its name), so that the name resolves to
    it wherever an address is accepted."""

    op: ClassVar[RegisterOp] = RegisterOp.AGENT_NAME
    agent: bytes
    name: str

    def to_value(self) -> list[Value]:
        return [int(self.op), self.agent, self.name]

    @classmethod
    def from_value(cls, value: Value) -> NameAgent:
        _, agent, name = _fields(value, 3, "register agent name")
        if not (isinstance(agent, bytes) and len(agent) == ADDRESS_SIZE):
            raise InvalidTransaction("the agent must be a 20-byte address")
        if not (isinstance(name, str) and (name == "" or is_name(name))):
            raise InvalidTransaction(NAME_RULE)
        return cls(agent, name)


# What transition.py dispatches on (its `_LEDGER_EFFECTS`: no agent code runs).
PAYLOAD_TYPES = (SetIdentity, TransferName, NameAgent)


def _certificate(value: Value) -> X25519Certificate:
    try:
        return X25519Certificate.from_value(value)
    except DecodeError as exc:
        raise InvalidTransaction(f"certificate: {exc}") from None


def _roles(value: Value) -> tuple[str, ...]:
    if not (isinstance(value, list) and len(value) <= MAX_ROLES):
        raise InvalidTransaction(f"roles must be a list of at most {MAX_ROLES} role names")
    roles = [role_name(role) for role in value]
    if len(set(roles)) != len(roles):
        raise InvalidTransaction("a role is listed twice")
    return tuple(roles)


def _metadata(value: Value) -> tuple[tuple[str, str], ...]:
    if not (isinstance(value, list) and len(value) <= MAX_METADATA):
        raise InvalidTransaction(
            f"metadata must be a list of at most {MAX_METADATA} [key, value] pairs"
        )
    assert isinstance(value, list)
    pairs: list[tuple[str, str]] = []
    for entry in value:
        if not (isinstance(entry, list) and len(entry) == 2):
            raise InvalidTransaction("a metadata entry is [key, value] text")
        key, text = entry
        if not (isinstance(key, str) and METADATA_KEY_PATTERN.match(key) is not None):
            raise InvalidTransaction(
                f"{key!r} is not a metadata key (lowercase, up to 32 of a-z 0-9 _ . -)"
            )
        if not (isinstance(text, str) and len(text.encode()) <= MAX_METADATA_VALUE):
            raise InvalidTransaction(
                f"metadata {key}: the value must be text of at most {MAX_METADATA_VALUE} bytes"
            )
        assert isinstance(key, str) and isinstance(text, str)
        # One encoding per metadata set, and no key twice.
        if not (not pairs or key > pairs[-1][0]):
            raise InvalidTransaction("metadata keys must be unique and ascending")
        pairs.append((key, text))
    return tuple(pairs)


# ---- records -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Identity:
    """A registered identity as the chain keeps it."""

    address: bytes
    pubkey: bytes
    name: str = ""
    certificate: X25519Certificate | None = None
    roles: tuple[str, ...] = ()
    metadata: tuple[tuple[str, str], ...] = ()
    since: int = 0  # height of the first registration

    def to_value(self) -> list[Value]:
        cert = None if self.certificate is None else self.certificate.to_value()
        meta: list[Value] = [[k, v] for k, v in self.metadata]
        return [self.pubkey, self.name, cert, list(self.roles), meta, self.since]

    @classmethod
    def from_value(cls, address: bytes, value: Value) -> Identity:
        pubkey, name, cert, roles, metadata, since = _fields(value, 6, "identity record")
        return cls(
            address,
            sized_bytes(pubkey, PUBKEY_SIZE, "damaged identity record: public key"),
            text(name, MAX_NAME, "damaged identity record: name"),
            None if cert is None else X25519Certificate.from_value(cert),
            _roles(roles),
            _metadata(metadata),
            uint(since, MAX_U64, "damaged identity record: since"),
        )

    @property
    def box_pubkey(self) -> bytes | None:
        """The certified X25519 key, None before the identity certified one."""
        return None if self.certificate is None else self.certificate.x25519_pubkey

    def to_json(self) -> dict[str, object]:
        cert = self.certificate
        return {
            "address": to_checksum_address(self.address),
            "publicKey": "0x" + self.pubkey.hex(),
            "name": self.name or None,
            "encryptionKey": None if cert is None else "0x" + cert.x25519_pubkey.hex(),
            "encryptionKeyValidFrom": None if cert is None else cert.valid_from,
            "roles": list(self.roles),
            "metadata": dict(self.metadata),
            "since": self.since,
        }


# ---- encryption keys ---------------------------------------------------------------------------

ENCRYPTION_KEY_DOMAIN = b"aither/x25519-from-ed25519-seed/v1"


def derive_encryption_key(identity: SigningKey, valid_from: int) -> EncryptionKey:
    """The X25519 key an identity certifies for `valid_from`, derived from its ed25519 seed.

    A keyed hash, not the ed25519-to-X25519 birational map: the two keys are independent as
    libsodium advises, yet the keystore needs no new field, and a node that unlocks the
    ed25519 key re-derives the X25519 key of any `valid_from` (so, after a certificate
    rotation, the keys of older epochs too). A new `valid_from` gives an unrelated key.
    """
    return EncryptionKey(
        hash32(ENCRYPTION_KEY_DOMAIN + identity.seed + valid_from.to_bytes(8, "big"))
    )


def derived_certificate(identity: SigningKey, valid_from: int) -> X25519Certificate:
    """The certificate of `derive_encryption_key(identity, valid_from)`, for a register tx."""
    return certify(identity, derive_encryption_key(identity, valid_from), valid_from)


# ---- reads -------------------------------------------------------------------------------------


def load_identity(store: Store, address: bytes) -> Identity | None:
    raw = store.get(IDENTITY + address)
    return None if raw is None else Identity.from_value(address, decode(raw))


def resolve_name(store: Store, name: str) -> bytes | None:
    """The address that owns `name`, or None."""
    if not isinstance(name, str) or not is_name(name):
        return None
    return store.get(NAME + name.encode())


def lookup(store: Store, name_or_address: str | bytes) -> Identity | None:
    """An identity by name (`x.avm`) or by 20-byte address."""
    if isinstance(name_or_address, str):
        address = resolve_name(store, name_or_address)
        return None if address is None else load_identity(store, address)
    return load_identity(store, name_or_address)


# ---- the transition ----------------------------------------------------------------------------


def execution_gas(payload: SetIdentity | TransferName | NameAgent) -> int:
    extra = gas.REGISTER_CERT if isinstance(payload, SetIdentity) and payload.certificate else 0
    return gas.REGISTER + extra


def apply_register(
    store: Store, sender_pubkey: bytes, payload: SetIdentity | TransferName, height: int
) -> tuple[Log, ...]:
    """Apply a register transaction from `sender_pubkey` in block `height`.

    Raises an IdentityError (an ExecutionFailed: the caller rolls the effect back) before any
    write if it cannot apply.
    """
    if len(sender_pubkey) != PUBKEY_SIZE:
        raise IdentityError("the sender's key is not an ed25519 public key")
    sender = address_of(sender_pubkey)
    if isinstance(payload, TransferName):
        return _transfer(store, sender, payload)
    return _set(store, sender, sender_pubkey, payload, height)


def _set(
    store: Store, sender: bytes, pubkey: bytes, payload: SetIdentity, height: int
) -> tuple[Log, ...]:
    current = load_identity(store, sender)
    certificate = None if current is None else current.certificate
    if payload.certificate is not None:
        cert = payload.certificate
        if cert.address != sender:
            raise BadCertificate("the certificate names another address than the sender")
        try:
            verify_certificate(cert, pubkey)
        except InvalidCertificateError as exc:
            raise BadCertificate(f"certificate: {exc}") from None
        if certificate is not None and cert.valid_from <= certificate.valid_from:
            raise BadCertificate(
                f"certificate valid_from {cert.valid_from} is not after the current one's "
                f"({certificate.valid_from})"
            )
        certificate = cert
    old_name = "" if current is None else current.name
    if payload.name and payload.name != old_name:
        owner = store.get(NAME + payload.name.encode())
        if owner is not None:
            raise NameTaken(f"{payload.name} belongs to {to_checksum_address(owner)}")
    if old_name and old_name != payload.name:
        store.put(NAME + old_name.encode(), None)
    if payload.name:
        store.put(NAME + payload.name.encode(), sender)
    since = height if current is None else current.since
    record = Identity(
        sender, pubkey, payload.name, certificate, payload.roles, payload.metadata, since
    )
    store.put(IDENTITY + sender, encode(record.to_value()))
    return (Log("IdentityRegistered", (sender, payload.name)),)


def _transfer(store: Store, sender: bytes, payload: TransferName) -> tuple[Log, ...]:
    owner = store.get(NAME + payload.name.encode())
    if owner != sender:
        raise NotNameOwner(f"{payload.name} is not the sender's to transfer")
    if payload.to == sender:
        raise IdentityError(f"{payload.name} already belongs to the recipient")
    recipient = load_identity(store, payload.to)
    if recipient is None:
        raise UnknownIdentity(
            f"{to_checksum_address(payload.to)} has not registered: it must register (without "
            "a name) before it can receive one"
        )
    if recipient.name:
        raise NameHeld(f"{to_checksum_address(payload.to)} already holds {recipient.name}")
    current = load_identity(store, sender)
    assert current is not None, "a name's owner has an identity record"
    store.put(IDENTITY + sender, encode(_renamed(current, "").to_value()))
    store.put(IDENTITY + payload.to, encode(_renamed(recipient, payload.name).to_value()))
    store.put(NAME + payload.name.encode(), payload.to)
    return (Log("NameTransferred", (payload.name, sender, payload.to)),)


def apply_agent_name(
    store: Store, sender: bytes, payload: NameAgent, deployer: bytes | None
) -> tuple[Log, ...]:
    """Name (or unname) an agent: its deployer only. Raises an IdentityError before any write
    if it cannot apply."""
    who = to_checksum_address(payload.agent)
    if deployer is None:
        raise IdentityError(f"there is no agent at {who}")
    if deployer != sender:
        raise IdentityError(f"only the deployer of {who}, {to_checksum_address(deployer)}")
    raw = store.get(AGENT_NAME + payload.agent)
    old = "" if raw is None else raw.decode()
    if payload.name and payload.name != old:
        owner = store.get(NAME + payload.name.encode())
        if owner is not None:
            raise NameTaken(f"{payload.name} belongs to {to_checksum_address(owner)}")
    if old:
        store.put(NAME + old.encode(), None)
    store.put(AGENT_NAME + payload.agent, payload.name.encode() or None)
    if payload.name:
        store.put(NAME + payload.name.encode(), payload.agent)
    return (Log("AgentNamed", (payload.agent, payload.name, sender)),)


def _renamed(identity: Identity, name: str) -> Identity:
    return Identity(
        identity.address,
        identity.pubkey,
        name,
        identity.certificate,
        identity.roles,
        identity.metadata,
        identity.since,
    )
