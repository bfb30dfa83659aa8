"""Running an agent locally against a node, replaying a trace file, and running due tasks.

`run_agent`: load the agent's storage, read the chain's head, run the program with recording
plugins on a LocalHost, and when the call ends well send its on-chain effects as signed
transactions (each awaited to its receipt) and only then save its storage, its code if it
rewrote itself, and the tasks it scheduled. `replay` runs a trace file's program again from what
the file recorded, calling no plugin and no node, and checks the trace hash and the effects.
`run_due` runs an agent's scheduled tasks that are due.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from agent.effects import Effect
from agent.errors import ChainEffectError
from agent.host import LocalHost, RunSettings
from agent.nodelink import LiveNode, RecordedNode
from agent.record import RecordingPlugins, ReplayingPlugins
from agent.schedule import Schedule, advanced, due, merged
from agent.state import AgentState
from agent.tracefile import TraceFile
from agent.transactions import Receipt, SentTransaction, send_effects
from avm.code import CodeObject
from avm.host import Plugins
from avm.interpreter import Result, execute
from avm.memory_host import World
from avm.trace import trace_hash
from avm.values import Value
from core.crypto import SigningKey
from wallet.client import RpcClient


@dataclass(frozen=True, slots=True)
class RunReport:
    result: Result
    trace: TraceFile
    effects: tuple[Effect, ...]  # what the run asked of the chain, in order
    sent: tuple[SentTransaction, ...]  # their transactions, as far as they were sent
    events: tuple[tuple[str, bytes], ...]  # (topic, data) the agent emitted, in order
    new_code: CodeObject | None = None  # what the agent rewrote itself into, if it did
    failure: str | None = None  # why sending stopped: the run's state was not saved
    swarm_note: str | None = None  # why swarm messages stayed local events, if they did

    @property
    def ok(self) -> bool:
        return self.result.ok and self.failure is None


def chain_head(client: RpcClient) -> tuple[int, int]:
    """(height, timestamp) of the node's latest block: the run's block context."""
    block = client.call("eth_getBlockByNumber", "latest", False)
    if not isinstance(block, dict):
        raise ChainEffectError("the node has no latest block")
    return int(str(block["number"]), 16), int(str(block["timestamp"]), 16)


def chain_time(client: RpcClient) -> int:
    """Now, as scheduled tasks count it: the wall clock, or the head block's timestamp when
    that is later (a dev chain's clock moved forward with `aither dev time`)."""
    return max(int(time.time()), chain_head(client)[1])


def _execute(
    code: CodeObject,
    host: LocalHost,
    entry: str | None,
    args: tuple[Value, ...],
    gas_limit: int,
) -> Result:
    host.install(host.address, code)
    host.world.journal.clear()  # the install is not part of the call
    return execute(code, host, entry, args, gas_limit, trace=True)


def _world(storage: dict[bytes, bytes], agent: bytes, time: int, height: int) -> World:
    world = World(time=time, height=height)
    if storage:
        world.storage[agent] = dict(storage)
    return world


def run_agent(
    code: CodeObject,
    key: SigningKey,
    client: RpcClient,
    plugins: Plugins,
    state: AgentState,
    entry: str | None = None,
    args: tuple[Value, ...] = (),
    gas_limit: int = 10_000_000,
    settings: RunSettings | None = None,
) -> RunReport:
    """Run `code` as the agent of `key`. A transaction the node refuses or the chain fails is
    reported in `failure` (storage is then left as it was before the run). Raises
    RpcClientError if the node cannot be reached, RuntimeConfigError for damaged state."""
    settings = settings or RunSettings()
    agent = key.address
    before = state.load()
    height, time = chain_head(client)
    recorder = RecordingPlugins(plugins)
    node = LiveNode(client)
    host = LocalHost(_world(before, agent, time, height), agent, agent, recorder, node, settings)
    result = _execute(code, host, entry, args, gas_limit)
    assert result.trace is not None
    effects = list(host.effects)  # a trap has rolled its effects back with the rest
    sent, failure = send_effects(client, key, effects) if effects else ([], None)
    rewritten = host.code_of(agent)
    new_code = rewritten if rewritten is not None and rewritten.code_id != code.code_id else None
    if result.ok and failure is None:
        state.save(host.storage_items(agent))
        if new_code is not None:
            state.save_code(new_code.to_bytes())
        if host.schedules:
            state.save_schedules(merged(state.load_schedules(), host.schedules))
    trace = TraceFile(
        code=code,
        entry=entry,
        args=args,
        gas_limit=gas_limit,
        agent=agent,
        caller=agent,
        time=time,
        height=height,
        settings=settings,
        storage=tuple(sorted(before.items())),
        calls=tuple(recorder.calls),
        node=tuple(node.exchanges),
        trace_hash=trace_hash(result.trace),
        effects=tuple(e.to_json() for e in effects),
        receipts=tuple(s.receipt for s in sent),
        schedules=tuple(host.schedules),
        trace=tuple(e.to_json() for e in result.trace),
    )
    events = tuple((topic, data) for who, topic, data in host.world.events if who == agent)
    return RunReport(
        result,
        trace,
        tuple(effects),
        tuple(sent),
        events,
        new_code if result.ok else None,
        failure,
        host.swarm.local_reason,
    )


@dataclass(frozen=True, slots=True)
class ReplayReport:
    result: Result
    trace_hash: bytes
    expected: bytes
    unused_calls: int  # recorded plugin results and node answers the replay never asked for
    effects_match: bool  # the replay made the effects the run recorded, in order
    schedules_match: bool
    receipts: tuple[Receipt, ...]  # what the chain did with them, as recorded

    @property
    def matches(self) -> bool:
        return (
            self.trace_hash == self.expected
            and self.unused_calls == 0
            and self.effects_match
            and self.schedules_match
        )


def _as_json(value: object) -> object:
    return json.loads(json.dumps(value))


def replay(trace: TraceFile) -> ReplayReport:
    """Run a trace file's program again with its recorded inputs; no plugin, no node.

    Raises TraceFileError when the run asks the node something the file did not record.
    """
    plugins = ReplayingPlugins(list(trace.calls))
    node = RecordedNode(trace.node)
    world = _world(dict(trace.storage), trace.agent, trace.time, trace.height)
    host = LocalHost(world, trace.agent, trace.caller, plugins, node, trace.settings)
    result = _execute(trace.code, host, trace.entry, trace.args, trace.gas_limit)
    assert result.trace is not None
    unused = len(plugins.calls) - plugins.position + node.unused
    effects = _as_json([e.to_json() for e in host.effects])
    return ReplayReport(
        result,
        trace_hash(result.trace),
        trace.trace_hash,
        unused,
        effects == _as_json(list(trace.effects)),
        list(host.schedules) == list(trace.schedules),
        trace.receipts,
    )


def run_due(
    code: CodeObject,
    key: SigningKey,
    client: RpcClient,
    plugins: Plugins,
    state: AgentState,
    now: int,
    args: tuple[Value, ...] = (),
    gas_limit: int = 10_000_000,
    settings: RunSettings | None = None,
) -> list[tuple[Schedule, RunReport]]:
    """Run each of the agent's tasks due at `now` (unix seconds) once, earliest first, with
    `args`, and move each to its next due time (unless its own run rescheduled or cancelled
    it)."""
    ran = []
    for task in due(state.load_schedules(), now):
        report = run_agent(code, key, client, plugins, state, task.task, args, gas_limit, settings)
        ran.append((task, report))
        current = state.load_schedules()
        if task in current:  # its run did not register it anew
            state.save_schedules([advanced(s, now) if s == task else s for s in current])
    return ran
