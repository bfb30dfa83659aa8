"""The friction list (issue 13): commands run as the README writes them, against real dev nodes.

The swarm steps run exactly as the README prints them, with no --rpc and no --token-file, from the
directory where the node keeps its default data dir (.aither/dev) and serves the default URL
(127.0.0.1:8545): the node's admin token is found there. The other commands run against a node on
a free port and name it with --rpc.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pytest

from core.crypto import to_checksum_address
from core.rpc import DEFAULT_RPC, DEFAULT_RPC_PORT
from genesis.dev import dev_key
from node.process import AITHER, HOST, NodeProcess

if TYPE_CHECKING:
    from conftest import DevNode

pytestmark = pytest.mark.slow

CLI_TIMEOUT = 60.0
LINE_TIMEOUT = 20.0
# What a new user's shell does not set: every command here says where it goes itself.
UNSET = ("AITHER_RPC", "AITHER_ADMIN_TOKEN_FILE", "AITHER_RPC_TOKEN")


def aither(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the `aither` CLI to completion in `cwd`; no traceback, whatever it answers."""
    done = subprocess.run(
        [str(AITHER), *args],
        cwd=cwd,
        env=_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    return {**env, "NO_COLOR": "1"}


class Lines:
    """A child's output stream, read line by line on a thread so that a test can wait for a
    line with a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = LINE_TIMEOUT) -> str:
        """The first line from now on that contains `text`."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r} within {timeout:.0f} s; saw {self.seen}")


@contextlib.contextmanager
def background(cwd: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], Lines, Lines]]:
    """`aither ARGS` running in the background: the process, its stdout and its stderr lines;
    killed at the end if it still runs."""
    process = subprocess.Popen(
        [str(AITHER), *args],
        cwd=cwd,
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        yield process, Lines(process.stdout), Lines(process.stderr)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(CLI_TIMEOUT)


def interrupt(process: subprocess.Popen[str]) -> int:
    """Ctrl-C; the exit code."""
    process.send_signal(signal.SIGINT)
    return process.wait(CLI_TIMEOUT)


# ---- the README's node: default data dir, default URL ------------------------------------------


@pytest.fixture(scope="module")
def readme_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory where `aither node start --dev --swarm-dev-account 0 --swarm-dev-account 1`
    runs with its defaults (data in .aither/dev, JSON-RPC on 127.0.0.1:8545)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the node binds it
        try:
            probe.bind((HOST, DEFAULT_RPC_PORT))
        except OSError:
            pytest.skip(f"{DEFAULT_RPC} is taken: the README's default URL cannot be tested")
    cwd = tmp_path_factory.mktemp("readme")
    # The node of the fixtures (NodeProcess), on the README's defaults instead of a free port.
    args = ("--dev", "--data-dir", str(cwd / ".aither" / "dev"))
    node = NodeProcess(args, DEFAULT_RPC, cwd / "node.log", "readme node")
    try:
        node.start("--swarm-dev-account", "0", "--swarm-dev-account", "1")
        yield cwd
    finally:
        node.close()


def test_swarm_listen_and_send_work_as_the_readme_writes_them(readme_dir: Path) -> None:
    steps = [
        ("swarm", "register", "masha-trader.avm", "--dev-account", "0"),
        ("swarm", "register", "pasha-bot.avm", "--dev-account", "1"),
        ("swarm", "create", "research", "--dev-account", "0"),
        ("swarm", "join", "research", "--dev-account", "1"),
        ("swarm", "rotate", "research", "--dev-account", "0"),
    ]
    for step in steps:
        done = aither(readme_dir, *step)
        assert done.returncode == 0, (step, done.stderr)
    listen = ("swarm", "listen", "research", "--as", "pasha-bot.avm")
    with background(readme_dir, *listen) as (listener, out, status):
        started = status.wait_for("listening on research")
        assert started == (
            "listening on research as pasha-bot.avm: a line per message as the node decrypts "
            "it (Ctrl-C to stop)"
        )
        send = ("send", "research", "BTC sentiment?", "--as", "masha-trader.avm")
        sent = aither(readme_dir, "swarm", *send, "--dev-account", "0", "--reward", "0.5")
        assert sent.returncode == 0, sent.stderr
        assert "reward of 0.5 AVM escrowed: ok" in sent.stdout, sent.stdout
        assert (
            out.wait_for("BTC sentiment?")
            .split("] ", 1)[1]
            .startswith("masha-trader.avm: BTC sentiment?")
        )
        assert interrupt(listener) == 0


def test_without_the_dev_nodes_token_file_the_error_says_what_to_pass(
    readme_dir: Path, tmp_path: Path
) -> None:
    elsewhere = aither(tmp_path, "swarm", "send", "research", "hello", "--as", "masha-trader.avm")
    assert elsewhere.returncode == 1 and elsewhere.stdout == ""
    assert elsewhere.stderr.splitlines() == [
        "error: swarm_send needs the node's admin token: pass --token-file "
        "DATA_DIR/admin-token (the node prints the path at start)"
    ]
    stale = tmp_path / ".aither" / "dev" / "admin-token"
    stale.parent.mkdir(parents=True)
    stale.write_text("00" * 32)
    refused = aither(tmp_path, "swarm", "listen", "research")
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        "error: the node refused the admin token in .aither/dev/admin-token: it writes a new one "
        "at each start"
    )
    assert len(refused.stderr.splitlines()) == 1


