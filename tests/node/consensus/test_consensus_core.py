"""The Tendermint rules of `Consensus`, one by one (line numbers: Algorithm 1 of the paper)."""

from __future__ import annotations

from typing import TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st

from core.crypto import SigningKey, hash32
from ledger.consensus_messages import Proposal, Vote, VoteKind
from node.consensus.core import (
    Broadcast,
    Consensus,
    Decide,
    Effect,
    PersistSigner,
    RecordEvidence,
    RequestProposal,
    ScheduleTimeout,
    Step,
    TimeoutConfig,
    TimeoutKind,
    ValidateBlock,
)
from node.consensus.signer import SignerGuard
from node.consensus.validators import ValidatorSet

CHAIN = 7
KEYS = [SigningKey(hash32(b"core %d" % i)) for i in range(4)]
VALIDATORS = ValidatorSet.from_powers({k.pubkey: 1 for k in KEYS})
BY_PUBKEY = {k.pubkey: k for k in KEYS}
A, B = hash32(b"block a"), hash32(b"block b")
E = TypeVar("E")


def proposer_key(round_: int, validators: ValidatorSet = VALIDATORS) -> SigningKey:
    return BY_PUBKEY[validators.proposer(round_)]


def others(*excluded: SigningKey) -> list[SigningKey]:
    return [k for k in KEYS if k not in excluded]


def started(key: SigningKey, height: int = 1) -> tuple[Consensus, list[Effect]]:
    core = Consensus(CHAIN, SignerGuard(key))
    return core, core.start_height(height, VALIDATORS)


def follower(round_: int = 0) -> tuple[Consensus, SigningKey]:
    """A core that is not the proposer of `round_` (nor of round 0), started at height 1."""
    me = next(k for k in KEYS if k not in (proposer_key(0), proposer_key(round_)))
    core, _ = started(me)
    return core, me


def of(effects: list[Effect], kind: type[E]) -> list[E]:
    return [e for e in effects if isinstance(e, kind)]


def sent_votes(effects: list[Effect]) -> list[Vote]:
    return [e.message for e in of(effects, Broadcast) if isinstance(e.message, Vote)]


def vote(
    key: SigningKey, kind: VoteKind, round_: int, block: bytes | None, height: int = 1
) -> Vote:
    return Vote.create(key, CHAIN, kind, height, round_, block)


def feed(core: Consensus, votes: list[Vote]) -> list[Effect]:
    effects: list[Effect] = []
    for v in votes:
        effects += core.on_vote(v)
    return effects


def propose(
    core: Consensus, round_: int, block: bytes, pol: int = -1, valid: bool = True
) -> list[Effect]:
    """Deliver the round's proposal and the driver's validity answer."""
    proposal = Proposal.create(proposer_key(round_), CHAIN, core.height, round_, block, pol)
    effects = core.on_proposal(proposal)
    return effects + core.on_validity(core.height, block, valid)


def to_round(core: Consensus, me: SigningKey, round_: int) -> None:
    """Move through failed rounds by timeouts until `core` is at `round_`."""
    while core.round < round_:
        r = core.round
        core.on_timeout(TimeoutKind.PROPOSE, 1, r)
        feed(core, [vote(k, VoteKind.PREVOTE, r, None) for k in others(me)])
        core.on_timeout(TimeoutKind.PREVOTE, 1, r)
        feed(core, [vote(k, VoteKind.PRECOMMIT, r, None) for k in others(me)])
        core.on_timeout(TimeoutKind.PRECOMMIT, 1, r)


# A lone validator: the dev node


