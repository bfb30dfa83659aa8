"""`aither genesis new`: generate a testnet's genesis, keys and node configs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.crypto import to_checksum_address
from core.errors import AitherError
from genesis.testnet import (
    TESTNET_CHAIN_ID,
    TESTNET_P2P_BASE_PORT,
    TESTNET_RPC_BASE_PORT,
    new_testnet,
)

app = typer.Typer(help="Generate genesis files.", no_args_is_help=True)
# Scripts read whole lines: never wrap or truncate when the output is not a terminal.
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 240)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


@app.command("new")
def new(
    validators: Annotated[int, typer.Option("--validators", min=1, max=64)] = 4,
    out: Annotated[Path, typer.Option("--out", help="Directory to write the testnet into.")] = Path(
        ".aither/testnet"
    ),
    chain_id: Annotated[int, typer.Option("--chain-id", min=1)] = TESTNET_CHAIN_ID,
    accounts: Annotated[int, typer.Option("--accounts", min=0, max=1000)] = 10,
    base_port: Annotated[
        int, typer.Option("--base-port", help="First libp2p port.")
    ] = TESTNET_P2P_BASE_PORT,
    rpc_base_port: Annotated[
        int, typer.Option("--rpc-base-port", help="First RPC port.")
    ] = TESTNET_RPC_BASE_PORT,
    docker: Annotated[
        bool, typer.Option("--docker", help="Peers by container name (node0..), all interfaces.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Write validator keys, node keys, genesis.json and a config.toml per node."""
    try:
        genesis, nodes = new_testnet(
            out,
            validators,
            chain_id=chain_id,
            accounts=accounts,
            base_port=base_port,
            rpc_base_port=rpc_base_port,
            docker=docker,
        )
    except (AitherError, OSError) as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from None
    rows = [
        {
            "name": node.name,
            "config": str(node.config),
            "peerId": node.peer_id,
            "p2p": node.multiaddr,
            "rpc": f"http://{node.hostname or '127.0.0.1'}:{node.rpc_port}",
            "validator": to_checksum_address(node.validator_address),
        }
        for node in nodes
    ]
    if as_json:
        print(
            json.dumps(
                {"chainId": genesis.chain_id, "genesis": str(out / "genesis.json"), "nodes": rows}
            )
        )
        return
    console.print(f"testnet of {validators} validators, chain id {genesis.chain_id}, in {out}")
    table = Table("node", "validator", "peer id", "p2p port", "RPC")
    for node, row in zip(nodes, rows, strict=True):
        table.add_row(node.name, row["validator"], node.peer_id, str(node.p2p_port), row["rpc"])
    console.print(table)
    console.print(f"start a node with: aither node start --config {nodes[0].config}")
