"""A local testnet: N node processes on 127.0.0.1, started, watched and stopped as a group.

Each node runs `aither node start --config DIR/nodeI/config.toml` in its own session, logs to
`DIR/nodeI/node.log` and leaves its pid in `DIR/nodeI/node.pid`. Before anything starts, every
port the nodes will listen on is checked, and a taken one is reported with the process that
holds it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import httpx

from core.errors import AitherError
from genesis.keyfile import KeyFileError, read_key_file
from genesis.testnet import new_testnet
from ledger.genesis import GenesisError
from node.config import NodeConfig

STOP_SECONDS = 20.0
HOST = "127.0.0.1"  # where new_testnet puts every node (but with `docker`)
COMMAND_SHOWN = 120  # characters of a port holder's command line in a message
LOG_TAIL_BYTES = 16_384  # where a node's last line is looked for
START_MARK = "$ "  # starts the line start_nodes writes to a node's log before starting it


class StartError(AitherError):
    """A testnet that cannot start as asked: a port in use, a node that exited, flags that
    differ from the testnet in the directory."""


class PortInUse(StartError):
    """A port a node needs is taken, by the process named when /proc tells."""

    def __init__(self, wanted: NodePort, holder: str | None) -> None:
        super().__init__(f"{wanted} is in use by {holder or 'another process'}")


class NodeExited(StartError):
    """A node that stopped while the testnet was starting; its log's last line says why."""

    def __init__(self, node: str, last_line: str) -> None:
        super().__init__(f"{node} exited; its log ends: {last_line}")
        self.node = node


@dataclass(frozen=True, slots=True)
class NodePort:
    """A TCP port one node of the testnet listens on."""

    node: str
    role: str  # "libp2p" or "JSON-RPC"
    host: str
    port: int

    def __str__(self) -> str:
        return f"port {self.port} ({self.node}'s {self.role})"


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


def delete_testnet(directory: Path) -> None:
    """Stop the testnet's nodes, then delete its genesis and node directories (keys, chains,
    logs); other files in `directory` stay."""
    stop_nodes(directory)
    for node_dir in node_dirs(directory):
        shutil.rmtree(node_dir)
    (directory / "genesis.json").unlink()


def new_ports(validators: int, base_port: int, rpc_base_port: int) -> list[NodePort]:
    """The ports a testnet generated with these arguments will listen on (node i: libp2p on
    `base_port + i`, JSON-RPC on `rpc_base_port + i`, as new_testnet lays them out).
    StartError if the two ranges overlap or run past 65535."""
    if validators < 1:
        raise StartError("a testnet needs at least one validator")
    p2p = range(base_port, base_port + validators)
    rpc = range(rpc_base_port, rpc_base_port + validators)
    if p2p[-1] > 65535 or rpc[-1] > 65535:
        raise StartError(f"{validators} validators need ports up to {max(p2p[-1], rpc[-1])}")
    if p2p.start <= rpc[-1] and rpc.start <= p2p[-1]:
        raise StartError(
            f"libp2p ports {_span(p2p)} and JSON-RPC ports {_span(rpc)} overlap: "
            "choose --base-port and --rpc-base-port further apart"
        )
    return [
        port
        for i in range(validators)
        for port in (
            NodePort(f"node{i}", "libp2p", HOST, p2p[i]),
            NodePort(f"node{i}", "JSON-RPC", HOST, rpc[i]),
        )
    ]


def idle_ports(directory: Path) -> list[NodePort]:
    """The ports the nodes of the testnet that are not running will listen on."""
    found = []
    for node_dir in node_dirs(directory):
        if _running_pid(node_dir) is not None:
            continue  # it holds its ports already
        config = NodeConfig.load(node_dir / "config.toml")
        found.append(NodePort(node_dir.name, "JSON-RPC", config.rpc_host, config.rpc_port))
        found += [
            NodePort(node_dir.name, "libp2p", host, port)
            for host, port in filter(None, map(_tcp_listen, config.p2p_listen))
        ]
    return found


def check_ports(ports: Collection[NodePort]) -> None:
    """Bind each port for a moment: PortInUse naming the first one taken and, where /proc
    tells, the process holding it; StartError if one cannot be bound for another reason."""
    for wanted in ports:
        family = socket.AF_INET6 if ":" in wanted.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # As the node binds: a socket in TIME_WAIT from its last run is no conflict.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((wanted.host, wanted.port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise PortInUse(wanted, port_holder(wanted.port)) from None
                raise StartError(f"cannot listen on {wanted}: {exc.strerror}") from None


def check_reuse(
    directory: Path, validators: int | None, base_port: int | None, rpc_base_port: int | None
) -> None:
    """StartError if the testnet in `directory` is not what the flags given (not None) ask for:
    another number of validators or other ports."""
    configs = [NodeConfig.load(d / "config.toml") for d in node_dirs(directory)]
    p2p = [port for c in configs for _, port in filter(None, map(_tcp_listen, c.p2p_listen))]
    rpc = [c.rpc_port for c in configs]
    differs = []
    if validators is not None and validators != len(configs):
        differs.append(f"--validators {validators}")
    if base_port is not None and p2p != list(range(base_port, base_port + len(p2p))):
        differs.append(f"--base-port {base_port}")
    if rpc_base_port is not None and rpc != list(range(rpc_base_port, rpc_base_port + len(rpc))):
        differs.append(f"--rpc-base-port {rpc_base_port}")
    if differs:
        raise StartError(
            f"{directory} holds a testnet of {len(configs)} validators on libp2p ports "
            f"{_span(p2p)} and JSON-RPC ports {_span(rpc)}, not {' '.join(differs)}: add "
            "--reset to replace it (stops its nodes, deletes its keys and chains), or drop "
            "those flags to start it as it is"
        )