def test_a_single_validator_decides_in_one_call_without_timeouts() -> None:
    key = KEYS[0]
    solo = ValidatorSet.from_powers({key.pubkey: 10})
    core = Consensus(CHAIN, SignerGuard(key))
    assert core.start_height(1, solo) == [RequestProposal(1, 0)]
    effects = core.propose(1, 0, A)
    assert isinstance(effects[0], PersistSigner)
    assert [type(e) for e in effects[1:]] == [Broadcast, Broadcast, Broadcast, Decide]
    assert not of(effects, ScheduleTimeout)
    (decision,) = of(effects, Decide)
    assert (decision.height, decision.round, decision.block_hash) == (1, 0, A)
    decision.certificate.verify(CHAIN, solo.powers)
    assert core.start_height(2, solo.advance()) == [RequestProposal(2, 0)]


def test_a_lone_validator_restarted_before_committing_decides_the_same_block() -> None:
    key = KEYS[0]
    solo = ValidatorSet.from_powers({key.pubkey: 1})
    core = Consensus(CHAIN, SignerGuard(key))
    core.start_height(1, solo)
    persisted = core.propose(1, 0, A)[0]
    assert isinstance(persisted, PersistSigner)
    # The process dies before it commits the block; it comes back with its signer state.
    reborn = Consensus(CHAIN, SignerGuard.from_bytes(key, persisted.state))
    effects = reborn.start_height(1, solo)
    assert ValidateBlock(1, A) in effects
    (decision,) = of(reborn.on_validity(1, A, True), Decide)
    assert (decision.round, decision.block_hash) == (0, A)


def test_a_restarted_lone_validator_stays_locked_on_its_block() -> None:
    """The lock survives the restart, so the driver must keep the bodies of blocks it proposed
    or validated: it will be asked for them again."""
    key = KEYS[0]
    solo = ValidatorSet.from_powers({key.pubkey: 1})
    core = Consensus(CHAIN, SignerGuard(key))
    core.start_height(1, solo)
    persisted = core.propose(1, 0, A)[0]
    reborn = Consensus(CHAIN, SignerGuard.from_bytes(key, persisted.state))
    effects = reborn.start_height(1, solo)
    assert (reborn.locked_round, reborn.locked_hash) == (0, A)
    assert ScheduleTimeout(TimeoutKind.PRECOMMIT, 1, 0, 1000) in effects
    effects = reborn.on_timeout(TimeoutKind.PRECOMMIT, 1, 0)  # the answer is slow in coming
    proposals = [e.message for e in of(effects, Broadcast) if isinstance(e.message, Proposal)]
    assert [(p.round, p.block_hash, p.pol_round) for p in proposals] == [(1, A, 0)]
    assert of(reborn.on_validity(1, A, True), Decide)


# StartRound and the timeouts


def test_timeouts_come_from_config_and_grow_per_round() -> None:
    config = TimeoutConfig()
    assert [config.duration_ms(k, 0) for k in TimeoutKind] == [3000, 1000, 1000]
    assert [config.duration_ms(k, 3) for k in TimeoutKind] == [4500, 2500, 2500]


def test_everyone_waits_for_the_proposal_and_the_proposer_asks_for_a_block() -> None:
    core, effects = started(proposer_key(0))
    assert effects == [RequestProposal(1, 0), ScheduleTimeout(TimeoutKind.PROPOSE, 1, 0, 3000)]
    core, _ = follower()
    assert core.start_height(1, VALIDATORS) == [ScheduleTimeout(TimeoutKind.PROPOSE, 1, 0, 3000)]


def test_no_proposal_before_the_timeout_means_a_nil_prevote() -> None:
    """Line 57."""
    core, _ = follower()
    effects = core.on_timeout(TimeoutKind.PROPOSE, 1, 0)
    assert isinstance(effects[0], PersistSigner)
    assert [(v.kind, v.block_hash) for v in sent_votes(effects)] == [(VoteKind.PREVOTE, None)]
    assert core.step is Step.PREVOTE
    assert core.on_timeout(TimeoutKind.PROPOSE, 1, 0) == []  # stale: nothing twice


def test_stale_timeouts_do_nothing() -> None:
    core, _ = follower()
    assert core.on_timeout(TimeoutKind.PROPOSE, 1, 5) == []
    assert core.on_timeout(TimeoutKind.PREVOTE, 1, 0) == []  # not in the prevote step
    assert core.on_timeout(TimeoutKind.PROPOSE, 2, 0) == []


