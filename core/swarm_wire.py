"""The bytes of a swarm channel message: what relays see, and what only members can open.

Outer, the envelope every relay sees: `[channel_id (32 bytes), epoch, ciphertext]`, nothing else.
The ciphertext is `nonce (24) || XChaCha20-Poly1305(epoch key, inner)`, with the channel id and
the epoch as associated data, so an envelope whose clear fields were changed does not decrypt.

Inner, the plaintext: `[sender address, sequence, timestamp, payload, signature]`, the signature
by the sender's ed25519 key over `[SIGN_DOMAIN, channel_id, epoch, sender, sequence, timestamp,
hash32(payload)]`. Signing the payload's hash binds the payload just as well, and lets a member
later prove authorship on chain (a reward claim) from the hash alone, without the plaintext.

On gossip, envelopes travel in batches: one gossip message is `[envelope, ...]`, the envelopes a
node had ready for the channel within a short window (each gossip message costs a libp2p
signature, a check at every hop and a frame on every link, so hundreds of envelopes share one).
A relay learns nothing more from a batch than from its envelopes: that they left one node within
the window, which the forwarding peer already tells it.

Every layer uses the canonical encoding, bounded sizes and strict decoding: anything `encode_*`
would not have produced raises DecodeError. Pure: no I/O, no clock; nonces are random.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nacl.bindings
import nacl.exceptions
import nacl.utils

from core.crypto import ADDRESS_SIZE, HASH_SIZE, SIGNATURE_SIZE, SigningKey, address_of, hash32
from core.encoding import decode, encode
from core.errors import DecodeError
from core.schema import is_uint
from core.swarm_keys import EPOCH_KEY_SIZE

MAX_PAYLOAD = 64 * 1024
NONCE_SIZE = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
TAG_SIZE = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_ABYTES
# Inner fields around the payload: msgpack headers (1 + 5 for the payload's bin32), address,
# two u64 and the signature, with room to spare.
MAX_INNER = MAX_PAYLOAD + 128
MAX_CIPHERTEXT = NONCE_SIZE + MAX_INNER + TAG_SIZE
MIN_CIPHERTEXT = NONCE_SIZE + TAG_SIZE
# The envelope: array header, the 32-byte channel id, a u64 epoch, the ciphertext's bin header.
MAX_ENVELOPE = MAX_CIPHERTEXT + 64
# A batch: at most this many bytes encoded (a largest envelope fits three times) and envelopes.
MAX_BATCH = 256 * 1024
MAX_BATCH_ENVELOPES = 1024
BATCH_HEADER = 5  # a msgpack array32 header
ENVELOPE_HEADER = 5  # a msgpack bin32 header, per envelope

AAD_DOMAIN = b"aither/swarm-envelope/v1"
SIGN_DOMAIN = b"aither/swarm-message/v1"


@dataclass(frozen=True, slots=True)
class Envelope:
    """The outer message: all a relay or a non-member learns (plus its size)."""

    channel_id: bytes
    epoch: int
    ciphertext: bytes

    def encode(self) -> bytes:
        return encode([self.channel_id, self.epoch, self.ciphertext])

    @classmethod
    def decode(cls, data: bytes) -> Envelope:
        """Raises DecodeError on anything but a canonical, bounded envelope."""
        value = decode(data, max_size=MAX_ENVELOPE)
        if type(value) is not list or len(value) != 3:
            raise DecodeError("an envelope is [channel_id, epoch, ciphertext]")
        channel_id, epoch, ciphertext = value
        if type(channel_id) is not bytes or len(channel_id) != HASH_SIZE:
            raise DecodeError("channel id must be 32 bytes")
        if not is_uint(epoch):
            raise DecodeError("epoch must be an unsigned 64-bit integer")
        if type(ciphertext) is not bytes or not (
            MIN_CIPHERTEXT <= len(ciphertext) <= MAX_CIPHERTEXT
        ):
            raise DecodeError(f"ciphertext must be {MIN_CIPHERTEXT}..{MAX_CIPHERTEXT} bytes")
        return cls(channel_id, epoch, ciphertext)


@dataclass(frozen=True, slots=True)
class SignedMessage:
    """The inner message, as the sender signed it."""

    sender: bytes
    sequence: int
    timestamp: int
    payload: bytes
    signature: bytes

    def encode(self) -> bytes:
        return encode([self.sender, self.sequence, self.timestamp, self.payload, self.signature])

    @classmethod
    def decode(cls, data: bytes) -> SignedMessage:
        """Raises DecodeError on anything but a canonical, bounded inner message."""
        value = decode(data, max_size=MAX_INNER)
        if type(value) is not list or len(value) != 5:
            raise DecodeError("a message is [sender, sequence, timestamp, payload, signature]")
        sender, sequence, timestamp, payload, signature = value
        if type(sender) is not bytes or len(sender) != ADDRESS_SIZE:
            raise DecodeError("sender must be a 20-byte address")
        if not is_uint(sequence):
            raise DecodeError("sequence must be an unsigned 64-bit integer")
        if not is_uint(timestamp):
            raise DecodeError("timestamp must be an unsigned 64-bit integer")
        if type(payload) is not bytes or len(payload) > MAX_PAYLOAD:
            raise DecodeError(f"payload must be at most {MAX_PAYLOAD} bytes")
        if type(signature) is not bytes or len(signature) != SIGNATURE_SIZE:
            raise DecodeError("signature must be 64 bytes")
        return cls(sender, sequence, timestamp, payload, signature)


@dataclass(frozen=True, slots=True)
class MessageSigner:
    """An identity's key prepared for signing many messages.

    `SigningKey` re-derives its public key (a scalar multiplication) on every `sign` and
    `address`; a sender signs every message, so libsodium's expanded secret key and the address
    are derived once here.
    """

    address: bytes
    secret: bytes = field(repr=False)

    @classmethod
    def of(cls, identity: SigningKey) -> MessageSigner:
        public, secret = nacl.bindings.crypto_sign_seed_keypair(identity.seed)
        return cls(address_of(public), secret)

    def sign(self, message: bytes) -> bytes:
        return nacl.bindings.crypto_sign(message, self.secret)[:SIGNATURE_SIZE]


def signed_statement(
    channel_id: bytes, epoch: int, sender: bytes, sequence: int, timestamp: int, payload_hash: bytes
) -> bytes:
    """The bytes a sender signs (and a reward claim can re-check with the payload's hash only)."""
    return encode([SIGN_DOMAIN, channel_id, epoch, sender, sequence, timestamp, payload_hash])


def associated_data(channel_id: bytes, epoch: int) -> bytes:
    return encode([AAD_DOMAIN, channel_id, epoch])


def seal_message(
    signer: MessageSigner,
    channel_id: bytes,
    epoch: int,
    key: bytes,
    sequence: int,
    timestamp: int,
    payload: bytes,
) -> bytes:
    """Sign and encrypt one message; returns the envelope's bytes.

    Raises ValueError on a payload over MAX_PAYLOAD, a key that is not 32 bytes, a channel id
    that is not 32 bytes, or a field outside u64.
    """
    if type(payload) is not bytes or len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload must be bytes of at most {MAX_PAYLOAD}")
    if len(key) != EPOCH_KEY_SIZE or len(channel_id) != HASH_SIZE:
        raise ValueError("epoch key and channel id are 32 bytes")
    if not (is_uint(epoch) and is_uint(sequence) and is_uint(timestamp)):
        raise ValueError("epoch, sequence and timestamp are unsigned 64-bit integers")
    sender = signer.address
    statement = signed_statement(channel_id, epoch, sender, sequence, timestamp, hash32(payload))
    inner = SignedMessage(sender, sequence, timestamp, payload, signer.sign(statement))
    # A random 192-bit nonce: no counter to keep across restarts, and collisions are negligible.
    nonce = nacl.utils.random(NONCE_SIZE)
    sealed = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        inner.encode(), associated_data(channel_id, epoch), nonce, key
    )
    return Envelope(channel_id, epoch, nonce + sealed).encode()


