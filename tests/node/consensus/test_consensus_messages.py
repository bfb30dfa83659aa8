"""Consensus messages: encodings, sign-bytes, decoding of junk, equivocation evidence."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.crypto import SigningKey, hash32
from core.errors import DecodeError
from ledger.block import CommitCertificate, CommitSignature, commit_vote_bytes
from ledger.consensus_messages import (
    MAX_ROUND,
    Evidence,
    InvalidEvidence,
    Proposal,
    Vote,
    VoteKind,
    certificate_from_votes,
    decode_message,
    votes_from_certificate,
)

CHAIN = 7
KEYS = [SigningKey(hash32(b"messages %d" % i)) for i in range(4)]
A, B = hash32(b"block a"), hash32(b"block b")

hashes = st.binary(min_size=32, max_size=32)
heights = st.integers(0, 2**64 - 1)
rounds = st.integers(0, MAX_ROUND)


@st.composite
def votes(draw: st.DrawFn) -> Vote:
    key = draw(st.sampled_from(KEYS))
    kind = draw(st.sampled_from(VoteKind))
    block = draw(st.none() | hashes)
    return Vote.create(key, CHAIN, kind, draw(heights), draw(rounds), block)


@st.composite
def proposals(draw: st.DrawFn) -> Proposal:
    round_ = draw(rounds)
    pol = draw(st.integers(-1, round_ - 1))
    return Proposal.create(
        draw(st.sampled_from(KEYS)), CHAIN, draw(heights), round_, draw(hashes), pol
    )


@settings(max_examples=150, deadline=None)
@given(st.one_of(votes(), proposals()))
def test_round_trip_and_signature(message: Vote | Proposal) -> None:
    assert decode_message(message.encode()) == message
    assert message.verify_signature(CHAIN)
    assert not message.verify_signature(CHAIN + 1)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_decode_error(data: bytes) -> None:
    try:
        message = decode_message(data)
    except DecodeError:
        return
    assert message.encode() == data  # anything accepted is canonical


@settings(max_examples=400, deadline=None)
@given(st.one_of(votes(), proposals()), st.data())
def test_mutated_messages_only_raise_decode_error(
    message: Vote | Proposal, data: st.DataObject
) -> None:
    raw = bytearray(message.encode())
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(("flip", "cut", "insert")))
        at = data.draw(st.integers(0, len(raw) - 1)) if raw else 0
        if action == "flip" and raw:
            raw[at] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del raw[at:]
        else:
            raw.insert(at, data.draw(st.integers(0, 255)))
    try:
        decoded = decode_message(bytes(raw))
    except DecodeError:
        return
    assert decoded.encode() == bytes(raw)


def test_oversize_and_wrong_shapes_are_decode_errors() -> None:
    vote = Vote.create(KEYS[0], CHAIN, VoteKind.PREVOTE, 1, 0, A)
    for bad in (
        vote.encode() + b"\x00",  # trailing byte
        b"\xc4" + b"\xff" * 2000,  # oversize
        Proposal(1, 0, A, 0, KEYS[0].pubkey, bytes(64)).encode(),  # POL round not earlier
        Vote(VoteKind.PREVOTE, 1, 0, b"short", KEYS[0].pubkey, bytes(64)).encode(),
        b"\x93\x09\x01\x02",  # unknown tag
    ):
        with pytest.raises(DecodeError):
            decode_message(bad)


def test_sign_bytes_are_domain_separated_and_precommits_are_certificates() -> None:
    prevote = Vote.sign_bytes_for(CHAIN, VoteKind.PREVOTE, 3, 1, A)
    precommit = Vote.sign_bytes_for(CHAIN, VoteKind.PRECOMMIT, 3, 1, A)
    proposal = Proposal.sign_bytes_for(CHAIN, 3, 1, A, -1)
    nil_precommit = Vote.sign_bytes_for(CHAIN, VoteKind.PRECOMMIT, 3, 1, None)
    assert len({prevote, precommit, proposal, nil_precommit}) == 4
    assert precommit == commit_vote_bytes(CHAIN, 3, 1, A)

    precommits = [Vote.create(k, CHAIN, VoteKind.PRECOMMIT, 3, 1, A) for k in KEYS[:3]]
    certificate = certificate_from_votes(precommits)
    certificate.verify(CHAIN, {k.pubkey: 1 for k in KEYS})
    assert sorted(votes_from_certificate(certificate), key=lambda v: v.validator) == sorted(
        precommits, key=lambda v: v.validator
    )


def test_certificate_votes_verify_as_precommits() -> None:
    sig = CommitSignature(KEYS[1].pubkey, KEYS[1].sign(commit_vote_bytes(CHAIN, 5, 2, B)))
    (vote,) = votes_from_certificate(CommitCertificate(5, 2, B, (sig,)))
    assert vote.kind is VoteKind.PRECOMMIT and vote.verify_signature(CHAIN)


def test_evidence_of_double_vote_verifies_and_round_trips() -> None:
    key = KEYS[2]
    one = Vote.create(key, CHAIN, VoteKind.PREVOTE, 9, 4, A)
    two = Vote.create(key, CHAIN, VoteKind.PREVOTE, 9, 4, None)
    evidence = Evidence.of(two, one)
    assert evidence == Evidence.of(one, two)
    evidence.verify(CHAIN, {key.pubkey})
    assert evidence.offender == key.pubkey
    assert decode_message(evidence.encode()) == evidence


def test_evidence_of_double_proposal_verifies() -> None:
    key = KEYS[0]
    Evidence.of(Proposal.create(key, CHAIN, 2, 0, A), Proposal.create(key, CHAIN, 2, 0, B)).verify(
        CHAIN, {key.pubkey}
    )


@pytest.mark.parametrize(
    ("first", "second", "reason"),
    [
        (
            Vote.create(KEYS[0], CHAIN, VoteKind.PREVOTE, 1, 0, A),
            Vote.create(KEYS[1], CHAIN, VoteKind.PREVOTE, 1, 0, B),
            "different signers",
        ),
        (
            Vote.create(KEYS[0], CHAIN, VoteKind.PREVOTE, 1, 0, A),
            Vote.create(KEYS[0], CHAIN, VoteKind.PRECOMMIT, 1, 0, B),
            "different kinds",
        ),
        (
            Vote.create(KEYS[0], CHAIN, VoteKind.PREVOTE, 1, 0, A),
            Vote.create(KEYS[0], CHAIN, VoteKind.PREVOTE, 1, 1, B),
            "different heights or rounds",
        ),
        (
            Vote.create(KEYS[0], CHAIN, VoteKind.PREVOTE, 1, 0, A),
            Vote(VoteKind.PREVOTE, 1, 0, B, KEYS[0].pubkey, bytes(64)),
            "does not verify",
        ),
    ],
)
def test_evidence_that_proves_nothing_is_refused(first: Vote, second: Vote, reason: str) -> None:
    with pytest.raises(InvalidEvidence, match=reason):
        Evidence.of(first, second).verify(CHAIN, {k.pubkey for k in KEYS})


def test_evidence_against_a_non_validator_is_refused() -> None:
    one = Vote.create(KEYS[3], CHAIN, VoteKind.PREVOTE, 1, 0, A)
    two = Vote.create(KEYS[3], CHAIN, VoteKind.PREVOTE, 1, 0, B)
    with pytest.raises(InvalidEvidence, match="not a validator"):
        Evidence.of(one, two).verify(CHAIN, {KEYS[0].pubkey})
