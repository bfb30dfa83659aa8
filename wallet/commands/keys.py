"""`aither wallet new|import|list|address`: keys in the encrypted keystore."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from wallet.keystore import Keystore, parse_private_key
from wallet.options import (
    AsJson,
    KeystoreDir,
    PasswordFile,
    console,
    emit,
    friendly_errors,
    read_password,
)

app = typer.Typer()


@app.command("new")
@friendly_errors
def new(
    name: str,
    password_file: PasswordFile = None,
    keystore: KeystoreDir = None,
    as_json: AsJson = False,
) -> None:
    """Create a key, encrypted with a password."""
    info = Keystore(keystore).create(name, read_password(password_file, confirm=True))
    data = {"name": info.name, "address": info.address, "path": str(info.path)}
    emit(as_json, data, lambda: console.print(f"created key {info.name}: {info.address}"))


@app.command("import")
@friendly_errors
def import_key(
    name: str,
    private_key_file: Annotated[
        Path, typer.Option("--private-key-file", help="File holding the 0x-hex private key.")
    ],
    password_file: PasswordFile = None,
    keystore: KeystoreDir = None,
    as_json: AsJson = False,
) -> None:
    """Import a private key from a file into the keystore."""
    try:
        text = private_key_file.read_text()
    except OSError as exc:
        raise ValueError(f"cannot read {private_key_file}: {exc.strerror}") from None
    seed = parse_private_key(text)
    info = Keystore(keystore).import_key(name, seed, read_password(password_file, confirm=True))
    data = {"name": info.name, "address": info.address, "path": str(info.path)}
    emit(as_json, data, lambda: console.print(f"imported key {info.name}: {info.address}"))


@app.command("list")
@friendly_errors
def list_keys(keystore: KeystoreDir = None, as_json: AsJson = False) -> None:
    """List the keys in the keystore (no password needed)."""
    store = Keystore(keystore)
    keys = store.list()
    data = [{"name": k.name, "address": k.address, "created": k.created} for k in keys]

    def human() -> None:
        if not keys:
            console.print(f"no keys in {store.directory} (create one with `aither wallet new`)")
            return
        table = Table("name", "address", "created")
        for k in keys:
            table.add_row(k.name, k.address, k.created)
        console.print(table)

    emit(as_json, data, human)


@app.command("address")
@friendly_errors
def address(name: str, keystore: KeystoreDir = None, as_json: AsJson = False) -> None:
    """Print the address of a key."""
    info = Keystore(keystore).info(name)
    emit(as_json, {"name": name, "address": info.address}, lambda: print(info.address))
