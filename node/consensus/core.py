"""Tendermint consensus as a pure state machine (Algorithm 1 of "The latest gossip on BFT
consensus", Buchman, Kwon and Milosevic, 2018).

`Consensus` holds the paper's state (height, round, step, lockedValue/Round, validValue/Round)
and one method per kind of input: a proposal, a vote, a timeout, a block-validity answer, the
block this node proposes. Each returns the effects the driver must carry out, in order. The core
does no I/O, reads no clock and draws no random numbers, so a simulator and the real node run
the same code. The `upon` rules of the paper are the `_rule_*` methods; line numbers refer to
Algorithm 1.

Values are block hashes. "valid(v)" is the driver's answer to `ValidateBlock` (it holds the
block body, gossiped beside the proposal, and checks it against its parent); the core waits for
that answer where the paper evaluates valid(v).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

from ledger.block import CommitCertificate
from ledger.consensus_messages import (
    NIL_ROUND,
    Evidence,
    Proposal,
    Signed,
    Vote,
    VoteKind,
    certificate_from_votes,
)
from node.consensus.signer import SignerGuard, SignStep
from node.consensus.validators import ValidatorSet

# Messages kept per validator for a round beyond the next one, and for the next height.
_AHEAD_PER_VALIDATOR = 3
_NEXT_HEIGHT_PER_VALIDATOR = 8
# Distinct proposals kept per round: more only come from an equivocating proposer.
_PROPOSALS_PER_ROUND = 4


class Step(enum.IntEnum):
    PROPOSE = 0
    PREVOTE = 1
    PRECOMMIT = 2
    COMMITTED = 3  # decided; waiting for the driver to start the next height


class TimeoutKind(enum.Enum):
    PROPOSE = "propose"
    PREVOTE = "prevote"
    PRECOMMIT = "precommit"


@dataclass(frozen=True, slots=True)
class TimeoutConfig:
    """Timeouts in milliseconds; each grows by `delta_ms` per round so rounds outgrow delays.

    `commit_ms` is the driver's wait between a decision and the next height (to collect
    late precommits and transactions); the core does not use it.
    """

    propose_ms: int = 3000
    prevote_ms: int = 1000
    precommit_ms: int = 1000
    delta_ms: int = 500
    commit_ms: int = 1000

    def duration_ms(self, kind: TimeoutKind, round_: int) -> int:
        base = {
            TimeoutKind.PROPOSE: self.propose_ms,
            TimeoutKind.PREVOTE: self.prevote_ms,
            TimeoutKind.PRECOMMIT: self.precommit_ms,
        }[kind]
        return base + self.delta_ms * round_


# Effects: what the driver does, in the order returned.


@dataclass(frozen=True, slots=True)
class PersistSigner:
    """Write the signer state durably before carrying out any later effect of the batch."""

    state: bytes


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Send to every validator (gossip). For a proposal, also make its block body available."""

    message: Signed


@dataclass(frozen=True, slots=True)
class ScheduleTimeout:
    """Call `on_timeout(kind, height, round)` after `duration_ms` (stale timeouts are no-ops)."""

    kind: TimeoutKind
    height: int
    round: int
    duration_ms: int


@dataclass(frozen=True, slots=True)
class RequestProposal:
    """This node proposes at (height, round): build a block and call `propose` with its hash."""

    height: int
    round: int


@dataclass(frozen=True, slots=True)
class ValidateBlock:
    """Get the block with this hash (from the proposal's gossip or from a peer), check it against
    its parent and call `on_validity`. Asked once per hash and height."""

    height: int
    block_hash: bytes


@dataclass(frozen=True, slots=True)
class Decide:
    """The block is final: apply it, store the certificate, then `start_height(height + 1)`."""

    height: int
    round: int
    block_hash: bytes
    certificate: CommitCertificate


@dataclass(frozen=True, slots=True)
class RecordEvidence:
    """A validator equivocated: keep the proof (for a later block and for operators)."""

    evidence: Evidence


Effect = (
    PersistSigner
    | Broadcast
    | ScheduleTimeout
    | RequestProposal
    | ValidateBlock
    | Decide
    | RecordEvidence
)