# ---- the other commands, on a node of the fixtures ---------------------------------------------

KIND = """\
;; says what kind of value its argument arrived as
:kind
  IF ARGS[0] == x"4a87" THEN
    RETURN "bytes 4a87"
  ENDIF
  IF ARGS[0] == 42 THEN
    RETURN "integer 42"
  ENDIF
  RETURN ARGS[0]
"""
TASKS = """\
:setup
  SCHEDULE_TASK "report", 2 -> ok
  RETURN ok
:report
  RETURN 1
"""
TIPPER = """\
:main
  PAY_AGENT ARGS[0], 1000000000000000, "AVM_CREDITS" -> paid
  RETURN paid
"""


def address(index: int) -> str:
    return to_checksum_address(dev_key(index).address)


def wallet(node: DevNode, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return aither(cwd, "wallet", *args, "--rpc", node.url)


def wallet_json(node: DevNode, cwd: Path, *args: str) -> dict[str, Any]:
    done = wallet(node, cwd, *args, "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert isinstance(found, dict)
    return found


@pytest.fixture(scope="module")
def kind_agent(shared_node: DevNode, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The KIND program's file and the address it is deployed at (by dev account 3)."""
    cwd = tmp_path_factory.mktemp("kind")
    source = cwd / "kind.air"
    source.write_text(KIND)
    deployed = wallet_json(shared_node, cwd, "deploy", str(source), "--dev-account", "3")
    return source, str(deployed["agent"])


@pytest.mark.parametrize(
    ("argument", "kind"),
    [("0x4a87", "bytes 4a87"), ('x"4a87"', "bytes 4a87"), ("42", "integer 42"),
     ('"42"', "42"), ("hello", "hello")],
)  # fmt: skip
def test_wallet_call_and_agent_run_read_an_argument_alike(
    shared_node: DevNode, kind_agent: tuple[Path, str], tmp_path: Path, argument: str, kind: str
) -> None:
    source, agent = kind_agent
    called = wallet_json(shared_node, tmp_path, "call", agent, "kind", argument, "--dry-run")
    assert called["ok"] and called["value"] == kind, called
    ran = aither(tmp_path, "agent", "run", str(source), "--entry", "kind", "--arg", argument,
                 "--dev-account", "3", "--rpc", shared_node.url, "--state-dir",
                 str(tmp_path / "state"), "--json")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["value"] == kind


def test_a_bad_argument_is_one_line_in_both_commands(
    shared_node: DevNode, kind_agent: tuple[Path, str], tmp_path: Path
) -> None:
    source, agent = kind_agent
    says = "error: argument '0x123': 0x starts bytes, an even number of hex digits"
    called = wallet(shared_node, tmp_path, "call", agent, "kind", "0x123", "--dev-account", "3")
    ran = aither(tmp_path, "agent", "run", str(source), "--entry", "kind", "--arg", "0x123",
                 "--dev-account", "3", "--rpc", shared_node.url)  # fmt: skip
    for done in (called, ran):
        assert done.returncode == 1 and done.stdout == ""
        assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith(says), done.stderr


def test_wallet_call_trace_is_a_dry_run_that_sends_nothing(
    shared_node: DevNode, kind_agent: tuple[Path, str], tmp_path: Path
) -> None:
    _, agent = kind_agent
    nonce = shared_node.nonce(dev_key(3).address, "pending")
    traced = wallet(shared_node, tmp_path, "call", agent, "kind", "42", "--trace",
                    "--dev-account", "3")  # fmt: skip
    assert traced.returncode == 0, traced.stderr
    assert traced.stderr.splitlines() == [
        "--trace: a dry run on the node's head state; nothing is sent"
    ]
    lines = traced.stdout.splitlines()
    assert re.match(r"^ +0  GET +\d+ milligas  in \[", lines[0]), lines  # a step, its milligas
    assert lines[-1].startswith('ok (dry run); returned "integer 42"; gas used ')
    assert lines[-1].endswith(" milligas")
    assert shared_node.nonce(dev_key(3).address, "pending") == nonce  # nothing was sent


def _propose_params(node: DevNode, cwd: Path, *sets: str) -> str:
    args = [arg for entry in sets for arg in ("--set", entry)]
    filed = wallet_json(node, cwd, "propose-params", *args, "--dev-account", "1")
    assert filed["status"] == "ok", filed
    return str(filed["proposal"])


def test_cancel_by_someone_else_is_refused_before_anything_is_sent(
    shared_node: DevNode, tmp_path: Path
) -> None:
    pid = _propose_params(shared_node, tmp_path, "voting_period=30")
    nonce = shared_node.nonce(dev_key(2).address, "pending")
    stranger = wallet(shared_node, tmp_path, "cancel", pid, "--dev-account", "2")
    assert stranger.returncode == 1 and stranger.stdout == ""
    assert stranger.stderr.splitlines() == [
        f"error: only the proposer may cancel proposal {pid}: it was filed by {address(1)}, "
        f"not {address(2)}"
    ]
    assert shared_node.nonce(dev_key(2).address, "pending") == nonce  # nothing was sent
    assert shared_node.rpc("aither_getProposal", pid)["status"] in ("submitted", "voting")
    cancelled = wallet_json(shared_node, tmp_path, "cancel", pid, "--dev-account", "1")
    assert cancelled["status"] == "ok", cancelled
    again = wallet(shared_node, tmp_path, "cancel", pid, "--dev-account", "1")
    assert again.returncode == 1
    assert again.stderr.splitlines() == ["error: the proposal is cancelled: too late to cancel"]
    unknown = wallet(shared_node, tmp_path, "cancel", "0x" + "ab" * 32, "--dev-account", "1")
    assert unknown.stderr.splitlines() == [f"error: no proposal 0x{'ab' * 32}"]


def test_gov_show_says_what_a_parameter_proposal_changes(
    shared_node: DevNode, tmp_path: Path
) -> None:
    rules = shared_node.rpc("aither_getCouncil")["params"]
    deposit = int(rules["min_deposit"])
    pid = _propose_params(shared_node, tmp_path, "voting_period=12",
                          f"min_deposit={2 * deposit}")  # fmt: skip
    shown = aither(tmp_path, "gov", "show", pid, "--rpc", shared_node.url)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    start = lines.index("parameters (in force now -> proposed)")
    assert lines[start + 1 : start + 3] == [
        f"  voting_period: {rules['voting_period']} -> 12",
        f"  min_deposit: {deposit // 10**18} AVM -> {2 * deposit // 10**18} AVM",
    ]
    doc = json.loads(aither(tmp_path, "gov", "show", pid, "--rpc", shared_node.url,
                            "--json").stdout)  # fmt: skip
    assert doc["paramChanges"] == {
        "voting_period": [rules["voting_period"], 12],
        "min_deposit": [str(deposit), str(2 * deposit)],
    }


def test_tick_watch_says_what_it_waits_for_and_prints_each_run(
    shared_node: DevNode, tmp_path: Path
) -> None:
    program = tmp_path / "tasks.air"
    program.write_text(TASKS)
    common = ("--dev-account", "4", "--rpc", shared_node.url, "--state-dir", str(tmp_path / "s"))
    setup = aither(tmp_path, "agent", "run", str(program), "--entry", "setup", *common)
    assert setup.returncode == 0, setup.stderr
    watch = ("agent", "tick", str(program), *common, "--watch")
    with background(tmp_path, *watch) as (ticker, out, _):
        # Due 2 s after the setup run's block: it may be due at once, or be waited for first.
        assert out.wait_for("task report (due ").endswith(":")
        assert "ok; value 1; gas used " in out.wait_for("ok; value 1")
        waiting = out.wait_for("waiting for task report")  # its next period
        assert waiting.startswith("waiting for task report, due ")
        assert waiting.endswith(" UTC; each run prints here (Ctrl-C to stop)")
        assert interrupt(ticker) == 0
        assert out.wait_for("stopped watching") == "stopped watching"


def test_amounts_show_with_their_unit_and_gas_with_its_scale(
    shared_node: DevNode, tmp_path: Path
) -> None:
    created = wallet_json(shared_node, tmp_path, "token", "create", "--dev-account", "0",
                          "GOLD", "1000000", "--decimals", "6")  # fmt: skip
    sent = wallet_json(shared_node, tmp_path, "send", "--dev-account", "0", "--to",
                       address(7), "--token", "GOLD", "12.5")  # fmt: skip
    history = wallet(shared_node, tmp_path, "history", address(7))
    assert history.returncode == 0, history.stderr
    assert "12.5 GOLD" in history.stdout and "12500000" not in history.stdout, history.stdout
    tx = wallet(shared_node, tmp_path, "tx", str(sent["hash"]))
    assert "│ amount   │ 12.5 GOLD" in tx.stdout, tx.stdout
    assert f"│ gas used │ {sent['gasUsed']} milligas" in tx.stdout, tx.stdout
    token = wallet(shared_node, tmp_path, "tx", str(created["hash"]))
    assert "│ supply   │ 1000000 GOLD" in token.stdout, token.stdout

    program = tmp_path / "tipper.air"
    program.write_text(TIPPER)
    ran = aither(tmp_path, "agent", "run", str(program), "--arg", address(8), "--dev-account", "6",
                 "--rpc", shared_node.url, "--state-dir", str(tmp_path / "s"))  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    [paid] = [line for line in ran.stdout.splitlines() if line.startswith("tx ")]
    assert f": pay 0.001 AVM to {address(8)}, block " in paid, ran.stdout
    shown = re.match(r"ok; value true; gas used (\d+) \((\d+) milligas\); trace hash ",
                     ran.stdout.splitlines()[-1])  # fmt: skip
    assert shown, ran.stdout
    gas, milligas = int(shown[1]), int(shown[2])
    assert gas == -(-milligas // 1000)  # whole gas, rounded up, and the exact milligas
