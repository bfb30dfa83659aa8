"""A dev chain's controls (`aither dev`, `aither_*`/`evm_*`/`anvil_*`) on a live dev node:
governance driven to enactment in seconds, time moved, snapshots reverted, state set by hand."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from avm.assembler import assemble
from core.crypto import hash32, to_checksum_address
from genesis.dev import DEV_CHAIN_ID, DEV_GOVERNANCE, dev_key
from ledger.gas import DEFAULT_GAS_PRICE
from ledger.governance.payloads import Choice
from ledger.tx import Deploy, Transaction, TxKind
from wallet.client import RpcClient
from wallet.txbuilder import build_vote

if TYPE_CHECKING:
    from conftest import DevNode, NodeLauncher, WaitUntil

Run = Callable[..., subprocess.CompletedProcess[str]]

VOTERS = (5, 6, 8)  # SecurityAuditor, LatencyProfiler, RegressionHunter: a quorum, all yes
AGENT_IR = """\
:ping
  LOG "ping", ARGS[0]
  RETURN ARGS[0]
"""


@pytest.fixture
def node(start_node: NodeLauncher) -> DevNode:
    return start_node()


def dev(run: Run, node: DevNode, *args: str) -> dict:
    done = run("dev", *args, "--rpc", node.url, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def head(node: DevNode) -> dict:
    block = node.rpc("aither_getBlockByNumber", "latest")
    assert isinstance(block, dict)
    return block


def test_a_parameter_change_goes_from_proposal_to_enactment_in_seconds(
    node: DevNode, run_aither: Run
) -> None:
    started = time.monotonic()
    filed = run_aither(
        "wallet", "propose-params", "--set", "voting_period=12", "--rationale", "longer votes",
        "--dev-account", "1", "--rpc", node.url, "--json",
    )  # fmt: skip
    assert filed.returncode == 0, filed.stdout + filed.stderr
    pid = json.loads(filed.stdout)["proposal"]
    first, *others = VOTERS
    # By the prefix `gov list` and `gov lineage` print:
    voted = run_aither(
        "wallet", "vote", pid[:10], "yes", "--why", "ok", "--dev-account", str(first),
        "--rpc", node.url, "--json",
    )  # fmt: skip
    assert voted.returncode == 0 and json.loads(voted.stdout)["proposal"] == pid, voted.stderr
    with RpcClient(node.url) as client:
        for member in others:
            raw = build_vote(client, dev_key(member), bytes.fromhex(pid[2:]), Choice.YES, "ok")
            assert node.wait_for_receipt(node.send_raw(raw))["status"] == "0x1"
    proposal = node.rpc("aither_getProposal", pid)
    assert isinstance(proposal, dict) and proposal["status"] == "voting"
    due = int(proposal["votingEndHeight"]) + DEV_GOVERNANCE.enactment_delay
    mined = dev(run_aither, node, "mine", str(due - node.height()))
    assert mined["height"] == due == node.height()
    proposal = node.rpc("aither_getProposal", pid)
    assert isinstance(proposal, dict) and proposal["status"] == "enacted", proposal
    assert node.rpc("aither_getCouncil")["params"]["voting_period"] == 12  # type: ignore[index]
    assert time.monotonic() - started < 10.0


def test_time_moves_forward_by_the_block_it_makes(node: DevNode, run_aither: Run) -> None:
    before = int(head(node)["timestamp"], 16)
    moved = dev(run_aither, node, "time", "+3600")
    block = head(node)
    assert int(block["number"], 16) == moved["height"] == 1
    assert int(block["timestamp"], 16) == moved["timestamp"] >= before + 3600
    later = dev(run_aither, node, "mine", "3", "--interval", "60")
    assert later["height"] == 4
    assert int(head(node)["timestamp"], 16) >= moved["timestamp"] + 120


def test_a_revert_undoes_transfers_a_deploy_and_a_proposal(node: DevNode, run_aither: Run) -> None:
    sender, recipients = dev_key(0), [hash32(bytes([i]))[:20] for i in range(4)]
    node.transfer(sender, recipients[0], 5)  # something before the snapshot
    snap = dev(run_aither, node, "snapshot")
    before = head(node)
    balances = {r: node.balance(r) for r in [sender.address, *recipients]}
    every_log = {"fromBlock": "0x0", "toBlock": "latest"}
    logs = node.rpc("eth_getLogs", every_log)

    first = node.nonce(sender.address, "pending")
    hashes = [
        node.send_raw(node.signed_transfer(sender, recipients[n % 4], 10**15, nonce=first + n))
        for n in range(100)
    ]
    receipts = [node.wait_for_receipt(h) for h in hashes]
    assert all(r["status"] == "0x1" for r in receipts)
    code = assemble(AGENT_IR).code.to_bytes()
    deployer = dev_key(2)
    deploy = Transaction(
        DEV_CHAIN_ID, TxKind.DEPLOY, deployer.pubkey, node.nonce(deployer.address, "pending"),
        2_000_000, DEFAULT_GAS_PRICE, Deploy(code, (), 0),
    ).signed(deployer)  # fmt: skip
    deployed = node.wait_for_receipt(node.send_raw(deploy.encode()))
    assert deployed["status"] == "0x1" and deployed["logs"]
    filed = run_aither(
        "wallet", "propose-params", "--set", "voting_period=12", "--dev-account", "1",
        "--rpc", node.url, "--json",
    )  # fmt: skip
    assert filed.returncode == 0, filed.stderr
    pid = json.loads(filed.stdout)["proposal"]
    assert head(node)["stateRoot"] != before["stateRoot"]
    assert node.rpc("eth_getLogs", every_log) != logs

    reverted = dev(run_aither, node, "revert", str(snap["id"]))

    assert reverted["height"] == int(before["number"], 16) == node.height()
    assert head(node) == before
    assert {r: node.balance(r) for r in balances} == balances
    assert node.rpc("eth_getLogs", every_log) == logs
    agent = deployed["contractAddress"]
    assert node.rpc("eth_getLogs", {**every_log, "address": agent}) == []
    assert node.rpc("eth_getCode", agent, "latest") == "0x"
    for tx_hash in [*hashes, deployed["transactionHash"]]:
        assert node.rpc_error("aither_getTransactionReceipt", tx_hash)["code"] == -32001
    assert node.rpc_error("aither_getProposal", pid)["code"] == -32001
    assert node.rpc("aither_getHistory", to_checksum_address(recipients[1]), 10) == []
    # The chain goes on from the snapshot: the same sender's nonce is reused.
    assert node.transfer(sender, recipients[0], 1)["status"] == "0x1"
    assert node.height() == int(before["number"], 16) + 1
    node.restart()  # the reverted chain reopens, and its validator signs on
    assert node.transfer(sender, recipients[1], 1)["status"] == "0x1"


def test_balances_and_nonces_are_set_by_a_block_and_dumps_load_back(
    node: DevNode, run_aither: Run, tmp_path: Path
) -> None:
    who = to_checksum_address(hash32(b"set by hand")[:20])
    dev(run_aither, node, "set-balance", who, "12.5")
    assert node.balance(who) == 12_500_000_000_000_000_000
    dev(run_aither, node, "set-nonce", who, "7")
    assert node.nonce(bytes.fromhex(who[2:])) == 7
    dumped = dev(run_aither, node, "dump", str(tmp_path / "state.json"))
    assert dumped["height"] == node.height() == 2
    dev(run_aither, node, "set-balance", who, "1")
    loaded = dev(run_aither, node, "load", str(tmp_path / "state.json"))
    assert loaded["height"] == 4
    dumped_block = node.rpc("aither_getBlockByNumber", "0x2")
    assert isinstance(dumped_block, dict)
    assert head(node)["stateRoot"] == dumped_block["stateRoot"]
    assert node.balance(who) == 12_500_000_000_000_000_000


def test_dev_controls_refuse_bad_input_in_one_line(node: DevNode, run_aither: Run) -> None:
    for args, message in [
        (("revert", "9"), "there is no snapshot 9"),
        (("time", "3600"), "give +SECONDS"),
        (("automine", "maybe"), "say on or off"),
        (("set-balance", "0x01", "1"), "address"),
    ]:
        done = run_aither("dev", *args, "--rpc", node.url)
        assert done.returncode == 1, done.stdout
        assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_an_impersonated_account_sends_without_its_key(node: DevNode) -> None:
    whale, recipient = dev_key(3), hash32(b"paid by an impersonated account")[:20]
    whale_address = to_checksum_address(whale.address)
    transfer = {"from": whale_address, "to": to_checksum_address(recipient), "value": "0x64"}
    refused = node.rpc_error("eth_sendTransaction", transfer)
    assert "not impersonated" in str(refused["message"])
    unseen = node.rpc_error("anvil_impersonateAccount", whale_address)
    assert "has sent a transaction" in str(unseen["message"])  # senders are keys
    node.transfer(whale, recipient, 1)
    node.rpc("anvil_impersonateAccount", whale_address)
    receipt = node.wait_for_receipt(str(node.rpc("eth_sendTransaction", transfer)))
    assert receipt["status"] == "0x1" and node.balance(recipient) == 101
    node.rpc("anvil_stopImpersonatingAccount", whale_address)
    assert "not impersonated" in str(node.rpc_error("eth_sendTransaction", transfer)["message"])


def test_interval_mining_and_automine_off(
    node: DevNode, run_aither: Run, wait_until: WaitUntil
) -> None:
    assert dev(run_aither, node, "interval", "1") == {"interval": 1}
    wait_until(lambda: node.height() >= 2, 10.0, "two blocks made by the interval")
    dev(run_aither, node, "interval", "0")
    dev(run_aither, node, "automine", "off")
    tx_hash = node.send_raw(node.signed_transfer(dev_key(0), hash32(b"later")[:20], 1))
    mined = dev(run_aither, node, "mine")
    assert node.wait_for_receipt(tx_hash)["blockNumber"] == hex(mined["height"])


def test_a_node_without_the_archive_refuses_old_state_saying_how_to_keep_it(
    start_node: NodeLauncher, run_aither: Run
) -> None:
    node = start_node("--no-archive", "--history-blocks", "2")
    who = to_checksum_address(dev_key(0).address)
    dev(run_aither, node, "mine", "5")
    assert node.rpc("eth_getBalance", who, "0x3") == node.rpc("eth_getBalance", who, "latest")
    error = node.rpc_error("eth_getBalance", who, "0x2")
    assert "not kept" in str(error["message"]) and "--archive" in str(error["message"])


TASKS = """
:setup
  SCHEDULE_TASK "report", 3600 -> ok
  RETURN ok
