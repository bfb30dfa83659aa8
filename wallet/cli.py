"""`aither wallet`: keys, balances, transfers, tokens, agents and history, over JSON-RPC.

Every command takes `--rpc URL` and `--json`. Errors print one line and exit non-zero.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from avm.assembler import assemble, assemble_fragment, parse_constant
from avm.code import CodeObject
from avm.host import check_deployable
from avm.instructions.storage import kv_key
from avm.values import Value, check_key, encode_value
from core.amounts import NATIVE_DECIMALS, NATIVE_SYMBOL, format_amount, parse_amount
from core.crypto import SigningKey, parse_address, to_checksum_address
from core.errors import AitherError
from core.rpc import DEFAULT_RPC
from genesis.dev import dev_key
from ledger.governance_types import (
    Choice,
    CodeChangeSpec,
    CouncilChangeSpec,
    GovernanceParams,
    NewMember,
    ParamsChangeSpec,
    RevertSpec,
    Role,
)
from ledger.identity import is_name
from wallet.client import RpcClient, RpcClientError
from wallet.keystore import Keystore, parse_private_key
from wallet.txbuilder import (
    build_call,
    build_cancel,
    build_deploy,
    build_propose,
    build_token_create,
    build_transfer,
    build_vote,
    call_spec,
)

app = typer.Typer(help="Keys, balances and transfers.", no_args_is_help=True)
token_app = typer.Typer(help="Create tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")

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


def _emit(as_json: bool, data: object, human: Callable[[], None]) -> None:
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        human()


def _read_password(password_file: Path | None, confirm: bool = False) -> str:
    if password_file is not None:
        try:
            return password_file.read_text().splitlines()[0] if password_file.stat().st_size else ""
        except OSError as exc:
            raise ValueError(f"cannot read password file {password_file}: {exc.strerror}") from None
    if "AITHER_PASSWORD" in os.environ:
        return os.environ["AITHER_PASSWORD"]
    return typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)


def _resolve(target: str, keystore: Path | None, rpc: str = DEFAULT_RPC) -> bytes:
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


def signing_key(
    name: str | None, dev_account: int | None, keystore: Path | None, password_file: Path | None
) -> SigningKey:
    """The key that signs: dev account N, or a keystore key unlocked with its password."""
    if (name is None) == (dev_account is None):
        raise ValueError("say who signs: --from NAME or --dev-account N")
    if dev_account is not None:
        return dev_key(dev_account)
    assert name is not None
    store = Keystore(keystore)
    store.info(name)  # a missing key is reported before a password is asked for
    return store.unlock(name, _read_password(password_file))


def _token_decimals(client: RpcClient, symbol: str) -> int:
    if not symbol or symbol == NATIVE_SYMBOL:
        return NATIVE_DECIMALS
    for token in client.call("aither_getTokens"):  # type: ignore[union-attr]
        if token["symbol"] == symbol:
            return int(token["decimals"])
    raise ValueError(f"unknown token {symbol} (aither_getTokens lists the tokens)")


# Keys


@app.command("new")
@friendly_errors
def new(
    name: str,
    password_file: PasswordFile = None,
    keystore: KeystoreDir = None,
    as_json: AsJson = False,
) -> None:
    """Create a key, encrypted with a password."""
    info = Keystore(keystore).create(name, _read_password(password_file, confirm=True))
    data = {"name": info.name, "address": info.address, "path": str(info.path)}
    _emit(as_json, data, lambda: console.print(f"created key {info.name}: {info.address}"))


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
    info = Keystore(keystore).import_key(name, seed, _read_password(password_file, confirm=True))
    data = {"name": info.name, "address": info.address, "path": str(info.path)}
    _emit(as_json, data, lambda: console.print(f"imported key {info.name}: {info.address}"))


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

    _emit(as_json, data, human)


@app.command("address")
@friendly_errors
def address(name: str, keystore: KeystoreDir = None, as_json: AsJson = False) -> None:
    """Print the address of a key."""
    info = Keystore(keystore).info(name)
    _emit(as_json, {"name": name, "address": info.address}, lambda: print(info.address))


# Chain reads


@app.command("balance")
@friendly_errors
def balance(
    target: Annotated[str, typer.Argument(metavar="ADDRESS_OR_NAME")],
    token: Annotated[str, typer.Option("--token", help="Token symbol (default: AVM).")] = "",
    rpc: Rpc = DEFAULT_RPC,
    keystore: KeystoreDir = None,
    as_json: AsJson = False,
) -> None:
    """Show an account's balance of AVM or a token (ADDRESS_OR_NAME: 0x-hex, a registered name
    such as masha-trader.avm, or a keystore key)."""
    who = _resolve(target, keystore, rpc)
    with RpcClient(rpc) as client:
        decimals = _token_decimals(client, token)
        units = int(str(client.call("aither_getBalance", to_checksum_address(who), token)), 16)
    symbol = token or NATIVE_SYMBOL
    human_amount = format_amount(units, decimals)
    data = {
        "address": to_checksum_address(who),
        "token": symbol,
        "balance": human_amount,
        "units": str(units),
    }
    _emit(as_json, data, lambda: console.print(f"{human_amount} {symbol}"))


@app.command("tx")
@friendly_errors
def show_tx(tx_hash: str, rpc: Rpc = DEFAULT_RPC, as_json: AsJson = False) -> None:
    """Show a transaction and its receipt."""
    with RpcClient(rpc) as client:
        tx = client.call("aither_getTransaction", tx_hash)
        receipt = client.call("aither_getTransactionReceipt", tx_hash)
    assert isinstance(tx, dict)
    data = {"transaction": tx, "receipt": receipt}

    def human() -> None:
        table = Table(show_header=False)
        for key in ("hash", "kind", "from", "to", "symbol"):
            if tx.get(key) is not None:
                table.add_row(key, str(tx[key]))
        if tx.get("value") is not None:
            table.add_row("amount", _amount_text(tx["value"], tx.get("token")))
        table.add_row("nonce", str(int(tx["nonce"], 16)))
        if isinstance(receipt, dict):
            table.add_row("block", str(int(receipt["blockNumber"], 16)))
            table.add_row("status", "ok" if receipt["status"] == "0x1" else "failed")
            table.add_row("gas used", str(int(receipt["gasUsed"], 16)))
            table.add_row("fee", f"{format_amount(int(receipt['fee'], 16))} AVM")
            if receipt.get("error"):
                table.add_row("error", receipt["error"])
        else:
            table.add_row("status", "pending")
        console.print(table)

    _emit(as_json, data, human)


def _amount_text(value: str, token: str | None) -> str:
    """Native amounts in AVM; token amounts in base units (their decimals live on chain)."""
    if token:
        return f"{int(value, 16)} units of {token}"
    return f"{format_amount(int(value, 16))} {NATIVE_SYMBOL}"


@app.command("history")
@friendly_errors
def history(
    target: Annotated[str, typer.Argument(metavar="ADDRESS_OR_NAME")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
    rpc: Rpc = DEFAULT_RPC,
    keystore: KeystoreDir = None,
    as_json: AsJson = False,
) -> None:
    """List the transactions that touched an account, newest first."""
    who = to_checksum_address(_resolve(target, keystore, rpc))
    with RpcClient(rpc) as client:
        entries = client.call("aither_getHistory", who, limit)
    assert isinstance(entries, list)

    def human() -> None:
        if not entries:
            console.print(f"no transactions for {who}")
            return
        table = Table("block", "hash", "kind", "from", "to", "amount", "status")
        for e in entries:
            amount = "" if e.get("value") is None else _amount_text(e["value"], e.get("token"))
            table.add_row(
                str(int(e["blockNumber"], 16)),
                e["hash"][:18] + "…",
                e["kind"],
                e["from"],
                e.get("to") or "",
                amount,
                "ok" if e["status"] == "0x1" else "failed",
            )
        console.print(table)

    _emit(as_json, entries, human)


# Transactions


def _submit(client: RpcClient, raw: bytes, wait: bool) -> dict[str, object]:
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


def _finish(as_json: bool, result: dict[str, object], what: str) -> None:
    """Print the outcome; a transaction that failed on chain exits 1, as scripts expect."""
    _emit(as_json, result, lambda: _print_result(result, what))
    if result["status"] == "failed":
        raise typer.Exit(1)


def _print_result(result: dict[str, object], what: str) -> None:
    if result["status"] == "pending":
        console.print(f"{what}: sent {result['hash']} (pending)")
        return
    line = f"{what}: {result['status']} in block {result['block']}, fee {result['fee']} AVM"
    console.print(line)
    console.print(f"  tx {result['hash']}")
    if result.get("error"):
        console.print(f"  error: {result['error']}")


@app.command("send")
@friendly_errors
def send(
    amount: Annotated[str, typer.Argument(help="Human amount, such as 1.5")],
    to: Annotated[
        str, typer.Option("--to", help="Recipient: address, registered name (x.avm) or key name.")
    ],
    sender: FromName = None,
    dev_account: DevAccount = None,
    token: Annotated[str, typer.Option("--token", help="Token symbol (default: AVM).")] = "",
    wait: Wait = True,
    rpc: Rpc = DEFAULT_RPC,
    keystore: KeystoreDir = None,
    password_file: PasswordFile = None,
    as_json: AsJson = False,
) -> None:
    """Send AVM or a token."""
    recipient = _resolve(to, keystore, rpc)
    key = signing_key(sender, dev_account, keystore, password_file)
    symbol = "" if token == NATIVE_SYMBOL else token
    with RpcClient(rpc) as client:
        units = parse_amount(amount, _token_decimals(client, symbol))
        raw = build_transfer(client, key, recipient, units, symbol)
        result = _submit(client, raw, wait)
    result.update(to=to_checksum_address(recipient), amount=amount, token=symbol or NATIVE_SYMBOL)
    label = f"sent {amount} {symbol or NATIVE_SYMBOL} to {to_checksum_address(recipient)}"
    _finish(as_json, result, label)


@token_app.command("create")
@friendly_errors
def token_create(
    symbol: str,
    supply: Annotated[str, typer.Argument(help="Human amount of whole tokens, such as 1000000")],
    decimals: Annotated[int, typer.Option("--decimals", min=0, max=30)] = 18,
    name: Annotated[str, typer.Option("--name", help="Display name (default: the symbol).")] = "",
    sender: FromName = None,
    dev_account: DevAccount = None,
    wait: Wait = True,
    rpc: Rpc = DEFAULT_RPC,
    keystore: KeystoreDir = None,
    password_file: PasswordFile = None,
    as_json: AsJson = False,
) -> None:
    """Create a token; its whole supply goes to the creator."""
    key = signing_key(sender, dev_account, keystore, password_file)
    units = parse_amount(supply, decimals)
    with RpcClient(rpc) as client:
        raw = build_token_create(client, key, symbol, name or symbol, units, decimals)
        result = _submit(client, raw, wait)
    result.update(symbol=symbol, supply=supply, decimals=decimals)
    _finish(as_json, result, f"created token {symbol}")


# Agents

CODE_MAGIC = b"\x98"  # a code object's encoding starts with an 8-element msgpack array
_INT = re.compile(r"^-?\d+$")
_HEX = re.compile(r"^0x([0-9a-fA-F]{2})*$")
SendValue = Annotated[str, typer.Option("--value", help="AVM to send to the agent, such as 1.5")]
GasLimit = Annotated[
    int | None, typer.Option("--gas", min=0, help="Gas limit (default: estimated by the node).")
]


def parse_value(text: str) -> Value:
    """A command-line value: an integer, 0x-hex bytes, an IR literal ("text", [1, 2], {..},
    true, null) or else the text itself."""
    if _INT.match(text):
        return int(text)
    if _HEX.match(text):
        return bytes.fromhex(text[2:])
    if text[:1] in ('"', "[", "{") or text in ("true", "false", "null"):
        return parse_constant(text, "<argument>")
    return text


def _load_code(path: Path) -> CodeObject:
    """Assemble IR text (or read a code object) and check it can be deployed, naming lines."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    if data[:1] == CODE_MAGIC:
        code = CodeObject.from_bytes(data)
        check_deployable(code)
        return code
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: neither IR text (UTF-8) nor a code object") from None
    asm = assemble(text, str(path))
    for warning in asm.warnings:
        err.print(str(warning))
    check_deployable(asm.code, asm.lines())
    return asm.code


