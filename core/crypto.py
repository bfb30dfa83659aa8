"""Hashing, ed25519 keys and signatures, and addresses.

One hash function (blake2b-256, the faster of the two measured) for ids and the state root, and one
signature verifier (PyNaCl/libsodium) for everything consensus touches.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import nacl.bindings
import nacl.exceptions
import nacl.signing
from Crypto.Hash import keccak

HASH_NAME = "blake2b-256"
HASH_SIZE = 32
PUBKEY_SIZE = 32
SIGNATURE_SIZE = 64
ADDRESS_SIZE = 20


def hash32(data: bytes) -> bytes:
    """The project's hash: blake2b with a 32-byte digest."""
    return hashlib.blake2b(data, digest_size=HASH_SIZE).digest()


def verify(pubkey: bytes, message: bytes, signature: bytes) -> bool:
    """True if `signature` is a valid ed25519 signature of `message` by `pubkey`."""
    if len(pubkey) != PUBKEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    try:
        nacl.bindings.crypto_sign_open(signature + message, pubkey)
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
        return False
    return True


def address_of(pubkey: bytes) -> bytes:
    """The 20-byte account address of an ed25519 public key."""
    return hash32(pubkey)[-ADDRESS_SIZE:]


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An ed25519 private key (its 32-byte seed) with its public key and address."""

    seed: bytes

    def __post_init__(self) -> None:
        if len(self.seed) != 32:
            raise ValueError("an ed25519 private key is 32 bytes")

    @property
    def _nacl(self) -> nacl.signing.SigningKey:
        return nacl.signing.SigningKey(self.seed)

    @property
    def pubkey(self) -> bytes:
        return bytes(self._nacl.verify_key)

    @property
    def address(self) -> bytes:
        return address_of(self.pubkey)

    def sign(self, message: bytes) -> bytes:
        return self._nacl.sign(message).signature

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(bytes(nacl.signing.SigningKey.generate()))

    def __repr__(self) -> str:
        return f"SigningKey(address={to_checksum_address(self.address)})"


def _keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def to_checksum_address(address: bytes) -> str:
    """0x-hex with the EIP-55 mixed-case checksum, as Ethereum tools (web3.py) expect."""
    if len(address) != ADDRESS_SIZE:
        raise ValueError(f"an address is {ADDRESS_SIZE} bytes, got {len(address)}")
    hex_addr = address.hex()
    digest = _keccak256(hex_addr.encode()).hex()
    return "0x" + "".join(
        c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c for i, c in enumerate(hex_addr)
    )


def parse_address(text: str) -> bytes:
    """Parse a 0x-hex address. Mixed case must carry a valid EIP-55 checksum."""
    if not isinstance(text, str) or not text.startswith(("0x", "0X")) or len(text) != 42:
        raise ValueError(f"{text!r} is not an address (0x followed by 40 hex digits)")
    try:
        raw = bytes.fromhex(text[2:])
    except ValueError:
        raise ValueError(f"{text!r} is not an address (0x followed by 40 hex digits)") from None
    body = text[2:]
    if body != body.lower() and body != body.upper() and to_checksum_address(raw) != text:
        raise ValueError(f"{text} has a bad EIP-55 checksum")
    return raw
