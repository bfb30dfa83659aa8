"""What a proposal changes: the region's IR before and after, assembled with the AVM assembler
(as a fragment: a region body may jump to labels outside it) and compared instruction by
instruction, with the loops, calls and opcodes each side uses."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from avm.assembler import Assembler, Assembly
from avm.code import CodeObject, Instruction, OperandKind
from avm.disassembler import literal
from avm.errors import AvmError
from avm.gas import CURRENT as GAS_SCHEDULE
from avm.instructions import OPCODES
from avm.lexer import Tok, tokenize_line
from avm.opcodes import Control
from council.proposal import Proposal

PAYMENT_OPCODES = frozenset({"PAY_AGENT", "SWARM_BROADCAST", "SEND_SWARM_MSG"})
PERMISSION_OPCODES = frozenset({"CHECK_PERMISSIONS", "CHECK_SIG", "SECURITY_CHECK"})
# CALLER read before a payment is the "only the owner may" guard pattern.
GUARD_OPCODES = PERMISSION_OPCODES | {"CALLER"}
SELF_MODIFY_OPCODES = frozenset(
    {"SELF_MODIFY", "SELF_MODIFY_SANDBOX", "REVERT_CODE", "SELF_OBSERVER_MODE"}
)
AGENT_CREATION_OPCODES = frozenset({"FORK_AGENT", "CROSSOVER"})
# The chain host refuses opcodes whose result other nodes cannot reproduce (model calls, tools).
NONDETERMINISTIC_OPCODES = frozenset(name for name, s in OPCODES.items() if not s.deterministic)
STORAGE_WRITE_OPCODES = frozenset({"KV_STORE", "SAVE_EXECUTION_STATE", "DOC_STORE"})
ALLOCATING_OPCODES = frozenset({"APPEND", "APPEND_MESSAGE", "CONCAT", "PUT", "LIST", "MAP"})
COMPARISON_OPCODES = frozenset({"LT", "LE", "GT", "GE", "EQ", "NE"})
REGION_START = "(region start)"
_STRING = re.compile(r'x?"(?:[^"\\\n]|\\.)*"')


@dataclass(frozen=True, slots=True)
class Loop:
    """A backward jump and the instructions it repeats."""

    label: str
    start: int
    end: int  # the pc of the backward jump
    has_exit: bool
    bounded: bool
    line: int


@dataclass(frozen=True, slots=True)
class Program:
    """One side of the diff: a region body assembled, with what the roles ask of it."""

    code: CodeObject
    warnings: tuple[str, ...]
    lines: Mapping[int, int]  # pc -> source line
    comment_lines: int

    @property
    def opcode_counts(self) -> Counter[str]:
        return Counter(ins.opcode for ins in self.code.instructions)

    @property
    def user_labels(self) -> dict[str, int]:
        """Labels written in the source (generated ones, for IF blocks, start with `%`)."""
        return {lb.name: lb.pc for lb in self.code.labels if not lb.name.startswith("%")}

    def blocks(self) -> dict[str, tuple[str, ...]]:
        """Instruction texts from each user label to the next, comparable across assemblies."""
        starts = sorted(set(self.user_labels.values()) | {0})
        n = len(self.code.instructions)
        by_pc: dict[int, list[str]] = {}
        for name, pc in self.user_labels.items():
            by_pc.setdefault(pc, []).append(name)
        blocks: dict[str, tuple[str, ...]] = {}
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else n
            body = tuple(self.text(pc, start) for pc in range(start, end))
            for name in by_pc.get(start, [REGION_START] if body else []):
                blocks[name] = body
        return blocks

    def text(self, pc: int, base: int) -> str:
        """One instruction as text; generated labels as offsets, since their numbers shift."""
        ins = self.code.instructions[pc]
        parts = []
        for op in ins.operands:
            if op.kind is OperandKind.REG:
                parts.append(self.code.registers[int(op.ref)])
            elif op.kind is OperandKind.CONST:
                parts.append(literal(self.code.constants[int(op.ref)]))
            elif str(op.ref).startswith("%"):
                target = self.code.label_pc(str(op.ref))
                parts.append(f"@{'?' if target is None else target - base}")
            else:
                parts.append(str(op.ref))
        out = "" if ins.out is None else f" -> {self.code.registers[ins.out]}"
        return f"{ins.opcode} {', '.join(parts)}{out}".strip()

    def successors(self, pc: int) -> list[int]:
        """Control-flow successors inside the region (jumps out of it are not followed)."""
        ins = self.code.instructions[pc]
        spec = OPCODES[ins.opcode]
        target = _label_target(self.code, ins)
        nxt = [pc + 1] if pc + 1 < len(self.code.instructions) else []
        if spec.control in (Control.STOP, Control.RET):
            return []
        if spec.control is Control.NEXT:
            return nxt
        jump = [target] if target is not None else []
        if ins.opcode == "JUMP":
            return jump
        return jump + nxt  # conditional branches, and CALL (which comes back)

    def reachable(self, entries: Iterable[int]) -> set[int]:
        seen: set[int] = set()
        todo = [pc for pc in entries if 0 <= pc < len(self.code.instructions)]
        while todo:
            pc = todo.pop()
            if pc in seen:
                continue
            seen.add(pc)
            todo.extend(self.successors(pc))
        return seen

    def guarded(self) -> list[bool]:
        """For each pc: does every path from the region start pass a permission check first?"""
        n = len(self.code.instructions)
        preds: list[list[int]] = [[] for _ in range(n)]
        for pc in range(n):
            for succ in self.successors(pc):
                preds[succ].append(pc)
        # A must-analysis: start optimistic everywhere but the entry, and only ever lower.
        guard_in = [True] * n
        guard_out = [True] * n
        changed = True
        while changed:
            changed = False
            for pc in range(n):
                new_in = False if pc == 0 else all(guard_out[p] for p in preds[pc])
                new_out = new_in or self.code.instructions[pc].opcode in GUARD_OPCODES
                if (new_in, new_out) != (guard_in[pc], guard_out[pc]):
                    guard_in[pc], guard_out[pc] = new_in, new_out
                    changed = True
        return guard_in

    def loops(self) -> list[Loop]:
        """Every backward jump, with whether it can leave and whether a counter bounds it."""
        found = []
        for pc, ins in enumerate(self.code.instructions):
            if OPCODES[ins.opcode].control is not Control.BRANCH:
                continue
            target = _label_target(self.code, ins)
            if target is None or target > pc:
                continue
            body = range(target, pc + 1)
            label = next(
                (name for name, at in self.user_labels.items() if at == target), f"pc {target}"
            )
            has_exit = ins.opcode != "JUMP" or any(
                self._leaves(at, body) for at in body if at != pc
            )
            found.append(
                Loop(
                    label,
                    target,
                    pc,
                    has_exit,
                    has_exit and self._counted(body),
                    self.lines.get(pc, 0),
                )
            )
        return found

    def _leaves(self, pc: int, body: range) -> bool:
        ins = self.code.instructions[pc]
        control = OPCODES[ins.opcode].control
        if control in (Control.STOP, Control.RET):
            return True
        if control is Control.BRANCH:
            target = _label_target(self.code, ins)
            return target is None or target not in body
        return False

    def _counted(self, body: range) -> bool:
        """A register stepped by a constant and compared in the loop, or a gas budget compared."""
        code = self.code
        counters = set()
        compared: set[int] = set()
        for pc in body:
            ins = code.instructions[pc]
            regs = [int(op.ref) for op in ins.operands if op.kind is OperandKind.REG]
            consts = [
                code.constants[int(op.ref)] for op in ins.operands if op.kind is OperandKind.CONST
            ]
            stepped = [c for c in consts if type(c) is int and c != 0]
            if ins.opcode in ("ADD", "SUB") and ins.out in regs and stepped:
                counters.add(ins.out)
            if ins.opcode in COMPARISON_OPCODES or ins.opcode in ("JUMP_IF", "JUMP_IF_FALSE"):
                compared.update(regs)
        if counters & compared:
            return True
        return any("gas" in code.registers[r].lower() for r in compared)

    def static_gas(self) -> int:
        """The sum of each instruction's static price in milligas (dynamic parts excluded)."""
        total = 0
        for ins in self.code.instructions:
            price = getattr(GAS_SCHEDULE, OPCODES[ins.opcode].gas, 0)
            total += price if isinstance(price, int) else 0
        return total


