"""`aither wallet balance|tx|history`: reads of the chain over JSON-RPC."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from core.amounts import NATIVE_SYMBOL, format_amount
from core.crypto import to_checksum_address
from wallet.client import RpcClient
from wallet.options import (
    KeystoreDir,
    Reader,
    console,
    gas_text,
    reads,
    resolve,
    token_decimals,
)

app = typer.Typer()


@app.command("balance")
@reads
def balance(
    target: Annotated[str, typer.Argument(metavar="ADDRESS_OR_NAME")],
    token: Annotated[str, typer.Option("--token", help="Token symbol (default: AVM).")] = "",
    keystore: KeystoreDir = None,
    *,
    reader: Reader,
) -> None:
    """Show an account's balance of AVM or a token (ADDRESS_OR_NAME: 0x-hex, a registered name
    such as masha-trader.avm, or a keystore key)."""
    who = resolve(target, keystore, reader.rpc)
    with RpcClient(reader.rpc) as client:
        decimals = token_decimals(client, token)
        units = int(str(client.call("aither_getBalance", to_checksum_address(who), token)), 16)
    symbol = token or NATIVE_SYMBOL
    human_amount = format_amount(units, decimals)
    data = {
        "address": to_checksum_address(who),
        "token": symbol,
        "balance": human_amount,
        "units": str(units),
    }
    reader.emit(data, lambda: console.print(f"{human_amount} {symbol}"))


@app.command("tx")
@reads
def show_tx(tx_hash: str, *, reader: Reader) -> None:
    """Show a transaction and its receipt."""
    with RpcClient(reader.rpc) as client:
        tx = client.call("aither_getTransaction", tx_hash)
        if not isinstance(tx, dict):
            raise ValueError(f"no transaction {tx_hash}")
        receipt = client.call("aither_getTransactionReceipt", tx_hash)
        amounts = AmountText(client)
        amount = None if tx.get("value") is None else amounts(tx["value"], tx.get("token"))
    data = {"transaction": tx, "receipt": receipt}

    def human() -> None:
        table = Table(show_header=False)
        for key in ("hash", "kind", "from", "to", "symbol"):
            if tx.get(key) is not None:
                table.add_row(key, str(tx[key]))
        if amount is not None:
            table.add_row("amount", amount)
        if tx.get("supply") is not None:
            supply = format_amount(int(tx["supply"], 16), int(tx["decimals"]))
            table.add_row("supply", f"{supply} {tx['symbol']}")
        table.add_row("nonce", str(int(tx["nonce"], 16)))
        if isinstance(receipt, dict):
            table.add_row("block", str(int(receipt["blockNumber"], 16)))
            table.add_row("status", "ok" if receipt["status"] == "0x1" else "failed")
            table.add_row("gas used", gas_text(int(receipt["gasUsed"], 16)))
            table.add_row("fee", f"{format_amount(int(receipt['fee'], 16))} AVM")
            if receipt.get("error"):
                table.add_row("error", receipt["error"])
        else:
            table.add_row("status", "pending")
        console.print(table)

    reader.emit(data, human)


class AmountText:
    """Amounts for people, with their unit: AVM, or a token's symbol at its decimals (read from
    the chain once per token)."""

    def __init__(self, client: RpcClient) -> None:
        self.client = client
        self.decimals: dict[str, int] = {}

    def __call__(self, value: str, token: str | None) -> str:
        symbol = token or NATIVE_SYMBOL
        if symbol not in self.decimals:
            self.decimals[symbol] = token_decimals(self.client, symbol)
        return f"{format_amount(int(value, 16), self.decimals[symbol])} {symbol}"


@app.command("history")
@reads
def history(
    target: Annotated[str, typer.Argument(metavar="ADDRESS_OR_NAME")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
    keystore: KeystoreDir = None,
    *,
    reader: Reader,
) -> None:
    """List the transactions that touched an account, newest first."""
    who = to_checksum_address(resolve(target, keystore, reader.rpc))
    entries = reader.call_list("aither_getHistory", who, limit)
    shown: list[str] = []  # each entry's amount for people (JSON keeps base units)
    if not reader.as_json:
        with RpcClient(reader.rpc) as client:
            amounts = AmountText(client)
            shown = [
                "" if e.get("value") is None else amounts(e["value"], e.get("token"))
                for e in entries
            ]

    def human() -> None:
        if not entries:
            console.print(f"no transactions for {who}")
            return
        table = Table("block", "hash", "kind", "from", "to", "amount", "status")
        for e, amount in zip(entries, shown, strict=True):
            table.add_row(
                str(int(e["blockNumber"], 16)),
                e["hash"][:18],  # a prefix `wallet tx` takes back
                e["kind"],
                e["from"],
                e.get("to") or "",
                amount,
                "ok" if e["status"] == "0x1" else "failed",
            )
        console.print(table)

    reader.emit(entries, human)
