"""`aither dev`: control a dev chain as anvil's cheat codes do: mine blocks, move time, take
and revert snapshots, set balances and nonces, dump and load the state.

Each command is one JSON-RPC call of node/rpc/dev_methods.py; a node of a network refuses them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from core.amounts import NATIVE_SYMBOL, format_amount, parse_amount
from core.crypto import to_checksum_address
from core.errors import AitherError
from wallet.options import KeystoreDir, Reader, console, reads, resolve

app = typer.Typer(help="Control a dev chain: blocks, time, snapshots and state.")

Target = Annotated[str, typer.Argument(metavar="ADDRESS_OR_NAME", help="0x-hex, name or key.")]


class DevCommandError(AitherError):
    """A dev command's argument a person must fix."""


@app.command("mine")
@reads
def mine(
    blocks: Annotated[int, typer.Argument(min=1, max=10_000, help="How many blocks.")] = 1,
    interval: Annotated[
        int, typer.Option("--interval", min=0, help="Seconds between their timestamps.")
    ] = 0,
    *,
    reader: Reader,
) -> None:
    """Make blocks now, with whatever waits in the mempool."""
    height = int(str(reader.call("aither_mine", blocks, interval)), 16)
    reader.emit(
        {"blocks": blocks, "height": height},
        lambda: console.print(f"mined {blocks} block{'s' * (blocks != 1)}; head at block {height}"),
    )


@app.command("time")
@reads
def move_time(
    change: Annotated[
        str,
        typer.Argument(
            metavar="+SECONDS|@TIMESTAMP", help="+3600: an hour later; @1767225600: that time."
        ),
    ],
    no_mine: Annotated[
        bool, typer.Option("--no-mine", help="Only set the clock; the next block uses it.")
    ] = False,
    *,
    reader: Reader,
) -> None:
    """Move the chain's clock, then make a block at the new time (so that scheduled tasks and
    governance deadlines due by then run)."""
    if change.startswith("+") and change[1:].isdigit():
        offset = reader.call("aither_increaseTime", int(change[1:]))
    elif change.startswith("@") and change[1:].isdigit():
        reader.call("aither_setNextBlockTimestamp", int(change[1:]))
        offset = None
    else:
        raise DevCommandError(f"{change!r}: give +SECONDS (e.g. +3600) or @UNIX_TIMESTAMP")
    height = None if no_mine else int(str(reader.call("aither_mine", 1, 0)), 16)
    block = None if height is None else reader.call_object("aither_getBlockByNumber", hex(height))
    stamp = None if block is None else int(str(block["timestamp"]), 16)

    def human() -> None:
        if stamp is None:
            console.print("clock moved; the next block will use it")
        else:
            console.print(f"clock moved; block {height} made at timestamp {stamp}")

    reader.emit({"offset": offset, "height": height, "timestamp": stamp}, human)


@app.command("snapshot")
@reads
def snapshot(*, reader: Reader) -> None:
    """Remember the chain as it is; prints an id for `aither dev revert`."""
    snapshot_id = int(str(reader.call("aither_snapshot")), 16)
    height = int(str(reader.call("aither_blockNumber")), 16)
    reader.emit(
        {"id": snapshot_id, "height": height},
        lambda: console.print(f"snapshot {snapshot_id} at block {height}"),
    )


@app.command("revert")
@reads
def revert(
    snapshot_id: Annotated[int, typer.Argument(metavar="ID", min=1, help="From `dev snapshot`.")],
    *,
    reader: Reader,
) -> None:
    """Roll the chain back to a snapshot (it and later ones are used up); empties the mempool."""
    if not reader.call("aither_revert", snapshot_id):
        raise DevCommandError(
            f"there is no snapshot {snapshot_id} (ids are used up by a revert, and forgotten "
            "when the node restarts)"
        )
    height = int(str(reader.call("aither_blockNumber")), 16)
    reader.emit(
        {"id": snapshot_id, "height": height},
        lambda: console.print(f"reverted to snapshot {snapshot_id}: head at block {height}"),
    )


