"""`aither agent`: run an AVM agent on this machine with real plugins, replay its traces, and
run its scheduled tasks.

Mounted by the node CLI as a Typer sub-app. Errors print one line and exit non-zero.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from agent.config import RuntimeConfig, load_config
from agent.host import RunSettings
from agent.registry import build_router
from agent.runner import ReplayReport, RunReport, chain_time, replay, run_agent, run_due
from agent.schedule import Schedule
from agent.state import AgentState, default_state_dir
from agent.tracefile import TraceFile
from agent.transactions import SentTransaction
from avm.assembler import assemble
from avm.code import CodeObject
from avm.gas import MILLIGAS_PER_GAS
from avm.validation import decode_code
from avm.values import to_python
from core.amounts import NATIVE_DECIMALS, NATIVE_SYMBOL, format_amount
from core.crypto import SigningKey, parse_address
from core.errors import AitherError
from core.rpc import DEFAULT_RPC
from wallet.client import RpcClient
from wallet.options import (
    AdminToken,
    AsJson,
    KeystoreDir,
    PasswordFile,
    Reader,
    Rpc,
    TokenFile,
    console,
    option,
    option_group,
    parse_argument,
    reads,
    signing_key,
    token_decimals,
)

app = typer.Typer(
    help="Run agents locally with model, embedding and tool plugins.", no_args_is_help=True
)

CODE_MAGIC = b"\x98"  # a code object's encoding starts with an 8-element msgpack array
DEFAULT_GAS = 10_000
MAX_WATCH_SLEEP_SEC = 60.0

ARG_HELP = (
    'An argument: an integer (plain decimal), 0x-hex bytes, an IR literal ("text", x"4a87", '
    "[1, 2]) or plain text."
)
File = Annotated[Path, typer.Argument(help="IR source (.air) or a code object")]
Key = Annotated[str | None, typer.Option("--key", help="Keystore key: the agent's account.")]
DevAccount = Annotated[
    int | None, typer.Option("--dev-account", min=0, help="Use dev account N instead.")
]
RpcToken = Annotated[
    str | None,
    typer.Option(
        "--rpc-token",
        envvar="AITHER_RPC_TOKEN",
        help="The node's admin token, for its swarm methods (or --token-file).",
    ),
]
HomeAgent = Annotated[
    str | None,
    typer.Option(
        "--agent", help="The on-chain agent whose council regions SELF_MODIFY proposes for."
    ),
]
Gas = Annotated[
    int, typer.Option("--gas", min=0, help="Gas limit of a run (1 gas = 1000 milligas).")
]
Plugins = Annotated[Path | None, typer.Option("--plugins", help="Plugins file (TOML).")]
StateDir = Annotated[
    Path | None, typer.Option("--state-dir", help="Agents' local state (~/.aither/agents).")
]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _show_events() -> None:
    """Print what a run waits for while it waits (the runtime logs it to `aither.agent`), one
    line on stderr each."""
    events = logging.getLogger("aither.agent")
    if not events.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        events.addHandler(handler)
        events.setLevel(logging.INFO)
        events.propagate = False


def load_code(path: Path) -> CodeObject:
    """IR text or a code object from `path`. Raises AitherError or OSError."""
    data = path.read_bytes()
    if data[:1] == CODE_MAGIC:
        return decode_code(data)
    return assemble(data.decode("utf-8"), str(path)).code


@dataclass(frozen=True, slots=True)
class _Setup:
    """What `run` and `tick` read from their options before they talk to the node."""

    code: CodeObject
    config: RuntimeConfig
    signer: SigningKey
    state: AgentState
    settings: RunSettings
    token: str | None


@dataclass(frozen=True, slots=True)
class AgentOptions:
    """The options `run` and `tick` share: whose agent, which node, plugins and local state."""

    key: str | None
    dev_account: int | None
    rpc: str
    plugins: Path | None
    home_agent: str | None
    rpc_token: str | None
    token_file: Path | None
    state_dir: Path | None
    keystore: Path | None
    password_file: Path | None

    def setup(self, file: Path) -> _Setup:
        code = load_code(file)
        config = load_config(self.plugins)
        signer = signing_key(
            self.key, self.dev_account, self.keystore, self.password_file, name_option="--key"
        )
        state = AgentState(self.state_dir or default_state_dir(), signer.address)
        home = None if self.home_agent is None else parse_address(self.home_agent)
        settings = RunSettings(home, config.swarm)
        token = self.rpc_token
        if token is None:
            token = AdminToken.find(self.token_file, self.rpc).value
        return _Setup(code, config, signer, state, settings, token)


agent_options = option_group(
    "options",
    (
        option("key", Key, None),
        option("dev_account", DevAccount, None),
        option("rpc", Rpc, DEFAULT_RPC),
        option("plugins", Plugins, None),
        option("home_agent", HomeAgent, None),
        option("rpc_token", RpcToken, None),
        option("token_file", TokenFile, None),
        option("state_dir", StateDir, None),
        option("keystore", KeystoreDir, None),
        option("password_file", PasswordFile, None),
    ),
    AgentOptions,
)


def _utc(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _transaction_json(sent: SentTransaction) -> dict[str, object]:
    return {**sent.effect.to_json(), **sent.receipt.to_json()}


def _run_json(report: RunReport) -> dict[str, object]:
    result = report.result
    return {
        "ok": report.ok,
        "value": to_python(result.value),
        "trap": str(result.trap) if result.trap else None,
        "gas_used": -(-result.gas_used // MILLIGAS_PER_GAS),
        "gas_used_milligas": result.gas_used,
        "logs": [to_python(v) for v in result.logs],
        "plugin_calls": [
            {"opcode": c.opcode, "ok": c.failure is None, "failure": c.failure, "units": c.units}
            for c in report.trace.calls
        ],
        "effects": [e.to_json() for e in report.effects],
        "transactions": [_transaction_json(s) for s in report.sent],
        "failure": report.failure,
        "swarm": "node" if report.swarm_note is None else f"local events: {report.swarm_note}",
        "schedules": [s.to_json() for s in report.trace.schedules],
        "trace_hash": report.trace.trace_hash.hex(),
        "new_code_id": report.new_code.code_id.hex() if report.new_code else None,
    }


EFFECT_TEXT = {
    "transfer": "pay {amount} to {to}",
    "call": "call {entry} {args} of agent {agent}{sending}",
    "propose": "propose a new {region} for agent {agent} (deposit {deposit})",
    "channel_join": "join channel {name}",
    "channel_rotate": "rotate the key of channel {name}",
    "channel_reward": "escrow {amount} for answers to message {message}",
    "channel_accept": "accept {sender}'s answer: pay the reward for message {reward}",
}


def _token_decimals_of(client: RpcClient, reports: list[RunReport]) -> dict[str, int]:
    """The decimals of each token the runs' transactions moved (AVM's included), read from the
    chain; a token the chain does not know is left out (its amount shows in base units)."""
    found = {NATIVE_SYMBOL: NATIVE_DECIMALS}
    for report in reports:
        for sent in report.sent:
            token = str(sent.effect.to_json().get("token") or NATIVE_SYMBOL)
            if token not in found:
                with contextlib.suppress(ValueError):
                    found[token] = token_decimals(client, token)
    return found


def _amount(units: object, token: str, decimals: dict[str, int]) -> str:
    if token not in decimals:
        return f"{units} base units of {token}"
    return f"{format_amount(int(str(units)), decimals[token])} {token}"


def _describe(sent: SentTransaction, decimals: dict[str, int]) -> str:
    doc = sent.effect.to_json()
    token = str(doc.get("token") or NATIVE_SYMBOL)
    for field in ("amount", "deposit"):  # a transfer's token; rewards and deposits are AVM
        if field in doc:
            doc[field] = _amount(doc[field], token, decimals)
    value = int(str(doc.get("value") or 0))
    doc["sending"] = f", sending {_amount(value, NATIVE_SYMBOL, decimals)}" if value else ""
    doc["args"] = json.dumps(doc.get("args"), default=str)
    receipt = sent.receipt
    status = "ok" if receipt.ok else f"FAILED {receipt.error}"
    extra = f", proposal {receipt.proposal_id}" if receipt.proposal_id else ""
    what = EFFECT_TEXT[str(doc["kind"])].format(**doc)
    return f"tx {receipt.tx_hash}: {what}, block {receipt.block}, {status}{extra}"


def _print_run(report: RunReport, decimals: dict[str, int], prefix: str = "") -> None:
    for call in report.trace.calls:
        status = "ok" if call.failure is None else f"FAILED {call.failure}"
        typer.echo(f"{prefix}plugin {call.opcode}: {status}")
    for log in report.result.logs:
        typer.echo(f"{prefix}log: {json.dumps(to_python(log), default=str)}")
    for exchange in report.trace.node:
        if exchange.question == "swarm_send" and isinstance(exchange.result, dict):
            typer.echo(
                f"{prefix}swarm: sent message {exchange.result['messageHash']} "
                f"(epoch {exchange.result['epoch']})"
            )
        elif exchange.question == "swarm_wait" and isinstance(exchange.result, list):
            typer.echo(f"{prefix}swarm: {len(exchange.result)} answers to {exchange.params[1]}")
    for sent in report.sent:
        typer.echo(prefix + _describe(sent, decimals))
    if report.swarm_note is not None and any(t.startswith("swarm.") for t, _ in report.events):
        typer.echo(f"{prefix}swarm: messages stayed local events ({report.swarm_note})")
    for schedule in report.trace.schedules:
        every = f"every {schedule.interval_sec} s from {_utc(schedule.next_due)}"
        typer.echo(f"{prefix}task {schedule.task}: " + (every if schedule.interval_sec else "off"))
    if report.new_code is not None:
        typer.echo(f"{prefix}the agent rewrote itself: code {report.new_code.code_id.hex()} saved")
    if report.failure is not None:
        typer.echo(f"{prefix}NOT SAVED: {report.failure}")
    result = report.result
    status = "ok" if result.ok else f"trap: {result.trap}"
    gas = -(-result.gas_used // MILLIGAS_PER_GAS)
    typer.echo(
        f"{prefix}{status}; value {json.dumps(to_python(result.value), default=str)}; "
        f"gas used {gas} ({result.gas_used} milligas); trace hash {report.trace.trace_hash.hex()}"
    )


@app.command("run")
@agent_options
def run_cmd(
    file: File,
    entry: Annotated[str | None, typer.Option("--entry", "-e", help="Label to start at.")] = None,
    args: Annotated[list[str], typer.Option("--arg", "-a", help=ARG_HELP)] = [],  # noqa: B006
    gas: Gas = DEFAULT_GAS,
    trace: Annotated[
        Path | None, typer.Option("--trace", help="Write the trace file here.")
    ] = None,
    as_json: AsJson = False,
    *,
    options: AgentOptions,
) -> None:
    """Run FILE as the agent of --key; its on-chain effects become signed transactions."""
    try:
        values = tuple(parse_argument(a) for a in args)
        setup = options.setup(file)
        _show_events()
        with RpcClient(options.rpc, token=setup.token) as client:
            report = run_agent(
                setup.code,
                setup.signer,
                client,
                build_router(setup.config),
                setup.state,
                entry,
                values,
                gas * MILLIGAS_PER_GAS,
                setup.settings,
            )
            decimals = _token_decimals_of(client, [report])
        if trace is not None:
            report.trace.write(trace)
    except (AitherError, ValueError, OSError, UnicodeDecodeError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(_run_json(report), indent=2, default=str))
    else:
        _print_run(report, decimals)
    if not report.ok:
        raise typer.Exit(1)


@app.command("replay")
def replay_cmd(
    trace: Annotated[Path, typer.Argument(help="A trace file written by `agent run --trace`.")],
    as_json: AsJson = False,
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
            "effects_match": report.effects_match,
            "schedules_match": report.schedules_match,
            "receipts": [r.to_json() for r in report.receipts],
            "ok": report.result.ok,
            "value": to_python(report.result.value),
        }
        typer.echo(json.dumps(data, indent=2, default=str))
    elif report.matches:
        typer.echo(f"replay matches: trace hash {report.trace_hash.hex()}")
        for receipt in report.receipts:
            status = "ok" if receipt.ok else f"FAILED {receipt.error}"
            typer.echo(f"  tx {receipt.tx_hash}: block {receipt.block}, {status} (recorded)")
    else:
        unused = f", {report.unused_calls} recorded results unused" if report.unused_calls else ""
        effects = "" if report.effects_match else ", other on-chain effects"
        schedules = "" if report.schedules_match else ", other scheduled tasks"
        typer.echo(
            f"replay DIFFERS: trace hash {report.trace_hash.hex()}, "
            f"recorded {report.expected.hex()}{unused}{effects}{schedules}"
        )
    if not report.matches:
        raise typer.Exit(1)


def _waiting_line(upcoming: Schedule, scheduled: int) -> str:
    others = f" ({scheduled} tasks scheduled)" if scheduled > 1 else ""
    return (
        f"waiting for task {upcoming.task}, due {_utc(upcoming.next_due)}{others}; "
        "each run prints here (Ctrl-C to stop)"
    )


@app.command("tick")
@agent_options
def tick_cmd(
    file: File,
    args: Annotated[
        list[str], typer.Option("--arg", "-a", help=f"{ARG_HELP} Given to every task.")
    ] = [],  # noqa: B006
    gas: Gas = DEFAULT_GAS,
    trace_dir: Annotated[
        Path | None, typer.Option("--trace-dir", help="Write each task run's trace here.")
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", help="Keep running tasks as they fall due (Ctrl-C stops).")
    ] = False,
    *,
    options: AgentOptions,
) -> None:
    """Run the agent's scheduled tasks (SCHEDULE_TASK) that are due, each once."""
    failed = False
    announced: Schedule | None = None  # the task the last waiting line named
    try:
        values = tuple(parse_argument(a) for a in args)
        setup = options.setup(file)
        _show_events()
        router = build_router(setup.config)
        with RpcClient(options.rpc, token=setup.token) as client:
            while True:
                now = chain_time(client)  # a dev chain's clock may run ahead of the wall's
                ran = run_due(
                    setup.code, setup.signer, client, router, setup.state, now, values,
                    gas * MILLIGAS_PER_GAS, setup.settings,
                )  # fmt: skip
                decimals = _token_decimals_of(client, [report for _, report in ran])
                for task, report in ran:
                    typer.echo(f"task {task.task} (due {_utc(task.next_due)}):")
                    _print_run(report, decimals, "  ")
                    failed = failed or not report.ok
                    if trace_dir is not None:
                        trace_dir.mkdir(parents=True, exist_ok=True)
                        report.trace.write(trace_dir / f"{task.task}-{now}.json")
                schedules = setup.state.load_schedules()
                if not watch or not schedules:
                    if not ran:
                        typer.echo("no task is due" if schedules else "no task is scheduled")
                    break
                upcoming = min(schedules, key=lambda s: (s.next_due, s.task))
                if upcoming != announced:
                    typer.echo(_waiting_line(upcoming, len(schedules)))
                    announced = upcoming
                wait = upcoming.next_due - chain_time(client)
                time.sleep(min(max(wait, 0.0), MAX_WATCH_SLEEP_SEC))
    except KeyboardInterrupt:
        if watch:
            typer.echo("stopped watching")
    except (AitherError, ValueError, OSError, UnicodeDecodeError) as exc:
        raise _fail(str(exc)) from None
    if failed:
        raise typer.Exit(1)


