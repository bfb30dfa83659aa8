"""`aither evolve` end to end, on the embedded model and no stub.

A dev node; `aither model serve` (Gemma 3 270M on llama.cpp); the five dev council members as
real `aither council serve` processes asking that model; and `aither evolve` for three
generations on an agent whose region holds instructions that do nothing, so its metric (the
milligas of its tests) can improve. Every proposal is sandboxed by the chain and voted by the
services with the model's own words in each explanation; the archive holds the three generations
with their scores. The run's time is printed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from programs import scorer
from reviewers import MEMBERS, Council

from core.amounts import format_amount
from model.embedded import EMBEDDED_MODEL

if TYPE_CHECKING:
    from conftest import DevNode

AITHER = str(Path(sys.executable).with_name("aither"))
SCORER = scorer(noops=3)
RUN_LIMIT = 600  # seconds for the three generations (about 150 s here)


def deploy_scorer(node: DevNode, tmp_path: Path) -> str:
    """The scorer deployed by dev account 0 with `aither wallet deploy`; its address."""
    source = tmp_path / "scorer.air"
    source.write_text(SCORER)
    command = [AITHER, "wallet", "deploy", str(source), "--dev-account", "0", "--rpc", node.url]
    deployed = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=60)
    assert deployed.returncode == 0, deployed.stderr
    return str(json.loads(deployed.stdout)["agent"])


def test_evolve_three_generations_with_the_embedded_model(
    dev_node: DevNode, model_url: str, tmp_path: Path
) -> None:
    node = dev_node
    council = Council(tmp_path, node, model_url)
    council.import_keys(AITHER)
    council.serve(AITHER)
    try:
        agent = deploy_scorer(node, tmp_path)
        archive = tmp_path / "archive.jsonl"
        command = [AITHER, "evolve", agent, "--region", "TUNING", "--generations", "3"]
        command += ["--dev-account", "0", "--rpc", node.url, "--llm-base-url", model_url]
        command += ["--archive", str(archive), "--max-deposit", "100", "--json"]
        started = time.monotonic()
        run = subprocess.run(command, capture_output=True, text=True, timeout=RUN_LIMIT)
        elapsed = time.monotonic() - started
        print(f"aither evolve: 3 generations in {elapsed:.1f} s on the embedded model")
    finally:
        council.close()
    assert run.returncode == 0, run.stderr + council.logs()
    assert "Traceback" not in run.stdout + run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert events[0] == {"event": "model", "using": f"model {EMBEDDED_MODEL} at {model_url}"}
    done = events[-1]
    assert done["event"] == "done" and done["complete"] is True

    generations = done["generations"]
    assert [g["generation"] for g in generations] == [1, 2, 3]
    scores = [generations[0]["scoreBefore"]] + [g["scoreAfter"] for g in generations]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 4  # each one better
    for g in generations:
        assert g["status"] == "enacted", g
        # Where the patch came from, and when it was not the model's, why (one line).
        assert g["source"] in ("model", "mutation")
        assert g["source"] == "model" or g["fallback"].count("\n") == 0 < len(g["fallback"])
        proposal = node.rpc("aither_getProposal", g["proposal"])
        assert isinstance(proposal, dict)
        assert proposal["sandbox"] and all(r["passed"] for r in proposal["sandbox"])
        votes = proposal["votes"]
        assert len(votes) == len(MEMBERS)
        for vote in votes:  # the model's own words, not the fallback's
            assert f"model {EMBEDDED_MODEL} says " in vote["explanation"], vote
            assert "model review unavailable" not in vote["explanation"]
    # The agent runs the last generation's code, and the archive holds all three.
    code = node.rpc("aither_getCode", agent)
    assert isinstance(code, dict) and "ADD n, 0" not in code["disassembly"]
    lines = [json.loads(line) for line in archive.read_text().splitlines()]
    assert [(r["generation"], r["scoreAfter"]) for r in lines] == [
        (g["generation"], g["scoreAfter"]) for g in generations
    ]
    assert all(r["agent"] == agent and r["region"] == "TUNING" for r in lines)


def test_evolve_stops_at_its_budget_before_a_deposit_would_pass_it(
    dev_node: DevNode, tmp_path: Path
) -> None:
    """Without a model (the mutation search alone, the council on its analysis): one deposit
    fits in --max-deposit, the second would not, so the run stops with one proposal filed."""
    node = dev_node
    council = Council(tmp_path, node)
    council.import_keys(AITHER)
    council.serve(AITHER)
    try:
        agent = deploy_scorer(node, tmp_path)
        deposit = int(node.rpc("aither_getCouncil")["tracks"]["code"]["min_deposit"])  # type: ignore[index]
        budget = format_amount(deposit * 3 // 2)
        command = [AITHER, "evolve", agent, "--region", "TUNING", "--generations", "3"]
        command += ["--dev-account", "0", "--rpc", node.url, "--no-model", "--json"]
        command += ["--archive", str(tmp_path / "a.jsonl"), "--max-deposit", budget]
        run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        council.close()
    assert run.returncode == 0, run.stderr + council.logs()
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert events[0] == {"event": "model", "using": "none", "patches": "mutation search"}
    stopped = next(e for e in events if e["event"] == "stopped")
    assert stopped["generation"] == 2
    assert stopped["reason"].startswith(f"budget: the next deposit ({format_amount(deposit)} AVM)")
    assert f"over --max-deposit {budget} AVM" in stopped["reason"]
    done = events[-1]
    assert done["complete"] is False and len(done["generations"]) == 1
    assert done["generations"][0]["fallback"] == "no model (--no-model)"
    filed = node.rpc("aither_listProposals", None, agent)
    assert isinstance(filed, list) and len(filed) == 1


def test_a_target_the_chain_would_refuse_is_one_line_before_any_work(
    dev_node: DevNode, tmp_path: Path
) -> None:
    agent = deploy_scorer(dev_node, tmp_path)
    nobody = "0x" + "12" * 20
    for target, region, said in [
        (agent, "NOPE", "the agent has no region NOPE (its regions: TUNING)"),
        (nobody, "TUNING", "no agent at 0x1212"),
    ]:
        command = [AITHER, "evolve", target, "--region", region, "--dev-account", "0"]
        command += ["--rpc", dev_node.url, "--no-model", "--archive", str(tmp_path / "a.jsonl")]
        run = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert run.returncode == 1 and "Traceback" not in run.stderr
        (line,) = run.stderr.splitlines()
        assert line.startswith("error: ") and said in line
    assert not (tmp_path / "a.jsonl").exists()
    assert dev_node.rpc("aither_listProposals") == []
