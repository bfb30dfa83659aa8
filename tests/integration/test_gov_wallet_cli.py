"""Governance proposals beyond code, from the wallet, and gas estimates for governance
transactions, against a live dev node.

`aither wallet propose-params` and `aither wallet propose-council` run as subprocesses; the
council (dev accounts 5-9 in the dev genesis, registered there as identities by name) votes with
`aither wallet vote` or with transactions the wallet's builder signs, and each test drives the
heights itself with transfers, as the live governance test does. Only a registered identity joins
the council: a test registers the accounts it adds with `aither swarm register`.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from programs import doubler

from avm.assembler import assemble
from avm.gas import V1 as GAS_V1
from avm.gas import schedule_with
from avm.instructions import LATEST_VERSION
from core.crypto import SigningKey, to_checksum_address
from genesis.dev import DEV_CHAIN_ID, DEV_GOVERNANCE, dev_key
from ledger.gas import DEFAULT_GAS_PRICE
from ledger.governance.params import GovernanceParams, Role
from ledger.governance.payloads import (
    CancelPayload,
    Choice,
    CodeChangeSpec,
    CouncilChangeSpec,
    GasScheduleSpec,
    NewMember,
    ParamsChangeSpec,
    PolicySpec,
    ProposePayload,
    RevertSpec,
    VotePayload,
)
from ledger.policy import AgentPolicy
from ledger.tx import Payload, Transaction, TxKind
from wallet.client import RpcClient
from wallet.txbuilder import build_propose, build_vote, static_gas

if TYPE_CHECKING:
    from conftest import DevNode

Run = Callable[..., subprocess.CompletedProcess[str]]

PARAMS = DEV_GOVERNANCE
PROPOSER = dev_key(1)
VOTERS = (5, 6, 8)  # SecurityAuditor, LatencyProfiler, RegressionHunter: a quorum, all yes
AGENT_IR = doubler()
V1 = ":strategy\n  ADD x, x -> ACC\n  RET\n"
SLACK = 16 * 40  # payload-byte gas of the widest nonce, gas limit, price and chain id encodings


def address(index: int) -> str:
    return to_checksum_address(dev_key(index).address)


def cli(run: Run, node: DevNode, *args: str) -> subprocess.CompletedProcess[str]:
    done = run("wallet", *args, "--rpc", node.url)
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done


def register(run: Run, node: DevNode, index: int, name: str) -> None:
    """Dev account `index` registers an identity (named `name`, or none for "")."""
    done = run("swarm", "register", name, "--dev-account", str(index), "--rpc", node.url)
    assert done.returncode == 0, done.stdout + done.stderr


def cli_json(run: Run, node: DevNode, *args: str) -> dict:
    done = cli(run, node, *args, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def tick_to(node: DevNode, height: int) -> None:
    """Blocks up to `height`: the dev node makes one per batch of waiting transactions."""
    while node.height() < height:
        assert node.transfer(dev_key(3), dev_key(4).address, 1)["status"] == "0x1"


def enacted(node: DevNode, proposal: str) -> dict:
    found = node.rpc("aither_getProposal", proposal)
    tick_to(node, found["votingEndHeight"] + PARAMS.enactment_delay)
    done = node.rpc("aither_getProposal", proposal)
    assert done["status"] == "enacted", done
    return done


def send(node: DevNode, key: SigningKey, kind: TxKind, payload: Payload, gas: int) -> dict:
    nonce = node.nonce(key.address, "pending")
    tx = Transaction(DEV_CHAIN_ID, kind, key.pubkey, nonce, gas, DEFAULT_GAS_PRICE, payload)
    return node.wait_for_receipt(node.send_raw(tx.signed(key).encode()))


def test_the_wallet_files_a_parameter_change_the_council_enacts(
    dev_node: DevNode, run_aither: Run
) -> None:
    node = dev_node
    before = node.balance(PROPOSER.address)
    filed = cli_json(
        run_aither, node, "propose-params", "--set", "voting_period=12",
        "--set", "role_weights.Custom=900000", "--set", "burn_deposit_on_expiry=true",
        "--rationale", "longer votes", "--dev-account", "1",
    )  # fmt: skip
    assert filed["status"] == "ok" and filed["kind"] == "params", filed
    assert filed["changes"] == {
        "voting_period": [PARAMS.voting_period, 12],
        "burn_deposit_on_expiry": [False, True],
        "role_weights.Custom": [PARAMS.role_weight(Role.CUSTOM), 900_000],
    }
    pid = str(filed["proposal"])
    proposal = node.rpc("aither_getProposal", pid)
    assert proposal["kind"] == "params" and proposal["status"] == "voting", proposal
    assert proposal["rationale"] == "longer votes" and proposal["proposer"] == address(1)
    assert proposal["params"] == {
        **PARAMS.to_json(),
        "voting_period": 12,
        "burn_deposit_on_expiry": True,
        "role_weights": {**PARAMS.to_json()["role_weights"], "Custom": 900_000},
    }
    fee = int(node.rpc("aither_getTransactionReceipt", filed["hash"])["fee"], 16)
    assert node.balance(PROPOSER.address) == before - fee - PARAMS.min_deposit  # in escrow

    for member in VOTERS:
        voted = cli_json(run_aither, node, "vote", pid, "yes", "--why", "ok",
                         "--dev-account", str(member))  # fmt: skip
        assert voted["status"] == "ok", voted
    enacted(node, pid)
    rules = node.rpc("aither_getCouncil")["params"]
    assert rules["voting_period"] == 12 and rules["burn_deposit_on_expiry"] is True
    assert rules["role_weights"]["Custom"] == 900_000
    assert rules["quorum_ppm"] == PARAMS.quorum_ppm  # what no --set named is kept


def test_the_wallet_files_a_council_change_the_council_enacts(
    dev_node: DevNode, run_aither: Run
) -> None:
    node = dev_node
    register(run_aither, node, 2, "fuzz-tester.avm")
    register(run_aither, node, 3, "")  # an identity without a name
    done = cli(
        run_aither, node, "propose-council", "--add", "fuzz-tester.avm=custom:Fuzz tester",
        "--add", f"{address(3)}=memoryoptimizer", "--remove", "standards-enforcer.avm",
        "--rationale", "rotate the standards seat", "--dev-account", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("proposed a council change: ok in block"), done.stdout
    assert f"  add {address(2)} (fuzz-tester.avm) as Fuzz tester" in lines
    assert f"  add {address(3)} as MemoryOptimizer" in lines
    assert f"  remove {address(9)} (standards-enforcer.avm)" in lines
    pid = next(line.split()[-1] for line in lines if line.startswith("  proposal 0x"))
    proposal = node.rpc("aither_getProposal", pid)
    assert proposal["kind"] == "council" and proposal["status"] == "voting", proposal
    assert proposal["council"] == {
        "add": [
            {
                "address": address(2),
                "name": "fuzz-tester.avm",
                "role": "Custom",
                "roleName": "Fuzz tester",
            },
            {
                "address": address(3),
                "name": None,
                "role": "MemoryOptimizer",
                "roleName": "MemoryOptimizer",
            },
        ],
        "remove": [{"address": address(9), "name": "standards-enforcer.avm"}],
    }
    shown = run_aither("gov", "show", pid, "--rpc", node.url)
    assert shown.returncode == 0, shown.stderr
    assert f"  add {address(2)} (fuzz-tester.avm) as Fuzz tester" in shown.stdout.splitlines()
    assert f"  remove {address(9)} (standards-enforcer.avm)" in shown.stdout.splitlines()

    with RpcClient(node.url) as client:
        for member in VOTERS:
            raw = build_vote(client, dev_key(member), bytes.fromhex(pid[2:]), Choice.YES, "ok")
            assert node.wait_for_receipt(node.send_raw(raw))["status"] == "0x1"
    done_at = enacted(node, pid)["closedHeight"]
    members = {m["address"]: m for m in node.rpc("aither_getCouncil")["members"]}
    assert address(9) not in members and len(members) == 6
    assert members[address(2)]["name"] == "fuzz-tester.avm" and members[address(3)]["name"] is None
    assert members[address(5)]["name"] == "security-auditor.avm"
    assert members[address(2)]["role"] == "Custom"
    assert members[address(2)]["roleName"] == "Fuzz tester"
    assert members[address(3)]["role"] == "MemoryOptimizer"
    for joined in (address(2), address(3)):
        assert members[joined]["accuracyPpm"] == PARAMS.initial_accuracy_ppm
        assert members[joined]["since"] == done_at
    table = run_aither("gov", "council", "--rpc", node.url)
    assert table.returncode == 0, table.stderr
    rows = {word: line.split() for line in table.stdout.splitlines() for word in line.split()}
    assert "fuzz-tester.avm" in rows[address(2)] and "-" in rows[address(3)]
    assert "security-auditor.avm" in rows[address(5)] and address(9) not in rows


def test_the_wallet_proposes_a_policy_for_a_council_governed_agent(
    dev_node: DevNode, run_aither: Run, tmp_path: Path
) -> None:
    node = dev_node
    source = tmp_path / "agent.air"
    source.write_text(AGENT_IR)
    agent = str(cli_json(run_aither, node, "deploy", str(source), "--dev-account", "0")["agent"])
    by_deployer = cli(run_aither, node, "role", "policy", agent, "--caller", address(2),
                      "--dev-account", "0")  # fmt: skip
    assert by_deployer.returncode == 1, by_deployer.stdout
    assert "only a `policy` proposal changes its policy" in by_deployer.stdout + by_deployer.stderr
    done = cli(
        run_aither, node, "propose-policy", agent, "--caller", address(2), "--caller", address(0),
        "--spend-limit", "2.5", "--period", "3600", "--rationale", "two callers",
        "--dev-account", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("proposed a policy: ok in block"), done.stdout
    callers = ", ".join(sorted([address(0), address(2)], key=lambda a: bytes.fromhex(a[2:])))
    assert f"  callers: {callers}" in lines and "  spend limit: 2.5 AVM per 3600 s" in lines
    pid = next(line.split()[-1] for line in lines if line.startswith("  proposal 0x"))
    shown = run_aither("gov", "show", pid, "--rpc", node.url)
    assert shown.returncode == 0, shown.stderr
    assert f"  callers: any -> {callers}" in shown.stdout.splitlines(), shown.stdout
    assert "  spend limit: none -> 2.5 AVM per 3600 s" in shown.stdout.splitlines()
    for member in VOTERS:
        cli_json(run_aither, node, "vote", pid, "yes", "--dev-account", str(member))
    enacted(node, pid)
    assert node.rpc("aither_getPolicy", agent) == {
        "callers": callers.split(", "),
        "roles": [],
        "spendLimit": hex(25 * 10**17),
        "periodSec": 3600,
    }


def test_the_wallet_proposes_chain_parameters_on_the_protocol_track(
    dev_node: DevNode, run_aither: Run
) -> None:
    node = dev_node
    before = node.rpc("aither_getChainParams")
    done = cli(
        run_aither, node, "propose-chain", "--set", "block_gas_limit=500000000",
        "--set", "timeout_commit_ms=2000", "--rationale", "smaller blocks", "--dev-account", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("proposed new chain parameters: ok in block"), done.stdout
    assert "  block_gas_limit: 1000000000 -> 500000000" in lines, done.stdout
    pid = next(line.split()[-1] for line in lines if line.startswith("  proposal 0x"))
    proposal = node.rpc("aither_getProposal", pid)
    assert proposal["kind"] == "chain" and proposal["tally"]["thresholdPpm"] == 666_667
    assert proposal["chainParams"]["timeout_commit_ms"] == 2000
    shown = run_aither("gov", "show", pid, "--rpc", node.url)
    assert "  timeout_commit_ms: 1000 -> 2000" in shown.stdout.splitlines(), shown.stdout
    for member in (5, 6, 7, 8):  # two thirds of the weight, all yes
        cli_json(run_aither, node, "vote", pid, "yes", "--dev-account", str(member))
    found = node.rpc("aither_getProposal", pid)
    tick_to(node, found["votingEndHeight"] + 2 * PARAMS.enactment_delay)
    done_at = node.rpc("aither_getProposal", pid)
    assert done_at["status"] == "enacted", done_at
    after = node.rpc("aither_getChainParams")
    assert after["block_gas_limit"] == 500_000_000 and after["timeout_commit_ms"] == 2000
    earlier = node.rpc("aither_getChainParams", hex(done_at["closedHeight"] - 1))
    assert {**earlier, "height": before["height"]} == before  # the block before: as it was
    shown = run_aither("gov", "chain", "--rpc", node.url, "--json")
    assert json.loads(shown.stdout)["block_gas_limit"] == 500_000_000
    refused = cli(run_aither, node, "propose-chain", "--set", "max_block_bytes=1",
                  "--dev-account", "1")  # fmt: skip
    assert refused.returncode == 1 and "max_block_bytes must be an integer in" in refused.stderr


def test_the_wallet_proposes_a_gas_schedule_every_call_then_pays(
    dev_node: DevNode, run_aither: Run, tmp_path: Path
) -> None:
    node = dev_node
    source = tmp_path / "agent.air"
    source.write_text(AGENT_IR)
    agent = str(cli_json(run_aither, node, "deploy", str(source), "--dev-account", "0")["agent"])
    first = cli_json(run_aither, node, "call", agent, "main", "21", "--dev-account", "2")
    done = cli(
        run_aither, node, "propose-gas", "--set", "simple=300", "--set", "doc_search_per_k=3/1000",
        "--rationale", "arithmetic was too cheap", "--dev-account", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("proposed gas schedule 2: ok in block"), done.stdout
    assert "  simple: 100 -> 300 milligas" in lines, done.stdout
    pid = next(line.split()[-1] for line in lines if line.startswith("  proposal 0x"))
    shown = run_aither("gov", "show", pid, "--rpc", node.url).stdout.splitlines()
    assert "gas schedule (version 1 in force now -> 2; milligas)" in shown, shown
    assert "  doc_search_per_k: [1, 1000] -> [3, 1000]" in shown
    # Shadow replay: the earlier blocks (the deploy and the first call) under the new schedule
    shadow = node.rpc("aither_getProposal", pid)["shadow"]
    assert shadow["transactions"] >= 2 and shadow["outcomeChanges"] == 0
    assert shadow["gasAfter"] > shadow["gasBefore"]
    assert first["hash"] in [d["tx"] for d in shadow["diffs"]]
    summary = f"  blocks {shadow['firstBlock']}..{shadow['lastBlock']}: "
    assert any(line.startswith(summary) for line in shown), shown
    page = tmp_path / "proposal.html"
    written = run_aither("gov", "show", pid, "--html", str(page), "--rpc", node.url, "--json")
    assert json.loads(written.stdout)["file"] == str(page)
    text = page.read_text()
    bars = re.findall(r'class="shadow-bar" data-gas="(\d+)"', text)
    pairs = [[d["gasBefore"], d["gasAfter"]] for d in shadow["diffs"]]
    assert [int(g) for g in bars] == [g for pair in pairs for g in pair]  # before, after
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")  # self-contained
    for member in (5, 6, 7, 8):
        cli_json(run_aither, node, "vote", pid, "yes", "--dev-account", str(member))
    found = node.rpc("aither_getProposal", pid)
    tick_to(node, found["votingEndHeight"] + 2 * PARAMS.enactment_delay)
    assert node.rpc("aither_getProposal", pid)["status"] == "enacted"
    schedule = json.loads(run_aither("gov", "gas", "--rpc", node.url, "--json").stdout)
    assert schedule["version"] == 2 and schedule["costs"]["simple"] == 300
    assert node.rpc("aither_getChainParams")["gas_schedule_version"] == 2
    after = cli_json(run_aither, node, "call", agent, "main", "21", "--dev-account", "2")
    assert after["value"] == first["value"] == 42
    # A trace replays a call under the schedule it ran under (and checks the gas it used).
    before, now = (node.rpc("aither_traceTransaction", c["hash"])["trace"] for c in (first, after))
    assert [e["opcode"] for e in before] == [e["opcode"] for e in now]  # the same run
    changed = [(a["gas"], b["gas"]) for a, b in zip(before, now, strict=True) if a != b]
    assert changed == [(100, 300)] * 3  # GET, SET, MUL: simple opcodes (not RET: `ret`)
    assert after["gasUsed"] - first["gasUsed"] == 3 * 200


def test_a_node_that_lacks_an_enacted_avm_version_stops_saying_so(
    dev_node: DevNode, run_aither: Run
) -> None:
    node = dev_node
    unknown = LATEST_VERSION + 1
    done = cli(run_aither, node, "propose-avm", "--version", str(unknown), "--dev-account", "1")
    assert done.returncode == 0, done.stderr
    assert f"knows AVM versions up to {LATEST_VERSION}; nodes must be upgraded" in done.stderr
    pid = next(line.split()[-1] for line in done.stdout.splitlines() if "proposal 0x" in line)
    for member in (*VOTERS, 7):
        cli_json(run_aither, node, "vote", pid, "yes", "--dev-account", str(member))
    enact = node.rpc("aither_getProposal", pid)["votingEndHeight"] + 2 * PARAMS.enactment_delay
    tick_to(node, enact - 1)
    node.send_raw(node.signed_transfer(dev_key(3), dev_key(4).address, 1))  # block `enact`
    assert node.process is not None
    assert node.process.wait(timeout=30) == 1  # stopped, not forked, not spinning
    last = node.log_tail(3).strip().splitlines()[-1]
    known = f"it runs versions up to {LATEST_VERSION}"
    assert last == f"error: AVM version {unknown} is unknown to this node ({known}): upgrade aither"
    assert "halted at block" in node.log_text()


def test_bad_proposals_are_refused_in_one_line_and_change_nothing(
    dev_node: DevNode, run_aither: Run
) -> None:
    node = dev_node
    balance = node.balance(PROPOSER.address)
    nobody = to_checksum_address(b"\x42" * 20)
    cases = [
        (("propose-params",), "say what changes: --set NAME=VALUE"),
        (("propose-params", "--set", "voting_period"), "write NAME=VALUE"),
        (("propose-params", "--set", "quorum=1"), "--set quorum: no such parameter"),
        (("propose-params", "--set", "voting_period=soon"), "voting_period must be an integer"),
        (("propose-params", "--set", "voting_period=0"), "voting_period must be an integer in 1"),
        (("propose-params", "--set", "quorum_ppm=2000000"), "quorum_ppm must be an integer in 0"),
        (("propose-params", "--set", "role_weights.Oracle=1"), "no role 'Oracle'"),
        (("propose-params", "--set", "burn_deposit_on_expiry=maybe"), "write true or false"),
        (
            (
                "propose-params",
                "--set",
                "threshold_ppm=700000",
                "--set",
                "emergency_threshold_ppm=600000",
            ),
            "emergency_threshold_ppm must not be below threshold_ppm",
        ),
        (
            ("propose-params", "--set", f"voting_period={PARAMS.voting_period}"),
            "nothing changes",
        ),
        (
            ("propose-params", "--set", "voting_period=20", "--deposit", "0.5"),
            "the deposit is 0.5 AVM, the minimum 10",
        ),
        (("propose-council",), "say who joins or leaves"),
        (("propose-council", "--add", address(2)), "write ADDRESS=ROLE"),
        (("propose-council", "--add", f"{address(2)}=Oracle"), "unknown role"),
        (("propose-council", "--add", f"{address(2)}=custom:"), "a custom role needs a name"),
        (("propose-council", "--add", "0x1234=SecurityAuditor"), "0x1234"),
        (("propose-council", "--add", f"{address(5)}=SecurityAuditor"), "already a council member"),
        (
            ("propose-council", "--add", f"{address(2)}=SecurityAuditor"),
            f"{address(2)} has no registered identity",
        ),
        (("propose-council", "--add", "nobody.avm=SecurityAuditor"), "nobody.avm is not a regis"),
        (("propose-council", "--remove", nobody), f"{nobody} is not a council member"),
        (
            (
                "propose-council",
                "--add",
                f"{address(2)}=RegressionHunter",
                "--add",
                f"{address(2)}=MemoryOptimizer",
            ),
            "listed twice",
        ),
        (
            ("propose-council", *(a for i in range(5, 10) for a in ("--remove", address(i)))),
            "the council cannot be left empty",
        ),
        (
            ("propose-council", "--remove", address(9), "--deposit", "1"),
            "the deposit is 1 AVM, the minimum 10",
        ),
    ]
    for args, reason in cases:
        done = cli(run_aither, node, *args, "--dev-account", "1")
        assert done.returncode == 1 and done.stdout == "", (args, done.stdout)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, done.stderr)
        assert reason in lines[0], (args, lines[0])
    assert node.rpc("aither_getArchive", 0, 1)["total"] == 0
    assert node.balance(PROPOSER.address) == balance
    assert node.rpc("aither_getCouncil")["params"] == PARAMS.to_json()


def test_estimate_gas_covers_governance_transactions(
    dev_node: DevNode, run_aither: Run, tmp_path: Path
) -> None:
    node = dev_node
    register(run_aither, node, 2, "")  # the council proposal adds it
    source = tmp_path / "agent.air"
    source.write_text(AGENT_IR)
    agent_hex = str(
        cli_json(run_aither, node, "deploy", str(source), "--dev-account", "0")["agent"]
    )
    agent = bytes.fromhex(agent_hex[2:])
    v0 = assemble(AGENT_IR).code.code_id
    deposit = PARAMS.min_deposit

    def estimate(spec: dict) -> int:
        return int(str(node.rpc("aither_estimateGas", spec)), 16)

    code = CodeChangeSpec(agent, "STRATEGY", V1, "cheaper", "", deposit)
    params = ParamsChangeSpec(GovernanceParams(voting_period=12), "longer votes", deposit)
    council = CouncilChangeSpec(
        (NewMember(dev_key(2).address, Role.CUSTOM, "Fuzz"),), (), "", deposit
    )
    cases = [
        (
            code,
            {"kind": "code", "agent": agent_hex, "region": "STRATEGY", "newIr": V1,
             "rationale": "cheaper", "deposit": hex(deposit)},
        ),
        (
            params,
            {"kind": "params", "params": GovernanceParams(voting_period=12).to_json(),
             "rationale": "longer votes", "deposit": hex(deposit)},
        ),
        (
            council,
            {"kind": "council", "council": {"add": [{"address": address(2), "role": "Custom",
             "roleName": "Fuzz"}]}, "deposit": hex(deposit)},
        ),
        (
            PolicySpec(AgentPolicy(agent, (dev_key(2).address,), ("Trader",), 100, 3600), "",
                       deposit),
            {"kind": "policy", "agent": agent_hex, "policy": {"callers": [address(2)],
             "roles": ["Trader"], "spendLimit": "0x64", "periodSec": 3600},
             "deposit": hex(deposit)},
        ),
        (
            GasScheduleSpec(schedule_with(GAS_V1, 2, {"simple": 150}), "", deposit),
            {"kind": "gas", "gasSchedule": {"version": 2, "costs": {"simple": 150}},
             "deposit": hex(deposit)},
        ),
    ]  # fmt: skip
    proposals = []
    for spec, described in cases:
        payload = ProposePayload(spec)
        gas = estimate({"kind": "propose", "spec": described})
        assert gas == static_gas(TxKind.PROPOSE, payload), described["kind"]
        # Without a deposit the widest one is assumed: never less.
        assert estimate({"kind": "propose", "spec": {**described, "deposit": None}}) >= gas
        # Enough, and close: the estimate assumes the widest nonce, gas and price encodings.
        receipt = send(node, PROPOSER, TxKind.PROPOSE, payload, gas)
        assert receipt["status"] == "0x1", receipt
        assert 0 <= gas - int(receipt["gasUsed"], 16) <= SLACK, (gas, receipt["gasUsed"])
        proposals.append(
            next(e["args"][0] for e in receipt["logs"] if e["event"] == "ProposalSubmitted")
        )

    revert = RevertSpec(agent, "STRATEGY", v0, "undo", deposit, emergency=False)
    described = {"kind": "revert", "agent": agent_hex, "region": "STRATEGY",
                 "snapshot": "0x" + v0.hex(), "rationale": "undo", "emergency": False,
                 "deposit": deposit}  # fmt: skip
    gas = estimate({"kind": "propose", "spec": described})
    assert gas == static_gas(TxKind.PROPOSE, ProposePayload(revert))

    why = "the sandbox figures look right"
    vote = VotePayload(bytes.fromhex(proposals[1][2:]), Choice.VETO, why)
    gas = estimate({"kind": "vote", "proposal": proposals[1], "choice": "veto", "explanation": why})
    receipt = send(node, dev_key(5), TxKind.VOTE, vote, gas)
    assert receipt["status"] == "0x1" and int(receipt["gasUsed"], 16) <= gas, receipt
    assert node.rpc("aither_getVotes", proposals[1])[0]["choice"] == "veto"

    cancel = CancelPayload(bytes.fromhex(proposals[0][2:]))
    gas = estimate({"kind": "cancel", "proposal": proposals[0]})
    receipt = send(node, PROPOSER, TxKind.CANCEL, cancel, gas)
    assert receipt["status"] == "0x1" and int(receipt["gasUsed"], 16) <= gas, receipt
    assert node.rpc("aither_getProposal", proposals[0])["status"] == "cancelled"

    for bad, reason in (
        ({"kind": "propose", "spec": {"kind": "law"}}, "spec.kind must be one of code"),
        ({"kind": "propose"}, "spec must be an object"),
        ({"kind": "propose", "spec": {"kind": "params", "params": {"voting_period": 0}}},
         "params: voting_period must be an integer in 1"),
        ({"kind": "propose", "spec": {"kind": "council", "council": {"add": [
            {"address": address(2), "role": "Oracle"}]}}}, "council.add role must be one of"),
        ({"kind": "propose", "spec": {"kind": "policy", "agent": agent_hex, "policy": {
            "roles": ["1st"]}}}, "policy: '1st' is not a role"),
        ({"kind": "propose", "spec": {"kind": "policy", "agent": agent_hex, "policy": {
            "spendLimit": 5}}}, "policy: a spend limit needs a period"),
        ({"kind": "propose", "spec": {"kind": "gas", "gasSchedule": {"version": 2, "costs": {
            "simple": -5}}}}, "gasSchedule: simple must be an integer in 0.."),
        ({"kind": "vote", "proposal": proposals[1], "choice": "maybe"}, "choice must be one of"),
        ({"kind": "cancel", "proposal": "0x12"}, "proposal must be 32 bytes"),
    ):  # fmt: skip
        error = node.rpc_error("aither_estimateGas", bad)
        assert error["code"] == -32602 and reason in str(error["message"]), (bad, error)


def test_the_archive_pages_over_rpc(dev_node: DevNode) -> None:
    node = dev_node
    filed = []
    with RpcClient(node.url) as client:
        for period in (11, 12, 13):
            spec = ParamsChangeSpec(GovernanceParams(voting_period=period), "", PARAMS.min_deposit)
            receipt = node.wait_for_receipt(node.send_raw(build_propose(client, PROPOSER, spec)))
            filed.append(receipt["logs"][0]["args"][0])
    page = node.rpc("aither_getArchive", 1, 2)
    assert (page["total"], page["offset"], page["limit"]) == (3, 1, 2)
    assert [p["id"] for p in page["proposals"]] == filed[1:]
    assert [p["params"]["voting_period"] for p in page["proposals"]] == [12, 13]
    assert node.rpc("aither_getArchive", 3, 2)["proposals"] == []
    assert [p["id"] for p in node.rpc("aither_getArchive")["proposals"]] == filed
    error = node.rpc_error("aither_getArchive", 0, 101)
    assert error["code"] == -32602 and "limit must be 1..100" in str(error["message"])


def test_the_proposer_cancels_from_the_wallet_and_gets_part_of_the_deposit_back(
    dev_node: DevNode, run_aither: Run
) -> None:
    node = dev_node
    filed = cli_json(run_aither, node, "propose-params", "--set", "voting_period=20",
                     "--dev-account", "1")  # fmt: skip
    pid = str(filed["proposal"])
    stranger = cli(run_aither, node, "cancel", pid, "--dev-account", "2")
    assert stranger.returncode == 1 and "only the proposer may cancel" in stranger.stderr
    before = node.balance(PROPOSER.address)
    cancelled = cli_json(run_aither, node, "cancel", pid, "--dev-account", "1")
    assert cancelled["status"] == "ok" and cancelled["proposal"] == pid, cancelled
    proposal = node.rpc("aither_getProposal", pid)
    assert proposal["status"] == "cancelled"
    fee = int(node.rpc("aither_getTransactionReceipt", cancelled["hash"])["fee"], 16)
    burnt = PARAMS.min_deposit * PARAMS.cancel_burn_ppm // 1_000_000
    assert node.balance(PROPOSER.address) == before - fee + PARAMS.min_deposit - burnt
