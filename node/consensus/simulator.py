"""A deterministic network simulator for the consensus core.

N validators each run a `Consensus` behind a tiny driver (the same duties as the node's: persist
the signer state, broadcast, fire timeouts, build and validate blocks, start the next height).
Everything random comes from one seeded `random.Random`, time is a virtual clock, and events are
ordered by (time, sequence number), so a seed replays exactly.

Faults before the global stabilisation time (GST): message delays, drops, duplicates (and so
reordering), a partition into groups, validators that crash (sometimes in the middle of carrying
out a batch of effects) and restart from their persisted signer state, and byzantine validators
that equivocate: they sign a second proposal or vote for another block and show each half of
the network a different one. After GST: no drops, delays at most `delta_ms`, partitions healed,
everyone up.
"""

from __future__ import annotations

import enum
import heapq
import random
from dataclasses import dataclass, field

from core.crypto import SigningKey, hash32
from core.encoding import encode
from ledger.consensus_messages import (
    Evidence,
    Proposal,
    Signed,
    Vote,
    votes_from_certificate,
)
from node.consensus.core import (
    Broadcast,
    Consensus,
    Decide,
    Effect,
    PersistSigner,
    RecordEvidence,
    RequestProposal,
    ScheduleTimeout,
    TimeoutConfig,
    ValidateBlock,
)
from node.consensus.signer import SignerGuard
from node.consensus.validators import ValidatorSet

CHAIN_ID = 7
_KEYS = [SigningKey(hash32(b"simulated validator %d" % i)) for i in range(32)]


@dataclass(frozen=True, slots=True)
class Crash:
    node: int
    at_ms: int
    restart_ms: int
    torn: bool  # the crash cuts the node's next batch of effects short


@dataclass(frozen=True, slots=True)
class Scenario:
    """One simulated run. `Scenario.random(seed)` draws a varied one from a seed."""

    seed: int
    powers: tuple[int, ...]
    heights: int = 3
    byzantine: frozenset[int] = frozenset()
    gst_ms: int = 0
    drop_per_mille: int = 0  # before GST
    duplicate_per_mille: int = 0
    max_delay_ms: int = 100  # before GST
    delta_ms: int = 50  # the delay bound after GST
    partition: tuple[frozenset[int], ...] = ()  # groups that cannot talk before GST
    crashes: tuple[Crash, ...] = ()
    heartbeat_ms: int = 1000
    gossip_always: bool = False  # re-send on every beat, not only when stuck (costs time)
    config: TimeoutConfig = field(default_factory=TimeoutConfig)

    @classmethod
    def random(cls, seed: int) -> Scenario:
        """A scenario with 1-7 validators, weighted powers and any mix of the faults."""
        rng = random.Random(seed)
        n = rng.choice((1, 2, 3, 4, 4, 4, 5, 7))
        powers = tuple(rng.choice((1, 1, 1, 2, 3, 5)) for _ in range(n))
        byzantine = _pick_byzantine(rng, powers) if rng.random() < 0.5 else frozenset()
        honest = [i for i in range(n) if i not in byzantine]
        gst = rng.choice((0, 2_000, 5_000, 10_000))
        partition: tuple[frozenset[int], ...] = ()
        crashes: list[Crash] = []
        if gst:
            if n > 1 and rng.random() < 0.4:
                cut = rng.randrange(1, n)
                order = rng.sample(range(n), n)
                partition = (frozenset(order[:cut]), frozenset(order[cut:]))
            if rng.random() < 0.4:
                node = rng.choice(honest)
                at = rng.randrange(0, gst)
                crashes.append(Crash(node, at, rng.randrange(at, gst + 1), rng.random() < 0.5))
        return cls(
            seed=seed,
            powers=powers,
            heights=rng.choice((2, 3)),
            byzantine=byzantine,
            gst_ms=gst,
            drop_per_mille=rng.choice((0, 50, 200, 500)) if gst else 0,
            duplicate_per_mille=rng.choice((0, 0, 100)),
            max_delay_ms=rng.choice((10, 100, 1000)) if gst else 50,
            partition=partition,
            crashes=tuple(crashes),
        )


def _pick_byzantine(rng: random.Random, powers: tuple[int, ...]) -> frozenset[int]:
    """A random set of validators holding less than 1/3 of the power (possibly empty)."""
    total, chosen, power = sum(powers), set(), 0
    for i in rng.sample(range(len(powers)), len(powers)):
        if 3 * (power + powers[i]) < total:
            chosen.add(i)
            power += powers[i]
    return frozenset(chosen)


