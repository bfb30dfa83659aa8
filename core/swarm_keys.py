"""Keys of swarm channels: identity encryption keys, their certificates, and epoch keys.

Pure: no I/O and no clock (times are passed in); randomness comes from libsodium's CSPRNG.

- An identity that receives channel messages owns an X25519 key pair, separate from its ed25519
  signing key (libsodium advises against using one key for both), and certifies the X25519
  public key with a signature of its ed25519 key (`X25519Certificate`).
- A channel's messages are encrypted under an epoch key: 32 random bytes, one per (channel,
  epoch). A rotation (`rotate`) makes a new epoch key and seals a copy to each member's X25519
  key (libsodium sealed box); the rotation is what a `rotate` transaction carries on chain.
  Its commitment (a hash of the key bound to channel and epoch) lets each member check that the
  copy it unsealed is the one every other member unsealed too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import nacl.bindings
import nacl.exceptions
import nacl.utils

from core.crypto import (
    ADDRESS_SIZE,
    HASH_SIZE,
    PUBKEY_SIZE,
    SIGNATURE_SIZE,
    SigningKey,
    address_of,
    hash32,
    verify,
)
from core.encoding import Value, decode, encode
from core.errors import AitherError, DecodeError
from core.schema import is_uint

X25519_SIZE = 32
EPOCH_KEY_SIZE = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_KEYBYTES
SEALED_KEY_SIZE = EPOCH_KEY_SIZE + nacl.bindings.crypto_box_SEALBYTES
# Bounds one rotation's size: 256 copies of ~105 bytes stay well under a 64 KiB transaction.
MAX_MEMBERS = 256
MAX_ROTATION_SIZE = 64 * 1024

# Domain tags: a signature or a hash made for one purpose never verifies for another.
CERT_DOMAIN = b"aither/x25519-cert/v1"
KEY_COMMIT_DOMAIN = b"aither/swarm-epoch-key/v1"


class SwarmKeyError(AitherError):
    """Base of the errors of swarm keys."""


class InvalidCertificateError(SwarmKeyError):
    """An X25519 certificate that is malformed, badly signed or names a weak key."""


class UnsealError(SwarmKeyError):
    """A rotation holds no usable copy of the epoch key for this member."""


def is_strong_x25519(pubkey: bytes) -> bool:
    """False for a key of the wrong size or a small-order point.

    Sealing to a small-order point gives a shared secret anyone can compute, so a member that
    registered one would expose every epoch key sealed to it (on chain, forever). Clamped
    scalars are multiples of the cofactor, so such a point multiplies to zero, which libsodium
    refuses.
    """
    if type(pubkey) is not bytes or len(pubkey) != X25519_SIZE:
        return False
    try:
        nacl.bindings.crypto_scalarmult(_PROBE_SCALAR, pubkey)
    except (nacl.exceptions.RuntimeError, nacl.exceptions.CryptoError):
        return False
    return True


_PROBE_SCALAR = hash32(b"aither/x25519-probe")


@dataclass(frozen=True, slots=True)
class EncryptionKey:
    """An identity's X25519 private key (32 bytes), kept in its keystore next to its ed25519 key."""

    secret: bytes

    def __post_init__(self) -> None:
        if type(self.secret) is not bytes or len(self.secret) != X25519_SIZE:
            raise ValueError("an X25519 private key is 32 bytes")

    @property
    def public(self) -> bytes:
        return nacl.bindings.crypto_scalarmult_base(self.secret)

    @classmethod
    def generate(cls) -> EncryptionKey:
        return cls(nacl.utils.random(X25519_SIZE))

    def __repr__(self) -> str:
        return f"EncryptionKey(public={self.public.hex()})"


