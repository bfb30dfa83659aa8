"""JSON-RPC methods for agents: dry-run calls, agent records, code, storage, lineage, traces.

Arguments and storage keys are JSON values turned into AVM values: numbers are ints, strings
are str, except 0x-hex strings, which are bytes (addresses, hashes), lists are lists and objects
are maps. A dry run (`aither_call`, and `aither_estimateGas` for a call) runs on the head state
as the next block would see it (the head's height + 1, its timestamp) and commits nothing.
"""

from __future__ import annotations

from avm.disassembler import disassemble
from avm.errors import TraceTooLong, Trap
from avm.host import LineageKind
from avm.instructions.storage import kv_key
from avm.trace import trace_hash
from avm.values import Value, check_key, from_python, from_wire, to_python
from core.amounts import MAX_AMOUNT
from core.crypto import ADDRESS_SIZE, to_checksum_address
from core.encoding import decode
from core.errors import DecodeError, ExecutionFailed, InvalidTransaction
from core.rpc import LIMIT_EXCEEDED
from core.schema import MAX_U64, fields
from ledger import agents, schedule
from ledger.chain_params import MAX_TX_SIZE
from ledger.governance import views as governance_views
from ledger.receipt import Log
from ledger.state import State
from ledger.transition import execution_gas, intrinsic_gas
from ledger.tx import Call, Deploy, SignedTx, Transaction, TxKind
from node.node import Node
from node.rpc import params, views
from node.rpc.errors import RpcError, invalid_params, not_found
from node.rpc.limits import DRY_RUN_GAS, MAX_TRACE_ENTRIES, RPC_GAS_CAP
from node.rpc.method_table import MethodTable
from node.rpc.params import Params, arg, max_args
from node.rpc.prefixes import Kind, full_id
from node.rpc.workers import run_expensive

CALL_FAILED = -32015  # a dry run that trapped, where a result was needed (estimateGas)
MAX_STORAGE_KEY_HEX = 4096
TABLE = MethodTable()
MAX_TASKS_SHOWN = 256  # an agent's tasks are its labels: a page of them is all of them


# ---- JSON <-> AVM values -----------------------------------------------------------------------


def avm_value(obj: object, name: str = "argument") -> Value:
    """A JSON value as an AVM value (0x-hex strings are bytes)."""
    try:
        return from_python(_bytes_from_hex(obj))
    except (Trap, TypeError, ValueError, RecursionError) as exc:
        raise invalid_params(f"{name} is not an AVM value: {exc}") from None


def _bytes_from_hex(obj: object) -> object:
    if isinstance(obj, str) and obj.startswith("0x"):
        try:
            return bytes.fromhex(obj[2:])
        except ValueError:
            return obj  # not hex after all: a str
    if isinstance(obj, list):
        return [_bytes_from_hex(v) for v in obj]
    if isinstance(obj, dict):
        return {_bytes_from_hex(k): _bytes_from_hex(v) for k, v in obj.items()}
    if isinstance(obj, float):
        raise ValueError("numbers must be integers")
    return obj


def _event(entry: Log) -> dict[str, object]:
    """A receipt log; an AVM event's data (canonical bytes) decoded."""
    data = entry.values[1] if len(entry.values) == 2 else None
    if entry.name in ("Transfer", "AgentDeployed") or not isinstance(data, bytes):
        return views.log(entry)
    agent = entry.values[0]
    assert isinstance(agent, bytes)
    try:
        decoded = to_python(from_wire(decode(data)))
    except DecodeError:
        decoded = views.hexbytes(data)
    return {"event": entry.name, "agent": to_checksum_address(agent), "data": decoded}


# ---- dry runs ----------------------------------------------------------------------------------


