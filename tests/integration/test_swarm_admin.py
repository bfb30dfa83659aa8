"""The admin token: the swarm_* methods and the swarm subscription answer only its bearer.

A real dev node holding dev account 0's swarm identity: it writes a fresh token to
DATA_DIR/admin-token (0600) at each start; calls without it, with a malformed header or with
another token are refused with UNAUTHORIZED and a message that says what to send; chain reads
never need it; the `aither swarm` CLI passes it with --token-file and says what to do without.
"""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import pytest
from websockets.sync.client import connect

from core.crypto import to_checksum_address
from genesis.dev import dev_key

if TYPE_CHECKING:
    from conftest import DevNode

pytestmark = pytest.mark.slow

UNAUTHORIZED = -32010
INVALID_PARAMS = -32602
OWNER = dev_key(0)
CHANNEL = "ops"
SWARM_IDENTITY = ("--swarm-dev-account", "0")
Run = Callable[..., subprocess.CompletedProcess[str]]


def token_of(node: DevNode) -> str:
    return (node.data_dir / "admin-token").read_text().strip()


def call(node: DevNode, method: str, *params: object, auth: str | None = None) -> dict:
    headers = {} if auth is None else {"Authorization": auth}
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    response = httpx.post(node.url, json=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def bearer(node: DevNode) -> str:
    return f"Bearer {token_of(node)}"


@pytest.fixture(scope="module")
def node(shared_node: DevNode, run_aither: Run) -> DevNode:
    """The module's dev node, restarted holding dev 0's swarm identity, registered as
    ops-admin.avm, admin of channel ops."""
    shared_node.restart(*SWARM_IDENTITY)
    for args in (("register", "ops-admin.avm"), ("create", CHANNEL)):
        done = run_aither("swarm", *args, "--dev-account", "0", "--rpc", shared_node.url)
        assert done.returncode == 0, done.stderr
    return shared_node


def test_the_token_file_is_fresh_owner_only_and_named_at_start(node: DevNode) -> None:
    path = node.data_dir / "admin-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = token_of(node)
    assert len(token) == 64 and int(token, 16) >= 0
    assert str(path.resolve()) in node.output()


@pytest.mark.parametrize(
    ("auth", "says"),
    [
        (None, "send 'Authorization: Bearer <token>' with the token the node wrote to admin-token"),
        ("Basic dXNlcjpwYXNz", "the Authorization header must be 'Bearer <token>'"),
        ("Bearer " + "0" * 64, "the token sent is not this node's"),
    ],
    ids=["missing", "malformed", "wrong"],
)
@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("swarm_send", [CHANNEL, "hello"]),
        ("swarm_messages", [CHANNEL]),
        ("swarm_message", ["0x" + "ab" * 32]),
        ("swarm_identities", []),
        ("swarm_follow", [CHANNEL]),
        ("swarm_stats", []),
    ],
)
def test_admin_methods_refuse_callers_without_the_token(
    node: DevNode, method: str, params: list[object], auth: str | None, says: str
) -> None:
    sent_before = call(node, "swarm_stats", auth=bearer(node))["result"]["sent"]
    error = call(node, method, *params, auth=auth)["error"]
    assert error["code"] == UNAUTHORIZED
    assert error["message"].startswith(f"unauthorized: {method} is an admin method; {says}")
    assert call(node, "swarm_stats", auth=bearer(node))["result"]["sent"] == sent_before


def test_the_token_unlocks_sending_and_reading(node: DevNode) -> None:
    sent = call(node, "swarm_send", CHANNEL, "with the token", auth=bearer(node))["result"]
    found = call(node, "swarm_messages", CHANNEL, auth=bearer(node))["result"]
    assert sent["messageHash"] in [m["messageHash"] for m in found]
    [me] = call(node, "swarm_identities", auth=bearer(node))["result"]
    assert me == {"address": to_checksum_address(OWNER.address), "name": "ops-admin.avm"}


def test_chain_reads_need_no_token_and_a_batch_refuses_only_its_admin_calls(
    node: DevNode,
) -> None:
    assert call(node, "aither_resolveName", "ops-admin.avm")["result"] == to_checksum_address(
        OWNER.address
    )
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "aither_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "swarm_send", "params": [CHANNEL, "x"]},
        {"jsonrpc": "2.0", "id": 3, "method": "aither_getChannel", "params": [CHANNEL]},
    ]
    answers = {a["id"]: a for a in httpx.post(node.url, json=batch, timeout=10).json()}
    assert "result" in answers[1] and answers[3]["result"]["name"] == CHANNEL
    assert answers[2]["error"]["code"] == UNAUTHORIZED


def test_the_websocket_handshake_carries_the_token(node: DevNode) -> None:
    ws_url = node.url.replace("http://", "ws://") + "/ws"
    subscribe = {"jsonrpc": "2.0", "id": 1, "method": "aither_subscribe",
                 "params": ["swarm", CHANNEL]}  # fmt: skip
    with connect(ws_url) as socket:
        socket.send(json.dumps(subscribe))
        error = json.loads(socket.recv(timeout=10))["error"]
        assert error["code"] == UNAUTHORIZED
        assert error["message"].startswith('unauthorized: aither_subscribe("swarm") is an admin')
        socket.send(json.dumps({**subscribe, "method": "swarm_stats", "params": []}))
        assert json.loads(socket.recv(timeout=10))["error"]["code"] == UNAUTHORIZED
        socket.send(json.dumps({**subscribe, "params": ["newHeads"]}))
        assert "result" in json.loads(socket.recv(timeout=10))  # not an admin subscription
    with connect(ws_url, additional_headers={"Authorization": bearer(node)}) as socket:
        socket.send(json.dumps(subscribe))
        assert "result" in json.loads(socket.recv(timeout=10))
        call(node, "swarm_send", CHANNEL, "pushed", auth=bearer(node))
        pushed = json.loads(socket.recv(timeout=10))["params"]["result"]
        assert pushed["text"] == "pushed"


def test_the_cli_passes_the_token_file_and_says_what_to_do_without(
    node: DevNode, run_aither: Run
) -> None:
    args = ("swarm", "send", CHANNEL, "from the cli", "--rpc", node.url)
    refused = run_aither(*args)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.strip().splitlines() == [
        "error: swarm_send needs the node's admin token: pass --token-file "
        "DATA_DIR/admin-token (the node prints the path at start)"
    ]
    sent = run_aither(*args, "--token-file", str(node.data_dir / "admin-token"), "--json")
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["sent"]["epoch"] == 0


def test_a_restart_writes_a_new_token_and_the_old_one_is_refused(node: DevNode) -> None:
    old = bearer(node)
    node.restart(*SWARM_IDENTITY)
    assert bearer(node) != old
    error = call(node, "swarm_identities", auth=old)["error"]
    assert error["code"] == UNAUTHORIZED and "not this node's" in error["message"]
    assert "result" in call(node, "swarm_identities", auth=bearer(node))
