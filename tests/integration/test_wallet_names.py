"""The wallet takes registered identity names (`masha-trader.avm`) wherever it takes addresses.

The real `aither wallet` and `aither swarm register` CLIs, run as subprocesses against a live
dev node: a name resolves through aither_resolveName on the node the command talks to; an
unknown name is one error line and nothing is sent.
"""

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

pytestmark = pytest.mark.slow

NAME = "masha-trader.avm"
MASHA = dev_key(2)  # the name's owner
PAYER = dev_key(0)
UNKNOWN = "nobody-here.avm"

Run = Callable[..., subprocess.CompletedProcess[str]]


def ok(run_aither: Run, *args: str) -> object:
    """A command that must succeed, with --json: its parsed output."""
    result = run_aither(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def one_error_line(run_aither: Run, *args: str) -> str:
    """A command that must fail: exit 1, nothing on stdout, one `error:` line on stderr."""
    result = run_aither(*args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def named(shared_node: DevNode, run_aither: Run) -> DevNode:
    """The module's dev node, where dev account 2 registered masha-trader.avm."""
    ok(run_aither, "swarm", "register", NAME, "--dev-account", "2", "--rpc", shared_node.url)
    assert shared_node.rpc("aither_resolveName", NAME) == to_checksum_address(MASHA.address)
    return shared_node


def test_send_to_a_name_pays_its_owner(named: DevNode, run_aither: Run) -> None:
    before = named.balance(MASHA.address)
    sent = ok(run_aither, "wallet", "send", "2.5", "--to", NAME, "--dev-account", "0",
              "--rpc", named.url)  # fmt: skip
    assert isinstance(sent, dict)
    assert sent["status"] == "ok" and sent["to"] == to_checksum_address(MASHA.address)
    assert named.balance(MASHA.address) == before + 25 * 10**17


def test_balance_and_history_of_a_name(named: DevNode, run_aither: Run) -> None:
    shown = ok(run_aither, "wallet", "balance", NAME, "--rpc", named.url)
    assert isinstance(shown, dict)
    assert shown["address"] == to_checksum_address(MASHA.address)
    assert int(str(shown["units"])) == named.balance(MASHA.address)
    entries = ok(run_aither, "wallet", "history", NAME, "--rpc", named.url)
    assert isinstance(entries, list) and entries, "masha's registration at least is listed"
    by_address = ok(run_aither, "wallet", "history", to_checksum_address(MASHA.address),
                    "--rpc", named.url)  # fmt: skip
    assert entries == by_address


@pytest.mark.parametrize(
    "command",
    [
        ("wallet", "balance", UNKNOWN),
        ("wallet", "history", UNKNOWN),
        ("wallet", "send", "1", "--to", UNKNOWN, "--dev-account", "0"),
        ("wallet", "call", UNKNOWN, "main", "--dev-account", "0"),
    ],
    ids=["balance", "history", "send", "call"],
)
def test_an_unknown_name_is_one_error_line_and_nothing_is_sent(
    named: DevNode, run_aither: Run, command: tuple[str, ...]
) -> None:
    nonce = named.nonce(PAYER.address, "pending")
    line = one_error_line(run_aither, *command, "--rpc", named.url)
    assert line == f"error: {UNKNOWN} is not a registered name on the chain at {named.url}"
    assert named.nonce(PAYER.address, "pending") == nonce