def _call_payload(spec: object) -> tuple[Call, bytes]:
    """The Call a call object describes, and its sender (zero address unless `from`)."""
    if not isinstance(spec, dict):
        raise invalid_params("expected a call object")
    agent = params.address(spec.get("to", spec.get("agent")), "to")
    entry = spec.get("entry")
    if not isinstance(entry, str):
        raise invalid_params("entry must be a label name")
    raw_args = spec.get("args", [])
    if not isinstance(raw_args, list):
        raise invalid_params("args must be a list")
    args = avm_value(raw_args, "args")
    assert isinstance(args, tuple)
    value = params.quantity(spec.get("value", 0), "value")
    if value > MAX_AMOUNT:
        raise invalid_params("value is larger than the largest amount")
    sender = bytes(ADDRESS_SIZE)
    if spec.get("from") is not None:
        sender = params.address(spec["from"], "from")
    return checked_call(Call(agent, entry, args, value)), sender


def checked_call(payload: Call) -> Call:
    """`payload` once it passes the checks a real transaction's Call gets (INVALID_PARAMS)."""
    try:
        Call.from_value(payload.to_value())
    except (InvalidTransaction, Trap) as exc:
        raise invalid_params(str(exc)) from None
    return payload


def widest(kind: TxKind, payload: Call | Deploy) -> SignedTx:
    """A transaction with the widest encodings of the fields other than the payload, so that
    an intrinsic gas estimate is never short."""
    tx = Transaction(MAX_U64, kind, bytes(32), MAX_U64, MAX_U64, MAX_AMOUNT, payload, bytes(64))
    raw = tx.encode()
    if len(raw) > MAX_TX_SIZE:
        raise invalid_params(f"the transaction would exceed {MAX_TX_SIZE} bytes")
    return SignedTx(tx, raw)


def dry_run_gas(node: Node, requested: object = DRY_RUN_GAS) -> int:
    """The gas of a dry run: what the caller asked for, within the block gas limit and the RPC
    gas cap."""
    gas = params.quantity(requested, "gas", MAX_U64)
    return min(gas, node.ledger.block_gas_limit(), RPC_GAS_CAP)


def dry_run(
    node: Node, payload: Call, sender: bytes, gas: int, trace: bool, at: int | None = None
) -> dict[str, object]:
    """Run a call on the state after block `at` (the head when None) as the block after it
    would, commit nothing; its result as JSON. Raises STATE_UNAVAILABLE for state this node
    does not keep."""
    intrinsic = intrinsic_gas(widest(TxKind.CALL, payload))
    if gas < intrinsic:
        raise invalid_params(f"gas {gas} is below the intrinsic gas {intrinsic}")
    head, reader = node.ledger.head_state() if at is None else params.state_at(node.ledger, at)
    state = State(reader)
    state.begin()
    try:
        outcome = agents.call(
            state,
            sender,
            payload,
            gas - intrinsic,
            head.height + 1,
            head.timestamp,
            trace,
            MAX_TRACE_ENTRIES,
        )
    except TraceTooLong as exc:
        raise _trace_too_long(exc) from None
    except ExecutionFailed as exc:
        if agents.load_agent(state, payload.agent) is None:
            raise not_found(f"agent {to_checksum_address(payload.agent)}") from None
        raise invalid_params(str(exc)) from None
    result = outcome.result
    view: dict[str, object] = {
        "ok": not outcome.error,
        "value": None if outcome.error else views.output_value(outcome.output),
        "output": views.hexbytes(outcome.output) if outcome.output else None,
        "gasUsed": views.hx(intrinsic + outcome.gas_used),
        "avmGasUsed": views.hx(outcome.gas_used),
        "trap": outcome.error or None,
        "logs": [_event(entry) for entry in outcome.logs],
        "blockNumber": views.hx(head.height),
    }
    if trace and result is not None and result.trace is not None:
        view["trace"] = [entry.to_json() for entry in result.trace]
        view["traceHash"] = views.hexbytes(trace_hash(result.trace))
    return view


