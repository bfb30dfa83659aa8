"""Safety and liveness of the consensus core in the deterministic network simulator."""

from __future__ import annotations

import time

import pytest

from core.errors import InvalidBlock
from ledger.block import CommitCertificate
from node.consensus.core import TimeoutKind
from node.consensus.simulator import CHAIN_ID, Crash, Outcome, Scenario, Simulation, run_seed

RUNS = 2000


def height_bound_ms(outcome: Outcome, decided_round: int) -> int:
    """How long a height may take once the network is synchronous (after GST).

    Every failed round after GST is one led by a byzantine proposer or one that started before
    the nodes caught up with each other, so (byzantine count + 2) full rounds suffice, plus the
    commit wait and one gossip beat to repair what was dropped before GST.
    """
    s = outcome.scenario
    round_ms = sum(s.config.duration_ms(k, decided_round) for k in TimeoutKind) + 4 * s.delta_ms
    return s.config.commit_ms + s.heartbeat_ms + (len(s.byzantine) + 2) * round_ms


def check_run(outcome: Outcome) -> None:
    s = outcome.scenario
    byzantine_keys = {outcome.pubkeys[i] for i in s.byzantine}
    # Safety: no two honest nodes decide different blocks at a height.
    assert outcome.conflicts() == [], f"seed {s.seed}: fork"
    # Liveness: after GST every honest node decides every height within the bound.
    assert outcome.all_decided(), f"seed {s.seed}: stalled"
    certificates: set[tuple[int, CommitCertificate]] = set()
    for node in outcome.honest:
        previous = 0
        for height in range(1, s.heights + 1):
            decision = outcome.decisions[node][height]
            at = outcome.decided_at_ms[node][height]
            took = at - max(previous, s.gst_ms)
            assert took <= height_bound_ms(outcome, decision.round), f"seed {s.seed}: slow"
            previous = at
            certificates.add((height, decision.certificate))
        # Evidence is sound: it verifies and names a byzantine validator, never an honest one.
        for evidence in outcome.evidence[node]:
            evidence.verify(CHAIN_ID, set(outcome.validator_sets[1].powers))
            assert evidence.offender in byzantine_keys, f"seed {s.seed}: honest accused"
    # Certificates are what the ledger checks, with the ledger's own verifier.
    for height, certificate in certificates:
        certificate.verify(CHAIN_ID, outcome.validator_sets[height].powers)


def test_thousands_of_seeded_runs_are_safe_and_live() -> None:
    started = time.process_time()
    equivocating_runs = runs_with_evidence = decisions = 0
    for seed in range(RUNS):
        outcome = run_seed(seed)
        check_run(outcome)
        decisions += sum(len(outcome.decisions[i]) for i in outcome.honest)
        if outcome.equivocations:
            equivocating_runs += 1
            runs_with_evidence += any(outcome.evidence[i] for i in outcome.honest)
    elapsed = time.process_time() - started
    # Equivocations are caught in most runs (not all: a conflicting vote for an unknown block
    # that reaches no honest node beside its twin proves nothing to anyone).
    assert equivocating_runs > RUNS // 5
    assert runs_with_evidence * 2 > equivocating_runs
    assert decisions > RUNS * 5
    assert elapsed < 45, f"{RUNS} runs took {elapsed:.1f} s of CPU"


@pytest.mark.parametrize(
    "seed",
    [
        103429,  # a restarted validator whose lock nobody followed: its POL is now persisted
    ],
)
def test_seeds_that_once_failed(seed: int) -> None:
    check_run(run_seed(seed))


def test_a_seed_replays_exactly() -> None:
    one, two = run_seed(1234), run_seed(1234)
    assert one.decisions == two.decisions
    assert (one.deliveries, one.end_ms) == (two.deliveries, two.end_ms)


@pytest.mark.parametrize("seed", range(20))
def test_an_equivocating_validator_is_caught(seed: int) -> None:
    scenario = Scenario(
        seed=seed,
        powers=(1, 1, 1, 1),
        heights=4,
        byzantine=frozenset({seed % 4}),
        gossip_always=True,
    )
    outcome = Simulation(scenario).run()
    check_run(outcome)
    assert outcome.equivocations > 0


def test_equivocators_are_caught_in_most_runs() -> None:
    caught = 0
    for seed in range(20):
        s = Scenario(seed=seed, powers=(1, 1, 1, 1), heights=4, byzantine=frozenset({seed % 4}))
        outcome = Simulation(s).run()
        caught += any(outcome.evidence[i] for i in outcome.honest)
    assert caught >= 15


def test_two_of_four_down_halts_without_forking_and_resumes() -> None:
    back = 20_000
    scenario = Scenario(
        seed=5,
        powers=(1, 1, 1, 1),
        heights=3,
        gst_ms=back,
        crashes=(Crash(1, 0, back, False), Crash(2, 0, back, False)),
    )
    outcome = Simulation(scenario).run()
    check_run(outcome)
    assert all(t >= back for node in outcome.decided_at_ms.values() for t in node.values())


def test_a_minority_partition_catches_up_after_healing() -> None:
    scenario = Scenario(
        seed=9,
        powers=(1, 1, 1, 1),
        heights=4,
        gst_ms=15_000,
        partition=(frozenset({0}), frozenset({1, 2, 3})),
    )
    outcome = Simulation(scenario).run()
    check_run(outcome)
    majority_done = max(outcome.decided_at_ms[1].values())
    assert majority_done < scenario.gst_ms  # the majority did not wait for the minority
    assert min(outcome.decided_at_ms[0].values()) >= scenario.gst_ms


def test_a_forged_certificate_would_be_caught() -> None:
    """The check in `check_run` has teeth: a certificate missing a quorum fails to verify."""
    outcome = run_seed(3)
    node = min(outcome.honest)
    certificate = outcome.decisions[node][1].certificate
    if len(certificate.signatures) > 1:
        weak = type(certificate)(
            certificate.height,
            certificate.round,
            certificate.block_hash,
            certificate.signatures[:1],
        )
        with pytest.raises(InvalidBlock):
            weak.verify(CHAIN_ID, outcome.validator_sets[1].powers)


def test_the_same_adversary_forks_a_network_where_it_holds_half_the_power() -> None:
    """The safety check has teeth: past the f < n/3 bound the colluding equivocators win."""
    forked = 0
    for seed in range(100):
        scenario = Scenario(seed=seed, powers=(1, 1, 1, 1), byzantine=frozenset({0, 1}))
        forked += bool(Simulation(scenario).run(deadline_ms=60_000).conflicts())
    assert forked > 0
