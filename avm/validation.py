"""Checks of a code object against the opcode table, and decoding one from untrusted bytes.

`validate` is what every code object must pass before it runs (every reference resolves, every
instruction fits its opcode); `decode_code` reads a code object from bytes and validates it;
`check_deployable` is the chain host's deploy-time rule (no non-deterministic opcode). They read
the whole opcode table, so they sit above the instruction families.
"""

from __future__ import annotations

from typing import TypeGuard

from avm.code import (
    FORMAT_VERSION,
    MAX_CODE_BYTES,
    MAX_INSTRUCTIONS,
    VERSIONED_FORMAT,
    CodeObject,
    Instruction,
    Label,
    Operand,
    OperandKind,
    Policy,
    Region,
    TestCase,
    is_name,
    normalize,
)
from avm.errors import CodeFormatError, NotDeployable
from avm.instructions import LATEST_VERSION, VERSIONS, opcode_table
from avm.opcodes import ParamKind
from avm.values import MAX_ITEMS, Value, from_wire
from core.encoding import Value as Wire
from core.encoding import decode
from core.errors import DecodeError


def decode_code(data: bytes) -> CodeObject:
    """Decode and validate a code object. Raises CodeFormatError for anything else."""
    if not isinstance(data, bytes | bytearray):
        raise CodeFormatError("a code object is bytes")
    if len(data) > MAX_CODE_BYTES:
        raise CodeFormatError(f"code object of {len(data)} bytes exceeds {MAX_CODE_BYTES}")
    try:
        wire = decode(bytes(data))
    except DecodeError as exc:
        raise CodeFormatError(f"code object is not canonical encoding: {exc}") from None
    code = from_wire_code(wire)
    if code.to_bytes() != bytes(data):
        raise CodeFormatError("code object is not in normal form")
    return code


def _want(cond: bool, what: str) -> None:
    if not cond:
        raise CodeFormatError(what)


def _is_list(x: object, n: int | None = None) -> TypeGuard[list[Wire]]:
    return type(x) is list and (n is None or len(x) == n)


def _is_int(x: object) -> TypeGuard[int]:
    return type(x) is int


def _is_str(x: object) -> TypeGuard[str]:
    return type(x) is str


def _is_opt_str(x: object) -> TypeGuard[str | None]:
    return x is None or type(x) is str


def from_wire_code(wire: Wire) -> CodeObject:
    """Build and validate a code object from its wire form. Raises CodeFormatError."""
    avm_version = 1
    if _is_list(wire, 9) and _is_int(wire[0]) and wire[0] == VERSIONED_FORMAT:
        *wire, last = wire
        if not (_is_int(last) and last > 1):
            raise CodeFormatError("a format-2 code object's AVM version is 2 or more")
        avm_version = last
    elif not (_is_list(wire, 8) and _is_int(wire[0]) and wire[0] == FORMAT_VERSION):
        raise CodeFormatError(
            f"a code object is [format {FORMAT_VERSION}, 7 fields] or "
            f"[format {VERSIONED_FORMAT}, 7 fields, AVM version]"
        )
    _, regs, consts, instrs, labels, regions, tests, used = wire
    if not (_is_list(regs) and all(type(r) is str and r for r in regs)):
        raise CodeFormatError("registers are names")
    registers = tuple(r for r in regs if _is_str(r))
    _want(len(set(registers)) == len(registers), "register names repeat")
    if not (_is_list(consts) and len(consts) <= MAX_ITEMS * 16):
        raise CodeFormatError("constants are a list")
    constants = tuple(from_wire(c) for c in consts)
    if not (_is_list(instrs) and len(instrs) <= MAX_INSTRUCTIONS):
        raise CodeFormatError("instructions are a list")
    instructions = [_instruction_from_wire(ins) for ins in instrs]
    if not _is_list(labels):
        raise CodeFormatError("labels are a list")
    label_objs = []
    for lb in labels:
        if not _is_list(lb, 3):
            raise CodeFormatError("bad label")
        name, pc, region = lb
        if not (_is_str(name) and _is_int(pc)):
            raise CodeFormatError("bad label")
        if not _is_opt_str(region):
            raise CodeFormatError("bad label region")
        label_objs.append(Label(name, pc, region))
    if not _is_list(regions):
        raise CodeFormatError("regions are a list")
    region_objs = []
    for r in regions:
        if not _is_list(r, 4):
            raise CodeFormatError("bad region")
        name, policy, start, end = r
        if not (_is_str(name) and _is_str(policy)):
            raise CodeFormatError("bad region")
        if not (_is_int(start) and _is_int(end)):
            raise CodeFormatError("bad region bounds")
        _want(policy in {p.value for p in Policy}, f"unknown region policy {policy!r}")
        region_objs.append(Region(name, Policy(policy), start, end))
    if not _is_list(tests):
        raise CodeFormatError("tests are a list")
    test_objs = [_test_from_wire(t) for t in tests]
    code = CodeObject(
        registers,
        constants,
        tuple(instructions),
        tuple(label_objs),
        tuple(region_objs),
        tuple(test_objs),
        avm_version,
    )
    validate(code)
    _want(used == list(code.opcodes_used), "the opcode set does not match the instructions")
    return code