:report
  RETURN 1
"""


def test_a_scheduled_task_fires_after_the_clock_moves_an_hour(
    node: DevNode, run_aither: Run, tmp_path: Path
) -> None:
    program = tmp_path / "tasks.air"
    program.write_text(TASKS)
    common = ("--dev-account", "2", "--rpc", node.url, "--state-dir", str(tmp_path / "state"))
    dev(run_aither, node, "mine")  # the head's time is now (the dev genesis is long past)
    setup = run_aither("agent", "run", str(program), *common, "--entry", "setup")
    assert setup.returncode == 0 and "task report: every 3600 s" in setup.stdout, setup.stdout
    early = run_aither("agent", "tick", str(program), *common)
    assert early.returncode == 0 and early.stdout.strip() == "no task is due", early.stdout
    dev(run_aither, node, "time", "+3600")
    due = run_aither("agent", "tick", str(program), *common)
    assert due.returncode == 0 and "task report" in due.stdout, due.stdout + due.stderr
    assert "ok; value 1" in due.stdout, due.stdout


ON_CHAIN_TASKS = """
:setup
  SCHEDULE_TASK "report", 3600 -> ok
  RETURN ok
:report
  LOG "hourly report"
  RETURN 1
"""


def test_a_deployed_agent_s_task_runs_on_chain_after_the_clock_moves_an_hour(
    node: DevNode, run_aither: Run, tmp_path: Path
) -> None:
    program = tmp_path / "reporter.air"
    program.write_text(ON_CHAIN_TASKS)
    wallet = ("--rpc", node.url, "--json", "--dev-account", "0")
    deployed = run_aither("wallet", "deploy", str(program), "--value", "1", *wallet)
    assert deployed.returncode == 0, deployed.stderr
    agent = json.loads(deployed.stdout)["agent"]
    called = run_aither("wallet", "call", agent, "setup", *wallet)
    assert called.returncode == 0 and json.loads(called.stdout)["value"] is True, called.stdout
    (task,) = node.rpc("aither_getSchedule", agent)  # type: ignore[misc]
    assert task["task"] == "report" and task["intervalSec"] == 3600 and task["lastRun"] is None
    dev(run_aither, node, "mine")
    assert node.rpc("aither_getSchedule", agent)[0]["lastRun"] is None  # type: ignore[index]
    moved = dev(run_aither, node, "time", "+3600")
    (task,) = node.rpc("aither_getSchedule", agent)  # type: ignore[misc]
    assert task["lastRun"]["height"] == moved["height"] and task["lastRun"]["ok"] is True
    assert task["nextDue"] > moved["timestamp"]
    (run,) = node.rpc("aither_getScheduledRuns", hex(moved["height"]))  # type: ignore[misc]
    assert run["agent"] == agent and run["task"] == "report" and run["ok"] is True
    assert run["logs"] == [{"event": "log", "agent": agent, "data": ["hourly report", None]}]
    assert node.rpc("aither_getScheduledRuns", hex(moved["height"] - 1)) == []
