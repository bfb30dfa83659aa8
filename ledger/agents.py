"""Agents on chain: their state entries, the deterministic chain host, deploy and call.

An agent is an account (its coins live in the ACCOUNT table) plus code and storage, all of it
state entries under the tables that ledger/state.py documents: code objects by code id (every
version stays readable), an agent record, flat per-agent storage and the lineage of code changes
(proposals to change a `council` region are governance's, in ledger/governance/). The state
root therefore commits to every agent.

`ChainHost` is the AVM's `Host` over a ledger `State`: time and height come from the block, the
caller is the transaction's sender (no opcode calls another agent yet), and every state change an
AVM call makes sits in a nested journal of the State so a trap undoes exactly that call.

Traces. geth answers `debug_traceTransaction` by re-executing the transaction on archive state;
this ledger keeps only the head state, so it stores what a re-execution needs: each call's
*replay record* (block time and height, caller, agent, entry, args, gas, and the value before the
call of every state entry the call read or wrote, except code objects, which are kept forever by
id), written in the block's batch outside the state. `replay` runs the call again on exactly
those entries with tracing on; the AVM is deterministic, so it gives the trace of the original
execution, and blocks are executed untraced, on the fast path. A record is as large as the state
the call touched, whereas a stored trace grows with every instruction executed.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass

from avm.code import CodeObject
from avm.errors import (
    CallRefused,
    HostUnavailable,
    NotDeployable,
    PermissionDenied,
    TraceTooLong,
)
from avm.host import CodeChange, CodeProposal, LineageKind, refuse_call
from avm.interpreter import Result, execute
from avm.trace import TraceEntry
from avm.validation import check_deployable, decode_code
from avm.values import Value as AvmValue
from avm.values import encode_value, from_wire
from core.amounts import MAX_AMOUNT, NATIVE_SYMBOL
from core.crypto import ADDRESS_SIZE, HASH_SIZE, hash32
from core.encoding import Value, decode, encode
from core.errors import AitherError, DecodeError, ExecutionFailed, TransactionRejected
from core.schema import MAX_U64, fields, sized_bytes, text, uint
from ledger import roles, schedule
from ledger.chain_params import avm_version, gas_schedule, gas_schedule_of
from ledger.governance.errors import GovernanceError
from ledger.governance.transition import GovernanceContext, submit_agent_proposal
from ledger.receipt import Log
from ledger.state import (
    ACCOUNT,
    AGENT,
    CODE,
    LINEAGE,
    STORAGE,
    TOKEN,
    TOKEN_BALANCE,
    Account,
    State,
    StateReader,
    Store,
    decode_account,
    encode_account,
    move,
)
from ledger.tx import Call, Deploy

# The AVM's names for the native coin; any other token name is a ledger token symbol.
NATIVE_NAMES = frozenset({NATIVE_SYMBOL, "AVM_CREDITS"})
REPLAY_VERSION = 2  # 2 adds the gas schedule's version (a version 1 record ran under V1)
_CODE_CACHE_SIZE = 256


def agent_address(deployer: bytes, nonce: int) -> bytes:
    """The address of the agent that `deployer` creates with its `nonce`-th transaction (or, for
    an agent deploying a child, with its account nonce)."""
    return hash32(b"agent" + deployer + nonce.to_bytes(8, "big"))[-ADDRESS_SIZE:]


@dataclass(frozen=True, slots=True)
class AgentRecord:
    code_id: bytes  # the code the agent runs now
    deployer: bytes  # the account or agent that created it
    height: int  # the block it was created in
    lineage_length: int
    channel: str | None  # the swarm channel it joined at creation (FORK_AGENT), if any

    def encode(self) -> bytes:
        return encode([self.code_id, self.deployer, self.height, self.lineage_length, self.channel])

    @classmethod
    def decode(cls, raw: bytes) -> AgentRecord:
        code_id, deployer, height, length, channel = fields(decode(raw), 5, "agent record")
        damaged = "damaged agent record"
        return cls(
            sized_bytes(code_id, HASH_SIZE, damaged),
            sized_bytes(deployer, ADDRESS_SIZE, damaged),
            uint(height, MAX_U64, damaged),
            uint(length, MAX_U64, damaged),
            None if channel is None else text(channel, 1024, damaged),
        )


# ---- the agent tables --------------------------------------------------------------------------

_codes: OrderedDict[bytes, CodeObject] = OrderedDict()


def load_code(store: Store, code_id: bytes) -> CodeObject | None:
    """A code version by id, if this state holds it. Decoded objects are cached by id: a code
    id names one immutable object, and the state is still asked whether it holds it."""
    raw = store.get(CODE + code_id)
    if raw is None:
        return None
    code = _codes.get(code_id)
    if code is None:
        code = decode_code(raw)
        _codes[code_id] = code
        if len(_codes) > _CODE_CACHE_SIZE:
            _codes.popitem(last=False)
    return code


def store_code(store: Store, code: CodeObject) -> None:
    if store.get(CODE + code.code_id) is None:
        store.put(CODE + code.code_id, code.to_bytes())


def load_agent(store: Store, address: bytes) -> AgentRecord | None:
    raw = store.get(AGENT + address)
    return None if raw is None else AgentRecord.decode(raw)


def load_lineage(store: Store, address: bytes) -> tuple[CodeChange, ...]:
    record = load_agent(store, address)
    if record is None:
        return ()
    return tuple(
        _change_from_wire(decode(_required(store.get(_lineage_key(address, i)))))
        for i in range(record.lineage_length)
    )


def append_lineage(store: Store, address: bytes, code: CodeObject, change: CodeChange) -> None:
    """Point the agent at `code` and record `change` as the newest step of its lineage."""
    record = load_agent(store, address)
    assert record is not None, "lineage of an agent that does not exist"
    store_code(store, code)
    store.put(_lineage_key(address, record.lineage_length), encode(change.to_wire()))
    updated = AgentRecord(
        code.code_id, record.deployer, record.height, record.lineage_length + 1, record.channel
    )
    store.put(AGENT + address, updated.encode())


def create_agent(
    store: Store,
    address: bytes,
    code: CodeObject,
    change: CodeChange,
    deployer: bytes,
    height: int,
    channel: str | None = None,
) -> None:
    """Write a new agent's record, code and first lineage step. Raises ExecutionFailed if the
    address already holds an agent."""
    if store.get(AGENT + address) is not None:
        raise ExecutionFailed(f"an agent already exists at 0x{address.hex()}")
    store.put(AGENT + address, AgentRecord(code.code_id, deployer, height, 0, channel).encode())
    append_lineage(store, address, code, change)


class LedgerAgents:
    """The agent tables as governance sees them (`governance.AgentCode`), over any store."""

    __slots__ = ("_store",)

    def __init__(self, store: Store) -> None:
        self._store = store

    def code_of(self, agent: bytes) -> CodeObject | None:
        record = load_agent(self._store, agent)
        return None if record is None else load_code(self._store, record.code_id)

    def code_by_id(self, code_id: bytes) -> CodeObject | None:
        return load_code(self._store, code_id)

    def set_code(self, agent: bytes, code: CodeObject, change: CodeChange) -> None:
        append_lineage(self._store, agent, code, change)


def storage_key(agent: bytes, key: bytes) -> bytes:
    return STORAGE + agent + key


def _lineage_key(address: bytes, index: int) -> bytes:
    return LINEAGE + address + index.to_bytes(4, "big")


def _change_from_wire(value: Value) -> CodeChange:
    if not isinstance(value, list) or len(value) != 6:
        raise DecodeError("a lineage entry is a list of 6 fields")
    kind, agent, code_id, parents, region, parent_agents = value
    if not (
        isinstance(kind, str)
        and isinstance(agent, bytes)
        and isinstance(code_id, bytes)
        and isinstance(parents, list)
        and (region is None or isinstance(region, str))
        and isinstance(parent_agents, list)
    ):
        raise DecodeError("a lineage entry field has the wrong type")
    return CodeChange(
        LineageKind(kind),
        agent,
        code_id,
        tuple(p for p in parents if isinstance(p, bytes)),
        region,
        tuple(a for a in parent_agents if isinstance(a, bytes)),
    )


def _required(raw: bytes | None) -> bytes:
    if raw is None:
        raise DecodeError("an agent's lineage entry is missing")
    return raw


# ---- the chain host ----------------------------------------------------------------------------


class _Call:
    """The execution one host serves: state, block context, witness, events."""

    __slots__ = ("events", "gas_price", "height", "marks", "state", "timestamp", "witness")

    def __init__(
        self,
        state: State,
        height: int,
        timestamp: int,
        witness: dict[bytes, bytes | None] | None,
        gas_price: int = 0,
    ) -> None:
        self.state = state
        self.height = height
        self.timestamp = timestamp
        self.gas_price = gas_price  # the transaction's: what scheduled runs of its tasks pay
        self.witness = witness  # key -> value before the call, for the replay record
        self.events: list[Log] = []
        self.marks: dict[int, int] = {}  # checkpoint -> number of events when it was taken


class ChainHost:
    """The deterministic AVM host over a ledger State, seen from one agent.

    Nothing here reads a clock, a random source or the order of a set: time and height come from
    the block, and every answer is a function of the state entries.
    """

    deterministic = True

    def __init__(
        self,
        state: State,
        address: bytes,
        caller: bytes,
        height: int,
        timestamp: int,
        witness: dict[bytes, bytes | None] | None = None,
        gas_price: int = 0,
    ) -> None:
        self._call = _Call(state, height, timestamp, witness, gas_price)
        self.address = address
        self.caller_address = caller
        self.stack: tuple[bytes, ...] = (address,)  # the agents of this call, outermost first
        self.readonly = False  # in a STATIC_CALL_AGENT: every write traps

    @property
    def events(self) -> tuple[Log, ...]:
        return tuple(self._call.events)

    # state access: every first touch of an entry is recorded for the replay record
    def get(self, key: bytes) -> bytes | None:
        call = self._call
        value = call.state.get(key)
        witness = call.witness
        if witness is not None and key not in witness and key[:1] != CODE:
            witness[key] = value
        return value

    def put(self, key: bytes, value: bytes | None) -> None:
        if self.readonly:
            raise PermissionDenied("a read-only call (STATIC_CALL_AGENT) may not write")
        call = self._call
        witness = call.witness
        if witness is not None and key not in witness and key[:1] != CODE:
            witness[key] = call.state.get(key)
        call.state.put(key, value)

    # SCHEDULE_TASK: the chain runs the task at each due block's end (ledger/scheduler.py)
    def schedule_task(self, task: str, interval: int) -> None:
        call = self._call
        schedule.register(self, self.address, task, interval, call.timestamp, call.gas_price)

    # calls of other agents (CALL_AGENT): frames over the same execution
    def enter_agent(self, agent: bytes, value: int, readonly: bool) -> tuple[ChainHost, CodeObject]:
        readonly = readonly or self.readonly
        refuse_call(self.stack, agent, value, readonly)
        record = load_agent(self, agent)
        if record is None:
            raise CallRefused(f"no agent at 0x{agent.hex()}")
        if value and not self.transfer(agent, value, NATIVE_SYMBOL):
            raise CallRefused(f"0x{self.address.hex()} cannot pay {value} to the callee")
        code = load_code(self, record.code_id)
        assert code is not None, "an agent record names code the state does not hold"
        callee = copy.copy(self)  # the same execution (_call), seen from the callee
        callee.address, callee.caller_address = agent, self.address
        callee.stack, callee.readonly = (*self.stack, agent), readonly
        return callee, code

    # context
    def self_address(self) -> bytes:
        return self.address

    def caller(self) -> bytes:
        return self.caller_address

    def block_time(self) -> int:
        return self._call.timestamp

    def block_height(self) -> int:
        return self._call.height

    # journal
    def checkpoint(self) -> int:
        call = self._call
        checkpoint = call.state.checkpoint()
        call.marks[checkpoint] = len(call.events)
        return checkpoint

    def commit(self, checkpoint: int) -> None:
        self._call.state.commit(checkpoint)

    def rollback(self, checkpoint: int) -> None:
        call = self._call
        call.state.rollback(checkpoint)
        del call.events[call.marks.pop(checkpoint, len(call.events)) :]

    # storage
    def storage_get(self, key: bytes) -> bytes | None:
        return self.get(STORAGE + self.address + key)

    def storage_put(self, key: bytes, value: bytes) -> None:
        self.put(STORAGE + self.address + key, value)

    def storage_delete(self, key: bytes) -> bool:
        full = STORAGE + self.address + key
        if self.get(full) is None:
            return False
        self.put(full, None)
        return True

    # balances and payments
    def balance(self, address: bytes, token: str) -> int:
        if token in NATIVE_NAMES:
            return self._account(address).balance
        raw = self.get(TOKEN_BALANCE + address + token.encode())
        if raw is None:
            return 0
        units = decode(raw)
        assert isinstance(units, int), "a token balance entry is an integer"
        return units

    def transfer(self, to: bytes, amount: int, token: str) -> bool:
        if token in NATIVE_NAMES:
            moved = self._move_native(to, amount)
            symbol = ""
        else:
            moved = self._move_token(to, amount, token)
            symbol = token
        if moved:
            self._call.events.append(Log("Transfer", (self.address, to, amount, symbol)))
        return moved

    def _account(self, address: bytes) -> Account:
        raw = self.get(ACCOUNT + address)
        return Account() if raw is None else decode_account(raw)

    def _move_native(self, to: bytes, amount: int) -> bool:
        try:
            move(self, self.address, to, amount)
        except ExecutionFailed:
            return False  # PAY_AGENT's flag: the program decides what a refused payment means
        return True

    def _move_token(self, to: bytes, amount: int, token: str) -> bool:
        name = token.encode()
        if self.get(TOKEN + name) is None:
            return False  # an unknown token: nobody holds any
        have = self.balance(self.address, token)
        if amount > have:
            return False
        if to == self.address:
            return True
        received = self.balance(to, token) + amount
        if received > MAX_AMOUNT:
            return False
        self.put(TOKEN_BALANCE + self.address + name, encode(have - amount))
        self.put(TOKEN_BALANCE + to + name, encode(received))
        return True

    # events
    def emit(self, topic: str, data: bytes) -> None:
        if self.readonly:
            raise PermissionDenied("a read-only call (STATIC_CALL_AGENT) may not emit events")
        self._call.events.append(Log(topic, (self.address, data)))

    # permissions: roles granted on chain (ledger/roles.py)
    def has_permission(self, role: str, action: str) -> bool:
        """CHECK_PERMISSIONS: a role granted to this agent that permits the action (roles.py)."""
        return roles.permits(self, self.address, role, action)

    def security_check(self, obj: bytes) -> bool:
        """SECURITY_CHECK: the agent's policy (roles.py) on its caller and, when the object is
        an amount, on this period's spending."""
        try:
            value = from_wire(decode(obj))
        except DecodeError:
            value = None
        amount = value if type(value) is int else None
        return roles.check(self, self.address, self.caller_address, amount, self._call.timestamp)

    # code
    def code_of(self, address: bytes) -> CodeObject | None:
        record = load_agent(self, address)
        return None if record is None else load_code(self, record.code_id)

    def code_by_id(self, code_id: bytes) -> CodeObject | None:
        return load_code(self, code_id)

    def set_code(self, code: CodeObject, change: CodeChange) -> None:
        append_lineage(self, self.address, code, change)

    def lineage(self, address: bytes) -> tuple[CodeChange, ...]:
        return load_lineage(self, address)

    def propose_code_change(self, proposal: CodeProposal) -> bytes:
        """SELF_MODIFY on a `council` region: file a governance proposal on the agent's behalf
        (the agent pays the minimum deposit). A refusal traps with its reason."""
        ctx = GovernanceContext(self._call.height, LedgerAgents(self))
        try:
            proposal_id = submit_agent_proposal(self, ctx, proposal)
        except GovernanceError as exc:
            raise PermissionDenied(f"the proposal is refused: {exc}") from None
        log = Log("ProposalSubmitted", (proposal_id, self.address, "code", self.address))
        self._call.events.append(log)
        return proposal_id

    def deploy_agent(self, code: CodeObject, change: CodeChange, channel: str | None) -> bytes:
        """A child of the running agent (FORK_AGENT, CROSSOVER), addressed by the running
        agent's account nonce, which it advances."""
        try:
            check_deployable(code)
        except NotDeployable as exc:
            raise PermissionDenied(f"child is not deployable: {exc}") from None
        parent = self._account(self.address)
        address = agent_address(self.address, parent.nonce)
        self.put(ACCOUNT + self.address, encode_account(Account(parent.nonce + 1, parent.balance)))
        if load_agent(self, address) is not None:
            raise PermissionDenied(f"an agent already exists at 0x{address.hex()}")
        child = CodeChange(
            change.kind, address, code.code_id, change.parents, change.region, change.parent_agents
        )
        create_agent(self, address, code, child, self.address, self._call.height, channel)
        self._call.events.append(Log("AgentDeployed", (address, code.code_id, self.address)))
        return address

    # the non-deterministic opcodes are never served on chain
    def external(self, opcode: str, args: tuple[AvmValue, ...]) -> AvmValue:
        raise HostUnavailable(f"{opcode} is not deterministic: the chain host does not serve it")