def _instruction_from_wire(ins: Wire) -> Instruction:
    if not _is_list(ins, 3):
        raise CodeFormatError("bad instruction")
    opcode, wire_operands, out = ins
    if not (_is_str(opcode) and _is_list(wire_operands)):
        raise CodeFormatError("bad instruction")
    operands = []
    for op in wire_operands:
        if not (_is_list(op, 2) and _is_int(op[0]) and op[0] in (0, 1, 2)):
            raise CodeFormatError("bad operand")
        kind = OperandKind(op[0])
        ref = op[1]
        if kind is OperandKind.LABEL:
            if not _is_str(ref):
                raise CodeFormatError("a label operand is a name")
            operands.append(Operand(kind, ref))
        else:
            if not (_is_int(ref) and ref >= 0):
                raise CodeFormatError("a register or constant index is an int")
            operands.append(Operand(kind, ref))
    if not (out is None or (_is_int(out) and out >= 0)):
        raise CodeFormatError("bad output register")
    return Instruction(opcode, tuple(operands), out)


def _test_from_wire(t: Wire) -> TestCase:
    if not _is_list(t, 9):
        raise CodeFormatError("a test is a list of 9 fields")
    name, region, entry, args, storage, expect, expect_storage, revert, gas = t
    if not (_is_str(name) and _is_str(entry)):
        raise CodeFormatError("bad test name or entry")
    if not _is_opt_str(region):
        raise CodeFormatError("bad test region")
    if not (_is_list(args) and _is_list(storage) and _is_list(expect) and _is_list(expect_storage)):
        raise CodeFormatError("bad test body")
    if not (len(expect) <= 1 and type(revert) is bool):
        raise CodeFormatError("bad test expectation")
    if not (_is_int(gas) and gas > 0):
        raise CodeFormatError("bad test gas")

    def pairs(items: list[Wire]) -> tuple[tuple[Value, Value], ...]:
        entries = [p for p in items if _is_list(p, 2)]
        _want(len(entries) == len(items), "storage entries are [key, value]")
        return tuple((from_wire(k), from_wire(v)) for k, v in entries)

    return TestCase(
        name,
        region,
        entry,
        tuple(from_wire(a) for a in args),
        pairs(storage),
        tuple(from_wire(e) for e in expect),
        pairs(expect_storage),
        revert,
        gas,
    )


