"""The swarm opcodes over a real node's swarm service: the §10.8 sentiment agent, as printed,
broadcasts its request on an encrypted channel, another identity on the node answers it, the
agent averages the answers and pays the first one its reward on chain; a wait nobody answers
takes the failure path; without the node's admin token the messages stay local events.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from swarm_channels import create_channel, join_and_rotate, register

from agent.state import AgentState
from avm.instructions.storage import kv_key
from avm.values import FIXED_SCALE, from_wire
from core.crypto import to_checksum_address
from core.encoding import decode
from genesis.dev import dev_key

if TYPE_CHECKING:
    from conftest import DevNode, WaitUntil

pytestmark = pytest.mark.slow

AITHER = Path(sys.executable).with_name("aither")
PAPER = Path(__file__).resolve().parents[2] / "avm" / "examples"
CLI_TIMEOUT = 120.0
CHANNEL = "socialswarm"
AGENT = dev_key(0)
HELPER = dev_key(1)


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


class Admin:
    """JSON-RPC calls carrying the node's admin token, as the swarm methods require."""

    def __init__(self, node: DevNode) -> None:
        self.token_file = node.data_dir / "admin-token"
        token = self.token_file.read_text().strip()
        self.http = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10.0)
        self.url = node.url

    def call(self, method: str, *params: object) -> dict[str, object]:
        request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        return self.http.post(self.url, json=request).json()

    def send(self, sender: bytes, body: object) -> dict[str, object]:
        text = body if isinstance(body, str) else json.dumps(body)
        return self.call("swarm_send", CHANNEL, text, to_checksum_address(sender))

    def messages(self, reader: bytes) -> list[dict[str, object]]:
        answer = self.call("swarm_messages", CHANNEL, 0, to_checksum_address(reader))
        return answer.get("result") or []  # type: ignore[return-value]


@pytest.fixture
def swarm_node(
    start_node: Callable[..., DevNode], tmp_path: Path, wait_until: WaitUntil
) -> Iterator[tuple[DevNode, Admin]]:
    """A dev node holding the swarm keys of dev accounts 0 and 1, both members of
    `socialswarm` (epoch 1), each able to read what the other sends."""
    node = start_node("--swarm-dev-account", "0", "--swarm-dev-account", "1")
    register(node.url, AGENT)
    register(node.url, HELPER)
    create_channel(node.url, AGENT, CHANNEL)
    join_and_rotate(node.url, HELPER, AGENT, CHANNEL)
    admin = Admin(node)
    # The node's swarm service takes the rotation in after its block: ready when each identity
    # reads what the other sent in the new epoch.
    wait_until(lambda: "result" in admin.send(HELPER.address, "hello"), 20, "a send as 1")
    wait_until(
        lambda: any(m["text"] == "hello" for m in admin.messages(AGENT.address)),
        20,
        "0 reading 1",
    )
    wait_until(lambda: "result" in admin.send(AGENT.address, "hi"), 20, "a send as 0")
    wait_until(
        lambda: any(m["text"] == "hi" for m in admin.messages(HELPER.address)), 20, "1 reading 0"
    )
    yield node, admin
    admin.http.close()


def plugins_file(path: Path, min_responses: int) -> Path:
    path.write_text(f"[swarm]\nwait_timeout_sec = 30\nmin_responses = {min_responses}\n")
    return path


def answer_requests(admin: Admin, wait_until: WaitUntil, failures: list[BaseException]) -> None:
    """Dev account 1, as a swarm peer: answer the sentiment request twice."""
    try:
        found = wait_until(
            lambda: [
                m
                for m in admin.messages(HELPER.address)
                if (m["text"] or "").startswith("{") and '"REQ_SENTIMENT"' in str(m["text"])
            ],
            60,
            "the agent's request",
        )
        request = json.loads(found[0]["text"])  # type: ignore[index]
        assert request["avm"] == "broadcast" and request["reward"] == 5, request
        for score in (0.6, 0.8):
            sent = admin.send(HELPER.address, {"re": "REQ_SENTIMENT", "data": score})
            assert "result" in sent, sent
    except BaseException as exc:  # reported by the test's thread, which asserts on it
        failures.append(exc)