# ---- deploy and call ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an agent transaction did. `error` is empty on success; on failure the transition
    rolls the transaction's writes back (the fee is still paid)."""

    gas_used: int  # beyond the intrinsic and static gas
    logs: tuple[Log, ...] = ()
    output: bytes = b""
    error: str = ""
    replay: bytes | None = None  # the call's replay record (see the module docstring)
    result: Result | None = None


def check_deploy_version(store: Store, payload: Deploy) -> None:
    """Code for an AVM version the chain has not enacted is never included (nor admitted): a
    node whose software lacks that version could not even decode it. Raises
    TransactionRejected."""
    enacted = avm_version(store)
    if payload.avm_version > enacted:
        raise TransactionRejected(
            f"the code is for AVM version {payload.avm_version}; this chain runs version "
            f"{enacted} (a passed `avm` proposal enables a newer one)"
        )


def deploy(state: State, deployer: bytes, nonce: int, payload: Deploy, height: int) -> Outcome:
    """Create the agent of a deploy transaction over an open journal of `state`.

    Raises ExecutionFailed for code that uses non-deterministic opcodes (naming them and their
    pcs) or when the deployer cannot pay the value.
    """
    code = decode_code(payload.code)  # checked at admission; cannot fail here
    try:
        check_deployable(code)
    except NotDeployable as exc:
        raise ExecutionFailed(f"not deployable: {exc}") from None
    address = agent_address(deployer, nonce)
    change = CodeChange(LineageKind.DEPLOY, address, code.code_id, ())
    create_agent(state, address, code, change, deployer, height)
    for key, value in payload.storage:
        state.put(storage_key(address, key), value)
    move(state, deployer, address, payload.value)
    log = Log("AgentDeployed", (address, code.code_id, deployer))
    return Outcome(0, (log,), encode_value(address))