def _storage(entries: list[str]) -> tuple[tuple[bytes, bytes], ...]:
    pairs = {}
    for entry in entries:
        key, sep, value = entry.partition("=")
        if not sep or not key:
            raise ValueError(f"--storage {entry!r}: write KEY=VALUE")
        pairs[kv_key(check_key(parse_value(key)))] = encode_value(parse_value(value))
    return tuple(sorted(pairs.items()))


def _agent_receipt(client: RpcClient, result: dict[str, object]) -> dict[str, object]:
    """Add the receipt's agent fields (return value, deployed address) to a submit result."""
    if result["status"] == "pending":
        return result
    receipt = client.call("aither_getTransactionReceipt", result["hash"])
    assert isinstance(receipt, dict)
    result.update(value=receipt.get("returnValue"), agent=receipt.get("contractAddress"))
    return result


def _caller_address(name: str | None, dev_account: int | None, keystore: Path | None) -> str:
    """The caller a dry run presents (no key is unlocked): the zero address unless given."""
    if dev_account is not None:
        return to_checksum_address(dev_key(dev_account).address)
    if name is not None:
        return to_checksum_address(parse_address(Keystore(keystore).info(name).address))
    return to_checksum_address(bytes(20))


def _dry_run(
    spec: dict[str, object],
    gas: int | None,
    trace: bool,
    sender: str | None,
    dev_account: int | None,
    rpc: str,
    keystore: Path | None,
    as_json: bool,
) -> None:
    spec.update(trace=trace, **{"from": _caller_address(sender, dev_account, keystore)})
    if gas is not None:
        spec["gas"] = gas
    with RpcClient(rpc) as client:
        result = client.call("aither_call", spec)
    assert isinstance(result, dict)

    def human() -> None:
        for entry in result.get("trace") or []:
            line = f"{entry['pc']:5d}  {entry['opcode']:<22} gas {entry['gas']:>7}"
            line += f"  in {json.dumps(entry['inputs'])}"
            if entry["outputs"]:
                line += f"  out {json.dumps(entry['outputs'])}"
            if entry.get("trap"):
                line += f"  TRAP {entry['trap']}"
            console.print(line, markup=False)
        for log in result["logs"]:
            console.print(f"log: {json.dumps(log)}", markup=False)
        gas_used = int(str(result["gasUsed"]), 16)
        if result["ok"]:
            returned = json.dumps(result["value"])
            console.print(f"ok (dry run); returned {returned}; gas {gas_used}", markup=False)
        else:
            console.print(f"trap (dry run): {result['trap']}; gas {gas_used}", markup=False)

    _emit(as_json, result, human)
    if not result["ok"]:
        raise typer.Exit(1)


