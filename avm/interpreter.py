"""The interpreter: runs a code object against a host, metering gas per instruction.

Two paths, both derived from the opcode definitions in `avm/instructions/`:

- the exact path (`_step`) runs one instruction: charge its static gas, read its operands, call
  its function, write its result. Tracing, instructions that touch the machine or the host, and
  any stretch where gas is short run here;
- the fast path compiles each basic block of pure instructions into one Python function whose
  code is the opcodes' own return expressions inlined (or calls to their functions), charging the
  block's gas once. A block whose cost exceeds the gas left is run on the exact path, so
  out-of-gas happens at exactly the same instruction; a trap inside a block refunds the gas of the
  instructions after it, so gas used is the same on both paths. A block is compiled once it has
  been entered HOT_ENTRIES times, so code that runs rarely never pays for compilation.

A call's state changes are journaled by the host: any trap rolls them all back.
"""

from __future__ import annotations

import ast
import copy
import inspect
import textwrap
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Literal, TypeAlias, cast

from avm.assembler import assemble_fragment
from avm.code import ARGS_REGISTER, IMPLICIT_RESULT, CodeObject, OperandKind, TestCase, TestOutcome
from avm.errors import (
    BadOperand,
    CallDepthExceeded,
    OutOfGas,
    TraceTooLong,
    Trap,
    UnknownLabel,
    ValueTooLarge,
)
from avm.gas import CURRENT, DEFAULT_GAS, GasSchedule
from avm.host import Host, Metered, PluginFailure
from avm.instructions import OPCODES
from avm.instructions.storage import kv_key
from avm.machine import Toolchain
from avm.matreshka import breed
from avm.memory_host import MemoryHost, World
from avm.opcodes import Control, OperandType, OpSpec
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
    type_name,
    values_equal,
)
from core.encoding import decode

MAX_CALL_DEPTH = 256
STOP = -1
HOT_ENTRIES = 16  # entries of a block before it is compiled (compiling costs ~50 exact runs)
MAX_BLOCK = 64  # longest compiled block, in instructions


class ResultCheck(Enum):
    """What must be checked of an opcode's result, from its return annotation."""

    INT_RANGE = "int"  # `-> int`: the integer bound
    NONE = "bool"  # `-> bool`: nothing can be too large
    BOUNDED = "value"  # anything else: the size bound of its type


