"""The AXON loop's parts that need no node: the mutation search and every way the model's patch
falls back to it, each with its one-line reason, through the real `openai` client against a local
server scripted to fail (down, slow, malformed, over budget, off-schema, wrong IR)."""

from __future__ import annotations

import json

import pytest
from chat_server import ChatServer, Scripted
from programs import scorer

from agent.evolve import Evolver, NoSnapshots, Settings, _normal, deletions
from avm.assembler import assemble
from avm.disassembler import disassemble_region
from avm.gas import CURRENT
from avm.metric import DEFAULT_BUDGET, Score, measure
from ledger.governance.code_change import build
from ledger.governance.payloads import CodeChangeSpec
from model.chat import ModelConfig, StructuredChat
from node.process import free_ports

SCORER = scorer(noops=2)
AGENT = b"\x01" * 20
CODE = assemble(SCORER, "scorer.air").code
BETTER = ":tuning\n  MUL n, 3 -> ACC\n  RET\n"


def check(text: str) -> Score:
    return measure(build(NoSnapshots(), CODE, CodeChangeSpec(AGENT, "TUNING", text), 2))


def evolver(chat: StructuredChat | None) -> Evolver:
    events: list[tuple[str, dict]] = []
    return Evolver(None, None, Settings(AGENT, "TUNING"), chat, lambda e, f: events.append((e, f)))  # type: ignore[arg-type]


def patch(ir: str, rationale: str = "Removes two instructions that do nothing.") -> Scripted:
    return Scripted(json.dumps({"ir": ir, "rationale": rationale}))


def test_deletions_remove_each_instruction_once_and_keep_labels() -> None:
    ir = disassemble_region(CODE, "TUNING")
    removed = [word for word, _ in deletions(ir)]
    assert removed == ["ADD n, 0 -> n", "MUL n, 1 -> n", "MUL n, 3 -> ACC", "RET"]
    for word, text in deletions(ir):
        assert word not in text.splitlines() and ":tuning" in text


def test_mutation_search_takes_the_best_removal_that_passes_every_test() -> None:
    current = measure(CODE)
    found = evolver(None)._from_mutations(1, disassemble_region(CODE, "TUNING"), current, check)
    assert found is not None and found.source == "mutation"
    assert found.score.ok and found.score.beats(current)
    assert "MUL n, 3 -> ACC" in found.ir  # the one that computes the answer stays
    assert found.rationale.startswith("Mutation search: removing `")


def test_nothing_left_to_remove_finds_nothing() -> None:
    lean = build(NoSnapshots(), CODE, CodeChangeSpec(AGENT, "TUNING", BETTER), 2)
    current = measure(lean)
    ir = disassemble_region(lean, "TUNING")

    def check_lean(text: str) -> Score:
        return measure(build(NoSnapshots(), lean, CodeChangeSpec(AGENT, "TUNING", text), 2))

    assert evolver(None)._from_mutations(1, ir, current, check_lean) is None


def ask(server_url: str, timeout: float = 5.0) -> tuple[object, str]:
    chat = StructuredChat(ModelConfig("m", server_url, timeout, 0))
    try:
        return evolver(chat)._from_model(
            1, disassemble_region(CODE, "TUNING"), measure(CODE), check
        )
    finally:
        chat.close()


def test_a_patch_that_passes_and_beats_the_score_is_the_models() -> None:
    with ChatServer(patch(BETTER)) as server:
        found, reason = ask(server.base_url)
        request = server.requests[0]
    assert reason == "" and found is not None and found.source == "model"  # type: ignore[attr-defined]
    assert request["response_format"]["json_schema"]["name"] == "patch"  # type: ignore[index]
    prompt = request["messages"][1]["content"]  # type: ignore[index]
    assert "ADD n, 0 -> n" in prompt and "metric milligas:" in prompt


CUT = Scripted('{"ir": ":tuning\\n  RET', finish_reason="length")
UNKNOWN_OPCODE = ":tuning\n  FROB n\n  RET\n"
WRONG = ":tuning\n  MUL n, 2 -> ACC\n  RET\n"
WORSE = ":tuning\n  ADD n, 0 -> n\n  ADD n, 0 -> n\n  MUL n, 1 -> n\n  MUL n, 3 -> ACC\n  RET\n"


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Scripted('{"ir": '), "model unavailable: reply is not JSON"),
        (CUT, "model unavailable: reply cut at"),
        (Scripted(status=500), "model unavailable: HTTP 500 from the model server"),
        (Scripted('{"ir": 5, "rationale": "x"}'), "the model's reply is off-schema"),
        (patch(disassemble_region(CODE, "TUNING")), "the model's patch changes nothing"),
        (patch(UNKNOWN_OPCODE), "the model's patch is refused: the new IR does not assemble"),
        (patch(WRONG), "the model's patch fails: triples: returned 14"),
        (patch(WORSE), "the model's patch does not beat the score"),
    ],
)
def test_each_fallback_has_its_one_line_reason(reply: Scripted, reason: str) -> None:
    with ChatServer(reply) as server:
        found, said = ask(server.base_url)
    assert found is None
    assert said.startswith(reason) and "\n" not in said


def test_a_model_that_is_down_or_slow_falls_back() -> None:
    found, said = ask(f"http://127.0.0.1:{free_ports(1)}/v1")
    assert found is None and said.startswith("model unavailable: cannot reach http://127.0.0.1:")
    with ChatServer(Scripted(json.dumps({"ir": BETTER, "rationale": "x"}), delay=2.0)) as server:
        found, said = ask(server.base_url, timeout=0.5)
    assert found is None and said == "model unavailable: no reply within 0.5 s"


def test_without_a_model_the_reason_says_so() -> None:
    found, said = evolver(None)._from_model(1, "", measure(CODE), check)
    assert found is None and said == "no model (--no-model)"


def test_a_change_the_council_refused_is_never_proposed_again() -> None:
    """After a rejection the code is unchanged and the search deterministic: without this memory
    the loop would file the same change, and burn a deposit, every generation."""
    current = measure(CODE)
    ir = disassemble_region(CODE, "TUNING")
    loop = evolver(None)
    checked = loop.checker(CODE, 2, CURRENT, DEFAULT_BUDGET)
    first = loop._from_mutations(1, ir, current, checked)
    assert first is not None
    loop.refused.add(_normal(first.ir))
    second = loop._from_mutations(2, ir, current, checked)
    assert second is not None and _normal(second.ir) != _normal(first.ir)
    with ChatServer(patch(first.ir)) as server:
        loop.chat = StructuredChat(ModelConfig("m", server.base_url, 5.0, 0))
        found, said = loop._from_model(3, ir, current, checked)
        loop.chat.close()
    assert found is None
    assert said == "the model's patch is refused: the council refused this change before"