# Line 22: prevote on a fresh proposal


def test_a_valid_proposal_is_prevoted_after_the_validity_answer() -> None:
    core, _ = follower()
    proposal = Proposal.create(proposer_key(0), CHAIN, 1, 0, A)
    assert core.on_proposal(proposal) == [ValidateBlock(1, A)]
    effects = core.on_validity(1, A, True)
    assert [(v.kind, v.block_hash) for v in sent_votes(effects)] == [(VoteKind.PREVOTE, A)]


def test_an_invalid_proposal_gets_a_nil_prevote() -> None:
    core, _ = follower()
    effects = propose(core, 0, A, valid=False)
    assert [v.block_hash for v in sent_votes(effects)] == [None]


def test_proposals_from_the_wrong_proposer_or_with_bad_signatures_are_ignored() -> None:
    core, me = follower()
    impostor = next(k for k in others(me) if k != proposer_key(0))
    assert core.on_proposal(Proposal.create(impostor, CHAIN, 1, 0, A)) == []
    good = Proposal.create(proposer_key(0), CHAIN, 1, 0, A)
    forged = Proposal(1, 0, B, -1, good.proposer, good.signature)
    assert core.on_proposal(forged) == []
    assert core.step is Step.PROPOSE


# Lines 34, 36, 44, 47: prevote quorums


def test_two_thirds_prevotes_for_the_proposal_lock_and_precommit_it() -> None:
    core, me = follower()
    propose(core, 0, A)
    effects = feed(core, [vote(k, VoteKind.PREVOTE, 0, A) for k in others(me)[:2]])
    assert [(v.kind, v.block_hash) for v in sent_votes(effects)] == [(VoteKind.PRECOMMIT, A)]
    assert (core.locked_round, core.locked_hash) == (0, A)
    assert (core.valid_round, core.valid_hash) == (0, A)
    assert core.step is Step.PRECOMMIT


def test_mixed_prevotes_start_the_prevote_timeout_which_precommits_nil() -> None:
    core, me = follower()
    propose(core, 0, A)
    a, b, _ = others(me)
    effects = feed(core, [vote(a, VoteKind.PREVOTE, 0, B), vote(b, VoteKind.PREVOTE, 0, None)])
    assert of(effects, ScheduleTimeout) == [ScheduleTimeout(TimeoutKind.PREVOTE, 1, 0, 1000)]
    effects = core.on_timeout(TimeoutKind.PREVOTE, 1, 0)
    assert [(v.kind, v.block_hash) for v in sent_votes(effects)] == [(VoteKind.PRECOMMIT, None)]
    assert core.locked_round == -1


def test_two_thirds_nil_prevotes_precommit_nil_at_once() -> None:
    core, me = follower()
    core.on_timeout(TimeoutKind.PROPOSE, 1, 0)
    effects = feed(core, [vote(k, VoteKind.PREVOTE, 0, None) for k in others(me)[:2]])
    assert [(v.kind, v.block_hash) for v in sent_votes(effects)] == [(VoteKind.PRECOMMIT, None)]


def test_two_thirds_precommits_of_any_kind_end_the_round_by_timeout() -> None:
    core, me = follower()
    core.on_timeout(TimeoutKind.PROPOSE, 1, 0)
    a, b, c = others(me)
    effects = feed(
        core,
        [
            vote(a, VoteKind.PRECOMMIT, 0, None),
            vote(b, VoteKind.PRECOMMIT, 0, B),
            vote(c, VoteKind.PRECOMMIT, 0, None),
        ],
    )
    assert ScheduleTimeout(TimeoutKind.PRECOMMIT, 1, 0, 1000) in effects
    effects = core.on_timeout(TimeoutKind.PRECOMMIT, 1, 0)
    assert core.round == 1 and core.step is Step.PROPOSE
    assert of(effects, ScheduleTimeout) == [ScheduleTimeout(TimeoutKind.PROPOSE, 1, 1, 3500)]
    assert of(effects, RequestProposal) == (
        [RequestProposal(1, 1)] if proposer_key(1) == me else []
    )


