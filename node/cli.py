"""`aither`: the command line: node, wallet, genesis, testnet, avm, agent, council, gov."""

from __future__ import annotations

import typer

from avm.cli import app as avm_app
from avm.runtime.cli import app as agent_app
from genesis.cli import app as genesis_app
from node.cli_gov import app as gov_app
from node.cli_node import app as node_app
from node.cli_swarm import app as swarm_app
from node.cli_testnet import app as testnet_app
from node.council.cli import app as council_app
from wallet.cli import app as wallet_app

app = typer.Typer(
    name="aither",
    help="Aither: a node for the agent chain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(node_app, name="node")
app.add_typer(wallet_app, name="wallet")
app.add_typer(genesis_app, name="genesis")
app.add_typer(testnet_app, name="testnet")
app.add_typer(council_app, name="council", help="Review code-change proposals as a council member.")
app.add_typer(avm_app, name="avm", help="Assemble, disassemble and run AVM programs.")
app.add_typer(gov_app, name="gov", help="Proposals, votes and agents' lineage.")
app.add_typer(
    agent_app, name="agent", help="Run agents locally with model, embedding and tool plugins."
)
app.add_typer(swarm_app, name="swarm", help="Swarm channels and encrypted messages.")
