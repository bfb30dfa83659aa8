"""Hosts: chain deploy rules, the local host's plugin interface, record and replay, journal."""

from __future__ import annotations

from pathlib import Path

import pytest

from avm.assembler import assemble, assemble_file
from avm.errors import NotDeployable, TrapKind
from avm.host import (
    MemoryHost,
    PluginCall,
    PluginFailure,
    PluginRecorder,
    ReplayPlugins,
    check_deployable,
)
from avm.interpreter import execute
from avm.values import AvmMap, Value

EXAMPLES = Path(__file__).resolve().parents[2] / "avm" / "examples"


def test_chain_host_rejects_nondeterministic_opcodes_naming_them_and_lines() -> None:
    asm = assemble_file(str(EXAMPLES / "swarm_sentiment.air"))
    with pytest.raises(NotDeployable) as info:
        check_deployable(asm.code, asm.lines())
    message = str(info.value)
    assert "WAIT_FOR_RESPONSE at line 8" in message
    assert "REDUCE_MODEL_CALL at line 9" in message
    assert "SWARM_CONNECT" not in message


def test_trading_agent_is_not_deployable_and_deterministic_code_is() -> None:
    asm = assemble_file(str(EXAMPLES / "trading_agent.air"))
    with pytest.raises(NotDeployable) as info:
        check_deployable(asm.code, asm.lines())
    assert "READ_FROM_TOOL" in str(info.value) and "GPU_INFER" in str(info.value)
    check_deployable(assemble('KV_STORE "a", 1\nHALT\n').code)


def test_chain_host_traps_a_nondeterministic_opcode_at_run_time() -> None:
    result = execute(assemble('CALC_EMBED "hi", "m" -> v\nHALT\n').code, MemoryHost())
    assert result.trap.kind is TrapKind.HOST_UNAVAILABLE


class Echo:
    """A plugin set for tests: answers from a table, fails for unknown opcodes."""

    def __init__(self, table: dict[str, Value]) -> None:
        self.table = table

    def call(self, opcode: str, args: tuple[Value, ...]) -> Value:
        if opcode not in self.table:
            raise PluginFailure(f"no {opcode}")
        return self.table[opcode]


RAG = """
:main
  SET R_state = {"conversation": [{"text": "what is AVM?"}]}
  DOC_STORE "KnowledgeDocs", "d1", "AVM is a VM", [1.0, 0.0]
  CALC_EMBED R_state.conversation[-1].text, "text-embedding-3-small", out=Q_embed
  DOC_SEARCH "KnowledgeDocs", Q_embed, 3, MMR=true -> R_docs
  GPU_INFER "LLama", R_docs, out=Rfinal
  JUMP_IF_PLUGIN_FAILED failed
  APPEND_MESSAGE R_state.conversation, "assistant", Rfinal
  RETURN R_state
:failed
  RETURN "plugin failed"
"""


def test_local_host_runs_plugins_and_replays_them_exactly() -> None:
    code = assemble(RAG).code
    recorder = PluginRecorder(Echo({"CALC_EMBED": [1_000_000, 0], "GPU_INFER": "a VM for agents"}))
    live = execute(code, MemoryHost(plugins=recorder), "main", trace=True)
    assert live.ok, live.trap
    conversation = live.value.get("conversation")
    assert conversation[-1] == AvmMap.of([("role", "assistant"), ("content", "a VM for agents")])
    assert [c.opcode for c in recorder.calls] == ["CALC_EMBED", "GPU_INFER"]
    replayed = execute(code, MemoryHost(plugins=ReplayPlugins(recorder.calls)), "main", trace=True)
    assert replayed.value == live.value and replayed.trace == live.trace
    notes = [n for e in live.trace for n in e.notes if n[0] == "external"]
    assert len(notes) == 2


def test_plugin_failure_sets_the_flag() -> None:
    code = assemble(RAG).code
    calls = [PluginCall("CALC_EMBED", ("what is AVM?", "text-embedding-3-small"), (1, 0))]
    result = execute(code, MemoryHost(plugins=ReplayPlugins(calls)), "main")
    assert result.value == "plugin failed"


def test_memory_host_journal_nests() -> None:
    host = MemoryHost()
    outer = host.checkpoint()
    host.storage_put(b"a", b"1")
    inner = host.checkpoint()
    host.storage_put(b"a", b"2")
    host.storage_put(b"b", b"3")
    host.rollback(inner)
    assert host.storage_items() == {b"a": b"1"}
    host.rollback(outer)
    assert host.storage_items() == {}
