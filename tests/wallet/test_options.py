"""The option groups every client command shares, and commands that import only what they use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from core.rpc import DEFAULT_RPC
from wallet.options import Reader, Signer, reads, signed

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
