"""Agents on a live dev node: `aither wallet deploy` and `call`, and the agent RPC methods.

The tests share one node and build on each other in file order: the counter agent is deployed
first, then called, then read back.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from avm.assembler import assemble
from core.crypto import to_checksum_address
from genesis.dev import dev_key

if TYPE_CHECKING:
    from conftest import DevNode

COUNTER = """\
;; a counter that can pay out of what it holds
:bump
  KV_FETCH "count" -> count
  IF count == NULL THEN
    SET count = 0
  ENDIF
  ADD count, ARGS[0] -> count
  KV_STORE "count", count
  LOG "bumped", count
  RETURN count
:pay
  PAY_AGENT ARGS[0], ARGS[1] -> ok
  RETURN ok
:fail
  KV_STORE "count", -1
  REVERT "not today"
"""
DEV1 = to_checksum_address(dev_key(1).address)
AGENT: dict[str, str] = {}  # filled by the deploy test, read by the ones after it

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("agents") / "counter.air"
    path.write_text(COUNTER)
    return path


def wallet(run_aither: Run, node: DevNode, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_aither("wallet", *args, "--rpc", node.url)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def wallet_json(run_aither: Run, node: DevNode, *args: str) -> dict[str, object]:
    result = wallet(run_aither, node, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_wallet_deploy_assembles_sends_and_prints_the_agent(run_aither, shared_node, source):
    out = wallet_json(
        run_aither,
        shared_node,
        "deploy",
        str(source),
        "--dev-account",
        "0",
        "--storage",
        "count=40",
        "--value",
        "2",
    )
    assert out["status"] == "ok" and out["codeId"] == "0x" + assemble(COUNTER).code.code_id.hex()
    AGENT["address"] = str(out["agent"])
    agent = shared_node.rpc("aither_getAgent", AGENT["address"])
    assert agent["codeId"] == out["codeId"] and agent["entries"] == ["bump", "pay", "fail"]
    assert int(agent["balance"], 16) == 2 * 10**18


def test_deploy_errors_name_the_file_line_and_column(run_aither, shared_node, tmp_path):
    bad = tmp_path / "bad.air"
    bad.write_text(":main\n  KV_STOR 1, 2\n")
    result = wallet(run_aither, shared_node, "deploy", str(bad), "--dev-account", "0")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"error: {bad}:2:3:") and "KV_STORE" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    model = tmp_path / "model.air"
    model.write_text(':main\n  GPU_INFER "m", "hi" -> out\n  RETURN out\n')
    result = wallet(run_aither, shared_node, "deploy", str(model), "--dev-account", "0")
    assert result.returncode == 1
    assert "GPU_INFER at line 2 is not deterministic" in result.stderr


def test_wallet_call_sends_a_call_and_prints_the_return_value(run_aither, shared_node):
    args = ("call", AGENT["address"], "bump", "2", "--dev-account", "1")
    result = wallet(run_aither, shared_node, *args)
    assert result.returncode == 0, result.stderr
    assert "called bump: ok" in result.stdout and "returned 42" in result.stdout
    out = wallet_json(
        run_aither, shared_node, "call", AGENT["address"], "pay", DEV1, "5", "--dev-account", "1"
    )
    assert out["status"] == "ok" and out["value"] is True
    AGENT["call"] = str(out["hash"])
    receipt = shared_node.rpc("aither_getTransactionReceipt", out["hash"])
    assert receipt["to"] == AGENT["address"] and receipt["returnValue"] is True
    assert [log["event"] for log in receipt["logs"]] == ["Transfer"]


def test_a_trapping_call_fails_with_its_reason_and_changes_nothing(run_aither, shared_node):
    dry = wallet(run_aither, shared_node, "call", AGENT["address"], "fail", "--dry-run")
    assert dry.returncode == 1 and "revert" in dry.stdout and "not today" in dry.stdout
    args = ("call", AGENT["address"], "fail", "--gas", "100000", "--dev-account", "1")
    result = wallet(run_aither, shared_node, *args)
    assert result.returncode == 1 and "not today" in result.stdout
    stored = shared_node.rpc("aither_getStorage", AGENT["address"], "count")
    assert stored["value"] == 42


def test_aither_call_is_a_dry_run(run_aither, shared_node):
    before = shared_node.height()
    result = shared_node.rpc(
        "aither_call",
        {"to": AGENT["address"], "entry": "bump", "args": [8], "trace": True, "from": DEV1},
    )
    assert result["ok"] and result["value"] == 50 and result["trap"] is None
    assert result["logs"] == [{"event": "log", "agent": AGENT["address"], "data": ["bumped", 50]}]
    assert [e["opcode"] for e in result["trace"]][-1] == "RETURN"
    assert shared_node.rpc("aither_getStorage", AGENT["address"], "count")["value"] == 42
    assert shared_node.height() == before
    cli = wallet_json(run_aither, shared_node, "call", AGENT["address"], "bump", "8", "--dry-run")
    assert cli["value"] == 50 and cli["gasUsed"] == result["gasUsed"]
    error = shared_node.rpc_error("aither_call", {"to": DEV1, "entry": "bump"})
    assert error["code"] == -32001 and "agent" in error["message"]


def test_get_code_disassembles_to_text_that_assembles_to_the_same_code_id(shared_node):
    code = shared_node.rpc("aither_getCode", AGENT["address"])
    again = assemble(code["disassembly"]).code
    assert "0x" + again.code_id.hex() == code["codeId"]
    assert "0x" + again.to_bytes().hex() == code["code"]
    by_id = shared_node.rpc("aither_getCode", code["codeId"])
    assert by_id == code


def test_get_storage_and_lineage(shared_node):
    stored = shared_node.rpc("aither_getStorage", AGENT["address"], "count")
    assert stored["value"] == 42 and stored["raw"] == "0x2a"
    raw = shared_node.rpc("aither_getStorage", AGENT["address"], stored["key"], True)
    assert raw["value"] == 42
    assert shared_node.rpc("aither_getStorage", AGENT["address"], "missing")["value"] is None
    (deploy,) = shared_node.rpc("aither_getLineage", AGENT["address"])
    assert deploy["kind"] == "deploy" and deploy["parents"] == []


def test_trace_transaction_returns_the_executed_instructions(shared_node):
    trace = shared_node.rpc("aither_traceTransaction", AGENT["call"])
    assert trace["kind"] == "call" and trace["entry"] == "pay" and trace["value"] is True
    assert [e["opcode"] for e in trace["trace"]] == ["GET", "GET", "PAY_AGENT", "RETURN"]
    assert sum(e["gas"] for e in trace["trace"]) == int(trace["avmGasUsed"], 16)
    assert len(trace["traceHash"]) == 66
    again = shared_node.rpc("aither_traceTransaction", AGENT["call"])
    assert again == trace


STRATEGY = """
:double
  MUL ARGS[0], 2 -> r
  LOG "doubled", r
  RETURN r