def port_holder(port: int) -> str | None:
    """`pid N (`command line`)` of a process with a socket on TCP `port` (a listening one
    first), from /proc; None where that cannot be found (no /proc, another user's process)."""
    targets = {f"socket:[{inode}]" for inode in _socket_inodes(port)}
    if not targets:
        return None
    with contextlib.suppress(OSError), os.scandir("/proc") as processes:
        for process in processes:
            if process.name.isdigit() and _holds(process.path, targets):
                return f"pid {process.name} (`{_command_line(process.path)}`)"
    return None


def start_nodes(directory: Path) -> list[str]:
    """Start every node of the testnet that is not running; return their names. OSError (after
    stopping those it started) if one cannot be started."""
    started: list[str] = []
    try:
        for node_dir in node_dirs(directory):
            if _running_pid(node_dir) is None:
                _start(node_dir)
                started.append(node_dir.name)
    except OSError:
        stop_nodes(directory, only=started)
        raise
    return started


def _start(node_dir: Path) -> None:
    command = [sys.executable, "-m", "aither", "node", "start", "--config"]
    command.append(str(node_dir / "config.toml"))
    with (node_dir / "node.log").open("ab") as log:
        # A mark before this start's output: a node that dies silently shows "(no output)".
        log.write(f"{START_MARK}{' '.join(command)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the launching terminal is not theirs
        )
    (node_dir / "node.pid").write_text(f"{process.pid}\n")


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
    """Wait until every node reports at least `min_height`. NodeExited as soon as a node is not
    running (its last log line says why); TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        current = status(directory)
        progress(current)
        gone = next((s for s in current if not s.running), None)
        if gone is not None:
            raise NodeExited(gone.name, _last_line(gone.directory / "node.log"))
        if all(s.height is not None and s.height >= min_height for s in current):
            return current
        if time.monotonic() > deadline:
            lagging = [s.name for s in current if s.height is None or s.height < min_height]
            raise TimeoutError(
                f"{', '.join(lagging)} did not reach block {min_height} in {timeout:.0f} s"
            )
        time.sleep(0.25)


def stop_nodes(
    directory: Path, timeout: float = STOP_SECONDS, only: Collection[str] | None = None
) -> list[str]:
    """Stop every running node (or those named in `only`) with SIGINT, SIGKILL after `timeout`;
    return their names. The pid files of nodes that exited by themselves are removed."""
    stopping = {}
    for node_dir in node_dirs(directory):
        if only is not None and node_dir.name not in only:
            continue
        pid = _running_pid(node_dir)
        if pid is None:
            (node_dir / "node.pid").unlink(missing_ok=True)  # of a node that exited by itself
            continue
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


def _tcp_listen(multiaddr: str) -> tuple[str, int] | None:
    """(host, port) of a `/ip4/H/tcp/P` or `/ip6/H/tcp/P` listen address; None otherwise."""
    parts = multiaddr.split("/")
    if len(parts) >= 5 and parts[1] in ("ip4", "ip6") and parts[3] == "tcp" and parts[4].isdigit():
        return parts[2], int(parts[4])
    return None


def _span(ports: Collection[int]) -> str:
    ordered = list(ports)
    if ordered and ordered == list(range(ordered[0], ordered[0] + len(ordered))):
        return str(ordered[0]) if len(ordered) == 1 else f"{ordered[0]}-{ordered[-1]}"
    return ", ".join(map(str, ordered))


def _socket_inodes(port: int) -> list[str]:
    """Inodes of the sockets on local TCP `port` in /proc/net/tcp{,6}: the listening ones if
    any, else every other (a socket bound and not listening holds the port as well)."""
    listening: list[str] = []
    other: list[str] = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()  # sl local_address rem_address st ... uid timeout inode
            if len(fields) < 10 or fields[9] == "0":  # inode 0: TIME_WAIT, owned by nobody
                continue
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                (listening if fields[3] == "0A" else other).append(fields[9])
    return listening or other


def _holds(process: str, targets: set[str]) -> bool:
    try:
        with os.scandir(f"{process}/fd") as fds:
            for fd in fds:
                with contextlib.suppress(OSError):
                    if os.readlink(fd.path) in targets:
                        return True
    except OSError:  # gone, or another user's
        pass
    return False


def _command_line(process: str) -> str:
    try:
        raw = Path(f"{process}/cmdline").read_bytes()
    except OSError:
        return "?"
    line = " ".join(raw.decode(errors="replace").replace("\0", " ").split())  # one line
    return line if len(line) <= COMMAND_SHOWN else line[: COMMAND_SHOWN - 1] + "…"


def _last_line(log: Path) -> str:
    """The last line the node printed since start_nodes started it."""
    try:
        with log.open("rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - LOG_TAIL_BYTES))
            tail = handle.read().decode(errors="replace").splitlines()
    except OSError as exc:
        return f"(cannot read {log}: {exc.strerror})"
    for line in reversed(tail):
        if line.startswith(START_MARK):
            break
        if line.strip():
            return line.strip()
    return "(no output)"


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
