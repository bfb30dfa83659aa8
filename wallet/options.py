"""What every client command shares: its output, its errors, its options, who signs, and how a
transaction's outcome is shown.

A command that signs takes one `signer: Signer` parameter and is decorated with `@signed`: the
decorator gives it the options `--from`, `--dev-account`, `--keystore`, `--password-file`,
`--rpc`, `--wait/--no-wait` and `--json`, written once here.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
import re
import string
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from typer._click.core import Command, Context  # typer's own click (vendored)
from typer.core import TyperGroup

from core.amounts import NATIVE_DECIMALS, NATIVE_SYMBOL, format_amount
from core.crypto import SigningKey, parse_address, to_checksum_address
from core.errors import AitherError
from core.rpc import ADMIN_TOKEN_FILE, DEFAULT_RPC, DEFAULT_RPC_PORT, DEV_DATA_DIR
from ledger.names import is_name
from wallet.client import RpcClient, RpcClientError
from wallet.keystore import Keystore

if TYPE_CHECKING:
    from avm.values import Value

# Scripts read whole lines: never wrap or truncate when the output is not a terminal.
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 240)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

Rpc = Annotated[str, typer.Option("--rpc", envvar="AITHER_RPC", help="Node JSON-RPC URL.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
KeystoreDir = Annotated[
    Path | None,
    typer.Option("--keystore", envvar="AITHER_KEYSTORE", help="Keystore directory."),
]
PasswordFile = Annotated[
    Path | None,
    typer.Option("--password-file", help="Read the password from this file (first line)."),
]
DevAccount = Annotated[
    int | None,
    typer.Option("--dev-account", min=0, help="Sign with dev account N (public dev keys)."),
]
FromName = Annotated[str | None, typer.Option("--from", help="Keystore key that signs.")]
Wait = Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the receipt.")]
TokenFile = Annotated[
    Path | None,
    typer.Option(
        "--token-file",
        envvar="AITHER_ADMIN_TOKEN_FILE",
        help=f"The node's admin token file (DATA_DIR/{ADMIN_TOKEN_FILE}, printed at node start); "
        f"with the default --rpc, the dev node's .aither/dev/{ADMIN_TOKEN_FILE} when it exists.",
    ),
]

P = ParamSpec("P")
R = TypeVar("R")


def friendly_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the project's errors into one line on stderr and exit code 1."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (AitherError, ValueError) as exc:
            err.print(f"error: {exc}")
            raise typer.Exit(1) from None

    return run


def emit(as_json: bool, data: object, human: Callable[[], None]) -> None:
    """Print `data` as JSON for scripts, or call `human` to print it for people."""
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        human()


def read_password(password_file: Path | None, confirm: bool = False) -> str:
    """The keystore password: the file's first line, $AITHER_PASSWORD, or a prompt."""
    if password_file is not None:
        try:
            return password_file.read_text().splitlines()[0] if password_file.stat().st_size else ""
        except OSError as exc:
            raise ValueError(f"cannot read password file {password_file}: {exc.strerror}") from None
    if "AITHER_PASSWORD" in os.environ:
        return os.environ["AITHER_PASSWORD"]
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=confirm))


def resolve(target: str, keystore: Path | None, rpc: str = DEFAULT_RPC) -> bytes:
    """An address from 0x-hex, a registered identity name (x.avm: resolved on chain through the
    node at `rpc`, never looked up in the keystore) or a keystore key name."""
    if target.startswith(("0x", "0X")):
        return parse_address(target)
    if is_name(target):
        with RpcClient(rpc) as client:
            found = client.call("aither_resolveName", target)
        if not isinstance(found, str):
            raise ValueError(f"{target} is not a registered name on the chain at {rpc}")
        return parse_address(found)
    return parse_address(Keystore(keystore).info(target).address)


def dev_key(index: int) -> SigningKey:
    """Dev account `index` (the dev chain's public keys)."""
    from genesis.dev import dev_key as derive  # the dev genesis: only for --dev-account

    return derive(index)