@TABLE.method("aither_call")
async def call(node: Node, args: Params) -> dict[str, object]:
    """Run an agent call without a transaction (like eth_call).

    Object fields: `to` (agent address), `entry` (label), optional `args` (list), `value`,
    `from`, `gas` (ledger gas, default 50,000,000), `trace` (true to include the trace).
    """
    max_args(args, 1)
    spec = arg(args, 0, "call object")
    payload, sender = _call_payload(spec)
    assert isinstance(spec, dict)
    gas = dry_run_gas(node, spec.get("gas", DRY_RUN_GAS))
    trace = params.flag(spec.get("trace", False), "trace")
    return await run_expensive(dry_run, node, payload, sender, gas, trace)


async def estimate_agent_gas(node: Node, kind: str, spec: dict[str, object]) -> int:
    """Gas for a deploy (static) or a call (a dry run on the head state). Raises RpcError
    (CALL_FAILED) for a call that would trap."""
    if kind == "deploy":
        return deploy_gas(_deploy_payload(spec))
    call_payload, sender = _call_payload(spec)
    gas = dry_run_gas(node, RPC_GAS_CAP)
    result = await run_expensive(dry_run, node, call_payload, sender, gas, False)
    if not result["ok"]:
        raise RpcError(
            CALL_FAILED, f"execution would fail within the RPC gas cap {gas:,}: {result['trap']}"
        )
    return int(str(result["gasUsed"]), 16)


def deploy_gas(payload: Deploy) -> int:
    """A deploy's gas: it runs no code, so its payload fixes it."""
    stx = widest(TxKind.DEPLOY, payload)
    return intrinsic_gas(stx) + execution_gas(stx)


def checked_deploy(payload: Deploy) -> Deploy:
    """`payload` once it passes the checks a real transaction's Deploy gets (INVALID_PARAMS)."""
    try:
        return Deploy.from_value(payload.to_value())
    except InvalidTransaction as exc:
        raise invalid_params(str(exc)) from None


def _deploy_payload(spec: dict[str, object]) -> Deploy:
    code = params.data(spec.get("code"), "code", MAX_TX_SIZE)
    entries = spec.get("storage", [])
    if not isinstance(entries, list):
        raise invalid_params("storage must be a list of [key, value] 0x-hex pairs")
    storage = []
    for entry in entries:
        if not isinstance(entry, list) or len(entry) != 2:
            raise invalid_params("a storage entry is a [key, value] pair of 0x-hex")
        storage.append(
            (
                params.data(entry[0], "storage key", MAX_TX_SIZE),
                params.data(entry[1], "storage value", MAX_TX_SIZE),
            )
        )
    value = params.quantity(spec.get("value", 0), "value")
    return checked_deploy(Deploy(code, tuple(sorted(storage)), value))


# ---- agents, code, storage, lineage ------------------------------------------------------------


def _agent(node: Node, value: object) -> tuple[bytes, agents.AgentRecord]:
    address = params.address(value, "agent")
    record = node.ledger.agent(address)
    if record is None:
        raise not_found(f"agent {to_checksum_address(address)}")
    return address, record


@TABLE.method("aither_getAgent")
def get_agent(node: Node, args: Params) -> dict[str, object]:
    max_args(args, 1)
    address, record = _agent(node, arg(args, 0, "agent"))
    code = node.ledger.code(record.code_id)
    assert code is not None
    account = node.ledger.account(address)
    return {
        "address": to_checksum_address(address),
        "codeId": views.hexbytes(record.code_id),
        "deployer": to_checksum_address(record.deployer),
        "createdAt": views.hx(record.height),
        "balance": views.hx(account.balance),
        "nonce": views.hx(account.nonce),
        "lineageLength": record.lineage_length,
        "channel": record.channel,
        "entries": [lb.name for lb in code.labels if not lb.name.startswith("%")],
        "regions": [
            {"name": r.name, "policy": r.policy.value, "start": r.start, "end": r.end}
            for r in code.regions
        ],
        "tests": [t.name for t in code.tests],
        "opcodes": list(code.opcodes_used),
        "blockNumber": views.hx(node.ledger.height),
    }


