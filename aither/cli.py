"""`aither`: the command line: node, wallet, genesis, testnet, avm, agent, council, gov, swarm,
dev, model, evolve.

Each command group is imported only when it is used: the agent runtime pulls in web3, openai and
their dependencies (py_ecc raises the process's recursion limit to 100,000 on import, which lets
deeply nested input overflow the C stack), and a node or a wallet command needs none of them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Annotated

import typer
from typer._click.core import Command, Context  # typer's own click (vendored)
from typer._click.formatting import HelpFormatter
from typer.core import TyperGroup


@dataclass(frozen=True, slots=True)
class Group:
    module: str  # holds a Typer `app`
    help: str  # its line in `aither --help`
    single: bool = False  # the app is one command (`aither evolve AGENT`), not a group


GROUPS = {
    "node": Group("node.cli_node", "Run a node."),
    "wallet": Group("wallet.cli", "Keys, balances and transfers."),
    "genesis": Group("genesis.cli", "Generate genesis files."),
    "testnet": Group("node.cli_testnet", "Run a local multi-validator testnet."),
    "council": Group("council.cli", "Review code-change proposals as a council member."),
    "avm": Group("avm.cli", "Assemble, disassemble and run AVM programs."),
    "gov": Group("wallet.commands.gov", "Proposals, votes and agents' lineage."),
    "agent": Group("agent.cli", "Run agents locally with model, embedding and tool plugins."),
    "swarm": Group("wallet.commands.swarm", "Swarm channels and encrypted messages."),
    "dev": Group("wallet.commands.dev", "Control a dev chain: blocks, time, snapshots, state."),
    "model": Group("model.cli", "Serve the embedded model (OpenAI-compatible, on 127.0.0.1)."),
    "evolve": Group("agent.evolve_cli", "Evolve an agent's region under the council.", True),
}


class LazyGroups(TyperGroup):
    """The top-level group: its subcommands are imported by name, on first use. Listing them
    (`aither --help`) imports none."""

    listing = False

    def list_commands(self, ctx: Context) -> list[str]:
        return list(GROUPS)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        group = GROUPS.get(cmd_name)
        if group is None:
            return None
        if self.listing:
            return TyperGroup(name=cmd_name, help=group.help)  # a name and a line, nothing to run
        module = importlib.import_module(group.module)
        command = (typer.main.get_command if group.single else typer.main.get_group)(module.app)
        command.name = cmd_name
        command.help = group.help
        return command

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False


app = typer.Typer(
    name="aither",
    help="Aither: a node for the agent chain.",
    cls=LazyGroups,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(shown: bool) -> None:
    if shown:
        from importlib.metadata import version  # ~10 ms: only for --version

        print(f"aither {version('aither')}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Aither: a node for the agent chain."""
