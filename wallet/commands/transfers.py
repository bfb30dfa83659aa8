"""`aither wallet send` and `aither wallet token create`: moving AVM and tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from core.amounts import NATIVE_SYMBOL, parse_amount
from core.crypto import to_checksum_address
from wallet.options import (
    Signer,
    finish,
    resolve,
    signed,
    submit,
    token_decimals,
)
from wallet.txbuilder import (
    build_token_create,
    build_transfer,
)

app = typer.Typer()
token_app = typer.Typer(help="Create tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@app.command("send")
@signed
def send(
    amount: Annotated[str, typer.Argument(help="Human amount, such as 1.5")],
    to: Annotated[
        str, typer.Option("--to", help="Recipient: address, registered name (x.avm) or key name.")
    ],
    token: Annotated[str, typer.Option("--token", help="Token symbol (default: AVM).")] = "",
    *,
    signer: Signer,
) -> None:
    """Send AVM or a token."""
    recipient = resolve(to, signer.keystore, signer.rpc)
    key = signer.key()
    symbol = "" if token == NATIVE_SYMBOL else token
    with signer.client() as client:
        units = parse_amount(amount, token_decimals(client, symbol))
        raw = build_transfer(client, key, recipient, units, symbol)
        result = submit(client, raw, signer.wait)
    result.update(to=to_checksum_address(recipient), amount=amount, token=symbol or NATIVE_SYMBOL)
    label = f"sent {amount} {symbol or NATIVE_SYMBOL} to {to_checksum_address(recipient)}"
    finish(signer.as_json, result, label)


@token_app.command("create")
@signed
def token_create(
    symbol: str,
    supply: Annotated[str, typer.Argument(help="Human amount of whole tokens, such as 1000000")],
    decimals: Annotated[int, typer.Option("--decimals", min=0, max=30)] = 18,
    name: Annotated[str, typer.Option("--name", help="Display name (default: the symbol).")] = "",
    *,
    signer: Signer,
) -> None:
    """Create a token; its whole supply goes to the creator."""
    key = signer.key()
    units = parse_amount(supply, decimals)
    with signer.client() as client:
        raw = build_token_create(client, key, symbol, name or symbol, units, decimals)
        result = submit(client, raw, signer.wait)
    result.update(symbol=symbol, supply=supply, decimals=decimals)
    finish(signer.as_json, result, f"created token {symbol}")
