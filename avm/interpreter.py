"""The interpreter: runs a code object against a host, metering gas per instruction.

Two paths, both derived from the opcode definitions in `avm/instructions/`:

- the exact path (`_step`) runs one instruction: charge its static gas, read its operands, call
  its function, write its result. Tracing, instructions that touch the machine or the host, and
  any stretch where gas is short run here;
- the fast path (its blocks compiled in avm/program.py) runs each basic block of pure
  instructions as one Python function, charging the block's gas once. A block whose cost
  exceeds the gas left is run on the exact path, so out-of-gas happens at exactly the same
  instruction; a trap inside a block refunds the gas of the instructions after it, so gas used
  is the same on both paths.

A call's state changes are journaled by the host: any trap rolls them all back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from avm.assembler import assemble_fragment
from avm.code import ARGS_REGISTER, CodeObject, TestCase, TestOutcome
from avm.errors import (
    CallDepthExceeded,
    OutOfGas,
    TraceTooLong,
    Trap,
    UnknownLabel,
)
from avm.gas import CURRENT, DEFAULT_GAS, GasSchedule
from avm.host import Host, Metered, PluginFailure
from avm.instructions.storage import kv_key
from avm.machine import FrameResult, Toolchain
from avm.matreshka import breed
from avm.memory_host import MemoryHost, World
from avm.opcodes import Control
from avm.program import Program, ResultCheck, fault, prepare, type_error
from avm.selfmod import region_body, replace_region
from avm.trace import TraceEntry
from avm.validation import check_deployable
from avm.values import (
    MAX_INT,
    MIN_INT,
    AvmMap,
    Value,
    bounded,
    encode_value,
    from_python,
    from_wire,
    to_wire,
    values_equal,
)
from core.encoding import decode

MAX_CALL_DEPTH = 256
STOP = -1


class RunningCall:
    """The state of one running call: what opcode functions see as `avm.machine.Machine`."""

    def __init__(
        self,
        program: Program,
        host: Host,
        gas: int,
        tracing: bool = False,
        depth: int = 0,
        trace_limit: int | None = None,
    ) -> None:
        self.program = program
        self.code = program.code
        self.host = host
        self.sched = program.sched
        self.gas = gas
        self.registers: list[Value] = [None] * len(program.code.registers)
        self.call_stack: list[int] = []
        self.observer = False
        self.external_failed = False
        self.external_units = 0  # usage metered by the last external call (a model's tokens)
        self.logs: list[Value] = []
        self.result: Value = None
        self.tracing = tracing
        self.notes: list[tuple[str, Value]] = []
        self.trace: list[TraceEntry] = []
        self.trace_limit = trace_limit  # entries; past it the run stops with TraceTooLong
        self.traced_elsewhere = 0  # entries callees (CALL_AGENT) recorded, counted to the limit
        self.depth = depth  # nesting of sandboxed runs (tests of a patch or a crossover child)
        self.tools: Toolchain = TOOLCHAIN

    def charge(self, amount: int) -> None:
        """Take `amount` milligas; out of gas consumes everything left."""
        if amount > self.gas:
            self.gas = 0
            raise OutOfGas(f"needed {amount} milligas more")
        self.gas -= amount

    def trace_room(self) -> int | None:
        if self.trace_limit is None:
            return None
        return max(0, self.trace_limit - len(self.trace) - self.traced_elsewhere)

    def count_traced(self, entries: int) -> None:
        self.traced_elsewhere += entries

    def note(self, key: str, value: Value) -> None:
        """Attach a note to the current trace entry (free when tracing is off)."""
        if self.tracing:
            self.notes.append((key, value))

    def external(self, opcode: str, *args: Value) -> Value:
        """Ask the host for a non-deterministic result; a plugin failure gives null and a flag.

        `external_units` is then the usage the host metered (a model's tokens; 0 otherwise),
        which the calling opcode prices by its family's gas."""
        self.external_units = 0
        try:
            raw = self.host.external(opcode, args)
        except Trap:
            raise  # HostUnavailable: the chain host refuses the opcode
        except Exception as exc:  # the plugin boundary: any failure out there is a failed call
            reason = str(exc) if isinstance(exc, PluginFailure) else f"{type(exc).__name__}: {exc}"
            self.fail_external(opcode, reason)
            return None
        value = raw
        if isinstance(raw, Metered):
            value, self.external_units = raw.value, raw.units
        try:
            result = from_python(value)
            to_wire(result)  # within the nesting bound, so it can be stored and traced
        except (Trap, TypeError, ValueError, RecursionError) as exc:
            self.fail_external(opcode, f"the plugin returned no AVM value: {exc}")
            return None
        self.external_failed = False
        self.note("external", (opcode, result))
        if self.external_units:
            self.note("usage", self.external_units)
        return result

    def fail_external(self, opcode: str, reason: str) -> None:
        """A failed external call: null result, the plugin-failed flag set, the reason noted."""
        self.external_failed = True
        self.note("plugin_failed", f"{opcode}: {reason}")

    def named_registers(self) -> list[tuple[str, Value]]:
        return [(name, self.registers[i]) for i, name in self.program.named]

    def restore_registers(self, state: AvmMap) -> None:
        for i, name in self.program.named:
            if state.has(name):
                self.registers[i] = state.get(name)


@dataclass(frozen=True, slots=True)
class Result:
    """How a call ended. `gas_used` is in milligas; `trap` is None on success."""

    value: Value
    gas_used: int
    gas_limit: int
    trap: Trap | None
    logs: tuple[Value, ...]
    trace: tuple[TraceEntry, ...] | None

    @property
    def ok(self) -> bool:
        return self.trap is None


def execute(
    code: CodeObject,
    host: Host,
    entry: str | None = None,
    args: Sequence[Value] = (),
    gas_limit: int = DEFAULT_GAS,
    trace: bool = False,
    schedule: GasSchedule = CURRENT,
    depth: int = 0,
    exact: bool = False,
    trace_limit: int | None = None,
) -> Result:
    """Run `code` from label `entry` (or pc 0) with `args` in register ARGS.

    `trace` records every instruction; `exact` (implied by `trace`) never uses compiled blocks,
    which changes nothing but speed.

    Never raises a Trap: a trap ends the call with its state changes rolled back and is reported
    in the result. Raises ValueError for a negative gas limit, and TraceTooLong (state rolled
    back) when a traced run would record more than `trace_limit` instructions.
    """
    if gas_limit < 0:
        raise ValueError("gas limit must not be negative")
    program = prepare(code, schedule)
    vm = RunningCall(program, host, gas_limit, trace, depth, trace_limit)
    checkpoint = host.checkpoint()
    try:
        pc = 0
        if entry is not None:
            found = code.label_pc(entry)
            if found is None:
                raise UnknownLabel(f"no entry label {entry!r}").at(0, "ENTRY", gas_limit)
            pc = found
        if ARGS_REGISTER in code.registers:
            try:
                value = from_python(tuple(args))
            except Trap as trap:
                raise trap.at(pc, "ENTRY", gas_limit) from None
            vm.registers[code.registers.index(ARGS_REGISTER)] = value
        if trace:
            _run_traced(vm, pc)
        elif exact:
            _run_exact(vm, pc)
        else:
            _run_fast(vm, pc)
    except Trap as trap:
        host.rollback(checkpoint)
        gas_left = 0 if isinstance(trap, OutOfGas) or trap.gas_left is None else trap.gas_left
        return Result(
            None,
            gas_limit - gas_left,
            gas_limit,
            trap,
            tuple(vm.logs),
            tuple(vm.trace) if trace else None,
        )
    except BaseException:
        host.rollback(checkpoint)  # a bug or an interrupt: never leave half a call behind
        raise
    host.commit(checkpoint)
    return Result(
        vm.result,
        gas_limit - vm.gas,
        gas_limit,
        None,
        tuple(vm.logs),
        tuple(vm.trace) if trace else None,
    )


# ---- region tests, and the code tools the self-modifying opcodes reach through the machine ----

TEST_AGENT = b"\x7a" * 20
TEST_CALLER = b"\x7b" * 20
MAX_SANDBOX_DEPTH = 4  # a test may itself run tests (a patch that crosses over); bound it


def run_test(
    code: CodeObject,
    test: TestCase,
    schedule: GasSchedule = CURRENT,
    depth: int = 0,
    budget: int | None = None,
) -> TestOutcome:
    """Run one `.test` block against `code` in a sandbox: a fresh in-memory world holding only
    the test's starting storage, never the caller's state. At most `budget` milligas."""
    if depth >= MAX_SANDBOX_DEPTH:
        return TestOutcome(test.name, False, 0, "sandboxes nested too deeply")
    gas = test.gas if budget is None else min(test.gas, budget)
    host = MemoryHost(World(), TEST_AGENT, TEST_CALLER)
    host.install(TEST_AGENT, code)
    for key, value in test.storage:
        host.storage_put(kv_key(key), encode_value(value))
    host.world.journal.clear()
    result = execute(code, host, test.entry, test.args, gas, schedule=schedule, depth=depth + 1)
    if test.expect_revert:
        if result.ok:
            return TestOutcome(test.name, False, result.gas_used, "expected a trap, got success")
        return TestOutcome(test.name, True, result.gas_used)
    if not result.ok:
        return TestOutcome(test.name, False, result.gas_used, f"trapped: {result.trap}")
    if test.expect and not values_equal(result.value, test.expect[0]):
        return TestOutcome(
            test.name,
            False,
            result.gas_used,
            f"returned {result.value!r}, expected {test.expect[0]!r}",
        )
    for key, want in test.expect_storage:
        raw = host.storage_get(kv_key(key))
        got = None if raw is None else from_wire(decode(raw))
        if not values_equal(got, want):
            return TestOutcome(
                test.name, False, result.gas_used, f"storage {key!r} is {got!r}, expected {want!r}"
            )
    return TestOutcome(test.name, True, result.gas_used)


def run_tests(
    code: CodeObject,
    tests: Sequence[TestCase],
    schedule: GasSchedule = CURRENT,
    depth: int = 0,
    budget: int | None = None,
) -> list[TestOutcome]:
    """Run tests in order; with a `budget`, all of them together use at most that much gas
    (a caller pays for its sandbox, so it cannot make the node compute more than it paid for)."""
    outcomes = []
    for test in tests:
        outcome = run_test(code, test, schedule, depth, budget)
        outcomes.append(outcome)
        if budget is not None:
            budget -= outcome.gas_used
    return outcomes


class CodeTools:
    """The `avm.machine.Toolchain` every call gets: the assembler, region surgery, the deploy
    rule, crossover breeding and the sandboxed test runner."""

    def assemble_fragment(self, text: str, file: str) -> CodeObject:
        return assemble_fragment(text, file)

    def region_body(self, code: CodeObject, name: str) -> CodeObject:
        return region_body(code, name)

    def replace_region(self, code: CodeObject, name: str, body: CodeObject) -> CodeObject:
        return replace_region(code, name, body)

    def check_deployable(self, code: CodeObject) -> None:
        check_deployable(code)

    def breed(
        self,
        parent_a: CodeObject,
        parent_b: CodeObject,
        from_b: Sequence[str],
        mutation: Sequence[tuple[str, str]],
        deterministic: bool,
    ) -> CodeObject | str:
        return breed(parent_a, parent_b, from_b, mutation, deterministic)

    def run_tests(
        self,
        code: CodeObject,
        tests: Sequence[TestCase],
        schedule: GasSchedule,
        depth: int,
        budget: int | None,
    ) -> list[TestOutcome]:
        return run_tests(code, tests, schedule, depth, budget)

    def run_call(
        self,
        code: CodeObject,
        host: Host,
        entry: str,
        args: Sequence[Value],
        gas: int,
        trace: bool,
        schedule: GasSchedule,
        trace_limit: int | None,
    ) -> FrameResult:
        result = execute(
            code, host, entry, args, gas, trace=trace, schedule=schedule, trace_limit=trace_limit
        )
        failure = None if result.trap is None else str(result.trap)
        return FrameResult(result.value, result.gas_used, failure, result.trace)


TOOLCHAIN = CodeTools()


_NEXT = Control.NEXT
_BRANCH = Control.BRANCH


def _step(vm: RunningCall, pc: int) -> int:
    """Run the instruction at `pc` exactly; return the next pc (STOP to end the call)."""
    program = vm.program
    if pc >= len(program.decoded):
        vm.result = None  # running off the end halts
        return STOP
    d = program.decoded[pc]
    cost = d.cost
    if cost > vm.gas:
        vm.gas = 0
        raise OutOfGas(f"{d.spec.name} costs {cost} milligas").at(pc, d.spec.name, 0)
    vm.gas -= cost
    R = vm.registers
    try:
        args = [R[a[1]] if a[0] else a[1] for a in d.args]
        if d.pure:
            for i, nonzero in d.int_checks:
                a = args[i]
                if a.__class__ is not int or (nonzero and a == 0):
                    raise type_error(d.spec, i, a)
            result = d.fn(*args)
        else:
            result = d.fn(vm, *args)
        control = d.control
        if control is _NEXT:
            if d.out is not None:
                R[d.out] = _checked(result, d.check)
            return pc + 1
        if control is _BRANCH:
            if not result:
                return pc + 1
            if d.target is None:
                raise UnknownLabel(f"jump to unknown label {d.target_name!r}")
            return d.target
        if control is Control.CALL:
            if d.target is None:
                raise UnknownLabel(f"call to unknown label {d.target_name!r}")
            if len(vm.call_stack) >= MAX_CALL_DEPTH:
                raise CallDepthExceeded(f"call depth exceeds {MAX_CALL_DEPTH}")
            vm.call_stack.append(pc + 1)
            return d.target
        if control is Control.RET:
            if vm.call_stack:
                return vm.call_stack.pop()
            vm.result = None
            return STOP
        vm.result = bounded(result)
        return STOP
    except Exception as exc:
        raise fault(exc, pc, d.spec.name, vm.gas) from None


def _checked(value: Value, check: ResultCheck) -> Value:
    if check is ResultCheck.INT_RANGE:
        if value.__class__ is not int or not MIN_INT <= value <= MAX_INT:
            return bounded(value)
        return value
    if check is ResultCheck.NONE:
        return value
    return bounded(value)


def _run_fast(vm: RunningCall, pc: int) -> None:
    program = vm.program
    blocks = program.blocks
    costs = program.block_costs
    heat = program.heat
    R = vm.registers
    gas = vm.gas
    step = _step
    while pc >= 0:
        block = blocks[pc]
        if block is not None and gas >= costs[pc]:
            pc, gas = block(R, gas)
            continue
        if heat[pc]:
            program.warm(pc)
            if blocks[pc] is not None:
                continue
        vm.gas = gas
        pc = step(vm, pc)
        gas = vm.gas
    vm.gas = gas


def _run_exact(vm: RunningCall, pc: int) -> None:
    step = _step
    while pc >= 0:
        pc = step(vm, pc)


def _run_traced(vm: RunningCall, pc: int) -> None:
    decoded = vm.program.decoded
    R = vm.registers
    limit = vm.trace_limit
    while pc >= 0:
        if limit is not None and len(vm.trace) + vm.traced_elsewhere >= limit:
            raise TraceTooLong(limit)
        if pc >= len(decoded):
            vm.trace.append(TraceEntry(pc, "HALT", 0, (), ()))
            _step(vm, pc)
            return
        d = decoded[pc]
        inputs = tuple(R[a[1]] if a[0] else a[1] for a in d.args)
        before = vm.gas
        vm.notes = []
        try:
            next_pc = _step(vm, pc)
        except Trap as trap:
            after = 0 if isinstance(trap, OutOfGas) else vm.gas
            vm.trace.append(
                TraceEntry(
                    pc, d.spec.name, before - after, inputs, (), tuple(vm.notes), trap.kind.value
                )
            )
            raise
        outputs: tuple[Value, ...] = ()
        if d.out is not None and d.spec.control is Control.NEXT:
            outputs = (R[d.out],)
        elif d.spec.control is Control.STOP:
            outputs = (vm.result,)
        vm.trace.append(
            TraceEntry(pc, d.spec.name, before - vm.gas, inputs, outputs, tuple(vm.notes))
        )
        pc = next_pc
