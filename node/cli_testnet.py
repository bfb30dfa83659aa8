"""`aither testnet up|status|down|logs`: a local multi-validator network in one command."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from core.errors import AitherError
from genesis.testnet import TESTNET_P2P_BASE_PORT, TESTNET_RPC_BASE_PORT
from node import testnet
from node.testnet import NodeExited, NodeStatus, PortInUse

app = typer.Typer(help="Run a local multi-validator testnet.", no_args_is_help=True)
# Scripts read whole lines: never wrap or truncate when the output is not a terminal.
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 240)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

Dir = Annotated[Path, typer.Option("--dir", help="Testnet directory.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
DEFAULT_DIR = Path(".aither/testnet")
VALIDATORS = 4  # of a new testnet unless --validators says otherwise
MAX_VALIDATORS = 32


def _dir_flag(directory: Path) -> str:
    return "" if directory == DEFAULT_DIR else f" --dir {shlex.quote(str(directory))}"


def _fail(message: str) -> typer.Exit:
    err.print(f"error: {message}")
    return typer.Exit(1)


def _table(nodes: list[NodeStatus]) -> Table:
    table = Table("node", "peer id", "height", "peers", "RPC URL", "state")
    for s in nodes:
        table.add_row(
            s.name,
            s.peer_id or "?",
            "-" if s.height is None else str(s.height),
            "-" if s.peers is None else str(s.peers),
            s.rpc_url,
            "running" if s.running else "stopped",
        )
    return table


@app.command()
def up(
    validators: Annotated[
        int | None,
        typer.Option(
            "--validators",
            min=1,
            max=MAX_VALIDATORS,
            help=f"Validators of a new testnet [{VALIDATORS}].",
        ),
    ] = None,
    directory: Dir = DEFAULT_DIR,
    base_port: Annotated[
        int | None,
        typer.Option(
            "--base-port",
            min=1,
            max=65535,
            help=f"First libp2p port of a new testnet [{TESTNET_P2P_BASE_PORT}].",
        ),
    ] = None,
    rpc_base_port: Annotated[
        int | None,
        typer.Option(
            "--rpc-base-port",
            min=1,
            max=65535,
            help=f"First JSON-RPC port of a new testnet [{TESTNET_RPC_BASE_PORT}].",
        ),
    ] = None,
    reset: Annotated[
        bool,
        typer.Option(
            "--reset",
            help="Stop the testnet in --dir and delete it (keys, chains, logs), then generate "
            "a new one.",
        ),
    ] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for blocks.")] = 60,
    as_json: AsJson = False,
) -> None:
    """Generate the testnet if needed, check that its ports are free, start its nodes and wait
    until they finalize blocks. On any failure, the nodes it started are stopped."""
    exists = (directory / "genesis.json").exists()
    new = reset or not exists
    count = VALIDATORS if validators is None else validators
    p2p = TESTNET_P2P_BASE_PORT if base_port is None else base_port
    rpc = TESTNET_RPC_BASE_PORT if rpc_base_port is None else rpc_base_port
    try:
        if exists and reset:
            testnet.stop_nodes(directory)  # first: their ports are free for the new testnet
        elif exists:
            testnet.check_reuse(directory, validators, base_port, rpc_base_port)
        testnet.check_ports(
            testnet.new_ports(count, p2p, rpc) if new else testnet.idle_ports(directory)
        )
        if exists and reset:
            testnet.delete_testnet(directory)
        created = testnet.ensure_testnet(directory, count, p2p, rpc)
    except PortInUse as exc:
        other = (
            "choose other ports with --base-port/--rpc-base-port"
            if new
            else "generate the testnet again on other ports with --reset (and --base-port/"
            "--rpc-base-port)"
        )
        raise _fail(f"{exc}: stop it, or {other}") from None
    except (AitherError, OSError) as exc:
        raise _fail(str(exc)) from None
    started: list[str] = []
    try:
        started = testnet.start_nodes(directory)
        total = len(testnet.node_dirs(directory))
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[state]}"),
            console=Console(stderr=True),
            disable=as_json or not sys.stderr.isatty(),  # a bar for people only
            transient=True,
        ) as progress:
            task = progress.add_task("starting validators", total=total, state="")

            def show(nodes: list[NodeStatus]) -> None:
                finalizing = sum(1 for s in nodes if s.height is not None and s.height >= 2)
                heights = ", ".join("-" if s.height is None else str(s.height) for s in nodes)
                progress.update(task, completed=finalizing, state=f"heights {heights}")

            nodes = testnet.wait_until_finalizing(directory, 2, timeout, show)
    except (AitherError, OSError, TimeoutError, KeyboardInterrupt) as exc:
        stopped = testnet.stop_nodes(directory, only=started)
        what = f"stopped {', '.join(stopped)}" if stopped else "stopped nothing"
        if isinstance(exc, KeyboardInterrupt):
            err.print(f"interrupted: {what}")
            raise typer.Exit(130) from None
        node = exc.node if isinstance(exc, NodeExited) else "NODE"
        raise _fail(
            f"{exc} ({what}; see `aither testnet logs {node}{_dir_flag(directory)}`)"
        ) from None
    if as_json:
        print(
            json.dumps(
                {"dir": str(directory), "created": created, "nodes": [s.to_json() for s in nodes]}
            )
        )
        return
    what = "created and started" if created else f"started {len(started)} node(s) of"
    console.print(f"{what} the testnet in {directory}: blocks are being finalized")
    console.print(_table(nodes))
    where = _dir_flag(directory)
    console.print(
        f"stop it with `aither testnet down{where}`; logs with `aither testnet logs node0{where}`"
    )


@app.command()
def status(directory: Dir = DEFAULT_DIR, as_json: AsJson = False) -> None:
    """Show each node's height, peers and RPC URL."""
    try:
        nodes = testnet.status(directory)
    except AitherError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        print(json.dumps([s.to_json() for s in nodes]))
    else:
        console.print(_table(nodes))


@app.command()
def down(directory: Dir = DEFAULT_DIR, as_json: AsJson = False) -> None:
    """Stop every node cleanly (Ctrl-C, then SIGKILL after 20 s)."""
    try:
        stopped = testnet.stop_nodes(directory)
    except AitherError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        print(json.dumps({"stopped": stopped}))
    else:
        console.print(f"stopped {', '.join(stopped)}" if stopped else "no node was running")


@app.command()
def logs(
    name: Annotated[str, typer.Argument(metavar="NODE", help="node0, node1, ...")],
    directory: Dir = DEFAULT_DIR,
    lines: Annotated[int, typer.Option("--lines", "-n", min=1)] = 50,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines.")
    ] = False,
) -> None:
    """Print the end of a node's log."""
    try:
        path = testnet.log_path(directory, name)
        text = path.read_text(errors="replace") if path.exists() else ""
    except AitherError as exc:
        raise _fail(str(exc)) from None
    sys.stdout.write("".join(text.splitlines(keepends=True)[-lines:]))
    sys.stdout.flush()
    if follow:
        with path.open(errors="replace") as handle:
            handle.seek(0, 2)
            try:
                while True:
                    line = handle.readline()
                    if line:
                        sys.stdout.write(line)
                        sys.stdout.flush()
                    else:
                        time.sleep(0.2)
            except KeyboardInterrupt:
                pass
