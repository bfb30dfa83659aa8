"""The disassembler: a code object back to IR text that assembles to the same code id."""

from __future__ import annotations

import difflib

from avm.code import CodeObject, Instruction, OperandKind, Region
from avm.lexer import quote
from avm.values import AvmMap, Value


def literal(value: Value) -> str:
    """IR source text for a constant."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)
    if type(value) is str:
        return quote(value)
    if type(value) is bytes:
        return f'x"{value.hex()}"'
    if type(value) is tuple:
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if type(value) is AvmMap:
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.entries) + "}"
    raise TypeError(f"{type(value).__name__} is not an AVM value")


def instruction_text(code: CodeObject, ins: Instruction) -> str:
    parts = []
    for op in ins.operands:
        if op.kind is OperandKind.REG:
            parts.append(code.registers[op.index])
        elif op.kind is OperandKind.CONST:
            parts.append(literal(code.constants[op.index]))
        else:
            parts.append(str(op.ref))
    text = ins.opcode
    if parts:
        text += " " + ", ".join(parts)
    if ins.out is not None:
        text += f" -> {code.registers[ins.out]}"
    return text


def _body(code: CodeObject, start: int, end: int, region: Region | None, indent: str) -> list[str]:
    """Labels and instructions of [start, end) that belong to `region` (None: outside)."""
    name = region.name if region else None
    out = []
    for pc in range(start, end + 1):
        for lb in code.labels:
            if lb.pc == pc and lb.region == name and (pc < end or region is not None):
                out.append(f":{lb.name}")
        if pc < end:
            out.append(f"{indent}{instruction_text(code, code.instructions[pc])}")
    return out


def disassemble(code: CodeObject) -> str:
    """Readable IR for a whole code object (regions, labels, instructions and tests)."""
    lines = [f";; code id {code.code_id.hex()}"]
    if code.avm_version != 1:
        lines.append(f".avm {code.avm_version}")
    n = len(code.instructions)
    pc = 0
    regions = list(code.regions)
    while pc <= n:
        opening = [r for r in regions if r.start == pc]
        # labels outside any region at this pc come before a region that opens here
        for lb in code.labels:
            if lb.pc == pc and lb.region is None:
                lines.append(f":{lb.name}")
        for r in opening:
            lines.append(f".region {r.name} {r.policy.value}")
            lines.extend(_body(code, r.start, r.end, r, "  "))
            lines.append(".endregion")
        if opening and opening[-1].end > pc:
            pc = opening[-1].end
            # outside labels at the region's end are printed by the next loop turn
            continue
        if pc < n:
            lines.append(f"  {instruction_text(code, code.instructions[pc])}")
        pc += 1
    for t in code.tests:
        lines.append(f".test {t.name}" + (f" {t.region}" if t.region else ""))
        lines.append(f"  entry {t.entry}")
        if t.args:
            lines.append("  args " + ", ".join(literal(a) for a in t.args))
        lines.extend(f"  storage {literal(k)} = {literal(v)}" for k, v in t.storage)
        lines.extend(f"  expect {literal(v)}" for v in t.expect)
        lines.extend(f"  expect_storage {literal(k)} = {literal(v)}" for k, v in t.expect_storage)
        if t.expect_revert:
            lines.append("  expect_revert")
        lines.append(f"  gas {t.gas}")
        lines.append(".endtest")
    return "\n".join(lines) + "\n"


def disassemble_region(code: CodeObject, name: str) -> str:
    """The IR text of one region's body: what SELF_READ returns and SELF_MODIFY accepts."""
    region = code.region(name)
    if region is None:
        raise KeyError(name)
    return "\n".join(_body(code, region.start, region.end, region, "  ")) + "\n"


def ir_diff(old: str, new: str, names: tuple[str, str] = ("before", "after")) -> list[str]:
    """Two versions of IR text as the lines of a unified diff (what reviewers, the council's
    model and the evolve archive read)."""
    return list(difflib.unified_diff(old.splitlines(), new.splitlines(), *names, lineterm=""))