# Line 49: deciding


def test_two_thirds_precommits_for_a_valid_block_decide_with_a_certificate() -> None:
    core, me = follower()
    precommits = [vote(k, VoteKind.PRECOMMIT, 0, A) for k in others(me)]
    effects = feed(core, precommits)
    assert ValidateBlock(1, A) in effects and not of(effects, Decide)
    effects = core.on_validity(1, A, True)
    (decision,) = of(effects, Decide)
    assert (decision.round, decision.block_hash) == (0, A)
    decision.certificate.verify(CHAIN, VALIDATORS.powers)
    assert core.step is Step.COMMITTED
    assert core.on_vote(vote(me, VoteKind.PREVOTE, 0, A)) == []  # the height is over


def test_a_block_is_decided_from_a_later_round_while_still_in_an_earlier_one() -> None:
    core, me = follower()
    core.on_validity(1, B, True)
    effects = feed(core, [vote(k, VoteKind.PRECOMMIT, 3, B) for k in others(me)])
    (decision,) = of(effects, Decide)
    assert decision.round == 3
    decision.certificate.verify(CHAIN, VALIDATORS.powers)


def test_an_invalid_block_is_never_decided() -> None:
    core, me = follower()
    feed(core, [vote(k, VoteKind.PRECOMMIT, 0, A) for k in others(me)])
    assert not of(core.on_validity(1, A, False), Decide)


# Locking and unlocking (lines 22 and 28)


def locked_on_a(round_: int = 0) -> tuple[Consensus, SigningKey]:
    core, me = follower(round_)
    to_round(core, me, round_)
    propose(core, round_, A)
    feed(core, [vote(k, VoteKind.PREVOTE, round_, A) for k in others(me)[:2]])
    assert (core.locked_round, core.locked_hash) == (round_, A)
    # The round fails all the same: the precommits go nil, the round ends.
    feed(core, [vote(k, VoteKind.PRECOMMIT, round_, None) for k in others(me)])
    core.on_timeout(TimeoutKind.PRECOMMIT, 1, round_)
    return core, me


def test_a_locked_validator_prevotes_nil_for_a_different_fresh_proposal() -> None:
    core, me = locked_on_a()
    if proposer_key(1) == me:
        to_round(core, me, 2)
    effects = propose(core, core.round, B)
    assert [v.block_hash for v in sent_votes(effects)] == [None]
    assert core.locked_hash == A


def test_a_locked_validator_prevotes_its_locked_block_again() -> None:
    core, me = locked_on_a()
    if proposer_key(1) == me:
        to_round(core, me, 2)
    effects = propose(core, core.round, A)
    assert [v.block_hash for v in sent_votes(effects)] == [A]


def test_a_later_proof_of_lock_unlocks() -> None:
    """Line 28: a proposal of B with 2f+1 prevotes for B in a round after the lock."""
    core, me = locked_on_a(0)
    pol = 1
    feed(core, [vote(k, VoteKind.PREVOTE, pol, B) for k in others(me)])
    target = next(r for r in range(2, 10) if proposer_key(r) != me)
    to_round(core, me, target)
    effects = propose(core, target, B, pol=pol)
    assert [v.block_hash for v in sent_votes(effects)] == [B]


