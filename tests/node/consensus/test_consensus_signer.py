"""The double-sign guard: monotonic (height, round, step), lock memory, persistence."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.crypto import SigningKey, hash32
from core.errors import DecodeError
from ledger.consensus_messages import Proposal, Vote, VoteKind
from node.consensus.signer import SignerGuard, SignStep

CHAIN = 7
KEY = SigningKey(hash32(b"signer"))
A, B = hash32(b"a"), hash32(b"b")


def test_signs_forward_and_refuses_backward() -> None:
    guard = SignerGuard(KEY)
    assert isinstance(guard.sign_proposal(CHAIN, 1, 0, A, -1), Proposal)
    assert isinstance(guard.sign_vote(CHAIN, VoteKind.PREVOTE, 1, 0, A), Vote)
    assert guard.sign_proposal(CHAIN, 1, 0, A, -1) is None  # an earlier step of the round
    assert guard.sign_vote(CHAIN, VoteKind.PRECOMMIT, 1, 0, None) is not None
    assert guard.sign_vote(CHAIN, VoteKind.PREVOTE, 1, 0, A) is None
    assert guard.sign_vote(CHAIN, VoteKind.PREVOTE, 1, 1, B) is not None  # a later round
    assert guard.sign_vote(CHAIN, VoteKind.PREVOTE, 0, 9, B) is None  # an earlier height


def test_the_same_message_again_gets_the_same_signature_a_different_one_none() -> None:
    guard = SignerGuard(KEY)
    first = guard.sign_vote(CHAIN, VoteKind.PREVOTE, 3, 2, A)
    assert guard.sign_vote(CHAIN, VoteKind.PREVOTE, 3, 2, A) == first
    assert guard.sign_vote(CHAIN, VoteKind.PREVOTE, 3, 2, B) is None
    assert guard.sign_vote(CHAIN, VoteKind.PREVOTE, 3, 2, None) is None


def test_the_lock_is_the_latest_block_precommit_of_the_height() -> None:
    guard = SignerGuard(KEY)
    guard.sign_vote(CHAIN, VoteKind.PRECOMMIT, 5, 0, A)
    assert guard.lock_at(5) == (0, A)
    guard.sign_vote(CHAIN, VoteKind.PRECOMMIT, 5, 1, None)  # nil keeps the lock
    assert guard.lock_at(5) == (0, A)
    guard.sign_vote(CHAIN, VoteKind.PRECOMMIT, 5, 2, B)
    assert guard.lock_at(5) == (2, B)
    guard.sign_vote(CHAIN, VoteKind.PREVOTE, 6, 0, A)  # a new height starts unlocked
    assert guard.lock_at(6) is None and guard.lock_at(5) is None


def test_the_lock_keeps_its_proof_of_lock() -> None:
    others = [SigningKey(hash32(b"other %d" % i)) for i in range(2)]
    proof = [Vote.create(k, CHAIN, VoteKind.PREVOTE, 5, 1, A) for k in others]
    guard = SignerGuard(KEY)
    guard.sign_vote(CHAIN, VoteKind.PRECOMMIT, 5, 1, A, proof)
    restored = SignerGuard.from_bytes(KEY, guard.to_bytes())
    assert restored.lock_proof(5) == proof
    restored.sign_vote(CHAIN, VoteKind.PREVOTE, 6, 0, A)
    assert restored.lock_proof(6) == [] and restored.lock_proof(5) == []


def test_state_survives_a_restart() -> None:
    guard = SignerGuard(KEY)
    guard.sign_proposal(CHAIN, 4, 1, A, -1)
    guard.sign_vote(CHAIN, VoteKind.PREVOTE, 4, 1, A)
    guard.sign_vote(CHAIN, VoteKind.PRECOMMIT, 4, 1, A)
    restored = SignerGuard.from_bytes(KEY, guard.to_bytes())
    assert restored.state == guard.state
    assert restored.state.step is SignStep.PRECOMMIT
    assert restored.sign_vote(CHAIN, VoteKind.PRECOMMIT, 4, 1, None) is None
    assert restored.lock_at(4) == (1, A)
    assert [type(m) for m in restored.signed_messages(4)] == [Proposal, Vote, Vote]
    assert restored.signed_messages(5) == []


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_junk_state_is_a_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):  # anything else escaping fails the test
        SignerGuard.from_bytes(KEY, data)


def test_bad_lock_is_refused() -> None:
    good = SignerGuard(KEY)
    good.sign_vote(CHAIN, VoteKind.PRECOMMIT, 1, 0, A)
    raw = bytearray(good.to_bytes())
    at = raw.index(A)
    with pytest.raises(DecodeError):
        SignerGuard.from_bytes(KEY, bytes(raw[: at - 2]) + b"\xc0" + bytes(raw[at + 32 :]))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(0, 3),
            st.sampled_from(("proposal", VoteKind.PREVOTE, VoteKind.PRECOMMIT)),
            st.sampled_from((A, B, None)),
        ),
        max_size=30,
    )
)
def test_never_two_different_signatures_for_one_step(requests: list) -> None:
    """Whatever it is asked, in whatever order, and across restarts, it never equivocates."""
    guard, signed = SignerGuard(KEY), {}
    for i, (height, round_, what, block) in enumerate(requests):
        if what == "proposal":
            message = guard.sign_proposal(CHAIN, height, round_, block or A, -1)
        else:
            message = guard.sign_vote(CHAIN, what, height, round_, block)
        if message is not None:
            slot = (height, round_, what)
            assert signed.setdefault(slot, message.block_hash) == message.block_hash
        if i % 7 == 6:
            guard = SignerGuard.from_bytes(KEY, guard.to_bytes())