@app.command("deploy")
@friendly_errors
def deploy(
    file: Annotated[Path, typer.Argument(metavar="FILE.air", help="IR source or a code object")],
    storage: Annotated[
        list[str] | None,
        typer.Option("--storage", help="Initial KV entry KEY=VALUE (repeatable)."),
    ] = None,
    value: SendValue = "0",
    gas: GasLimit = None,
    sender: FromName = None,
    dev_account: DevAccount = None,
    wait: Wait = True,
    rpc: Rpc = DEFAULT_RPC,
    keystore: KeystoreDir = None,
    password_file: PasswordFile = None,
    as_json: AsJson = False,
) -> None:
    """Assemble an agent and deploy it; prints the agent's address."""
    code = _load_code(file)
    entries = _storage(storage or [])
    units = parse_amount(value)
    key = signing_key(sender, dev_account, keystore, password_file)
    with RpcClient(rpc) as client:
        raw = build_deploy(client, key, code.to_bytes(), entries, units, gas)
        result = _agent_receipt(client, _submit(client, raw, wait))
    result.update(codeId="0x" + code.code_id.hex(), file=str(file))

    def human() -> None:
        _print_result(result, f"deployed {file.name}")
        if result.get("agent"):
            console.print(f"  agent {result['agent']}")
        console.print(f"  code id {result['codeId']}")
        if result.get("gasUsed") is not None:
            console.print(f"  gas used {result['gasUsed']}")

    _emit(as_json, result, human)
    if result["status"] == "failed":
        raise typer.Exit(1)


