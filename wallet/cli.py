"""`aither wallet`: keys, balances, transfers, tokens, agents and proposals, over JSON-RPC.

Every command takes `--rpc URL` and `--json`; errors print one line and exit non-zero. A command
imports only its own module (`wallet/commands/`), so `aither wallet balance` never loads the
assembler or the governance types.
"""

from __future__ import annotations

import typer

from wallet.options import lazy_commands

COMMANDS = {
    "new": "wallet.commands.keys",
    "import": "wallet.commands.keys",
    "list": "wallet.commands.keys",
    "address": "wallet.commands.keys",
    "balance": "wallet.commands.reads",
    "tx": "wallet.commands.reads",
    "history": "wallet.commands.reads",
    "send": "wallet.commands.transfers",
    "token": "wallet.commands.transfers",
    "deploy": "wallet.commands.agents",
    "call": "wallet.commands.agents",
    "name": "wallet.commands.agents",
    "propose": "wallet.commands.proposals",
    "propose-params": "wallet.commands.proposals",
    "propose-chain": "wallet.commands.proposals",
    "propose-gas": "wallet.commands.proposals",
    "propose-validators": "wallet.commands.proposals",
    "propose-avm": "wallet.commands.proposals",
    "propose-council": "wallet.commands.proposals",
    "propose-policy": "wallet.commands.proposals",
    "vote": "wallet.commands.proposals",
    "cancel": "wallet.commands.proposals",
    "role": "wallet.commands.roles",
}

app = typer.Typer(
    help="Keys, balances and transfers.", cls=lazy_commands(COMMANDS), no_args_is_help=True
)
