"""A local run's on-chain effects, against a real dev node: a CALL that changes an on-chain
agent's KV, a SELF_MODIFY on a `council` region that files a proposal, and a SWARM_CONNECT that
joins a channel. Each is a signed transaction sent when the run ends well and awaited; its
receipt is in the trace, and the trace replays to the same hash and effects with the node gone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from swarm_channels import create_channel, register

from avm.assembler import assemble
from core.crypto import SigningKey, to_checksum_address
from genesis.dev import dev_key
from wallet.client import RpcClient
from wallet.txbuilder import build_deploy

if TYPE_CHECKING:
    from conftest import DevNode

pytestmark = pytest.mark.slow

AITHER = Path(sys.executable).with_name("aither")
CLI_TIMEOUT = 120.0


def aither(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(AITHER), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        cwd=cwd,
        check=False,
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def run_json(program: Path, *args: str, cwd: Path, ok: bool = True) -> dict:
    result = aither("agent", "run", str(program), *args, "--json", cwd=cwd)
    assert (result.returncode == 0) is ok, result.stdout + result.stderr
    return json.loads(result.stdout)


def replays(trace: Path, cwd: Path) -> dict:
    result = aither("agent", "replay", str(trace), "--json", cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["matches"] and report["effects_match"], report
    return report


def deploy(node: DevNode, key: SigningKey, source: str) -> bytes:
    code = assemble(source).code.to_bytes()
    with RpcClient(node.url) as client:
        raw = build_deploy(client, key, code)
    receipt = node.wait_for_receipt(node.send_raw(raw))
    assert receipt["status"] == "0x1", receipt
    return bytes.fromhex(str(receipt["contractAddress"])[2:])


COUNTER = """
:bump
  KV_FETCH "count" -> count
  IF count == NULL THEN
    SET count = 0
  ENDIF
  ADD count, ARGS[0] -> count
  KV_STORE "count", count
  RETURN count
:fail
  REVERT "never"
"""

CALLER = """
:main
  CHAIN_OP "aither", "storage", {"agent": ARGS[0], "key": "count"} -> before
  CHAIN_OP "aither", "call", {"to": ARGS[0], "entry": "bump", "args": [2]} -> after
  JUMP_IF_PLUGIN_FAILED failed
  RETURN [before, after]
:failed
  RETURN "call failed"
:trapping
  CHAIN_OP "aither", "call", {"to": ARGS[0], "entry": "fail"} -> nothing
  JUMP_IF_PLUGIN_FAILED failed
  RETURN "called"
"""


def test_chain_op_call_changes_an_on_chain_agents_kv_by_a_signed_call(
    dev_node: DevNode, tmp_path: Path
) -> None:
    counter = deploy(dev_node, dev_key(0), COUNTER)
    program = tmp_path / "caller.air"
    program.write_text(CALLER)
    trace = tmp_path / "call.trace.json"
    common = ["--dev-account", "1", "--rpc", dev_node.url, "--state-dir", str(tmp_path / "s")]
    out = run_json(
        program, *common, "--entry", "main", "--arg", f'x"{counter.hex()}"', "--trace",
        str(trace), cwd=tmp_path,
    )  # fmt: skip
    assert out["value"] == [None, 2]  # no count yet; the dry run of bump returns 2
    (tx,) = out["transactions"]
    assert tx["kind"] == "call" and tx["entry"] == "bump" and tx["args"] == [2]
    assert tx["ok"] and tx["returnValue"] == 2
    stored = dev_node.rpc("aither_getStorage", to_checksum_address(counter), "count")
    assert isinstance(stored, dict) and stored["value"] == 2  # the KV of the on-chain agent
    receipt = dev_node.rpc("aither_getTransactionReceipt", tx["hash"])
    assert isinstance(receipt, dict) and receipt["from"] == to_checksum_address(dev_key(1).address)

    again = run_json(
        program, *common, "--entry", "main", "--arg", f'x"{counter.hex()}"', cwd=tmp_path
    )
    assert again["value"] == [2, 4]
    refused = run_json(
        program, *common, "--entry", "trapping", "--arg", f'x"{counter.hex()}"', cwd=tmp_path
    )
    assert refused["value"] == "call failed" and refused["transactions"] == []

    dev_node.stop()  # the replay needs no node
    report = replays(trace, tmp_path)
    assert [r["returnValue"] for r in report["receipts"]] == [2]


ON_CHAIN_STRATEGY = """
:decide
  RETURN 0