@app.command("call")
@friendly_errors
def call(
    agent: Annotated[
        str, typer.Argument(metavar="AGENT", help="Agent address, registered name or key name.")
    ],
    label: Annotated[str, typer.Argument(help="Entry label.")],
    args: Annotated[
        list[str] | None,
        typer.Argument(help="Arguments: integers, 0x-hex bytes, IR literals or text."),
    ] = None,
    value: SendValue = "0",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Run on the node's head state; send nothing.")
    ] = False,
    trace: Annotated[bool, typer.Option("--trace", help="With --dry-run: print the trace.")] = (
        False
    ),
    gas: GasLimit = None,
    sender: FromName = None,
    dev_account: DevAccount = None,
    wait: Wait = True,
    rpc: Rpc = DEFAULT_RPC,
    keystore: KeystoreDir = None,
    password_file: PasswordFile = None,
    as_json: AsJson = False,
) -> None:
    """Call an agent's entry label; prints the return value, gas and any trap."""
    target = _resolve(agent, keystore, rpc)
    values = tuple(parse_value(a) for a in args or [])
    units = parse_amount(value)
    if dry_run:
        spec = call_spec(target, label, values, units)
        _dry_run(spec, gas, trace, sender, dev_account, rpc, keystore, as_json)
        return
    key = signing_key(sender, dev_account, keystore, password_file)
    with RpcClient(rpc) as client:
        raw = build_call(client, key, target, label, values, units, gas)
        result = _agent_receipt(client, _submit(client, raw, wait))
    result.update(agent=to_checksum_address(target), entry=label)

    def human() -> None:
        _print_result(result, f"called {label}")
        if result["status"] == "ok":
            console.print(f"  returned {json.dumps(result.get('value'))}", markup=False)
        if result.get("gasUsed") is not None:
            console.print(f"  gas used {result['gasUsed']}")

    _emit(as_json, result, human)
    if result["status"] == "failed":
        raise typer.Exit(1)


