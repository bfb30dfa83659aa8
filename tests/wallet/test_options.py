"""The option groups every client command shares, and commands that import only what they use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from core.rpc import DEFAULT_RPC
from wallet.options import AdminToken, Reader, Signer, parse_argument, reads, signed

runner = CliRunner()


def _app() -> tuple[typer.Typer, list[object]]:
    app = typer.Typer()
    seen: list[object] = []

    @app.command("pay")
    @signed
    def pay(amount: str, memo: str = "", *, signer: Signer) -> None:
        seen.append((amount, memo, signer))

    @app.command("look")
    @reads
    def look(what: str, *, reader: Reader) -> None:
        seen.append((what, reader))

    return app, seen


def test_a_signed_command_gets_the_signer_options_as_one_signer() -> None:
    app, seen = _app()
    done = runner.invoke(
        app,
        ["pay", "1.5", "--memo", "hi", "--dev-account", "2", "--no-wait", "--json"],
        catch_exceptions=False,
    )
    assert done.exit_code == 0, done.output
    amount, memo, signer = seen[0]
    assert (amount, memo) == ("1.5", "hi")
    assert signer == Signer(None, 2, None, None, DEFAULT_RPC, False, True)


def test_a_signed_command_lists_every_signer_option_in_its_help() -> None:
    app, _ = _app()
    done = runner.invoke(app, ["pay", "--help"], env={"COLUMNS": "200"})
    for flag in ("--from", "--dev-account", "--keystore", "--password-file", "--rpc", "--wait"):
        assert flag in done.output


def test_errors_become_one_line_and_exit_one() -> None:
    app = typer.Typer()

    @app.command("pay")
    @signed
    def pay(*, signer: Signer) -> None:
        signer.key()  # neither --from nor --dev-account: refused with what to do

    @app.command("other")
    def other() -> None:
        pass

    done = runner.invoke(app, ["pay"])
    assert done.exit_code == 1
    assert done.output.strip() == "error: say who signs: --from NAME or --dev-account N"


def test_a_read_command_gets_rpc_and_json_as_one_reader() -> None:
    app, seen = _app()
    done = runner.invoke(app, ["look", "x", "--rpc", "http://127.0.0.1:9"], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert seen == [("x", Reader("http://127.0.0.1:9", False))]


def test_a_wallet_balance_loads_neither_the_assembler_nor_libp2p_nor_web3(tmp_path: Path) -> None:
    probe = (
        "import json, sys\n"
        "from aither.cli import app\n"
        "try:\n"
        "    app(['wallet', 'balance', '0x' + '00' * 20, '--rpc', 'http://127.0.0.1:9'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('avm', 'libp2p', 'web3', 'openai', 'node', 'plyvel'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == [], loaded
    assert "cannot reach a node at http://127.0.0.1:9" in done.stderr


# ---- where the admin token is --------------------------------------------------------------


def test_the_dev_nodes_admin_token_is_found_only_for_the_default_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert AdminToken.find(None, DEFAULT_RPC) == AdminToken(None, None)  # no dev node here
    dev = Path(".aither/dev/admin-token")
    dev.parent.mkdir(parents=True)
    dev.write_text("ab" * 32 + "\n")
    assert AdminToken.find(None, DEFAULT_RPC) == AdminToken(dev, "ab" * 32)
    assert AdminToken.find(None, DEFAULT_RPC + "/") == AdminToken(dev, "ab" * 32)
    assert AdminToken.find(None, "http://127.0.0.1:9") == AdminToken(None, None)
    given = tmp_path / "other-token"
    given.write_text("cd" * 32)
    assert AdminToken.find(given, DEFAULT_RPC) == AdminToken(given, "cd" * 32)


def test_a_refused_admin_token_says_what_to_do(tmp_path: Path) -> None:
    assert str(AdminToken(None, None).refused("swarm_send")) == (
        "swarm_send needs the node's admin token: pass --token-file DATA_DIR/admin-token "
        "(the node prints the path at start)"
    )
    refused = str(AdminToken(Path(".aither/dev/admin-token"), "ab").refused("swarm_send"))
    assert refused.startswith("the node refused the admin token in .aither/dev/admin-token: ")
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(ValueError, match="is empty"):
        AdminToken.find(empty, DEFAULT_RPC)


# ---- arguments of agent calls --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("-7", -7),
        ("1.5", 1_500_000),  # the IR's fixed-point number
        ("0x4a87", b"\x4a\x87"),  # bytes, as Ethereum tools read 0x
        ("0X00", b"\x00"),
        ("0x", b""),
        ('"42"', "42"),
        ('x"4a87"', b"\x4a\x87"),
        ("[1, 0x10]", (1, 16)),  # inside an IR literal, the IR's reading
        ("true", True),
        ("null", None),
        ("BTC sentiment?", "BTC sentiment?"),
        ("alice", "alice"),
    ],
)
def test_an_argument_is_read_as_ethereum_tools_and_the_ir_read_it(text: str, value: object) -> None:
    assert parse_argument(text) == value


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("0x123", "argument '0x123': 0x starts bytes, an even number of hex digits"),
        ("0xnope", "argument '0xnope': 0x starts bytes"),
        ('"open', "argument '\"open': unexpected character"),
        ("9" * 80, "integer literal does not fit in 256 bits"),
    ],
)
def test_a_bad_argument_is_one_error_naming_it(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=r"^argument ") as refused:
        parse_argument(text)
    assert says in str(refused.value)


def test_wallet_call_and_agent_run_read_arguments_with_the_same_function() -> None:
    from agent import cli as agent_cli
    from wallet.commands import agents

    assert agents.parse_argument is agent_cli.parse_argument is parse_argument
