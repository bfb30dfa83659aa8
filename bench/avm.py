"""AVM benchmark: a countdown loop in the AVM and in py-evm, in one run, plus an agent making
token transfers through the in-memory host, through the ledger's chain host (a State over
LevelDB, nested journals, replay records) and as call transactions applied to a block, and
agent-to-agent calls (CALL_AGENT) against the same call made directly. Prints figures; it is not
a test.

    .venv/bin/python bench/avm.py [--iterations N]

py-evm is a bench-only dependency (`pip install py-evm`); without it the AVM figures are printed
and py-evm is reported unavailable.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# This file is named avm.py: keep its directory off sys.path so `import avm` finds the package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from avm.assembler import assemble  # noqa: E402
from avm.interpreter import execute  # noqa: E402
from avm.memory_host import MemoryHost  # noqa: E402
from genesis.dev import dev_genesis, dev_key  # noqa: E402
from ledger import agents  # noqa: E402
from ledger.chain import Ledger  # noqa: E402
from ledger.state import Account, State  # noqa: E402
from ledger.transition import BlockContext, apply_transactions  # noqa: E402
from ledger.tx import Call, Deploy, Transaction, TxKind, decode_transaction  # noqa: E402

COUNTDOWN = """
:main
  SET n = ARGS[0]
:loop
  SUB n, 1 -> n
  JUMP_IF n, loop
  RETURN n
"""
AVM_INSTR_PER_ITERATION = 2
EVM_OPS_PER_ITERATION = 7  # JUMPDEST PUSH1 SWAP1 SUB DUP1 PUSH1 JUMPI

TRANSFER_AGENT = """
:transfer
  PAY_AGENT ARGS[0], ARGS[1], "AVM_CREDITS" -> ok
  JUMP_IF_FALSE ok, short
  KV_FETCH "count" -> count
  IF count == NULL THEN
    SET count = 0
  ENDIF
  ADD count, 1 -> count
  KV_STORE "count", count
  LOG "paid", ARGS[1]
  RETURN count
:short
  REVERT "insufficient credits"
"""


def best_of(repeats: int, fn: Callable[[], float]) -> float:
    return min(fn() for _ in range(repeats))


def avm_countdown(iterations: int, exact: bool = False) -> float:
    """Seconds for the AVM countdown (fast path, or the exact per-instruction path)."""
    code = assemble(COUNTDOWN).code
    start = time.perf_counter()
    result = execute(code, MemoryHost(), "main", [iterations], gas_limit=10**15, exact=exact)
    elapsed = time.perf_counter() - start
    assert result.ok and result.value == 0, result.trap
    return elapsed


def evm_countdown(iterations: int) -> float | None:
    """Seconds for the same loop in py-evm, or None if py-evm is not installed."""
    try:
        from eth import constants
        from eth.chains.base import MiningChain
        from eth.db.atomic import AtomicDB
        from eth.vm.forks import ShanghaiVM
        from eth.vm.message import Message
    except ImportError:
        return None
    bytecode = (
        bytes([0x62])
        + iterations.to_bytes(3, "big")  # PUSH3 n
        + bytes([0x5B, 0x60, 0x01, 0x90, 0x03, 0x80, 0x60, 0x04, 0x57, 0x00])
    )
    genesis = {
        "difficulty": 0,
        "gas_limit": 30_000_000,
        "timestamp": 0,
        "extra_data": b"",
        "nonce": b"\x00" * 8,
        "mix_hash": constants.ZERO_HASH32,
        "coinbase": constants.ZERO_ADDRESS,
    }
    chain = MiningChain.configure(vm_configuration=((0, ShanghaiVM),), chain_id=1).from_genesis(
        AtomicDB(), genesis
    )
    vm = chain.get_vm()
    sender = b"\x11" * 20
    message = Message(gas=10**12, to=b"\x22" * 20, sender=sender, value=0, data=b"", code=bytecode)
    context = vm.get_state_class().get_transaction_context_class()(gas_price=1, origin=sender)
    start = time.perf_counter()
    computation = vm.state.computation_class.apply_computation(vm.state, message, context)
    elapsed = time.perf_counter() - start
    assert computation.is_success
    return elapsed


def transfer_calls(calls: int) -> float:
    """Seconds for `calls` token-transfer calls through the in-memory chain host."""
    code = assemble(TRANSFER_AGENT).code
    host = MemoryHost()
    host.install(host.self_address(), code)
    host.set_balance(host.self_address(), "AVM_CREDITS", 10**18)
    host.world.journal.clear()
    target = b"\x05" * 20
    start = time.perf_counter()
    for _ in range(calls):
        result = execute(code, host, "transfer", [target, 3], gas_limit=1_000_000)
        assert result.ok, result.trap
    return time.perf_counter() - start


def chain_transfer_calls(calls: int) -> tuple[float, float]:
    """Seconds for `calls` token-transfer calls of one agent through the ledger's chain host
    (each in its own transaction journal), and as signed call transactions applied to a block
    (fees, nonces, receipts; signatures are checked at admission, so not here)."""
    genesis = dev_genesis(1)
    caller = dev_key(0)
    code = assemble(TRANSFER_AGENT).code
    target = b"\x05" * 20
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(Path(tmp), genesis)
        try:
            state = State(ledger)
            state.begin()
            agents.deploy(state, caller.address, 0, Deploy(code.to_bytes()), 1)
            agent = agents.agent_address(caller.address, 0)
            state.set_account(agent, Account(0, 10**30))
            state.commit()
            payload = Call(agent, "transfer", (target, 3))
            start = time.perf_counter()
            for _ in range(calls):
                state.begin()
                outcome = agents.call(state, caller.address, payload, 1_000_000, 1, 0)
                assert not outcome.error, outcome.error
                state.commit()
            direct = time.perf_counter() - start
            txs = [
                decode_transaction(
                    Transaction(
                        genesis.chain_id,
                        TxKind.CALL,
                        caller.pubkey,
                        nonce,
                        100_000,
                        genesis.min_gas_price,
                        payload,
                    )
                    .signed(caller)
                    .encode()
                )
                for nonce in range(calls)
            ]
            ctx = BlockContext(genesis.chain_id, 1, genesis.timestamp, caller.address, 1)
            start = time.perf_counter()
            applied = apply_transactions(state, txs, ctx)
            as_txs = time.perf_counter() - start
            assert len(applied.included) == calls and all(r.ok for r in applied.receipts)
        finally:
            ledger.close()
    return direct, as_txs


RELAY = """
:ping
  RETURN ARGS[0]