@app.command("ls")
@reads
def ls_cmd(
    role: Annotated[str | None, typer.Option("--role", help="Holding this role.")] = None,
    meta: Annotated[
        list[str], typer.Option("--meta", help="Carrying metadata key=value (repeat).")
    ] = [],  # noqa: B006
    name: Annotated[str, typer.Option("--name", help="Whose name starts with this.")] = "",
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
    *,
    reader: Reader,
) -> None:
    """Find registered agents and services (aither_findIdentities): by role, metadata, name."""
    pairs = [entry.partition("=") for entry in meta]
    if any(not sep for _, sep, _ in pairs):
        raise ValueError("--meta takes key=value")
    spec: dict[str, object] = {"metadata": {k: v for k, _, v in pairs}, "namePrefix": name}
    if role is not None:
        spec["role"] = role
    found: list[dict[str, Any]] = []
    cursor = None
    while len(found) < limit:
        page = reader.call_object("aither_findIdentities", spec, cursor, min(100, limit))
        found += page["identities"]
        cursor = page["next"]
        if cursor is None:
            break
    found = found[:limit]

    def human() -> None:
        if not found:
            console.print("no identity matches")
            return
        table = Table("name", "address", "roles", "metadata")
        for entry in found:
            meta_text = ", ".join(f"{k}={v}" for k, v in entry["metadata"].items())
            table.add_row(
                entry["name"] or "-", entry["address"], ", ".join(entry["roles"]), meta_text
            )
        console.print(table)

    reader.emit(found, human)


def main() -> None:  # pragma: no cover - for `python -m agent.cli`
    app(prog_name="aither agent")


if __name__ == "__main__":  # pragma: no cover
    main()
