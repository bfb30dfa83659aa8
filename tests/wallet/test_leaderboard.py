"""`aither gov leaderboard` and the score charts of `aither gov export`, without a node: how
votes are counted against outcomes, how versions rank, the archive's rows and the charts."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from avm.assembler import assemble
from avm.code import CodeObject
from avm.gas import CURRENT, ScheduleError, schedule_from_json, schedule_to_json, schedule_with
from avm.metric import GAS_METRIC, Score, measure
from wallet.commands.gov import (
    VersionScore,
    agent_generations,
    generation_rows,
    generation_trend,
    rank_versions,
    render_html,
    reviewer_agreement,
    score_trend,
    vote_agrees,
    vote_summary,
)

AGENT = "0x" + "ab" * 20
OTHER = "0x" + "cd" * 20
V0_IR = """\
:main
  SET x = ARGS[0]
  CALL strategy
  RETURN ACC
:profit
  RETURN 7
.region STRATEGY council
:strategy
  MUL x, 2 -> ACC
  NOP
  NOP
  RET
.test doubles
  entry main
  args 21
  expect 42
.endtest
.endregion
"""
V1_IR = V0_IR.replace("  NOP\n  NOP\n", "")  # the same answer for less gas
V2_IR = V1_IR.replace(":profit\n  RETURN 7\n", "")  # no `profit` entry


def code(ir: str) -> CodeObject:
    return assemble(ir, "agent.air").code


def hex_id(c: CodeObject) -> str:
    return "0x" + c.code_id.hex()


def lineage(*codes: CodeObject) -> list[dict[str, Any]]:
    """Lineage steps as aither_getLineage answers them: a deploy, then council changes."""
    steps: list[dict[str, Any]] = []
    for i, c in enumerate(codes):
        parents = [steps[-1]["codeId"]] if steps else []
        steps.append(
            {
                "kind": "proposal" if i else "deploy",
                "codeId": hex_id(c),
                "parents": parents,
                "region": "STRATEGY" if i else "",
                "parentAgents": [],
            }
        )
    return steps


def member(address: str, accuracy_ppm: int, name: str | None = None) -> dict[str, Any]:
    return {
        "address": address,
        "name": name,
        "role": "SecurityAuditor",
        "roleName": "SecurityAuditor",
        "accuracyPpm": accuracy_ppm,
        "weight": 1000,
        "since": 0,
    }


def proposal(status: str, **choices: str) -> dict[str, Any]:
    votes = [
        {"member": who, "roleName": "", "choice": c, "explanation": ""}
        for who, c in choices.items()
    ]
    return {
        "id": "0x" + "11" * 32,
        "kind": "code",
        "status": status,
        "agent": AGENT,
        "region": "STRATEGY",
        "votes": votes,
    }


# ---- reviewers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "status", "agrees"),
    [
        ("yes", "enacted", True),
        ("yes", "passed", True),
        ("yes", "failed", True),  # it passed the vote; enacting it failed
        ("yes", "rejected", False),
        ("yes", "vetoed", False),
        ("no", "rejected", True),
        ("veto", "vetoed", True),
        ("veto", "rejected", True),
        ("no", "enacted", False),
        ("veto", "passed", False),
    ],
)
def test_a_vote_agrees_when_the_outcome_went_its_way(
    choice: str, status: str, agrees: bool
) -> None:
    assert vote_agrees(choice, status) is agrees


@pytest.mark.parametrize(
    ("choice", "status"),
    [
        ("abstain", "enacted"),
        ("abstain", "rejected"),
        ("yes", "expired"),
        ("no", "cancelled"),
        ("yes", "voting"),
        ("no", "submitted"),
    ],
)
def test_abstentions_and_undecided_proposals_are_not_counted(choice: str, status: str) -> None:
    assert vote_agrees(choice, status) is None


def test_reviewers_rank_by_agreement_then_accuracy() -> None:
    a, b, c, d, gone = (f"0x{n:040x}" for n in range(1, 6))
    members = [
        member(a, 500_000, "a.avm"),
        member(b, 900_000),
        member(c, 600_000),
        member(d, 990_000),
    ]
    proposals = [
        proposal("enacted", **{a: "yes", b: "yes", c: "no", gone: "yes"}),
        proposal("rejected", **{a: "no", b: "yes", c: "veto", d: "abstain"}),
        proposal("vetoed", **{a: "veto", c: "yes"}),
        proposal("expired", **{a: "yes", b: "yes", c: "yes", d: "yes"}),  # not counted
        proposal("cancelled", **{b: "no"}),  # not counted
    ]
    rows = reviewer_agreement(members, proposals)
    got = [(r["address"], r["counted"], r["agreed"], r["agreementPpm"]) for r in rows]
    assert got == [
        (a, 3, 3, 1_000_000),
        (b, 2, 1, 500_000),  # ties with c on agreement: the more accurate first
        (c, 3, 1, 333_333),
        (d, 0, 0, None),  # only an abstention: nothing counted, last
    ]
    assert rows[0]["name"] == "a.avm" and rows[0]["accuracyPpm"] == 500_000  # the member kept
    assert gone not in [r["address"] for r in rows]  # a former member is not listed


def test_equal_agreement_ranks_the_more_accurate_first() -> None:
    a, b = f"0x{1:040x}", f"0x{2:040x}"
    rows = reviewer_agreement(
        [member(a, 100_000), member(b, 700_000)], [proposal("enacted", **{a: "yes", b: "yes"})]
    )
    assert [r["address"] for r in rows] == [b, a]


# ---- versions ------------------------------------------------------------------------------


def test_versions_rank_by_milligas_lower_first_across_agents() -> None:
    v0, v1 = measure(code(V0_IR)), measure(code(V1_IR))
    assert v0.value is not None and v1.value is not None and v1.value < v0.value
    versions = [
        VersionScore(AGENT, 0, "0x00", v0),
        VersionScore(AGENT, 1, "0x01", v1),
        VersionScore(OTHER, 0, "0x02", v0),
    ]
    ranked = rank_versions(versions)
    assert [(v.agent, v.version) for v in ranked] == [(AGENT, 1), (AGENT, 0), (OTHER, 0)]
    assert ranked[0].score.metric == GAS_METRIC and not ranked[0].score.higher_is_better


def test_versions_rank_by_a_label_higher_first_and_those_without_a_value_last() -> None:
    profit = measure(code(V0_IR), "profit")
    richer = Score("profit", 9, True, profit.tests)
    missing = measure(code(V2_IR), "profit")
    assert (profit.value, missing.value) == (7, None)
    versions = [
        VersionScore(AGENT, 0, "0x00", missing),
        VersionScore(AGENT, 1, "0x01", profit),
        VersionScore(OTHER, 0, "0x02", richer),
    ]
    ranked = rank_versions(versions)
    assert [v.score.value for v in ranked] == [9, 7, None]
    assert ranked[-1].score.problem == "the code has no entry profit"
    doc = ranked[-1].to_json(None)
    assert doc["rank"] is None and doc["value"] is None and doc["codeId"] == "0x00"
    assert doc["problem"] == "the code has no entry profit" and doc["higherIsBetter"] is True


# ---- the archive ---------------------------------------------------------------------------


def test_vote_summaries_count_each_choice_in_a_fixed_order() -> None:
    votes = [{"choice": c} for c in ("abstain", "yes", "yes", "veto", "yes", "yes")]
    assert vote_summary(votes) == "4 yes 1 abstain 1 veto"
    assert vote_summary([]) == "no votes"


def test_archive_rows_show_each_generation() -> None:
    records = [
        {
            "agent": AGENT,
            "region": "STRATEGY",
            "generation": 1,
            "source": "model",
            "scoreBefore": 500,
            "scoreAfter": 420,
            "metric": GAS_METRIC,
            "higherIsBetter": False,
            "proposal": "0x" + "5b" * 32,
            "status": "enacted",
            "votes": [
                {"member": "m", "role": "r", "choice": c, "explanation": ""}
                for c in ("yes", "yes", "yes", "yes", "abstain")
            ],
        },
        {
            "agent": AGENT,
            "region": "STRATEGY",
            "generation": 2,
            "source": "mutation",
            "scoreBefore": 420,
            "scoreAfter": 400,
            "metric": GAS_METRIC,
            "proposal": "",
            "status": "",
            "votes": [],
        },
    ]
    rows = generation_rows(records)
    assert [(r["generation"], r["source"], r["scoreBefore"], r["scoreAfter"]) for r in rows] == [
        (1, "model", 500, 420),
        (2, "mutation", 420, 400),
    ]
    assert rows[0]["proposal"] == "0x5b5b5b5b" and rows[0]["status"] == "enacted"
    assert rows[0]["votes"] == "4 yes 1 abstain"
    assert (rows[1]["proposal"], rows[1]["status"], rows[1]["votes"]) == ("-", "-", "no votes")


def test_the_generation_trend_starts_from_the_first_score_before() -> None:
    records = [
        {"generation": 1, "scoreBefore": 500, "scoreAfter": 420},
        {"generation": 2, "scoreBefore": 420, "scoreAfter": None},  # no score: left out
        {"generation": 3, "scoreBefore": 420, "scoreAfter": 380},
    ]
    assert generation_trend(records) == [("start", 500), ("g1", 420), ("g3", 380)]


def test_an_archive_of_another_agent_is_refused() -> None:
    records = [
        {"agent": AGENT.upper().replace("0X", "0x"), "generation": 1},
        {"agent": OTHER, "generation": 1},
    ]
    assert agent_generations(records, AGENT) == records[:1]  # addresses compare in any case
    with pytest.raises(ValueError, match=f"the archive holds no generation of {'0x' + '99' * 20}"):
        agent_generations(records, "0x" + "99" * 20)


# ---- the gas schedule ------------------------------------------------------------------------


def test_the_schedule_in_force_is_read_from_the_nodes_answer() -> None:
    assert schedule_from_json(schedule_to_json(CURRENT)) == CURRENT
    dearer = schedule_with(CURRENT, 2, {"simple": 300})
    assert schedule_from_json(schedule_to_json(dearer)) == dearer
    doc = schedule_to_json(CURRENT)
    del doc["costs"]["simple"]
    with pytest.raises(ScheduleError, match="simple"):
        schedule_from_json(doc)


# ---- the charts ----------------------------------------------------------------------------


def points(page: str, kind: str, field: str) -> list[tuple[str, int]]:
    found = re.findall(rf'class="{kind}-point" data-{field}="(-?\d+)" data-version="([^"]+)"', page)
    return [(label, int(value)) for value, label in found]


def test_the_score_chart_has_one_point_per_version() -> None:
    codes = [code(V0_IR), code(V1_IR), code(V0_IR)]  # the third reverts to the first
    steps = lineage(*codes)
    scores = {hex_id(c): measure(c) for c in codes}
    page = render_html(AGENT, steps, score_trend(steps, scores))
    drawn = points(page, "score", "score")
    assert drawn == [
        (f"v{i} {hex_id(c)[:8]}", scores[hex_id(c)].value) for i, c in enumerate(codes)
    ]
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="score-trend"') == 1
    assert (
        "milligas of each version, measured under the gas schedule in force (lower is better)"
        in page
    )
    assert "Score over generations" not in page  # no archive given
    polyline = re.search(r'class="score-trend".*?<polyline [^>]*points="([^"]+)"', page)
    assert polyline is not None and len(polyline.group(1).split()) == len(codes)


def test_a_version_whose_metric_has_no_value_has_no_point() -> None:
    codes = [code(V0_IR), code(V2_IR)]
    steps = lineage(*codes)
    scores = {hex_id(c): measure(c, "profit") for c in codes}
    page = render_html(AGENT, steps, score_trend(steps, scores))
    assert points(page, "score", "score") == [(f"v0 {hex_id(codes[0])[:8]}", 7)]
    assert "profit of each version, measured under the gas schedule in force (higher is " in page


def test_negative_scores_stay_inside_the_chart() -> None:
    steps = lineage(code(V0_IR), code(V1_IR))
    negative = [Score("pnl", -40, True, ()), Score("pnl", 10, True, ())]
    trend = [(f"v{i}", s) for i, s in enumerate(negative)]
    page = render_html(AGENT, steps, trend)
    ys = [float(y) for y in re.findall(r'class="score-point"[^>]* cy="([-\d.]+)"', page)]
    assert len(ys) == 2 and all(60 <= y <= 200 for y in ys) and ys[0] > ys[1]
    zero = re.search(r'class="score-trend".*?<line x1="60" y1="(\d+)"', page)
    assert zero is not None and ys[1] < int(zero.group(1)) < ys[0]  # the axis at zero, between


def test_the_generations_chart_follows_the_archive() -> None:
    steps = lineage(code(V0_IR))
    records = [
        {
            "agent": AGENT,
            "generation": 1,
            "scoreBefore": 500,
            "scoreAfter": 420,
            "metric": GAS_METRIC,
            "higherIsBetter": False,
        },
        {
            "agent": AGENT,
            "generation": 2,
            "scoreBefore": 420,
            "scoreAfter": 400,
            "metric": GAS_METRIC,
            "higherIsBetter": False,
        },
    ]
    page = render_html(
        AGENT, steps, score_trend(steps, {hex_id(code(V0_IR)): measure(code(V0_IR))}), records
    )
    assert "<h2>Score over generations</h2>" in page
    assert points(page, "generation", "score") == [("start", 500), ("g1", 420), ("g2", 400)]
    classes = re.findall(r'<svg xmlns="http://www.w3.org/2000/svg" class="([a-z-]+)"', page)
    assert classes == ["lineage", "score-trend", "generation-trend"]  # no gas figures: no gas chart
    caption = "milligas before the first generation, then of each generation's candidate"
    assert html.escape(caption) + " (lower is better)" in page
