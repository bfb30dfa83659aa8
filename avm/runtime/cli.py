"""`aither agent`: run an AVM agent on this machine with real plugins, and replay its traces.

Mounted by the node CLI as a Typer sub-app. Errors print one line and exit non-zero.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from avm.assembler import assemble, parse_constant
from avm.code import CodeObject
from avm.gas import MILLIGAS_PER_GAS
from avm.runtime.config import load_config
from avm.runtime.registry import build_router
from avm.runtime.runner import ReplayReport, RunReport, replay, run_agent
from avm.runtime.state import AgentState, default_state_dir
from avm.runtime.tracefile import TraceFile
from avm.values import Value, to_python
from genesis.dev import dev_key
from ledger.crypto import SigningKey, to_checksum_address
from ledger.errors import AitherError
from wallet.client import DEFAULT_RPC, RpcClient
from wallet.keystore import Keystore

app = typer.Typer(
    help="Run agents locally with model, embedding and tool plugins.", no_args_is_help=True
)

CODE_MAGIC = b"\x98"  # a code object's encoding starts with an 8-element msgpack array
DEFAULT_GAS = 10_000


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def load_code(path: Path) -> CodeObject:
    """IR text or a code object from `path`. Raises AitherError or OSError."""
    data = path.read_bytes()
    if data[:1] == CODE_MAGIC:
        return CodeObject.from_bytes(data)
    return assemble(data.decode("utf-8"), str(path)).code


def _signer(
    key: str | None, dev_account: int | None, keystore: Path | None, password_file: Path | None
) -> SigningKey:
    if (key is None) == (dev_account is None):
        raise ValueError("say whose agent this is: --key NAME or --dev-account N")
    if dev_account is not None:
        return dev_key(dev_account)
    assert key is not None
    store = Keystore(keystore)
    store.info(key)  # a missing key is reported before a password is asked for
    if password_file is not None:
        lines = password_file.read_text().splitlines()
        password = lines[0] if lines else ""
    else:
        password = os.environ.get("AITHER_PASSWORD") or typer.prompt("Password", hide_input=True)
    return store.unlock(key, password)


def _run_json(report: RunReport) -> dict[str, object]:
    result = report.result
    return {
        "ok": result.ok,
        "value": to_python(result.value),
        "trap": str(result.trap) if result.trap else None,
        "gas_used": -(-result.gas_used // MILLIGAS_PER_GAS),
        "gas_used_milligas": result.gas_used,
        "logs": [to_python(v) for v in result.logs],
        "plugin_calls": [
            {"opcode": c.opcode, "ok": c.failure is None, "failure": c.failure}
            for c in report.trace.calls
        ],
        "transactions": [
            {
                "hash": s.tx_hash,
                "to": to_checksum_address(s.payment.to),
                "amount": str(s.payment.amount),
                "token": s.payment.token or "AVM",
                "block": s.block,
            }
            for s in report.transactions
        ],
        "trace_hash": report.trace.trace_hash.hex(),
        "new_code_id": report.new_code.code_id.hex() if report.new_code else None,
    }


def _print_run(report: RunReport) -> None:
    for call in report.trace.calls:
        status = "ok" if call.failure is None else f"FAILED {call.failure}"
        typer.echo(f"plugin {call.opcode}: {status}")
    for log in report.result.logs:
        typer.echo(f"log: {json.dumps(to_python(log), default=str)}")
    for s in report.transactions:
        typer.echo(
            f"tx {s.tx_hash}: pay {s.payment.amount} {s.payment.token or 'AVM'} base units to "
            f"{to_checksum_address(s.payment.to)}, block {s.block}"
        )
    if report.new_code is not None:
        typer.echo(f"the agent rewrote itself: code {report.new_code.code_id.hex()} saved")
    result = report.result
    status = "ok" if result.ok else f"trap: {result.trap}"
    gas = -(-result.gas_used // MILLIGAS_PER_GAS)
    typer.echo(
        f"{status}; value {json.dumps(to_python(result.value), default=str)}; gas used {gas}; "
        f"trace hash {report.trace.trace_hash.hex()}"
    )


def _arg(text: str) -> Value:
    try:
        return parse_constant(text)
    except AitherError as exc:
        raise ValueError(f"argument {text!r}: {exc}") from None


@app.command("run")
def run_cmd(
    file: Annotated[Path, typer.Argument(help="IR source (.air) or a code object")],
    key: Annotated[
        str | None, typer.Option("--key", help="Keystore key: the agent's account.")
    ] = None,
    dev_account: Annotated[
        int | None, typer.Option("--dev-account", min=0, help="Use dev account N instead.")
    ] = None,
    rpc: Annotated[str, typer.Option("--rpc", envvar="AITHER_RPC", help="Node JSON-RPC URL.")] = (
        DEFAULT_RPC
    ),
    entry: Annotated[str | None, typer.Option("--entry", "-e", help="Label to start at.")] = None,
    args: Annotated[list[str], typer.Option("--arg", "-a", help="An argument (IR literal).")] = [],  # noqa: B006
    gas: Annotated[int, typer.Option("--gas", min=0, help="Gas limit (1 gas = 1000 milligas).")] = (
        DEFAULT_GAS
    ),
    trace: Annotated[
        Path | None, typer.Option("--trace", help="Write the trace file here.")
    ] = None,
    plugins: Annotated[Path | None, typer.Option("--plugins", help="Plugins file (TOML).")] = None,
    state_dir: Annotated[
        Path | None, typer.Option("--state-dir", help="Agents' local state (~/.aither/agents).")
    ] = None,
    keystore: Annotated[
        Path | None, typer.Option("--keystore", envvar="AITHER_KEYSTORE", help="Keystore dir.")
    ] = None,
    password_file: Annotated[
        Path | None, typer.Option("--password-file", help="Read the password from this file.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Run FILE as the agent of --key; its payments become signed transactions."""
    try:
        code = load_code(file)
        values = tuple(_arg(a) for a in args)
        config = load_config(plugins)
        signer = _signer(key, dev_account, keystore, password_file)
        state = AgentState(state_dir or default_state_dir(), signer.address)
        with RpcClient(rpc) as client:
            report = run_agent(
                code,
                signer,
                client,
                build_router(config),
                state,
                entry,
                values,
                gas * MILLIGAS_PER_GAS,
            )
        if trace is not None:
            report.trace.write(trace)
    except (AitherError, ValueError, OSError, UnicodeDecodeError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(_run_json(report), indent=2, default=str))
    else:
        _print_run(report)
    if not report.result.ok:
        raise typer.Exit(1)


@app.command("replay")
def replay_cmd(
    trace: Annotated[Path, typer.Argument(help="A trace file written by `agent run --trace`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Re-run a trace's program with its recorded results; no plugin or node is called."""
    try:
        report: ReplayReport = replay(TraceFile.read(trace))
    except (AitherError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        data = {
            "matches": report.matches,
            "trace_hash": report.trace_hash.hex(),
            "expected": report.expected.hex(),
            "unused_calls": report.unused_calls,
            "ok": report.result.ok,
            "value": to_python(report.result.value),
        }
        typer.echo(json.dumps(data, indent=2, default=str))
    elif report.matches:
        typer.echo(f"replay matches: trace hash {report.trace_hash.hex()}")
    else:
        unused = f", {report.unused_calls} recorded results unused" if report.unused_calls else ""
        typer.echo(
            f"replay DIFFERS: trace hash {report.trace_hash.hex()}, "
            f"recorded {report.expected.hex()}{unused}"
        )
    if not report.matches:
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - for `python -m avm.runtime.cli` until it is mounted
    app(prog_name="aither agent")


if __name__ == "__main__":  # pragma: no cover
    main()
