"""`aither gov leaderboard` and `aither gov export`'s score chart against a live dev node.

An agent is deployed with a council region that wastes gas; `aither wallet propose` files a
cheaper body, the council (dev accounts 5-9) votes with `aither wallet vote`: three yes, one no,
one abstention; transfers drive the blocks until the change is enacted. The leaderboard must then
rank the new version above the old by milligas and count each member's agreement with the
outcome, and the exported page must draw one score point per version.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from programs import doubler

from avm.metric import GAS_METRIC, measure
from avm.validation import decode_code
from core.crypto import to_checksum_address
from genesis.dev import dev_key

if TYPE_CHECKING:
    from conftest import DevNode, WaitUntil

Run = Callable[..., subprocess.CompletedProcess[str]]

AGENT_IR = doubler(":strategy\n  MUL x, 2 -> ACC\n  NOP\n  NOP\n  NOP\n  RET\n")
CHEAPER = ":strategy\n  MUL x, 2 -> ACC\n  RET\n"  # the same answer without the NOPs
CHOICES = {5: "yes", 6: "yes", 8: "yes", 7: "no", 9: "abstain"}  # yes carries the weight
ENACT_TIMEOUT = 120.0  # seconds: the voting period and enactment delay, a transfer a block


def address(index: int) -> str:
    return to_checksum_address(dev_key(index).address)


def test_the_leaderboard_ranks_an_enacted_change_and_the_councils_agreement(
    dev_node: DevNode, run_aither: Run, wait_until: WaitUntil, tmp_path: Path
) -> None:
    node = dev_node
    rpc = ("--rpc", node.url)

    def cli_json(*args: str) -> dict:
        done = run_aither(*args, *rpc, "--json")
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
        return json.loads(done.stdout)

    # ---- one change, enacted by the council --------------------------------------------------
    (tmp_path / "agent.air").write_text(AGENT_IR)
    agent = str(
        cli_json("wallet", "deploy", str(tmp_path / "agent.air"), "--dev-account", "0")["agent"]
    )
    (tmp_path / "cheaper.air").write_text(CHEAPER)
    filed = cli_json(
        "wallet",
        "propose",
        agent,
        "STRATEGY",
        str(tmp_path / "cheaper.air"),
        "--rationale",
        "drop the NOPs",
        "--dev-account",
        "1",
    )
    assert filed["status"] == "ok", filed
    pid = str(filed["proposal"])
    for member, choice in CHOICES.items():
        voted = cli_json(
            "wallet",
            "vote",
            pid,
            choice,
            "--why",
            f"{choice}: read the diff",
            "--dev-account",
            str(member),
        )
        assert voted["status"] == "ok" and voted["choice"] == choice, voted

    def enacted() -> bool:
        """True once the proposal is enacted; until then one more block (a transfer)."""
        if node.rpc("aither_getProposal", pid)["status"] == "enacted":
            return True
        assert node.transfer(dev_key(3), dev_key(4).address, 1)["status"] == "0x1"
        return False

    wait_until(enacted, ENACT_TIMEOUT, f"proposal {pid} enacted\n{node.log_tail()}")
    steps = node.rpc("aither_getLineage", agent)
    assert [s["kind"] for s in steps] == ["deploy", "proposal"], steps
    old, new = (s["codeId"] for s in steps)

    def milligas(code_id: str) -> int:
        """What the CLI must report: the version's tests' milligas, measured here."""
        found = node.rpc("aither_getCode", code_id)
        value = measure(decode_code(bytes.fromhex(found["code"][2:]))).value
        assert isinstance(value, int), found
        return value

    expected = {old: milligas(old), new: milligas(new)}
    assert expected[new] < expected[old]

    # ---- the leaderboard ---------------------------------------------------------------------
    board = cli_json("gov", "leaderboard")
    versions = [
        (v["rank"], v["agent"], v["version"], v["codeId"], v["value"]) for v in board["versions"]
    ]
    assert versions == [(1, agent, 1, new, expected[new]), (2, agent, 0, old, expected[old])]
    assert {v["metric"] for v in board["versions"]} == {GAS_METRIC}
    assert all(
        v["higherIsBetter"] is False and v["testsPassed"] == v["tests"] == 1
        for v in board["versions"]
    )
    reviewers = {r["address"]: r for r in board["reviewers"]}
    agreement = {
        i: (
            reviewers[address(i)]["counted"],
            reviewers[address(i)]["agreed"],
            reviewers[address(i)]["agreementPpm"],
        )
        for i in CHOICES
    }
    assert agreement == {
        5: (1, 1, 1_000_000),
        6: (1, 1, 1_000_000),
        8: (1, 1, 1_000_000),
        7: (1, 0, 0),  # voted no on what was enacted
        9: (0, 0, None),  # an abstention is not counted
    }
    order = [r["address"] for r in board["reviewers"]]
    assert set(order[:3]) == {address(5), address(6), address(8)}
    assert order[3:] == [address(7), address(9)]
    assert board["generations"] == [] and board["notes"] == []

    table = run_aither("gov", "leaderboard", *rpc)
    assert table.returncode == 0, table.stderr
    assert "versions by milligas (lower is better)" in table.stdout
    rows = [line.split() for line in table.stdout.splitlines() if new[:10] in line]
    assert len(rows) == 1 and str(expected[new]) in rows[0] and "1/1" in rows[0], table.stdout

    # ---- the export's score chart ------------------------------------------------------------
    page = tmp_path / "lineage.html"
    exported = cli_json("gov", "export", agent, "--html", str(page))
    assert exported["scores"] == [
        {"version": f"v0 {old[:8]}", "score": expected[old]},
        {"version": f"v1 {new[:8]}", "score": expected[new]},
    ]
    text = page.read_text()
    assert "<h2>Score of each version</h2>" in text
    drawn = re.findall(r'class="score-point" data-score="(\d+)" data-version="([^"]+)"', text)
    assert drawn == [(str(expected[old]), f"v0 {old[:8]}"), (str(expected[new]), f"v1 {new[:8]}")]
