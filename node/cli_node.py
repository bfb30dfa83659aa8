"""`aither node start`: run a node. `--dev` runs a single-validator chain, as anvil does."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import sys
from pathlib import Path

import typer
import uvicorn
import uvloop
from rich.console import Console

from genesis.dev import DEV_BALANCE, DEV_SEED, dev_genesis, dev_key, dev_validator_key
from ledger.amounts import format_amount
from ledger.chain import Ledger
from ledger.crypto import to_checksum_address
from ledger.errors import AitherError
from node.node import Node
from node.rpc.server import create_app
from node.solo import SoloValidator

app = typer.Typer(help="Run a node.", no_args_is_help=True)
# Scripts read whole lines: never wrap or truncate when the output is not a terminal.
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 240)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
log = logging.getLogger("aither.node")


@app.command()
def start(
    dev: bool = typer.Option(
        False, "--dev", help="Single-validator dev chain with funded accounts."
    ),
    data_dir: Path = typer.Option(Path(".aither/dev"), "--data-dir", help="Where the chain lives."),
    rpc_host: str = typer.Option("127.0.0.1", "--rpc-host", help="Interface for JSON-RPC."),
    rpc_port: int = typer.Option(8545, "--rpc-port", help="Port for JSON-RPC."),
    block_time: float = typer.Option(
        0.0, "--block-time", min=0.0, help="Seconds between blocks; 0 = when transactions wait."
    ),
    accounts: int = typer.Option(10, "--accounts", min=1, max=1000, help="Dev accounts to fund."),
    reset: bool = typer.Option(False, "--reset", help="Delete the chain in --data-dir first."),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
    json_output: bool = typer.Option(False, "--json", help="Print the start-up summary as JSON."),
) -> None:
    """Start a node and serve JSON-RPC until Ctrl-C."""
    _setup_logging(log_level)
    if not dev:
        err.print("error: only --dev networks exist in this version; run `aither node start --dev`")
        raise typer.Exit(2)
    if reset and (data_dir / "chain.ldb").exists():
        shutil.rmtree(data_dir / "chain.ldb")
    genesis = dev_genesis(accounts)
    try:
        ledger = Ledger(data_dir, genesis)
    except AitherError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from None
    try:
        listener = _listen(rpc_host, rpc_port)
    except OSError as exc:
        ledger.close()
        err.print(f"error: cannot serve JSON-RPC on {rpc_host}:{rpc_port}: {exc.strerror}")
        raise typer.Exit(1) from None
    validator = SoloValidator(dev_validator_key(), genesis.chain_id, ledger.validators())
    url = f"http://{rpc_host}:{listener.getsockname()[1]}"
    _print_banner(ledger, data_dir, url, accounts, json_output)
    try:
        uvloop.run(_serve(ledger, validator, listener, block_time, log_level))
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it has already handled by shutting down
    finally:
        ledger.close()
    log.info("stopped at block %d", ledger.height)


async def _serve(
    ledger: Ledger,
    validator: SoloValidator,
    listener: socket.socket,
    block_time: float,
    log_level: str,
) -> None:
    node = Node(ledger, validator, block_time=block_time)
    config = uvicorn.Config(
        create_app(node),
        loop="none",
        log_level="warning" if log_level.lower() != "debug" else "info",
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    node.start()
    host, port = listener.getsockname()[:2]
    log.info("serving JSON-RPC on http://%s:%d, chain at block %d", host, port, ledger.height)
    try:
        await server.serve(sockets=[listener])
    finally:
        await node.stop()


def _listen(host: str, port: int) -> socket.socket:
    """Bind the RPC socket before anything starts, so a taken port is one clear error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(2048)
    except OSError:
        listener.close()
        raise
    listener.set_inheritable(True)
    return listener


def _setup_logging(level: str) -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        err.print(f"error: unknown log level {level!r} (debug, info, warning, error)")
        raise typer.Exit(2)
    logging.basicConfig(
        level=numeric,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def _print_banner(ledger: Ledger, data_dir: Path, url: str, accounts: int, as_json: bool) -> None:
    keys = [dev_key(i) for i in range(accounts)]
    if as_json:
        print(
            json.dumps(
                {
                    "chainId": ledger.chain_id,
                    "rpcUrl": url,
                    "dataDir": str(data_dir),
                    "height": ledger.height,
                    "accounts": [
                        {
                            "address": to_checksum_address(k.address),
                            "privateKey": "0x" + k.seed.hex(),
                        }
                        for k in keys
                    ],
                }
            ),
            flush=True,
        )
        return
    console.print("[bold]Aither dev node[/bold]")
    console.print(f"  chain id   {ledger.chain_id}")
    console.print(f"  RPC URL    {url}")
    console.print(f"  data dir   {data_dir.resolve()}")
    console.print(f"  height     {ledger.height}")
    console.print(f"\n[bold]Dev accounts[/bold] ({format_amount(DEV_BALANCE)} AVM each at genesis)")
    for index, key in enumerate(keys):
        console.print(f"  ({index}) {to_checksum_address(key.address)}")
    console.print("\n[bold]Private keys[/bold]")
    for index, key in enumerate(keys):
        console.print(f"  ({index}) 0x{key.seed.hex()}")
    console.print(
        "[bold yellow]WARNING:[/bold yellow] these keys come from the public dev seed "
        f"[italic]{DEV_SEED!r}[/italic]. Anyone can spend what they hold: never use them "
        "outside this dev chain.",
        soft_wrap=True,
    )
