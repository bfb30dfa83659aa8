"""AVM benchmark: a countdown loop in the AVM and in py-evm, in one run, plus an agent making
token transfers through the in-memory chain host. Prints figures; it is not a test.

    .venv/bin/python bench/avm.py [--iterations N]

py-evm is a bench-only dependency (`pip install py-evm`); without it the AVM figures are printed
and py-evm is reported unavailable.
"""

from __future__ import annotations

import argparse
import sys
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
from avm.host import MemoryHost  # noqa: E402
from avm.interpreter import execute  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2_000_000, help="AVM loop iterations")
    parser.add_argument("--evm-iterations", type=int, default=200_000, help="py-evm iterations")
    parser.add_argument("--calls", type=int, default=20_000, help="token-transfer calls")
    opts = parser.parse_args()
    console = Console()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("benchmarking", total=4)
        fast = best_of(3, lambda: avm_countdown(opts.iterations))
        progress.advance(task)
        exact = best_of(2, lambda: avm_countdown(opts.iterations // 4, exact=True))
        progress.advance(task)
        evm = evm_countdown(opts.evm_iterations)
        progress.advance(task)
        transfers = transfer_calls(opts.calls)
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
    console.print(f"token-transfer agent through the in-memory chain host: {rate:,.0f} calls/s")


if __name__ == "__main__":
    main()