def _one_signer(name: str | None, dev_account: int | None, name_option: str = "--from") -> None:
    if (name is None) == (dev_account is None):
        raise ValueError(f"say who signs: {name_option} NAME or --dev-account N")


def signing_key(
    name: str | None,
    dev_account: int | None,
    keystore: Path | None,
    password_file: Path | None,
    name_option: str = "--from",
) -> SigningKey:
    """The key that signs: dev account N, or a keystore key unlocked with its password."""
    _one_signer(name, dev_account, name_option)
    if dev_account is not None:
        return dev_key(dev_account)
    assert name is not None
    store = Keystore(keystore)
    store.info(name)  # a missing key is reported before a password is asked for
    return store.unlock(name, read_password(password_file))


def token_decimals(client: RpcClient, symbol: str) -> int:
    """The decimals of a token (the native AVM's unless `symbol` names another)."""
    if not symbol or symbol == NATIVE_SYMBOL:
        return NATIVE_DECIMALS
    tokens = client.call("aither_getTokens")
    assert isinstance(tokens, list)
    for token in tokens:
        if token["symbol"] == symbol:
            return int(token["decimals"])
    raise ValueError(f"unknown token {symbol} (aither_getTokens lists the tokens)")


def read_token(token_file: Path | None) -> str | None:
    """The admin token in `token_file` (None when no file is given)."""
    if token_file is None:
        return None
    try:
        token = token_file.read_text().strip()
    except OSError as exc:
        raise ValueError(f"cannot read admin token file {token_file}: {exc.strerror}") from None
    if not token:
        raise ValueError(f"admin token file {token_file} is empty")
    return token


# The dev node's default --data-dir (node/cli_node.py), relative to where `make run` started it.
_LOCAL_DEFAULT_RPCS = (DEFAULT_RPC, f"http://localhost:{DEFAULT_RPC_PORT}")


@dataclass(frozen=True, slots=True)
class AdminToken:
    """The node's admin token a command sends (for its `swarm_*` methods) and the file it came
    from: `--token-file`, or the dev node's own when the command talks to the default URL."""

    file: Path | None
    value: str | None

    @classmethod
    def find(cls, token_file: Path | None, rpc: str) -> AdminToken:
        """The token in `token_file` when one is given; else the dev node's
        (`.aither/dev/admin-token`, as `make run` writes it) when `rpc` is the default local URL
        and that file exists; else none. Raises ValueError for a file that cannot be read."""
        if token_file is None and rpc.rstrip("/") in _LOCAL_DEFAULT_RPCS:
            dev = Path(DEV_DATA_DIR) / ADMIN_TOKEN_FILE
            token_file = dev if dev.is_file() else None
        return cls(token_file, read_token(token_file))

    def refused(self, what: str) -> ValueError:
        """The error for a node that refused `what` (an admin method) with this token, or
        without one: what to do about it."""
        if self.file is None:
            return ValueError(
                f"{what} needs the node's admin token: pass --token-file "
                f"DATA_DIR/{ADMIN_TOKEN_FILE} (the node prints the path at start)"
            )
        return ValueError(
            f"the node refused the admin token in {self.file}: it writes a new one at each "
            "start (is it this node's data dir? pass --token-file DATA_DIR/"
            f"{ADMIN_TOKEN_FILE})"
        )


# ---- arguments of agent calls ----------------------------------------------------------------

_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_HEX_PREFIX = ("0x", "0X")
_IR_LITERAL_STARTS = ('"', 'x"', "[", "{")
_IR_WORDS = ("true", "false", "null")