"""
TREASURY = """
:pay_and_ask
  CALL_AGENT ARGS[0], "double", [21], 300 -> r
  JUMP_IF_PLUGIN_FAILED refused
  RETURN r
:refused
  RETURN NULL
"""


def test_an_agent_calls_another_and_the_trace_shows_the_callee_s_frame(
    run_aither, shared_node, tmp_path
):
    (tmp_path / "strategy.air").write_text(STRATEGY)
    (tmp_path / "treasury.air").write_text(TREASURY)
    strategy = wallet_json(run_aither, shared_node, "deploy", str(tmp_path / "strategy.air"),
                           "--dev-account", "3")["agent"]  # fmt: skip
    paid = ("--dev-account", "3", "--value", "0.000000000000001")  # 1,000 base units
    treasury = wallet_json(run_aither, shared_node, "deploy", str(tmp_path / "treasury.air"),
                           *paid)["agent"]  # fmt: skip
    traced = wallet(run_aither, shared_node, "call", str(treasury), "pay_and_ask", str(strategy),
                    "--trace")  # fmt: skip
    assert traced.returncode == 0, traced.stderr
    lines = traced.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if "CALL_AGENT" in line)
    assert [line.split()[1] for line in lines[at + 1 : at + 5]] == ["GET", "MUL", "LOG", "RETURN"]
    sent = wallet_json(run_aither, shared_node, "call", str(treasury), "pay_and_ask",
                       str(strategy), "--dev-account", "3")  # fmt: skip
    assert sent["status"] == "ok" and sent["value"] == 42, sent
    receipt = shared_node.rpc("aither_getTransactionReceipt", sent["hash"])
    assert [log["event"] for log in receipt["logs"]] == ["Transfer", "log"]
    assert shared_node.balance(bytes.fromhex(str(strategy)[2:])) == 300
