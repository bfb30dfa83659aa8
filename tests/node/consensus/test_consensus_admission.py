"""Screening gossip before relaying: accept, reject (blame the peer) or ignore."""

from __future__ import annotations

from core.crypto import SigningKey, hash32
from ledger.consensus_messages import Evidence, Proposal, Vote, VoteKind
from node.consensus.admission import Verdict, admit
from node.consensus.validators import ValidatorSet

CHAIN = 7
KEYS = [SigningKey(hash32(b"admission %d" % i)) for i in range(3)]
VALIDATORS = ValidatorSet.from_powers({k.pubkey: 1 for k in KEYS[:2]})
A, B = hash32(b"a"), hash32(b"b")


def verdict(data: bytes, height: int = 5) -> Verdict:
    return admit(data, CHAIN, VALIDATORS, height).verdict


def test_good_messages_are_accepted() -> None:
    assert (
        verdict(Vote.create(KEYS[0], CHAIN, VoteKind.PREVOTE, 5, 0, A).encode()) is Verdict.ACCEPT
    )
    assert verdict(Proposal.create(KEYS[1], CHAIN, 6, 0, A).encode()) is Verdict.ACCEPT
    one = Vote.create(KEYS[0], CHAIN, VoteKind.PRECOMMIT, 4, 1, A)
    two = Vote.create(KEYS[0], CHAIN, VoteKind.PRECOMMIT, 4, 1, B)
    assert verdict(Evidence.of(one, two).encode()) is Verdict.ACCEPT


def test_junk_forgeries_and_strangers_are_rejected() -> None:
    good = Vote.create(KEYS[0], CHAIN, VoteKind.PREVOTE, 5, 0, A)
    forged = Vote(good.kind, 5, 0, B, good.validator, good.signature)
    assert verdict(b"\x00junk") is Verdict.REJECT
    assert verdict(forged.encode()) is Verdict.REJECT
    assert (
        verdict(Vote.create(KEYS[0], CHAIN + 1, VoteKind.PREVOTE, 5, 0, A).encode())
        is Verdict.REJECT
    )
    assert (
        verdict(Vote.create(KEYS[2], CHAIN, VoteKind.PREVOTE, 5, 0, A).encode()) is Verdict.REJECT
    )
    same = Vote.create(KEYS[0], CHAIN, VoteKind.PREVOTE, 5, 0, A)
    assert verdict(Evidence(same, same).encode()) is Verdict.REJECT


def test_other_heights_are_ignored_without_blame() -> None:
    assert (
        verdict(Vote.create(KEYS[0], CHAIN, VoteKind.PREVOTE, 9, 0, A).encode()) is Verdict.IGNORE
    )
    assert (
        verdict(Vote.create(KEYS[2], CHAIN, VoteKind.PREVOTE, 6, 0, A).encode()) is Verdict.IGNORE
    )