# Governance


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ValueError(f"cannot read {what} {path}: {reason}") from None


def _proposal_id(text: str, what: str = "a proposal id") -> bytes:
    raw = text.removeprefix("0x").removeprefix("0X")
    try:
        pid = bytes.fromhex(raw)
    except ValueError:
        pid = b""
    if len(pid) != 32:
        raise ValueError(f"{text!r} is not {what} (0x and 64 hex digits)")
    return pid


def _min_deposit(client: RpcClient) -> int:
    council = client.call("aither_getCouncil")
    assert isinstance(council, dict)
    return int(str(council["params"]["min_deposit"]))  # type: ignore[index]


NOT_FOUND = -32001


def _check_region(client: RpcClient, agent: bytes, region: str) -> None:
    """Refuse, before a fee is spent, a target the chain would refuse: no agent, no such region,
    a region that is not `council`. The chain checks again when it executes the proposal."""
    where = to_checksum_address(agent)
    try:
        info = client.call("aither_getAgent", where)
    except RpcClientError as exc:
        if exc.code == NOT_FOUND:
            raise ValueError(f"no agent at {where}") from None
        raise
    assert isinstance(info, dict)
    regions = {r["name"]: r["policy"] for r in info["regions"]}
    if region not in regions:
        names = ", ".join(regions) or "none"
        raise ValueError(f"the agent has no region {region} (its regions: {names})")
    if regions[region] == "locked":
        raise ValueError(f"region {region} is locked: no proposal may rewrite it")
    if regions[region] != "council":
        raise ValueError(f"region {region} is a `{regions[region]}` region: the agent rewrites it")


def _check_voting(client: RpcClient, pid: bytes) -> None:
    """Refuse, before a fee is spent, a vote on an unknown proposal or one not in voting."""
    try:
        found = client.call("aither_getProposal", "0x" + pid.hex())
    except RpcClientError as exc:
        if exc.code == NOT_FOUND:
            raise ValueError(f"no proposal 0x{pid.hex()}") from None
        raise
    assert isinstance(found, dict)
    if found["status"] != "voting":
        raise ValueError(f"the proposal is {found['status']}, not in its voting period")


def _submitted_id(client: RpcClient, result: dict[str, object]) -> str | None:
    if result["status"] != "ok":
        return None
    receipt = client.call("aither_getTransactionReceipt", result["hash"])
    assert isinstance(receipt, dict)
    for entry in receipt["logs"]:
        if entry["event"] == "ProposalSubmitted":
            return str(entry["args"][0])
    return None


def _deposit_units(client: RpcClient, deposit: str | None) -> int:
    """The deposit in base units: the chain's minimum unless given; refused below it."""
    minimum = _min_deposit(client)
    units = minimum if deposit is None else parse_amount(deposit)
    if units < minimum:
        raise ValueError(
            f"the deposit is {format_amount(units)} AVM, the minimum {format_amount(minimum)}"
        )
    return units


def _finish_proposal(
    as_json: bool, result: dict[str, object], what: str, summary: list[str]
) -> None:
    def human() -> None:
        _print_result(result, what)
        for line in summary:
            console.print(f"  {line}", markup=False)
        if result.get("proposal"):
            console.print(f"  proposal {result['proposal']}")

    _emit(as_json, result, human)
    if result["status"] == "failed":
        raise typer.Exit(1)


Deposit = Annotated[
    str | None, typer.Option("--deposit", help="AVM to escrow (default: the chain's minimum).")
]
Rationale = Annotated[str, typer.Option("--rationale", help="Why, for the council.")]