@app.command("set-balance")
@reads
def set_balance(
    target: Target,
    amount: Annotated[str, typer.Argument(help=f"In {NATIVE_SYMBOL}, e.g. 1000 or 0.5.")],
    keystore: KeystoreDir = None,
    *,
    reader: Reader,
) -> None:
    """Set an account's AVM balance (a block is made to carry the change)."""
    try:
        units = parse_amount(amount)
    except ValueError as exc:
        raise DevCommandError(f"{amount!r}: {exc}") from None
    address = to_checksum_address(resolve(target, keystore, reader.rpc))
    reader.call("aither_setBalance", address, hex(units))
    human_amount = format_amount(units)
    reader.emit(
        {"address": address, "balance": human_amount, "units": str(units)},
        lambda: console.print(f"{address} now holds {human_amount} {NATIVE_SYMBOL}"),
    )


@app.command("set-nonce")
@reads
def set_nonce(
    target: Target,
    nonce: Annotated[int, typer.Argument(min=0)],
    keystore: KeystoreDir = None,
    *,
    reader: Reader,
) -> None:
    """Set an account's nonce (a block is made to carry the change)."""
    address = to_checksum_address(resolve(target, keystore, reader.rpc))
    reader.call("aither_setNonce", address, nonce)
    reader.emit(
        {"address": address, "nonce": nonce},
        lambda: console.print(f"{address} nonce is now {nonce}"),
    )


@app.command("dump")
@reads
def dump(
    file: Annotated[Path, typer.Argument(help="Where to write the state (JSON).")],
    *,
    reader: Reader,
) -> None:
    """Write the whole state at the head to a file."""
    state = reader.call_object("aither_dumpState")
    partial = file.with_name(file.name + ".partial")
    partial.write_text(json.dumps(state))
    partial.replace(file)  # a reader never sees half a dump
    entries = len(state["entries"])
    height = state["height"]
    reader.emit(
        {"file": str(file), "height": height, "entries": entries},
        lambda: console.print(f"wrote {entries} state entries at block {height} to {file}"),
    )


@app.command("load")
@reads
def load(
    file: Annotated[Path, typer.Argument(help="A dump written by `aither dev dump`.")],
    *,
    reader: Reader,
) -> None:
    """Replace the whole state with a dump of this chain (a block is made to carry it)."""
    try:
        state = json.loads(file.read_text())
    except OSError as exc:
        raise DevCommandError(f"cannot read {file}: {exc.strerror}") from None
    except ValueError as exc:
        raise DevCommandError(f"{file} is not JSON ({exc})") from None
    if not isinstance(state, dict):
        raise DevCommandError(f"{file} is not a state dump (from `aither dev dump`)")
    reader.call("aither_loadState", state)
    height = int(str(reader.call("aither_blockNumber")), 16)
    reader.emit(
        {"file": str(file), "height": height, "dumpedAt": state.get("height")},
        lambda: console.print(
            f"loaded {file} (the state at block {state.get('height')}); block {height} carries it"
        ),
    )


@app.command("automine")
@reads
def automine(
    state: Annotated[str, typer.Argument(metavar="on|off")],
    *,
    reader: Reader,
) -> None:
    """on: a block as soon as a transaction waits (the default); off: only `dev mine` (or the
    interval) makes blocks."""
    if state not in ("on", "off"):
        raise DevCommandError(f"{state!r}: say on or off")
    reader.call("aither_setAutomine", state == "on")
    reader.emit({"automine": state == "on"}, lambda: console.print(f"automine {state}"))


@app.command("interval")
@reads
def interval(
    seconds: Annotated[int, typer.Argument(min=0, help="0 turns it off.")],
    *,
    reader: Reader,
) -> None:
    """Also make a block every SECONDS, with or without transactions."""
    reader.call("aither_setIntervalMining", seconds)
    line = "interval mining off" if not seconds else f"a block every {seconds} s"
    reader.emit({"interval": seconds}, lambda: console.print(line))