@TABLE.method("aither_getCode")
def get_code(node: Node, args: Params) -> dict[str, object]:
    """An agent's current code (by address) or any deployed version (by code id), with its
    disassembly, which assembles back to the same code id."""
    max_args(args, 1)
    ref = arg(args, 0, "agent address or code id")
    if isinstance(ref, str) and len(ref) != 2 + 2 * ADDRESS_SIZE:  # a code id or its prefix
        code_id = full_id(node, Kind.CODE, ref, "code id")
    else:
        _, record = _agent(node, ref)
        code_id = record.code_id
    code = node.ledger.code(code_id)
    if code is None:
        raise not_found(f"code {views.hexbytes(code_id)}")
    return {
        "codeId": views.hexbytes(code_id),
        "code": views.hexbytes(code.to_bytes()),
        "size": len(code.to_bytes()),
        "instructions": len(code.instructions),
        "disassembly": disassemble(code),
    }


@TABLE.method("aither_getStorage")
def get_storage(node: Node, args: Params) -> dict[str, object]:
    """One entry of an agent's storage: a KV key (as KV_FETCH reads it), or with `raw` true a
    0x-hex key of the agent's flat storage."""
    max_args(args, 3)
    address, _ = _agent(node, arg(args, 0, "agent"))
    key_param = arg(args, 1, "key")
    if params.flag(arg(args, 2, "raw", False), "raw"):
        key = params.data(key_param, "key", MAX_STORAGE_KEY_HEX)
    else:
        key_value = avm_value(key_param, "key")
        try:
            key = kv_key(check_key(key_value))
        except Trap as exc:
            raise invalid_params(f"key: {exc.reason}") from None
    raw = node.ledger.agent_storage(address, key)
    value: object = None
    if raw is not None:
        try:
            value = to_python(from_wire(decode(raw)))
        except DecodeError:
            value = None  # AVM-internal entries (code checkpoints) are not encoded values
    return {
        "agent": to_checksum_address(address),
        "key": views.hexbytes(key),
        "value": value,
        "raw": None if raw is None else views.hexbytes(raw),
        "blockNumber": views.hx(node.ledger.height),
    }


@TABLE.method("aither_getSchedule")
def get_schedule(node: Node, args: Params) -> list[dict[str, object]]:
    """The tasks an agent scheduled (SCHEDULE_TASK), in name order: interval, next due time,
    the gas price its runs pay, and how the last run went (see ledger/schedule.py)."""
    max_args(args, 1)
    address, _ = _agent(node, arg(args, 0, "agent"))
    entries = node.ledger.state_page(schedule.TASK + address, None, MAX_TASKS_SHOWN)
    return [
        schedule.Task.from_value(address, name.decode(), decode(raw)).to_json()
        for name, raw in entries
    ]


@TABLE.method("aither_getScheduledRuns")
def get_scheduled_runs(node: Node, args: Params) -> list[dict[str, object]]:
    """`[block]`: the scheduled tasks run at the end of a block, in their order: agent, task,
    outcome, gas and the events of those that ended well."""
    max_args(args, 1)
    height = params.block_number(arg(args, 0, "block", "latest"), node.ledger.height)
    runs: list[dict[str, object]] = []
    for run in node.ledger.task_runs(height):
        agent, name, ok, gas_used, error, dropped, logs = fields(run, 7, "damaged task run")
        assert isinstance(agent, bytes) and isinstance(gas_used, int) and isinstance(logs, list)
        runs.append(
            {
                "agent": to_checksum_address(agent),
                "task": name,
                "ok": ok,
                "gasUsed": views.hx(gas_used),
                "error": error or None,
                "dropped": dropped,
                "logs": [_event(Log.from_value(entry)) for entry in logs],
            }
        )
    return runs