def call(
    state: State,
    caller: bytes,
    payload: Call,
    gas: int,
    height: int,
    timestamp: int,
    trace: bool = False,
    trace_limit: int | None = None,
    gas_price: int = 0,
) -> Outcome:
    """Run an agent call over an open journal of `state` with `gas` milligas for the AVM.
    `gas_price` is the transaction's (tasks the call schedules pay it for their runs).

    Raises ExecutionFailed before the AVM runs (no agent, value not payable), TraceTooLong when
    a traced run passes `trace_limit` instructions. A trap is an Outcome with an error, its state
    changes already rolled back by the AVM.
    """
    witness: dict[bytes, bytes | None] = {}
    schedule = gas_schedule(state)  # not a read of the call's: the record names its version
    host = ChainHost(state, payload.agent, caller, height, timestamp, witness, gas_price)
    record = load_agent(host, payload.agent)  # unchanged by the payment: safe to record first
    if record is None:
        raise ExecutionFailed(f"no agent at 0x{payload.agent.hex()}")
    move(state, caller, payload.agent, payload.value)  # before the call: not in the witness
    code = load_code(host, record.code_id)
    assert code is not None, "an agent record names code the state does not hold"
    try:
        result = execute(
            code, host, payload.entry, payload.args, gas, trace, schedule, trace_limit=trace_limit
        )
    except TraceTooLong:
        raise  # the tracer's limit (dry runs over RPC), not the call's fault
    except AitherError as exc:
        # A defect of the AVM, raised the same way on every node: the call fails, all gas used.
        return Outcome(gas, error=f"agent error: {exc}")
    replay = _replay_record(caller, payload, gas, height, timestamp, witness, schedule.version)
    if result.trap is not None:
        return Outcome(result.gas_used, error=str(result.trap), replay=replay, result=result)
    output = encode_value(result.value)
    return Outcome(result.gas_used, host.events, output, replay=replay, result=result)