@dataclass(slots=True)
class Outcome:
    scenario: Scenario
    honest: frozenset[int]
    decisions: dict[int, dict[int, Decide]]  # node -> height -> decision
    decided_at_ms: dict[int, dict[int, int]]  # node -> height -> virtual time
    evidence: dict[int, list[Evidence]]
    validator_sets: list[ValidatorSet]  # index = height
    pubkeys: tuple[bytes, ...]  # index = node
    end_ms: int
    deliveries: int
    equivocations: int  # conflicting messages the byzantine validators sent

    def conflicts(self) -> list[tuple[int, set[bytes]]]:
        """Heights where honest nodes decided different blocks (must be empty: safety)."""
        found = []
        for height in range(1, self.scenario.heights + 1):
            blocks = {
                self.decisions[i][height].block_hash
                for i in self.honest
                if height in self.decisions[i]
            }
            if len(blocks) > 1:
                found.append((height, blocks))
        return found

    def all_decided(self) -> bool:
        heights = range(1, self.scenario.heights + 1)
        return all(h in self.decisions[i] for i in self.honest for h in heights)


class _Event(enum.IntEnum):
    DELIVER = 0
    TIMEOUT = 1
    VALIDITY = 2
    HEARTBEAT = 3
    START_HEIGHT = 4
    CRASH = 5
    RESTART = 6


@dataclass(frozen=True, slots=True)
class _TimeoutDue:
    epoch: int  # the node's life that set the timer: a restart voids it
    timeout: ScheduleTimeout


@dataclass(frozen=True, slots=True)
class _StartHeight:
    epoch: int
    height: int


@dataclass(slots=True)
class _Node:
    index: int
    key: SigningKey
    core: Consensus
    byzantine: bool
    disk: bytes | None = None  # the persisted signer state
    up: bool = True
    torn_crash: bool = False
    epoch: int = 0  # bumped on restart: timers of a previous life are void
    progress_mark: tuple[int, int, int] = (0, 0, 0)


