"""`aither testnet up` beside a dev node, and what makes it refuse: a port another process holds
(named with that process), a node that exits at start, a directory on other ports than the flags
given. Real processes and sockets on 127.0.0.1; a testnet here has two validators."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from core.rpc import DEFAULT_RPC, DEFAULT_RPC_PORT
from genesis.testnet import TESTNET_P2P_BASE_PORT, TESTNET_RPC_BASE_PORT, new_testnet
from node.cli_testnet import MAX_VALIDATORS
from node.process import HOST, NodeExited, NodeProcess, free_ports, health
from node.testnet import PortInUse, check_ports, new_ports, stop_nodes

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable

    from conftest import NodeLauncher

    RunAither = Callable[..., subprocess.CompletedProcess[str]]

pytestmark = pytest.mark.slow

VALIDATORS = 2
UP_TIMEOUT = 45  # `testnet up` gives up (and says why) before the CLI runner's 60 s
FAST_FAILURE = 3.0  # seconds: a taken port or a refused directory, before anything starts
EXIT_NOTICED = 15.0  # seconds: a node that exits at start, well inside the 60 s `up` waits


@pytest.fixture
def make_run_node(tmp_path: Path, start_node: NodeLauncher) -> Iterator[NodeProcess]:
    """A dev node as `make run` starts it, on the dev default port 8545; where another process
    holds 8545 on this machine, on a free port (the fixtures' dev node) instead."""
    node: NodeProcess = NodeProcess(
        ("--dev", "--data-dir", str(tmp_path / "dev")), DEFAULT_RPC, tmp_path / "dev.log", "dev"
    )
    try:
        node.start()
    except NodeExited:
        if "Address already in use" not in node.output():
            raise
        node = start_node()
    try:
        yield node
    finally:
        node.close()


def four_free_ports() -> tuple[int, int]:
    """(libp2p base, JSON-RPC base) of a 2-validator testnet on four free consecutive ports."""
    base = free_ports(2 * VALIDATORS)
    return base, base + VALIDATORS


def processes_naming(directory: Path) -> list[str]:
    """The command lines of live processes that name `directory` (the nodes of a testnet)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            line = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if str(directory) in line:
                found.append(line)
    return found


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie nobody reaped yet counts as stopped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def log_tails(directory: Path, lines: int = 15) -> str:
    return "".join(
        f"\n--- {log.parent.name} ---\n" + "\n".join(log.read_text().splitlines()[-lines:])
        for log in sorted(directory.glob("node*/node.log"))
    )


def test_testnet_default_ports_are_apart_from_the_dev_node_and_from_each_other() -> None:
    largest = [
        p.port for p in new_ports(MAX_VALIDATORS, TESTNET_P2P_BASE_PORT, TESTNET_RPC_BASE_PORT)
    ]
    assert DEFAULT_RPC_PORT not in largest
    assert len(set(largest)) == len(largest) == 2 * MAX_VALIDATORS
    assert TESTNET_RPC_BASE_PORT + MAX_VALIDATORS <= TESTNET_P2P_BASE_PORT


def test_up_on_default_ports_beside_a_dev_node_then_down(
    run_aither: RunAither, make_run_node: NodeProcess, tmp_path: Path
) -> None:
    dev = make_run_node
    flags: tuple[str, ...] = ()
    rpc_base = TESTNET_RPC_BASE_PORT
    try:
        check_ports(new_ports(VALIDATORS, TESTNET_P2P_BASE_PORT, TESTNET_RPC_BASE_PORT))
    except PortInUse:  # another testnet on this machine: the dev node's side is tested the same
        p2p_base, rpc_base = four_free_ports()
        flags = ("--base-port", str(p2p_base), "--rpc-base-port", str(rpc_base))
    directory = tmp_path / "net"
    where = ("--dir", str(directory))
    try:
        up = run_aither(
            "testnet", "up", "--validators", str(VALIDATORS), *where, *flags,
            "--timeout", str(UP_TIMEOUT), "--json",
        )  # fmt: skip
        assert up.returncode == 0, up.stderr + log_tails(directory)
        nodes = json.loads(up.stdout)["nodes"]
        urls = [n["rpcUrl"] for n in nodes]
        assert urls == [f"http://{HOST}:{rpc_base + i}" for i in range(VALIDATORS)]
        assert dev.url not in urls
        assert health(dev.url) is not None, "the dev node stopped serving"

        down = run_aither("testnet", "down", *where, "--json")
        assert down.returncode == 0, down.stderr
        assert json.loads(down.stdout)["stopped"] == ["node0", "node1"]
    finally:
        if (directory / "genesis.json").exists():
            stop_nodes(directory)
    assert processes_naming(directory) == []
    assert dev.running and health(dev.url) is not None, "`testnet down` touched the dev node"


@pytest.mark.parametrize("role", ["JSON-RPC", "libp2p"])
def test_a_taken_port_fails_up_at_once_naming_the_port_and_its_holder(
    run_aither: RunAither, tmp_path: Path, role: str
) -> None:
    p2p_base, rpc_base = four_free_ports()
    taken = (rpc_base if role == "JSON-RPC" else p2p_base) + 1  # node1's
    directory = tmp_path / "net"
    with socket.socket() as holder:
        holder.bind((HOST, taken))
        holder.listen()
        began = time.monotonic()
        up = run_aither(
            "testnet", "up", "--validators", str(VALIDATORS), "--dir", str(directory),
            "--base-port", str(p2p_base), "--rpc-base-port", str(rpc_base),
        )  # fmt: skip
        elapsed = time.monotonic() - began
    assert up.returncode == 1, up
    assert elapsed < FAST_FAILURE, f"`up` took {elapsed:.1f} s to refuse"
    [line] = up.stderr.splitlines()
    this_process = f"port {taken} (node1's {role}) is in use by pid {os.getpid()} (`"
    assert line.startswith(f"error: {this_process}"), line
    assert "python" in line.split("(`", 1)[1], line  # this process's command line
    assert "--base-port" in line, line  # what to do next
    assert not directory.exists(), "a testnet was generated though it cannot start"
    assert processes_naming(directory) == []


def test_a_node_that_exits_at_start_fails_up_at_once_and_the_others_are_stopped(
    run_aither: RunAither, tmp_path: Path
) -> None:
    p2p_base, rpc_base = four_free_ports()
    directory = tmp_path / "net"
    new_testnet(directory, VALIDATORS, base_port=p2p_base, rpc_base_port=rpc_base)
    missing = directory / "node1" / "validator_key.json"
    missing.unlink()
    try:
        began = time.monotonic()
        up = run_aither("testnet", "up", "--dir", str(directory))  # waits 60 s for blocks
        elapsed = time.monotonic() - began
    finally:
        stop_nodes(directory)
    assert up.returncode == 1, up
    assert elapsed < EXIT_NOTICED, f"`up` took {elapsed:.1f} s to notice\n{up.stderr}"
    [line] = up.stderr.splitlines()
    assert line.startswith(
        f"error: node1 exited; its log ends: error: cannot read key file {missing}"
    ), line
    assert "(stopped node0; see `aither testnet logs node1 --dir" in line, line
    assert processes_naming(directory) == []
    assert not list(directory.glob("node*/node.pid"))


@pytest.mark.parametrize("flag", ["--validators", "--base-port", "--rpc-base-port"])
def test_up_refuses_a_testnet_on_other_ports_than_the_flags_given(
    run_aither: RunAither, tmp_path: Path, flag: str
) -> None:
    p2p_base, rpc_base = four_free_ports()
    directory = tmp_path / "net"
    new_testnet(directory, VALIDATORS, base_port=p2p_base, rpc_base_port=rpc_base)
    value = {"--validators": 3, "--base-port": p2p_base + 100, "--rpc-base-port": rpc_base + 100}
    began = time.monotonic()
    up = run_aither("testnet", "up", "--dir", str(directory), flag, str(value[flag]))
    elapsed = time.monotonic() - began
    assert up.returncode == 1, up
    assert elapsed < FAST_FAILURE, f"`up` took {elapsed:.1f} s to refuse"
    [line] = up.stderr.splitlines()
    assert line == (
        f"error: {directory} holds a testnet of 2 validators on libp2p ports "
        f"{p2p_base}-{p2p_base + 1} and JSON-RPC ports {rpc_base}-{rpc_base + 1}, "
        f"not {flag} {value[flag]}: add --reset to replace it (stops its nodes, deletes its "
        "keys and chains), or drop those flags to start it as it is"
    )
    assert not list(directory.glob("node*/node.pid")), "a node was started"
    assert processes_naming(directory) == []


def test_reset_stops_the_running_testnet_first_and_starts_a_new_one_on_its_ports(
    run_aither: RunAither, tmp_path: Path
) -> None:
    directory = tmp_path / "net"
    p2p_base, rpc_base = four_free_ports()
    ports = ("--base-port", str(p2p_base), "--rpc-base-port", str(rpc_base))
    up = ("testnet", "up", "--validators", str(VALIDATORS), "--dir", str(directory), *ports)
    wait = ("--timeout", str(UP_TIMEOUT), "--json")
    try:
        first = run_aither(*up, *wait)
        assert first.returncode == 0, first.stderr + log_tails(directory)
        old = json.loads(first.stdout)["nodes"]

        # The same ports: free only if the running nodes are stopped before they are checked.
        reset = run_aither(*up, "--reset", *wait)
        assert reset.returncode == 0, reset.stderr + log_tails(directory)
        answer = json.loads(reset.stdout)
        assert answer["created"] is True
        new = answer["nodes"]
        assert [n["rpcUrl"] for n in new] == [n["rpcUrl"] for n in old]
        assert {n["peerId"] for n in new}.isdisjoint(n["peerId"] for n in old), "the old keys"
        assert not [n["pid"] for n in old if alive(n["pid"])], "an old node still runs"
    finally:
        if (directory / "genesis.json").exists():
            stop_nodes(directory)
    assert processes_naming(directory) == []
