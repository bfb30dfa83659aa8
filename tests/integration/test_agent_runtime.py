"""The white paper's three agents run end to end with `aither agent`, against a real dev node.

Models are a chat-completions server on 127.0.0.1, tools are HTTP JSON servers, embeddings are
the real all-MiniLM-L6-v2. Each run's payments become signed transfers the node includes, and
each trace file replays to the same hash with every server shut down. Where the paper's IR cannot
run as printed, `agent_examples/` holds the smallest variant and says why at its top; the swarm
listing (§10.8) runs as printed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from agent.config import parse_config
from agent.registry import build_router
from agent.runner import run_agent
from agent.state import AgentState
from avm.assembler import assemble_file
from avm.instructions.storage import kv_key
from avm.values import FIXED_SCALE, from_wire
from core.crypto import to_checksum_address
from core.encoding import decode
from genesis.dev import dev_key
from wallet.client import RpcClient
from wallet.keystore import Keystore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agent"))
from runtime_servers import JsonServer, last_user, openai_server

if TYPE_CHECKING:
    from conftest import DevNode

pytestmark = pytest.mark.slow

AITHER = Path(sys.executable).with_name("aither")
HERE = Path(__file__).resolve().parent
EXAMPLES = HERE / "agent_examples"
PAPER = HERE.parents[1] / "avm" / "examples"
CLI_TIMEOUT = 180.0  # a run that embeds loads the model first


def agent(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`aither agent ...` as its own process."""
    result = subprocess.run(
        [str(AITHER), "agent", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        cwd=cwd,
        check=False,
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def run_json(*args: str, cwd: Path) -> dict:
    result = agent("run", *args, "--json", cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def assert_replays(trace: Path, cwd: Path) -> None:
    result = agent("replay", str(trace), "--json", cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["matches"] is True


DOCS = {
    "avm": "The Agent Virtual Machine runs gas-metered IR programs for AI agents.",
    "council": "A council of reviewers votes on proposals that change an agent's code.",
    "bread": "Sourdough bread needs flour, water, salt and a starter culture.",
    "tides": "Ocean tides are caused by the gravitational pull of the moon.",
}


def cite_top_document(model: str, messages: list[dict[str, str]]) -> str:
    _question, docs = json.loads(last_user(messages))
    return f"See {docs[0]['id']}: {docs[0]['text']}"


def test_rag_bot_answers_from_the_right_document(dev_node: DevNode, tmp_path: Path) -> None:
    state = tmp_path / "agents"
    with openai_server(cite_top_document) as llm:
        plugins = tmp_path / "plugins.toml"
        plugins.write_text(
            f'[plugins.embed]\nkind = "local"\n\n[plugins.llm]\nkind = "openai"\n'
            f'base_url = "{llm.url}/v1"\nmodel = "llama"\nmax_retries = 0\n'
        )
        # Ingest in this process (one model load), as the agent of dev account 2.
        router = build_router(parse_config({"plugins": {"embed": {"kind": "local"}}}))
        program = assemble_file(str(EXAMPLES / "rag_bot.air")).code
        with RpcClient(dev_node.url) as client:
            for doc_id, text in DOCS.items():
                report = run_agent(
                    program,
                    dev_key(2),
                    client,
                    router,
                    AgentState(state, dev_key(2).address),
                    "ingest",
                    (doc_id, text),
                )
                assert report.result.ok and report.result.value is True, report.result.trap
        trace = tmp_path / "rag.trace.json"
        out = run_json(
            str(EXAMPLES / "rag_bot.air"), "--dev-account", "2", "--rpc", dev_node.url,
            "--entry", "retrievalPhase", "--arg", '"How do I bake a loaf with a starter?"',
            "--plugins", str(plugins), "--state-dir", str(state), "--trace", str(trace),
            cwd=tmp_path,
        )  # fmt: skip
    reply = out["value"]["conversation"][-1]
    assert reply["role"] == "assistant" and reply["content"].startswith("See bread:"), reply
    assert [c["opcode"] for c in out["plugin_calls"]] == ["CALC_EMBED", "GPU_INFER"]
    assert out["transactions"] == []
    assert_replays(trace, tmp_path)


def trading_model(model: str, messages: list[dict[str, str]]) -> str:
    """Sentiment scores, a strategy patch, a decision and its improvement."""
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    if "Improve performance" in system:
        return ":strategy\n  RETURN 0.5\n"  # the new AGENT_STRATEGY region
    if model == "decision-model" or "Aggregate" in system:
        return json.dumps({"action": "BUY", "token": "ETH", "size": 1})
    return "0.9" if "moon" in last_user(messages) else "0.2"


def trading_tools() -> JsonServer:
    return JsonServer(
        {
            "/twitter": lambda body: ["ETH to the moon", "ETH fees are high"],
            "/trading": lambda body: {"order": "accepted", "echo": body["args"]},
            "/critic": lambda body: {"valid": True},
            "/hpc": lambda body: {"signal": "long", "inputs": body["args"]},
        }
    )


def trading_plugins(path: Path, llm: str, tools: str, node: str) -> Path:
    path.write_text(
        f"""
[plugins.llm]
kind = "openai"
base_url = "{llm}/v1"
model = "sentiment"
max_retries = 0
[plugins.llm.models]
DecisionModel = "decision-model"

[tools.TwitterAPI]
kind = "http"
url = "{tools}/twitter"
[tools.TradingAPI]
kind = "http"
url = "{tools}/trading"
[tools.CriticModule]
kind = "http"
url = "{tools}/critic"
[tools.HpcGateway]
kind = "http"
url = "{tools}/hpc"

[hpc]
tool = "HpcGateway"

[chain]
web3_url = "{node}"
"""
    )
    return path


def test_trading_agent_trades_rewrites_its_strategy_and_pays_on_chain(
    dev_node: DevNode, tmp_path: Path
) -> None:
    hpc_bot = dev_key(5).address
    before = dev_node.balance(hpc_bot)
    state = tmp_path / "agents"
    trace = tmp_path / "trading.trace.json"
    with openai_server(trading_model) as llm, trading_tools() as tools:
        plugins = trading_plugins(tmp_path / "plugins.toml", llm.url, tools.url, dev_node.url)
        out = run_json(
            str(EXAMPLES / "trading_agent.air"), "--dev-account", "3", "--rpc", dev_node.url,
            "--arg", f'x"{hpc_bot.hex()}"', "--plugins", str(plugins), "--state-dir", str(state),
            "--trace", str(trace), "--gas", "100000", cwd=tmp_path,
        )  # fmt: skip
        orders = [body for path, body in tools.requests if path == "/trading"]
    assert "Patch applied successfully; agent strategy updated." in out["logs"]
    assert out["new_code_id"] is not None  # the rewritten AGENT_STRATEGY was saved
    assert (state / dev_key(3).address.hex() / "code.bin").exists()
    assert orders and orders[0]["args"] == {"action": "BUY", "size": 1, "token": "ETH"}
    failed = {c["opcode"]: c["failure"] for c in out["plugin_calls"] if not c["ok"]}
    assert list(failed) == ["CHAIN_OP"] and "only reads" in failed["CHAIN_OP"]  # swapTokens
    (tx,) = out["transactions"]
    assert tx["to"] == to_checksum_address(hpc_bot) and tx["amount"] == "10"
    receipt = dev_node.rpc("aither_getTransactionReceipt", tx["hash"])
    assert isinstance(receipt, dict) and receipt["status"] == "0x1"
    assert dev_node.balance(hpc_bot) == before + 10
    assert_replays(trace, tmp_path)


def test_trading_agent_without_credits_stops_before_any_plugin(
    dev_node: DevNode, tmp_path: Path
) -> None:
    keystore = tmp_path / "keys"
    Keystore(keystore, opslimit=1, memlimit=8192).create("broke", "pw")
    password = tmp_path / "password"
    password.write_text("pw\n")
    out = run_json(
        str(EXAMPLES / "trading_agent.air"), "--key", "broke", "--keystore", str(keystore),
        "--password-file", str(password), "--rpc", dev_node.url, "--arg", 'x"00"',
        "--state-dir", str(tmp_path / "agents"), cwd=tmp_path,
    )  # fmt: skip
    assert out["logs"] == ["Insufficient credits-cannot proceed."]
    assert out["plugin_calls"] == [] and out["transactions"] == []


def test_swarm_sentiment_runs_as_printed(dev_node: DevNode, tmp_path: Path) -> None:
    partials = JsonServer({"/inbox": lambda body: [0.6, 0.8, 0.7]})
    state = tmp_path / "agents"
    trace = tmp_path / "swarm.trace.json"
    with partials:
        plugins = tmp_path / "plugins.toml"
        plugins.write_text(
            f'[tools.SwarmInbox]\nkind = "http"\nurl = "{partials.url}/inbox"\n\n'
            '[swarm]\nresponses_tool = "SwarmInbox"\n'
        )
        out = run_json(
            str(PAPER / "swarm_sentiment.air"), "--dev-account", "4", "--rpc", dev_node.url,
            "--plugins", str(plugins), "--state-dir", str(state), "--trace", str(trace),
            cwd=tmp_path,
        )  # fmt: skip
        (request,) = [body for _, body in partials.requests]
    assert request == {"op": "wait", "tool": "SwarmInbox", "func": "WAIT_FOR_RESPONSE",
                       "args": "REQ_SENTIMENT"}  # fmt: skip
    assert [c["opcode"] for c in out["plugin_calls"]] == ["WAIT_FOR_RESPONSE", "REDUCE_MODEL_CALL"]
    # No admin token and no swarm key on the node: the messages stayed the AVM's events.
    assert out["swarm"].startswith("local events") and out["transactions"] == []
    stored = AgentState(state, dev_key(4).address).load()[kv_key("collab_sentiment")]
    assert from_wire(decode(stored)) == 7 * FIXED_SCALE // 10  # the average of the partials
    assert_replays(trace, tmp_path)
