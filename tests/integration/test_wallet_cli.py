"""The real `aither wallet` CLI, run as subprocesses against a live dev node.

The tests of a module share one node and one keystore and build on each other in file order:
`alice` is created first, then funded, then receives a token.
"""

from __future__ import annotations

import json
import socket
import stat
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from core.crypto import to_checksum_address
from genesis.dev import DEV_BALANCE, dev_key

if TYPE_CHECKING:
    from conftest import DevNode

PASSWORD = "correct horse battery staple"
DEV0 = to_checksum_address(dev_key(0).address)
DEV1 = to_checksum_address(dev_key(1).address)
IMPORTED = dev_key(5)


@dataclass(frozen=True)
class Wallet:
    """`aither wallet ...` with this module's keystore and password file."""

    run_aither: Callable[..., subprocess.CompletedProcess[str]]
    node: DevNode
    keystore: Path
    password_file: Path

    @property
    def rpc(self) -> tuple[str, str]:
        return ("--rpc", self.node.url)

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.run_aither("wallet", *args, env={"AITHER_KEYSTORE": str(self.keystore)})
        assert "Traceback" not in result.stdout + result.stderr, result.stderr
        return result

    def json(self, *args: str) -> object:
        """Run a command that must succeed, with --json; its parsed output."""
        result = self(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def fails(self, *args: str) -> str:
        """Run a command that must fail: non-zero exit, nothing on stdout, one line on stderr."""
        result = self(*args)
        assert result.returncode != 0, result.stdout
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: ")
        return lines[0]


@pytest.fixture(scope="module")
def wallet(
    shared_node: DevNode,
    run_aither: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Wallet:
    home = tmp_path_factory.mktemp("wallet")
    password_file = home / "password"
    password_file.write_text(PASSWORD + "\n")
    return Wallet(run_aither, shared_node, home / "keystore", password_file)


@pytest.fixture(scope="module")
def alice(wallet: Wallet) -> dict[str, str]:
    created = wallet.json("new", "alice", "--password-file", str(wallet.password_file))
    assert isinstance(created, dict)
    return created


def _balance(wallet: Wallet, who: str, token: str = "") -> dict[str, str]:
    args = ("balance", who, *wallet.rpc) + (("--token", token) if token else ())
    answer = wallet.json(*args)
    assert isinstance(answer, dict)
    return answer


def test_new_writes_an_owner_only_keystore_file(wallet: Wallet, alice: dict[str, str]) -> None:
    path = Path(alice["path"])
    assert alice["name"] == "alice"
    assert path == wallet.keystore / "alice.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(wallet.keystore.stat().st_mode) == 0o700
    stored = json.loads(path.read_text())
    assert stored["address"] == alice["address"]
    assert PASSWORD not in path.read_text()


def test_list_json_shows_the_key(wallet: Wallet, alice: dict[str, str]) -> None:
    keys = wallet.json("list")
    assert isinstance(keys, list)
    assert [(k["name"], k["address"]) for k in keys] == [("alice", alice["address"])]


def test_address_prints_the_address(wallet: Wallet, alice: dict[str, str]) -> None:
    result = wallet("address", "alice")
    assert result.returncode == 0
    assert result.stdout == alice["address"] + "\n"


def test_send_to_a_key_name_then_balance(wallet: Wallet, alice: dict[str, str]) -> None:
    sent = wallet.json("send", "--dev-account", "0", "--to", "alice", "1.5", *wallet.rpc)
    assert isinstance(sent, dict)
    assert sent["status"] == "ok" and sent["to"] == alice["address"] and sent["token"] == "AVM"
    assert _balance(wallet, "alice") == {
        "address": alice["address"],
        "token": "AVM",
        "balance": "1.5",
        "units": str(15 * 10**17),
    }
    assert wallet.node.balance(alice["address"]) == 15 * 10**17


def test_token_create_then_send_a_token(wallet: Wallet, alice: dict[str, str]) -> None:
    created = wallet.json(
        "token", "create", "--dev-account", "1", "GOLD", "1000", "--decimals", "6", *wallet.rpc
    )
    assert isinstance(created, dict)
    assert created["status"] == "ok" and created["symbol"] == "GOLD"
    (token,) = wallet.node.rpc("aither_getTokens")
    assert (token["symbol"], token["decimals"], token["supply"]) == ("GOLD", 6, hex(1000 * 10**6))
    sent = wallet.json(
        "send", "--dev-account", "1", "--to", "alice", "--token", "GOLD", "12.5", *wallet.rpc
    )
    assert isinstance(sent, dict) and sent["status"] == "ok"
    assert _balance(wallet, "alice", "GOLD")["balance"] == "12.5"
    assert _balance(wallet, "alice", "GOLD")["units"] == str(12_500_000)
    assert _balance(wallet, DEV1, "GOLD")["balance"] == "987.5"


def test_tx_shows_the_transaction_and_its_receipt(wallet: Wallet, alice: dict[str, str]) -> None:
    sent = wallet.json("send", "--dev-account", "0", "--to", alice["address"], "0.25", *wallet.rpc)
    assert isinstance(sent, dict)
    shown = wallet.json("tx", str(sent["hash"]), *wallet.rpc)
    assert isinstance(shown, dict)
    tx, receipt = shown["transaction"], shown["receipt"]
    assert tx["hash"] == receipt["transactionHash"] == sent["hash"]
    assert (tx["from"], tx["to"], tx["value"]) == (DEV0, alice["address"], hex(25 * 10**16))
    assert receipt["status"] == "0x1"
    assert int(receipt["blockNumber"], 16) == sent["block"]


def test_history_lists_what_touched_the_key(wallet: Wallet, alice: dict[str, str]) -> None:
    entries = wallet.json("history", "alice", *wallet.rpc)
    assert isinstance(entries, list)
    assert [(e["from"], e["token"], e["value"]) for e in entries] == [
        (DEV0, None, hex(25 * 10**16)),
        (DEV1, "GOLD", hex(12_500_000)),
        (DEV0, None, hex(15 * 10**17)),
    ]
    assert all(e["to"] == alice["address"] and e["status"] == "0x1" for e in entries)
    heights = [int(e["blockNumber"], 16) for e in entries]
    assert heights == sorted(heights, reverse=True)


def test_import_a_private_key_and_sign_with_it(wallet: Wallet, alice: dict[str, str]) -> None:
    key_file = wallet.password_file.with_name("key.txt")
    key_file.write_text("0x" + IMPORTED.seed.hex() + "\n")
    imported = wallet.json(
        "import",
        "bob",
        "--private-key-file",
        str(key_file),
        "--password-file",
        str(wallet.password_file),
    )
    assert isinstance(imported, dict)
    assert imported["address"] == to_checksum_address(IMPORTED.address)
    assert stat.S_IMODE(Path(imported["path"]).stat().st_mode) == 0o600
    sent = wallet.json(
        "send",
        "--from",
        "bob",
        "--to",
        "alice",
        "2",
        "--password-file",
        str(wallet.password_file),
        *wallet.rpc,
    )
    assert isinstance(sent, dict) and sent["status"] == "ok"
    fee = int(str(wallet.node.rpc("aither_getTransactionReceipt", sent["hash"])["fee"]), 16)
    assert wallet.node.balance(IMPORTED.address) == DEV_BALANCE - 2 * 10**18 - fee


# Errors: one line on stderr, a non-zero exit, no traceback, nothing changed on chain.


@pytest.fixture
def unchanged(wallet: Wallet, alice: dict[str, str]) -> Iterator[None]:
    before = [wallet.node.balance(dev_key(i).address) for i in range(10)]
    height = wallet.node.health()["height"]
    yield
    assert wallet.node.health()["height"] == height
    assert [wallet.node.balance(dev_key(i).address) for i in range(10)] == before


@pytest.mark.usefixtures("unchanged")
def test_wrong_password(wallet: Wallet, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not the password\n")
    args = ("send", "--from", "alice", "--to", DEV0, "0.1", "--password-file", str(wrong))
    assert "wrong password for key 'alice'" in wallet.fails(*args, *wallet.rpc)


@pytest.mark.usefixtures("unchanged")
def test_missing_key(wallet: Wallet) -> None:
    assert "no key named 'carol'" in wallet.fails("address", "carol")
    password = ("--password-file", str(wallet.password_file))
    args = ("send", "--from", "carol", "--to", DEV0, "0.1", *password, *wallet.rpc)
    assert "no key named 'carol'" in wallet.fails(*args)
    to_carol = ("send", "--dev-account", "0", "--to", "carol", "1", *wallet.rpc)
    assert "no key named 'carol'" in wallet.fails(*to_carol)


@pytest.mark.usefixtures("unchanged")
def test_unknown_token(wallet: Wallet) -> None:
    args = ("send", "--dev-account", "0", "--to", "alice", "--token", "NOPE", "1", *wallet.rpc)
    assert "unknown token NOPE" in wallet.fails(*args)
    assert "unknown token NOPE" in wallet.fails("balance", "alice", "--token", "NOPE", *wallet.rpc)


@pytest.mark.usefixtures("unchanged")
def test_unreachable_node(wallet: Wallet) -> None:
    with socket.socket() as unused:  # a port that nothing listens on once this closes
        unused.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{unused.getsockname()[1]}"
    assert "cannot reach a node" in wallet.fails("balance", "alice", "--rpc", closed)
    args = ("send", "--dev-account", "0", "--to", "alice", "1", "--rpc", closed)
    assert "cannot reach a node" in wallet.fails(*args)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("to", "says"),
    [
        ("0x1234", "is not an address"),
        (DEV0.swapcase().replace("0X", "0x"), "bad EIP-55 checksum"),
        ("0x" + "zz" * 20, "is not an address"),
    ],
)
def test_bad_address(wallet: Wallet, to: str, says: str) -> None:
    assert says in wallet.fails("send", "--dev-account", "0", "--to", to, "1", *wallet.rpc)
    assert says in wallet.fails("balance", to, *wallet.rpc)


@pytest.mark.usefixtures("unchanged")
def test_insufficient_funds(wallet: Wallet) -> None:
    args = ("send", "--dev-account", "2", "--to", "alice", "10000.000001", *wallet.rpc)
    assert "insufficient funds" in wallet.fails(*args)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("amount", ["1.5.5", "[/x]", "[bold]1"])
def test_a_bad_amount_is_reported_as_typed(wallet: Wallet, amount: str) -> None:
    args = ("send", "--dev-account", "0", "--to", "alice", amount, *wallet.rpc)
    assert f"'{amount}' is not an amount" in wallet.fails(*args)
