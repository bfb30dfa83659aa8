"""AVM versions: `.avm N` programs, the code object's recorded version, and each version's
instruction set (version 2: ISQRT, and DIV truncating toward zero)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from avm.assembler import assemble, assemble_fragment
from avm.code import FORMAT_VERSION, VERSIONED_FORMAT
from avm.disassembler import disassemble
from avm.errors import AssemblyError, CodeFormatError
from avm.instructions import LATEST_VERSION, VERSIONS
from avm.interpreter import execute
from avm.memory_host import MemoryHost
from avm.selfmod import replace_region
from avm.validation import decode_code
from core.encoding import decode, encode

V2 = assemble(".avm 2\n:main\n  ISQRT ARGS[0] -> r\n  DIV ARGS[1], ARGS[2] -> q\n  RETURN [r, q]\n")


def run(code, *args):
    return execute(code, MemoryHost(), "main", args)


@given(st.integers(0, 10**30), st.integers(-(10**9), 10**9), st.integers(1, 10**6), st.booleans())
def test_version_2_roots_and_truncates(n: int, a: int, b: int, negative: bool) -> None:
    b = -b if negative else b
    root, quotient = run(V2.code, n, a, b).value
    assert root * root <= n < (root + 1) * (root + 1)
    assert quotient * b + (abs(a) % abs(b)) * (1 if a >= 0 else -1) == a  # toward zero
    v1 = assemble(":main\n  DIV ARGS[0], ARGS[1] -> q\n  RETURN q\n").code
    assert run(v1, a, b).value == a // b  # version 1 floors, for good


def test_a_negative_root_is_a_bad_operand() -> None:
    assert run(V2.code, -1, 1, 1).trap is not None


def test_an_opcode_of_a_later_version_names_the_directive_it_needs() -> None:
    with pytest.raises(AssemblyError, match=r"ISQRT is an AVM 2 opcode: start with `\.avm 2`"):
        assemble(":main\n  ISQRT 4 -> r\n  RETURN r\n")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (":main\n  HALT\n.avm 2\n", ".avm comes first"),
        (".avm 2\n.avm 2\n:main\n  HALT\n", ".avm comes first, once"),
        (f".avm {LATEST_VERSION + 1}\n:main\n  HALT\n", ".avm takes a version this AVM knows"),
        (".avm two\n:main\n  HALT\n", ".avm takes a version"),
    ],
)
def test_bad_avm_directives_are_refused(text: str, says: str) -> None:
    with pytest.raises(AssemblyError, match=says):
        assemble(text)


def test_version_1_code_keeps_its_format_and_ids_later_code_records_its_version() -> None:
    v1 = assemble(":main\n  HALT\n").code
    wire = decode(v1.to_bytes())
    assert isinstance(wire, list) and wire[0] == FORMAT_VERSION and len(wire) == 8
    wire2 = decode(V2.code.to_bytes())
    assert isinstance(wire2, list) and wire2[0] == VERSIONED_FORMAT and wire2[-1] == 2
    assert decode_code(V2.code.to_bytes()) == V2.code
    assert assemble(disassemble(V2.code)).code == V2.code  # `.avm 2` printed back


def test_code_claiming_a_version_wrongly_is_refused() -> None:
    wire = decode(V2.code.to_bytes())
    assert isinstance(wire, list)
    unknown = [*wire[:-1], LATEST_VERSION + 1]
    with pytest.raises(CodeFormatError, match="unknown to this node"):
        decode_code(encode(unknown))
    as_one = [FORMAT_VERSION, *wire[1:-1]]  # ISQRT claimed as version 1 code
    with pytest.raises(CodeFormatError, match="unknown opcode 'ISQRT' of AVM 1"):
        decode_code(encode(as_one))
    with pytest.raises(CodeFormatError, match="AVM version is 2 or more"):
        decode_code(encode([*wire[:-1], 1]))


def test_a_patch_is_checked_against_the_version_of_the_code_it_patches() -> None:
    base = assemble(":main\n  CALL f\n  RETURN ACC\n.region F self\n:f\n  SET ACC = 1\n  RET\n"
                    ".endregion\n").code  # fmt: skip
    patch = assemble_fragment(":f\n  ISQRT 16 -> ACC\n  RET\n")
    with pytest.raises(CodeFormatError, match="unknown opcode 'ISQRT' of AVM 1"):
        replace_region(base, "F", patch)
    newer = assemble(".avm 2\n" + disassemble(base)).code
    assert (
        run(
            replace_region(newer, "F", patch),
        ).value
        == 4
    )


def test_every_version_extends_the_one_before() -> None:
    for version in range(2, LATEST_VERSION + 1):
        assert set(VERSIONS[version - 1]) <= set(VERSIONS[version])


def test_a_patch_naming_a_newer_version_opts_the_code_in_and_never_back() -> None:
    base = assemble(":main\n  CALL f\n  RETURN ACC\n.region F self\n:f\n  DIV -7, 2 -> ACC\n"
                    "  RET\n.endregion\n").code  # fmt: skip
    assert run(base).value == -4
    same = replace_region(base, "F", assemble_fragment(":f\n  DIV -7, 2 -> ACC\n  RET\n"))
    assert same.avm_version == 1 and run(same).value == -4
    opted = replace_region(base, "F", assemble_fragment(".avm 2\n:f\n  DIV -7, 2 -> ACC\n  RET\n"))
    assert opted.avm_version == 2 and run(opted).value == -3  # the whole agent now runs v2
    back = replace_region(opted, "F", assemble_fragment(":f\n  DIV -7, 2 -> ACC\n  RET\n"))
    assert back.avm_version == 2  # a patch without `.avm` keeps the code's version


def test_a_patch_may_name_a_version_this_node_lacks_the_chain_judges_it() -> None:
    patch = assemble_fragment(f".avm {LATEST_VERSION + 1}\n:f\n  RET\n")
    assert patch.avm_version == LATEST_VERSION + 1  # read, not refused: alike on every node
    with pytest.raises(AssemblyError, match=r"takes a version in 2\.\."):
        assemble_fragment(".avm 1\n:f\n  RET\n")


def test_self_modify_cannot_move_an_agent_to_another_version() -> None:
    code = assemble(
        ':main\n  SELF_OBSERVER_MODE true\n  SELF_MODIFY "F", ARGS[0] -> r\n  RETURN r\n'
        ".region F self\n:f\n  RET\n.endregion\n"
    ).code
    result = execute(code, MemoryHost(), "main", (".avm 2\n:f\n  RET\n",))
    assert result.trap is not None and "only a council `code` proposal" in str(result.trap)