@TABLE.method("aither_getLineage")
def get_lineage(node: Node, args: Params) -> list[dict[str, object]]:
    """An agent's code changes, oldest (its deploy) first: a tree of code ids, each change
    naming its parents. A change the council enacted (kind "proposal") also carries
    `governance`: its proposal id, kind, enacted height, tally, votes with explanations, sandbox
    results and the gas of the tests before and after (see LineageView.to_json)."""
    max_args(args, 1)
    address, _ = _agent(node, arg(args, 0, "agent"))
    _, state, ledger_agents = node.ledger.governance_state()
    view = governance_views.get_lineage(state, address, ledger_agents).to_json()
    edges = view["edges"]
    assert isinstance(edges, list)
    entries: list[dict[str, object]] = []
    enacted = iter(edges)  # governance edges, in the order their lineage steps were appended
    for change in agents.load_lineage(state, address):
        entry: dict[str, object] = {
            "kind": change.kind.value,
            "codeId": views.hexbytes(change.code_id),
            "parents": [views.hexbytes(p) for p in change.parents],
            "region": change.region,
            "parentAgents": [to_checksum_address(a) for a in change.parent_agents],
        }
        if change.kind is LineageKind.PROPOSAL:
            edge = next(enacted, None)
            if edge is not None and edge["to"] == entry["codeId"]:
                entry["governance"] = edge
        entries.append(entry)
    return entries


# ---- traces ------------------------------------------------------------------------------------


def trace_transaction(node: Node, tx_hash: bytes) -> dict[str, object]:
    found = node.ledger.transaction(tx_hash)
    if found is None:
        raise not_found(f"transaction {views.hexbytes(tx_hash)}")
    stx, _ = found
    receipt = node.ledger.receipt(tx_hash)
    assert receipt is not None
    payload = stx.tx.payload
    view: dict[str, object] = {
        "transactionHash": views.hexbytes(tx_hash),
        "kind": stx.tx.kind.name.lower(),
        "status": views.hx(receipt.status),
        "gasUsed": views.hx(receipt.gas_used),
        "error": receipt.error or None,
    }
    if isinstance(payload, Deploy):
        address = agents.agent_address(stx.sender, stx.tx.nonce)
        view.update(agent=to_checksum_address(address), trace=[])  # a deploy runs no code
        return view
    if not isinstance(payload, Call):
        raise invalid_params(f"transaction {views.hexbytes(tx_hash)} is not an agent call")
    view.update(agent=to_checksum_address(payload.agent), entry=payload.entry)
    view.update(args=to_python(payload.args))
    record = node.ledger.replay_record(tx_hash)
    if record is None:
        view.update(trace=[], value=None)  # it failed before the agent ran (no agent, no value)
        return view
    try:
        replayed = agents.replay(record, node.ledger, MAX_TRACE_ENTRIES)
    except TraceTooLong as exc:
        raise _trace_too_long(exc) from None
    intrinsic = receipt.gas_used - replayed.result.gas_used
    if intrinsic != intrinsic_gas(stx):
        raise RpcError(-32603, "internal error: the replayed call used different gas")
    result = replayed.result
    view.update(
        value=None if result.trap else to_python(result.value),
        avmGasUsed=views.hx(result.gas_used),
        trap=None if result.trap is None else str(result.trap),
        logs=[_event(entry) for entry in replayed.logs],
        trace=[entry.to_json() for entry in replayed.trace],
        traceHash=views.hexbytes(trace_hash(replayed.trace)),
    )
    return view


@TABLE.method("aither_traceTransaction")
async def get_trace(node: Node, args: Params) -> dict[str, object]:
    """The AVM trace of an agent call, one entry per instruction (pc, opcode, gas in milligas,
    inputs, outputs), recomputed from the call's replay record (see ledger/agents.py)."""
    max_args(args, 1)
    tx_hash = full_id(node, Kind.TRANSACTION, arg(args, 0, "transaction hash"), "hash")
    return await run_expensive(trace_transaction, node, tx_hash)


def _trace_too_long(exc: TraceTooLong) -> RpcError:
    return RpcError(
        LIMIT_EXCEEDED,
        f"{exc}: trace a call with less gas, or run it without a trace",
    )
