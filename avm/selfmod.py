"""Code surgery for self-modification and crossover: read and replace one region's body.

Jump operands name labels, so replacing a region splices instruction lists and moves labels;
no jump is renumbered. The result is normalized and validated like any code object.
"""

from __future__ import annotations

from avm.code import (
    CodeObject,
    Instruction,
    Label,
    Operand,
    OperandKind,
    Region,
    normalize,
)
from avm.errors import CodeFormatError
from avm.validation import validate


def region_body(code: CodeObject, name: str) -> CodeObject:
    """A region's body as a fragment code object (its labels, relative to the region start)."""
    region = code.region(name)
    if region is None:
        raise CodeFormatError(f"no region {name}")
    body = CodeObject(
        code.registers,
        code.constants,
        code.instructions[region.start : region.end],
        tuple(
            Label(lb.name, lb.pc - region.start, None) for lb in code.labels if lb.region == name
        ),
        avm_version=code.avm_version,
    )
    return normalize(body)


def replace_region(code: CodeObject, name: str, body: CodeObject) -> CodeObject:
    """`code` with region `name` holding `body` instead. Raises CodeFormatError when the result
    is not valid (a label defined twice, a jump to a label that no longer exists)."""
    region = code.region(name)
    if region is None:
        raise CodeFormatError(f"no region {name}")
    if body.regions or body.tests:
        raise CodeFormatError("a region body cannot hold regions or tests")
    registers = list(code.registers)
    reg_index = {r: i for i, r in enumerate(registers)}
    constants = list(code.constants)

    def remap(op: Operand) -> Operand:
        if op.kind is OperandKind.REG:
            return Operand(op.kind, _register(body.registers[op.index]))
        if op.kind is OperandKind.CONST:
            constants.append(body.constants[op.index])
            return Operand(op.kind, len(constants) - 1)
        return op

    def _register(reg: str) -> int:
        if reg not in reg_index:
            reg_index[reg] = len(registers)
            registers.append(reg)
        return reg_index[reg]

    new_body = tuple(
        Instruction(
            ins.opcode,
            tuple(remap(op) for op in ins.operands),
            None if ins.out is None else _register(body.registers[ins.out]),
        )
        for ins in body.instructions
    )
    delta = len(new_body) - (region.end - region.start)
    # Regions (and their labels) that come after this one in order move by delta; so do labels
    # outside any region that stand after its start (one at its start is written before it).
    order = [r.name for r in code.regions]
    after = set(order[order.index(name) + 1 :])
    labels = []
    for lb in code.labels:
        if lb.region == name:
            continue
        moves = lb.region in after if lb.region is not None else lb.pc > region.start
        labels.append(Label(lb.name, lb.pc + delta if moves else lb.pc, lb.region))
    taken = {lb.name for lb in labels}
    for lb in body.labels:
        if lb.name in taken:
            raise CodeFormatError(f"label {lb.name} is already defined outside region {name}")
        labels.append(Label(lb.name, region.start + lb.pc, name))
    regions = tuple(
        Region(r.name, r.policy, r.start, r.start + len(new_body))
        if r.name == name
        else Region(r.name, r.policy, r.start + delta, r.end + delta)
        if r.name in after
        else r
        for r in code.regions
    )
    result = normalize(
        CodeObject(
            tuple(registers),
            tuple(constants),
            code.instructions[: region.start] + new_body + code.instructions[region.end :],
            tuple(labels),
            regions,
            code.tests,
            max(code.avm_version, body.avm_version),  # a patch's `.avm N` opts the code in
        )
    )
    validate(result)
    return result