# ---- replay records ----------------------------------------------------------------------------


def _replay_record(
    caller: bytes,
    payload: Call,
    gas: int,
    height: int,
    timestamp: int,
    witness: dict[bytes, bytes | None],
    schedule_version: int,
) -> bytes:
    entries: list[Value] = [[key, witness[key]] for key in sorted(witness)]
    args = payload.to_value()[2]  # the call's arguments in wire form
    call: list[Value] = [caller, payload.agent, payload.entry, args, gas]
    return encode([REPLAY_VERSION, height, timestamp, *call, entries, schedule_version])


class ReplayError(AitherError):
    """A replay record that does not reproduce its call (a defect, or a damaged record)."""


@dataclass(frozen=True, slots=True)
class Replay:
    caller: bytes
    agent: bytes
    entry: str
    args: tuple[AvmValue, ...]
    gas: int
    result: Result
    logs: tuple[Log, ...]

    @property
    def trace(self) -> tuple[TraceEntry, ...]:
        return self.result.trace or ()


class _WitnessReader:
    """Committed state as a replay sees it: the recorded entries, and code objects by id."""

    def __init__(self, entries: dict[bytes, bytes | None], codes: StateReader) -> None:
        self.entries = entries
        self.codes = codes

    def get_state(self, key: bytes) -> bytes | None:
        if key[:1] == CODE:
            return self.codes.get_state(key)
        if key not in self.entries:
            raise ReplayError(f"the replay read an entry the call never touched: {key.hex()}")
        return self.entries[key]


