"""Running an agent locally against a node, and replaying a trace file.

`run_agent`: load the agent's storage, read the chain's head, run the program with recording
plugins on a LocalHost, and when the call ends well send its payments as signed transfers (each
awaited to its receipt) and only then save its storage (and its code, if it rewrote itself).
`replay` runs a trace file's program again from what the file recorded, calling no plugin and
no node, and checks the trace hash.
"""

from __future__ import annotations

from dataclasses import dataclass

from avm.code import CodeObject
from avm.host import Plugins, World
from avm.interpreter import Result, execute
from avm.runtime.errors import ChainEffectError, TraceFileError
from avm.runtime.host import LocalHost, Payment
from avm.runtime.record import RecordingPlugins, ReplayingPlugins
from avm.runtime.state import AgentState
from avm.runtime.tracefile import TraceFile
from avm.trace import trace_hash
from avm.values import Value
from ledger.crypto import SigningKey, to_checksum_address
from wallet.client import RpcClient
from wallet.txbuilder import build_transfer

RECEIPT_TIMEOUT_SEC = 60.0


@dataclass(frozen=True, slots=True)
class SentTransaction:
    payment: Payment
    tx_hash: str
    block: int
    gas_used: int


@dataclass(frozen=True, slots=True)
class RunReport:
    result: Result
    trace: TraceFile
    transactions: tuple[SentTransaction, ...]
    events: tuple[tuple[str, bytes], ...]  # (topic, data) the agent emitted, in order
    new_code: CodeObject | None = None  # what the agent rewrote itself into, if it did


class NodeBalances:
    """Balances read from an Aither node over JSON-RPC."""

    def __init__(self, client: RpcClient) -> None:
        self.client = client

    def balance(self, address: bytes, token: str) -> int:
        return int(
            str(self.client.call("aither_getBalance", to_checksum_address(address), token)), 16
        )


class RecordedBalances:
    """The balances a trace file recorded; a read it did not record means the run diverged."""

    def __init__(self, reads: tuple[tuple[bytes, str, int], ...]) -> None:
        self.reads = {(a, t): n for a, t, n in reads}

    def balance(self, address: bytes, token: str) -> int:
        try:
            return self.reads[(address, token)]
        except KeyError:
            raise TraceFileError(
                f"the replay read a balance the run did not ({to_checksum_address(address)})"
            ) from None


def chain_head(client: RpcClient) -> tuple[int, int]:
    """(height, timestamp) of the node's latest block: the run's block context."""
    block = client.call("eth_getBlockByNumber", "latest", False)
    if not isinstance(block, dict):
        raise ChainEffectError("the node has no latest block")
    return int(str(block["number"]), 16), int(str(block["timestamp"]), 16)


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
) -> RunReport:
    """Run `code` as the agent of `key`. Raises ChainEffectError if a payment is refused or
    fails on chain (storage is then left as it was before the run), RpcClientError if the node
    cannot be reached."""
    agent = key.address
    before = state.load()
    height, time = chain_head(client)
    recorder = RecordingPlugins(plugins)
    host = LocalHost(
        _world(before, agent, time, height), agent, agent, recorder, NodeBalances(client)
    )
    result = _execute(code, host, entry, args, gas_limit)
    assert result.trace is not None
    sent = [_send(client, key, p) for p in host.payments] if result.ok else []
    rewritten = host.code_of(agent)
    new_code = rewritten if rewritten is not None and rewritten.code_id != code.code_id else None
    if result.ok:
        state.save(host.storage_items(agent))
        if new_code is not None:
            state.save_code(new_code.to_bytes())
    trace = TraceFile(
        code=code,
        entry=entry,
        args=args,
        gas_limit=gas_limit,
        agent=agent,
        caller=agent,
        time=time,
        height=height,
        storage=tuple(sorted(before.items())),
        balances=tuple((a, t, n) for (a, t), n in sorted(host.balance_reads.items())),
        calls=tuple(recorder.calls),
        trace_hash=trace_hash(result.trace),
        trace=tuple(e.to_json() for e in result.trace),
        transactions=tuple(s.tx_hash for s in sent),
    )
    events = tuple((topic, data) for who, topic, data in host.world.events if who == agent)
    return RunReport(result, trace, tuple(sent), events, new_code if result.ok else None)


def _send(client: RpcClient, key: SigningKey, payment: Payment) -> SentTransaction:
    raw = build_transfer(client, key, payment.to, payment.amount, payment.token)
    tx_hash = str(client.call("aither_sendRawTransaction", "0x" + raw.hex()))
    receipt = client.wait_for_receipt(tx_hash, RECEIPT_TIMEOUT_SEC)
    if receipt.get("status") != "0x1":
        raise ChainEffectError(
            f"payment of {payment.amount} to {to_checksum_address(payment.to)} failed on chain "
            f"({tx_hash}): {receipt.get('error')}"
        )
    return SentTransaction(
        payment, tx_hash, int(str(receipt["blockNumber"]), 16), int(str(receipt["gasUsed"]), 16)
    )


@dataclass(frozen=True, slots=True)
class ReplayReport:
    result: Result
    trace_hash: bytes
    expected: bytes
    unused_calls: int  # recorded plugin results the replay never asked for

    @property
    def matches(self) -> bool:
        return self.trace_hash == self.expected and self.unused_calls == 0


def replay(trace: TraceFile) -> ReplayReport:
    """Run a trace file's program again with its recorded inputs; no plugin, no node.

    Raises TraceFileError when the run reads a balance the file did not record.
    """
    plugins = ReplayingPlugins(list(trace.calls))
    world = _world(dict(trace.storage), trace.agent, trace.time, trace.height)
    host = LocalHost(world, trace.agent, trace.caller, plugins, RecordedBalances(trace.balances))
    result = _execute(trace.code, host, trace.entry, trace.args, trace.gas_limit)
    assert result.trace is not None
    unused = len(plugins.calls) - plugins.position
    return ReplayReport(result, trace_hash(result.trace), trace.trace_hash, unused)
