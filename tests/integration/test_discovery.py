"""Finding services on a live dev node: identities by role, metadata and name prefix, a page at
a time (`aither_findIdentities`, `aither agent ls`), and swarm channels (`aither_listChannels`)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from core.crypto import to_checksum_address
from genesis.dev import dev_key

if TYPE_CHECKING:
    from conftest import DevNode

Run = Callable[..., subprocess.CompletedProcess[str]]
INVALID_PARAMS = -32602
SERVICES = [  # dev account, name, roles, metadata
    (0, "oracle-one.avm", ["oracle"], ["topic=btc"]),
    (1, "oracle-two.avm", ["oracle", "trader"], ["topic=eth"]),
    (2, "trader-bot.avm", ["trader"], ["topic=btc"]),
]


@pytest.fixture(scope="module")
def node(shared_node: DevNode, run_aither: Run) -> DevNode:
    for account, name, roles, meta in SERVICES:
        flags = [f for r in roles for f in ("--role", r)] + [f for m in meta for f in ("--meta", m)]
        done = run_aither(
            "swarm", "register", name, *flags, "--dev-account", str(account),
            "--rpc", shared_node.url,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    created = run_aither(
        "swarm", "create", "signals", "--dev-account", "0", "--rpc", shared_node.url
    )
    assert created.returncode == 0, created.stderr
    return shared_node


def names(page: object) -> list[str]:
    assert isinstance(page, dict)
    return [entry["name"] for entry in page["identities"]]


def test_identities_are_found_by_role_metadata_and_name_prefix(node: DevNode) -> None:
    assert sorted(names(node.rpc("aither_findIdentities", {"role": "oracle"}))) == [
        "oracle-one.avm",
        "oracle-two.avm",
    ]
    btc = node.rpc("aither_findIdentities", {"metadata": {"topic": "btc"}})
    assert sorted(names(btc)) == ["oracle-one.avm", "trader-bot.avm"]
    both = node.rpc("aither_findIdentities", {"role": "trader", "metadata": {"topic": "eth"}})
    assert names(both) == ["oracle-two.avm"]
    assert names(node.rpc("aither_findIdentities", {"namePrefix": "trader-"})) == ["trader-bot.avm"]


def test_a_scan_pages_with_its_cursor_and_ends_with_null(node: DevNode) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        page = node.rpc("aither_findIdentities", {"role": "oracle"}, cursor, 1)
        assert isinstance(page, dict)
        seen += names(page)
        cursor = page["next"]
        if cursor is None:
            break
    assert sorted(seen) == ["oracle-one.avm", "oracle-two.avm"] and len(seen) == 2


def test_channels_are_listed(node: DevNode) -> None:
    listed = node.rpc("aither_listChannels")
    assert isinstance(listed, dict) and listed["next"] is None
    assert [c["name"] for c in listed["channels"]] == ["signals"]


def test_agent_ls_finds_services_for_people_and_scripts(node: DevNode, run_aither: Run) -> None:
    done = run_aither("agent", "ls", "--role", "trader", "--rpc", node.url, "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert sorted(e["name"] for e in found) == ["oracle-two.avm", "trader-bot.avm"]
    assert to_checksum_address(dev_key(2).address) in [e["address"] for e in found]
    table = run_aither("agent", "ls", "--meta", "topic=btc", "--rpc", node.url)
    assert "oracle-one.avm" in table.stdout and "trader-bot.avm" in table.stdout
    bad = run_aither("agent", "ls", "--meta", "topic", "--rpc", node.url)
    assert bad.returncode == 1 and "key=value" in bad.stderr and "Traceback" not in bad.stderr


def test_bad_filters_are_refused(node: DevNode) -> None:
    for params, says in [
        ([{"colour": "red"}], "unknown filter fields colour"),
        ([{"role": "1bad"}], "role must be"),
        ([{}, "0x12"], "cursor must be 20 bytes"),
        ([{}, None, 1000], "limit must be"),
    ]:
        error = node.rpc_error("aither_findIdentities", *params)
        assert error["code"] == INVALID_PARAMS and says in str(error["message"]), error


GUARDED = """
:guarded
  CHECK_PERMISSIONS "Oracle", "publish" -> ok
  RETURN ok
