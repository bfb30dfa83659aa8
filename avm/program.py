"""A code object prepared to run: its instructions decoded once for the exact path, and the fast
path's basic blocks compiled from the opcodes' own definitions.

The fast path compiles each basic block of pure instructions into one Python function whose code
is the opcodes' own return expressions inlined (or calls to their functions), charging the
block's gas once. A block is compiled once it has been entered HOT_ENTRIES times, so code that
runs rarely never pays for compilation. The interpreter (avm/interpreter.py) decides when a
block may run: only when the gas left covers it, so out-of-gas happens at exactly the same
instruction on both paths; a trap inside a block refunds the gas of the instructions after it.
"""

from __future__ import annotations

import ast
import copy
import inspect
import textwrap
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Literal, TypeAlias, cast

from avm.code import ARGS_REGISTER, IMPLICIT_RESULT, CodeObject, OperandKind
from avm.errors import (
    BadOperand,
    Trap,
    ValueTooLarge,
)
from avm.gas import CURRENT, GasSchedule
from avm.instructions import opcode_table
from avm.opcodes import Control, OperandType, OpSpec
from avm.values import (
    MAX_INT,
    MIN_INT,
    Value,
    bounded,
    type_name,
)

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


# The caches below are by (family, name): two AVM versions may define one name differently (DIV).
_CHECKS: dict[tuple[str, str], ResultCheck] = {}


def _check_of(spec: OpSpec) -> ResultCheck:
    key = (spec.family, spec.name)
    check = _CHECKS.get(key)
    if check is None:
        check = _CHECKS[key] = _result_check(spec)
    return check


def type_error(spec: OpSpec, index: int, value: object) -> BadOperand:
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
        table = opcode_table(code.avm_version)  # the version the code was assembled for
        for ins in code.instructions:
            spec = table[ins.opcode]
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


# Python errors an opcode function can raise on a bad operand; anything else is a bug.
_OPERAND_ERRORS = (TypeError, ValueError, ZeroDivisionError, IndexError, KeyError, OverflowError)


def fault(exc: BaseException, pc: int, opcode: str, gas_left: int) -> BaseException:
    """The precise trap for an exception raised while running the instruction at `pc`."""
    if isinstance(exc, Trap):
        return exc.at(pc, opcode, gas_left)
    if isinstance(exc, RecursionError):
        return ValueTooLarge("value nested too deeply").at(pc, opcode, gas_left)
    if isinstance(exc, _OPERAND_ERRORS):
        return BadOperand(f"{opcode}: {exc}").at(pc, opcode, gas_left)
    return exc


# ---- the fast path: basic blocks compiled from the opcodes' own definitions -------------------

_TEMPLATES: dict[tuple[str, str], tuple[list[str], ast.expr] | None] = {}
_SAFE_BUILTINS = {"bool"}


def _template(spec: OpSpec) -> tuple[list[str], ast.expr] | None:
    """The opcode function's parameters and return expression, if it is one expression over
    its parameters (module-level int constants are folded in); else None (it will be called)."""
    key = (spec.family, spec.name)
    if key in _TEMPLATES:
        return _TEMPLATES[key]
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
    _TEMPLATES[key] = result
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


_INLINED: dict[tuple[str, str, tuple[str, ...], bool], str | None] = {}


def _inline(spec: OpSpec, arg_names: list[str], condition: bool = False) -> str | None:
    key = (spec.family, spec.name, tuple(arg_names), condition)
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
        "fault": fault,
        "type_error": type_error,
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
                    f"if a{i}.__class__ is not _int: raise type_error(spec{pc}, {i}, a{i})"
                )
            elif param.type is OperandType.NONZERO_INT:
                lines.append(
                    f"if a{i}.__class__ is not _int or a{i} == 0: "
                    f"raise type_error(spec{pc}, {i}, a{i})"
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
        body.append(f"    raise fault(exc, {pc}, {spec.name!r}, gas + {refund}) from None")
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
