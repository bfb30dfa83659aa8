"""`aither wallet deploy|call`: agents on chain (assembled here, deployed and called by
transactions, or dry-run on the node's head state)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from avm.assembler import assemble
from avm.code import CodeObject
from avm.instructions.storage import kv_key
from avm.validation import check_deployable, decode_code
from avm.values import check_key, encode_value
from core.amounts import parse_amount
from core.crypto import to_checksum_address
from ledger.identity import NameAgent
from ledger.names import is_name
from wallet.client import RpcClient
from wallet.options import (
    Signer,
    console,
    emit,
    err,
    finish,
    gas_text,
    parse_argument,
    resolve,
    signed,
    submit,
)
from wallet.txbuilder import (
    build_call,
    build_deploy,
    build_register,
    call_spec,
)

app = typer.Typer()


CODE_MAGIC = b"\x98"  # a code object's encoding starts with an 8-element msgpack array

SendValue = Annotated[str, typer.Option("--value", help="AVM to send to the agent, such as 1.5")]
GasLimit = Annotated[
    int | None,
    typer.Option(
        "--gas",
        min=0,
        help="Gas limit in ledger gas, which is AVM milligas (default: estimated by the node).",
    ),
]


def _load_code(path: Path) -> CodeObject:
    """Assemble IR text (or read a code object) and check it can be deployed, naming lines."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    if data[:1] == CODE_MAGIC:
        code = decode_code(data)
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
        pairs[kv_key(check_key(parse_argument(key)))] = encode_value(parse_argument(value))
    return tuple(sorted(pairs.items()))


def _agent_receipt(client: RpcClient, result: dict[str, object]) -> dict[str, object]:
    """Add the receipt's agent fields (return value, deployed address) to a submit result."""
    if result["status"] == "pending":
        return result
    receipt = client.call("aither_getTransactionReceipt", result["hash"])
    assert isinstance(receipt, dict)
    result.update(value=receipt.get("returnValue"), agent=receipt.get("contractAddress"))
    return result


def _dry_run(spec: dict[str, object], gas: int | None, trace: bool, signer: Signer) -> None:
    spec.update(trace=trace, **{"from": signer.address()})
    if gas is not None:
        spec["gas"] = gas
    with signer.client() as client:
        result = client.call("aither_call", spec)
    assert isinstance(result, dict)

    def human() -> None:
        for entry in result.get("trace") or []:
            line = f"{entry['pc']:5d}  {entry['opcode']:<22} {entry['gas']:>7} milligas"
            line += f"  in {json.dumps(entry['inputs'])}"
            if entry["outputs"]:
                line += f"  out {json.dumps(entry['outputs'])}"
            if entry.get("trap"):
                line += f"  TRAP {entry['trap']}"
            console.print(line, markup=False)
            # A CALL_AGENT's frame: the callee's instructions, indented under the call.
            for pc, opcode, milligas in (entry.get("notes") or {}).get("frame") or []:
                console.print(f"    {pc:5d}  {opcode:<20} {milligas:>7} milligas", markup=False)
        for log in result["logs"]:
            console.print(f"log: {json.dumps(log)}", markup=False)
        gas = f"gas used {gas_text(int(str(result['gasUsed']), 16))}"
        if result["ok"]:
            returned = json.dumps(result["value"])
            console.print(f"ok (dry run); returned {returned}; {gas}", markup=False)
        else:
            console.print(f"trap (dry run): {result['trap']}; {gas}", markup=False)

    emit(signer.as_json, result, human)
    if not result["ok"]:
        raise typer.Exit(1)


@app.command("deploy")
@signed
def deploy(
    file: Annotated[Path, typer.Argument(metavar="FILE.air", help="IR source or a code object")],
    storage: Annotated[
        list[str] | None,
        typer.Option("--storage", help="Initial KV entry KEY=VALUE (repeatable)."),
    ] = None,
    value: SendValue = "0",
    gas: GasLimit = None,
    *,
    signer: Signer,
) -> None:
    """Assemble an agent and deploy it; prints the agent's address."""
    code = _load_code(file)
    entries = _storage(storage or [])
    units = parse_amount(value)
    key = signer.key()
    with signer.client() as client:
        raw = build_deploy(client, key, code.to_bytes(), entries, units, gas)
        result = _agent_receipt(client, submit(client, raw, signer.wait))
    result.update(codeId="0x" + code.code_id.hex(), file=str(file))

    def details() -> None:
        if result.get("agent"):
            console.print(f"  agent {result['agent']}")
        console.print(f"  code id {result['codeId']}")
        if result.get("gasUsed") is not None:
            console.print(f"  gas used {gas_text(int(str(result['gasUsed'])))}")

    finish(signer.as_json, result, f"deployed {file.name}", details)


@app.command("call")
@signed
def call(
    agent: Annotated[
        str, typer.Argument(metavar="AGENT", help="Agent address, registered name or key name.")
    ],
    label: Annotated[str, typer.Argument(help="Entry label.")],
    args: Annotated[
        list[str] | None,
        typer.Argument(
            help='Arguments: integers (plain decimal), 0x-hex bytes, IR literals ("text", '
            "[1, 2], true) or plain text."
        ),
    ] = None,
    value: SendValue = "0",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Run on the node's head state; send nothing.")
    ] = False,
    trace: Annotated[
        bool,
        typer.Option("--trace", help="Print each step of a dry run (implies --dry-run)."),
    ] = False,
    gas: GasLimit = None,
    *,
    signer: Signer,
) -> None:
    """Call an agent's entry label; prints the return value, gas and any trap."""
    target = resolve(agent, signer.keystore, signer.rpc)
    values = tuple(parse_argument(a) for a in args or [])
    units = parse_amount(value)
    if trace and not dry_run:  # as `cast call --trace`: a trace never sends
        err.print("--trace: a dry run on the node's head state; nothing is sent")
    if dry_run or trace:
        _dry_run(call_spec(target, label, values, units), gas, trace, signer)
        return
    key = signer.key()
    with signer.client() as client:
        raw = build_call(client, key, target, label, values, units, gas)
        result = _agent_receipt(client, submit(client, raw, signer.wait))
    result.update(agent=to_checksum_address(target), entry=label)

    def details() -> None:
        if result["status"] == "ok":
            console.print(f"  returned {json.dumps(result.get('value'))}", markup=False)
        if result.get("gasUsed") is not None:
            console.print(f"  gas used {gas_text(int(str(result['gasUsed'])))}")

    finish(signer.as_json, result, f"called {label}", details)


@app.command("name")
@signed
def name_agent(
    agent: Annotated[str, typer.Argument(metavar="AGENT", help="An agent you deployed.")],
    name: Annotated[str, typer.Argument(help="A name such as oracle.avm ('' to release it).")],
    *,
    signer: Signer,
) -> None:
    """Name an agent you deployed: the name then resolves to it wherever an address is taken."""
    if name and not is_name(name):
        raise ValueError(f"{name!r} is not a name: lowercase label, then .avm (say oracle.avm)")
    address = resolve(agent, signer.keystore, signer.rpc)
    key = signer.key()
    with signer.client() as client:
        raw = build_register(client, key, NameAgent(address, name))
        result = submit(client, raw, signer.wait)
    who = to_checksum_address(address)
    result.update(agent=who, name=name or None)
    finish(signer.as_json, result, f"named {who} {name}" if name else f"unnamed {who}")
