"""A "gas" proposal read from its shadow replay: the JSON the node serves, parsed and analyzed.

The summaries are the ledger's own (`ledger.governance.shadow.summarize` and `to_json`), so the
council reads exactly what `aither_getProposal` would serve.
"""

from __future__ import annotations

import json

import pytest

from council.analysis import REVIEW_ROLES, Severity, analyze
from council.llm import MAX_SHADOW_LINES, build_messages
from council.proposal import Proposal, ProposalFormatError, ShadowSummary
from ledger.governance.params import Role
from ledger.governance.payloads import Choice
from ledger.governance.shadow import ShadowDiff, summarize

PID = "0x" + "cd" * 32
OUT_OF_GAS = "out of gas: 1200 milligas needed, 1000 left"


def replayed(gas: list[tuple[int, int]], fails: int = 0) -> dict[str, object]:
    """The JSON summary of replaying blocks 90..99: one transaction per (before, after) pair,
    the first `fails` of which succeeded before and fail now."""
    txs = [
        ShadowDiff(
            90 + i % 10,
            bytes([i + 1]) * 32,
            True,
            i >= fails,
            before,
            after,
            "" if i >= fails else OUT_OF_GAS,
        )
        for i, (before, after) in enumerate(gas)
    ]
    return summarize(90, 99, txs).to_json()


def gas_proposal(shadow: object = None, *, with_field: bool = True) -> Proposal:
    obj: dict[str, object] = {
        "id": PID,
        "kind": "gas",
        "status": "voting",
        "agent": None,
        "region": "",
        "rationale": "price storage by what it costs",
        "oldIr": "",
        "newIr": "",
        "tests": "",
        "gasSchedule": {"version": 2, "costs": {"KV_STORE": 1200, "SHA256": [3, 2]}},
        "chainParams": None,
        "sandbox": [],
        "votes": [],
    }
    if with_field:
        obj["shadow"] = shadow
    return Proposal.from_json(obj)


OUTCOME_CHANGED = replayed(10 * [(1000, 1000)], fails=1)
PLUS_30 = replayed(10 * [(1000, 1300)])
PLUS_10 = replayed(10 * [(1000, 1100)])
MINUS_10 = replayed(10 * [(1000, 900)])

# -- parsing -------------------------------------------------------------------------------------


def test_a_shadow_summary_is_parsed_into_its_fields() -> None:
    p = gas_proposal(OUTCOME_CHANGED)
    assert p.kind == "gas"
    s = p.shadow
    assert isinstance(s, ShadowSummary)
    assert (s.first_block, s.last_block, s.transactions) == (90, 99, 10)
    assert (s.outcome_changes, s.gas_changes, s.gas_before, s.gas_after) == (1, 0, 10000, 10000)
    (changed,) = s.diffs
    assert changed.tx == "0x" + "01" * 32 and changed.block == 90
    assert changed.ok_before and not changed.ok_after and changed.outcome_changed
    assert changed.error == OUT_OF_GAS


def test_a_gas_only_diff_has_no_error_text() -> None:
    s = gas_proposal(PLUS_10).shadow
    assert s is not None and len(s.diffs) == 10
    assert all(d.error == "" and not d.outcome_changed for d in s.diffs)


def test_a_null_or_missing_shadow_is_none() -> None:
    assert gas_proposal(None).shadow is None
    assert gas_proposal(with_field=False).shadow is None


def _broken(**fields: object) -> dict[str, object]:
    return {**PLUS_10, **fields}


def _broken_diff(**fields: object) -> dict[str, object]:
    diffs = PLUS_10["diffs"]
    assert isinstance(diffs, list)
    return {**PLUS_10, "diffs": [{**diffs[0], **fields}]}


@pytest.mark.parametrize(
    ("shadow", "message"),
    [
        ([1, 2], "shadow must be an object or null"),
        ({k: v for k, v in PLUS_10.items() if k != "gasAfter"}, "shadow gasAfter must be a non-"),
        (_broken(transactions="ten"), "shadow transactions must be an integer"),
        (_broken(outcomeChanges=-1), "shadow outcomeChanges must be a non-negative integer"),
        (_broken(firstBlock=True), "shadow firstBlock must be an integer"),
        (_broken(diffs={}), "shadow diffs must be a list"),
        (_broken(diffs=["0x12"]), "shadow diffs: each entry is an object"),
        (_broken_diff(tx="0x12"), "shadow diffs: tx '0x12' is not 0x-hex of 32 bytes"),
        (_broken_diff(okAfter="yes"), "okAfter must be true or false"),
        (_broken_diff(gasBefore=1.5), "gasBefore must be an integer"),
        (_broken_diff(error=7), "error must be text or null"),
    ],
)
def test_a_malformed_shadow_is_refused_naming_the_field(shadow: object, message: str) -> None:
    with pytest.raises(ProposalFormatError, match=message) as caught:
        gas_proposal(shadow)
    assert PID in str(caught.value)


def test_hex_quantities_are_read_like_the_sandbox_figures() -> None:
    s = gas_proposal(_broken(gasBefore="0x2710")).shadow
    assert s is not None and s.gas_before == 10000


# -- each role's vote ----------------------------------------------------------------------------

YES, ABSTAIN, NO = Choice.YES, Choice.ABSTAIN, Choice.NO
OTHERS = [r for r in REVIEW_ROLES if r not in (Role.REGRESSION_HUNTER, Role.LATENCY_PROFILER)]