def _label_target(code: CodeObject, ins: Instruction) -> int | None:
    for op in ins.operands:
        if op.kind is OperandKind.LABEL:
            return code.label_pc(str(op.ref))
    return None


def assemble_region(text: str, file: str) -> Program:
    """Assemble a region body. Raises AvmError (with file:line:col) when it does not assemble."""
    assembly: Assembly = Assembler(file, fragment=True).run(text)
    comment_lines = sum(1 for line in text.split("\n") if ";" in _STRING.sub("", line))
    return Program(
        assembly.code,
        tuple(w.message for w in assembly.warnings),
        assembly.lines(),
        comment_lines,
    )


def added_test_entries(text: str) -> dict[str, str]:
    """Test name -> entry label, from the `.test` blocks a proposal adds (no label check)."""
    entries: dict[str, str] = {}
    current: str | None = None
    for n, line in enumerate(text.split("\n"), 1):
        tokens = tokenize_line(line, "<tests>", n)
        first = tokens[0]
        if first.kind is Tok.DIRECTIVE and first.text == ".test" and len(tokens) > 1:
            current = tokens[1].text
        elif first.kind is Tok.DIRECTIVE and first.text == ".endtest":
            current = None
        elif current is not None and first.kind is Tok.IDENT and first.text.lower() == "entry":
            entries[current] = tokens[1].text
    return entries