class _VoteSet:
    """The votes of one (round, kind), tallied per block hash.

    As in the paper, "2f+1 PREVOTE for id(v)" counts distinct senders of a vote for v, so an
    equivocator's second vote counts for its block too (the gossip of the nodes that counted it
    must be able to convince the others). `first` holds each validator's first vote, which
    alone counts towards "2f+1 of any".
    """

    __slots__ = ("by_hash", "first", "power", "total")

    def __init__(self) -> None:
        self.first: dict[bytes, Vote] = {}
        self.by_hash: dict[bytes | None, dict[bytes, Vote]] = {}
        self.power: dict[bytes | None, int] = {}
        self.total = 0

    def has(self, vote: Vote) -> bool:
        return self.by_hash.get(vote.block_hash, {}).get(vote.validator) == vote

    def supported(self, block_hash: bytes | None) -> bool:
        """Nil, or a block some validator voted for first-hand."""
        return block_hash is None or bool(self.by_hash.get(block_hash))

    def add(self, vote: Vote, power: int, count_conflict: bool) -> Vote | None:
        """Count `vote`; return the validator's earlier, different vote if there is one.

        A conflicting vote is counted for its block only if `count_conflict`: the caller allows
        it for blocks that are proposed or voted by others, so junk cannot grow memory.
        """
        earlier = self.first.get(vote.validator)
        if earlier is None:
            self.first[vote.validator] = vote
            self.total += power
        elif vote.validator in self.by_hash.get(vote.block_hash, {}):
            return None  # another signature of a vote already counted: nothing new
        elif not count_conflict:
            return earlier
        self.by_hash.setdefault(vote.block_hash, {})[vote.validator] = vote
        self.power[vote.block_hash] = self.power.get(vote.block_hash, 0) + power
        return earlier

    def all_votes(self) -> list[Vote]:
        return [votes[v] for h in self.by_hash for votes in (self.by_hash[h],) for v in votes]