class Simulation:
    """Runs one scenario to completion or to its deadline."""

    def __init__(self, scenario: Scenario) -> None:
        self.s = scenario
        self.rng = random.Random(scenario.seed)
        n = len(scenario.powers)
        keys = _KEYS[:n]
        first = ValidatorSet.from_powers(
            {k.pubkey: p for k, p in zip(keys, scenario.powers, strict=True)}
        )
        self.validator_sets = [first, first]  # heights 0 and 1
        for _ in range(scenario.heights + 1):
            self.validator_sets.append(self.validator_sets[-1].advance())
        self.nodes = [
            _Node(i, k, self._new_core(k), i in scenario.byzantine) for i, k in enumerate(keys)
        ]
        self.group = {i: g for g, members in enumerate(scenario.partition) for i in members}
        honest = [i for i in range(n) if i not in scenario.byzantine]
        # The honest validators the byzantine ones show their alternative blocks to.
        self.misled = frozenset(self.rng.sample(honest, len(honest) // 2))
        self.blocks: dict[bytes, bool] = {}  # every block hash ever made -> valid?
        self.decisions: dict[int, dict[int, Decide]] = {i: {} for i in range(n)}
        self.decided_at: dict[int, dict[int, int]] = {i: {} for i in range(n)}
        self.evidence: dict[int, list[Evidence]] = {i: [] for i in range(n)}
        self.queue: list[tuple[int, int, _Event, int, object]] = []
        self.now = 0
        self.seq = 0
        self.deliveries = 0
        self.equivocations = 0

    def _new_core(self, key: SigningKey, disk: bytes | None = None) -> Consensus:
        guard = SignerGuard(key) if disk is None else SignerGuard.from_bytes(key, disk)
        return Consensus(CHAIN_ID, guard, self.s.config)

    # Running

    def run(self, deadline_ms: int | None = None) -> Outcome:
        s = self.s
        if deadline_ms is None:
            deadline_ms = s.gst_ms + 120_000 * s.heights
        for node in self.nodes:
            self._push(0, _Event.START_HEIGHT, node.index, _StartHeight(node.epoch, 1))
            self._push(s.heartbeat_ms, _Event.HEARTBEAT, node.index, node.epoch)
        for crash in s.crashes:
            self._push(crash.at_ms, _Event.CRASH, crash.node, crash)
            self._push(crash.restart_ms, _Event.RESTART, crash.node, crash)
        honest = frozenset(i for i in range(len(self.nodes)) if i not in s.byzantine)
        while self.queue:
            time, _, event, index, payload = heapq.heappop(self.queue)
            if time > deadline_ms:
                break
            self.now = time
            self._handle(event, self.nodes[index], payload)
            if event is _Event.START_HEIGHT and all(s.heights in self.decisions[i] for i in honest):
                break
        return Outcome(
            scenario=s,
            honest=honest,
            decisions=self.decisions,
            decided_at_ms=self.decided_at,
            evidence=self.evidence,
            validator_sets=self.validator_sets,
            pubkeys=tuple(node.key.pubkey for node in self.nodes),
            end_ms=self.now,
            deliveries=self.deliveries,
            equivocations=self.equivocations,
        )

    def _push(self, time: int, event: _Event, index: int, payload: object) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (time, self.seq, event, index, payload))

    def _handle(self, event: _Event, node: _Node, payload: object) -> None:
        if event is _Event.CRASH:
            assert isinstance(payload, Crash)
            if payload.torn:
                node.torn_crash = True
            else:
                node.up = False
            return
        if event is _Event.RESTART:
            self._restart(node)
            return
        if not node.up:
            return
        core = node.core
        if event is _Event.DELIVER:
            self.deliveries += 1
            message = payload
            if isinstance(message, Proposal):
                self._execute(node, core.on_proposal(message))
            else:
                assert isinstance(message, Vote)
                self._execute(node, core.on_vote(message))
        elif event is _Event.TIMEOUT:
            assert isinstance(payload, _TimeoutDue)
            timeout = payload.timeout
            if payload.epoch == node.epoch:
                self._execute(node, core.on_timeout(timeout.kind, timeout.height, timeout.round))
        elif event is _Event.VALIDITY:
            assert isinstance(payload, ValidateBlock)
            valid = self.blocks[payload.block_hash]
            self._execute(node, core.on_validity(payload.height, payload.block_hash, valid))
        elif event is _Event.START_HEIGHT:
            assert isinstance(payload, _StartHeight)
            height = payload.height
            if payload.epoch == node.epoch and height <= self.s.heights:
                self._execute(node, core.start_height(height, self.validator_sets[height]))
        elif event is _Event.HEARTBEAT and payload == node.epoch:
            self._heartbeat(node)
            self._push(self.now + self.s.heartbeat_ms, _Event.HEARTBEAT, node.index, node.epoch)

    def _heartbeat(self, node: _Node) -> None:
        """Gossip repair: a node that made no progress since the last beat re-sends what it holds
        and fetches the certificate of its height from a peer that has it (block sync)."""
        core = node.core
        mark = (core.height, core.round, int(core.step))
        stuck, node.progress_mark = mark == node.progress_mark, mark
        if not (stuck or self.s.gossip_always):
            return
        for effect in core.rebroadcast():
            assert isinstance(effect, Broadcast)
            self._send(node, effect.message)
        for peer in self.nodes:
            decided = self.decisions[peer.index].get(core.height)
            if peer is not node and decided and peer.up and self._linked(peer.index, node.index):
                for vote in votes_from_certificate(decided.certificate):
                    self._deliver_later(node.index, vote)
                break

    def _restart(self, node: _Node) -> None:
        node.up = True
        node.torn_crash = False
        node.epoch += 1
        node.core = self._new_core(node.key, node.disk)
        height = max(self.decisions[node.index], default=0) + 1
        node.progress_mark = (0, 0, 0)
        self._push(self.now, _Event.START_HEIGHT, node.index, _StartHeight(node.epoch, height))
        self._push(self.now + self.s.heartbeat_ms, _Event.HEARTBEAT, node.index, node.epoch)

    # The driver: carrying out effects

    def _execute(self, node: _Node, effects: list[Effect]) -> None:
        if node.torn_crash:
            effects = effects[: self.rng.randrange(len(effects) + 1)]
            node.torn_crash = False
            node.up = False
        for effect in effects:
            if isinstance(effect, PersistSigner):
                node.disk = effect.state
            elif isinstance(effect, Broadcast):
                if node.byzantine:
                    self._equivocate(node, effect.message)
                else:
                    self._send(node, effect.message)
            elif isinstance(effect, ScheduleTimeout):
                due = _TimeoutDue(node.epoch, effect)
                self._push(self.now + effect.duration_ms, _Event.TIMEOUT, node.index, due)
            elif isinstance(effect, RequestProposal):
                block = hash32(
                    encode([b"block", self.s.seed, effect.height, effect.round, node.index])
                )
                self.blocks[block] = True
                if node.up:
                    self._execute(node, node.core.propose(effect.height, effect.round, block))
            elif isinstance(effect, ValidateBlock):
                self._push(self.now + self.rng.randrange(20), _Event.VALIDITY, node.index, effect)
            elif isinstance(effect, Decide):
                self.decisions[node.index][effect.height] = effect
                self.decided_at[node.index][effect.height] = self.now
                start = _StartHeight(node.epoch, effect.height + 1)
                self._push(
                    self.now + self.s.config.commit_ms, _Event.START_HEIGHT, node.index, start
                )
            elif isinstance(effect, RecordEvidence):
                self.evidence[node.index].append(effect.evidence)

    # The network

    def _send(self, node: _Node, message: Signed, to: list[int] | None = None) -> None:
        for j in range(len(self.nodes)) if to is None else to:
            if j != node.index:
                self._deliver_later(j, message, node.index)

    def _deliver_later(self, to: int, message: Signed, sender: int | None = None) -> None:
        s, rng = self.s, self.rng
        before_gst = self.now < s.gst_ms
        if before_gst:
            if sender is not None and not self._linked(sender, to):
                return
            if s.drop_per_mille and rng.randrange(1000) < s.drop_per_mille:
                return
        copies = 2 if s.duplicate_per_mille and rng.randrange(1000) < s.duplicate_per_mille else 1
        bound = s.max_delay_ms if before_gst else s.delta_ms
        for _ in range(copies):
            self._push(self.now + 1 + rng.randrange(bound), _Event.DELIVER, to, message)

    def _linked(self, a: int, b: int) -> bool:
        return self.now >= self.s.gst_ms or self.group.get(a) == self.group.get(b)

    def _equivocate(self, node: _Node, message: Signed) -> None:
        """The byzantine validators collude: for each (height, round) they back one alternative
        block, show it to a fixed part of the honest validators and the real message to the
        rest, sometimes both to one peer, and sometimes a vote for a block nobody proposed."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.2:
            self._send(node, message)
            return
        if roll < 0.3:
            alternative = hash32(encode([b"junk", self.s.seed, self.seq]))
            self.blocks[alternative] = False
        else:
            alternative = hash32(encode([b"fork", self.s.seed, message.height, message.round]))
            self.blocks[alternative] = True
        if isinstance(message, Proposal):
            twin: Signed = Proposal.create(
                node.key, CHAIN_ID, message.height, message.round, alternative, message.pol_round
            )
        else:
            target = alternative if message.block_hash != alternative else None
            twin = Vote.create(
                node.key, CHAIN_ID, message.kind, message.height, message.round, target
            )
        self.equivocations += 1
        peers = [j for j in range(len(self.nodes)) if j != node.index]
        self._send(node, message, [j for j in peers if j not in self.misled])
        self._send(node, twin, [j for j in peers if j in self.misled])
        if peers and rng.random() < 0.3:
            both = [rng.choice(peers)]
            self._send(node, message, both)
            self._send(node, twin, both)


def run_seed(seed: int) -> Outcome:
    """Run `Scenario.random(seed)`."""
    return Simulation(Scenario.random(seed)).run()


def main(argv: list[str] | None = None) -> int:
    """`python -m node.consensus.simulator [RUNS] [FIRST_SEED]`: run seeds, print figures."""
    import sys
    import time

    args = sys.argv[1:] if argv is None else argv
    runs = int(args[0]) if args else 1000
    first = int(args[1]) if len(args) > 1 else 0
    started = time.perf_counter()
    forks, stalls, decisions, deliveries, caught, equivocating = [], [], 0, 0, 0, 0
    for seed in range(first, first + runs):
        outcome = run_seed(seed)
        if outcome.conflicts():
            forks.append(seed)
        if not outcome.all_decided():
            stalls.append(seed)
        decisions += sum(len(outcome.decisions[i]) for i in outcome.honest)
        deliveries += outcome.deliveries
        if outcome.equivocations:
            equivocating += 1
            caught += any(outcome.evidence[i] for i in outcome.honest)
    seconds = time.perf_counter() - started
    print(f"{runs} runs in {seconds:.1f} s ({1000 * seconds / runs:.1f} ms/run)")
    print(f"honest decisions {decisions}, messages delivered {deliveries}")
    print(f"equivocating runs {equivocating}, caught in {caught}")
    print(f"forks: {forks or 'none'}; stalled runs: {stalls or 'none'}")
    return 1 if forks or stalls else 0


if __name__ == "__main__":
    raise SystemExit(main())