def replay(record: bytes, codes: StateReader, trace_limit: int | None = None) -> Replay:
    """Run a recorded call again with tracing on. `codes` serves code objects (the head state
    holds every version). Raises ReplayError or DecodeError for a record that does not replay,
    TraceTooLong when the trace would pass `trace_limit` instructions."""
    fields = decode(record)
    if not isinstance(fields, list) or (fields[:1], len(fields)) not in (([1], 9), ([2], 10)):
        raise DecodeError("not a replay record")
    _, height, timestamp, caller, agent, entry, args, gas, entries, *version = fields
    ran_under = version[0] if version else 1
    if type(ran_under) is not int:
        raise DecodeError("a replay record's gas schedule version is an integer")
    schedule = gas_schedule_of(State(codes), ran_under)
    if schedule is None:
        raise ReplayError(f"the call ran under gas schedule {ran_under}, which the chain lacks")
    if not (
        isinstance(height, int)
        and isinstance(timestamp, int)
        and isinstance(caller, bytes)
        and isinstance(agent, bytes)
        and isinstance(entry, str)
        and isinstance(gas, int)
        and isinstance(entries, list)
    ):
        raise DecodeError("a replay record field has the wrong type")
    witness: dict[bytes, bytes | None] = {}
    for pair in entries:
        match pair:
            case [bytes() as key, bytes() | None as value]:
                witness[key] = value
            case [bytes(), _]:
                raise DecodeError("a replay record value is bytes or null")
            case _:
                raise DecodeError("a replay record entry is [key, value]")
    arguments = from_wire(args)
    if not isinstance(arguments, tuple):
        raise DecodeError("replay record arguments are not a list")
    state = State(_WitnessReader(witness, codes))
    state.begin()
    host = ChainHost(state, agent, caller, height, timestamp)
    code = host.code_of(agent)
    if code is None:
        raise ReplayError("the recorded agent has no code")
    result = execute(code, host, entry, arguments, gas, True, schedule, trace_limit=trace_limit)
    return Replay(caller, agent, entry, arguments, gas, result, host.events)