def test_an_older_proof_of_lock_does_not_unlock() -> None:
    core, me = follower(1)
    core.on_validity(1, B, True)
    # Round 0: no proposal reaches us, the others prevote B: a POL for B in round 0, no lock.
    core.on_timeout(TimeoutKind.PROPOSE, 1, 0)
    feed(core, [vote(k, VoteKind.PREVOTE, 0, B) for k in others(me)])
    core.on_timeout(TimeoutKind.PREVOTE, 1, 0)
    feed(core, [vote(k, VoteKind.PRECOMMIT, 0, None) for k in others(me)])
    core.on_timeout(TimeoutKind.PRECOMMIT, 1, 0)
    # Round 1: lock on A.
    propose(core, 1, A)
    feed(core, [vote(k, VoteKind.PREVOTE, 1, A) for k in others(me)[:2]])
    assert (core.locked_round, core.locked_hash) == (1, A)
    feed(core, [vote(k, VoteKind.PRECOMMIT, 1, None) for k in others(me)])
    core.on_timeout(TimeoutKind.PRECOMMIT, 1, 1)
    target = next(r for r in range(2, 10) if proposer_key(r) != me)
    to_round(core, me, target)
    effects = propose(core, target, B, pol=0)
    assert [v.block_hash for v in sent_votes(effects)] == [None]


def test_a_proposal_with_a_proof_of_lock_waits_for_the_prevotes() -> None:
    core, me = follower(1)
    core.on_validity(1, B, True)
    to_round(core, me, 1)
    proposal = Proposal.create(proposer_key(1), CHAIN, 1, 1, B, 0)
    assert not sent_votes(core.on_proposal(proposal))
    effects = feed(core, [vote(k, VoteKind.PREVOTE, 0, B) for k in others(me)])
    assert [v.block_hash for v in sent_votes(effects) if v.round == 1] == [B]


def test_a_proof_of_lock_from_the_current_round_is_refused() -> None:
    core, me = follower(1)
    to_round(core, me, 1)
    feed(core, [vote(k, VoteKind.PREVOTE, 1, B) for k in others(me)])
    assert core.on_proposal(Proposal.create(proposer_key(1), CHAIN, 1, 1, B, 1)) == []


def test_a_proposer_re_proposes_its_valid_block_with_the_proof_of_lock() -> None:
    me = proposer_key(1)
    core, _ = started(me)
    if proposer_key(0) == me:
        core.propose(1, 0, A)
    else:
        propose(core, 0, A)
    feed(core, [vote(k, VoteKind.PREVOTE, 0, A) for k in others(me)[:2]])
    feed(core, [vote(k, VoteKind.PRECOMMIT, 0, None) for k in others(me)])
    effects = core.on_timeout(TimeoutKind.PRECOMMIT, 1, 0)
    (proposal,) = [e.message for e in of(effects, Broadcast) if isinstance(e.message, Proposal)]
    assert (proposal.round, proposal.block_hash, proposal.pol_round) == (1, A, 0)
    assert not of(effects, RequestProposal)


# Line 55: round skip


def test_more_than_a_third_in_a_later_round_makes_us_skip_to_it() -> None:
    core, me = follower()
    a, b, _ = others(me)
    core.on_vote(vote(a, VoteKind.PREVOTE, 5, None))
    assert core.round == 0  # one validator (1/4 of the power) is not enough
    core.on_vote(vote(b, VoteKind.PRECOMMIT, 7, None))
    assert core.round == 5 and core.step is Step.PROPOSE


def test_votes_far_ahead_are_held_and_counted_after_the_skip() -> None:
    core, me = follower()
    core.on_validity(1, A, True)
    effects = feed(core, [vote(k, VoteKind.PRECOMMIT, 40, A) for k in others(me)])
    (decision,) = of(effects, Decide)
    assert decision.round == 40


# Bookkeeping: duplicates, equivocation, heights


def test_duplicates_are_ignored_and_equivocation_is_recorded_once() -> None:
    core, me = follower()
    a = others(me)[0]
    first = vote(a, VoteKind.PREVOTE, 0, A)
    core.on_vote(first)
    assert core.on_vote(first) == []
    effects = core.on_vote(vote(a, VoteKind.PREVOTE, 0, B))
    (record,) = of(effects, RecordEvidence)
    record.evidence.verify(CHAIN, set(BY_PUBKEY))
    assert record.evidence.offender == a.pubkey
    assert not of(core.on_vote(vote(a, VoteKind.PREVOTE, 0, None)), RecordEvidence)