@pytest.mark.parametrize(
    ("shadow", "regression", "latency", "others"),
    [
        pytest.param(OUTCOME_CHANGED, NO, YES, YES, id="outcome-changes"),
        pytest.param(PLUS_30, YES, NO, YES, id="gas+30%"),
        pytest.param(PLUS_10, YES, ABSTAIN, YES, id="gas+10%"),
        pytest.param(MINUS_10, YES, YES, YES, id="gas-10%"),
        pytest.param(None, ABSTAIN, ABSTAIN, ABSTAIN, id="no-shadow"),
    ],
)
def test_each_role_votes_on_the_shadow_replay(
    shadow: dict[str, object] | None, regression: Choice, latency: Choice, others: Choice
) -> None:
    p = gas_proposal(shadow)
    expected = {Role.REGRESSION_HUNTER: regression, Role.LATENCY_PROFILER: latency}
    for role in REVIEW_ROLES:
        result = analyze(role, p)
        assert result.choice is expected.get(role, others), result.explanation
        if shadow is not None:
            assert "the shadow replay of blocks 90..99 (10 transactions)" in result.explanation


def test_an_outcome_change_names_the_first_changed_transaction() -> None:
    result = analyze(Role.REGRESSION_HUNTER, gas_proposal(OUTCOME_CHANGED))
    assert [f.code for f in result.findings] == ["shadow-outcome-changed"]
    assert result.worst is Severity.HIGH
    assert (
        f"1 transactions change outcome; first: tx 0x{'01' * 32} in block 90 succeeded and now "
        f"fails ({OUT_OF_GAS})" in result.explanation
    )


def test_a_transaction_that_now_succeeds_is_an_outcome_change_too() -> None:
    txs = [ShadowDiff(95, b"\x07" * 32, False, True, 500, 400, "")]
    result = analyze(Role.REGRESSION_HUNTER, gas_proposal(summarize(95, 95, txs).to_json()))
    assert result.choice is Choice.NO
    assert f"tx 0x{'07' * 32} in block 95 failed and now succeeds" in result.explanation


def test_no_outcome_change_is_said_with_the_counts() -> None:
    result = analyze(Role.REGRESSION_HUNTER, gas_proposal(PLUS_10))
    assert "no outcome changes; 10 gas changes" in result.explanation


def test_latency_weighs_the_total_gas_delta() -> None:
    rise = analyze(Role.LATENCY_PROFILER, gas_proposal(PLUS_30))
    assert "gas rises, 10000 -> 13000 milligas (+30.0%); 10 transactions change gas" in (
        rise.explanation
    )
    assert f"largest: tx 0x{'01' * 32} in block 90 1000 -> 1300 (+30.0%)" in rise.explanation
    assert rise.worst is Severity.HIGH
    assert analyze(Role.LATENCY_PROFILER, gas_proposal(PLUS_10)).worst is Severity.MEDIUM
    fall = analyze(Role.LATENCY_PROFILER, gas_proposal(MINUS_10))
    assert "gas falls, 10000 -> 9000 milligas (-10.0%)" in fall.explanation
    assert fall.worst is Severity.INFO


@pytest.mark.parametrize(
    ("after", "severity"),
    [
        (1050, Severity.INFO),
        (1051, Severity.MEDIUM),
        (1200, Severity.MEDIUM),
        (1201, Severity.HIGH),
    ],
)
def test_latency_thresholds_are_exact_in_integers(after: int, severity: Severity) -> None:
    result = analyze(Role.LATENCY_PROFILER, gas_proposal(replayed([(1000, after)])))
    assert result.worst is severity, result.explanation


def test_an_empty_replay_is_no_evidence_for_the_regression_hunter() -> None:
    empty = gas_proposal(summarize(0, 0, []).to_json())
    hunter = analyze(Role.REGRESSION_HUNTER, empty)
    assert hunter.choice is Choice.ABSTAIN
    assert "blocks 0..0 had no transaction" in hunter.explanation
    assert analyze(Role.LATENCY_PROFILER, empty).choice is Choice.YES


def test_other_roles_note_the_replay_as_a_protocol_change() -> None:
    result = analyze(Role.SECURITY_AUDITOR, gas_proposal(OUTCOME_CHANGED))
    assert result.choice is Choice.YES
    assert (
        "protocol change, no IR: the shadow replay of blocks 90..99 (10 transactions) shows "
        "1 outcome changes and 0 gas changes, gas 10000 -> 10000 milligas" in result.explanation
    )


def test_a_gas_proposal_before_its_replay_asks_for_judgment() -> None:
    result = analyze(Role.LATENCY_PROFILER, gas_proposal(None))
    assert [f.code for f in result.findings] == ["no-code"]
    assert "gas proposal carries no IR to analyze and no shadow replay yet" in result.explanation


def test_the_model_reads_the_replay_bounded_and_as_data() -> None:
    summary = replayed(40 * [(1000, 1300)], fails=2)
    p = gas_proposal(summary)
    system, user = build_messages(Role.REGRESSION_HUNTER, p, analyze(Role.REGRESSION_HUNTER, p))
    assert "a new AVM gas schedule" in str(system["content"])
    lines = str(user["content"]).splitlines()
    at = lines.index("--- shadow replay of blocks 90..99 under the new schedule ---")
    assert lines[at + 1].startswith("40 transactions, 2 outcome changes, 38 gas changes")
    quoted = json.loads(lines[at + 2])
    assert len(quoted) == MAX_SHADOW_LINES and [d["okAfter"] for d in quoted[:2]] == [False] * 2
    assert quoted[0]["error"] == OUT_OF_GAS
    plain = gas_proposal(None)  # no replay yet: nothing quoted
    _, user = build_messages(Role.REGRESSION_HUNTER, plain, analyze(Role.REGRESSION_HUNTER, plain))
    assert "--- shadow replay" not in str(user["content"])
