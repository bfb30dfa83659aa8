"""The code object: what an agent's program is once assembled.

It holds the instructions (label operands by name, so regions can be replaced without renumbering
jumps), the register names, the constant pool, labels, regions with their policies, tests and the
set of opcodes used. Its canonical encoding is `encode([...])` of a fixed-order list and its code
id is `hash32` of those bytes. A code object is always in normal form (registers and constants
numbered by first use, labels sorted), so equal programs have equal ids and the decoder
(`avm.validation.decode_code`) accepts only normal-form bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from avm.errors import CodeFormatError
from avm.gas import DEFAULT_GAS
from avm.values import Value, to_wire, values_equal
from core.crypto import hash32
from core.encoding import Encodable, encode

FORMAT_VERSION = 1
VERSIONED_FORMAT = 2  # format 1 plus the AVM version the code runs under
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

    @property
    def index(self) -> int:
        """The register or constant index of a REG or CONST operand."""
        if type(self.ref) is not int:
            raise CodeFormatError(f"operand {self.ref!r} is not a register or constant index")
        return self.ref

    @property
    def label(self) -> str:
        """The label name of a LABEL operand."""
        if type(self.ref) is not str:
            raise CodeFormatError(f"operand {self.ref!r} is not a label name")
        return self.ref


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
    gas: int = DEFAULT_GAS

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TestCase) and self.to_wire() == other.to_wire()

    def __hash__(self) -> int:
        return hash(self.name)

    def to_wire(self) -> list[Encodable]:
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
    avm_version: int = 1  # the instruction set it was assembled for, and runs under for good
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

    @property
    def council_governed(self) -> bool:
        """It has a `council` region: the council, not its deployer, sets its policy."""
        return any(r.policy is Policy.COUNCIL for r in self.regions)

    def region_at(self, pc: int) -> Region | None:
        return next((r for r in self.regions if r.start <= pc < r.end), None)

    def to_wire(self) -> list[Encodable]:
        """Version 1 code keeps format 1 (its code ids never change); later versions' code is
        format 2, which appends the AVM version."""
        wire = self._wire_fields()
        return wire if self.avm_version == 1 else [VERSIONED_FORMAT, *wire[1:], self.avm_version]

    def _wire_fields(self) -> list[Encodable]:
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


@dataclass(frozen=True, slots=True)
class TestOutcome:
    """How one `.test` block went: passed or why not, and the milligas it used."""

    __test__ = False  # not a pytest test class

    name: str
    passed: bool
    gas_used: int
    reason: str | None = None


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
                ops.append(Operand(op.kind, reg(op.index)))
            elif op.kind is OperandKind.CONST:
                ops.append(Operand(op.kind, const(op.index)))
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
        code.avm_version,
    )