# -- the diff both sides share -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Diff:
    old: Program
    new: Program
    changed_labels: tuple[str, ...]  # labels whose block is new or differs
    removed_labels: tuple[str, ...]

    @property
    def added_opcodes(self) -> Counter[str]:
        return self.new.opcode_counts - self.old.opcode_counts

    @property
    def removed_opcodes(self) -> Counter[str]:
        return self.old.opcode_counts - self.new.opcode_counts

    def changed_pcs(self) -> set[int]:
        """The pcs of the new program that lie in a changed block."""
        starts = sorted(set(self.new.user_labels.values()) | {0})
        n = len(self.new.code.instructions)
        changed_starts = {
            0 if name == REGION_START else self.new.user_labels[name]
            for name in self.changed_labels
        }
        pcs: set[int] = set()
        for i, start in enumerate(starts):
            if start in changed_starts:
                pcs.update(range(start, starts[i + 1] if i + 1 < len(starts) else n))
        return pcs


class DiffError(Exception):
    """The new IR does not assemble; carries the assembler's message."""


def diff(proposal: Proposal) -> Diff:
    """Assemble both sides. Raises DiffError when the new IR does not assemble; an old IR that
    does not (a parameter proposal has none) counts as empty."""
    try:
        new = assemble_region(proposal.new_ir, "<newIr>")
    except AvmError as exc:
        raise DiffError(str(exc)) from None
    try:
        old = assemble_region(proposal.old_ir, "<oldIr>")
    except AvmError:
        old = assemble_region("", "<oldIr>")
    old_blocks, new_blocks = old.blocks(), new.blocks()
    changed = tuple(sorted(name for name, b in new_blocks.items() if old_blocks.get(name) != b))
    removed = tuple(sorted(set(old_blocks) - set(new_blocks)))
    return Diff(old, new, changed, removed)


# -- the roles -----------------------------------------------------------------------------------
