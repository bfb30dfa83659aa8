"""The code object: what an agent's program is once assembled.

It holds the instructions (label operands by name, so regions can be replaced without renumbering
jumps), the register names, the constant pool, labels, regions with their policies, tests and the
set of opcodes used. Its canonical encoding is `encode([...])` of a fixed-order list and its code
id is `hash32` of those bytes. A code object is always in normal form (registers and constants
numbered by first use, labels sorted), so equal programs have equal ids and the decoder accepts
only normal-form bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from avm.errors import CodeFormatError
from avm.values import MAX_ITEMS, Value, from_wire, to_wire, values_equal
from core.crypto import hash32
from core.encoding import decode, encode
from core.errors import DecodeError

FORMAT_VERSION = 1
MAX_INSTRUCTIONS = 65536
MAX_CODE_BYTES = 1024 * 1024
IMPLICIT_RESULT = "ACC"  # the register an instruction writes when no output is named
ARGS_REGISTER = "ARGS"  # holds a call's arguments as a list

# Names of registers, labels, regions and tests, as the assembler reads them (so that every code
# object can be printed back as IR). Temporaries and generated labels start with `%`.
NAME = re.compile(r"%?[A-Za-z_][A-Za-z0-9_]*")
KEYWORD_CONSTANTS = {
    "true": True,
    "false": False,
    "null": None,
    "TRUE": True,
    "FALSE": False,
    "NULL": None,
    "True": True,
    "False": False,
}
RESERVED_WORDS = {"AND", "OR", "NOT", "IF", "THEN", "ELSE", "ENDIF"}


def is_name(text: object) -> bool:
    """A valid register, label, region or test name."""
    return (
        type(text) is str
        and NAME.fullmatch(text) is not None
        and text not in KEYWORD_CONSTANTS
        and text.upper() not in RESERVED_WORDS
    )


class OperandKind(Enum):
    REG = 0
    CONST = 1
    LABEL = 2


@dataclass(frozen=True, slots=True)
class Operand:
    kind: OperandKind
    ref: int | str  # register index, constant index, or label name


@dataclass(frozen=True, slots=True)
class Instruction:
    opcode: str
    operands: tuple[Operand, ...]
    out: int | None  # register index written, or None


class Policy(Enum):
    """Who may rewrite a region."""

    LOCKED = "locked"
    SELF = "self"  # the agent itself, in observer mode, under gas
    COUNCIL = "council"  # only a passed code-change proposal


@dataclass(frozen=True, slots=True)
class Region:
    name: str
    policy: Policy
    start: int  # first instruction
    end: int  # one past the last instruction


@dataclass(frozen=True, slots=True)
class Label:
    name: str
    pc: int
    region: str | None  # the region it was written in, so a region rewrite replaces it


@dataclass(frozen=True, slots=True)
class TestCase:
    """A `.test` block: a call with its starting storage and what it must produce."""

    __test__ = False  # not a pytest test class

    name: str
    region: str | None
    entry: str
    args: tuple[Value, ...] = ()
    storage: tuple[tuple[Value, Value], ...] = ()
    expect: tuple[Value, ...] = ()  # empty: the return value is not checked
    expect_storage: tuple[tuple[Value, Value], ...] = ()
    expect_revert: bool = False
    gas: int = 10_000_000

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TestCase) and self.to_wire() == other.to_wire()

    def __hash__(self) -> int:
        return hash(self.name)

    def to_wire(self) -> list:
        return [
            self.name,
            self.region,
            self.entry,
            [to_wire(a) for a in self.args],
            [[to_wire(k), to_wire(v)] for k, v in self.storage],
            [to_wire(v) for v in self.expect],
            [[to_wire(k), to_wire(v)] for k, v in self.expect_storage],
            self.expect_revert,
            self.gas,
        ]


@dataclass(frozen=True, slots=True)
class CodeObject:
    registers: tuple[str, ...]
    constants: tuple[Value, ...]
    instructions: tuple[Instruction, ...]
    labels: tuple[Label, ...] = ()
    regions: tuple[Region, ...] = ()
    tests: tuple[TestCase, ...] = ()
    _label_pcs: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    _memo: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._label_pcs.update((lb.name, lb.pc) for lb in self.labels)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CodeObject) and self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.to_bytes())

    @property
    def opcodes_used(self) -> tuple[str, ...]:
        return tuple(sorted({ins.opcode for ins in self.instructions}))

    def label_pc(self, name: str) -> int | None:
        return self._label_pcs.get(name)

    def region(self, name: str) -> Region | None:
        return next((r for r in self.regions if r.name == name), None)

    def region_at(self, pc: int) -> Region | None:
        return next((r for r in self.regions if r.start <= pc < r.end), None)

    def to_wire(self) -> list:
        return [
            FORMAT_VERSION,
            list(self.registers),
            [to_wire(c) for c in self.constants],
            [
                [ins.opcode, [[op.kind.value, op.ref] for op in ins.operands], ins.out]
                for ins in self.instructions
            ],
            [[lb.name, lb.pc, lb.region] for lb in self.labels],
            [[r.name, r.policy.value, r.start, r.end] for r in self.regions],
            [t.to_wire() for t in self.tests],
            list(self.opcodes_used),
        ]

    def to_bytes(self) -> bytes:
        # The object is immutable, so its encoding and id are computed once.
        data = self._memo.get("bytes")
        if data is None:
            data = self._memo["bytes"] = encode(self.to_wire())
        return data

    @property
    def code_id(self) -> bytes:
        code_id = self._memo.get("id")
        if code_id is None:
            code_id = self._memo["id"] = hash32(self.to_bytes())
        return code_id

    @staticmethod
    def from_bytes(data: bytes) -> CodeObject:
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


def _is_list(x: object, n: int | None = None) -> bool:
    return type(x) is list and (n is None or len(x) == n)


def _is_int(x: object) -> bool:
    return type(x) is int


def from_wire_code(wire: object) -> CodeObject:
    """Build and validate a code object from its wire form."""
    _want(_is_list(wire, 8), "a code object is a list of 8 fields")
    version, regs, consts, instrs, labels, regions, tests, used = wire
    _want(version == FORMAT_VERSION and _is_int(version), f"unknown code format {version!r}")
    _want(_is_list(regs) and all(type(r) is str and r for r in regs), "registers are names")
    _want(len(set(regs)) == len(regs), "register names repeat")
    _want(_is_list(consts) and len(consts) <= MAX_ITEMS * 16, "constants are a list")
    constants = tuple(from_wire(c) for c in consts)
    _want(_is_list(instrs) and len(instrs) <= MAX_INSTRUCTIONS, "instructions are a list")
    instructions = []
    for ins in instrs:
        _want(_is_list(ins, 3) and type(ins[0]) is str and _is_list(ins[1]), "bad instruction")
        operands = []
        for op in ins[1]:
            _want(_is_list(op, 2) and _is_int(op[0]) and op[0] in (0, 1, 2), "bad operand")
            kind = OperandKind(op[0])
            if kind is OperandKind.LABEL:
                _want(type(op[1]) is str, "a label operand is a name")
            else:
                _want(_is_int(op[1]) and op[1] >= 0, "a register or constant index is an int")
            operands.append(Operand(kind, op[1]))
        _want(ins[2] is None or (_is_int(ins[2]) and ins[2] >= 0), "bad output register")
        instructions.append(Instruction(ins[0], tuple(operands), ins[2]))
    _want(_is_list(labels), "labels are a list")
    label_objs = []
    for lb in labels:
        _want(_is_list(lb, 3) and type(lb[0]) is str and _is_int(lb[1]), "bad label")
        _want(lb[2] is None or type(lb[2]) is str, "bad label region")
        label_objs.append(Label(lb[0], lb[1], lb[2]))
    _want(_is_list(regions), "regions are a list")
    region_objs = []
    for r in regions:
        _want(_is_list(r, 4) and type(r[0]) is str and type(r[1]) is str, "bad region")
        _want(_is_int(r[2]) and _is_int(r[3]), "bad region bounds")
        _want(r[1] in {p.value for p in Policy}, f"unknown region policy {r[1]!r}")
        region_objs.append(Region(r[0], Policy(r[1]), r[2], r[3]))
    _want(_is_list(tests), "tests are a list")
    test_objs = [_test_from_wire(t) for t in tests]
    code = CodeObject(
        tuple(regs),
        constants,
        tuple(instructions),
        tuple(label_objs),
        tuple(region_objs),
        tuple(test_objs),
    )
    validate(code)
    _want(used == list(code.opcodes_used), "the opcode set does not match the instructions")
    return code


def _test_from_wire(t: object) -> TestCase:
    _want(_is_list(t, 9), "a test is a list of 9 fields")
    name, region, entry, args, storage, expect, expect_storage, revert, gas = t
    _want(type(name) is str and type(entry) is str, "bad test name or entry")
    _want(region is None or type(region) is str, "bad test region")
    _want(all(_is_list(x) for x in (args, storage, expect, expect_storage)), "bad test body")
    _want(len(expect) <= 1 and type(revert) is bool, "bad test expectation")
    _want(_is_int(gas) and gas > 0, "bad test gas")

    def pairs(items: list) -> tuple[tuple[Value, Value], ...]:
        _want(all(_is_list(p, 2) for p in items), "storage entries are [key, value]")
        return tuple((from_wire(k), from_wire(v)) for k, v in items)

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
    """Check that every reference in a code object resolves. Raises CodeFormatError."""
    from avm.instructions import OPCODES  # late: instruction modules import this one

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
            r = regions.get(lb.region)
            _want(
                r is not None and r.start <= lb.pc <= r.end, f"label {lb.name} outside its region"
            )
    label_set = set(names)
    for pc, ins in enumerate(code.instructions):
        spec = OPCODES.get(ins.opcode)
        _want(spec is not None, f"pc {pc}: unknown opcode {ins.opcode!r}")
        assert spec is not None
        count = len(ins.operands)
        if spec.variadic:
            _want(count >= len(spec.params) - 1, f"pc {pc}: too few operands for {spec.name}")
        else:
            _want(count == len(spec.params), f"pc {pc}: {spec.name} takes {len(spec.params)}")
        for i, op in enumerate(ins.operands):
            param = spec.params[min(i, len(spec.params) - 1)]
            want_label = param.kind.value == "label"
            _want((op.kind is OperandKind.LABEL) == want_label, f"pc {pc}: operand {i} kind")
            if op.kind is OperandKind.REG:
                _want(op.ref < len(code.registers), f"pc {pc}: no register {op.ref}")
            elif op.kind is OperandKind.CONST:
                _want(op.ref < len(code.constants), f"pc {pc}: no constant {op.ref}")
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


def normalize(code: CodeObject) -> CodeObject:
    """Renumber registers and constants by first use, drop unused ones and sort labels."""
    reg_map: dict[int, int] = {}
    const_order: list[Value] = []
    const_map: dict[int, int] = {}

    def reg(i: int) -> int:
        if i not in reg_map:
            reg_map[i] = len(reg_map)
        return reg_map[i]

    def const(i: int) -> int:
        if i not in const_map:
            value = code.constants[i]
            for j, seen in enumerate(const_order):
                if values_equal(seen, value):
                    const_map[i] = j
                    break
            else:
                const_map[i] = len(const_order)
                const_order.append(value)
        return const_map[i]

    instructions = []
    for ins in code.instructions:
        ops = []
        for op in ins.operands:
            if op.kind is OperandKind.REG:
                ops.append(Operand(op.kind, reg(op.ref)))
            elif op.kind is OperandKind.CONST:
                ops.append(Operand(op.kind, const(op.ref)))
            else:
                ops.append(op)
        out = None if ins.out is None else reg(ins.out)
        instructions.append(Instruction(ins.opcode, tuple(ops), out))
    registers = [""] * len(reg_map)
    for old, new in reg_map.items():
        registers[new] = code.registers[old]
    return CodeObject(
        tuple(registers),
        tuple(const_order),
        tuple(instructions),
        tuple(sorted(code.labels, key=lambda lb: (lb.pc, lb.name))),
        tuple(sorted(code.regions, key=lambda r: (r.start, r.end, r.name))),
        code.tests,
    )
