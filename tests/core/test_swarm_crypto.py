"""The sans-I/O encryption core of swarm channels: keys, wire format, reader and writer."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import nacl.bindings
import nacl.utils
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.crypto import SigningKey, hash32
from core.encoding import encode
from core.errors import DecodeError
from core.swarm_keys import (
    EncryptionKey,
    InvalidCertificateError,
    MemberKeys,
    Rotation,
    SealedKey,
    UnsealError,
    X25519Certificate,
    certify,
    is_strong_x25519,
    rotate,
    unseal,
    verify_certificate,
)
from core.swarm_wire import (
    MAX_BATCH,
    MAX_BATCH_ENVELOPES,
    MAX_ENVELOPE,
    MAX_PAYLOAD,
    NONCE_SIZE,
    Envelope,
    SignedMessage,
    associated_data,
    decode_batch,
    encode_batch,
    open_envelope,
    signed_statement,
)
from p2p.swarm import (
    ChannelReader,
    ChannelView,
    ChannelWriter,
    Epoch,
    ReaderPolicy,
    Received,
    Rejected,
    Rejection,
    ReplayWindow,
    SwarmSendError,
    check_batch,
    check_envelope,
)

CHANNEL = hash32(b"test channel")
NOW = 1_800_000_000
MARKER = b"MARKER-plaintext-7f3a"


@dataclass(frozen=True)
class Party:
    identity: SigningKey
    box: EncryptionKey

    @property
    def address(self) -> bytes:
        return self.identity.address

    @property
    def keys(self) -> MemberKeys:
        return MemberKeys(self.address, self.identity.pubkey, self.box.public)


def parties(n: int) -> list[Party]:
    return [Party(SigningKey.generate(), EncryptionKey.generate()) for _ in range(n)]


def start_epoch(number: int, members: list[Party]) -> tuple[Rotation, bytes]:
    key, rotation = rotate(CHANNEL, number, [p.keys for p in members])
    return rotation, key


def epoch_for(party: Party, rotation: Rotation, members: list[Party], **kw: int) -> Epoch:
    """The epoch as `party` sees it: its own unsealed key if it is a member, else none."""
    key = unseal(rotation, party.address, party.box) if party in members else None
    return Epoch(rotation.epoch, tuple(m.keys for m in members), key, **kw)


def view_for(party: Party, *epochs: tuple[Rotation, list[Party], dict[str, int]]) -> ChannelView:
    return ChannelView(CHANNEL, tuple(epoch_for(party, r, ms, **kw) for r, ms, kw in epochs))


@pytest.fixture(scope="module")
def team() -> list[Party]:
    return parties(10)


@pytest.fixture(scope="module")
def first(team: list[Party]) -> tuple[Rotation, bytes]:
    return start_epoch(1, team)


def raw_envelope(
    signer: SigningKey,
    key: bytes,
    *,
    epoch: int = 1,
    sender: bytes | None = None,
    sequence: int = 0,
    timestamp: int = NOW,
    payload: bytes = b"hello",
) -> bytes:
    """An envelope built field by field, as a malicious member could build it."""
    sender = signer.address if sender is None else sender
    statement = signed_statement(CHANNEL, epoch, sender, sequence, timestamp, hash32(payload))
    inner = SignedMessage(sender, sequence, timestamp, payload, signer.sign(statement)).encode()
    return seal_inner(inner, key, epoch)


def seal_inner(inner: bytes, key: bytes, epoch: int = 1) -> bytes:
    nonce = nacl.utils.random(NONCE_SIZE)
    sealed = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        inner, associated_data(CHANNEL, epoch), nonce, key
    )
    return Envelope(CHANNEL, epoch, nonce + sealed).encode()


# -- identity encryption keys --


def test_certificate_round_trip_and_verification() -> None:
    alice, bob = parties(2)
    cert = certify(alice.identity, alice.box, valid_from=7)
    assert X25519Certificate.decode(cert.encode()) == cert
    verify_certificate(cert, alice.identity.pubkey)
    with pytest.raises(InvalidCertificateError, match="does not belong"):
        verify_certificate(cert, bob.identity.pubkey)
    forged = X25519Certificate(cert.address, bob.box.public, 7, cert.signature)
    with pytest.raises(InvalidCertificateError, match="signature"):
        verify_certificate(forged, alice.identity.pubkey)
    later = X25519Certificate(cert.address, cert.x25519_pubkey, 8, cert.signature)
    with pytest.raises(InvalidCertificateError, match="signature"):
        verify_certificate(later, alice.identity.pubkey)


def test_certificate_refuses_small_order_key() -> None:
    alice = Party(SigningKey.generate(), EncryptionKey.generate())
    weak = bytes(32)  # the identity point: every shared secret with it is zero
    statement = X25519Certificate(alice.address, weak, 0, bytes(64)).statement()
    cert = X25519Certificate(alice.address, weak, 0, alice.identity.sign(statement))
    with pytest.raises(InvalidCertificateError, match="small-order"):
        verify_certificate(cert, alice.identity.pubkey)
    assert not is_strong_x25519(weak)
    assert is_strong_x25519(alice.box.public)
    with pytest.raises(ValueError, match="small-order"):
        rotate(CHANNEL, 1, [MemberKeys(alice.address, alice.identity.pubkey, weak)])


SMALL_ORDER_POINTS = [
    "00" * 32,
    "01" + "00" * 31,
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ec" + "ff" * 30 + "7f",  # p - 1
    "ed" + "ff" * 30 + "7f",  # p: 0, not reduced
    "ee" + "ff" * 30 + "7f",  # p + 1: 1, not reduced
    "00" * 31 + "80",  # 0 with the ignored top bit set
]


@pytest.mark.parametrize("point", SMALL_ORDER_POINTS)
def test_small_order_points_are_weak(point: str) -> None:
    assert not is_strong_x25519(bytes.fromhex(point))


@given(st.binary(max_size=300))
def test_certificate_decoder_only_raises_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        X25519Certificate.decode(data)


# -- rotations --


def test_rotation_unseals_the_same_key_for_every_member(
    team: list[Party], first: tuple[Rotation, bytes]
) -> None:
    rotation, key = first
    assert Rotation.decode(rotation.encode()) == rotation
    assert list(rotation.members) == sorted(p.address for p in team)
    assert {unseal(rotation, p.address, p.box) for p in team} == {key}
    assert len(rotation.encode()) < 110 * len(team) + 100  # what the chain stores per rotation


def test_rotation_refuses_strangers_and_wrong_keys(
    team: list[Party], first: tuple[Rotation, bytes]
) -> None:
    rotation, _ = first
    (stranger,) = parties(1)
    with pytest.raises(UnsealError, match="no copy"):
        unseal(rotation, stranger.address, stranger.box)
    with pytest.raises(UnsealError, match="does not open"):
        unseal(rotation, team[0].address, team[1].box)


def test_rotation_that_splits_the_key_is_detected(team: list[Party]) -> None:
    rotation, key = start_epoch(1, team)
    other = nacl.utils.random(32)
    victim = team[3]
    copies = tuple(
        SealedKey(c.member, nacl.bindings.crypto_box_seal(other, victim.box.public))
        if c.member == victim.address
        else c
        for c in rotation.copies
    )
    split = Rotation(rotation.channel_id, rotation.epoch, rotation.commitment, copies)
    with pytest.raises(UnsealError, match="commitment"):
        unseal(split, victim.address, victim.box)
    assert unseal(split, team[0].address, team[0].box) == key


def test_rotation_decoding_is_strict(first: tuple[Rotation, bytes]) -> None:
    rotation, _ = first
    value = rotation.to_value()
    swapped = [*value[:3], [value[3][1], value[3][0], *value[3][2:]]]
    with pytest.raises(DecodeError, match="ascending"):
        Rotation.decode(encode(swapped))
    twice = [*value[:3], [value[3][0], value[3][0]]]
    with pytest.raises(DecodeError, match="ascending"):
        Rotation.decode(encode(twice))
    with pytest.raises(DecodeError):
        Rotation.decode(encode([*value[:3], []]))
    with pytest.raises(DecodeError):
        Rotation.decode(rotation.encode() + b"\x00")


@given(st.binary(max_size=400))
def test_rotation_decoder_only_raises_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        Rotation.decode(data)


# -- messages among members --


def test_round_trip_among_ten_members(team: list[Party], first: tuple[Rotation, bytes]) -> None:
    rotation, _ = first
    readers = {p.address: ChannelReader(view_for(p, (rotation, team, {}))) for p in team}
    for sender in team:
        epoch = readers[sender.address].view.current
        assert epoch is not None
        writer = ChannelWriter(sender.identity, CHANNEL)
        for n in range(2):
            payload = MARKER + sender.address + bytes([n]) * 1000
            data = writer.encrypt(payload, epoch, NOW)
            for receiver in team:
                if receiver is sender:
                    continue
                got = readers[receiver.address].receive(data, NOW + 1)
                assert isinstance(got, Received), got
                assert (got.sender, got.sequence, got.payload) == (sender.address, n, payload)
                assert (got.channel_id, got.epoch, got.timestamp) == (CHANNEL, 1, NOW)
                assert got.message_hash == hash32(data)
        assert writer.next_sequence == 2


def test_non_member_learns_nothing(team: list[Party], first: tuple[Rotation, bytes]) -> None:
    rotation, _ = first
    sender = team[0]
    epoch = epoch_for(sender, rotation, team)
    data = ChannelWriter(sender.identity, CHANNEL).encrypt(MARKER * 20, epoch, NOW)
    # Nothing of the plaintext, the sender or its keys is in what relays see.
    for secret in (MARKER, MARKER[:8], sender.address, sender.identity.pubkey, b"hello"):
        assert secret not in data
    envelope = Envelope.decode(data)
    assert (envelope.channel_id, envelope.epoch) == (CHANNEL, 1)
    assert check_envelope(data, CHANNEL, {1}) is None
    # A non-member holds no key; with any other key the ciphertext does not open.
    (outsider,) = parties(1)
    reader = ChannelReader(view_for(outsider, (rotation, team, {})))
    assert reader.receive(data, NOW).reason is Rejection.NO_EPOCH_KEY
    guessing = ChannelReader(
        ChannelView(CHANNEL, (Epoch(1, tuple(p.keys for p in team), nacl.utils.random(32)),))
    )
    assert guessing.receive(data, NOW).reason is Rejection.NOT_DECRYPTABLE
    assert open_envelope(envelope, bytes(32)) is None


def test_same_payload_twice_gives_unlinkable_envelopes(
    team: list[Party], first: tuple[Rotation, bytes]
) -> None:
    rotation, _ = first
    epoch = epoch_for(team[0], rotation, team)
    writer = ChannelWriter(team[0].identity, CHANNEL)
    a, b = writer.encrypt(b"same", epoch, NOW), writer.encrypt(b"same", epoch, NOW)
    assert len(a) == len(b)
    assert Envelope.decode(a).ciphertext[:64] != Envelope.decode(b).ciphertext[:64]


def test_tampering_any_byte_fails_cleanly(team: list[Party], first: tuple[Rotation, bytes]) -> None:
    rotation, _ = first
    data = ChannelWriter(team[0].identity, CHANNEL).encrypt(
        MARKER, epoch_for(team[0], rotation, team), NOW
    )
    reader = ChannelReader(view_for(team[1], (rotation, team, {})))
    for i in range(len(data)):
        for flip in (0x01, 0x80):
            tampered = data[:i] + bytes([data[i] ^ flip]) + data[i + 1 :]
            assert isinstance(reader.receive(tampered, NOW), Rejected), i
    assert isinstance(reader.receive(data[:-1], NOW), Rejected)
    assert isinstance(reader.receive(data + b"\x00", NOW), Rejected)
    assert isinstance(reader.receive(data, NOW), Received)


def test_clear_fields_are_bound_to_the_ciphertext(team: list[Party]) -> None:
    """Relabelling an envelope with another epoch (both keys known) does not decrypt."""
    one, key1 = start_epoch(1, team)
    two, _ = start_epoch(2, team)
    reader = ChannelReader(view_for(team[1], (one, team, {}), (two, team, {})))
    data = raw_envelope(team[0].identity, key1, epoch=1)
    envelope = Envelope.decode(data)
    relabelled = Envelope(CHANNEL, 2, envelope.ciphertext).encode()
    assert reader.receive(relabelled, NOW).reason is Rejection.NOT_DECRYPTABLE
    assert check_envelope(relabelled, CHANNEL, {1}) is Rejection.UNKNOWN_EPOCH
    elsewhere = Envelope(hash32(b"other"), 1, envelope.ciphertext).encode()
    assert reader.receive(elsewhere, NOW).reason is Rejection.WRONG_CHANNEL
    assert check_envelope(elsewhere, CHANNEL, {1}) is Rejection.WRONG_CHANNEL
    assert isinstance(reader.receive(data, NOW), Received)


def test_replays_are_rejected(team: list[Party], first: tuple[Rotation, bytes]) -> None:
    rotation, key = first
    reader = ChannelReader(view_for(team[1], (rotation, team, {})), ReaderPolicy(replay_window=8))
    signer = team[0].identity
    messages = {n: raw_envelope(signer, key, sequence=n) for n in (0, 1, 5, 10, 20)}
    assert isinstance(reader.receive(messages[5], NOW), Received)
    assert reader.receive(messages[5], NOW).reason is Rejection.REPLAYED
    # Re-encrypted (new nonce, new bytes): still the same (sender, sequence).
    again = raw_envelope(signer, key, sequence=5, payload=b"other")
    assert again != messages[5]
    assert reader.receive(again, NOW).reason is Rejection.REPLAYED
    # Out of order within the window is fine, once.
    assert isinstance(reader.receive(messages[1], NOW), Received)
    assert reader.receive(messages[1], NOW).reason is Rejection.REPLAYED
    assert isinstance(reader.receive(messages[20], NOW), Received)
    # 0 and 10 are more than 8 below 20: indistinguishable from replays.
    assert reader.receive(messages[10], NOW).reason is Rejection.SEQUENCE_TOO_OLD
    assert reader.receive(messages[0], NOW).reason is Rejection.SEQUENCE_TOO_OLD
    # Another sender's sequences are its own.
    assert isinstance(
        reader.receive(raw_envelope(team[2].identity, key, sequence=5), NOW), Received
    )


def test_replay_state_survives_a_restart(team: list[Party], first: tuple[Rotation, bytes]) -> None:
    rotation, key = first
    view = view_for(team[1], (rotation, team, {}))
    reader = ChannelReader(view)
    old = raw_envelope(team[0].identity, key, sequence=3)
    assert isinstance(reader.receive(old, NOW), Received)
    restarted = ChannelReader(view, resume=reader.high_water())
    assert restarted.receive(old, NOW).reason is Rejection.REPLAYED
    assert isinstance(
        restarted.receive(raw_envelope(team[0].identity, key, sequence=4), NOW), Received
    )


def test_timestamp_window(team: list[Party], first: tuple[Rotation, bytes]) -> None:
    rotation, key = first
    reader = ChannelReader(view_for(team[1], (rotation, team, {})), ReaderPolicy(max_skew=30))
    signer = team[0].identity
    for seq, stamp in enumerate((NOW - 30, NOW + 30)):
        got = reader.receive(raw_envelope(signer, key, sequence=seq, timestamp=stamp), NOW)
        assert isinstance(got, Received)
    for seq, stamp in enumerate((NOW - 31, NOW + 31, 0), start=10):
        got = reader.receive(raw_envelope(signer, key, sequence=seq, timestamp=stamp), NOW)
        assert got.reason is Rejection.TIMESTAMP_OUT_OF_WINDOW
    # A refused message does not burn its sequence: the same one, stamped right, is accepted.
    assert isinstance(reader.receive(raw_envelope(signer, key, sequence=10), NOW), Received)


def test_a_member_cannot_sign_as_another(team: list[Party], first: tuple[Rotation, bytes]) -> None:
    rotation, key = first
    reader = ChannelReader(view_for(team[1], (rotation, team, {})))
    victim, forger = team[0], team[2]
    spoofed = raw_envelope(forger.identity, key, sender=victim.address, sequence=0)
    assert reader.receive(spoofed, NOW).reason is Rejection.BAD_SIGNATURE
    # ...and the failed forgery does not block the victim's real message with that sequence.
    assert isinstance(reader.receive(raw_envelope(victim.identity, key, sequence=0), NOW), Received)
    (outsider,) = parties(1)
    claimed = raw_envelope(outsider.identity, key, sequence=0)
    assert reader.receive(claimed, NOW).reason is Rejection.NOT_A_MEMBER


def test_signature_covers_every_field(team: list[Party], first: tuple[Rotation, bytes]) -> None:
    """An inner message re-encrypted with one field changed fails on the signature."""
    rotation, key = first
    reader = ChannelReader(view_for(team[1], (rotation, team, {})))
    signer = team[0].identity
    statement = signed_statement(CHANNEL, 1, signer.address, 0, NOW, hash32(b"pay"))
    signature = signer.sign(statement)
    changed = [
        SignedMessage(signer.address, 1, NOW, b"pay", signature),
        SignedMessage(signer.address, 0, NOW + 1, b"pay", signature),
        SignedMessage(signer.address, 0, NOW, b"paz", signature),
    ]
    for inner in changed:
        got = reader.receive(seal_inner(inner.encode(), key), NOW)
        assert got.reason is Rejection.BAD_SIGNATURE, inner
    # Signed for epoch 2, sealed in epoch 1.
    other = signed_statement(CHANNEL, 2, signer.address, 0, NOW, hash32(b"pay"))
    inner = SignedMessage(signer.address, 0, NOW, b"pay", signer.sign(other))
    assert reader.receive(seal_inner(inner.encode(), key), NOW).reason is Rejection.BAD_SIGNATURE
    good = SignedMessage(signer.address, 0, NOW, b"pay", signature)
    assert isinstance(reader.receive(seal_inner(good.encode(), key), NOW), Received)


# -- membership changes --


def test_removed_member_cannot_read_later_messages(team: list[Party]) -> None:
    one, key1 = start_epoch(1, team)
    removed, rest = team[9], team[:9]
    two, key2 = start_epoch(2, rest)
    assert key2 != key1
    with pytest.raises(UnsealError, match="no copy"):
        unseal(two, removed.address, removed.box)
    rotated_at = NOW + 10
    sender = rest[0]
    data = ChannelWriter(sender.identity, CHANNEL, 100).encrypt(
        MARKER, epoch_for(sender, two, rest), NOW + 11
    )
    # The removed member's node knows epoch 2 from the chain, but holds no key for it; the
    # epoch-1 key it kept does not open epoch-2 messages, even relabelled as epoch 1.
    stale = ChannelReader(
        view_for(removed, (one, team, {"superseded_at": rotated_at}), (two, rest, {}))
    )
    assert stale.receive(data, NOW + 11).reason is Rejection.NO_EPOCH_KEY
    assert open_envelope(Envelope.decode(data), key1) is None
    relabelled = Envelope(CHANNEL, 1, Envelope.decode(data).ciphertext).encode()
    assert stale.receive(relabelled, NOW + 11).reason is Rejection.NOT_DECRYPTABLE
    # Remaining members read it.
    reader = ChannelReader(
        view_for(rest[1], (one, team, {"superseded_at": rotated_at}), (two, rest, {}))
    )
    assert isinstance(reader.receive(data, NOW + 11), Received)
    # The removed member cannot write in epoch 2 ...
    with pytest.raises(SwarmSendError, match="not a member"):
        ChannelWriter(removed.identity, CHANNEL).encrypt(b"x", epoch_for(removed, two, rest), NOW)
    forged = raw_envelope(removed.identity, key2, epoch=2, timestamp=NOW + 11)
    assert reader.receive(forged, NOW + 11).reason is Rejection.NOT_A_MEMBER
    # ... and in the old epoch only during the grace period (messages in flight).
    grace = reader.policy.grace
    late = raw_envelope(removed.identity, key1, epoch=1, sequence=1, timestamp=NOW + 12)
    assert isinstance(reader.receive(late, NOW + 12), Received)
    later = raw_envelope(removed.identity, key1, epoch=1, sequence=2, timestamp=rotated_at + grace)
    assert reader.receive(later, rotated_at + grace + 1).reason is Rejection.EPOCH_CLOSED
    assert check_envelope(later, CHANNEL, {2}) is Rejection.UNKNOWN_EPOCH


def test_new_member_cannot_read_earlier_messages(team: list[Party]) -> None:
    old_members, newcomer = team[:9], team[9]
    one, _ = start_epoch(1, old_members)
    two, _ = start_epoch(2, team)
    sender = old_members[0]
    before = ChannelWriter(sender.identity, CHANNEL).encrypt(
        MARKER, epoch_for(sender, one, old_members), NOW
    )
    with pytest.raises(UnsealError, match="no copy"):
        unseal(one, newcomer.address, newcomer.box)
    # Whether its view lists epoch 1 (without a key) or starts at epoch 2, it cannot read it.
    with_history = ChannelReader(
        view_for(newcomer, (one, old_members, {"superseded_at": NOW}), (two, team, {}))
    )
    assert with_history.receive(before, NOW).reason is Rejection.NO_EPOCH_KEY
    fresh = ChannelReader(view_for(newcomer, (two, team, {})))
    assert fresh.receive(before, NOW).reason is Rejection.UNKNOWN_EPOCH
    after = ChannelWriter(sender.identity, CHANNEL, 1).encrypt(
        MARKER, epoch_for(sender, two, team), NOW
    )
    assert isinstance(fresh.receive(after, NOW), Received)


def test_update_keeps_windows_of_members_only(team: list[Party]) -> None:
    one, key1 = start_epoch(1, team)
    two, _ = start_epoch(2, team[1:])
    reader = ChannelReader(view_for(team[5], (one, team, {})))
    for p in team[:3]:
        assert isinstance(reader.receive(raw_envelope(p.identity, key1), NOW), Received)
    reader.update(view_for(team[5], (one, team, {"superseded_at": NOW}), (two, team[1:], {})))
    assert set(reader.high_water()) == {p.address for p in team[:3]}
    reader.update(view_for(team[5], (two, team[1:], {})))
    assert set(reader.high_water()) == {p.address for p in team[1:3]}
    with pytest.raises(ValueError, match="one channel"):
        reader.update(ChannelView(hash32(b"other"), ()))


# -- the writer --


def test_writer_refuses_what_it_cannot_send(
    team: list[Party], first: tuple[Rotation, bytes]
) -> None:
    rotation, _ = first
    writer = ChannelWriter(team[0].identity, CHANNEL, next_sequence=41)
    epoch = epoch_for(team[0], rotation, team)
    with pytest.raises(ValueError, match="payload"):
        writer.encrypt(bytes(MAX_PAYLOAD + 1), epoch, NOW)
    keyless = Epoch(1, epoch.members)
    with pytest.raises(SwarmSendError, match="no key"):
        writer.encrypt(b"x", keyless, NOW)
    old = Epoch(1, epoch.members, epoch.key, superseded_at=NOW)
    with pytest.raises(SwarmSendError, match="superseded"):
        writer.encrypt(b"x", old, NOW)
    assert writer.next_sequence == 41
    biggest = writer.encrypt(bytes(MAX_PAYLOAD), epoch, NOW)
    assert writer.next_sequence == 42
    reader = ChannelReader(view_for(team[1], (rotation, team, {})))
    got = reader.receive(biggest, NOW)
    assert isinstance(got, Received)
    assert got.sequence == 41
    assert len(got.payload) == MAX_PAYLOAD


# -- decoders and readers never crash --

fuzz = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_FUZZ_TEAM = parties(3)
_FUZZ_KEY = nacl.utils.random(32)
_FUZZ_EPOCH = Epoch(1, tuple(p.keys for p in _FUZZ_TEAM), _FUZZ_KEY)
_FUZZ_VALID = ChannelWriter(_FUZZ_TEAM[0].identity, CHANNEL).encrypt(MARKER, _FUZZ_EPOCH, NOW)


def _fuzz_reader() -> ChannelReader:
    return ChannelReader(ChannelView(CHANNEL, (_FUZZ_EPOCH,)))


# -- batches: one gossip message carries many envelopes --


def test_batch_round_trip_and_bounds(team: list[Party], first: tuple[Rotation, bytes]) -> None:
    _, key = first
    envelopes = [raw_envelope(team[0].identity, key, sequence=n) for n in range(3)]
    assert decode_batch(encode_batch(envelopes)) == envelopes
    with pytest.raises(ValueError, match="holds 1"):
        encode_batch([])
    with pytest.raises(ValueError, match="holds 1"):
        encode_batch([envelopes[0]] * (MAX_BATCH_ENVELOPES + 1))
    with pytest.raises(ValueError, match="at most"):
        encode_batch([bytes(MAX_ENVELOPE)] * 4)
    refused = [
        encode([]),  # empty
        encode(envelopes[0]),  # not a list
        encode([1]),  # not bytes
        encode([bytes(MAX_ENVELOPE + 1)]),  # one envelope too large
        encode_batch(envelopes) + b"\x00",  # trailing bytes
        bytes(MAX_BATCH + 1),  # too large as a whole
    ]
    for data in refused:
        with pytest.raises(DecodeError):
            decode_batch(data)


def test_check_batch_takes_the_worst_envelope(
    team: list[Party], first: tuple[Rotation, bytes]
) -> None:
    _, key = first
    good = raw_envelope(team[0].identity, key)
    stale = raw_envelope(team[0].identity, key, epoch=2)
    foreign = Envelope(hash32(b"elsewhere"), 1, Envelope.decode(good).ciphertext).encode()
    assert check_batch(encode_batch([good, good]), CHANNEL, {1}) is None
    assert check_batch(encode_batch([good, stale]), CHANNEL, {1}) is Rejection.UNKNOWN_EPOCH
    assert check_batch(encode_batch([stale, foreign]), CHANNEL, {1}) is Rejection.WRONG_CHANNEL
    assert check_batch(encode_batch([good, b"junk"]), CHANNEL, {1}) is Rejection.MALFORMED
    assert check_batch(good, CHANNEL, {1}) is Rejection.MALFORMED  # an envelope, not a batch


@fuzz
@given(st.binary(max_size=2000))
def test_random_bytes_are_rejected_never_raised(data: bytes) -> None:
    reader = _fuzz_reader()
    assert isinstance(reader.receive(data, NOW), Rejected)
    check_envelope(data, CHANNEL, {1})
    check_batch(data, CHANNEL, {1})
    for decoder in (Envelope.decode, SignedMessage.decode, decode_batch):
        with contextlib.suppress(DecodeError):
            decoder(data)


@fuzz
@given(st.data())
def test_mutated_envelopes_are_rejected(data: st.DataObject) -> None:
    reader = _fuzz_reader()
    valid = _FUZZ_VALID
    mutated = bytearray(valid)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["set", "insert", "delete", "truncate"]))
        at = data.draw(st.integers(0, max(len(mutated) - 1, 0)))
        if op == "set" and mutated:
            mutated[at] = data.draw(st.integers(0, 255))
        elif op == "insert":
            mutated[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and mutated:
            del mutated[at]
        else:
            del mutated[at:]
    got = reader.receive(bytes(mutated), NOW)
    if bytes(mutated) == valid:
        assert isinstance(got, Received)
    else:
        assert isinstance(got, Rejected)


@fuzz
@given(st.binary(max_size=400) | st.builds(encode, st.lists(st.binary(max_size=70), max_size=6)))
def test_a_member_sealing_garbage_is_rejected(inner: bytes) -> None:
    """A key holder can seal any bytes at all: they fail as messages, never as exceptions."""
    got = _fuzz_reader().receive(seal_inner(inner, _FUZZ_KEY), NOW)
    assert isinstance(got, Rejected)
    assert got.reason in (Rejection.MALFORMED_INNER, Rejection.NOT_A_MEMBER)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 40), st.lists(st.integers(0, 120), max_size=80))
def test_replay_window_matches_a_model(size: int, sequences: list[int]) -> None:
    window = ReplayWindow(size)
    accepted: set[int] = set()
    for seq in sequences:
        highest = max(accepted, default=-1)
        expected: Rejection | None = None
        # `size` or more below the highest is out of the bitmap, seen or not.
        if seq <= highest - size:
            expected = Rejection.SEQUENCE_TOO_OLD
        elif seq in accepted:
            expected = Rejection.REPLAYED
        assert window.check(seq) is expected, (seq, sorted(accepted))
        if expected is None:
            window.accept(seq)
            accepted.add(seq)
    assert window.highest == max(accepted, default=-1)
    assert window.seen < 1 << size