:relay
  CALL_AGENT ARGS[0], "ping", [ARGS[1]] -> r
  RETURN r
"""


def chain_agent_calls(calls: int) -> tuple[float, float]:
    """Seconds for `calls` agent-to-agent calls through the ledger's chain host (a transaction
    calls agent A, whose CALL_AGENT calls B's `ping`), and, in the same run, for `calls` direct
    calls of B's `ping` (the transaction calls B itself)."""
    genesis = dev_genesis(1)
    caller = dev_key(0)
    code = assemble(RELAY).code
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(Path(tmp), genesis)
        try:
            state = State(ledger)
            state.begin()
            agents.deploy(state, caller.address, 0, Deploy(code.to_bytes()), 1)
            agents.deploy(state, caller.address, 1, Deploy(code.to_bytes()), 1)
            state.commit()
            relay, target = (agents.agent_address(caller.address, n) for n in (0, 1))
            timings = []
            for payload in (Call(relay, "relay", (target, 7)), Call(target, "ping", (7,))):
                start = time.perf_counter()
                for _ in range(calls):
                    state.begin()
                    outcome = agents.call(state, caller.address, payload, 1_000_000, 1, 0)
                    assert not outcome.error, outcome.error
                    state.commit()
                timings.append(time.perf_counter() - start)
        finally:
            ledger.close()
    return timings[0], timings[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2_000_000, help="AVM loop iterations")
    parser.add_argument("--evm-iterations", type=int, default=200_000, help="py-evm iterations")
    parser.add_argument("--calls", type=int, default=20_000, help="token-transfer calls")
    opts = parser.parse_args()
    console = Console()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("benchmarking", total=6)
        fast = best_of(3, lambda: avm_countdown(opts.iterations))
        progress.advance(task)
        exact = best_of(2, lambda: avm_countdown(opts.iterations // 4, exact=True))
        progress.advance(task)
        evm = evm_countdown(opts.evm_iterations)
        progress.advance(task)
        transfers = transfer_calls(opts.calls)
        progress.advance(task)
        chain_direct, chain_txs = chain_transfer_calls(opts.calls)
        progress.advance(task)
        nested, direct = chain_agent_calls(opts.calls)
        progress.advance(task)

    avm_rate = opts.iterations * AVM_INSTR_PER_ITERATION / fast
    exact_rate = (opts.iterations // 4) * AVM_INSTR_PER_ITERATION / exact
    table = Table(title="AVM benchmark (countdown loop, exact per-instruction gas)")
    table.add_column("engine")
    table.add_column("instructions/s", justify="right")
    table.add_column("loop iterations/s", justify="right")
    table.add_row(
        "AVM (basic blocks)", f"{avm_rate / 1e6:.1f} M", f"{opts.iterations / fast / 1e6:.2f} M"
    )
    table.add_row(
        "AVM (exact path only)",
        f"{exact_rate / 1e6:.1f} M",
        f"{(opts.iterations // 4) / exact / 1e6:.2f} M",
    )
    if evm is not None:
        evm_rate = opts.evm_iterations * EVM_OPS_PER_ITERATION / evm
        table.add_row(
            "py-evm (Shanghai)",
            f"{evm_rate / 1e6:.2f} M",
            f"{opts.evm_iterations / evm / 1e6:.3f} M",
        )
    console.print(table)
    if evm is None:
        console.print("py-evm unavailable (pip install py-evm to compare)")
    else:
        loops = (opts.iterations / fast) / (opts.evm_iterations / evm)
        console.print(
            f"AVM/py-evm: {avm_rate / evm_rate:.1f}x instructions per second, "
            f"{loops:.1f}x loop iterations per second"
        )
    rate = opts.calls / transfers
    console.print(f"token-transfer agent through the in-memory host: {rate:,.0f} calls/s")
    rate = opts.calls / chain_direct
    console.print(f"token-transfer agent through the ledger's chain host: {rate:,.0f} calls/s")
    rate = opts.calls / chain_txs
    console.print(f"token-transfer agent as call transactions in a block: {rate:,.0f} calls/s")
    console.print(
        f"agent-to-agent calls through the chain host (A's CALL_AGENT to B): "
        f"{opts.calls / nested:,.0f} calls/s; the same call of B made directly: "
        f"{opts.calls / direct:,.0f} calls/s"
    )


if __name__ == "__main__":
    main()