def validate(code: CodeObject) -> None:
    """Check that every reference in a code object resolves and every instruction fits its
    opcode. Raises CodeFormatError."""
    n = len(code.instructions)
    for kind, names_ in (
        ("register", code.registers),
        ("label", [lb.name for lb in code.labels]),
        ("region", [r.name for r in code.regions]),
        ("test", [t.name for t in code.tests]),
    ):
        for name in names_:
            _want(is_name(name), f"{kind} name {name!r} is not an IR name")
    names = [lb.name for lb in code.labels]
    _want(len(set(names)) == len(names), "label names repeat")
    region_names = [r.name for r in code.regions]
    _want(len(set(region_names)) == len(region_names), "region names repeat")
    last_end = 0
    for r in code.regions:
        _want(last_end <= r.start <= r.end <= n, f"region {r.name} overlaps or is out of range")
        last_end = r.end
    regions = {r.name: r for r in code.regions}
    for lb in code.labels:
        _want(0 <= lb.pc <= n, f"label {lb.name} is out of range")
        if lb.region is None:
            inside = code.region_at(lb.pc)
            _want(inside is None or inside.start == lb.pc, f"label {lb.name} is inside a region")
        else:
            own = regions.get(lb.region)
            _want(
                own is not None and own.start <= lb.pc <= own.end,
                f"label {lb.name} outside its region",
            )
    label_set = set(names)
    table = VERSIONS.get(code.avm_version)
    if table is None:
        raise CodeFormatError(f"AVM version {code.avm_version} is unknown to this node")
    for pc, ins in enumerate(code.instructions):
        spec = table.get(ins.opcode)
        if spec is None:
            where = "" if code.avm_version == LATEST_VERSION else f" of AVM {code.avm_version}"
            raise CodeFormatError(f"pc {pc}: unknown opcode {ins.opcode!r}{where}")
        count = len(ins.operands)
        if spec.variadic:
            _want(count >= len(spec.params) - 1, f"pc {pc}: too few operands for {spec.name}")
        else:
            _want(count == len(spec.params), f"pc {pc}: {spec.name} takes {len(spec.params)}")
        for i, op in enumerate(ins.operands):
            param = spec.params[min(i, len(spec.params) - 1)]
            want_label = param.kind is ParamKind.LABEL
            _want((op.kind is OperandKind.LABEL) == want_label, f"pc {pc}: operand {i} kind")
            if op.kind is OperandKind.REG:
                _want(op.index < len(code.registers), f"pc {pc}: no register {op.ref}")
            elif op.kind is OperandKind.CONST:
                _want(op.index < len(code.constants), f"pc {pc}: no constant {op.ref}")
            else:
                _want(op.ref in label_set, f"pc {pc}: unknown label {op.ref!r}")
        _want(ins.out is None or ins.out < len(code.registers), f"pc {pc}: no output register")
        _want((ins.out is not None) == spec.returns, f"pc {pc}: {spec.name} output mismatch")
    test_names = [t.name for t in code.tests]
    _want(len(set(test_names)) == len(test_names), "test names repeat")
    for t in code.tests:
        _want(t.entry in label_set, f"test {t.name}: unknown entry label {t.entry!r}")
        _want(t.region is None or t.region in regions, f"test {t.name}: unknown region")
    _want(normalize(code).to_wire() == code.to_wire(), "code object is not in normal form")


def nondeterministic_uses(code: CodeObject) -> list[tuple[int, str]]:
    """(pc, opcode) of every instruction whose result a chain could not reproduce."""
    return [
        (pc, ins.opcode)
        for pc, ins in enumerate(code.instructions)
        if not opcode_table(code.avm_version)[ins.opcode].deterministic
    ]


def check_deployable(code: CodeObject, lines: dict[int, int] | None = None) -> None:
    """The chain host's deploy-time rule. Raises NotDeployable naming each offending opcode.

    `lines` maps pc to source line (from the assembler) so the message can name lines.
    """
    uses = nondeterministic_uses(code)
    if uses:
        problems = []
        for pc, opcode in uses:
            where = f"line {lines[pc]}" if lines and pc in lines else f"pc {pc}"
            problems.append(f"{opcode} at {where} is not deterministic")
        raise NotDeployable(problems)