@dataclass(frozen=True, slots=True)
class X25519Certificate:
    """`address` (an ed25519 identity) vouches for `x25519_pubkey` from `valid_from` on.

    `valid_from` is the ledger's choice of clock (block height or seconds); a certificate with a
    higher `valid_from` replaces the previous one, so an identity rotates its encryption key by
    registering a new certificate. The signature covers the statement
    `[CERT_DOMAIN, address, x25519_pubkey, valid_from]`.
    """

    address: bytes
    x25519_pubkey: bytes
    valid_from: int
    signature: bytes

    def statement(self) -> bytes:
        return _cert_statement(self.address, self.x25519_pubkey, self.valid_from)

    def to_value(self) -> list[Value]:
        return [self.address, self.x25519_pubkey, self.valid_from, self.signature]

    @classmethod
    def from_value(cls, value: Value) -> X25519Certificate:
        """Raises DecodeError unless `value` is a well-typed certificate (not yet verified)."""
        if type(value) is not list or len(value) != 4:
            raise DecodeError("a certificate is [address, x25519 pubkey, valid_from, signature]")
        address, pubkey, valid_from, signature = value
        if type(address) is not bytes or len(address) != ADDRESS_SIZE:
            raise DecodeError("certificate address must be 20 bytes")
        if type(pubkey) is not bytes or len(pubkey) != X25519_SIZE:
            raise DecodeError("certificate X25519 key must be 32 bytes")
        if not is_uint(valid_from):
            raise DecodeError("certificate valid_from must be an unsigned 64-bit integer")
        if type(signature) is not bytes or len(signature) != SIGNATURE_SIZE:
            raise DecodeError("certificate signature must be 64 bytes")
        return cls(address, pubkey, valid_from, signature)

    def encode(self) -> bytes:
        return encode(self.to_value())

    @classmethod
    def decode(cls, data: bytes) -> X25519Certificate:
        """Raises DecodeError on anything but a canonical, well-typed certificate."""
        return cls.from_value(decode(data, max_size=256))


def _cert_statement(address: bytes, x25519_pubkey: bytes, valid_from: int) -> bytes:
    return encode([CERT_DOMAIN, address, x25519_pubkey, valid_from])


def certify(identity: SigningKey, key: EncryptionKey, valid_from: int) -> X25519Certificate:
    """Certify `key`'s public half with `identity`. Raises ValueError on a bad `valid_from`."""
    if not is_uint(valid_from):
        raise ValueError("valid_from must be an unsigned 64-bit integer")
    public = key.public
    signature = identity.sign(_cert_statement(identity.address, public, valid_from))
    return X25519Certificate(identity.address, public, valid_from, signature)


def verify_certificate(cert: X25519Certificate, ed25519_pubkey: bytes) -> None:
    """Check that `ed25519_pubkey` owns `cert.address` and signed `cert` for a strong key.

    Raises InvalidCertificateError (address mismatch, bad signature, small-order X25519 key).
    """
    if len(ed25519_pubkey) != PUBKEY_SIZE or address_of(ed25519_pubkey) != cert.address:
        raise InvalidCertificateError("the signing key does not belong to the certified address")
    if not verify(ed25519_pubkey, cert.statement(), cert.signature):
        raise InvalidCertificateError("bad certificate signature")
    if not is_strong_x25519(cert.x25519_pubkey):
        raise InvalidCertificateError("the certified X25519 key is a small-order point")


@dataclass(frozen=True, slots=True)
class MemberKeys:
    """A channel member as the chain records it: address, ed25519 and certified X25519 keys."""

    address: bytes
    sign_pubkey: bytes
    box_pubkey: bytes

    def __post_init__(self) -> None:
        if len(self.sign_pubkey) != PUBKEY_SIZE or address_of(self.sign_pubkey) != self.address:
            raise ValueError("a member's address must be derived from its ed25519 key")
        if len(self.box_pubkey) != X25519_SIZE:
            raise ValueError("a member's X25519 key is 32 bytes")


def key_commitment(channel_id: bytes, epoch: int, key: bytes) -> bytes:
    """The public commitment to an epoch key, bound to its channel and epoch."""
    return hash32(encode([KEY_COMMIT_DOMAIN, channel_id, epoch, key]))


@dataclass(frozen=True, slots=True)
class SealedKey:
    """One member's copy of an epoch key, sealed to its X25519 key."""

    member: bytes
    sealed: bytes


