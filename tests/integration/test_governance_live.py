"""Code changes by council on a live dev node, end to end.

One node (`--dev`: its genesis names dev accounts 5..9 the council, one per role) and five real
`aither council serve` processes, one per member, signing with keys imported into a keystore with
`aither wallet import`. The agent below proposes its own patch through SELF_MODIFY; the chain
sandboxes it, the reviewers vote, it passes and is enacted; a proposal whose test fails is
rejected in the sandbox; a harmful one is vetoed; an emergency revert restores the first version
and moves the members' accuracies. Every state is read back over RPC and with `aither gov`.

The dev node makes a block only when transactions wait, so the test drives heights itself: it
waits (with deadlines) for the reviewers' votes, which take at most one block each, then sends
transfers until the height it expects.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from reviewers import MEMBERS, Council

from avm.assembler import assemble
from core.crypto import to_checksum_address
from genesis.dev import DEV_COUNCIL_NAMES, DEV_GOVERNANCE, dev_key

# The console script of this venv (conftest's copy is not importable from a fixture: pytest
# keeps one `conftest` module name for every directory's conftest).
AITHER = str(Path(sys.executable).with_name("aither"))

if TYPE_CHECKING:
    from conftest import DevNode

Run = Callable[..., subprocess.CompletedProcess[str]]

AGENT_IR = """\
;; doubles its input; the council governs STRATEGY, and the agent proposes its own patches
:main
  SET x = ARGS[0]
  CALL strategy
  RETURN ACC
:improve
  SELF_MODIFY "STRATEGY", ARGS[0] -> proposal
  RETURN proposal
.region STRATEGY council
:strategy
  MUL x, 2 -> ACC
  RET
.test doubles
  entry main
  args 21
  expect 42
.endtest
.endregion
.region CORE locked
:core
  HALT