def parse_argument(text: str) -> Value:
    """A command-line argument of an agent (`aither wallet call`, `--storage`, `aither agent
    run|tick --arg`) as an AVM value:

    - `42`, `-7`: an integer (plain decimal); `1.5`: the IR's fixed-point number;
    - `0x` and hex digits: bytes, as Ethereum tools read them (`0x` alone is empty bytes);
    - an IR literal: `"text"`, `x"4a87"`, `[1, 2]`, `{"k": 1}`, `true`, `false`, `null`
      (inside one the IR's own reading applies: there `0x10` is the integer 16);
    - anything else: the text itself.

    Raises ValueError naming the argument."""
    if text.startswith(_HEX_PREFIX):
        digits = text[2:]
        if len(digits) % 2 or any(c not in string.hexdigits for c in digits):
            raise ValueError(
                f"argument {text!r}: 0x starts bytes, an even number of hex digits (an integer "
                "is plain decimal; text is quoted)"
            )
        return bytes.fromhex(digits)
    if not (_NUMBER.match(text) or text.startswith(_IR_LITERAL_STARTS) or text in _IR_WORDS):
        return text
    from avm.assembler import parse_constant  # the assembler: only commands that call agents

    try:
        return parse_constant(text, "<argument>")
    except AitherError as exc:
        raise ValueError(f"argument {text!r}: {getattr(exc, 'reason', exc)}") from None


# ---- who signs -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signer:
    """Who signs a transaction, where it is sent, and how its outcome is shown: the options of
    every command that signs (`@signed`), one field an option."""

    from_name: str | None
    dev_account: int | None
    keystore: Path | None
    password_file: Path | None
    rpc: str
    wait: bool
    as_json: bool

    def key(self) -> SigningKey:
        return signing_key(self.from_name, self.dev_account, self.keystore, self.password_file)

    def address(self) -> str:
        """The signer's address without unlocking a key; the zero address when none is named
        (a dry run presents it as the caller)."""
        if self.dev_account is not None:
            return to_checksum_address(dev_key(self.dev_account).address)
        if self.from_name is not None:
            info = Keystore(self.keystore).info(self.from_name)
            return to_checksum_address(parse_address(info.address))
        return to_checksum_address(bytes(20))

    def signer_address(self) -> str:
        """The address of the key that will sign, without unlocking it (so that a command can
        refuse before it asks for a password). Raises ValueError, as `key`, unless exactly one
        of --from and --dev-account is given."""
        _one_signer(self.from_name, self.dev_account)
        return self.address()

    def client(self) -> RpcClient:
        return RpcClient(self.rpc)


def option(name: str, annotation: object, default: object) -> inspect.Parameter:
    """A command-line option of an option group: a keyword parameter with a Typer annotation."""
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


T = TypeVar("T")


def option_group(
    parameter: str, options: tuple[inspect.Parameter, ...], build: Callable[..., T]
) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """A decorator for commands that share a block of options: the command takes one
    `parameter`; its command line gets `options` in its place, and the command receives
    `build(**their values)`. The options are written once, where the group is defined."""

    def decorate(command: Callable[..., R]) -> Callable[..., R]:
        hints = typing.get_type_hints(command, include_extras=True)
        own = [
            p.replace(annotation=hints[p.name])
            for p in inspect.signature(command).parameters.values()
            if p.name != parameter
        ]

        @functools.wraps(command)
        def run(**kwargs: object) -> R:
            values = {option.name: kwargs.pop(option.name) for option in options}
            return command(**kwargs, **{parameter: build(**values)})

        parameters = [*own, *options]
        run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]  # read by typer
        run.__annotations__ = {p.name: p.annotation for p in parameters}
        return run

    return decorate


SIGNER_OPTIONS = (
    option("from_name", FromName, None),
    option("dev_account", DevAccount, None),
    option("keystore", KeystoreDir, None),
    option("password_file", PasswordFile, None),
    option("rpc", Rpc, DEFAULT_RPC),
    option("wait", Wait, True),
    option("as_json", AsJson, False),
)


def signed(command: Callable[..., R]) -> Callable[..., R]:
    """A command that signs: `command` takes `signer: Signer`; the command line gets the signer's
    options in its place. Errors print one line (as `friendly_errors`)."""
    return friendly_errors(option_group("signer", SIGNER_OPTIONS, Signer)(command))