def test_a_double_proposal_is_evidence() -> None:
    core, _ = follower()
    core.on_proposal(Proposal.create(proposer_key(0), CHAIN, 1, 0, A))
    effects = core.on_proposal(Proposal.create(proposer_key(0), CHAIN, 1, 0, B))
    (record,) = of(effects, RecordEvidence)
    record.evidence.verify(CHAIN, set(BY_PUBKEY))


def test_an_equivocators_second_vote_counts_for_its_block() -> None:
    """As in the paper, 2f+1 counts senders of votes for v: the honest nodes that counted
    the equivocator's vote for v must be able to convince those that saw its other vote."""
    core, me = follower()
    a, b, c = others(me)
    core.on_validity(1, A, True)
    feed(core, [vote(a, VoteKind.PRECOMMIT, 0, B), vote(b, VoteKind.PRECOMMIT, 0, A)])
    effects = feed(core, [vote(c, VoteKind.PRECOMMIT, 0, A), vote(a, VoteKind.PRECOMMIT, 0, A)])
    assert of(effects, Decide) and of(effects, RecordEvidence)


def test_votes_from_non_validators_and_other_heights_are_ignored() -> None:
    core, _ = follower()
    stranger = SigningKey(hash32(b"stranger"))
    assert core.on_vote(vote(stranger, VoteKind.PREVOTE, 0, A)) == []
    assert core.on_vote(vote(KEYS[0], VoteKind.PREVOTE, 0, A, height=9)) == []


def test_next_height_messages_are_replayed_at_start_height() -> None:
    core, me = follower()
    core.on_validity(1, A, True)
    feed(core, [vote(k, VoteKind.PRECOMMIT, 0, A) for k in others(me)])
    assert core.step is Step.COMMITTED
    early = [vote(k, VoteKind.PRECOMMIT, 0, B, height=2) for k in others(me)]
    assert feed(core, early) == []
    effects = core.start_height(2, VALIDATORS.advance())
    assert ValidateBlock(2, B) in effects
    assert of(core.on_validity(2, B, True), Decide)


def test_rebroadcast_repeats_the_height_and_the_previous_commit() -> None:
    core, me = follower()
    core.on_validity(1, A, True)
    precommits = [vote(k, VoteKind.PRECOMMIT, 0, A) for k in others(me)]
    feed(core, precommits)
    core.start_height(2, VALIDATORS.advance())
    core.on_timeout(TimeoutKind.PROPOSE, 2, 0)
    messages = [e.message for e in core.rebroadcast()]
    assert set(precommits) <= set(messages)
    assert any(m.height == 2 and isinstance(m, Vote) and m.validator == me.pubkey for m in messages)


def test_an_observer_follows_and_decides_without_signing() -> None:
    core = Consensus(CHAIN, None)
    core.start_height(1, VALIDATORS)
    core.on_validity(1, A, True)
    effects = feed(core, [vote(k, VoteKind.PRECOMMIT, 0, A) for k in KEYS[:3]])
    assert of(effects, Decide) and not of(effects, Broadcast) and not of(effects, PersistSigner)


# Restart: the signer state is persisted before anything it signed is sent


def test_persist_comes_before_every_broadcast() -> None:
    core, me = follower()
    effects = propose(core, 0, A) + feed(
        core, [vote(k, VoteKind.PREVOTE, 0, A) for k in others(me)]
    )
    for i, effect in enumerate(effects):
        if isinstance(effect, Broadcast):
            assert any(isinstance(e, PersistSigner) for e in effects[:i])