"""


def test_roles_are_defined_granted_and_checked_by_agents(
    node: DevNode, run_aither: Run, tmp_path
) -> None:
    program = tmp_path / "guarded.air"
    program.write_text(GUARDED)

    def wallet(*args: str) -> dict:
        done = run_aither("wallet", *args, "--rpc", node.url, "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)

    agent = wallet("deploy", str(program), "--dev-account", "3")["agent"]
    assert wallet("call", agent, "guarded", "--dev-account", "3")["value"] is False
    wallet("role", "define", "Oracle", "--action", "publish", "--dev-account", "3")
    wallet("role", "grant", "Oracle", agent, "--dev-account", "3")
    assert wallet("call", agent, "guarded", "--dev-account", "3")["value"] is True
    assert node.rpc("aither_getRole", "Oracle") == {
        "role": "Oracle",
        "admin": to_checksum_address(dev_key(3).address),
        "actions": ["publish"],
    }
    (held,) = node.rpc("aither_getRoles", agent)  # type: ignore[misc]
    assert held["role"] == "Oracle"
    (granted,) = [
        tx
        for tx in node.rpc("aither_getHistory", to_checksum_address(dev_key(3).address), 5)
        if tx["kind"] == "role" and "holder" in tx
    ]  # type: ignore[union-attr]
    assert granted["holder"] == agent and granted["revoke"] is False
    refused = run_aither(
        "wallet", "role", "grant", "Oracle", agent, "--dev-account", "4", "--rpc", node.url
    )
    assert refused.returncode == 1 and "only the admin of Oracle" in refused.stdout + refused.stderr


CHECKED = """
:spend
  SECURITY_CHECK ARGS[0] -> ok
  RETURN ok
"""


def test_a_policy_refuses_an_unauthorised_caller_on_a_live_node(
    node: DevNode, run_aither: Run, tmp_path
) -> None:
    program = tmp_path / "checked.air"
    program.write_text(CHECKED)

    def wallet(*args: str) -> subprocess.CompletedProcess[str]:
        return run_aither("wallet", *args, "--rpc", node.url, "--json")

    agent = json.loads(wallet("deploy", str(program), "--dev-account", "3").stdout)["agent"]
    owner = to_checksum_address(dev_key(3).address)
    set_policy = wallet("role", "policy", agent, "--caller", owner, "--dev-account", "3")
    assert set_policy.returncode == 0, set_policy.stdout + set_policy.stderr
    assert node.rpc("aither_getPolicy", agent)["callers"] == [owner]  # type: ignore[index]
    allowed = wallet("call", agent, "spend", "5", "--dev-account", "3")
    assert allowed.returncode == 0 and json.loads(allowed.stdout)["value"] is True
    stranger = wallet("call", agent, "spend", "5", "--dev-account", "4")
    assert stranger.returncode == 1 and "SECURITY_CHECK" in stranger.stdout + stranger.stderr


def test_a_named_agent_is_called_and_read_by_its_name(
    node: DevNode, run_aither: Run, tmp_path
) -> None:
    program = tmp_path / "named.air"
    program.write_text(":hello\n  RETURN 7\n")

    def wallet(*args: str) -> dict:
        done = run_aither("wallet", *args, "--rpc", node.url, "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)

    agent = wallet("deploy", str(program), "--dev-account", "5")["agent"]
    named = wallet("name", agent, "greeter.avm", "--dev-account", "5")
    assert named["status"] == "ok" and named["name"] == "greeter.avm"
    assert node.rpc("aither_resolveName", "greeter.avm") == agent
    assert wallet("call", "greeter.avm", "hello", "--dev-account", "5")["value"] == 7
    assert wallet("balance", "greeter.avm")["address"] == agent
    stranger = run_aither(
        "wallet", "name", agent, "other.avm", "--dev-account", "6", "--rpc", node.url
    )
    assert stranger.returncode == 1 and "only the deployer" in stranger.stdout + stranger.stderr
