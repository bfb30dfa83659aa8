"""Validator sets: integer thresholds and weighted round-robin proposer selection."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.crypto import hash32
from core.errors import DecodeError
from node.consensus.validators import InvalidValidatorSet, ValidatorSet

power_lists = st.lists(st.integers(1, 40), min_size=1, max_size=9)


def keyed(powers: list[int]) -> dict[bytes, int]:
    return {hash32(b"validator %d" % i): p for i, p in enumerate(powers)}


def test_thresholds_are_strict_integer_fractions() -> None:
    vs = ValidatorSet.from_powers(keyed([1, 1, 1]))  # total 3
    assert not vs.is_quorum(2) and vs.is_quorum(3)
    assert not vs.exceeds_one_third(1) and vs.exceeds_one_third(2)
    vs = ValidatorSet.from_powers(keyed([25, 25, 25, 25]))  # total 100
    assert not vs.is_quorum(66) and vs.is_quorum(67)
    assert not vs.exceeds_one_third(33) and vs.exceeds_one_third(34)


@settings(max_examples=60, deadline=None)
@given(power_lists, st.integers(1, 3))
def test_each_validator_proposes_in_proportion_to_power(powers: list[int], laps: int) -> None:
    """Over `laps` windows of total-power rounds (or heights) each proposes power * laps times."""
    vs = ValidatorSet.from_powers(keyed(powers))
    window = vs.total_power * laps
    by_round = Counter(p for p, _ in zip(vs.proposers(), range(window), strict=False))
    by_height, current = Counter(), vs
    for _ in range(window):
        by_height[current.proposer(0)] += 1
        current = current.advance()
    for pubkey, power in keyed(powers).items():
        assert by_round[pubkey] == power * laps
        assert by_height[pubkey] == power * laps


@settings(max_examples=60, deadline=None)
@given(power_lists, st.randoms(use_true_random=False))
def test_selection_does_not_depend_on_listing_order(powers: list[int], rng: random.Random) -> None:
    items = list(keyed(powers).items())
    shuffled = items[:]
    rng.shuffle(shuffled)
    a, b = ValidatorSet.from_powers(dict(items)), ValidatorSet.from_powers(dict(shuffled))
    assert a == b
    assert [p for p, _ in zip(a.proposers(), range(50), strict=False)] == [
        p for p, _ in zip(b.proposers(), range(50), strict=False)
    ]


def test_equal_powers_rotate_in_key_order_and_ties_go_to_the_lower_key() -> None:
    vs = ValidatorSet.from_powers(keyed([1, 1, 1, 1]))
    keys = sorted(keyed([1, 1, 1, 1]))
    assert [vs.proposer(r) for r in range(8)] == keys + keys


def test_proposer_of_round_matches_the_sequence_and_the_next_height() -> None:
    vs = ValidatorSet.from_powers(keyed([3, 1, 2]))
    sequence = [p for p, _ in zip(vs.proposers(), range(10), strict=False)]
    assert [vs.proposer(r) for r in range(10)] == sequence
    assert vs.advance().proposer(0) != vs.proposer(0) or len(set(sequence)) == 1


def test_newcomers_queue_behind_and_removal_works() -> None:
    vs = ValidatorSet.from_powers(keyed([5, 5]))
    newcomer = hash32(b"newcomer")
    grown = vs.updated({newcomer: 10})
    assert grown.total_power == 20 and newcomer in grown
    assert grown.proposer(0) != newcomer  # it starts at the back of the line
    shrunk = grown.updated({newcomer: 0})
    assert newcomer not in shrunk and shrunk.total_power == 10


def test_encoding_round_trips_and_rejects_junk() -> None:
    vs = ValidatorSet.from_powers(keyed([4, 2, 9])).advance().advance()
    assert ValidatorSet.from_bytes(vs.to_bytes()) == vs
    for junk in (b"", b"\x90", b"\x91\x93\x01\x02\x03", b"\x91\x92\xc4\x01a\x01"):
        with pytest.raises(DecodeError):
            ValidatorSet.from_bytes(junk)


@pytest.mark.parametrize("powers", [{}, {b"short": 1}, {hash32(b"x"): 0}, {hash32(b"x"): -3}])
def test_invalid_sets_are_refused(powers: dict[bytes, int]) -> None:
    with pytest.raises(InvalidValidatorSet):
        ValidatorSet.from_powers(powers)