class Consensus:
    """One validator's (or observer's, with `signer=None`) Tendermint state machine."""

    def __init__(
        self, chain_id: int, signer: SignerGuard | None, config: TimeoutConfig | None = None
    ) -> None:
        self.chain_id = chain_id
        self.signer = signer
        self.config = config or TimeoutConfig()
        self.height = 0
        self.round = 0
        self.step = Step.COMMITTED  # nothing to do until start_height
        self.locked_round = NIL_ROUND
        self.locked_hash: bytes | None = None
        self.valid_round = NIL_ROUND
        self.valid_hash: bytes | None = None
        self.decision: Decide | None = None
        self.validators: ValidatorSet | None = None
        self._last_commit: tuple[Signed, ...] = ()
        self._next_height: dict[tuple[bytes, int, int], Signed] = {}
        self._out: list[Effect] = []
        self._reset_height_state()

    def _reset_height_state(self) -> None:
        # round -> block hash -> proposal, in arrival order; more than one only if the
        # proposer equivocated (kept, bounded, because others may have prevoted either).
        self._proposals: dict[int, dict[bytes, Proposal]] = {}
        self._proposed: set[bytes] = set()
        self._votes: dict[tuple[int, VoteKind], _VoteSet] = {}
        self._precommit_quorums: dict[int, bytes] = {}  # round -> block with 2/3+ precommits
        self._validity: dict[bytes, bool] = {}
        self._asked: set[bytes] = set()
        self._locked_in: set[int] = set()  # rounds where line 36 has fired
        self._prevote_timeouts: set[int] = set()
        self._precommit_timeouts: set[int] = set()
        self._latest_round: dict[bytes, int] = {}  # highest round each validator spoke in
        self._ahead: dict[bytes, list[Signed]] = {}  # messages of rounds beyond round + 1
        self._skip_pending = False
        self._evidence_slots: set[tuple[bytes, int, int]] = set()
        self._proposers: list[bytes] = []
        self._proposer_iter: Iterator[bytes] | None = None

    # Inputs

    def start_height(self, height: int, validators: ValidatorSet) -> list[Effect]:
        """Start deciding `height` with `validators` (from genesis or after applying height-1).

        A restarted validator resumes at the round and lock its signer state remembers.
        """
        self._begin()
        decided = self.decision
        self._last_commit = (
            self._commit_messages(decided) if decided and decided.height == height - 1 else ()
        )
        self.height = height
        self.validators = validators
        self.decision = None
        self._reset_height_state()
        self._proposer_iter = validators.proposers()
        self.locked_round, self.locked_hash = NIL_ROUND, None
        self.valid_round, self.valid_hash = NIL_ROUND, None
        first_round = 0
        if self.signer is not None and self.signer.state.height == height:
            first_round = self.signer.state.round
            lock = self.signer.lock_at(height)
            if lock is not None:
                self.locked_round, self.locked_hash = lock
                self.valid_round, self.valid_hash = lock
                for prevote in self.signer.lock_proof(height):
                    self._store(prevote)  # so the re-proposal of the lock carries its POL
        buffered = [m for m in self._next_height.values() if m.height == height]
        self._next_height = {}
        self._start_round(first_round)
        if self.signer is not None:
            self._resend_signed(self.signer.signed_messages(height))
        for message in sorted(buffered, key=_message_order):
            self._receive(message)
        self._progress()
        return self._end()

    def propose(self, height: int, round_: int, block_hash: bytes) -> list[Effect]:
        """Answer a `RequestProposal`: the hash of the block this node built (valid by making)."""
        self._begin()
        if (
            (height, round_) == (self.height, self.round)
            and self.step is Step.PROPOSE
            and self._is_me(self._proposer(round_))
            and not self._proposals.get(round_)
        ):
            self._validity[block_hash] = True
            self._send_proposal(block_hash, NIL_ROUND)  # `_may_propose` held: it signs
            self._progress()
        return self._end()

    def on_proposal(self, proposal: Proposal) -> list[Effect]:
        """A proposal from the network (unverified: the core checks signer and signature)."""
        self._begin()
        if self._receive(proposal):
            self._progress()
        return self._end()

    def on_vote(self, vote: Vote) -> list[Effect]:
        """A prevote or precommit from the network (unverified), or one from a certificate."""
        self._begin()
        if self._receive(vote):
            self._progress()
        return self._end()

    def on_validity(self, height: int, block_hash: bytes, valid: bool) -> list[Effect]:
        """The driver's answer to `ValidateBlock`: is the block a valid successor of its parent."""
        self._begin()
        if height == self.height and block_hash not in self._validity:
            self._validity[block_hash] = valid
            self._progress()
        return self._end()

    def on_timeout(self, kind: TimeoutKind, height: int, round_: int) -> list[Effect]:
        """A timeout scheduled earlier has expired (lines 57-66)."""
        self._begin()
        if height == self.height and round_ == self.round:
            if kind is TimeoutKind.PROPOSE and self.step is Step.PROPOSE:
                self._vote(VoteKind.PREVOTE, None)
                self.step = Step.PREVOTE
            elif kind is TimeoutKind.PREVOTE and self.step is Step.PREVOTE:
                self._vote(VoteKind.PRECOMMIT, None)
                self.step = Step.PRECOMMIT
            elif kind is TimeoutKind.PRECOMMIT and self.step is not Step.COMMITTED:
                self._start_round(round_ + 1)
            self._progress()
        return self._end()

    def rebroadcast(self) -> list[Effect]:
        """Every message held for this height, and the commit of the previous one.

        The paper assumes gossip: what one honest node received, all eventually receive. The
        driver calls this periodically (a gossip heartbeat) so drops and late joiners heal.
        """
        messages: list[Signed] = list(self._last_commit)
        for round_ in sorted(self._proposals):
            messages.extend(self._proposals[round_].values())
        for key in sorted(self._votes):
            messages.extend(self._votes[key].all_votes())
        return [Broadcast(m) for m in messages]

    # The rules (Algorithm 1)

    def _start_round(self, round_: int) -> None:
        """StartRound (line 11)."""
        self.round = round_
        self.step = Step.PROPOSE
        for validator in sorted(self._ahead):
            messages = self._ahead[validator]
            if messages[0].round <= round_ + 1:
                del self._ahead[validator]
                for message in messages:
                    self._store(message)
        assert self.validators is not None
        # Everyone waits for the proposal, the proposer too (a slow block builder, or a POL it
        # lost in a restart, must not hold the round); only a lone validator has nobody to
        # wait for, which keeps the dev node free of timers.
        waits = len(self.validators) > 1
        if not self._is_me(self._proposer(round_)):
            waits = True
        elif self.valid_hash is not None:
            waits |= not self._send_proposal(self.valid_hash, self.valid_round)
        elif self._may_propose():
            self._out.append(RequestProposal(self.height, round_))
        else:
            waits = True
        if waits:
            self._schedule(TimeoutKind.PROPOSE)

    def _resend_signed(self, messages: list[Signed]) -> None:
        """After a restart: count and re-send what this key signed in the round it resumes,
        and take up the step it had reached."""
        for message in messages:
            if message.round != self.round:
                continue
            self._broadcast(message)
            if isinstance(message, Vote):
                step = Step.PREVOTE if message.kind is VoteKind.PREVOTE else Step.PRECOMMIT
                self.step = max(self.step, step)

    def _may_propose(self) -> bool:
        """False after a restart into a round whose proposal step this key already passed."""
        assert self.signer is not None
        s = self.signer.state
        return (s.height, s.round, s.step) < (self.height, self.round, SignStep.PROPOSE)

    def _send_proposal(self, block_hash: bytes, pol_round: int) -> bool:
        """Sign and broadcast; False if the guard refuses (after a restart)."""
        proposal = self._sign_proposal(block_hash, pol_round)
        if proposal is not None:
            self._broadcast(proposal)
        return proposal is not None

    def _progress(self) -> None:
        """Fire every rule whose condition holds until none does.

        Rules that make progress go before the ones that only schedule timeouts, so a lone
        validator goes from proposal to decision in one call without scheduling any.
        """
        while self.step is not Step.COMMITTED:
            if self._rule_decide():
                return
            fired = (
                self._rule_skip_round()
                or (self.step is Step.PROPOSE and self._rule_prevote_proposal())
                or (self.step >= Step.PREVOTE and self._rule_lock())
                or (self.step is Step.PREVOTE and self._rule_precommit_nil())
            )
            if not fired:
                self._rule_schedule_timeouts()
                return

    def _rule_decide(self) -> bool:
        """Line 49: 2f+1 precommits for a valid block in any round of this height decide it."""
        for round_ in sorted(self._precommit_quorums):
            block_hash = self._precommit_quorums[round_]
            if self._valid(block_hash):
                precommits = self._precommits_for(round_, block_hash)
                certificate = certificate_from_votes(precommits)
                self.decision = Decide(self.height, round_, block_hash, certificate)
                self.step = Step.COMMITTED
                self._out.append(self.decision)
                return True
        return False

    def _rule_skip_round(self) -> bool:
        """Line 55: f+1 validators in later rounds mean an honest one is there: follow it.

        Counted as the highest round R such that validators whose latest message is at round R
        or later hold more than 1/3 of the power; this keeps one number per validator.
        """
        if not self._skip_pending:
            return False
        self._skip_pending = False
        assert self.validators is not None
        power = 0
        for round_, validator in sorted(
            ((r, v) for v, r in self._latest_round.items()), reverse=True
        ):
            if round_ <= self.round:
                return False
            power += self.validators.power_of(validator)
            if self.validators.exceeds_one_third(power):
                self._start_round(round_)
                return True
        return False

    def _rule_prevote_proposal(self) -> bool:
        """Lines 22 and 28: prevote the round's proposal if valid and lock-compatible, else nil.

        Proposals are taken in arrival order (more than one only from an equivocating
        proposer); the first whose rule applies decides the prevote.
        """
        for proposal in self._proposals.get(self.round, {}).values():
            block, pol = proposal.block_hash, proposal.pol_round
            if pol != NIL_ROUND and not self._has_quorum(pol, VoteKind.PREVOTE, block):
                continue
            valid = self._valid(block)
            if valid is None:
                return False  # wait for the driver's answer (the propose timeout bounds it)
            if pol == NIL_ROUND:
                free = self.locked_round == NIL_ROUND or self.locked_hash == block
            else:
                free = self.locked_round <= pol or self.locked_hash == block
            self._vote(VoteKind.PREVOTE, block if valid and free else None)
            self.step = Step.PREVOTE
            return True
        return False

    def _rule_lock(self) -> bool:
        """Line 36: a proposal with 2f+1 prevotes in this round: lock on it and precommit it
        (while still in prevote), and remember it as the valid value either way."""
        if self.round in self._locked_in:
            return False
        proposal = next(
            (
                p
                for p in self._proposals.get(self.round, {}).values()
                if self._has_quorum(self.round, VoteKind.PREVOTE, p.block_hash)
            ),
            None,
        )
        if proposal is None or self._valid(proposal.block_hash) is not True:
            return False
        self._locked_in.add(self.round)
        if self.step is Step.PREVOTE:
            self.locked_round, self.locked_hash = self.round, proposal.block_hash
            proof = self._votes[(self.round, VoteKind.PREVOTE)].by_hash[proposal.block_hash]
            self._vote(VoteKind.PRECOMMIT, proposal.block_hash, tuple(proof.values()))
            self.step = Step.PRECOMMIT
        self.valid_round, self.valid_hash = self.round, proposal.block_hash
        return True

    def _rule_precommit_nil(self) -> bool:
        """Line 44: 2f+1 prevotes for nil: precommit nil."""
        if not self._has_quorum(self.round, VoteKind.PREVOTE, None):
            return False
        self._vote(VoteKind.PRECOMMIT, None)
        self.step = Step.PRECOMMIT
        return True

    def _rule_schedule_timeouts(self) -> None:
        """Lines 34 and 47: 2f+1 votes of any kind start the prevote / precommit timeout."""
        assert self.validators is not None
        r = self.round
        prevotes = self._votes.get((r, VoteKind.PREVOTE))
        if (
            self.step is Step.PREVOTE
            and r not in self._prevote_timeouts
            and prevotes is not None
            and self.validators.is_quorum(prevotes.total)
        ):
            self._prevote_timeouts.add(r)
            self._schedule(TimeoutKind.PREVOTE)
        precommits = self._votes.get((r, VoteKind.PRECOMMIT))
        if (
            r not in self._precommit_timeouts
            and precommits is not None
            and self.validators.is_quorum(precommits.total)
        ):
            self._precommit_timeouts.add(r)
            self._schedule(TimeoutKind.PRECOMMIT)

    # Receiving

    def _receive(self, message: Signed) -> bool:
        """Check and store a message; True if it may change what the rules do."""
        if self.validators is None:
            return False
        if message.height == self.height + 1:
            if message.verify_signature(self.chain_id):
                self._buffer_next_height(message)
            return False
        if message.height != self.height or self.step is Step.COMMITTED:
            return False
        if isinstance(message, Proposal) and not NIL_ROUND <= message.pol_round < message.round:
            return False  # a proof of lock must come from an earlier round (line 28)
        signer = _signer(message)
        if signer not in self.validators or self._is_duplicate(message):
            return False
        if not message.verify_signature(self.chain_id):
            return False
        if message.round > self.round + 1:
            self._hold_ahead(signer, message)
        else:
            self._store(message)
        if message.round > self.round:
            self._skip_pending = True
        return True

    def _store(self, message: Signed) -> None:
        """Count a verified message of this height and a round no later than the next."""
        signer = _signer(message)
        if message.round > self._latest_round.get(signer, -1):
            self._latest_round[signer] = message.round
        if isinstance(message, Proposal):
            if signer != self._proposer(message.round):
                return
            proposals = self._proposals.setdefault(message.round, {})
            if message.block_hash in proposals:
                return  # another signature of a proposal already held
            if proposals:
                held = next(iter(proposals.values()))
                self._record_evidence(held, message, 0)
                if len(proposals) >= _PROPOSALS_PER_ROUND:
                    return
            proposals[message.block_hash] = message
            self._proposed.add(message.block_hash)
            self._valid(message.block_hash)  # ask for the block's validity early
            return
        assert self.validators is not None
        key = (message.round, message.kind)
        votes = self._votes.get(key)
        if votes is None:
            votes = self._votes[key] = _VoteSet()
        block = message.block_hash
        countable = votes.supported(block) or block in self._proposed
        earlier = votes.add(message, self.validators.power_of(signer), countable)
        if earlier is not None:
            self._record_evidence(earlier, message, int(message.kind))
        if (
            message.kind is VoteKind.PRECOMMIT
            and block is not None
            and self.validators.is_quorum(votes.power.get(block, 0))
        ):
            self._precommit_quorums.setdefault(message.round, block)

    def _is_duplicate(self, message: Signed) -> bool:
        if isinstance(message, Proposal):
            return self._proposals.get(message.round, {}).get(message.block_hash) == message
        votes = self._votes.get((message.round, message.kind))
        return votes is not None and votes.has(message)

    def _hold_ahead(self, signer: bytes, message: Signed) -> None:
        # Only the latest round each validator spoke in is kept: memory stays bounded whatever
        # rounds a faulty validator invents, and line 55 needs no more.
        self._latest_round[signer] = max(self._latest_round.get(signer, -1), message.round)
        held = self._ahead.get(signer)
        if held is None or held[0].round < message.round:
            self._ahead[signer] = [message]
        elif (
            held[0].round == message.round
            and message not in held
            and len(held) < _AHEAD_PER_VALIDATOR
        ):
            held.append(message)

    def _buffer_next_height(self, message: Signed) -> None:
        # The next height's validators are not known yet; assume today's (they change only by
        # governance) and keep a few messages each, to replay at start_height.
        assert self.validators is not None
        signer = _signer(message)
        if signer not in self.validators:
            return
        key = (signer, message.round, int(getattr(message, "kind", 0)))
        if key in self._next_height:
            return
        if sum(1 for k in self._next_height if k[0] == signer) >= _NEXT_HEIGHT_PER_VALIDATOR:
            return
        self._next_height[key] = message

    def _record_evidence(self, earlier: Signed, later: Signed, kind: int) -> None:
        slot = (_signer(later), later.round, kind)
        if slot not in self._evidence_slots:
            self._evidence_slots.add(slot)
            self._out.append(RecordEvidence(Evidence.of(earlier, later)))

    # Helpers

    def _begin(self) -> None:
        self._out = []
        self._signer_before = None if self.signer is None else self.signer.state

    def _end(self) -> list[Effect]:
        out, self._out = self._out, []
        if self.signer is not None and self.signer.state != self._signer_before:
            # One write covers every signature of the batch; it must land before any send.
            out.insert(0, PersistSigner(self.signer.to_bytes()))
        return out

    def _commit_messages(self, decided: Decide) -> tuple[Signed, ...]:
        """The proposal and precommits that decided: what a peer one height behind needs."""
        proposal = self._proposals.get(decided.round, {}).get(decided.block_hash)
        precommits = self._precommits_for(decided.round, decided.block_hash)
        return (proposal, *precommits) if proposal else tuple(precommits)

    def _proposer(self, round_: int) -> bytes:
        assert self._proposer_iter is not None
        while len(self._proposers) <= round_:
            self._proposers.append(next(self._proposer_iter))
        return self._proposers[round_]

    def _is_me(self, pubkey: bytes) -> bool:
        return self.signer is not None and self.signer.pubkey == pubkey

    def _valid(self, block_hash: bytes) -> bool | None:
        """valid(v) if the driver has answered; otherwise ask it (once) and return None."""
        valid = self._validity.get(block_hash)
        if valid is None and block_hash not in self._asked:
            self._asked.add(block_hash)
            self._out.append(ValidateBlock(self.height, block_hash))
        return valid

    def _has_quorum(self, round_: int, kind: VoteKind, block_hash: bytes | None) -> bool:
        assert self.validators is not None
        votes = self._votes.get((round_, kind))
        return votes is not None and self.validators.is_quorum(votes.power.get(block_hash, 0))

    def _precommits_for(self, round_: int, block_hash: bytes) -> list[Vote]:
        votes = self._votes.get((round_, VoteKind.PRECOMMIT))
        return [] if votes is None else list(votes.by_hash.get(block_hash, {}).values())

    def _schedule(self, kind: TimeoutKind) -> None:
        duration = self.config.duration_ms(kind, self.round)
        self._out.append(ScheduleTimeout(kind, self.height, self.round, duration))

    def _sign_proposal(self, block_hash: bytes, pol_round: int) -> Proposal | None:
        assert self.signer is not None
        return self.signer.sign_proposal(
            self.chain_id, self.height, self.round, block_hash, pol_round
        )

    def _vote(self, kind: VoteKind, block_hash: bytes | None, proof: tuple[Vote, ...] = ()) -> None:
        """Sign and broadcast a vote; an observer, or a guard that refuses, stays silent."""
        signer, validators = self.signer, self.validators
        if signer is None or validators is None or signer.pubkey not in validators:
            return
        vote = signer.sign_vote(self.chain_id, kind, self.height, self.round, block_hash, proof)
        if vote is not None:
            self._broadcast(vote)

    def _broadcast(self, message: Signed) -> None:
        self._out.append(Broadcast(message))
        self._store(message)  # the paper's broadcast includes delivery to oneself


def _signer(message: Signed) -> bytes:
    return message.proposer if isinstance(message, Proposal) else message.validator


def _message_order(message: Signed) -> tuple[int, int, bytes]:
    return message.round, int(getattr(message, "kind", 0)), _signer(message)