def test_a_restarted_validator_keeps_its_lock_and_signs_nothing_conflicting() -> None:
    core, me = locked_on_a(0)
    if proposer_key(1) != me:
        propose(core, 1, B)  # prevoted nil: locked on A
    persisted = core.signer.to_bytes()

    reborn = Consensus(CHAIN, SignerGuard.from_bytes(me, persisted))
    effects = reborn.start_height(1, VALIDATORS)
    assert reborn.round == core.round
    assert (reborn.locked_round, reborn.locked_hash) == (0, A)
    # The prevotes behind the lock came back too, and go out again with the round's messages.
    pol = {v for v in (e.message for e in reborn.rebroadcast()) if v.round == 0}
    assert len([v for v in pol if isinstance(v, Vote) and v.block_hash == A]) >= 3
    resent = [e.message for e in of(effects, Broadcast)]
    assert all(m.round == core.round for m in resent)
    # Whatever it now hears, it never signs a second, different message for a slot.
    signed = {(m.round, type(m), getattr(m, "kind", None)): m.block_hash for m in resent}
    effects = propose(reborn, reborn.round, B) if proposer_key(reborn.round) != me else []
    effects += feed(reborn, [vote(k, VoteKind.PREVOTE, reborn.round, B) for k in others(me)])
    for m in (e.message for e in of(effects, Broadcast)):
        slot = (m.round, type(m), getattr(m, "kind", None))
        assert signed.setdefault(slot, m.block_hash) == m.block_hash


# Any input, in any order


inputs = st.lists(
    st.one_of(
        st.tuples(
            st.just("vote"),
            st.integers(0, 3),
            st.sampled_from(VoteKind),
            st.integers(1, 2),
            st.integers(0, 6),
            st.sampled_from((A, B, None)),
        ),
        st.tuples(
            st.just("proposal"),
            st.integers(0, 3),
            st.integers(1, 2),
            st.integers(0, 6),
            st.sampled_from((A, B)),
            st.integers(-1, 2),
        ),
        st.tuples(
            st.just("timeout"), st.sampled_from(TimeoutKind), st.integers(1, 2), st.integers(0, 6)
        ),
        st.tuples(st.just("validity"), st.integers(1, 2), st.sampled_from((A, B)), st.booleans()),
        st.tuples(
            st.just("propose"), st.integers(1, 2), st.integers(0, 6), st.sampled_from((A, B))
        ),
        st.tuples(st.just("next height")),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(inputs)
def test_arbitrary_inputs_never_break_the_rules(steps: list[tuple]) -> None:
    """Whatever arrives, the core never raises, never signs two different messages for one
    slot, keeps validRound >= lockedRound, and decides at most once per height."""
    me = KEYS[0]
    core, effects = started(me)
    signed: dict[tuple, bytes | None] = {}
    decided: dict[int, bytes] = {}
    for step in steps:
        match step:
            case ("vote", who, kind, height, round_, block):
                effects = core.on_vote(vote(KEYS[who], kind, round_, block, height))
            case ("proposal", who, height, round_, block, pol):
                pol = min(pol, round_ - 1)
                effects = core.on_proposal(
                    Proposal.create(KEYS[who], CHAIN, height, round_, block, pol)
                )
            case ("timeout", kind, height, round_):
                effects = core.on_timeout(kind, height, round_)
            case ("validity", height, block, valid):
                effects = core.on_validity(height, block, valid)
            case ("propose", height, round_, block):
                effects = core.propose(height, round_, block)
            case _:
                if core.step is Step.COMMITTED and core.height == 1:
                    effects = core.start_height(2, VALIDATORS.advance())
        for effect in effects:
            if isinstance(effect, Broadcast) and effect.message.height == core.height:
                m = effect.message
                slot = (m.height, m.round, type(m), getattr(m, "kind", None))
                assert signed.setdefault(slot, m.block_hash) == m.block_hash
            if isinstance(effect, Decide):
                assert decided.setdefault(effect.height, effect.block_hash) == effect.block_hash
                effect.certificate.verify(CHAIN, VALIDATORS.powers)
        assert core.valid_round >= core.locked_round
        assert core.locked_round <= core.round