.endregion
"""
V1 = ":strategy\n  ADD x, x -> ACC\n  RET\n"  # the same result without the constant
# Harmless by itself, but the proposal's own test expects the wrong answer.
V2 = ":strategy\n  ADD x, x -> ACC\n  NOP\n  RET\n"
TRIPLES = ".test triples\n  entry main\n  args 2\n  expect 6\n.endtest\n"
# A payment loop with no way out, reachable as an entry: the SecurityAuditor vetoes it.
V3 = ":strategy\n  ADD x, x -> ACC\n  RET\n:drain\n  PAY_AGENT ARGS[0], 1 -> paid\n  JUMP drain\n"

PARAMS = DEV_GOVERNANCE
SA, LP, MO, RH, SE = (to_checksum_address(dev_key(i).address) for i in MEMBERS)
DEADLINE = 30.0


def aither(run: Run, *args: str) -> subprocess.CompletedProcess[str]:
    result = run(*args)
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    return result


def aither_json(run: Run, *args: str) -> object:
    result = aither(run, *args, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def council(tmp_path: Path, dev_node: DevNode) -> Iterator[Council]:
    members = Council(tmp_path, dev_node)
    members.import_keys(AITHER)
    members.serve(AITHER)
    try:
        yield members
    finally:
        members.close()


def test_code_changes_by_council_end_to_end(
    dev_node: DevNode, council: Council, run_aither: Run, wait_until, tmp_path: Path
) -> None:
    node = dev_node
    rpc = ("--rpc", node.url)

    def proposal(pid: str) -> dict:
        found = node.rpc("aither_getProposal", pid)
        assert isinstance(found, dict)
        return found

    def votes_from(pid: str, count: int) -> list[dict]:
        def cast() -> list[dict] | None:
            found = node.rpc("aither_getVotes", pid)
            assert isinstance(found, list)
            return found if len(found) >= count else None

        return wait_until(cast, DEADLINE, f"{count} votes on {pid}")  # type: ignore[return-value]

    def tick_to(height: int) -> None:
        """Blocks up to `height`: the dev node makes one per batch of waiting transactions."""
        assert node.height() <= height, f"already at {node.height()}, past {height}"
        while node.height() < height:
            receipt = node.transfer(dev_key(3), dev_key(4).address, 1)
            assert receipt["status"] == "0x1"

    def gov_show(pid: str) -> str:
        result = aither(run_aither, "gov", "show", pid, *rpc)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def vote(member: int, pid: str, choice: str, why: str) -> dict:
        return aither_json(  # type: ignore[return-value]
            run_aither, "wallet", "vote", pid, choice, "--why", why,
            "--dev-account", str(member), *rpc,
        )  # fmt: skip

    council_doc = node.rpc("aither_getCouncil")
    assert [m["role"] for m in council_doc["members"]] == [
        MEMBERS[i].value for i in sorted(MEMBERS, key=lambda i: dev_key(i).address)
    ]
    assert council_doc["params"]["voting_period"] == PARAMS.voting_period
    # Every member is a registered identity, shown by name next to its address.
    assert {m["address"]: m["name"] for m in council_doc["members"]} == {
        to_checksum_address(dev_key(i).address): name for i, name in DEV_COUNCIL_NAMES
    }

    # ---- the agent, and its own proposal through SELF_MODIFY -------------------------------------
    source = tmp_path / "agent.air"
    source.write_text(AGENT_IR)
    v0 = "0x" + assemble(AGENT_IR).code.code_id.hex()
    deployed = aither_json(
        run_aither, "wallet", "deploy", str(source), "--value", "100", "--dev-account", "0", *rpc
    )
    agent = str(deployed["agent"])
    called = aither_json(
        run_aither, "wallet", "call", agent, "improve", V1, "--dev-account", "0", *rpc
    )
    assert called["status"] == "ok", called
    p1 = str(called["value"])
    first = proposal(p1)
    assert first["status"] == "voting" and first["proposer"] == agent
    assert first["rationale"] == "SELF_MODIFY by the agent" and first["baseCodeId"] == v0
    assert [(s["test"], s["passed"]) for s in first["sandbox"]] == [("doubles", True)]
    end1 = first["submittedHeight"] + PARAMS.voting_period
    assert first["votingEndHeight"] == end1

    cast = votes_from(p1, 5)
    assert {v["choice"] for v in cast} == {"yes"}, cast
    assert f"{p1} #0: code, voting" in gov_show(p1)
    assert all(v["role"] in v["explanation"] for v in cast), cast
    # A member's operator may change its vote until the period ends.
    vote(9, p1, "no", "prefers the constant; no other objection")
    tick_to(end1)
    passed = proposal(p1)
    assert passed["status"] == "passed", passed
    assert passed["enactHeight"] == end1 + PARAMS.enactment_delay
    assert passed["tally"]["final"] and passed["tally"]["no"] > 0
    assert "code, passed" in gov_show(p1)
    tick_to(end1 + PARAMS.enactment_delay)
    enacted = proposal(p1)
    assert enacted["status"] == "enacted" and enacted["closedHeight"] == passed["enactHeight"]
    v1 = enacted["enactedCodeId"]
    assert node.rpc("aither_getAgent", agent)["codeId"] == v1
    run = node.rpc("aither_call", {"to": agent, "entry": "main", "args": [21], "trace": True})
    assert run["value"] == 42 and "ADD" in [e["opcode"] for e in run["trace"]]
    assert "MUL" not in [e["opcode"] for e in run["trace"]]  # the new code runs
    shown = gov_show(p1)
    for text in ("enacted", "-  MUL x, 2 -> ACC", "+  ADD x, x -> ACC", "doubles", "tally"):
        assert text in shown, shown
    assert "prefers the constant" in shown
    assert all(name in shown for _, name in DEV_COUNCIL_NAMES), shown  # the votes' names

    # ---- a proposal whose test fails is rejected in the sandbox ----------------------------------
    (tmp_path / "v2.air").write_text(V2)
    (tmp_path / "triples.air").write_text(TRIPLES)
    before = node.balance(dev_key(1).address)
    second = aither_json(
        run_aither, "wallet", "propose", agent, "STRATEGY", str(tmp_path / "v2.air"),
        "--tests", str(tmp_path / "triples.air"), "--rationale", "also triples",
        "--dev-account", "1", *rpc,
    )  # fmt: skip
    p2 = str(second["proposal"])
    rejected = proposal(p2)
    assert rejected["status"] == "rejected" and "test triples failed" in rejected["reason"]
    assert {s["test"]: s["passed"] for s in rejected["sandbox"]} == {
        "doubles": True,
        "triples": False,
    }
    fee = int(node.rpc("aither_getTransactionReceipt", second["hash"])["fee"], 16)
    assert node.balance(dev_key(1).address) == before - fee - PARAMS.min_deposit  # burnt
    assert "FAIL" in gov_show(p2)

    # ---- a harmful proposal is vetoed ------------------------------------------------------------
    (tmp_path / "v3.air").write_text(V3)
    third = aither_json(
        run_aither, "wallet", "propose", agent, "STRATEGY", str(tmp_path / "v3.air"),
        "--rationale", "pay out faster", "--dev-account", "2", *rpc,
    )  # fmt: skip
    p3 = str(third["proposal"])
    end3 = proposal(p3)["votingEndHeight"]
    cast = {v["member"]: v for v in votes_from(p3, 5)}
    assert cast[SA]["choice"] == "veto" and "no way out" in cast[SA]["explanation"]
    # The RegressionHunter objects (the drain loop is untested); its operator vetoes too.
    assert cast[RH]["choice"] in ("no", "abstain"), cast[RH]
    vote(8, p3, "veto", "an entry anyone can call pays out in an endless loop")
    stranger = aither(run_aither, "wallet", "vote", p3, "yes", "--dev-account", "0", *rpc)
    assert stranger.returncode == 1 and "was not a council member" in stranger.stdout
    assert len(node.rpc("aither_getVotes", p3)) == 5
    tick_to(end3)
    vetoed = proposal(p3)
    assert vetoed["status"] == "vetoed" and vetoed["tally"]["veto"] * 1_000_000 > (
        PARAMS.veto_ppm * vetoed["tally"]["voted"]
    )
    assert node.rpc("aither_getAgent", agent)["codeId"] == v1  # unchanged
    shown = gov_show(p3)
    assert "code, vetoed" in shown and "the veto share was above the veto bar" in shown

    # ---- an emergency revert restores the first version and moves accuracies ---------------------
    fourth = aither_json(
        run_aither, "wallet", "propose", agent, "STRATEGY", "--revert-to", v0,
        "--rationale", "back to the audited version", "--dev-account", "2", *rpc,
    )  # fmt: skip
    p4 = str(fourth["proposal"])
    revert = proposal(p4)
    assert revert["kind"] == "revert" and revert["emergency"]
    end4 = revert["submittedHeight"] + PARAMS.emergency_voting_period
    assert revert["votingEndHeight"] == end4
    votes_from(p4, 5)
    tick_to(end4)
    restored = proposal(p4)
    assert restored["status"] == "enacted", restored
    assert restored["enactHeight"] == end4 and restored["undoes"] == [p1]
    assert node.rpc("aither_getAgent", agent)["codeId"] == v0
    run = node.rpc("aither_call", {"to": agent, "entry": "main", "args": [21], "trace": True})
    assert run["value"] == 42 and "MUL" in [e["opcode"] for e in run["trace"]]
    assert proposal(p1)["revertedBy"] == p4
    shown = gov_show(p4)
    assert "revert (emergency), enacted" in shown and f"undoes {p1}" in shown
    accuracy = {m["address"]: m["accuracyPpm"] for m in node.rpc("aither_getCouncil")["members"]}
    step = PARAMS.accuracy_step_ppm
    assert accuracy[SE] == PARAMS.initial_accuracy_ppm + step  # voted no on the reverted change
    for member in (SA, LP, MO, RH):
        assert accuracy[member] == PARAMS.initial_accuracy_ppm - step

    # ---- the archive, the lineage and the CLI's views -------------------------------------------
    statuses = [p["status"] for p in node.rpc("aither_getArchive", 0, 10)["proposals"]]
    assert statuses == ["enacted", "rejected", "vetoed", "enacted"]
    assert [p["id"] for p in node.rpc("aither_listProposals", "vetoed", agent)] == [p3]
    lineage = node.rpc("aither_getLineage", agent)
    assert [(s["kind"], s["codeId"]) for s in lineage] == [
        ("deploy", v0),
        ("proposal", v1),
        ("proposal", v0),
    ]
    edge = lineage[1]["governance"]
    assert edge["proposalId"] == p1 and edge["enactedHeight"] == end1 + PARAMS.enactment_delay
    assert len(edge["votes"]) == 5 and edge["sandbox"][0]["test"] == "doubles"
    assert edge["revertedBy"] == p4 and lineage[2]["governance"]["proposalId"] == p4
    listed = aither(run_aither, "gov", "list", "--agent", agent, *rpc)
    assert listed.returncode == 0 and listed.stdout.count("enacted") == 2, listed.stdout
    tree = aither(run_aither, "gov", "lineage", agent, *rpc)
    assert tree.returncode == 0 and "proposal" in tree.stdout and "reverted by" in tree.stdout
    page = tmp_path / "lineage.html"
    exported = aither_json(run_aither, "gov", "export", agent, "--html", str(page), *rpc)
    assert exported["versions"] == 3 and len(exported["gas"]) == 3
    text = page.read_text()
    assert text.count("<svg") == 3 and "http" not in text.replace("http://www.w3.org/2000/svg", "")

    # ---- bad input: each refused with its reason, nothing changed --------------------------------
    # (the wallet refuses what the chain would refuse before a fee is spent; the chain itself
    # refused the stranger's vote above)
    count = node.rpc("aither_getArchive", 0, 1)["total"]
    balance = node.balance(dev_key(1).address)

    def refused(*args: str) -> str:
        result = aither(run_aither, "wallet", *args, "--dev-account", "1", *rpc)
        assert result.returncode == 1 and result.stdout == "", result.stdout
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        return result.stderr

    assert "vetoed, not in its voting period" in refused("vote", p3, "yes", "--why", "late")
    assert "no proposal" in refused("vote", "0x" + "ab" * 32, "no")
    (tmp_path / "halt.air").write_text(":core\n  HALT\n  HALT\n")
    nobody = to_checksum_address(b"\x42" * 20)
    for args, reason in (
        ((agent, "CORE", str(tmp_path / "halt.air")), "region CORE is locked"),
        ((nobody, "STRATEGY", str(tmp_path / "v2.air")), f"no agent at {nobody}"),
        ((agent, "STRATEGY", str(tmp_path / "v2.air"), "--deposit", "0.5"), "the minimum 10"),
    ):
        assert reason in refused("propose", *args)
    (tmp_path / "broken.air").write_text(":strategy\n  ADD x, -> ACC\n")
    broken = refused("propose", agent, "STRATEGY", str(tmp_path / "broken.air"))
    assert broken.startswith(f"error: {tmp_path}/broken.air:2:")
    assert node.rpc("aither_getArchive", 0, 1)["total"] == count
    assert node.balance(dev_key(1).address) == balance
    assert node.rpc("aither_getAgent", agent)["codeId"] == v0