@dataclass(frozen=True, slots=True)
class Reader:
    """Where a read-only command asks and how it answers: the options `--rpc` and `--json`
    (`@reads`)."""

    rpc: str
    as_json: bool

    def call(self, method: str, *params: object) -> object:
        with RpcClient(self.rpc) as client:
            return client.call(method, *params)

    def call_object(self, method: str, *params: object) -> dict[str, Any]:
        """A call whose answer is a JSON object."""
        found = self.call(method, *params)
        if not isinstance(found, dict):
            raise RpcClientError(f"{method} answered {type(found).__name__}, not an object")
        return found

    def call_list(self, method: str, *params: object) -> list[Any]:
        """A call whose answer is a JSON array."""
        found = self.call(method, *params)
        if not isinstance(found, list):
            raise RpcClientError(f"{method} answered {type(found).__name__}, not an array")
        return found

    def emit(self, data: object, human: Callable[[], None]) -> None:
        emit(self.as_json, data, human)


READER_OPTIONS = (option("rpc", Rpc, DEFAULT_RPC), option("as_json", AsJson, False))


def reads(command: Callable[..., R]) -> Callable[..., R]:
    """A read-only command: `command` takes `reader: Reader` in place of `--rpc` and `--json`.
    Errors print one line (as `friendly_errors`)."""
    return friendly_errors(option_group("reader", READER_OPTIONS, Reader)(command))


# ---- a transaction's outcome ---------------------------------------------------------------


def submit(client: RpcClient, raw: bytes, wait: bool) -> dict[str, object]:
    """Send a signed transaction; with `wait`, its outcome from the receipt."""
    tx_hash = str(client.call("aither_sendRawTransaction", "0x" + raw.hex()))
    if not wait:
        return {"hash": tx_hash, "status": "pending"}
    receipt = client.wait_for_receipt(tx_hash)
    return {
        "hash": tx_hash,
        "status": "ok" if receipt["status"] == "0x1" else "failed",
        "block": int(str(receipt["blockNumber"]), 16),
        "gasUsed": int(str(receipt["gasUsed"]), 16),
        "fee": format_amount(int(str(receipt["fee"]), 16)),
        "error": receipt.get("error"),
    }


def gas_text(ledger_gas: int) -> str:
    """Ledger gas named with its scale: one ledger gas is one AVM milligas (1 gas = 1000)."""
    return f"{ledger_gas} milligas"


def print_result(result: dict[str, object], what: str) -> None:
    if result["status"] == "pending":
        console.print(f"{what}: sent {result['hash']} (pending)")
        return
    line = f"{what}: {result['status']} in block {result['block']}, fee {result['fee']} AVM"
    console.print(line)
    console.print(f"  tx {result['hash']}")
    if result.get("error"):
        console.print(f"  error: {result['error']}")


def finish(
    as_json: bool, result: dict[str, object], what: str, details: Callable[[], None] | None = None
) -> None:
    """Print the outcome (then `details`, for people); a transaction that failed on chain exits
    1, as scripts expect."""

    def human() -> None:
        print_result(result, what)
        if details is not None:
            details()

    emit(as_json, result, human)
    if result["status"] == "failed":
        raise typer.Exit(1)


# ---- command groups whose commands are imported on use --------------------------------------


class LazyCommands(TyperGroup):
    """A group whose commands live in other modules (each holding a Typer `app` with them),
    imported when a command runs. Listing them (`--help`) imports them all."""

    modules: typing.ClassVar[dict[str, str]] = {}  # command name -> module

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.modules)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        module = self.modules.get(cmd_name)
        if module is None:
            return None
        group = typer.main.get_group(importlib.import_module(module).app)
        return group.get_command(ctx, cmd_name)


def lazy_commands(modules: dict[str, str]) -> type[LazyCommands]:
    """A LazyCommands class over `modules` (command name -> module), for `typer.Typer(cls=...)`."""
    return type("Commands", (LazyCommands,), {"modules": modules})