@app.command("propose")
@friendly_errors
def propose(
    agent: Annotated[
        str, typer.Argument(metavar="AGENT", help="Agent address, registered name or key name.")
    ],
    region: Annotated[str, typer.Argument(help="A `council` region of the agent.")],
    file: Annotated[
        Path | None,
        typer.Argument(metavar="FILE.air", help="The region's new body (IR text)."),
    ] = None,
    rationale: Annotated[str, typer.Option("--rationale", help="Why, for the council.")] = "",
    tests: Annotated[
        Path | None, typer.Option("--tests", help="IR file of .test blocks to add.")
    ] = None,
    deposit: Annotated[
        str | None,
        typer.Option("--deposit", help="AVM to escrow (default: the chain's minimum)."),
    ] = None,
    revert_to: Annotated[
        str | None,
        typer.Option("--revert-to", help="Instead of FILE: restore the region from this code id."),
    ] = None,
    normal_track: Annotated[
        bool,
        typer.Option("--normal-track", help="With --revert-to: not the emergency track."),
    ] = False,
    sender: FromName = None,
    dev_account: DevAccount = None,
    wait: Wait = True,
    rpc: Rpc = DEFAULT_RPC,
    keystore: KeystoreDir = None,
    password_file: PasswordFile = None,
    as_json: AsJson = False,
) -> None:
    """Propose a new body for an agent's `council` region (or, with --revert-to, an earlier
    one); prints the proposal id. The council votes on it after the chain's sandbox run."""
    target = _resolve(agent, keystore, rpc)
    if (file is None) == (revert_to is None):
        raise ValueError("give the new IR as FILE.air, or --revert-to CODE_ID (not both)")
    if normal_track and revert_to is None:
        raise ValueError("--normal-track applies to a revert (--revert-to)")
    new_ir = tests_ir = ""
    if file is not None:
        new_ir = _read_text(file, "IR file")
        assemble_fragment(new_ir, str(file))  # a file:line:col error before anything is sent
    if tests is not None:
        if revert_to is not None:
            raise ValueError("a revert brings back the snapshot's tests: --tests does not apply")
        tests_ir = _read_text(tests, "tests file")
    key = signing_key(sender, dev_account, keystore, password_file)
    with RpcClient(rpc) as client:
        units = _deposit_units(client, deposit)
        _check_region(client, target, region)
        if revert_to is not None:
            snapshot = _proposal_id(revert_to, "a code id")
            spec: CodeChangeSpec | RevertSpec = RevertSpec(
                target, region, snapshot, rationale, units, not normal_track
            )
        else:
            spec = CodeChangeSpec(target, region, new_ir, rationale, tests_ir, units)
        result = _submit(client, build_propose(client, key, spec), wait)
        result["proposal"] = _submitted_id(client, result)
    result.update(agent=to_checksum_address(target), region=region, deposit=format_amount(units))
    _finish_proposal(as_json, result, f"proposed a change to {region}", [])


# The parameters a `--set` may name, as aither_getCouncil shows them.
_PARAM_NAMES = tuple(f.name for f in fields(GovernanceParams) if f.name != "role_weights")
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _changed_params(current: dict[str, object], sets: list[str]) -> dict[str, object]:
    """The genesis-form parameters with each NAME=VALUE of `sets` applied (role weights as
    role_weights.ROLE=PPM). Raises ValueError for a malformed or unknown entry."""
    current_weights = current["role_weights"]
    assert isinstance(current_weights, dict)
    weights = dict(current_weights)
    doc = {**current, "role_weights": weights}
    for entry in sets:
        name, sep, value = (part.strip() for part in entry.partition("="))
        if not sep or not name or not value:
            raise ValueError(f"--set {entry!r}: write NAME=VALUE, such as voting_period=20")
        if name.startswith("role_weights."):
            role = name.removeprefix("role_weights.")
            if role not in weights:
                roles = ", ".join(r.value for r in Role)
                raise ValueError(f"--set {name}: no role {role!r} (roles: {roles})")
            if not _INT.match(value):
                raise ValueError(f"--set {name}: a role weight is an integer (ppm)")
            weights[role] = int(value)
        elif name == "burn_deposit_on_expiry":
            if value.lower() not in _BOOLEANS:
                raise ValueError(f"--set {name}: write true or false")
            doc[name] = _BOOLEANS[value.lower()]
        elif name in _PARAM_NAMES:
            doc[name] = value  # an integer in text; GovernanceParams.from_json checks it
        else:
            raise ValueError(f"--set {name}: no such parameter (see aither_getCouncil's params)")
    return doc


def _param_changes(old: dict[str, object], new: dict[str, object]) -> dict[str, list[object]]:
    changes: dict[str, list[object]] = {}
    for name, value in new.items():
        if isinstance(value, dict):
            before = old[name]
            assert isinstance(before, dict)
            for key, weight in value.items():
                if before[key] != weight:
                    changes[f"{name}.{key}"] = [before[key], weight]
        elif old[name] != value:
            changes[name] = [old[name], value]
    return changes