def open_envelope(envelope: Envelope, key: bytes) -> bytes | None:
    """The inner bytes of `envelope` under `key`, or None if they do not authenticate."""
    nonce, sealed = envelope.ciphertext[:NONCE_SIZE], envelope.ciphertext[NONCE_SIZE:]
    try:
        return nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            sealed, associated_data(envelope.channel_id, envelope.epoch), nonce, key
        )
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        return None


def batch_size(envelopes_bytes: int, count: int) -> int:
    """An upper bound of the encoded size of `count` envelopes of `envelopes_bytes` in all."""
    return BATCH_HEADER + envelopes_bytes + ENVELOPE_HEADER * count


def encode_batch(envelopes: list[bytes]) -> bytes:
    """One gossip message's bytes. Raises ValueError on an empty or oversize batch."""
    if not 0 < len(envelopes) <= MAX_BATCH_ENVELOPES:
        raise ValueError(f"a batch holds 1..{MAX_BATCH_ENVELOPES} envelopes")
    data = encode(envelopes)
    if len(data) > MAX_BATCH:
        raise ValueError(f"a batch is at most {MAX_BATCH} bytes, got {len(data)}")
    return data


def decode_batch(data: bytes) -> list[bytes]:
    """The envelopes of a batch, still encoded (each is checked by `Envelope.decode`).

    Raises DecodeError on anything but a canonical list of 1..MAX_BATCH_ENVELOPES byte strings
    of at most MAX_ENVELOPE bytes each, MAX_BATCH bytes in all.
    """
    value = decode(data, max_size=MAX_BATCH)
    if type(value) is not list or not 0 < len(value) <= MAX_BATCH_ENVELOPES:
        raise DecodeError(f"a batch is a list of 1..{MAX_BATCH_ENVELOPES} envelopes")
    envelopes = []
    for envelope in value:
        if type(envelope) is not bytes or len(envelope) > MAX_ENVELOPE:
            raise DecodeError(f"a batch holds envelopes of at most {MAX_ENVELOPE} bytes")
        envelopes.append(envelope)
    return envelopes
