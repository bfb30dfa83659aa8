"""A local testnet: N node processes on 127.0.0.1, started, watched and stopped as a group.

Each node runs `aither node start --config DIR/nodeI/config.toml` in its own session, logs to
`DIR/nodeI/node.log` and leaves its pid in `DIR/nodeI/node.pid`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from genesis.keyfile import KeyFileError, read_key_file
from genesis.testnet import new_testnet
from ledger.genesis import GenesisError
from node.config import NodeConfig

STOP_SECONDS = 20.0


@dataclass(frozen=True, slots=True)
class NodeStatus:
    name: str
    directory: Path
    rpc_url: str
    pid: int | None
    running: bool
    height: int | None
    peers: int | None
    peer_id: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "rpcUrl": self.rpc_url,
            "pid": self.pid,
            "running": self.running,
            "height": self.height,
            "peers": self.peers,
            "peerId": self.peer_id,
        }


def node_dirs(directory: Path) -> list[Path]:
    if not (directory / "genesis.json").exists():
        raise GenesisError(f"no testnet in {directory} (start one with `aither testnet up`)")
    found = [p for p in directory.glob("node*") if (p / "config.toml").exists()]
    return sorted(found, key=lambda p: int(p.name.removeprefix("node") or 0))


def ensure_testnet(directory: Path, validators: int, base_port: int, rpc_base_port: int) -> bool:
    """Generate the testnet unless `directory` holds one; True if it was generated."""
    if (directory / "genesis.json").exists():
        return False
    new_testnet(directory, validators, base_port=base_port, rpc_base_port=rpc_base_port)
    return True


def start_nodes(directory: Path) -> list[int]:
    """Start every node of the testnet that is not running; return their pids."""
    pids = []
    for node_dir in node_dirs(directory):
        if _running_pid(node_dir) is not None:
            continue
        with (node_dir / "node.log").open("ab") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "aither",
                    "node",
                    "start",
                    "--config",
                    str(node_dir / "config.toml"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the launching terminal is not theirs
            )
        (node_dir / "node.pid").write_text(f"{process.pid}\n")
        pids.append(process.pid)
    return pids


def status(directory: Path) -> list[NodeStatus]:
    found = []
    with httpx.Client(timeout=2.0) as client:
        for node_dir in node_dirs(directory):
            config = NodeConfig.load(node_dir / "config.toml")
            url = f"http://{config.rpc_host}:{config.rpc_port}"
            pid = _running_pid(node_dir)
            health: dict[str, object] = {}
            if pid is not None:
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    health = client.get(f"{url}/health").json()
            found.append(
                NodeStatus(
                    name=node_dir.name,
                    directory=node_dir,
                    rpc_url=url,
                    pid=pid,
                    running=pid is not None,
                    height=_int_or_none(health.get("height")),
                    peers=_int_or_none(health.get("peers")),
                    peer_id=_peer_id(node_dir),
                )
            )
    return found


def wait_until_finalizing(
    directory: Path,
    min_height: int,
    timeout: float,
    progress: Callable[[list[NodeStatus]], None] = lambda _: None,
) -> list[NodeStatus]:
    """Wait until every node reports at least `min_height`; raise TimeoutError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        current = status(directory)
        progress(current)
        if all(s.height is not None and s.height >= min_height for s in current):
            return current
        if time.monotonic() > deadline:
            lagging = [s.name for s in current if s.height is None or s.height < min_height]
            raise TimeoutError(
                f"{', '.join(lagging)} did not reach block {min_height} in {timeout:.0f} s"
            )
        time.sleep(0.25)


def stop_nodes(directory: Path, timeout: float = STOP_SECONDS) -> list[str]:
    """Stop every running node with SIGINT (SIGKILL after `timeout`); return their names."""
    stopping = {}
    for node_dir in node_dirs(directory):
        pid = _running_pid(node_dir)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
            stopping[node_dir] = pid
    deadline = time.monotonic() + timeout
    for node_dir, pid in stopping.items():
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        (node_dir / "node.pid").unlink(missing_ok=True)
    return [d.name for d in stopping]


def log_path(directory: Path, name: str) -> Path:
    for node_dir in node_dirs(directory):
        if node_dir.name == name:
            return node_dir / "node.log"
    names = ", ".join(d.name for d in node_dirs(directory))
    raise GenesisError(f"no node named {name!r} in {directory} (nodes: {names})")


def _running_pid(node_dir: Path) -> int | None:
    try:
        pid = int((node_dir / "node.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # reap it if it is our exited child
        if waited == pid:
            return False
    except ChildProcessError:
        pass  # not our child: ask the kernel
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _peer_id(node_dir: Path) -> str | None:
    from p2p.host import peer_id_from_seed  # libp2p takes ~0.7 s to import: only when needed

    try:
        return peer_id_from_seed(read_key_file(node_dir / "node_key.json").seed)
    except KeyFileError:
        return None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