.region STRATEGY council
:strategy
  RETURN 1
.endregion
"""

LOCAL_STRATEGY = """
:main
  SELF_MODIFY "STRATEGY", ":strategy\\n  RETURN 2\\n" -> proposal
  RETURN proposal
.region STRATEGY council
:strategy
  RETURN 1
.endregion
"""


def test_self_modify_on_a_council_region_files_a_proposal_on_chain(
    dev_node: DevNode, tmp_path: Path
) -> None:
    owner = dev_key(2)
    home = deploy(dev_node, owner, ON_CHAIN_STRATEGY)
    program = tmp_path / "strategy.air"
    program.write_text(LOCAL_STRATEGY)
    common = ["--dev-account", "2", "--rpc", dev_node.url, "--state-dir", str(tmp_path / "s")]

    alone = run_json(program, *common, cwd=tmp_path, ok=False)
    assert "--agent ADDRESS" in alone["trap"] and alone["transactions"] == []

    council = dev_node.rpc("aither_getCouncil")
    assert isinstance(council, dict)
    deposit = int(council["params"]["min_deposit"])
    before = dev_node.balance(owner.address)
    trace = tmp_path / "propose.trace.json"
    out = run_json(
        program, *common, "--agent", to_checksum_address(home), "--trace", str(trace),
        cwd=tmp_path,
    )  # fmt: skip
    (tx,) = out["transactions"]
    assert tx["kind"] == "propose" and tx["ok"] and tx["region"] == "STRATEGY"
    assert tx["deposit"] == str(deposit) and tx["proposalId"]
    proposal = dev_node.rpc("aither_getProposal", tx["proposalId"])
    assert isinstance(proposal, dict)
    text = json.dumps(proposal)
    assert "RETURN 2" in text and to_checksum_address(owner.address) in text
    fee = int(str(dev_node.rpc("aither_getTransactionReceipt", tx["hash"])["fee"]), 16)  # type: ignore[index]
    assert dev_node.balance(owner.address) == before - deposit - fee
    assert out["new_code_id"] is None  # the council, not the run, rewrites the region

    dev_node.stop()
    report = replays(trace, tmp_path)
    assert report["receipts"][0]["proposalId"] == tx["proposalId"]


def test_swarm_connect_joins_a_channel_and_rotates_its_key_on_chain(
    dev_node: DevNode, tmp_path: Path
) -> None:
    rpc = ["--rpc", dev_node.url]
    register(dev_node.url, dev_key(0))
    register(dev_node.url, dev_key(3))
    create_channel(dev_node.url, dev_key(0), "socialswarm")
    program = tmp_path / "connect.air"
    program.write_text('SWARM_CONNECT "SocialSwarm" -> ok\nRETURN ok\n')
    trace = tmp_path / "connect.trace.json"
    common = ["--dev-account", "3", *rpc, "--state-dir", str(tmp_path / "s")]
    out = run_json(program, *common, "--trace", str(trace), cwd=tmp_path)
    assert [t["kind"] for t in out["transactions"]] == ["channel_join", "channel_rotate"]
    assert all(t["ok"] for t in out["transactions"])
    channel = dev_node.rpc("aither_getChannel", "socialswarm")
    assert isinstance(channel, dict) and channel["epoch"] == 1
    assert to_checksum_address(dev_key(3).address) in channel["members"]  # type: ignore[operator]

    again = run_json(program, *common, cwd=tmp_path)
    assert again["effects"] == []  # a member already: nothing to send

    unregistered = run_json(
        program, "--dev-account", "4", *rpc, "--state-dir", str(tmp_path / "s"), cwd=tmp_path,
        ok=False,
    )  # fmt: skip
    assert "register one first" in unregistered["trap"]

    dev_node.stop()
    replays(trace, tmp_path)
