"""Chain parameters (ledger/chain_params.py) and proposal tracks (GovernanceParams.track): their
codecs, bounds, the genesis forms older files used, and each kind's rules."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.encoding import decode, encode
from core.errors import InvalidTransaction
from genesis.dev import dev_genesis
from ledger.chain_params import NAMES, ChainParams, ChainParamsError
from ledger.genesis import Genesis
from ledger.governance.errors import InvalidSpec
from ledger.governance.params import (
    PROTOCOL_THRESHOLD_PPM,
    GovernanceParams,
    ProposalKind,
    Track,
)

chain_params = st.builds(
    ChainParams,
    st.integers(21_000, 2**62),
    st.integers(0, 2**128 - 1),
    st.integers(64 * 1024, 768 * 1024),
    *(st.integers(1, 600_000) for _ in range(3)),
    *(st.integers(0, 600_000) for _ in range(2)),
)


@given(chain_params)
def test_chain_params_round_trip_through_both_forms(rules: ChainParams) -> None:
    assert ChainParams.from_value(decode(encode(rules.to_value()))) == rules
    assert ChainParams.from_json(json.loads(json.dumps(rules.to_json()))) == rules


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ([1, 2, 3], "a list of 8 integers"),
        ([21_000, 0, 65536, 1, 1, 1, 0, "0"], "a list of 8 integers"),
        ([20_999, 0, 65536, 1, 1, 1, 0, 0], "block_gas_limit must be an integer in"),
        ([21_000, 0, 65535, 1, 1, 1, 0, 0], "max_block_bytes must be an integer in"),
        ([21_000, 0, 65536, 0, 1, 1, 0, 0], "timeout_propose_ms must be an integer in"),
    ],
)
def test_bad_chain_params_are_refused_naming_the_parameter(value, says) -> None:
    with pytest.raises(ChainParamsError, match=says):
        ChainParams.from_value(value)
    assert issubclass(ChainParamsError, InvalidTransaction)  # no block includes them


def test_from_json_keeps_the_base_for_missing_names_and_refuses_unknown_ones() -> None:
    base = ChainParams(timeout_commit_ms=300)
    assert ChainParams.from_json({"min_gas_price": "7"}, base) == dataclasses.replace(
        base, min_gas_price=7
    )
    with pytest.raises(ChainParamsError, match="unknown chain parameter 'gas_limit'"):
        ChainParams.from_json({"gas_limit": 1})
    assert set(NAMES) == set(ChainParams().to_json())


def test_genesis_files_of_older_forms_read_into_the_chain_parameters() -> None:
    doc = json.loads(dev_genesis().to_json())
    chain = doc.pop("chain")
    doc["min_gas_price"] = "5"
    doc["consensus"] = {"timeout_commit_ms": 250}
    doc["governance"]["block_gas_limit"] = 7_000_000
    read = Genesis.from_json(json.dumps(doc)).chain
    assert read == dataclasses.replace(
        ChainParams.from_json(chain),
        min_gas_price=5,
        timeout_commit_ms=250,
        block_gas_limit=7_000_000,
    )


# ---- tracks ------------------------------------------------------------------------------------


def test_each_kind_has_a_track_protocol_kinds_a_longer_two_thirds_one() -> None:
    params = GovernanceParams(voting_period=10, enactment_delay=2, threshold_ppm=500_000)
    assert params.track(ProposalKind.CODE) == Track(params.min_deposit, 10, 334_000, 500_000, 2)
    assert params.track(ProposalKind.CHAIN) == Track(
        params.min_deposit, 20, 334_000, PROTOCOL_THRESHOLD_PPM, 4
    )
    assert set(params.track_table()) == {kind.value for kind in ProposalKind}


def test_a_track_of_its_own_overrides_and_round_trips() -> None:
    own = Track(min_deposit=50, voting_period=30, quorum_ppm=500_000, threshold_ppm=750_000,
                enactment_delay=5)  # fmt: skip
    params = GovernanceParams(tracks=((ProposalKind.CHAIN, own),))
    assert params.track(ProposalKind.CHAIN) == own
    assert params.track(ProposalKind.CODE).voting_period == params.voting_period
    assert GovernanceParams.from_value(decode(encode(params.to_value()))) == params
    assert GovernanceParams.from_json(json.loads(json.dumps(params.to_json()))) == params
    partial = GovernanceParams.from_json(
        {"voting_period": 7, "tracks": {"policy": {"quorum_ppm": 1}}}
    )
    assert partial.track(ProposalKind.POLICY) == Track(partial.min_deposit, 7, 1, 500_000, 10)


@pytest.mark.parametrize(
    ("tracks", "says"),
    [
        ({"poll": {}}, "no proposal kind 'poll'"),
        ({"code": {"speed": 1}}, "unknown rule 'speed'"),
        ({"code": {"voting_period": 0}}, "tracks.code.voting_period must be an integer in 1"),
        ({"code": []}, "must be an object of rules"),
    ],
)
def test_bad_tracks_are_refused_naming_the_rule(tracks, says) -> None:
    with pytest.raises(InvalidSpec, match=says):
        GovernanceParams.from_json({"tracks": tracks})


def test_tracks_on_the_wire_are_checked_as_in_genesis() -> None:
    wire = GovernanceParams().to_value()
    wire[-1] = [["code", [1, 2, 3]]]
    with pytest.raises(InvalidTransaction, match="rules are 5 integers"):
        GovernanceParams.from_value(wire)
    wire[-1] = [["chain", [10, 0, 1, 1, 1]], ["code", [10, 0, 1, 1, 1]]]
    with pytest.raises(InvalidTransaction, match="each kind once, in order"):
        GovernanceParams.from_value(wire)
