"""Property tests: bad input never crashes anything with other than the AVM's precise errors,
round trips hold, and the fast and exact paths agree on random programs."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avm.assembler import assemble
from avm.disassembler import disassemble
from avm.errors import AssemblyError, CodeFormatError
from avm.interpreter import execute
from avm.memory_host import MemoryHost
from avm.program import prepare
from avm.validation import decode_code

EXAMPLES = Path(__file__).resolve().parents[2] / "avm" / "examples"
SOURCES = [p.read_text() for p in sorted(EXAMPLES.glob("*.air"))]
# AVM_PROPERTY_EXAMPLES=5000 for a long hunt; the default keeps the suite fast.
EXAMPLES_PER_TEST = int(os.environ.get("AVM_PROPERTY_EXAMPLES", "150"))
FAST = settings(
    max_examples=EXAMPLES_PER_TEST, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

IR_ALPHABET = st.sampled_from(
    [*list('abcRXZ_%019 .,:;-=>()[]{}"\\#\n\t'), "ADD", "SET", "IF ", "ENDIF", ".region ", "->"]
)


@FAST
@given(st.text(max_size=200))
def test_random_text_only_raises_assembly_errors(text: str) -> None:
    with contextlib.suppress(AssemblyError):
        assemble(text)


@FAST
@given(st.lists(IR_ALPHABET, max_size=80).map("".join))
def test_ir_like_text_only_raises_assembly_errors(text: str) -> None:
    with contextlib.suppress(AssemblyError):
        assemble(text)


@st.composite
def mutated_source(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SOURCES))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["delete", "insert", "replace"]))
        chunk = draw(st.text(max_size=5))
        if action == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 20)) :]
        elif action == "insert":
            text = text[:i] + chunk + text[i:]
        else:
            text = text[:i] + chunk + text[i + len(chunk) :]
    return text


@FAST
@given(mutated_source())
def test_mutated_paper_examples_only_raise_assembly_errors(text: str) -> None:
    try:
        asm = assemble(text)
    except AssemblyError:
        return
    again = assemble(disassemble(asm.code))
    assert again.code.code_id == asm.code.code_id


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_code_format_errors(data: bytes) -> None:
    with contextlib.suppress(CodeFormatError):
        decode_code(data)


CODE_BYTES = [assemble(s).code.to_bytes() for s in SOURCES]


@FAST
@given(
    st.sampled_from(CODE_BYTES),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6),
)
def test_mutated_code_objects_decode_or_fail_precisely(data: bytes, edits) -> None:
    raw = bytearray(data)
    for pos, byte in edits:
        raw[pos % len(raw)] = byte
    try:
        code = decode_code(bytes(raw))
    except CodeFormatError:
        return
    assert assemble(disassemble(code)).code.code_id == code.code_id
    result = execute(code, MemoryHost(), gas_limit=200_000)
    assert result.gas_used <= 200_000


REGS = ["a", "b", "c", "n"]
VALUES = st.one_of(
    st.integers(-5, 5),
    st.sampled_from(['"s"', "true", "null", "[1, 2]", '{"k": 1}', "2.5", "-3"]),
    st.sampled_from(REGS),
)
LINE = st.one_of(
    st.tuples(
        st.sampled_from(["ADD", "SUB", "MUL", "DIV", "MOD", "EQ", "LT", "AND", "MAX", "MULF"]),
        VALUES,
        VALUES,
        st.sampled_from(REGS),
    ).map(lambda t: f"{t[0]} {t[1]}, {t[2]} -> {t[3]}"),
    st.tuples(
        st.sampled_from(["SET", "NOT", "LEN", "HASH", "STR"]), VALUES, st.sampled_from(REGS)
    ).map(lambda t: f"{t[0]} {t[1]} -> {t[2]}"),
    st.tuples(st.sampled_from(["KV_STORE", "APPEND", "GET", "CONCAT"]), VALUES, VALUES).map(
        lambda t: f"{t[0]} {t[1]}, {t[2]}"
    ),
    st.tuples(st.sampled_from(["JUMP_IF", "JUMP_IF_FALSE"]), VALUES, st.sampled_from("LMN")).map(
        lambda t: f"{t[0]} {t[1]}, {t[2]}"
    ),
    st.sampled_from(["SUB n, 1 -> n", "JUMP_IF n, L", "CALL M", "RET", 'LOG "x", a', "NOP"]),
)


@st.composite
def programs(draw: st.DrawFn) -> str:
    lines = ["SET n = 20"]
    for label in "LMN":
        lines.append(f":{label}")
        lines.extend(draw(st.lists(LINE, max_size=8)))
    lines.append("RETURN [a, b, c, n]")
    return "\n".join(lines) + "\n"


@FAST
@given(programs(), st.integers(0, 60_000))
def test_random_programs_agree_between_fast_and_exact_paths(source: str, gas: int) -> None:
    code = assemble(source).code
    assert assemble(disassemble(code)).code.code_id == code.code_id
    prepare(code).compile_all()
    outcomes = []
    for mode in ("fast", "exact", "trace"):
        host = MemoryHost()
        result = execute(code, host, gas_limit=gas, trace=mode == "trace", exact=mode == "exact")
        trap = None if result.trap is None else (result.trap.kind, result.trap.pc)
        outcomes.append((result.value, result.gas_used, trap, host.storage_items()))
    assert outcomes[0] == outcomes[1] == outcomes[2]
