"""Assembler, code object and disassembler."""

from __future__ import annotations

from pathlib import Path

import pytest

from avm.assembler import assemble, assemble_file
from avm.code import Policy
from avm.disassembler import disassemble
from avm.errors import AssemblyError, CodeFormatError
from avm.validation import decode_code
from avm.values import FIXED_SCALE, AvmMap

EXAMPLES = Path(__file__).resolve().parents[2] / "avm" / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.air"))


def test_examples_are_the_three_paper_listings_and_the_on_chain_trading_pair() -> None:
    assert [p.name for p in EXAMPLE_FILES] == [
        "rag_bot.air",
        "swarm_sentiment.air",
        "trading_agent.air",
        "trading_strategy.air",  # §8.3 as two cooperating on-chain agents
        "trading_treasury.air",
    ]


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_paper_examples_assemble_and_round_trip(path: Path) -> None:
    asm = assemble_file(str(path))
    again = assemble(disassemble(asm.code), "<disasm>")
    assert again.code.code_id == asm.code.code_id
    assert decode_code(asm.code.to_bytes()).code_id == asm.code.code_id


def test_trading_agent_warns_about_the_undefined_name() -> None:
    asm = assemble_file(str(EXAMPLES / "trading_agent.air"))
    messages = [str(w) for w in asm.warnings]
    hit = [m for m in messages if "PATCH_SANDBOX_MAX_TESTS" in m]
    assert len(hit) == 1
    assert "did you mean PATCH_SANDBOX_MAX?" in hit[0]
    assert "trading_agent.air:" in hit[0]


def test_trading_agent_uses_the_paper_opcodes() -> None:
    code = assemble_file(str(EXAMPLES / "trading_agent.air")).code
    for opcode in ("NEW_PORTFOLIO", "SELF_MODIFY", "SELF_MODIFY_SANDBOX", "WEB3_OP", "PAY_AGENT"):
        assert opcode in code.opcodes_used
    assert code.label_pc("AGENT_INIT") == 0


def test_swarm_example_accepts_name_colon_labels_and_return() -> None:
    code = assemble_file(str(EXAMPLES / "swarm_sentiment.air")).code
    assert code.label_pc("swarm_tweet_analysis") == 0
    assert code.instructions[-1].opcode == "RETURN"


def test_numbered_and_unnumbered_lines_and_keyword_arguments() -> None:
    code = assemble(
        """
        #define LIMIT 200
        :start
          14. GPU_INFER "Model", R1, out=Rout, gas_limit=LIMIT
          CALL_PLUGIN plugin="Critic", func="check", args=[Rout] -> Rc
        """
    ).code
    infer = code.instructions[0]
    assert infer.opcode == "GPU_INFER"
    assert code.constants[infer.operands[2].ref] == 200
    assert code.registers[infer.out] == "Rout"
    assert code.instructions[-1].opcode == "CALL_PLUGIN"


def test_decimals_become_fixed_point() -> None:
    code = assemble("#define T 0.4\nSET R = T\nSET Q = -1.25\n").code
    assert 4 * FIXED_SCALE // 10 in code.constants
    assert -125 * FIXED_SCALE // 100 in code.constants


def test_list_map_string_bytes_literals() -> None:
    code = assemble('SET R = [1, "a", x"00ff", {"k": [true, null]}]\n').code
    (value,) = code.constants
    assert value[:3] == (1, "a", b"\x00\xff")
    assert value[3] == AvmMap.of([("k", (True, None))])


def test_regions_policies_and_tests() -> None:
    code = assemble(
        """
        :main
          CALL strat
          RETURN ACC
        .region STRAT self
        :strat
          SET ACC = 7
          RET
        .test seven
          entry main
          expect 7
        .endtest
        .endregion
        .region SAFE locked
          HALT
        .endregion
        """
    ).code
    assert [(r.name, r.policy) for r in code.regions] == [
        ("STRAT", Policy.SELF),
        ("SAFE", Policy.LOCKED),
    ]
    (test,) = code.tests
    assert test.region == "STRAT" and test.expect == (7,)
    strat = next(lb for lb in code.labels if lb.name == "strat")
    assert strat.region == "STRAT"


@pytest.mark.parametrize(
    ("source", "where", "fragment"),
    [
        ("  SET R = 1\n  ADDD R, 1 -> R\n", "<input>:2:3", "did you mean ADD"),
        ("JUMP nowhere\n:somewhere\n", "<input>:1:6", "did you mean somewhere"),
        ("SET R = (1\n", "<input>:1:11", "expected ')'"),
        ('SET R = "unterminated\n', "<input>:1:9", "unexpected character"),
        ("IF R THEN\nHALT\n", "<input>:1:1", "IF without ENDIF"),
        (".region A sometimes\n.endregion\n", "<input>:1:11", "unknown policy"),
        ("KV_STORE key=1, valeu=2\n", "<input>:1:17", "did you mean value"),
        ("SET R = 1.1234567\n", "<input>:1:9", "more than 6 decimal places"),
        (":a\n:a\n", "<input>:2:2", "already defined"),
        ("HALT -> R\n", "<input>:1:9", "produces no value"),
    ],
)
def test_errors_name_file_line_column(source: str, where: str, fragment: str) -> None:
    with pytest.raises(AssemblyError) as info:
        assemble(source)
    assert str(info.value).startswith(where), str(info.value)
    assert fragment in str(info.value)


def test_unknown_opcode_lists_nearest() -> None:
    with pytest.raises(AssemblyError, match="KV_STORE"):
        assemble("KV_STOR 1, 2\n")


def test_if_else_lowering_short_circuits() -> None:
    code = assemble(
        """
        IF R == NULL OR R.empty THEN
          SET X = 1
        ELSE
          SET X = 2
        ENDIF
        """
    ).code
    ops = [i.opcode for i in code.instructions]
    assert ops.count("JUMP_IF") + ops.count("JUMP_IF_FALSE") >= 2
    assert "JUMP" in ops


def test_code_object_decoder_rejects_garbage() -> None:
    code = assemble("SET R = 1\nHALT\n").code
    data = code.to_bytes()
    with pytest.raises(CodeFormatError):
        decode_code(data + b"\x00")
    with pytest.raises(CodeFormatError):
        decode_code(b"\x91\x01")
    with pytest.raises(CodeFormatError):
        decode_code(data.replace(b"HALT", b"HALX"))


def test_code_id_ignores_formatting_and_comments() -> None:
    a = assemble("SET R = 1 ;; one\n\n\nHALT\n").code
    b = assemble("1. SET R, 1\n2. HALT\n").code
    assert a.code_id == b.code_id
