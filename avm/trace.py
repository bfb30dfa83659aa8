"""Execution traces: one entry per instruction, `(pc, opcode, gas, inputs, outputs)`.

Tracing runs the exact per-instruction path; with tracing off the interpreter never builds an
entry. Notes carry what an instruction did beyond its output: BEFORE/AFTER text of a rewritten
region, the result of a plugin call (so a local run can be replayed).
"""

from __future__ import annotations

from dataclasses import dataclass

from avm.values import Value, to_python, to_wire
from core.crypto import hash32
from core.encoding import Encodable, encode


@dataclass(frozen=True, slots=True)
class TraceEntry:
    pc: int
    opcode: str
    gas: int  # milligas charged by this instruction
    inputs: tuple[Value, ...]
    outputs: tuple[Value, ...]
    notes: tuple[tuple[str, Value], ...] = ()
    trap: str | None = None

    def to_wire(self) -> list[Encodable]:
        return [
            self.pc,
            self.opcode,
            self.gas,
            [to_wire(v) for v in self.inputs],
            [to_wire(v) for v in self.outputs],
            [[k, to_wire(v)] for k, v in self.notes],
            self.trap,
        ]

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "pc": self.pc,
            "opcode": self.opcode,
            "gas": self.gas,
            "inputs": [to_python(v) for v in self.inputs],
            "outputs": [to_python(v) for v in self.outputs],
        }
        if self.notes:
            out["notes"] = {k: to_python(v) for k, v in self.notes}
        if self.trap:
            out["trap"] = self.trap
        return out


def trace_hash(entries: tuple[TraceEntry, ...] | list[TraceEntry]) -> bytes:
    """A digest of a whole trace, equal on every machine for the same execution."""
    return hash32(encode([e.to_wire() for e in entries]))