@dataclass(frozen=True, slots=True)
class Rotation:
    """A new epoch key for `channel_id`, one sealed copy per member (ascending address).

    On chain: `[channel_id, epoch, commitment, [[member address, sealed key], ...]]`. The chain
    can check the addresses against the membership it keeps, never the sealed contents; a
    member checks its copy against `commitment` when it unseals.
    """

    channel_id: bytes
    epoch: int
    commitment: bytes
    copies: tuple[SealedKey, ...]

    @property
    def members(self) -> tuple[bytes, ...]:
        return tuple(copy.member for copy in self.copies)

    def to_value(self) -> list[Value]:
        copies: list[Value] = [[c.member, c.sealed] for c in self.copies]
        return [self.channel_id, self.epoch, self.commitment, copies]

    @classmethod
    def from_value(cls, value: Value) -> Rotation:
        """Raises DecodeError unless `value` is a well-formed rotation.

        Copies must be in strictly ascending address order: one encoding per member set, and
        no member twice.
        """
        if type(value) is not list or len(value) != 4:
            raise DecodeError("a rotation is [channel_id, epoch, commitment, copies]")
        channel_id, epoch, commitment, copies = value
        if type(channel_id) is not bytes or len(channel_id) != HASH_SIZE:
            raise DecodeError("channel id must be 32 bytes")
        if not is_uint(epoch):
            raise DecodeError("epoch must be an unsigned 64-bit integer")
        if type(commitment) is not bytes or len(commitment) != HASH_SIZE:
            raise DecodeError("key commitment must be 32 bytes")
        if type(copies) is not list or not 0 < len(copies) <= MAX_MEMBERS:
            raise DecodeError(f"a rotation seals the key to 1..{MAX_MEMBERS} members")
        parsed: list[SealedKey] = []
        for item in copies:
            if type(item) is not list or len(item) != 2:
                raise DecodeError("a sealed copy is [member address, sealed key]")
            member, sealed = item
            if type(member) is not bytes or len(member) != ADDRESS_SIZE:
                raise DecodeError("member address must be 20 bytes")
            if type(sealed) is not bytes or len(sealed) != SEALED_KEY_SIZE:
                raise DecodeError(f"a sealed key is {SEALED_KEY_SIZE} bytes")
            if parsed and member <= parsed[-1].member:
                raise DecodeError("sealed copies must be in strictly ascending address order")
            parsed.append(SealedKey(member, sealed))
        return cls(channel_id, epoch, commitment, tuple(parsed))

    def encode(self) -> bytes:
        return encode(self.to_value())

    @classmethod
    def decode(cls, data: bytes) -> Rotation:
        """Raises DecodeError on anything but a canonical, well-formed rotation."""
        return cls.from_value(decode(data, max_size=MAX_ROTATION_SIZE))


def rotate(channel_id: bytes, epoch: int, members: Iterable[MemberKeys]) -> tuple[bytes, Rotation]:
    """A fresh epoch key and its rotation: the key sealed to each of `members`.

    Returns `(key, rotation)`; the caller (the member or admin posting the rotation) keeps the
    key only if it is itself a member. Raises ValueError on a bad channel id or epoch, an
    empty, duplicated or oversized member set, or a member whose X25519 key is small-order.
    """
    if type(channel_id) is not bytes or len(channel_id) != HASH_SIZE:
        raise ValueError("channel id must be 32 bytes")
    if not is_uint(epoch):
        raise ValueError("epoch must be an unsigned 64-bit integer")
    ordered = sorted(members, key=lambda m: m.address)
    if not 0 < len(ordered) <= MAX_MEMBERS:
        raise ValueError(f"a rotation seals the key to 1..{MAX_MEMBERS} members")
    if len({m.address for m in ordered}) != len(ordered):
        raise ValueError("a member appears twice")
    for member in ordered:
        if not is_strong_x25519(member.box_pubkey):
            raise ValueError(f"member {member.address.hex()} has a small-order X25519 key")
    key = nacl.utils.random(EPOCH_KEY_SIZE)
    copies = tuple(
        SealedKey(m.address, nacl.bindings.crypto_box_seal(key, m.box_pubkey)) for m in ordered
    )
    return key, Rotation(channel_id, epoch, key_commitment(channel_id, epoch, key), copies)


def unseal(rotation: Rotation, member: bytes, box_key: EncryptionKey) -> bytes:
    """The epoch key in `rotation` for `member`, opened with its X25519 private key.

    Raises UnsealError if the rotation has no copy for `member`, the copy does not open with
    `box_key`, or the opened key does not match the rotation's commitment (a rotator that gave
    members different keys).
    """
    copy = next((c for c in rotation.copies if c.member == member), None)
    if copy is None:
        raise UnsealError(f"rotation to epoch {rotation.epoch} has no copy for this member")
    try:
        key = nacl.bindings.crypto_box_seal_open(copy.sealed, box_key.public, box_key.secret)
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
        raise UnsealError(f"the copy for epoch {rotation.epoch} does not open: {exc}") from None
    if key_commitment(rotation.channel_id, rotation.epoch, key) != rotation.commitment:
        raise UnsealError(f"the key for epoch {rotation.epoch} does not match its commitment")
    return key
