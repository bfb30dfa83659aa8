"""`aither council serve`: options, one-line errors, and a one-pass run against a local node."""

from __future__ import annotations

import json
from pathlib import Path

import nacl.pwhash.argon2id as argon2id
import pytest
from fake_node import FakeNode, free_port, proposal_json
from typer.testing import CliRunner

from core.crypto import to_checksum_address
from council.cli import app
from genesis.dev import dev_key
from ledger.governance.payloads import Choice
from wallet.keystore import Keystore

OLD = ':strategy\n  KV_FETCH "price" -> Rprice\n  RETURN Rprice\n'
NEW = ':strategy\n  ;; same logic, commented\n  KV_FETCH "price" -> Rprice\n  RETURN Rprice\n'
PID = "0x" + "5" * 64


@pytest.fixture
def member(tmp_path: Path) -> tuple[list[str], str]:
    """CLI options that unlock a fresh key, and that key's address."""
    store = Keystore(
        tmp_path / "keys", opslimit=argon2id.OPSLIMIT_MIN, memlimit=argon2id.MEMLIMIT_MIN
    )
    info = store.create("auditor", "pw")
    (tmp_path / "pw.txt").write_text("pw\n")
    options = [
        "--key",
        "auditor",
        "--keystore",
        str(tmp_path / "keys"),
        "--password-file",
        str(tmp_path / "pw.txt"),
        "--state-file",
        str(tmp_path / "state.json"),
    ]
    return options, info.address


def serve(*args: str):
    """`aither council serve` on the deterministic analysis alone (the model's own tests are
    tests/council/test_council_llm.py and the integration tests)."""
    return CliRunner().invoke(app, ["serve", "--no-model", *args])


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_once_votes_and_prints_json_lines(member: tuple[list[str], str]) -> None:
    options, address = member
    with FakeNode([proposal_json(PID, OLD, NEW)]) as node:
        result = serve(
            *options, "--role", "security-auditor", "--rpc", node.url, "--once", "--json"
        )
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    names = [e["event"] for e in events]
    assert names == ["model", "started", "council-unknown", "reviewed", "vote-sent"]
    assert events[0]["using"] == "none" and events[0]["votes"] == "deterministic analysis"
    assert events[1]["address"] == to_checksum_address(bytes.fromhex(address[2:]))
    (vote,) = node.received
    assert vote.vote.choice is Choice.YES and vote.vote.proposal_id.hex() == PID[2:]


def test_human_lines(member: tuple[list[str], str]) -> None:
    options, _ = member
    with FakeNode([proposal_json(PID, OLD, NEW)]) as node:
        result = serve(*options, "--role", "RegressionHunter", "--rpc", node.url, "--once")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 5 and " vote-sent proposal=" + PID in lines[4]
    assert " reviewed proposal=" + PID + " choice=yes findings=" in lines[3]


def test_unknown_role_is_one_line(member: tuple[list[str], str]) -> None:
    options, _ = member
    line = one_line_error(serve(*options, "--role", "Poet"))
    assert "unknown role 'Poet'; use one of SecurityAuditor" in line


def test_model_needs_a_base_url(member: tuple[list[str], str]) -> None:
    options, _ = member
    line = one_line_error(serve(*options, "--role", "SecurityAuditor", "--model", "m"))
    assert "--model names a model of the server at --llm-base-url: give both" in line


def test_missing_key_and_wrong_password_are_one_line(
    member: tuple[list[str], str], tmp_path: Path
) -> None:
    options, _ = member
    missing = [*options]
    missing[1] = "nobody"
    assert "nobody" in one_line_error(serve(*missing, "--role", "SecurityAuditor"))
    (tmp_path / "pw.txt").write_text("wrong\n")
    assert "password" in one_line_error(serve(*options, "--role", "SecurityAuditor")).lower()


def test_unreachable_node_with_once_is_one_line(member: tuple[list[str], str]) -> None:
    options, _ = member
    rpc = f"http://127.0.0.1:{free_port()}"
    line = one_line_error(serve(*options, "--role", "SecurityAuditor", "--rpc", rpc, "--once"))
    assert "cannot reach a node" in line


def test_a_dev_account_signs_without_a_keystore(tmp_path: Path) -> None:
    with FakeNode([proposal_json(PID, OLD, NEW)]) as node:
        result = serve(
            "--dev-account", "5", "--role", "SecurityAuditor", "--rpc", node.url, "--once",
            "--state-file", str(tmp_path / "state.json"),
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    (vote,) = node.received
    assert vote.sender.lower() == to_checksum_address(dev_key(5).address).lower()


def test_key_and_dev_account_are_one_or_the_other(member: tuple[list[str], str]) -> None:
    options, _ = member
    both = one_line_error(serve(*options, "--dev-account", "5", "--role", "SecurityAuditor"))
    assert "give the member's --key NAME, or --dev-account N on a dev chain" in both
    neither = one_line_error(serve("--role", "SecurityAuditor"))
    assert "--dev-account N" in neither