def test_swarm_sentiment_runs_over_the_nodes_swarm_and_pays_the_first_answer(
    swarm_node: tuple[DevNode, Admin], tmp_path: Path, wait_until: WaitUntil
) -> None:
    node, admin = swarm_node
    before = node.balance(HELPER.address)
    state = tmp_path / "agents"
    trace = tmp_path / "swarm.trace.json"
    failures: list[BaseException] = []
    peer = threading.Thread(target=answer_requests, args=(admin, wait_until, failures))
    peer.start()
    result = aither(
        "agent", "run", str(PAPER / "swarm_sentiment.air"), "--dev-account", "0",
        "--rpc", node.url, "--token-file", str(admin.token_file),
        "--plugins", str(plugins_file(tmp_path / "plugins.toml", 2)),
        "--state-dir", str(state), "--trace", str(trace), "--json", cwd=tmp_path,
    )  # fmt: skip
    peer.join()
    assert not failures, failures
    assert result.returncode == 0, result.stdout + result.stderr
    out = json.loads(result.stdout)
    assert out["swarm"] == "node" and out["plugin_calls"] == [{
        "opcode": "REDUCE_MODEL_CALL", "ok": True, "failure": None, "units": 0,
    }]  # fmt: skip
    stored = AgentState(state, AGENT.address).load()[kv_key("collab_sentiment")]
    assert from_wire(decode(stored)) == 7 * FIXED_SCALE // 10  # the average of 0.6 and 0.8
    reward, accept = out["transactions"]
    assert reward["kind"] == "channel_reward" and reward["amount"] == "5" and reward["ok"]
    assert accept["kind"] == "channel_accept" and accept["ok"]
    assert accept["sender"] == to_checksum_address(HELPER.address)
    assert node.balance(HELPER.address) == before + 5  # the first answer's reward, paid
    assert node.rpc("aither_getReward", reward["message"]) is None  # nothing left in escrow

    node.stop()
    replayed = aither("agent", "replay", str(trace), "--json", cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    report = json.loads(replayed.stdout)
    assert report["matches"] and [r["ok"] for r in report["receipts"]] == [True, True]


UNANSWERED = """
SWARM_CONNECT "SocialSwarm"
SWARM_BROADCAST "REQ_NOBODY", [1, 2]
WAIT_FOR_RESPONSE "REQ_NOBODY", 1 -> answers
JUMP_IF_PLUGIN_FAILED nobody
RETURN answers
:nobody
LOG "no answer in time"
RETURN "fallback"
"""


def test_a_wait_for_response_that_times_out_takes_the_failure_path(
    swarm_node: tuple[DevNode, Admin], tmp_path: Path
) -> None:
    node, admin = swarm_node
    program = tmp_path / "unanswered.air"
    program.write_text(UNANSWERED)
    result = aither(
        "agent", "run", str(program), "--dev-account", "0", "--rpc", node.url,
        "--token-file", str(admin.token_file), "--state-dir", str(tmp_path / "agents"),
        "--json", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    out = json.loads(result.stdout)
    assert out["swarm"] == "node" and out["value"] == "fallback"
    assert out["logs"] == ["no answer in time"] and out["transactions"] == []
    # While it waited it said so, on stderr (stdout stays the JSON answer).
    assert "swarm: waiting up to 1 s for an answer to REQ_NOBODY on 1 channel" in result.stderr
    sent = [m for m in admin.messages(HELPER.address) if "REQ_NOBODY" in str(m["text"])]
    assert len(sent) == 1  # the request went out; nobody answered it


def test_without_the_admin_token_swarm_messages_stay_local_events(
    swarm_node: tuple[DevNode, Admin], tmp_path: Path
) -> None:
    node, admin = swarm_node
    program = tmp_path / "unanswered.air"
    program.write_text(UNANSWERED.replace("REQ_NOBODY", "REQ_LOCAL"))
    result = aither(
        "agent", "run", str(program), "--dev-account", "0", "--rpc", node.url,
        "--state-dir", str(tmp_path / "agents"), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "swarm: messages stayed local events" in result.stdout
    assert "need its admin token" in result.stdout
    assert not [m for m in admin.messages(HELPER.address) if "REQ_LOCAL" in str(m["text"])]


FETCH = """
SWARM_CONNECT "SocialSwarm"
SEND_SWARM_MSG "socialswarm", "who has prices?"
SWARM_FETCH "prices", 7 -> handle
WAIT_FOR_RESPONSE handle, 30 -> answers
JUMP_IF_PLUGIN_FAILED nobody
RETURN [handle, answers]
:nobody
RETURN "no answer"
"""


def answer_fetch(admin: Admin, wait_until: WaitUntil, failures: list[BaseException]) -> None:
    """Dev account 1: answer the fetch request by its handle."""
    try:
        found = wait_until(
            lambda: [m for m in admin.messages(HELPER.address) if '"fetch"' in str(m["text"])],
            60,
            "the agent's fetch request",
        )
        request = json.loads(found[0]["text"])  # type: ignore[index]
        assert request["dataType"] == "prices" and request["requestId"] == 7, request
        sent = admin.send(HELPER.address, {"re": request["handle"], "data": {"BTC": 97000}})
        assert "result" in sent, sent
    except BaseException as exc:  # reported by the test's thread, which asserts on it
        failures.append(exc)


def test_send_swarm_msg_and_swarm_fetch_reach_the_channel_and_the_fetch_gets_its_answer(
    swarm_node: tuple[DevNode, Admin], tmp_path: Path, wait_until: WaitUntil
) -> None:
    node, admin = swarm_node
    program = tmp_path / "fetch.air"
    program.write_text(FETCH)
    failures: list[BaseException] = []
    peer = threading.Thread(target=answer_fetch, args=(admin, wait_until, failures))
    peer.start()
    result = aither(
        "agent", "run", str(program), "--dev-account", "0", "--rpc", node.url,
        "--token-file", str(admin.token_file), "--state-dir", str(tmp_path / "agents"),
        "--json", cwd=tmp_path,
    )  # fmt: skip
    peer.join()
    assert not failures, failures
    assert result.returncode == 0, result.stdout + result.stderr
    handle, answers = json.loads(result.stdout)["value"]
    assert answers == [{"BTC": 97000}]
    texts = [json.loads(m["text"]) for m in admin.messages(HELPER.address) if m["text"][0] == "{"]
    assert {"avm": "message", "message": "who has prices?", "reward": 0} in texts
    assert any(t.get("handle") == handle for t in texts)  # the fetch, named by its handle