@app.command("propose-params")
@friendly_errors
def propose_params(
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="NAME=VALUE (repeatable), as aither_getCouncil's params show them: blocks, "
            "ppm, base units; role weights as role_weights.ROLE=PPM.",
        ),
    ] = None,
    rationale: Rationale = "",
    deposit: Deposit = None,
    sender: FromName = None,
    dev_account: DevAccount = None,
    wait: Wait = True,
    rpc: Rpc = DEFAULT_RPC,
    keystore: KeystoreDir = None,
    password_file: PasswordFile = None,
    as_json: AsJson = False,
) -> None:
    """Propose new governance parameters: the current ones with each --set applied. Prints the
    proposal id; the council votes on it, and it applies when enacted."""
    if not sets:
        raise ValueError("say what changes: --set NAME=VALUE, such as --set voting_period=20")
    key = signing_key(sender, dev_account, keystore, password_file)
    with RpcClient(rpc) as client:
        council = client.call("aither_getCouncil")
        assert isinstance(council, dict)
        current = council["params"]
        assert isinstance(current, dict)
        params = GovernanceParams.from_json(_changed_params(current, sets))
        changes = _param_changes(current, params.to_json())
        if not changes:
            raise ValueError("nothing changes: every --set value is the current one")
        units = _deposit_units(client, deposit)
        spec = ParamsChangeSpec(params, rationale, units)
        result = _submit(client, build_propose(client, key, spec), wait)
        result["proposal"] = _submitted_id(client, result)
    result.update(kind="params", changes=changes, deposit=format_amount(units))
    summary = [f"{name}: {old} -> {new}" for name, (old, new) in changes.items()]
    _finish_proposal(as_json, result, "proposed new parameters", summary)


def _new_member(entry: str) -> tuple[str, Role, str]:
    """An --add entry ADDRESS=ROLE as (who, role, custom role name); `who` is
    resolved to an address once the node is reached (`_member_address`)."""
    target, sep, role_text = entry.partition("=")
    if not sep or not target or not role_text:
        raise ValueError(f"--add {entry!r}: write ADDRESS=ROLE, such as 0x...=SecurityAuditor")
    kind, _, custom = role_text.partition(":")
    if kind.lower() == "custom":
        if not custom.strip() or len(custom.encode()) > 64:
            raise ValueError(f"--add {entry!r}: a custom role needs a name of 1..64 bytes")
        return target, Role.CUSTOM, custom.strip()
    found = next((r for r in Role if r.value.lower() == role_text.lower()), None)
    if found is None or found is Role.CUSTOM:
        roles = ", ".join(r.value for r in Role if r is not Role.CUSTOM)
        raise ValueError(f"--add {entry!r}: unknown role; use {roles} or custom:NAME")
    return target, found, ""


def _member_address(client: RpcClient, who: str, keystore: Path | None) -> bytes:
    """An address from 0x-hex, a registered name (x.avm, resolved on chain) or a keystore key
    name."""
    if is_name(who):
        found = client.call("aither_resolveName", who)
        if not isinstance(found, str):
            raise ValueError(f"{who} is not a registered name")
        return parse_address(found)
    return _resolve(who, keystore)


def _identity_names(client: RpcClient, add: list[NewMember]) -> list[str | None]:
    """The identity names of the members to add; refuses, before a fee is spent, one that has
    no registered identity (the chain refuses it too, when it files the proposal)."""
    names = []
    for member in add:
        where = to_checksum_address(member.address)
        found = client.call("aither_getIdentity", where)
        if not isinstance(found, dict):
            raise ValueError(
                f"{where} has no registered identity: only a registered identity can join the "
                "council (it registers first, with aither swarm register)"
            )
        names.append(found.get("name") or None)
    return names


def _check_council_change(council: dict, add: list[NewMember], remove: list[bytes]) -> None:
    """Refuse, before a fee is spent, a change the chain would refuse against the council as it
    is now. The chain checks again when it files the proposal and when it enacts it."""
    members = {parse_address(m["address"]) for m in council["members"]}
    added = [m.address for m in add]
    if len(set(added)) != len(added) or len(set(remove)) != len(remove):
        raise ValueError("a member is listed twice in the change")
    both = set(added) & set(remove)
    if both:
        raise ValueError(f"{to_checksum_address(both.pop())} cannot be added and removed at once")
    for address in added:
        if address in members:
            raise ValueError(f"{to_checksum_address(address)} is already a council member")
    for address in remove:
        if address not in members:
            raise ValueError(f"{to_checksum_address(address)} is not a council member")
    size = len(members) + len(added) - len(remove)
    if size == 0:
        raise ValueError("the council cannot be left empty")
    limit = int(council["params"]["max_council_size"])
    if size > limit:
        raise ValueError(f"the council has at most {limit} members")


def _named(member: dict[str, object]) -> str:
    """`0x... (name.avm)`, or the address alone when it holds no name."""
    return f"{member['address']} ({member['name']})" if member["name"] else str(member["address"])