# An operand of a pre-decoded instruction: (True, register index) or (False, constant value).
DecodedArg: TypeAlias = "tuple[Literal[True], int] | tuple[Literal[False], Value]"
# A compiled basic block: (registers, gas left) -> (next pc, gas left).
Block: TypeAlias = Callable[[list[Value], int], tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Decoded:
    """One instruction, pre-decoded for the exact path."""

    spec: OpSpec
    cost: int
    args: tuple[DecodedArg, ...]
    out: int | None
    target: int | None  # resolved label pc for BRANCH/CALL, None when unknown or absent
    target_name: str | None
    check: ResultCheck
    fn: Callable[..., Value]
    pure: bool
    control: Control
    int_checks: tuple[tuple[int, bool], ...]  # (operand index, must be non-zero) of pure ops


def _result_check(spec: OpSpec) -> ResultCheck:
    annotation = inspect.signature(spec.fn).return_annotation
    template = _template(spec) if spec.pure else None
    if template is not None and isinstance(template[1], ast.Name):
        return ResultCheck.NONE  # returns one of its operands (SET), which is already bounded
    if annotation in ("int", int):
        return ResultCheck.INT_RANGE
    if annotation in ("bool", bool):
        return ResultCheck.NONE
    return ResultCheck.BOUNDED


_CHECKS: dict[str, ResultCheck] = {}


def _check_of(spec: OpSpec) -> ResultCheck:
    check = _CHECKS.get(spec.name)
    if check is None:
        check = _CHECKS[spec.name] = _result_check(spec)
    return check


def _type_error(spec: OpSpec, index: int, value: object) -> BadOperand:
    param = spec.params[min(index, len(spec.params) - 1)]
    return BadOperand(
        f"{spec.name} {param.name} must be {param.type.value}, not {type_name(value)}"
    )


class Program:
    """A code object prepared to run under one gas schedule (cached by code id)."""

    def __init__(self, code: CodeObject, sched: GasSchedule) -> None:
        self.code = code
        self.sched = sched
        self.code_id = code.code_id
        self.decoded: list[Decoded] = []
        for ins in code.instructions:
            spec = OPCODES[ins.opcode]
            args: list[DecodedArg] = []
            target_name = None
            for op in ins.operands:
                if op.kind is OperandKind.REG:
                    args.append((True, op.index))
                elif op.kind is OperandKind.CONST:
                    args.append((False, code.constants[op.index]))
                else:
                    target_name = op.label
            target = code.label_pc(target_name) if target_name is not None else None
            int_checks = tuple(
                (i, p.type is OperandType.NONZERO_INT)
                for i, p in enumerate(spec.params[: len(args)])
                if spec.pure and p.type is not OperandType.ANY
            )
            self.decoded.append(
                Decoded(
                    spec,
                    getattr(sched, spec.gas),
                    tuple(args),
                    ins.out,
                    target,
                    target_name,
                    _check_of(spec),
                    spec.fn,
                    spec.pure,
                    spec.control,
                    int_checks,
                )
            )
        self.named = tuple(
            (i, name)
            for i, name in enumerate(code.registers)
            if not name.startswith("%") and name not in (IMPLICIT_RESULT, ARGS_REGISTER)
        )
        self.blocks: list[Block | None] = [None] * (len(self.decoded) + 1)
        self.block_costs: list[int] = [0] * (len(self.decoded) + 1)
        # A block compiles when entered HOT_ENTRIES times (over all calls of this program): code
        # that runs rarely never pays for compilation. heat[pc] > 0 marks a cold leader.
        self.heat: list[int] = [0] * (len(self.decoded) + 1)
        for leader in _leaders(self):
            self.heat[leader] = HOT_ENTRIES

    def compile_all(self) -> Program:
        """Compile every block now (a node may warm the programs it expects to run often)."""
        for pc, heat in enumerate(self.heat):
            if heat:
                self.heat[pc] = 0
                _compile_block_at(self, pc)
        return self

    def warm(self, pc: int) -> None:
        """Count an entry at leader `pc`; compile its block when it becomes hot."""
        self.heat[pc] -= 1
        if self.heat[pc] == 0:
            _compile_block_at(self, pc)


_PROGRAMS: OrderedDict[tuple[bytes, int], Program] = OrderedDict()
_PROGRAM_CACHE_SIZE = 256


def prepare(code: CodeObject, sched: GasSchedule = CURRENT) -> Program:
    key = (code.code_id, sched.version)
    program = _PROGRAMS.get(key)
    if program is None or program.sched is not sched:
        program = Program(code, sched)
        _PROGRAMS[key] = program
        if len(_PROGRAMS) > _PROGRAM_CACHE_SIZE:
            _PROGRAMS.popitem(last=False)
    else:
        _PROGRAMS.move_to_end(key)
    return program


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
        self.depth = depth  # nesting of sandboxed runs (tests of a patch or a crossover child)
        self.tools: Toolchain = TOOLCHAIN

    def charge(self, amount: int) -> None:
        """Take `amount` milligas; out of gas consumes everything left."""
        if amount > self.gas:
            self.gas = 0
            raise OutOfGas(f"needed {amount} milligas more")
        self.gas -= amount

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


TOOLCHAIN = CodeTools()


# Python errors an opcode function can raise on a bad operand; anything else is a bug.
_OPERAND_ERRORS = (TypeError, ValueError, ZeroDivisionError, IndexError, KeyError, OverflowError)


def _fault(exc: BaseException, pc: int, opcode: str, gas_left: int) -> BaseException:
    """The precise trap for an exception raised while running the instruction at `pc`."""
    if isinstance(exc, Trap):
        return exc.at(pc, opcode, gas_left)
    if isinstance(exc, RecursionError):
        return ValueTooLarge("value nested too deeply").at(pc, opcode, gas_left)
    if isinstance(exc, _OPERAND_ERRORS):
        return BadOperand(f"{opcode}: {exc}").at(pc, opcode, gas_left)
    return exc


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
                    raise _type_error(d.spec, i, a)
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
        raise _fault(exc, pc, d.spec.name, vm.gas) from None


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
        if limit is not None and len(vm.trace) >= limit:
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


# ---- the fast path: basic blocks compiled from the opcodes' own definitions -------------------

_TEMPLATES: dict[str, tuple[list[str], ast.expr] | None] = {}
_SAFE_BUILTINS = {"bool"}


def _template(spec: OpSpec) -> tuple[list[str], ast.expr] | None:
    """The opcode function's parameters and return expression, if it is one expression over
    its parameters (module-level int constants are folded in); else None (it will be called)."""
    if spec.name in _TEMPLATES:
        return _TEMPLATES[spec.name]
    result = None
    try:
        source = textwrap.dedent(inspect.getsource(spec.fn))
        fdef = ast.parse(source).body[0]
    except (OSError, TypeError, SyntaxError, IndexError):
        fdef = None
    if isinstance(fdef, ast.FunctionDef):
        body = [
            s
            for s in fdef.body
            if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        ]
        params = [a.arg for a in fdef.args.args]
        if len(body) == 1 and isinstance(body[0], ast.Return) and body[0].value is not None:
            expr = body[0].value
            ok = True
            for node in ast.walk(expr):
                if isinstance(node, ast.Name) and node.id not in params:
                    const = spec.fn.__globals__.get(node.id)
                    if node.id in _SAFE_BUILTINS and const is None:
                        continue
                    if type(const) is not int:
                        ok = False
                elif isinstance(node, ast.Attribute | ast.Lambda | ast.NamedExpr):
                    ok = False
            if ok:
                result = (params, expr)
    _TEMPLATES[spec.name] = result
    return result


class _Rename(ast.NodeTransformer):
    def __init__(self, names: dict[str, str], globals_: dict[str, object]) -> None:
        self.names = names
        self.globals = globals_

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.names:
            replacement = ast.parse(self.names[node.id], mode="eval").body
            return ast.copy_location(replacement, node)
        value = self.globals.get(node.id)
        if type(value) is int:
            return ast.copy_location(ast.Constant(value), node)
        return node


_INLINED: dict[tuple[str, tuple[str, ...], bool], str | None] = {}


def _inline(spec: OpSpec, arg_names: list[str], condition: bool = False) -> str | None:
    key = (spec.name, tuple(arg_names), condition)
    if key not in _INLINED:
        if len(_INLINED) > 10_000:
            _INLINED.clear()  # keys include inlined constants: keep the cache bounded
        _INLINED[key] = _inline_uncached(spec, arg_names, condition)
    return _INLINED[key]


def _inline_uncached(spec: OpSpec, arg_names: list[str], condition: bool) -> str | None:
    template = _template(spec)
    if template is None:
        return None
    params, expr = template
    tree = _Rename(dict(zip(params, arg_names, strict=False)), spec.fn.__globals__).visit(
        copy.deepcopy(expr)
    )
    tree = ast.fix_missing_locations(tree)
    # In a condition, `bool(x)` and `x` are the same test.
    if (
        condition
        and isinstance(tree, ast.Call)
        and isinstance(tree.func, ast.Name)
        and tree.func.id == "bool"
        and len(tree.args) == 1
    ):
        tree = tree.args[0]
    return ast.unparse(tree)


def _is_fast(d: Decoded) -> bool:
    if not d.spec.pure:
        return False
    if d.spec.control is Control.NEXT:
        return True
    return d.spec.control is Control.BRANCH and d.target is not None


def _leaders(program: Program) -> list[int]:
    """Where a compiled block may start: entry points, labels, and after any instruction that
    leaves the fast path (control flow, host access) or ends a capped block."""
    decoded = program.decoded
    n = len(decoded)
    leaders = {0} | {lb.pc for lb in program.code.labels}
    run = 0
    for pc, d in enumerate(decoded):
        run = run + 1 if pc not in leaders else 1
        if not _is_fast(d) or d.spec.control is not Control.NEXT or run >= MAX_BLOCK:
            leaders.add(pc + 1)
            run = 0
    return sorted(p for p in leaders if p < n and _is_fast(decoded[p]))


def _compile_block_at(program: Program, leader: int) -> None:
    decoded = program.decoded
    n = len(decoded)
    end = leader
    while (
        end < n
        and end - leader < MAX_BLOCK
        and _is_fast(decoded[end])
        and decoded[end].spec.control is Control.NEXT
    ):
        end += 1
    branch = end < n and end - leader < MAX_BLOCK and _is_fast(decoded[end])
    if end == leader and not branch:
        return
    fn, cost = _compile_block(program, leader, end, branch)
    program.blocks[leader] = fn
    program.block_costs[leader] = cost


def _compile_block(program: Program, leader: int, end: int, branch: bool) -> tuple[Block, int]:
    decoded = program.decoded
    last = end if branch else end - 1
    costs = [decoded[pc].cost for pc in range(leader, last + 1)]
    total = sum(costs)
    namespace: dict[str, object] = {
        "_fault": _fault,
        "_type_error": _type_error,
        "_bounded": bounded,
        "_too_large": ValueTooLarge,
        "_int": int,
    }
    self_loop = branch and decoded[end].target == leader
    body: list[str] = []
    refund = total
    for offset, pc in enumerate(range(leader, last + 1)):
        d = decoded[pc]
        refund -= costs[offset]  # the gas of the instructions after this one
        spec = d.spec
        lines: list[str] = []
        arg_names = []
        checked: set[int] = set()
        for i, arg in enumerate(d.args):
            param = spec.params[min(i, len(spec.params) - 1)]
            ref = arg[1]
            if arg[0]:
                lines.append(f"a{i} = R[{arg[1]}]")
                arg_names.append(f"a{i}")
            elif type(ref) is int and (param.type is not OperandType.NONZERO_INT or ref != 0):
                arg_names.append(f"({ref!r})")  # a valid int constant: inlined, never checked
                checked.add(i)
            elif ref is None or type(ref) is bool:
                lines.append(f"a{i} = {ref!r}")
                arg_names.append(f"a{i}")
            else:
                namespace[f"k{pc}_{i}"] = ref
                lines.append(f"a{i} = k{pc}_{i}")
                arg_names.append(f"a{i}")
        namespace[f"spec{pc}"] = spec
        for i, param in enumerate(spec.params[: len(d.args)]):
            if i in checked:
                continue
            if param.type is OperandType.INT:
                lines.append(
                    f"if a{i}.__class__ is not _int: raise _type_error(spec{pc}, {i}, a{i})"
                )
            elif param.type is OperandType.NONZERO_INT:
                lines.append(
                    f"if a{i}.__class__ is not _int or a{i} == 0: "
                    f"raise _type_error(spec{pc}, {i}, a{i})"
                )
        is_branch = spec.control is Control.BRANCH
        expr = _inline(spec, arg_names, condition=is_branch)
        if expr is None:
            namespace[f"fn{pc}"] = spec.fn
            expr = f"fn{pc}({', '.join(arg_names)})"
        if is_branch:
            lines.append(f"taken = {expr}")
        else:
            lines.append(f"v = {expr}")
            if d.check is ResultCheck.INT_RANGE:
                lines.append(
                    f"if v.__class__ is not _int or not {MIN_INT} <= v <= {MAX_INT}:"
                    " v = _bounded(v)"
                )
            elif d.check is ResultCheck.BOUNDED:
                lines.append("v = _bounded(v)")
            if d.out is not None:
                lines.append(f"R[{d.out}] = v")
        body.append("try:")
        body.extend("    " + line for line in lines)
        body.append("except Exception as exc:")
        body.append(f"    raise _fault(exc, {pc}, {spec.name!r}, gas + {refund}) from None")
        if is_branch:
            if self_loop:
                body.append("if taken: continue")
            else:
                body.append(f"if taken: return {d.target}, gas")
    after = (end + 1) if branch else end
    body.append(f"return {after}, gas")
    src = ["def block(R, gas):"]
    indent = "    "
    if self_loop:
        src.append("    while True:")
        indent = "        "
        src.append(f"{indent}if gas < {total}: return {leader}, gas")
    src.append(f"{indent}gas -= {total}")
    src.extend(indent + line for line in body)
    exec(compile("\n".join(src), f"<avm block {leader}>", "exec"), namespace)
    # exec defined `block` from the source above, with the signature of a Block.
    return cast(Block, namespace["block"]), total