@app.command("propose-council")
@friendly_errors
def propose_council(
    add: Annotated[
        list[str] | None,
        typer.Option(
            "--add",
            help="ADDRESS=ROLE (repeatable); ADDRESS is 0x-hex, a registered name (x.avm) or a "
            "keystore key and must have a registered identity; ROLE is SecurityAuditor, "
            "LatencyProfiler, MemoryOptimizer, RegressionHunter, StandardsEnforcer or custom:NAME.",
        ),
    ] = None,
    remove: Annotated[
        list[str] | None,
        typer.Option("--remove", help="ADDRESS of a member to remove (repeatable), as for --add."),
    ] = None,
    rationale: Rationale = "",
    deposit: Deposit = None,
    sender: FromName = None,
    dev_account: DevAccount = None,
    wait: Wait = True,
    rpc: Rpc = DEFAULT_RPC,
    keystore: KeystoreDir = None,
    password_file: PasswordFile = None,
    as_json: AsJson = False,
) -> None:
    """Propose council members to add (registered identities, at the initial accuracy) or
    remove. Prints the proposal id; the council votes on it, and the change applies when
    enacted."""
    if not add and not remove:
        raise ValueError("say who joins or leaves: --add ADDRESS=ROLE or --remove ADDRESS")
    entries = [_new_member(entry) for entry in add or []]
    key = signing_key(sender, dev_account, keystore, password_file)
    with RpcClient(rpc) as client:
        joining = [
            NewMember(_member_address(client, who, keystore), role, role_name)
            for who, role, role_name in entries
        ]
        leaving = [_member_address(client, who, keystore) for who in remove or []]
        council = client.call("aither_getCouncil")
        assert isinstance(council, dict)
        _check_council_change(council, joining, leaving)
        names = _identity_names(client, joining)
        current = {parse_address(m["address"]): m.get("name") for m in council["members"]}
        units = _deposit_units(client, deposit)
        spec = CouncilChangeSpec(tuple(joining), tuple(leaving), rationale, units)
        result = _submit(client, build_propose(client, key, spec), wait)
        result["proposal"] = _submitted_id(client, result)
    added = [
        {
            "address": to_checksum_address(m.address),
            "name": name,
            "role": m.role.value,
            "roleName": m.role_name or m.role.value,
        }
        for m, name in zip(joining, names, strict=True)
    ]
    removed = [{"address": to_checksum_address(a), "name": current.get(a)} for a in leaving]
    result.update(kind="council", add=added, remove=removed, deposit=format_amount(units))
    summary = [f"add {_named(m)} as {m['roleName']}" for m in added]
    summary += [f"remove {_named(m)}" for m in removed]
    _finish_proposal(as_json, result, "proposed a council change", summary)


@app.command("vote")
@friendly_errors
def vote(
    proposal: Annotated[str, typer.Argument(metavar="ID", help="Proposal id (0x-hex).")],
    choice: Annotated[str, typer.Argument(metavar="yes|no|abstain|veto")],
    why: Annotated[str, typer.Option("--why", help="The explanation the council reads.")] = "",
    sender: FromName = None,
    dev_account: DevAccount = None,
    wait: Wait = True,
    rpc: Rpc = DEFAULT_RPC,
    keystore: KeystoreDir = None,
    password_file: PasswordFile = None,
    as_json: AsJson = False,
) -> None:
    """Vote on a proposal in its voting period, as a council member (a later vote replaces an
    earlier one until the period ends)."""
    pid = _proposal_id(proposal)
    try:
        picked = Choice(choice.lower())
    except ValueError:
        raise ValueError(f"unknown choice {choice!r}; use yes, no, abstain or veto") from None
    key = signing_key(sender, dev_account, keystore, password_file)
    with RpcClient(rpc) as client:
        _check_voting(client, pid)
        result = _submit(client, build_vote(client, key, pid, picked, why), wait)
    result.update(proposal="0x" + pid.hex(), choice=picked.value)
    _finish(as_json, result, f"voted {picked.value}")


@app.command("cancel")
@friendly_errors
def cancel(
    proposal: Annotated[str, typer.Argument(metavar="ID", help="Proposal id (0x-hex).")],
    sender: FromName = None,
    dev_account: DevAccount = None,
    wait: Wait = True,
    rpc: Rpc = DEFAULT_RPC,
    keystore: KeystoreDir = None,
    password_file: PasswordFile = None,
    as_json: AsJson = False,
) -> None:
    """Withdraw your proposal before its voting ends (part of the deposit is burnt)."""
    pid = _proposal_id(proposal)
    key = signing_key(sender, dev_account, keystore, password_file)
    with RpcClient(rpc) as client:
        result = _submit(client, build_cancel(client, key, pid), wait)
    result.update(proposal="0x" + pid.hex())
    _finish(as_json, result, "cancelled the proposal")
